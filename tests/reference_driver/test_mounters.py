"""Mountinfo parsing and the kernel mounter's commands, with recorded commands and mount
tables: the command lines it runs and how it reads Lustre mounts, a client's and the
emulation's, from the mount table.

The emulation's mount.lustre itself is tested in tests/e2e/test_lustre_helper.py; real
mounts through it in test_integration.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from fsx_csi_harness import mountinfo
from reference_driver.errors import InvalidArgument
from reference_driver.mounter.base import CommandResult, LustreSource, MountError, SubprocessRunner
from reference_driver.mounter.kernel import KernelMounter

FS_ID = "fs-0123456789abcdef0"
SOURCE = LustreSource(f"{FS_ID}.fsx.us-east-1.amazonaws.com", "abcdwxyz")

DNS = f"{FS_ID}.fsx.us-east-1.amazonaws.com"
# What the Lustre emulation leaves in a mount table: the file system's own tmpfs (source
# `<dnsname>@tcp:/`) at <root>/<fs-id>, and binds of its <mountname>[/<subdir>] at targets.
TABLE = f"""\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw
40 27 0:30 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw,size=100k
41 40 0:30 /emu/fs-0123456789abcdef0/abcdwxyz /var/lib/kubelet/pods/p\\040one/vol rw,relatime \
shared:20 - tmpfs tmpfs rw
42 40 0:30 /emu/fs-0123456789abcdef0/abcdwxyz /mnt/ro ro,relatime - tmpfs tmpfs rw
43 27 0:55 / /mnt/lustre rw - lustre 172.31.1.1@tcp:/abcdwxyz rw,flock
44 27 259:1 /srv/other /mnt/other rw - ext4 /dev/nvme0n1p1 rw
45 40 0:60 / /tmp/emu/{FS_ID} rw,relatime shared:30 - tmpfs {DNS}@tcp:/ rw,size=1258291200k
46 27 0:60 /abcdwxyz /var/lib/kubelet/pods/p2/vol rw,relatime shared:30 - tmpfs {DNS}@tcp:/ rw
47 27 0:60 /abcdwxyz/team-a /mnt/sub ro,relatime shared:30 - tmpfs {DNS}@tcp:/ rw
48 27 0:61 /abcdwxyz//deleted /mnt/gone rw,relatime - tmpfs {DNS}@tcp:/ rw
49 27 0:56 / /mnt/lustre-sub rw - lustre 172.31.1.1@tcp:172.31.1.2@tcp:/abcdwxyz/team-a rw
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


def test_the_emulations_binds_read_as_lustre_with_their_file_system_and_mount_name() -> None:
    mounter = KernelMounter(Recorder(), mount_table=table)
    mounted = mounter.mounted_at(Path("/var/lib/kubelet/pods/p2/vol"))
    assert mounted is not None and mounted.is_lustre
    assert mounted.file_system_id == FS_ID and mounted.mount_name == "abcdwxyz"
    assert mounted.serves(SOURCE) and mounted.holds(FS_ID) and not mounted.holds("fs-1")
    assert not mounted.serves(LustreSource(DNS.replace("ef0", "ef1"), "abcdwxyz"))
    sub = mounter.mounted_at(Path("/mnt/sub"))
    assert sub is not None and sub.mount_name == "abcdwxyz/team-a" and sub.read_only
    assert sub.serves(LustreSource(DNS, "abcdwxyz", "team-a")) and not sub.serves(SOURCE)
    # A bind whose directory was removed still names what it was.
    gone = mounter.mounted_at(Path("/mnt/gone"))
    assert gone is not None and gone.serves(SOURCE)


def test_binds_of_the_emulations_plain_directories_read_as_lustre_by_their_path() -> None:
    # Where the emulator could not mount a tmpfs (a cluster's plain host directory), the root
    # of the bind still follows <root>/<file-system-id>/<mountname>.
    mounter = KernelMounter(Recorder(), mount_table=table)
    plain = mounter.mounted_at(Path("/var/lib/kubelet/pods/p one/vol"))
    assert plain is not None and plain.is_lustre and plain.serves(SOURCE)
    assert plain.file_system_id == FS_ID and plain.holds(FS_ID) and not plain.holds("fs-1")
    read_only = mounter.mounted_at(Path("/mnt/ro"))
    assert read_only is not None and read_only.read_only and read_only.serves(SOURCE)
    other = mounter.mounted_at(Path("/mnt/other"))
    assert other is not None and not other.is_lustre


def test_the_emulators_own_mount_serves_no_volume() -> None:
    own = KernelMounter(Recorder(), mount_table=table).mounted_at(Path(f"/tmp/emu/{FS_ID}"))
    assert own is not None and own.is_lustre and own.mount_name is None
    assert not own.serves(SOURCE)


def test_a_clients_sub_directory_mount_with_two_nids_reads_as_its_path() -> None:
    mounted = KernelMounter(Recorder(), mount_table=table).mounted_at(Path("/mnt/lustre-sub"))
    assert mounted is not None and mounted.is_lustre and mounted.file_system_id is None
    assert mounted.mount_name == "abcdwxyz/team-a"
    assert mounted.serves(LustreSource(DNS, "abcdwxyz", "team-a"))


def test_without_mount_lustre_the_failure_says_what_to_install() -> None:
    class NoHelper(Recorder):
        def run(self, argv: Sequence[str]) -> CommandResult:
            return CommandResult(32, "mount: /mnt/t: unknown filesystem type 'lustre'.")

    with pytest.raises(MountError, match="lustre-client"):
        KernelMounter(NoHelper(), mount_table=table).mount(SOURCE, Path("/mnt/t"), [])


@pytest.mark.parametrize(
    ("dns", "mount_name"),
    [("fs-1.fsx.x.amazonaws.com;rm", "abc"), ("ok.example.com", "a b"), ("", "abc")],
)
def test_volume_context_is_checked_before_it_reaches_mount(dns: str, mount_name: str) -> None:
    with pytest.raises(InvalidArgument):
        LustreSource.from_context(dns, mount_name)


def test_targets_of_finds_every_mount_of_a_source() -> None:
    kernel = KernelMounter(Recorder(), mount_table=table)
    assert kernel.targets_of(SOURCE) == [
        Path("/var/lib/kubelet/pods/p one/vol"),
        Path("/mnt/ro"),
        Path("/mnt/lustre"),
        Path("/var/lib/kubelet/pods/p2/vol"),
        Path("/mnt/gone"),
    ]
    assert kernel.targets_of(LustreSource(DNS, "abcdwxyz", "team-a")) == [
        Path("/mnt/sub"),
        Path("/mnt/lustre-sub"),
    ]
    assert kernel.targets_of(LustreSource(SOURCE.dns_name, "other")) == []


def test_mount_commands_run_in_the_c_locale_with_the_rest_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The words matched in mount(8)'s output ("unknown filesystem type") are the C locale's;
    # the command still finds its tools on this process's PATH.
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    runner = KernelMounter().runner
    assert isinstance(runner, SubprocessRunner)
    said = runner.run(["sh", "-c", 'echo "$LC_ALL $LANG"; command -v env'])
    assert said.returncode == 0
    locale, env_path = said.output.splitlines()
    assert locale == "C de_DE.UTF-8" and env_path.endswith("/env")
    # Without an environment of its own, a runner passes this process's unchanged.
    plain = SubprocessRunner().run(["sh", "-c", 'echo "$LC_ALL"'])
    assert plain.output == "de_DE.UTF-8"
