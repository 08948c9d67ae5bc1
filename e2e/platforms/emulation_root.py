"""The host directory kind and k3s share with their nodes as the Lustre emulation root, on a
file system of its own (a tmpfs), and the run directory around it removed at the end.

Why a file system of its own: drivers built on Kubernetes' mount library decide whether a
target is mounted by comparing its device number with its parent's. The emulated Lustre
mount is a bind mount from `<root>/<file-system-id>/<mountname>`; from a directory on the
node's own file system it has the target's device number, looks unmounted, and such a driver
stacks a second mount on republish and leaves mounts behind on unpublish. On a tmpfs the
source's device differs from every target's. The local platform mounts the same kind of
tmpfs inside its namespace (e2e/platforms/local/lustre_helper.py).

Why before the cluster exists: kind's extraMounts and testcontainers' volume mappings are
docker bind mounts with the default propagation (rprivate). Docker copies the host's mount
tree at the directory when it creates the node container: a tmpfs mounted there before
`kind create cluster` (before the K3s container starts) is what every node sees. One mounted
after would stay in the host's namespace alone: the nodes would keep writing to the plain
directory underneath, which the host no longer sees, on the host's file system still.

Mounting needs root (the harness runs kind as root in CI). Where it fails (not root, no
CAP_SYS_ADMIN, not Linux: Docker Desktop shares the host's files through its VM) the run
goes on with the plain directory, says so on progress and in the run's details: the
reference driver judges mounts by mountinfo and is not affected, but a driver built on the
mount library may misjudge its mounts. Not a prerequisite: kind as a docker-group user
works today, and only a mount attempt (a side effect) could tell beforehand.

Unmounted after the cluster is deleted (lazily: nothing of a deleted cluster holds it, and a
lazy detach cannot be refused by a late reader), on every path; the files the pods wrote
(owned by root) vanish with it, so that the run directory can be removed without sudo.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from e2e.platforms.commands import CommandFailed, CommandRunner
from fsx_csi_harness.results import Leak

if TYPE_CHECKING:
    from e2e.progress import Progress

# The tmpfs's source in mountinfo: what `findmnt` names, and what a leftover is found by.
TMPFS_SOURCE: Final = "fsx-emulation"
DETAILS_KEY: Final = "emulation_root"
WARNING_KEY: Final = "emulation_root_warning"
_MOUNT_TIMEOUT_S: Final = 30.0


def misjudged_mounts_warning(situation: str, shared: str) -> str:
    """The emulation_root_warning of every platform: `situation` says where the emulation root
    is not a file system of its own and why, `shared` whose file system it shares instead."""
    return (
        f"{situation}: the emulated file systems share {shared}, so a driver built on "
        "Kubernetes' mount library (device numbers) may judge its emulated Lustre mounts as "
        "not mounted; the reference driver reads mountinfo and is not affected"
    )


def mount_command(root: Path) -> list[str]:
    # No size: a tmpfs takes memory only for what is written, up to half the RAM by default.
    return ["mount", "-t", "tmpfs", "-o", "mode=0755", TMPFS_SOURCE, str(root)]


def unmount_command(root: Path) -> list[str]:
    return ["umount", "--recursive", "--lazy", str(root)]


@dataclass
class HostEmulationRoot:
    """The run's emulation root on the host; `mount` before the cluster is created,
    `unmount` after it is deleted."""

    path: Path
    runner: CommandRunner
    # sys.platform; the tests name another to check the path where no mount is tried.
    system: str = sys.platform
    mounted: bool = field(default=False, init=False)

    def mount(self, details: dict[str, str]) -> str | None:
        """Mount the tmpfs and note it in `details`; None when it is mounted, else the
        warning (also in `details`) that the emulated file systems share the host's."""
        if self.system != "linux":
            return self._warn(details, f"not tried: the host is {self.system}, not Linux")
        argv = mount_command(self.path)
        try:
            done = self.runner.run(
                argv,
                what=f"mounting a tmpfs on the emulation root {self.path}",
                timeout_s=_MOUNT_TIMEOUT_S,
                check=False,
            )
        except CommandFailed as exc:  # `mount` could not even start
            return self._warn(details, f"`{' '.join(argv)}`: {exc.result.output_tail}")
        if done.returncode != 0:
            said = " ".join(done.output_tail.split())
            return self._warn(
                details, f"`{' '.join(argv)}` failed (exit {done.returncode}): {said}"
            )
        self.mounted = True
        details[DETAILS_KEY] = f"a tmpfs of its own on {self.path}, shared by every node"
        return None

    def _warn(self, details: dict[str, str], why: str) -> str:
        warning = misjudged_mounts_warning(
            f"the emulation root {self.path} is a plain directory on the host's file system, "
            f"not a tmpfs of its own ({why}; mounting one needs root on Linux)",
            "the host's file system",
        )
        details[WARNING_KEY] = warning
        return warning

    def unmount(self) -> Leak | None:
        """Detach the tmpfs (a no-op when none was mounted); a Leak when umount refuses."""
        if not self.mounted:
            return None
        argv = unmount_command(self.path)
        try:
            done = self.runner.run(
                argv,
                what=f"unmounting the emulation root {self.path}",
                timeout_s=_MOUNT_TIMEOUT_S,
                check=False,
            )
        except CommandFailed as exc:
            return Leak("mount", str(self.path), f"umount: {exc.result.output_tail}", False)
        if done.returncode != 0:
            said = " ".join(done.output_tail.split())
            return Leak("mount", str(self.path), f"umount: {said}", False)
        self.mounted = False
        return None


def remove_work_dir(work: Path, details: dict[str, Any]) -> None:
    """Remove the run directory; what cannot be removed is named in `details`."""
    with contextlib.suppress(OSError):
        shutil.rmtree(work)
    if work.exists():
        # Left when the emulation root was no tmpfs (files the pods wrote through it belong
        # to root on the host) or its tmpfs could not be unmounted.
        details["work_dir_left"] = (
            f"{work} (files written by the pods are owned by root; remove with sudo)"
        )


def tear_down_work_dir(
    root: HostEmulationRoot, work: Path, leaks: list[Leak], details: dict[str, Any]
) -> None:
    """A run's teardown, once the cluster is gone: unmount the emulation root (a refusal is a
    leak of the run) and remove the run directory (what is left is named in `details`)."""
    leak = root.unmount()
    if leak is not None:
        leaks.append(leak)
    remove_work_dir(work, details)


def release_work_dir(root: HostEmulationRoot, work: Path, progress: Progress) -> None:
    """A kept cluster's release, once the cluster is gone: unmount the emulation root, remove
    the run directory, and say on `progress` what could not be (no run result is open)."""
    leak = root.unmount()
    if leak is not None:
        progress.info(f"warning: {leak.id} is still mounted: {leak.detail}")
    details: dict[str, str] = {}
    remove_work_dir(work, details)
    if "work_dir_left" in details:
        progress.info(f"warning: left {details['work_dir_left']}")
