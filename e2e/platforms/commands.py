"""Running external tools (kind, docker, kubectl) behind one injectable seam.

The kind and k3s platforms never call `subprocess` directly: they get a `CommandRunner`, so the
project's tests can record the exact command lines (a recording runner) and production runs
the real tools through `SubprocessRunner`. Long commands report progress (what runs, how long
so far, its last line of output) and have deadlines.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def output_tail(self) -> str:
        """The last lines of stderr (or stdout), for error messages."""
        text = (self.stderr or self.stdout).strip()
        return "\n".join(text.splitlines()[-15:]) or "(no output)"


class CommandFailed(Exception):
    """A command exited non-zero or ran past its deadline; says which, what it printed, and
    what to try."""

    def __init__(self, result: CommandResult, what: str, hint: str) -> None:
        command = " ".join(result.argv)
        if result.returncode == -1:
            seen = f"still running after {result.duration_s:.0f}s (killed)"
        else:
            seen = f"exit code {result.returncode}"
        super().__init__(
            f"{what} failed: `{command}` expected exit code 0, seen {seen}; "
            f"its output ends with:\n{result.output_tail}\ntry: {hint}"
        )
        self.result = result


class CommandRunner(Protocol):
    def which(self, name: str) -> str | None:
        """The executable's path on PATH, or None."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        what: str,
        timeout_s: float,
        hint: str = "run the command by hand to see the full output",
        check: bool = True,
        stdin_path: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run `argv` (never through a shell). `what` names the step in progress lines and
        errors. With `check`, a non-zero exit raises CommandFailed."""
        ...


class SubprocessRunner:
    """The real runner: subprocess without a shell, progress while a command runs."""

    def __init__(
        self,
        progress: Callable[[str], None] | None = None,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._progress = progress
        self._interval_s = interval_s
        self._clock = clock

    def which(self, name: str) -> str | None:
        return shutil.which(name)

    def run(
        self,
        argv: Sequence[str],
        *,
        what: str,
        timeout_s: float,
        hint: str = "run the command by hand to see the full output",
        check: bool = True,
        stdin_path: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        started = self._clock()
        full_env = None if env is None else {**os.environ, **env}
        stdin: IO[bytes] | int = subprocess.DEVNULL
        if stdin_path is not None:
            stdin = stdin_path.open("rb")
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=full_env,
            )
        except OSError as exc:
            result = CommandResult(tuple(argv), 127, "", str(exc), 0.0)
            raise CommandFailed(result, what, hint) from exc
        finally:
            if not isinstance(stdin, int):
                stdin.close()
        stdout_lines: list[str] = []
        stderr_lines: list[str] = []
        readers = [
            threading.Thread(target=_drain, args=(process.stdout, stdout_lines), daemon=True),
            threading.Thread(target=_drain, args=(process.stderr, stderr_lines), daemon=True),
        ]
        for reader in readers:
            reader.start()
        returncode = self._wait(process, what, started, timeout_s, stdout_lines, stderr_lines)
        for reader in readers:
            reader.join(timeout=5)
        result = CommandResult(
            argv=tuple(argv),
            returncode=returncode,
            stdout="".join(stdout_lines),
            stderr="".join(stderr_lines),
            duration_s=round(self._clock() - started, 3),
        )
        if check and result.returncode != 0:
            raise CommandFailed(result, what, hint)
        return result

    def _wait(
        self,
        process: subprocess.Popen[bytes],
        what: str,
        started: float,
        timeout_s: float,
        stdout_lines: list[str],
        stderr_lines: list[str],
    ) -> int:
        last_report = started
        while True:
            try:
                return process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
            now = self._clock()
            if now - started > timeout_s:
                process.kill()
                process.wait()
                return -1
            if self._progress is not None and now - last_report >= self._interval_s:
                last_line = (stderr_lines or stdout_lines or ["(no output yet)"])[-1].strip()
                self._progress(f"{what}: {now - started:.0f}s so far, last output: {last_line}")
                last_report = now


def _drain(stream: IO[bytes] | None, sink: list[str]) -> None:
    if stream is None:
        return
    for raw in iter(stream.readline, b""):
        sink.append(raw.decode("utf-8", errors="replace"))
    stream.close()
