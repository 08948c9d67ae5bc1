"""The Lustre emulation's mount.lustre helper, for real: run directly and through mount(8),
inside throwaway mount namespaces (root only), and its installation on the local platform.

What a driver sees is what these tests check: the mount succeeds or fails as a Lustre client's
would (message and exit status), `ro` holds (EROFS) also on the copies that reach the parent
namespace, Lustre-only options are recorded, the target is a file system of its own (st_dev
differs from its parent's, statvfs answers the capacity), and nothing of it is left on the
host (/sbin unchanged, no mounts) afterwards.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from e2e.platforms.local.lustre_helper import HelperUnavailable, LustreEmulation, sbin_directory
from fsx_csi_harness import mountinfo
from fsx_emulator import EmulatorConfig, EmulatorServer, lustre

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="real mounts: needs root"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) missing"),
]

HELPER = Path(lustre.__file__).parent / lustre.HELPER_NAME
FS_ID = "fs-0123456789abcdef0"
DNS = f"{FS_ID}.fsx.us-east-1.amazonaws.com"
MOUNT_NAME = "abcdefgh"


@dataclass
class Done:
    code: int
    out: str
    err: str


def in_namespace(script: str, *args: str, env: dict[str, str] | None = None) -> Done:
    """`sh -c script` in a private mount namespace of its own: whatever it mounts goes with it."""
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *args],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    return Done(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An emulation root with one AVAILABLE file system laid out as the emulator lays it."""
    directory = tmp_path / "root" / FS_ID / MOUNT_NAME
    (directory / "team-a").mkdir(parents=True)
    (directory / "hello").write_text("from the file system\n")
    (tmp_path / "target").mkdir()
    return tmp_path / "root"


def helper(root: Path, source: str, target: Path, *extra: str) -> Done:
    """The helper run directly, then the target's mountinfo line and a write attempt."""
    script = (
        '"$@" || exit $?; grep " $T " /proc/self/mountinfo; '
        'cat "$T/hello" 2>/dev/null; touch "$T/written" 2>&1; exit 0'
    )
    return in_namespace(
        script, str(HELPER), source, str(target), *extra,
        env={"FSX_EMULATION_ROOT": str(root), "T": str(target)},
    )  # fmt: skip


def test_a_file_system_mounts_by_its_dns_name_and_reads_back(root: Path, tmp_path: Path) -> None:
    done = helper(root, f"{DNS}@tcp:/{MOUNT_NAME}", tmp_path / "target")
    assert done.code == 0, done.err
    assert "from the file system" in done.out
    assert (root / FS_ID / MOUNT_NAME / "written").exists()  # the write reached the file system


def test_ro_is_honoured_and_lustre_options_are_recorded(root: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    done = helper(root, f"{DNS}@tcp:/{MOUNT_NAME}", target, "-o", "ro,flock,noatime,_netdev")
    assert done.code == 0, done.err
    line = next(line for line in done.out.splitlines() if f" {target} " in line)
    assert mountinfo.parse_line(line).read_only
    assert "noatime" in mountinfo.parse_line(line).mount_options
    assert "Read-only file system" in done.out
    record = lustre.read_mount_record(root, target)
    assert record is not None
    assert record.file_system_id == FS_ID and record.source == f"{DNS}@tcp:/{MOUNT_NAME}"
    assert record.lustre_options == ("flock",) and record.bind_options == ("ro", "noatime")
    assert record.options == ("ro", "flock", "noatime", "_netdev")


def test_a_sub_directory_and_an_address_nid_list(root: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    done = helper(root, f"10.0.0.1@tcp:10.0.0.2@tcp:/{MOUNT_NAME}/team-a", target)
    assert done.code == 0, done.err
    assert (root / FS_ID / MOUNT_NAME / "team-a" / "written").exists()
    record = lustre.read_mount_record(root, target)
    assert record is not None and record.directory.endswith(f"{MOUNT_NAME}/team-a")


def test_an_unknown_file_system_fails_as_mount_lustre_does(root: Path, tmp_path: Path) -> None:
    source = f"fs-0fffffffffffffff0.fsx.us-east-1.amazonaws.com@tcp:/{MOUNT_NAME}"
    done = helper(root, source, tmp_path / "target")
    assert done.code == errno.ENOENT
    assert done.err.startswith(
        f"mount.lustre: mount {source} at {tmp_path / 'target'} failed: No such file or directory"
    )
    assert "Is the MGS specification correct?" in done.err
    assert not (tmp_path / "target" / "hello").exists()


def test_a_missing_sub_directory_or_mount_name_fails_too(root: Path, tmp_path: Path) -> None:
    for source in (f"{DNS}@tcp:/{MOUNT_NAME}/nope", f"{DNS}@tcp:/zzzzzzzz", "10.0.0.9@tcp:/x"):
        done = helper(root, source, tmp_path / "target")
        assert done.code == errno.ENOENT, (source, done.err)
        assert "No such file or directory" in done.err


def test_an_address_nid_shared_by_two_file_systems_is_ambiguous(root: Path, tmp_path: Path) -> None:
    (root / "fs-0123456789abcdef1" / MOUNT_NAME).mkdir(parents=True)
    done = helper(root, f"10.0.0.1@tcp:/{MOUNT_NAME}", tmp_path / "target")
    assert done.code == errno.ENOENT and "more than one file system" in done.err


@pytest.mark.parametrize(
    ("arguments", "code", "words"),
    [
        (("-o", "bogus"), errno.EINVAL, "unknown mount option(s) bogus"),
        (("-o", "ro,..,flock"), errno.EINVAL, "unknown mount option(s) .."),
        ((), errno.EINVAL, "Invalid argument"),  # with a source that is no Lustre source
    ],
)
def test_bad_options_and_sources_are_refused(
    root: Path, tmp_path: Path, arguments: tuple[str, ...], code: int, words: str
) -> None:
    source = f"{DNS}@tcp:/{MOUNT_NAME}" if arguments else "/dev/sda1"
    done = helper(root, source, tmp_path / "target", *arguments)
    assert done.code == code and words in done.err, done.err
    assert lustre.read_mount_record(root, tmp_path / "target") is None


def test_sloppy_and_fake_mounts(root: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    sloppy = helper(root, f"{DNS}@tcp:/{MOUNT_NAME}", target, "-s", "-o", "bogus")
    assert sloppy.code == 0, sloppy.err
    fake = in_namespace(
        '"$@" && grep -c " $T " /proc/self/mountinfo', str(HELPER), "-fv",
        f"{DNS}@tcp:/{MOUNT_NAME}", str(target),
        env={"FSX_EMULATION_ROOT": str(root), "T": str(target)},
    )  # fmt: skip
    assert fake.code == 1 and fake.out.splitlines()[-1] == "0"  # -f mounts nothing


def test_a_missing_target_is_inaccessible(root: Path, tmp_path: Path) -> None:
    done = helper(root, f"{DNS}@tcp:/{MOUNT_NAME}", tmp_path / "nowhere")
    assert done.code == errno.ENOENT
    assert (
        done.err.strip()
        == f"mount.lustre: {tmp_path / 'nowhere'} inaccessible: No such file or directory"
    )


def test_render_helper_writes_the_root_in_and_refuses_quotes() -> None:
    text = lustre.render_helper("/var/lib/x", "/run/stage")
    assert "EMULATION_ROOT='/var/lib/x'\n" in text and "STAGING_DIR='/run/stage'\n" in text
    assert lustre.helper_text().count("EMULATION_ROOT=/run/fsx-emulation\n") == 1
    with pytest.raises(ValueError, match="quotes"):
        lustre.render_helper("/it's")


def test_the_helper_needs_only_a_posix_shell() -> None:
    if shutil.which("dash") is None:
        pytest.skip("dash (a strict POSIX shell) is not installed")
    assert subprocess.run(["dash", "-n", str(HELPER)], check=False).returncode == 0
    text = HELPER.read_text()
    assert text.startswith("#!/bin/sh\n")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for bashism in ("[[", "local ", "$'", "function ", "grep -P", "python", "<<<", "${!"):
        assert bashism not in code, bashism


# -- installed: mount -t lustre finds it, and the host never sees it -------------------------


@pytest.fixture
def emulation() -> Iterator[LustreEmulation]:
    run_dir = Path(tempfile.mkdtemp(prefix="lustre-helper-test-", dir="/tmp"))
    installed = LustreEmulation(run_dir)
    try:
        installed.prepare()
        yield installed
    finally:
        leaks = installed.release()
        shutil.rmtree(run_dir, ignore_errors=True)
        assert leaks == []
        assert not [e for e in mountinfo.read() if e.mount_point.startswith(str(run_dir))]


@pytest.fixture
def emulator(emulation: LustreEmulation) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        creation_delay=0.0, deletion_delay=0.0,
        emulation_root=emulation.emulation_root, emulation_tmpfs=True,
    )  # fmt: skip
    with EmulatorServer(config, host="127.0.0.1", port=0) as server:
        yield server


def create_file_system(emulator: EmulatorServer, capacity: int = 1200) -> dict[str, str]:
    fsx = boto3.client(
        "fsx", endpoint_url=emulator.endpoint_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    created = fsx.create_file_system(
        FileSystemType="LUSTRE", StorageCapacity=capacity, SubnetIds=["subnet-0123456789abcdef0"],
        LustreConfiguration={"DeploymentType": "SCRATCH_2"},
    )["FileSystem"]  # fmt: skip
    (described,) = fsx.describe_file_systems(FileSystemIds=[created["FileSystemId"]])["FileSystems"]
    return {
        "id": described["FileSystemId"],
        "lifecycle": described["Lifecycle"],
        "source": f"{described['DNSName']}@tcp:/{described['LustreConfiguration']['MountName']}",
    }


def mount_lustre(emulation: LustreEmulation, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        emulation.wrap(["mount", "-t", "lustre", *argv]),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_mount_t_lustre_finds_the_helper_and_the_host_sbin_is_unchanged(
    emulation: LustreEmulation, emulator: EmulatorServer
) -> None:
    sbin = sbin_directory()
    before = sorted(os.listdir(sbin))
    had_helper = (sbin / lustre.HELPER_NAME).exists()
    fs = create_file_system(emulator)
    assert fs["lifecycle"] == "AVAILABLE"
    target = emulation.run_dir / "nodes" / "node-0" / "vol"
    target.mkdir(parents=True)
    done = mount_lustre(emulation, "-o", "ro,flock", fs["source"], str(target))
    assert done.returncode == 0, done.stderr
    try:
        # The mount reached this (the parent) namespace, read-only here too.
        entry = mountinfo.mount_at(mountinfo.read(), str(target))
        assert entry is not None and entry.read_only
        with pytest.raises(OSError) as caught:
            (target / "x").write_text("x")
        assert caught.value.errno == errno.EROFS
        # A file system of its own: what Kubernetes' mount library checks, and its size.
        assert os.stat(target).st_dev != os.stat(target.parent).st_dev
        stats = os.statvfs(target)
        assert stats.f_blocks * stats.f_frsize == 1200 * 2**30
        record = lustre.read_mount_record(emulation.emulation_root, target)
        assert record is not None and record.lustre_options == ("flock",)
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert sorted(os.listdir(sbin)) == before
    assert (sbin / lustre.HELPER_NAME).exists() == had_helper
    assert not [
        e for e in mountinfo.read() if e.fs_type == "overlay" and e.mount_point == str(sbin)
    ]


def test_a_file_system_not_yet_available_or_deleted_cannot_be_mounted(
    emulation: LustreEmulation, emulator: EmulatorServer
) -> None:
    emulator.control.set_creation_delay(60.0)
    creating = create_file_system(emulator)
    assert creating["lifecycle"] == "CREATING"
    target = emulation.run_dir / "nodes" / "t"
    target.mkdir(parents=True)
    done = mount_lustre(emulation, creating["source"], str(target))
    # mount(8) answers with its helper's status: ENOENT, as with a Lustre client.
    assert done.returncode == errno.ENOENT
    assert "failed: No such file or directory" in done.stderr
    emulator.control.set_creation_delay(0.0)
    available = create_file_system(emulator)
    fs_dir = emulation.emulation_root / available["id"]
    assert os.path.ismount(fs_dir)
    boto3.client(
        "fsx", endpoint_url=emulator.endpoint_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    ).delete_file_system(FileSystemId=available["id"])  # fmt: skip
    assert not fs_dir.exists()  # its tmpfs unmounted, its directory gone
    assert mount_lustre(emulation, available["source"], str(target)).returncode == errno.ENOENT


def test_a_helper_that_cannot_be_installed_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    def refuse_overlay(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        if "install-mount-lustre" in argv:
            return subprocess.CompletedProcess(
                list(argv), 32, "", "mount: /usr/sbin: permission denied."
            )
        return subprocess.run(list(argv), capture_output=True, text=True, check=False)

    installation = LustreEmulation(tmp_path, run=refuse_overlay)
    with pytest.raises(HelperUnavailable) as caught:
        installation.prepare()
    assert "private mount namespace failed: mount: /usr/sbin: permission denied" in str(
        caught.value
    )
    assert "nothing was changed outside the namespace" in str(caught.value)
    assert installation.release() == []
    assert not [e for e in mountinfo.read() if e.mount_point.startswith(str(tmp_path))]
