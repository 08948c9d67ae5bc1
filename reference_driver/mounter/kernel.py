"""Real Lustre mounts: `mount -t lustre -o <flags> <dnsname>@tcp:/<mountname> <target>`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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

MountTable = Callable[[], list[mountinfo.MountEntry]]


class KernelMounter:
    """Mounts with the Lustre client (the lustre-client package must be installed)."""

    def __init__(
        self, runner: CommandRunner | None = None, mount_table: MountTable = mountinfo.read
    ) -> None:
        self.runner = runner or SubprocessRunner()
        self.mount_table = mount_table

    def mount(self, source: LustreSource, target: Path, flags: Sequence[str]) -> None:
        argv = ["mount", "-t", "lustre"]
        checked = check_mount_flags(flags)
        if checked:
            argv += ["-o", ",".join(checked)]
        argv += [str(source), str(target)]
        result = self.runner.run(argv)
        if result.returncode != 0:
            raise MountError(
                f"mounting {source} on {target} failed (exit {result.returncode}): "
                f"{result.output or 'no output'}. Check that the Lustre client is installed, "
                "the file system is AVAILABLE and its security group allows port 988"
            )

    def unmount(self, target: Path) -> None:
        result = self.runner.run(["umount", str(target)])
        if result.returncode != 0:
            raise MountError(
                f"unmounting {target} failed (exit {result.returncode}): "
                f"{result.output or 'no output'}"
            )

    def mounted_at(self, target: Path) -> MountedFileSystem | None:
        entry = mountinfo.mount_at(self.mount_table(), str(target))
        if entry is None:
            return None
        if entry.fs_type == "lustre":
            # The kernel lists the server NID (an IP address), not the DNS name, so the mount
            # name after ":/" is what identifies the file system here.
            _, _, mount_name = entry.source.partition(":/")
            return MountedFileSystem(
                description=f"lustre {entry.source}",
                is_lustre=True,
                mount_name=mount_name or None,
                file_system_id=None,
                read_only=entry.read_only,
            )
        return MountedFileSystem(
            description=f"{entry.fs_type} {entry.source}",
            is_lustre=False,
            mount_name=None,
            file_system_id=None,
            read_only=entry.read_only,
        )

    def targets_of(self, source: LustreSource) -> list[Path]:
        return [
            Path(entry.mount_point)
            for entry in self.mount_table()
            if entry.fs_type == "lustre" and entry.source.endswith(f":/{source.path}")
        ]
