"""Lustre mounts: `mount -t lustre -o <flags> <dnsname>@tcp:/<mountname> <target>`.

mount(8) runs the `mount.lustre` helper for that: a Lustre client's, or, on a platform
without Lustre, the Lustre emulation's (fsx_emulator/lustre), which the harness installs
where the driver mounts. The driver does not know which: it has one mount path.

Both kinds of mount read the same way in /proc/self/mountinfo: the source is
`<nid>[:<nid>...]:/<mountname>[/<subdir>]`. A Lustre client's entry has the type lustre and
names the server by its address; the emulation's is a tmpfs (a file system of its own per FSx
file system) whose source is the file system's DNS name, and a sub-directory mount shows its
path inside that file system as the entry's root. Where the emulator could not mount one (a
cluster whose emulation root is a plain host directory), the bind's root still ends in
`/<file-system-id>/<mountname>[/<subdir>]`, the emulation's directory contract.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from fsx_csi_harness import mountinfo
from fsx_csi_harness.fsx import FILE_SYSTEM_ID_PATTERN, file_system_id_of_dns_name
from reference_driver.mounter.base import (
    CommandRunner,
    LustreSource,
    MountedFileSystem,
    MountError,
    SubprocessRunner,
    check_mount_flags,
)

MountTable = Callable[[], list[mountinfo.MountEntry]]
# mount(8) and umount(8) in the C locale: their words are the ones matched below on every node,
# and they start without loading locale files (a dozen opens and maps per command).
COMMAND_ENVIRONMENT = {"LC_ALL": "C"}

# `<nid>[:<nid>...]:/<path>`; a NID is `<address>@<network>` (10.0.0.1@tcp, dns@tcp1).
_LUSTRE_SOURCE = re.compile(r"^(?P<nids>[^\s/]*@[^\s/:]+(?::[^\s/]*@[^\s/:]+)*):/(?P<path>\S*)$")
_DELETED_SUFFIX = "//deleted"
# A bind of `<emulation root>/<file-system-id>/<mountname>[/<subdir>]` from a plain directory.
_EMULATED_DIRECTORY = re.compile(
    rf"^.*/(?P<id>{FILE_SYSTEM_ID_PATTERN.strip('^$')})/(?P<path>[^/].*)$"
)


def describe_mount(entry: mountinfo.MountEntry) -> MountedFileSystem:
    """What a mount table entry is, Lustre (a client's or the emulation's) or anything else."""
    match = _LUSTRE_SOURCE.match(entry.source)
    root = entry.root.removesuffix(_DELETED_SUFFIX)
    directory = _EMULATED_DIRECTORY.match(root)
    if match is None and directory is not None:
        return MountedFileSystem(
            description=f"emulated lustre {directory['id']}/{directory['path']} (bind of "
            f"{entry.source} {root})",
            is_lustre=True,
            mount_name=directory["path"].rstrip("/"),
            file_system_id=directory["id"],
            read_only=entry.read_only,
        )
    if match is None or entry.fs_type not in ("lustre", "tmpfs"):
        return MountedFileSystem(
            description=f"{entry.fs_type} {entry.source}",
            is_lustre=False,
            mount_name=None,
            file_system_id=None,
            read_only=entry.read_only,
        )
    root = root.strip("/")
    path = "/".join(part for part in (match["path"].strip("/"), root) if part)
    first_nid = re.split(r"[:,]", match["nids"])[0]
    kind = "lustre" if entry.fs_type == "lustre" else "emulated lustre"
    return MountedFileSystem(
        description=f"{kind} {entry.source}" + (f" (directory /{root})" if root else ""),
        is_lustre=True,
        mount_name=path or None,
        # A client's entry names the server by address; an FSx DNS name names the file system.
        file_system_id=file_system_id_of_dns_name(first_nid.rpartition("@")[0]),
        read_only=entry.read_only,
    )


class KernelMounter:
    """Mounts through mount(8) and whatever `mount.lustre` it finds."""

    def __init__(
        self, runner: CommandRunner | None = None, mount_table: MountTable = mountinfo.read
    ) -> None:
        self.runner = runner or SubprocessRunner(env=COMMAND_ENVIRONMENT)
        self.mount_table = mount_table

    def mount(self, source: LustreSource, target: Path, flags: Sequence[str]) -> None:
        argv = ["mount", "-t", "lustre"]
        checked = check_mount_flags(flags)
        if checked:
            argv += ["-o", ",".join(checked)]
        argv += [str(source), str(target)]
        result = self.runner.run(argv)
        if result.returncode != 0:
            said = result.output or "no output"
            hint = (
                "Check that the Lustre client is installed, the file system is AVAILABLE and "
                "its security group allows port 988"
            )
            if "unknown filesystem type 'lustre'" in said:
                hint = (
                    "No mount.lustre here: install the Lustre client (lustre-client), or run "
                    "where the harness installed its Lustre emulation"
                )
            raise MountError(
                f"mounting {source} on {target} failed (exit {result.returncode}): {said}. {hint}"
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
        return None if entry is None else describe_mount(entry)

    def targets_of(self, source: LustreSource) -> list[Path]:
        # One read of the mount table for the whole scan (a node can have hundreds of mounts);
        # only the topmost mount at each path counts.
        entries = self.mount_table()
        targets = []
        for entry in entries:
            top = mountinfo.mount_at(entries, entry.mount_point)
            if top is entry and describe_mount(entry).serves(source):
                targets.append(Path(entry.mount_point))
        return targets
