"""Lustre emulation: `<dnsname>@tcp:/<mountname>` becomes a bind mount of
`<emulation-root>/<file-system-id>/<mountname>` (DESIGN.md, "Lustre emulation").

The FSx emulator creates that directory when a file system becomes AVAILABLE and removes it
when deletion starts, so a missing directory fails the mount the way a real Lustre mount of an
unknown or unavailable file system fails. Mounts are real kernel bind mounts: the driver must
run as root, or as root of a user namespace with its own mount namespace (what `fsx-csi e2e`,
`qualify` and `throughput` do on the local platform when run by another user).

Inside such a namespace the kernel locks the per-mount flags (ro, nosuid, nodev, noexec, the
atime setting) of every mount inherited from the host: a remount that would clear one fails
with EPERM (mount_namespaces(7)). A bind mount starts with its source's flags, so the
read-only remount states them again; a requested flag that contradicts a locked one (noatime
over a locked relatime, say) is left out there, with a warning, rather than failing the mount.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from fsx_csi_harness import mountinfo
from fsx_csi_harness.userns import in_user_namespace
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
# Per-mount settings, each with the flags that state it. A bind remount replaces all of them,
# so each setting the request does not state is carried over from the mount as it is.
_MOUNT_SETTINGS = (
    ("ro", "rw"),
    ("nosuid", "suid"),
    ("nodev", "dev"),
    ("noexec", "exec"),
    ("noatime", "relatime", "strictatime", "nodiratime"),
)
_NOT_PERMITTED = ("must be superuser", "permission denied", "operation not permitted")

log = logging.getLogger(__name__)


def remount_flags(requested: Sequence[str], current: Sequence[str]) -> list[str]:
    """The flags of a bind remount applying `requested` to a mount whose mountinfo options
    are `current`: the requested ones, plus the current state of every setting the request
    leaves alone (so that nothing the source had, locked or not, is silently cleared)."""
    flags = list(requested)
    for setting in _MOUNT_SETTINGS:
        if not any(flag in setting for flag in requested):
            flags += [flag for flag in current if flag in setting]
    return flags


def _locked_conflicts(requested: Sequence[str], current: Sequence[str]) -> list[str]:
    """Requested flags that change a setting other than ro/rw away from its current state."""
    conflicts = []
    for setting in _MOUNT_SETTINGS[1:]:
        asked = {flag for flag in requested if flag in setting}
        if asked and asked != {flag for flag in current if flag in setting}:
            conflicts += sorted(asked)
    return conflicts


class EmulatedMounter:
    def __init__(
        self,
        emulation_root: Path,
        runner: CommandRunner | None = None,
        mount_table: MountTable = mountinfo.read,
        user_namespace: Callable[[], bool] = in_user_namespace,
    ) -> None:
        self.emulation_root = Path(os.path.realpath(emulation_root))
        self.runner = runner or SubprocessRunner()
        self.mount_table = mount_table
        self.user_namespace = user_namespace

    def source_directory(self, source: LustreSource) -> Path:
        fs_id = source.file_system_id
        if fs_id is None:
            raise MountError(
                f"mount.lustre: {source}: cannot emulate a mount of a DNS name that is not an "
                "FSx file system's own (fs-<id>.fsx.<region>.amazonaws.com)"
            )
        return self.emulation_root / fs_id / source.path

    def mount(self, source: LustreSource, target: Path, flags: Sequence[str]) -> None:
        checked = check_mount_flags(flags)
        directory = self.source_directory(source)
        if not directory.is_dir():
            raise MountError(
                f"mount.lustre: mount {source} at {target} failed: the file system is unknown or "
                f"not available (emulation: no directory {directory}; the FSx emulator creates "
                "it when the file system becomes AVAILABLE)"
            )
        bind = ["mount", "--bind", str(directory), str(target)]
        result = self.runner.run(bind)
        if result.returncode != 0:
            said = " ".join((result.output or "no output").split()).rstrip(".")
            hint = ""
            if any(words in said.lower() for words in _NOT_PERMITTED):
                hint = (
                    ". Emulated Lustre mounts are real bind mounts: run the driver as root, or "
                    "as root of a user namespace with its own mount namespace (unshare --user "
                    "--map-root-user --mount) shared with whatever reads the target"
                )
            raise MountError(
                f"bind-mounting {source} failed (exit {result.returncode}, {' '.join(bind)}): "
                f"{said}{hint}"
            )
        requested = [flag for flag in checked if flag in BIND_REMOUNT_FLAGS]
        if requested:
            try:
                self._remount(target, requested)
            except MountError:
                # Never leave a writable mount behind when a read-only one was asked for.
                self.runner.run(["umount", str(target)])
                raise

    def _remount(self, target: Path, requested: list[str]) -> None:
        entry = mountinfo.mount_at(self.mount_table(), str(target))
        current = entry.mount_options if entry is not None else ()
        flags = remount_flags(requested, current)
        argv = ["mount", "-o", ",".join(["remount", "bind", *flags]), str(target)]
        result = self.runner.run(argv)
        if result.returncode == 0:
            return
        conflicts = _locked_conflicts(requested, current)
        if conflicts and self.user_namespace():
            kept = [flag for flag in requested if flag not in conflicts]
            log.warning(
                "mount flags %s left out at %s: the bind source's %s are locked in this user "
                "namespace (run as root to apply them)",
                ",".join(conflicts),
                target,
                ",".join(current),
                extra={"fields": {"target": str(target), "left_out": conflicts}},
            )
            flags = remount_flags(kept, current)
            argv = ["mount", "-o", ",".join(["remount", "bind", *flags]), str(target)]
            result = self.runner.run(argv)
            if result.returncode == 0:
                return
        raise MountError(
            f"applying {','.join(requested)} to {target} failed (exit {result.returncode}, "
            f"{' '.join(argv)}): {result.output or 'no output'}"
        )

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
        return self._describe(entry, self._device_path(entries, self.emulation_root))

    def _describe(
        self, entry: mountinfo.MountEntry, located: tuple[tuple[int, int], str] | None
    ) -> MountedFileSystem:
        """What `entry` is; `located` is the emulation root's (device, path inside it)."""
        root = entry.root.removesuffix(_DELETED_SUFFIX)
        if located is not None:
            device, root_inside = located
            prefix = root_inside.rstrip("/") + "/"
            if entry.device == device and root.startswith(prefix):
                parts = root[len(prefix) :].split("/")
                if len(parts) >= 2 and all(parts):
                    fs_id, mount_name = parts[0], "/".join(parts[1:])
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
        # One read of the mount table for the whole scan (a node can have hundreds of mounts).
        entries = self.mount_table()
        located = self._device_path(entries, self.emulation_root)
        targets = []
        for entry in entries:
            top = mountinfo.mount_at(entries, entry.mount_point)
            if top is not None and self._describe(top, located).serves(source):
                targets.append(Path(entry.mount_point))
        return targets
