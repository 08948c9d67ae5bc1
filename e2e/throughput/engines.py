"""Engines that run one workload in one directory and say what it achieved.

`FioEngine` runs Debian's fio with JSON output; `PythonEngine` is the fallback used only when
fio is not on PATH, and every result it produces says so. The metadata workload (create, stat,
delete files) is always run by `MetadataEngine` in Python: fio has no portable
create/stat/delete job, and keeping one implementation makes figures comparable across hosts.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from e2e.throughput.workloads import Kind, Workload, format_size

MB = 1_000_000  # FSx documents throughput in MB/s (decimal); so do we.

# Runs a command with a timeout; production passes subprocess.run, tests a recorder.
CommandRunner = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass
class EngineResult:
    """One workload (or one phase of the metadata workload) on one directory."""

    workload: str
    metric: str
    unit: str
    value: float
    bytes: int
    duration_s: float
    engine: str
    ok: bool = True
    message: str | None = None
    raw: str | None = None


class Engine(Protocol):
    name: str
    version: str | None

    def run(self, workload: Workload, directory: Path, file_name: str) -> list[EngineResult]: ...


def explain_os_error(exc: OSError, directory: Path, done: int, wanted: int) -> str:
    """Turn an OSError during a workload into a message that says what to try."""
    progress = f"after {format_size(done) if done else '0 B'} of {format_size(wanted)}"
    if exc.errno == errno.ENOSPC:
        return (
            f"no space left on device in {directory} {progress}: the volume (or the disk under "
            "the emulation root) is full; free space there or run with a smaller --size"
        )
    if exc.errno in (errno.ENOENT, errno.ESTALE, errno.ENOTCONN, errno.EIO):
        return (
            f"the volume at {directory} went away during the workload ({exc.strerror}) {progress}: "
            "the file system was deleted or unmounted under the run; check the driver and "
            "emulator logs"
        )
    return f"{exc.strerror or exc} in {directory} {progress}"


def time_based_arguments(workload: Workload) -> list[str]:
    """fio's time-based run with a ramp: the same on every platform (local fio, fio pods)."""
    if not workload.runtime_s:
        return []
    # In milliseconds: fio reads "0.75s" as 0 (no fractions) and then refuses time_based.
    arguments = ["--time_based=1", f"--runtime={round(workload.runtime_s * 1000)}ms"]
    if workload.ramp_s:
        arguments.append(f"--ramp_time={round(workload.ramp_s * 1000)}ms")
    return arguments


class FioEngine:
    """fio with `--output-format=json`; one fio process per workload run."""

    name = "fio"

    def __init__(
        self,
        executable: str = "fio",
        runner: CommandRunner = subprocess.run,
        timeout_s: float = 300.0,
    ) -> None:
        self._executable = executable
        self._runner = runner
        self._timeout_s = timeout_s
        self.version: str | None = None

    @classmethod
    def detect(cls, runner: CommandRunner = subprocess.run) -> FioEngine | None:
        """The engine if fio is on PATH and answers --version, else None."""
        path = shutil.which("fio")
        if path is None:
            return None
        engine = cls(path, runner)
        try:
            completed = runner([path, "--version"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if completed.returncode != 0:
            return None
        engine.version = completed.stdout.strip()
        return engine

    def command(self, workload: Workload, directory: Path, file_name: str) -> list[str]:
        args = [
            self._executable,
            f"--name={workload.name}",
            f"--directory={directory}",
            f"--filename={file_name}",
            f"--rw={workload.kind.fio_rw}",
            f"--bs={workload.block_size}",
            f"--size={workload.size_bytes}",
            "--ioengine=psync",
            "--numjobs=1",
            # Drop the file's cached pages before reading, so reads measure the volume and not
            # the page cache left by the write that laid the file out.
            "--invalidate=1",
            "--output-format=json",
            # The block-device utilisation fio samples by default is not reported, and
            # collecting it costs about 0.1 s of every run.
            "--disk_util=0",
        ]
        if workload.kind.is_write:
            # Count the data as written only once it is on the volume.
            args.append("--end_fsync=1")
        args += time_based_arguments(workload)
        return args

    def run(self, workload: Workload, directory: Path, file_name: str) -> list[EngineResult]:
        command = self.command(workload, directory, file_name)
        started = time.monotonic()
        try:
            completed = self._runner(
                command, capture_output=True, text=True, timeout=self._timeout_s
            )
        except subprocess.TimeoutExpired:
            return [
                self._failed(
                    workload,
                    f"fio did not finish {workload.describe()} in {self._timeout_s:g} s in "
                    f"{directory}: the volume is stalled or far slower than expected",
                    time.monotonic() - started,
                )
            ]
        except OSError as exc:
            return [self._failed(workload, f"cannot run fio ({exc})", 0.0)]
        return [self.parse(workload, directory, completed)]

    def parse(
        self,
        workload: Workload,
        directory: Path,
        completed: subprocess.CompletedProcess[str],
    ) -> EngineResult:
        """Read fio's JSON; a failed run keeps whatever fio measured before it stopped."""
        stderr = completed.stderr.strip()
        try:
            # fio prints warnings ahead of the JSON on some versions; the document starts at {.
            start = completed.stdout.index("{")
            report: dict[str, Any] = json.loads(completed.stdout[start:])
            job = report["jobs"][0]
        except (ValueError, KeyError, IndexError):
            return self._failed(
                workload,
                f"fio exited {completed.returncode} without a JSON report in {directory}: "
                f"{stderr or completed.stdout.strip() or '(no output)'}",
                0.0,
                raw=completed.stdout or None,
            )
        side = job["write" if workload.kind.is_write else "read"]
        done = int(side.get("io_bytes", 0))
        runtime_s = float(side.get("runtime", 0)) / 1000
        value = float(side.get("bw_bytes", 0)) / MB
        if workload.metric == "iops":
            value = float(side.get("iops", 0.0))
        error = int(job.get("error", 0))
        ok = completed.returncode == 0 and error == 0
        message = None
        if not ok:
            code = error or _errno_in(stderr)
            if code:
                message = explain_os_error(
                    OSError(code, os.strerror(code)), directory, done, workload.size_bytes
                )
            else:
                message = f"fio exited {completed.returncode} in {directory}: {stderr}"
            if stderr and stderr not in message:
                message += f" (fio: {stderr.splitlines()[-1]})"
        return EngineResult(
            workload=workload.name,
            metric=workload.metric,
            unit=workload.unit,
            value=value,
            bytes=done,
            duration_s=runtime_s,
            engine=self.name,
            ok=ok,
            message=message,
            raw=completed.stdout,
        )

    def _failed(
        self, workload: Workload, message: str, duration_s: float, raw: str | None = None
    ) -> EngineResult:
        return EngineResult(
            workload.name, workload.metric, workload.unit, 0.0, 0, duration_s, self.name,
            ok=False, message=message, raw=raw,
        )  # fmt: skip


def _errno_in(text: str) -> int:
    """fio reports I/O errors in prose ("No space left on device"); map them back."""
    for code in (errno.ENOSPC, errno.ENOENT, errno.EIO, errno.ESTALE, errno.ENOTCONN):
        if os.strerror(code) in text:
            return code
    return 0


class PythonEngine:
    """The fallback when fio is absent: the same workloads with os.pwrite/os.pread.

    Single-threaded synchronous I/O like fio's psync engine, so its figures are in the same
    ballpark, but they are not fio's and the report labels them as such.
    """

    name = "python-fallback"
    version: str | None = None

    def __init__(self, clock: Callable[[], float] = time.monotonic, seed: int = 1) -> None:
        self._clock = clock
        # Offsets only need to be spread, not unpredictable.
        self._random = random.Random(seed)  # noqa: S311

    def run(self, workload: Workload, directory: Path, file_name: str) -> list[EngineResult]:
        path = directory / file_name
        progress = [0, 0]  # bytes, operations: kept up to date so a failure reports them
        started = self._clock()
        try:
            if workload.kind in (Kind.SEQ_READ, Kind.RAND_READ, Kind.RAND_WRITE):
                self._lay_out(path, workload.size_bytes)
            started = self._clock()
            flags = os.O_RDWR | os.O_CREAT if workload.kind.is_write else os.O_RDONLY
            fd = os.open(path, flags, 0o644)
            try:
                if not workload.kind.is_write:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                measured = self._transfer(fd, workload, progress)
                if workload.kind.is_write:
                    # Count the data as written only once it is on the volume, as fio's
                    # end_fsync does.
                    fsync_started = self._clock()
                    os.fsync(fd)
                    measured += self._clock() - fsync_started
            finally:
                os.close(fd)
        except OSError as exc:
            elapsed = max(self._clock() - started, 1e-9)
            done = progress[0]
            return [
                EngineResult(
                    workload.name,
                    workload.metric,
                    workload.unit,
                    done / elapsed / MB,
                    done,
                    elapsed,
                    self.name,
                    ok=False,
                    message=explain_os_error(exc, directory, done, workload.size_bytes),
                )
            ]
        elapsed = max(measured, 1e-9)
        done, operations = progress
        value = operations / elapsed if workload.metric == "iops" else done / elapsed / MB
        return [
            EngineResult(
                workload.name, workload.metric, workload.unit, value, done, elapsed, self.name
            )
        ]

    def _transfer(self, fd: int, workload: Workload, progress: list[int]) -> float:
        """Do the workload's I/O; returns the measured seconds (the ramp is not counted)."""
        block = workload.block_size
        blocks = workload.size_bytes // block
        buffer = os.urandom(block)
        random_access = workload.kind in (Kind.RAND_READ, Kind.RAND_WRITE)

        def io(position: int) -> int:
            index = position % blocks
            offset = (self._random.randrange(blocks) if random_access else index) * block
            if workload.kind.is_write:
                return os.pwrite(fd, buffer, offset)
            return len(os.pread(fd, block, offset))

        position = 0
        if not workload.runtime_s:  # one pass
            started = self._clock()
            for position in range(blocks):
                progress[0] += io(position)
                progress[1] += 1
            return self._clock() - started
        # Like fio's time_based with ramp_time: warm up uncounted, then go over the file
        # until the time is up. The clock is read every 64 operations to keep its cost out.
        ramp_end = self._clock() + workload.ramp_s
        while workload.ramp_s and self._clock() < ramp_end:
            for _ in range(64):
                io(position)
                position += 1
        started = self._clock()
        deadline = started + workload.runtime_s
        while True:
            for _ in range(64):
                progress[0] += io(position)
                progress[1] += 1
                position += 1
            if self._clock() >= deadline:
                return self._clock() - started

    def _lay_out(self, path: Path, size: int) -> None:
        if path.exists() and path.stat().st_size >= size:
            return
        chunk = os.urandom(1024 * 1024)
        with path.open("wb") as handle:
            written = 0
            while written < size:
                handle.write(chunk[: min(len(chunk), size - written)])
                written += min(len(chunk), size - written)
            handle.flush()
            os.fsync(handle.fileno())


class MetadataEngine:
    """Files per second for create, stat and delete, in a private subdirectory."""

    name = "python"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock

    def run(self, workload: Workload, directory: Path, file_name: str) -> list[EngineResult]:
        workdir = directory / f"{file_name}.metadata"
        names = [workdir / f"f{index:06d}" for index in range(workload.files)]
        results: list[EngineResult] = []
        phases: Sequence[tuple[str, Callable[[Path], object]]] = (
            ("create", _create_empty),
            ("stat", os.stat),
            ("delete", os.unlink),
        )
        try:
            workdir.mkdir(exist_ok=True)
        except OSError as exc:
            return [self._failed("create", workload, explain_os_error(exc, directory, 0, 0))]
        try:
            for phase, operation in phases:
                started = self._clock()
                done = 0
                try:
                    for path in names:
                        operation(path)
                        done += 1
                except OSError as exc:
                    message = (
                        f"metadata {phase} stopped after {done} of {len(names)} files: "
                        + explain_os_error(exc, directory, 0, 0).split(" after ")[0]
                    )
                    results.append(self._failed(phase, workload, message))
                    return results
                elapsed = max(self._clock() - started, 1e-9)
                results.append(
                    EngineResult(
                        f"metadata-{phase}", "ops", "ops/s", done / elapsed, 0, elapsed, self.name
                    )
                )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return results

    def _failed(self, phase: str, workload: Workload, message: str) -> EngineResult:
        return EngineResult(
            f"metadata-{phase}", "ops", "ops/s", 0.0, 0, 0.0, self.name, ok=False, message=message
        )


def _create_empty(path: Path) -> None:
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
