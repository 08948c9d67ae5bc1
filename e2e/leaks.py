"""Leak guard: everything a run creates carries its run id; a final sweep removes what is left.

File systems are tagged `fsx-csi-harness/run-id=<run id>` (and the scenario): dynamic ones
through the StorageClass's `extraTags`, which the driver copies onto the file system, static
ones directly at CreateFileSystem. The sweep finds them with DescribeFileSystems, deletes them
and waits until they are gone. The FSx part works against any endpoint (emulator or real AWS)
and is shared by every platform; the process and mount parts serve the local platform.

A sweep that finds something means a cleanup path failed: the run is reported failed, and the
report lists every resource with whether the sweep removed it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2e.progress import Probe, Progress, WaitTimeout
from fsx_csi_harness import mountinfo, run_ids
from fsx_csi_harness.fsx import storage_class
from fsx_csi_harness.processes import tied_to_parent
from fsx_csi_harness.results import Leak

if TYPE_CHECKING:
    from mypy_boto3_fsx import FSxClient

RUN_ID_TAG = "fsx-csi-harness/run-id"
SCENARIO_TAG = "fsx-csi-harness/scenario"
VOLUME_NAME_TAG = storage_class.VOLUME_NAME_TAG
EXTRA_TAGS_PARAMETER = storage_class.EXTRA_TAGS


def new_run_id() -> str:
    """The report bundle's kind of run id (sorts by start time, unique across concurrent
    runs), marked as an e2e run."""
    return run_ids.new_run_id(prefix="e2e-")


def run_tags(run_id: str, scenario: str) -> dict[str, str]:
    return {RUN_ID_TAG: run_id, SCENARIO_TAG: scenario}


def with_run_tags(parameters: Mapping[str, str], run_id: str, scenario: str) -> dict[str, str]:
    """StorageClass parameters with the run's tags appended to `extraTags` (k=v,k=v)."""
    merged = dict(parameters)
    ours = ",".join(f"{key}={value}" for key, value in run_tags(run_id, scenario).items())
    existing = merged.get(EXTRA_TAGS_PARAMETER, "").strip().strip(",")
    merged[EXTRA_TAGS_PARAMETER] = f"{existing},{ours}" if existing else ours
    return merged


def tags_of(file_system: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in file_system.get("Tags", [])}


class FileSystemGuard:
    """Finds and deletes the FSx file systems of one run (any FSx endpoint)."""

    def __init__(self, client: FSxClient, progress: Progress) -> None:
        self._client = client
        self._progress = progress

    def matching(self, tags: Mapping[str, str]) -> list[dict[str, Any]]:
        """File systems carrying every one of `tags` (DescribeFileSystems returns their tags)."""
        found: list[dict[str, Any]] = []
        for page in self._client.get_paginator("describe_file_systems").paginate():
            for file_system in page["FileSystems"]:
                description = dict(file_system)
                seen = tags_of(description)
                if all(seen.get(key) == value for key, value in tags.items()):
                    found.append(description)
        return found

    def describe(self, file_system_id: str) -> dict[str, Any] | None:
        """The file system, or None once it is gone (FileSystemNotFound)."""
        try:
            response = self._client.describe_file_systems(FileSystemIds=[file_system_id])
        except self._client.exceptions.FileSystemNotFound:
            return None
        systems = response["FileSystems"]
        return dict(systems[0]) if systems else None

    def wait_gone(self, file_system_id: str, timeout_s: float) -> None:
        def probe() -> Probe:
            description = self.describe(file_system_id)
            if description is None:
                return Probe(True, "FileSystemNotFound")
            return Probe(False, f"Lifecycle {description.get('Lifecycle')}")

        self._progress.wait(
            f"file system {file_system_id} to be deleted",
            probe,
            timeout_s,
            hint="check the FSx endpoint's state for the file system (DELETING that never ends "
            "is a stuck deletion)",
        )

    def sweep(self, run_id: str, timeout_s: float = 120.0) -> list[Leak]:
        """Delete every file system of the run that is still there; report each one."""
        leaks = []
        for file_system in self.matching({RUN_ID_TAG: run_id}):
            fs_id = file_system["FileSystemId"]
            lifecycle = file_system.get("Lifecycle", "?")
            tags = tags_of(file_system)
            detail = (
                f"Lifecycle {lifecycle}, scenario {tags.get(SCENARIO_TAG, '?')}, "
                f"volume {tags.get(VOLUME_NAME_TAG, '(static)')}"
            )
            removed = True
            try:
                if lifecycle != "DELETING":
                    self._client.delete_file_system(FileSystemId=fs_id)
                self.wait_gone(fs_id, timeout_s)
            except self._client.exceptions.FileSystemNotFound:
                pass
            except (WaitTimeout, self._client.exceptions.ClientError) as exc:
                removed = False
                detail += f"; could not delete it: {exc}"
            leaks.append(Leak("file-system", fs_id, detail, removed))
        return leaks


# --------------------------------------------------------------------------- local resources


@dataclass(frozen=True)
class MountPoint:
    mount_point: Path
    source: str
    options: str


def mounts_under(root: Path, table: Path = mountinfo.MOUNTINFO) -> list[MountPoint]:
    """Mounts at or below `root`, deepest first (the order to unmount them)."""
    return [
        MountPoint(Path(entry.mount_point), entry.source, ",".join(entry.mount_options))
        for entry in mountinfo.mounts_under(mountinfo.read(table), str(root.resolve()))
    ]


def sweep_mounts(
    root: Path,
    unmount: Callable[[Path], subprocess.CompletedProcess[str]] | None = None,
) -> list[Leak]:
    """Lazily unmount everything still mounted under `root` (a run's directory)."""
    unmount = unmount or _lazy_unmount
    leaks = []
    for mount in mounts_under(root):
        result = unmount(mount.mount_point)
        detail = f"source {mount.source}, options {mount.options}"
        if result.returncode != 0:
            detail += f"; umount failed: {result.stderr.strip()}"
        leaks.append(Leak("mount", str(mount.mount_point), detail, result.returncode == 0))
    return leaks


def _lazy_unmount(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["umount", "--lazy", str(path)], capture_output=True, text=True, check=False
    )


class ProcessTracker:
    """Every process a run starts, so that none outlives the run.

    Processes are started in their own session (process group), so stopping one stops its
    children too (a pod's `sh -c` and its `sleep`, a driver and its mount helpers).
    """

    def __init__(self) -> None:
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, argv: list[str], death_signal: str = "TERM", **popen_kwargs: Any
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in a session of its own; it gets `death_signal` if the harness dies
        (see fsx_csi_harness.processes.tied_to_parent)."""
        process = subprocess.Popen(
            tied_to_parent(argv, death_signal), start_new_session=True, **popen_kwargs
        )
        self._processes[name] = process
        return process

    def stop(self, name: str, grace_s: float = 3.0) -> int | None:
        """Stop a process group: SIGTERM, then SIGKILL after `grace_s`; returns its exit code."""
        process = self._processes.pop(name, None)
        if process is None:
            return None
        return terminate_group(process, grace_s)

    def running(self) -> dict[str, subprocess.Popen[bytes]]:
        return {n: p for n, p in self._processes.items() if p.poll() is None}

    def sweep(self, grace_s: float = 2.0) -> list[Leak]:
        """Stop what is still running and report it; forget what has exited."""
        leaks = []
        for name, process in self.running().items():
            terminate_group(process, grace_s)
            leaks.append(Leak("process", f"{name} (pid {process.pid})", str(process.args), True))
        self._processes.clear()
        return leaks

    def stop_all(self, names: Iterable[str] | None = None, grace_s: float = 3.0) -> None:
        for name in list(names if names is not None else self._processes):
            self.stop(name, grace_s)


def terminate_group(process: subprocess.Popen[bytes], grace_s: float) -> int:
    """SIGTERM the process group, SIGKILL what is left after `grace_s` (the leader, or a pod's
    background job), and return once the kernel has removed the whole group, so that a
    sweep that says "removed" is true when it returns."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    _signal_group(process.pid, signal.SIGKILL)
    returncode = process.wait()
    # Killed members that are not the leader are reaped by init: a moment, not a wait.
    deadline = time.monotonic() + grace_s
    while _group_exists(process.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return returncode


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has already exited
        os.killpg(pgid, sig)
