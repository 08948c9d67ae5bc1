"""A mounter that records calls and keeps a mount table in memory (unit tests only)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reference_driver.mounter.base import (
    LustreSource,
    MountedFileSystem,
    MountError,
    check_mount_flags,
)


@dataclass(frozen=True)
class RecordedMount:
    source: LustreSource
    target: Path
    flags: tuple[str, ...]


class RecordingMounter:
    """Behaves like a mounter whose kernel always agrees; `fail_next` makes one call fail."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.mounts: dict[Path, RecordedMount] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_next: str | None = None
        self.foreign: dict[Path, str] = {}

    def mount(self, source: LustreSource, target: Path, flags: Sequence[str]) -> None:
        checked = check_mount_flags(flags)
        with self._lock:
            self.calls.append(("mount", f"{source} {target} {','.join(checked)}"))
            if self.fail_next is not None:
                message, self.fail_next = self.fail_next, None
                raise MountError(f"mounting {source} on {target} failed: {message}")
            if not target.is_dir():
                raise MountError(f"mount point {target} does not exist")
            self.mounts[target] = RecordedMount(source, target, checked)

    def unmount(self, target: Path) -> None:
        with self._lock:
            self.calls.append(("unmount", str(target)))
            if self.mounts.pop(target, None) is None and self.foreign.pop(target, None) is None:
                raise MountError(f"umount: {target}: not mounted")

    def mounted_at(self, target: Path) -> MountedFileSystem | None:
        with self._lock:
            if target in self.foreign:
                return MountedFileSystem(self.foreign[target], False, None, None, False)
            recorded = self.mounts.get(target)
            if recorded is None:
                return None
            return MountedFileSystem(
                description=f"lustre {recorded.source}",
                is_lustre=True,
                mount_name=recorded.source.mount_name,
                file_system_id=recorded.source.file_system_id,
                read_only="ro" in recorded.flags,
            )

    def targets_of(self, source: LustreSource) -> list[Path]:
        with self._lock:
            return [target for target, mount in self.mounts.items() if mount.source == source]
