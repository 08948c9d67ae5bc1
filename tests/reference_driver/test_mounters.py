"""Mountinfo parsing and the mounters' commands, with recorded commands and mount tables.

Real bind mounts are exercised in test_integration.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from fsx_csi_harness import mountinfo
from reference_driver.errors import InvalidArgument
from reference_driver.mounter.base import CommandResult, LustreSource, MountError
from reference_driver.mounter.emulated import EmulatedMounter, remount_flags
from reference_driver.mounter.kernel import KernelMounter

FS_ID = "fs-0123456789abcdef0"
SOURCE = LustreSource(f"{FS_ID}.fsx.us-east-1.amazonaws.com", "abcdwxyz")

TABLE = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw
40 27 0:30 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw,size=100k
41 40 0:30 /emu/fs-0123456789abcdef0/abcdwxyz /var/lib/kubelet/pods/p\\040one/vol rw,relatime \
shared:20 - tmpfs tmpfs rw
42 40 0:30 /emu/fs-0123456789abcdef0/abcdwxyz /mnt/ro ro,relatime - tmpfs tmpfs rw
43 27 0:55 / /mnt/lustre rw - lustre 172.31.1.1@tcp:/abcdwxyz rw,flock
44 27 259:1 /srv/other /mnt/other rw - ext4 /dev/nvme0n1p1 rw
"""


class Recorder:
    def __init__(self, failing: Sequence[str] = ()) -> None:
        self.commands: list[list[str]] = []
        self.failing = failing

    def run(self, argv: Sequence[str]) -> CommandResult:
        self.commands.append(list(argv))
        if any(word in argv for word in self.failing):
            return CommandResult(32, "mount: permission denied")
        return CommandResult(0, "")


def table() -> list[mountinfo.MountEntry]:
    return mountinfo.parse(TABLE)


def test_mountinfo_parses_fields_and_octal_escapes() -> None:
    entries = table()
    bind = entries[3]
    assert bind.mount_point == "/var/lib/kubelet/pods/p one/vol"
    assert bind.root == "/emu/fs-0123456789abcdef0/abcdwxyz"
    assert bind.device == (0, 30)
    assert bind.fs_type == "tmpfs"
    assert not bind.read_only
    assert entries[4].read_only
    assert entries[1].super_options == ("rw",)
    assert mountinfo.unescape(r"a\011b\134c\012") == "a\tb\\c\n"


def test_mountinfo_without_optional_fields_and_malformed_lines() -> None:
    entry = mountinfo.parse_line("43 27 0:55 / /mnt/x rw - lustre 10.0.0.1@tcp:/m rw")
    assert entry.source == "10.0.0.1@tcp:/m"
    with pytest.raises(ValueError, match="malformed mountinfo line"):
        mountinfo.parse_line("43 27 0:55 / /mnt/x rw lustre")


def test_mount_containing_picks_the_longest_mount_point() -> None:
    found = mountinfo.mount_containing(table(), "/tmp/emu/fs-1")
    assert found is not None and found.mount_point == "/tmp"
    assert mountinfo.mount_containing(table(), "/tmpx") is not None
    assert mountinfo.mount_containing(table(), "/tmpx").mount_point == "/"  # type: ignore[union-attr]


def test_real_mountinfo_of_this_process_parses() -> None:
    entries = mountinfo.read()
    assert any(entry.mount_point == "/" for entry in entries)


def test_kernel_mounter_runs_mount_as_an_argument_list() -> None:
    runner = Recorder()
    mounter = KernelMounter(runner, mount_table=table)
    mounter.mount(SOURCE, Path("/mnt/t"), ["ro", "flock"])
    mounter.unmount(Path("/mnt/t"))
    assert runner.commands == [
        ["mount", "-t", "lustre", "-o", "ro,flock", str(SOURCE), "/mnt/t"],
        ["umount", "/mnt/t"],
    ]
    assert str(SOURCE) == f"{FS_ID}.fsx.us-east-1.amazonaws.com@tcp:/abcdwxyz"


def test_kernel_mounter_refuses_flags_that_could_smuggle_options() -> None:
    runner = Recorder()
    with pytest.raises(InvalidArgument, match="mount flag"):
        KernelMounter(runner, mount_table=table).mount(SOURCE, Path("/mnt/t"), ["ro,exec x"])
    assert runner.commands == []


def test_kernel_mounter_failure_names_source_target_and_output() -> None:
    mounter = KernelMounter(Recorder(failing=["mount"]), mount_table=table)
    with pytest.raises(MountError) as caught:
        mounter.mount(SOURCE, Path("/mnt/t"), [])
    assert str(SOURCE) in caught.value.message
    assert "permission denied" in caught.value.message


def test_kernel_mounter_recognises_lustre_by_mount_name() -> None:
    mounter = KernelMounter(Recorder(), mount_table=table)
    mounted = mounter.mounted_at(Path("/mnt/lustre"))
    assert mounted is not None and mounted.is_lustre and mounted.serves(SOURCE)
    assert mounted.holds(FS_ID)
    other = mounter.mounted_at(Path("/mnt/other"))
    assert other is not None and not other.is_lustre and not other.serves(SOURCE)
    assert mounter.mounted_at(Path("/mnt/none")) is None


def test_emulated_mounter_identifies_bind_mounts_by_device_and_root() -> None:
    mounter = EmulatedMounter(Path("/tmp/emu"), Recorder(), mount_table=table)
    mounted = mounter.mounted_at(Path("/var/lib/kubelet/pods/p one/vol"))
    assert mounted is not None
    assert mounted.file_system_id == FS_ID and mounted.mount_name == "abcdwxyz"
    assert mounted.serves(SOURCE) and mounted.holds(FS_ID) and not mounted.holds("fs-1")
    read_only = mounter.mounted_at(Path("/mnt/ro"))
    assert read_only is not None and read_only.read_only
    # Same path inside another device is not an emulated Lustre mount.
    other_root = EmulatedMounter(Path("/srv"), Recorder(), mount_table=table)
    other = other_root.mounted_at(Path("/var/lib/kubelet/pods/p one/vol"))
    assert other is not None and not other.is_lustre


def test_emulated_mount_of_a_missing_directory_fails_like_lustre(tmp_path: Path) -> None:
    runner = Recorder()
    mounter = EmulatedMounter(tmp_path, runner, mount_table=table)
    with pytest.raises(MountError) as caught:
        mounter.mount(SOURCE, tmp_path / "target", [])
    assert str(SOURCE) in caught.value.message
    assert "unknown or not available" in caught.value.message
    assert runner.commands == []


def test_emulated_mount_binds_then_remounts_read_only(tmp_path: Path) -> None:
    (tmp_path / FS_ID / "abcdwxyz").mkdir(parents=True)
    runner = Recorder()
    mounter = EmulatedMounter(tmp_path, runner, mount_table=table)
    mounter.mount(SOURCE, Path("/mnt/t"), ["flock", "ro", "noatime"])
    assert runner.commands == [
        ["mount", "--bind", str(tmp_path / FS_ID / "abcdwxyz"), "/mnt/t"],
        ["mount", "-o", "remount,bind,ro,noatime", "/mnt/t"],
    ]


def test_emulated_mount_undoes_the_bind_when_the_read_only_remount_fails(tmp_path: Path) -> None:
    (tmp_path / FS_ID / "abcdwxyz").mkdir(parents=True)
    runner = Recorder(failing=["remount,bind,ro"])
    with pytest.raises(MountError):
        EmulatedMounter(tmp_path, runner, mount_table=table).mount(SOURCE, Path("/mnt/t"), ["ro"])
    assert runner.commands[-1] == ["umount", "/mnt/t"]


def test_non_fsx_dns_names_cannot_be_emulated(tmp_path: Path) -> None:
    mounter = EmulatedMounter(tmp_path, Recorder(), mount_table=table)
    with pytest.raises(MountError, match="not an FSx"):
        mounter.mount(LustreSource("lustre.example.com", "abc"), Path("/mnt/t"), [])


@pytest.mark.parametrize(
    ("dns", "mount_name"),
    [("fs-1.fsx.x.amazonaws.com;rm", "abc"), ("ok.example.com", "a b"), ("", "abc")],
)
def test_volume_context_is_checked_before_it_reaches_mount(dns: str, mount_name: str) -> None:
    with pytest.raises(InvalidArgument):
        LustreSource.from_context(dns, mount_name)


def test_targets_of_finds_every_mount_of_a_source() -> None:
    emulated = EmulatedMounter(Path("/tmp/emu"), Recorder(), mount_table=table)
    assert emulated.targets_of(SOURCE) == [
        Path("/var/lib/kubelet/pods/p one/vol"),
        Path("/mnt/ro"),
    ]
    kernel = KernelMounter(Recorder(), mount_table=table)
    assert kernel.targets_of(SOURCE) == [Path("/mnt/lustre")]
    assert kernel.targets_of(LustreSource(SOURCE.dns_name, "other")) == []


# -- user namespaces: locked flags and EPERM -------------------------------------------------

LOCKED_TABLE = (
    "50 27 0:40 /emu/fs-0123456789abcdef0/abcdwxyz /mnt/t rw,nosuid,nodev,noexec,relatime "
    "- tmpfs tmpfs rw\n"
)


def locked_table() -> list[mountinfo.MountEntry]:
    return mountinfo.parse(LOCKED_TABLE)


class FailingRemount(Recorder):
    """Refuses (EPERM) every remount that would change a flag the source's mount locks."""

    def run(self, argv: Sequence[str]) -> CommandResult:
        self.commands.append(list(argv))
        if argv[1] == "-o" and argv[2].startswith("remount,"):
            flags = set(argv[2].split(","))
            if not {"nosuid", "nodev", "noexec", "relatime"} <= flags:
                return CommandResult(32, "mount: /mnt/t: permission denied.")
        return CommandResult(0, "")


def test_remount_flags_keep_every_setting_the_request_leaves_alone() -> None:
    current = ("rw", "nosuid", "nodev", "noexec", "relatime")
    assert remount_flags(["ro"], current) == ["ro", "nosuid", "nodev", "noexec", "relatime"]
    assert remount_flags(["ro", "noatime"], current) == [
        "ro",
        "noatime",
        "nosuid",
        "nodev",
        "noexec",
    ]
    assert remount_flags(["exec"], current) == ["exec", "rw", "nosuid", "nodev", "relatime"]
    assert remount_flags(["ro"], ()) == ["ro"]  # target not in the table: nothing to keep


def test_read_only_remount_restates_the_sources_locked_flags(tmp_path: Path) -> None:
    (tmp_path / FS_ID / "abcdwxyz").mkdir(parents=True)
    runner = FailingRemount()
    mounter = EmulatedMounter(
        tmp_path, runner, mount_table=locked_table, user_namespace=lambda: True
    )
    mounter.mount(SOURCE, Path("/mnt/t"), ["ro", "flock"])
    assert runner.commands[-1] == [
        "mount", "-o", "remount,bind,ro,nosuid,nodev,noexec,relatime", "/mnt/t",
    ]  # fmt: skip


def test_in_a_user_namespace_flags_contradicting_locked_ones_are_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FS_ID / "abcdwxyz").mkdir(parents=True)
    runner = FailingRemount()
    mounter = EmulatedMounter(
        tmp_path, runner, mount_table=locked_table, user_namespace=lambda: True
    )
    mounter.mount(SOURCE, Path("/mnt/t"), ["ro", "noatime", "exec"])
    assert runner.commands[1:] == [
        ["mount", "-o", "remount,bind,ro,noatime,exec,nosuid,nodev", "/mnt/t"],
        ["mount", "-o", "remount,bind,ro,nosuid,nodev,noexec,relatime", "/mnt/t"],
    ]
    assert "exec,noatime left out at /mnt/t" in caplog.text
    assert "locked in this user namespace" in caplog.text


def test_outside_a_user_namespace_a_refused_remount_fails_and_unmounts(tmp_path: Path) -> None:
    (tmp_path / FS_ID / "abcdwxyz").mkdir(parents=True)
    runner = FailingRemount()
    mounter = EmulatedMounter(
        tmp_path, runner, mount_table=locked_table, user_namespace=lambda: False
    )
    with pytest.raises(
        MountError, match=r"applying ro,noatime to /mnt/t failed .*permission denied"
    ):
        mounter.mount(SOURCE, Path("/mnt/t"), ["ro", "noatime"])
    assert runner.commands[-1] == ["umount", "/mnt/t"]


def test_a_refused_bind_mount_says_to_run_as_root_or_in_a_user_namespace(tmp_path: Path) -> None:
    (tmp_path / FS_ID / "abcdwxyz").mkdir(parents=True)

    class NotSuperuser(Recorder):
        def run(self, argv: Sequence[str]) -> CommandResult:
            self.commands.append(list(argv))
            return CommandResult(32, "mount: /mnt/t: must be superuser to use mount.")

    with pytest.raises(MountError) as failure:
        EmulatedMounter(tmp_path, NotSuperuser(), mount_table=table).mount(
            SOURCE, Path("/mnt/t"), []
        )
    message = str(failure.value)
    assert "must be superuser to use mount" in message and "run the driver as root" in message
    assert "unshare --user --map-root-user --mount" in message
