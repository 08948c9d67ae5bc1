"""Lustre emulation: `<dnsname>@tcp:/<mountname>` becomes a bind mount of
`<emulation-root>/<file-system-id>/<mountname>` (DESIGN.md, "Lustre emulation").

The FSx emulator creates that directory when a file system becomes AVAILABLE and removes it
when deletion starts, so a missing directory fails the mount the way a real Lustre mount of an
unknown or unavailable file system fails. Mounts are real kernel bind mounts (root needed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fsx_csi_harness import mountinfo
from reference_driver.mounter.base import (
    CommandRunner,
    LustreSource,
    MountedFileSystem,
    MountError,
    SubprocessRunner,
    check_mount_flags,
)
from reference_driver.mounter.kernel import MountTable

# Flags a bind mount can honour on remount; Lustre-only flags (flock, localflock, lazystatfs,
# ...) have no meaning for a bind mount and are accepted and left out.
BIND_REMOUNT_FLAGS = frozenset(
    {
        "ro",
        "rw",
        "nosuid",
        "suid",
        "nodev",
        "dev",
        "noexec",
        "exec",
        "noatime",
        "relatime",
        "nodiratime",
        "strictatime",
    }
)
_DELETED_SUFFIX = "//deleted"


class EmulatedMounter:
    def __init__(
        self,
        emulation_root: Path,
        runner: CommandRunner | None = None,
        mount_table: MountTable = mountinfo.read,
    ) -> None:
        self.emulation_root = Path(os.path.realpath(emulation_root))
        self.runner = runner or SubprocessRunner()
        self.mount_table = mount_table

    def source_directory(self, source: LustreSource) -> Path:
        fs_id = source.file_system_id
        if fs_id is None:
            raise MountError(
                f"mount.lustre: {source}: cannot emulate a mount of a DNS name that is not an "
                "FSx file system's own (fs-<id>.fsx.<region>.amazonaws.com)"
            )
        return self.emulation_root / fs_id / source.mount_name

    def mount(self, source: LustreSource, target: Path, flags: Sequence[str]) -> None:
        checked = check_mount_flags(flags)
        directory = self.source_directory(source)
        if not directory.is_dir():
            raise MountError(
                f"mount.lustre: mount {source} at {target} failed: the file system is unknown or "
                f"not available (emulation: no directory {directory}; the FSx emulator creates "
                "it when the file system becomes AVAILABLE)"
            )
        self._run(["mount", "--bind", str(directory), str(target)], f"bind-mounting {source}")
        remount = [flag for flag in checked if flag in BIND_REMOUNT_FLAGS]
        if remount:
            try:
                self._run(
                    ["mount", "-o", ",".join(["remount", "bind", *remount]), str(target)],
                    f"applying {','.join(remount)} to {target}",
                )
            except MountError:
                # Never leave a writable mount behind when a read-only one was asked for.
                self.runner.run(["umount", str(target)])
                raise

    def _run(self, argv: list[str], what: str) -> None:
        result = self.runner.run(argv)
        if result.returncode != 0:
            raise MountError(
                f"{what} failed (exit {result.returncode}, {' '.join(argv)}): "
                f"{result.output or 'no output'}"
            )

    def unmount(self, target: Path) -> None:
        self._run(["umount", str(target)], f"unmounting {target}")

    def _device_path(
        self, entries: list[mountinfo.MountEntry], path: Path
    ) -> tuple[tuple[int, int], str] | None:
        """(device, path inside that device's file system) for a directory on the host."""
        base = mountinfo.mount_containing(entries, str(path))
        if base is None:
            return None
        relative = os.path.relpath(path, base.mount_point)
        inside = os.path.normpath(f"{base.root.rstrip('/')}/{relative}")
        return base.device, inside

    def mounted_at(self, target: Path) -> MountedFileSystem | None:
        entries = self.mount_table()
        entry = mountinfo.mount_at(entries, str(target))
        if entry is None:
            return None
        root = entry.root.removesuffix(_DELETED_SUFFIX)
        located = self._device_path(entries, self.emulation_root)
        if located is not None:
            device, root_inside = located
            prefix = root_inside.rstrip("/") + "/"
            if entry.device == device and root.startswith(prefix):
                parts = root[len(prefix) :].split("/")
                if len(parts) == 2 and all(parts):
                    fs_id, mount_name = parts
                    return MountedFileSystem(
                        description=f"emulated lustre {fs_id}/{mount_name} (bind of "
                        f"{self.emulation_root / fs_id / mount_name})",
                        is_lustre=True,
                        mount_name=mount_name,
                        file_system_id=fs_id,
                        read_only=entry.read_only,
                    )
        return MountedFileSystem(
            description=f"{entry.fs_type} {entry.source} (root {entry.root})",
            is_lustre=False,
            mount_name=None,
            file_system_id=None,
            read_only=entry.read_only,
        )

    def targets_of(self, source: LustreSource) -> list[Path]:
        targets = []
        for entry in self.mount_table():
            mounted = self.mounted_at(Path(entry.mount_point))
            if mounted is not None and mounted.serves(source):
                targets.append(Path(entry.mount_point))
        return targets
