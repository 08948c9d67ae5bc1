"""The kube platforms' host emulation root (e2e/platforms/emulation_root.py): the exact mount
and umount command lines, what is said where no tmpfs can be mounted, and, as root, a real
tmpfs whose device differs from its parent's, which is what Kubernetes' mount library reads
to decide that a bind mount from it is a mount."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.platforms.commands import CommandFailed, CommandResult, SubprocessRunner
from e2e.platforms.emulation_root import HostEmulationRoot, release_work_dir, remove_work_dir
from e2e.progress import Progress
from fsx_csi_harness import mountinfo
from tests.e2e.test_kube_platforms import RecordingRunner


def test_the_mount_and_umount_command_lines(tmp_path: Path) -> None:
    runner = RecordingRunner(tools=())
    root = HostEmulationRoot(tmp_path / "emulation-root", runner, system="linux")
    details: dict[str, str] = {}

    assert root.unmount() is None and runner.commands == [], "nothing mounted, nothing run"
    assert root.mount(details) is None
    assert root.unmount() is None
    assert root.unmount() is None, "a second unmount runs nothing"

    path = str(tmp_path / "emulation-root")
    assert runner.commands == [
        ["mount", "-t", "tmpfs", "-o", "mode=0755", "fsx-emulation", path],
        ["umount", "--recursive", "--lazy", path],
    ]
    assert details == {"emulation_root": f"a tmpfs of its own on {path}, shared by every node"}


def test_not_linux_tries_nothing_and_says_so(tmp_path: Path) -> None:
    runner = RecordingRunner(tools=())
    details: dict[str, str] = {}

    warning = HostEmulationRoot(tmp_path, runner, system="darwin").mount(details)

    assert warning is not None and "not tried: the host is darwin, not Linux" in warning
    assert details == {"emulation_root_warning": warning}
    assert runner.commands == []


class NoMountBinary(RecordingRunner):
    def run(self, argv: object, **kwargs: object) -> CommandResult:
        result = CommandResult(("mount",), 127, "", "[Errno 2] No such file: 'mount'", 0.0)
        raise CommandFailed(result, "mounting", "")


def test_a_mount_that_cannot_start_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    details: dict[str, str] = {}
    warning = HostEmulationRoot(tmp_path, NoMountBinary(), system="linux").mount(details)
    assert warning is not None and "No such file: 'mount'" in warning
    assert "emulation_root" not in details


def test_a_kept_clusters_release_says_what_it_could_not_unmount(tmp_path: Path) -> None:
    runner = RecordingRunner(tools=())
    runner.answers[("umount",)] = CommandResult((), 32, "", "umount: target is busy.", 0.0)
    work = tmp_path / "run"
    (work / "emulation-root").mkdir(parents=True)
    root = HostEmulationRoot(work / "emulation-root", runner, system="linux")
    root.mount({})
    said = io.StringIO()

    release_work_dir(root, work, Progress(stream=said))

    expected = (
        f"warning: {work / 'emulation-root'} is still mounted: umount: umount: target is busy."
    )
    assert expected in said.getvalue()
    assert not work.exists(), "the directory itself (here not really mounted) is removed"


def _can_mount() -> str | None:
    """Why a real tmpfs cannot be mounted here (None: it can)."""
    if os.geteuid() != 0:
        return "not root"
    if not Path("/proc/self/mountinfo").exists():
        return "no /proc/self/mountinfo"
    return None


@pytest.fixture
def real_root(tmp_path: Path) -> Iterator[HostEmulationRoot]:
    why = _can_mount()
    if why is not None:
        pytest.skip(f"a real tmpfs needs root: {why}")
    (tmp_path / "work" / "emulation-root").mkdir(parents=True)
    root = HostEmulationRoot(tmp_path / "work" / "emulation-root", SubprocessRunner())
    yield root
    # Whatever the test did, nothing stays mounted under tmp_path.
    root.unmount()
    for entry in mountinfo.mounts_under(mountinfo.read(), str(tmp_path)):
        subprocess.run(["umount", "--lazy", entry.mount_point], check=False)


def test_a_real_tmpfs_gives_the_emulated_mounts_a_device_of_their_own(
    tmp_path: Path, real_root: HostEmulationRoot
) -> None:
    details: dict[str, str] = {}
    warning = real_root.mount(details)
    if warning is not None:
        pytest.skip(f"this machine refuses a tmpfs (a container without CAP_SYS_ADMIN?): {warning}")
    path = str(real_root.path)
    entry = mountinfo.mount_at(mountinfo.read(), path)
    assert entry is not None and (entry.fs_type, entry.source) == ("tmpfs", "fsx-emulation")

    # An emulated file system and a pod's target, as the mount helper lays them out, and the
    # mount library's check (the target's device against its parent's).
    source = real_root.path / "fs-0123456789abcdef0" / "abcdefgh"
    source.mkdir(parents=True)
    (source / "data").write_text("written by a pod")
    target = tmp_path / "pods" / "volume" / "mount"
    target.mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
    try:
        assert os.stat(target).st_dev != os.stat(target.parent).st_dev, "looks mounted"
    finally:
        subprocess.run(["umount", str(target)], check=True)
    # The same bind from a plain directory beside the target is what such a driver misjudges.
    plain = tmp_path / "pods" / "plain"
    plain.mkdir()
    subprocess.run(["mount", "--bind", str(plain), str(target)], check=True)
    try:
        assert os.stat(target).st_dev == os.stat(target.parent).st_dev, "looks unmounted"
    finally:
        subprocess.run(["umount", str(target)], check=True)

    assert real_root.unmount() is None
    assert mountinfo.mount_at(mountinfo.read(), path) is None
    assert list(real_root.path.iterdir()) == [], "the pods' files went with the tmpfs"


def test_a_run_directory_whose_root_is_still_mounted_is_named_not_raised(
    tmp_path: Path, real_root: HostEmulationRoot
) -> None:
    details: dict[str, str] = {}
    remove_work_dir(tmp_path / "gone", details)
    assert details == {}
    if real_root.mount({}) is not None:
        pytest.skip("this machine refuses a tmpfs")
    (real_root.path / "written-by-a-pod").write_text("")

    remove_work_dir(real_root.path.parent, details)  # as when its umount was refused

    assert details["work_dir_left"] == (
        f"{real_root.path.parent} (files written by the pods are owned by root; remove with sudo)"
    )
