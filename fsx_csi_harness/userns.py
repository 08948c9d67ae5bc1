"""Each run that mounts gets a mount namespace of its own: re-run the command inside one.

The local platform's emulated Lustre volumes are real bind mounts, and its pods are mount
namespaces with a chroot. When a command says it mounts (its module's `mount_namespace_reason`,
see fsx_csi_harness/cli.py: `qualify`, `e2e` and `throughput` on the local platform), the CLI
re-executes that same command once (`GUARD_ENV` marks the re-executed process) inside a new
mount namespace:

* as root: `unshare --mount --propagation slave`. The harness's own clean-up unmounts what it
  mounted, but a run killed mid-way (SIGKILL, or every process signalled at once) cannot run
  it; here its tmpfs and bind mounts vanish with the namespace, when its last process (the
  drivers follow the harness, see processes.tied_to_parent) is gone. Where the namespace
  cannot be made (a container without CAP_SYS_ADMIN), or where the run must see mounts that
  processes it did not start make (an external driver or FSx emulator: a namespace sees later
  host mounts only where the host propagates them, and many do not), root runs in place as
  before, and one line says so.
* as any other user: `unshare --user --map-root-user --mount`, since the kernel lets only
  root, or a process that is root in a user namespace of its own, make those mounts. Without
  it the command cannot run, and the message says what to try.

Everything the harness starts there (the FSx emulator, the driver processes, the pods, the
sanity run) is its child and shares the namespace, so they see each other's mounts; the host
sees none of them. The leak sweep still runs inside and fails a run that left any.

`fsx-csi driver` is never re-executed: a driver alone in a namespace of its own would publish
volumes that kubelet (or whoever asked) cannot see.

Python 3.11 has no os.unshare, hence util-linux's `unshare` binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

# Set (to "1") in the environment of the re-executed command: it never re-executes again. A
# caller may set it to run a command in place (the tests of the harness's own clean-up do).
GUARD_ENV = "FSX_CSI_IN_USERNS"

# Propagation `slave`, not `private`: mounts made on the host (say an external driver given by
# --csi.endpoint publishing into the run's work dir) still show up inside where the host
# propagates them (a shared /, as systemd makes it), while nothing mounted inside ever reaches
# the host. Root does not count on that: with such a driver it stays in the host's namespace.
ROOT_UNSHARE_OPTIONS = ("--mount", "--propagation", "slave")
UNSHARE_OPTIONS = ("--user", "--map-root-user", *ROOT_UNSHARE_OPTIONS)

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]
Exec = Callable[[str, list[str], Mapping[str, str]], None]


def reexec_reason(mount_reason: str | None, environ: Mapping[str, str]) -> str | None:
    """Why this process should re-run itself in a mount namespace of its own, or None.

    `mount_reason` is the command's own answer (its module's `mount_namespace_reason`, see
    fsx_csi_harness/cli.py): this module knows no command's flags.
    """
    if environ.get(GUARD_ENV):
        return None  # the re-executed process is already inside
    return mount_reason


def unshare_options(euid: int) -> tuple[str, ...]:
    """Root needs a mount namespace only; any other user a user namespace around it."""
    return ROOT_UNSHARE_OPTIONS if euid == 0 else UNSHARE_OPTIONS


def namespace_kind(euid: int) -> str:
    return "mount" if euid == 0 else "user+mount"


def unshare_command(argv: Sequence[str], euid: int) -> list[str]:
    """The command line that runs `fsx-csi ARGV` in a new mount (and, not root, user) namespace."""
    unshare = shutil.which("unshare") or "unshare"
    options = unshare_options(euid)
    return [unshare, *options, "--", sys.executable, "-m", "fsx_csi_harness", *argv]


# Root's tools (chroot, and on some systems mount helpers) live here; a user's PATH on Debian
# leaves them out, and inside the namespace the harness acts as root.
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def reexec_environment(environ: Mapping[str, str]) -> dict[str, str]:
    env = dict(environ)
    env[GUARD_ENV] = "1"
    path = [p for p in environ.get("PATH", os.defpath).split(os.pathsep) if p]
    env["PATH"] = os.pathsep.join(path + [d for d in _SBIN if d not in path])
    # `-m fsx_csi_harness` must import this very checkout even when it is not installed and
    # the working directory is elsewhere.
    package_parent = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_parent, environ.get("PYTHONPATH", "")) if p
    )
    return env


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=30, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def probe(euid: int, run: Runner = _run) -> str | None:
    """None when the namespace `euid` needs (see unshare_options), with a working bind mount,
    can be made here; otherwise what failed, in the tool's own words."""
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is not on PATH"
    if shutil.which("mount") is None:
        return "the mount command (util-linux) is not on PATH"
    # Bind a scratch directory onto itself in a throwaway namespace: unshare alone can
    # succeed where mount is still refused (a seccomp or LSM profile).
    try:
        scratch = tempfile.mkdtemp(prefix="fsx-csi-userns-probe-")
    except OSError as exc:
        return f"no scratch directory for the probe in {tempfile.gettempdir()} ({exc}); set TMPDIR"
    argv = ["unshare", *unshare_options(euid), "--", "mount", "--bind", scratch, scratch]
    try:
        completed = run(argv)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`{' '.join(argv)}` could not run: {exc}"
    finally:
        Path(scratch).rmdir()
    if completed.returncode != 0:
        said = " ".join((completed.stderr or completed.stdout or "no output").split())
        return f"`{' '.join(argv)}` exited {completed.returncode}: {said}"
    return None


def unavailable_message(reason: str, failure: str, euid: int) -> str:
    return (
        f"fsx-csi: {reason}, which needs root or a private user+mount namespace. Running as "
        f"uid {euid}, the harness tried to make one and could not: {failure}.\n"
        "What it needs: root, or unprivileged user namespaces, which this kernel or a "
        "security profile refuses.\n"
        "Try one of:\n"
        "  - run as root: sudo ./fsx-csi ...\n"
        "  - allow unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 "
        "(Debian kernels before 6.x), user.max_user_namespaces above 0, and on Ubuntu 24.04+ "
        "kernel.apparmor_restrict_unprivileged_userns=0\n"
        "  - in a container: allow the unshare and mount system calls (for example docker run "
        "--security-opt seccomp=unconfined), or run it privileged\n"
        "  - or use a platform that needs no local mounts: --platform kind or cluster"
    )


def enter_if_needed(
    mount_reason: str | None,
    argv: Sequence[str],
    *,
    euid: int | None = None,
    environ: Mapping[str, str] | None = None,
    run: Runner = _run,
    execve: Exec = os.execve,
    stderr: TextIO | None = None,
    host_mounts: str | None = None,
) -> int | None:
    """Re-execute `fsx-csi ARGV` in a mount namespace of its own (and, not as root, a user
    namespace) when the command needs it (`mount_reason`: why it makes mounts itself, None
    when it makes none). `host_mounts`: why the run must see mounts that processes it did not
    start make (an external driver or emulator); root then stays in the host's namespace.

    Returns None when the command should simply go on in this process (root, when the
    namespace cannot be made or `host_mounts` says so), an exit code (2) when another user's
    run needs a namespace that cannot be made here (the message is printed), and does not
    return at all when it re-executes (execve replaces this process, pid and terminal kept, so
    Ctrl-C and the exit code behave as if nothing happened).
    """
    euid = os.geteuid() if euid is None else euid
    environ = os.environ if environ is None else environ
    stderr = sys.stderr if stderr is None else stderr
    reason = reexec_reason(mount_reason, environ)
    if reason is None:
        return None
    if euid == 0 and host_mounts is not None:
        print(
            f"fsx-csi: running in the host's mount namespace: {host_mounts}",
            file=stderr,
            flush=True,
        )
        return None
    kind = namespace_kind(euid)
    failure = probe(euid, run)
    if failure is not None and euid == 0:
        print(
            f"fsx-csi: no private mount namespace for this run ({failure}): its mounts are "
            "made in the host's, and a run killed before its clean-up leaves them there",
            file=stderr,
            flush=True,
        )
        return None
    if failure is not None:
        print(unavailable_message(reason, failure, euid), file=stderr)
        return 2
    command = unshare_command(argv, euid)
    print(
        f"fsx-csi: running in a private {kind} namespace (unshare "
        f"{' '.join(unshare_options(euid))}) as uid {euid}: {reason}; its mounts are invisible "
        "to the host and vanish with it",
        file=stderr,
        flush=True,
    )
    sys.stdout.flush()
    execve(command[0], command, reexec_environment(environ))
    return None  # only reached when execve is replaced (tests)


def in_user_namespace(uid_map: Path = Path("/proc/self/uid_map")) -> bool:
    """Whether this process lives in a user namespace other than the host's (whose uid_map
    maps every uid to itself)."""
    try:
        lines = uid_map.read_text().split("\n")
    except OSError:
        return False
    fields = [line.split() for line in lines if line.strip()]
    return fields != [["0", "0", "4294967295"]]
