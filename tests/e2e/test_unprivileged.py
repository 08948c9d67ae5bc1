"""The local platform run by a user who is not root (nobody), for real.

`fsx-csi` re-runs itself in a private user + mount namespace (fsx_csi_harness/userns.py); these
tests drop root to nobody and check that e2e and qualify pass that way, that the Lustre
emulation's mount helper handles the flags the kernel locks there, that a refused namespace
gives a useful message, and that nothing (mounts, processes, directories) is left on the host.

Dropping privileges needs root, so they run in CI (as root) and skip elsewhere. On machines
where the Python interpreter sits in a directory nobody cannot enter (pyenv under /root), the
tests expose just that path to nobody through a tmpfs in a private mount namespace of their
own; the harness under test is not affected by it.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from fsx_csi_harness import mountinfo

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TOOLS = ("setpriv", "unshare", "nsenter", "chroot", "mount", "umount")


def _why_not_runnable() -> str | None:
    if os.geteuid() != 0:
        return "dropping privileges to nobody needs root (the tests run as root in CI)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not on PATH (util-linux, coreutils)"
    scratch = tempfile.mkdtemp(prefix="fsx-csi-userns-check-")
    try:
        Path(scratch).chmod(0o755)  # the bind target must be reachable by nobody
        completed = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--",
             "unshare", "--user", "--map-root-user", "--mount", "--", "mount", "--bind",
             scratch, scratch],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    finally:
        Path(scratch).rmdir()
    if completed.returncode != 0:
        return (
            "unprivileged user namespaces are unavailable here (nobody: unshare --user --mount "
            f"+ mount --bind exited {completed.returncode}: {completed.stderr.strip()})"
        )
    return None


_SKIP_REASON = _why_not_runnable()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.needs_root,
    pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or ""),
]


# -- running as nobody ------------------------------------------------------------------------


def _blocked_directories(paths: Sequence[Path]) -> dict[Path, set[str]]:
    """Directories on the way to `paths` that nobody may not enter, with the entries needed
    inside each (the next component of each path)."""
    blocked: dict[Path, set[str]] = {}
    for path in paths:
        real = Path(os.path.realpath(path))
        chain = [*reversed(real.parents), real]  # /, /a, /a/b, ..., real
        for directory, child in itertools.pairwise(chain):
            info = directory.stat()
            if info.st_uid != NOBODY and not info.st_mode & stat.S_IXOTH:
                blocked.setdefault(directory, set()).add(child.name)
    return blocked


def _exposure_script(stage: Path) -> str:
    """Root shell lines that let nobody reach this interpreter and project, and nothing else
    of the directories in the way: each is replaced (in the test's mount namespace only) by
    an empty tmpfs holding bind mounts of the entries needed."""
    needed = [Path(sys.executable), Path(sys.prefix), Path(sys.base_prefix), PROJECT_ROOT]
    needed += [Path(p) for p in sys.path if p and Path(p).is_dir()]
    lines = []
    blocked = _blocked_directories(needed)
    for index, directory in enumerate(sorted(blocked, key=lambda d: len(d.parts))):
        held = stage / str(index)
        lines += [f"mkdir -p {held}", f"mount --bind {directory} {held}"]
        lines.append(f"mount -t tmpfs -o mode=0755 fsx-csi-test-expose {directory}")
        for name in sorted(blocked[directory]):
            source, target = held / name, directory / name
            make = f"mkdir {target}" if target.is_dir() else f"touch {target}"
            lines += [make, f"mount --bind {source} {target}"]
    return "\n".join(lines)


def run_as_nobody(
    command: Sequence[str],
    home: Path,
    stage: Path,
    *,
    root_prelude: str = "",
    chroot: Path | None = None,
    timeout_s: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """`command` as uid/gid nobody with no groups, from the project directory, in a private
    mount namespace that root prepares with `root_prelude` (and optionally chroots into)."""
    env = (
        f"env -i PATH={SYSTEM_PATH} HOME={shlex.quote(str(home))} LANG=C.UTF-8 "
        f"PYTHONPATH={shlex.quote(str(PROJECT_ROOT))}"
    )
    enter_project = f'cd {shlex.quote(str(PROJECT_ROOT))} && exec "$@"'
    drop = (
        f"setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups -- "
        f"/bin/sh -c {shlex.quote(enter_project)} nobody "
        + " ".join(shlex.quote(part) for part in command)
    )
    if chroot is not None:
        drop = f"chroot {shlex.quote(str(chroot))} {env} {drop}"
    else:
        drop = f"{env} {drop}"
    script = "\n".join(["set -eu", _exposure_script(stage), root_prelude, f"exec {drop}"])
    argv = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script]
    # Its own session: on a timeout the whole group (harness, drivers, sanity) is killed.
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"{' '.join(command)} as nobody did not finish within {timeout_s:g} s; its output "
            f"so far:\n{stdout[-3000:]}\n{stderr[-3000:]}"
        ) from None
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def nobody_pids() -> dict[int, str]:
    """Live processes of nobody's (pid -> name); zombies, already dead, are left out."""
    found = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue  # exited meanwhile
        real_uid = fields.get("Uid", "").split()[:1]
        zombie = "zombie" in fields.get("State", "")
        if real_uid == [str(NOBODY)] and not zombie:
            found[int(status.parent.name)] = fields.get("Name", "?").strip()
    return found


def host_mounts_under(path: Path) -> list[str]:
    return [e.mount_point for e in mountinfo.mounts_under(mountinfo.read(), str(path))]


@pytest.fixture
def nobody_home() -> Iterator[Path]:
    """A directory nobody owns (in /tmp: pytest's tmp_path is root's alone), removed after."""
    home = Path(tempfile.mkdtemp(prefix="fsx-csi-unprivileged-"))
    os.chown(home, NOBODY, NOBODY)
    home.chmod(0o755)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def no_leftovers(nobody_home: Path) -> Iterator[None]:
    """After the test: no mounts under the run's directory on the host, no new process of
    nobody's (the namespace and everything in it are gone)."""
    before = set(nobody_pids())
    yield
    assert host_mounts_under(nobody_home) == []
    # Killed processes may take a moment to go; give them a short deadline.
    deadline = time.monotonic() + 5.0
    while (left := {p: n for p, n in nobody_pids().items() if p not in before}) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert left == {}, f"processes of nobody's still running after the run: {left}"


def harness(*argv: str) -> list[str]:
    return [sys.executable, "-m", "fsx_csi_harness", *argv]


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_leftovers")
def test_e2e_local_passes_as_nobody_in_its_own_namespace(nobody_home: Path, tmp_path: Path) -> None:
    work, report = nobody_home / "work", nobody_home / "report"
    completed = run_as_nobody(
        harness("e2e", "--platform", "local", "--scenario", "dynamic", "--scenario", "read-only",
                "--var", "WRITE_PERIOD=1", "--creation-delay", "0.2",
                "--work-dir", str(work), "--report-dir", str(report)),
        nobody_home, tmp_path,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "running in a private user+mount namespace" in completed.stderr
    assert "as uid 65534" in completed.stderr
    assert "passed: 2/2 scenarios, 0 leak(s)" in completed.stdout
    results = json.loads((report / "e2e-results.json").read_text())
    # Pods got the full isolation (mount namespace + chroot), not the rewrite fallback.
    assert results["details"]["pod_isolation"] == "namespace", results["details"]
    assert list(work.iterdir()) == []  # the run directory was removed
    assert (report / "e2e-results.json").stat().st_uid == NOBODY  # root inside is nobody here


@pytest.mark.usefixtures("no_leftovers")
def test_qualify_sanity_and_e2e_pass_as_nobody(nobody_home: Path, tmp_path: Path) -> None:
    # sanity against the reference driver stack (its NodePublish mounts) and e2e.
    reports = nobody_home / "reports"
    completed = run_as_nobody(
        harness("qualify", "--only", "sanity", "--only", "e2e", "--scenario", "read-only-many",
                "--report-dir", str(reports), "--run-id", "unprivileged",
                "--work-dir", str(nobody_home / "work")),
        nobody_home, tmp_path, timeout_s=150,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    summary = json.loads((reports / "unprivileged" / "summary.json").read_text())
    outcomes = {suite["name"]: suite["outcome"] for suite in summary["suites"]}
    assert outcomes == {"sanity": "passed", "e2e": "passed", "throughput": "not_run"}, outcomes
    assert summary["leaks"] == []
    assert completed.stderr.count("running in a private user+mount namespace") == 1


@pytest.mark.usefixtures("no_leftovers")
def test_throughput_local_passes_as_nobody(nobody_home: Path, tmp_path: Path) -> None:
    reports = nobody_home / "reports"
    completed = run_as_nobody(
        harness("throughput", "--size", "4M", "--repeats", "2", "--random-seconds", "0.2",
                "--seq-seconds", "0", "--metadata-files", "50", "--report-dir", str(reports),
                "--run-id", "unprivileged", "--work-dir", str(nobody_home / "work")),
        nobody_home, tmp_path,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    summary = json.loads((reports / "unprivileged" / "summary.json").read_text())
    assert [(s["name"], s["outcome"]) for s in summary["suites"]] == [("throughput", "passed")]
    assert "running in a private user+mount namespace" in completed.stderr


_HELPER_CHECK = """
helper=$1; root=$2; target=$3
source=fs-0123456789abcdef0.fsx.us-east-1.amazonaws.com@tcp:/abcdwxyz
for flags in ro ro,exec; do
  FSX_EMULATION_ROOT=$root "$helper" "$source" "$target" -o "$flags" 2>"$target.err"
  code=$?
  if [ "$code" -eq 0 ]; then
    while read -r _ _ _ _ point options _; do
      [ "$point" = "$target" ] && echo "$flags: $options"
    done </proc/self/mountinfo
    umount "$target"
  else
    echo "$flags: exit $code $(tr '\\n' ' ' <"$target.err")"
  fi
done
"""


def test_the_mount_helper_keeps_the_flags_a_user_namespace_locks(
    nobody_home: Path, tmp_path: Path
) -> None:
    # An emulation root on a nosuid,nodev,noexec tmpfs that root mounted (an external
    # emulator's, say): inside nobody's user namespace those flags are locked, and a remount
    # that drops them is EPERM. The helper states them again; what contradicts them fails
    # with the kernel's words.
    from fsx_emulator import lustre

    helper = Path(lustre.__file__).parent / lustre.HELPER_NAME
    locked = nobody_home / "locked"
    locked.mkdir()
    emulation = locked / "root"
    prelude = "\n".join([
        f"mount -t tmpfs -o nosuid,nodev,noexec,mode=0777 fsx-csi-test-locked {locked}",
        f"mkdir -p {emulation}/fs-0123456789abcdef0/abcdwxyz {locked}/target",
        f"chmod -R 0777 {locked}",
    ])  # fmt: skip
    script = nobody_home / "check.sh"
    script.write_text(_HELPER_CHECK)
    arguments = [str(helper), str(emulation), str(locked / "target")]
    inside = run_as_nobody(
        ["unshare", "--user", "--map-root-user", "--mount", "--", "sh", str(script), *arguments],
        nobody_home, tmp_path, root_prelude=prelude,
    )  # fmt: skip
    assert inside.returncode == 0, inside.stdout + inside.stderr
    lines = inside.stdout.splitlines()
    assert lines[0] == "ro: ro,nosuid,nodev,noexec,relatime", inside.stdout + inside.stderr
    assert lines[1].startswith("ro,exec: exit 22 mount.lustre: mount "), lines[1]
    assert "flags of a mount from outside it cannot be cleared" in lines[1]
    # Without a namespace, the mount fails as a Lustre client's does without root.
    outside = run_as_nobody(["sh", str(script), *arguments], nobody_home, tmp_path,
                            root_prelude=prelude)  # fmt: skip
    assert outside.returncode == 0, outside.stdout + outside.stderr
    lines = outside.stdout.splitlines()
    assert len(lines) == 2 and all(": exit 5 mount.lustre: mount " in line for line in lines)
    assert "must be superuser" in lines[0] or "ermission denied" in lines[0], lines[0]


def test_a_refused_user_namespace_is_explained(nobody_home: Path, tmp_path: Path) -> None:
    # The kernel refuses CLONE_NEWUSER to a chrooted process (EPERM), as it does where
    # user namespaces are switched off: the harness must say what failed and what to try.
    chroot = tmp_path / "chroot"
    chroot.mkdir()
    completed = run_as_nobody(
        harness("e2e", "--platform", "local", "--scenario", "dynamic",
                "--work-dir", str(nobody_home / "work")),
        nobody_home, tmp_path, root_prelude=f"mount --rbind / {chroot}", chroot=chroot,
    )  # fmt: skip
    assert completed.returncode == 2, completed.stdout + completed.stderr
    message = completed.stderr
    assert "Operation not permitted" in message
    assert "needs root or a private user+mount namespace" in message
    assert "kernel.unprivileged_userns_clone=1" in message
    assert not (nobody_home / "work").exists()  # refused before doing anything
