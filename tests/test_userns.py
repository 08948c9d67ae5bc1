"""The re-exec decision: which commands run themselves in a mount namespace of their own (each
command's own `mount_namespace_reason`, through the dispatcher), of which kind (root: mount
only; other users: user + mount), when, and what the user sees when it cannot be made. The real
re-exec is exercised as nobody in tests/e2e/test_unprivileged.py and as root (a SIGKILLed run
leaves no mount) in tests/qualify/test_any_driver.py."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from fsx_csi_harness import cli, userns


def reason_of(argv: list[str]) -> str | None:
    return cli.mount_namespace_reason(cli.parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["e2e"],
        ["e2e", "--platform", "local", "--scenario", "dynamic"],
        ["throughput"],
        ["qualify"],
        ["qualify", "--only", "sanity"],
        ["qualify", "--only", "throughput"],
        ["qualify", "--csi.endpoint", "unix:///x.sock"],  # its e2e suite starts drivers
        ["qualify", "--skip-suite", "sanity", "--skip-suite", "throughput"],
    ],
)
def test_local_commands_that_mount_need_the_namespace(argv: list[str]) -> None:
    reason = reason_of(argv)
    assert reason is not None and argv[0] in reason and "real mounts" in reason


@pytest.mark.parametrize(
    "argv",
    [
        ["e2e", "--list-scenarios"],
        ["e2e", "--platform", "kind"],
        ["e2e", "--platform", "cluster"],
        ["throughput", "--platform", "kind"],
        ["throughput", "--csi.endpoint", "unix:///x.sock"],  # the other driver mounts
        ["qualify", "--platform", "cluster"],
        ["qualify", "--csi.endpoint", "unix:///x.sock", "--only", "sanity"],
        ["qualify", "--csi.endpoint", "unix:///x.sock", "--skip-suite", "e2e"],
        ["qualify", "--aws", "real"],
        ["driver", "--endpoint", "unix:///x.sock", "--mounter", "kernel"],
        ["sanity", "--csi.endpoint", "unix:///x.sock"],
        ["emulator"],
        ["report", "show", "reports/x"],
    ],
)
def test_commands_that_mount_nothing_or_elsewhere_stay_as_they_are(argv: list[str]) -> None:
    assert reason_of(argv) is None


def test_qualify_names_the_suites_that_mount() -> None:
    reason = reason_of(["qualify", "--skip-suite", "e2e"])
    assert reason is not None and reason.startswith("qualify (sanity, throughput)")


def test_the_re_executed_process_does_not_re_execute() -> None:
    reason = reason_of(["e2e"])
    assert userns.reexec_reason(reason, environ={userns.GUARD_ENV: "1"}) is None
    assert userns.reexec_reason(reason, environ={}) == reason is not None
    # A command that mounts nothing is never re-executed.
    assert userns.reexec_reason(None, environ={}) is None


class FakeExec:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], dict[str, str]]] = []

    def __call__(self, path: str, argv: list[str], env: Mapping[str, str]) -> None:
        self.calls.append((path, argv, dict(env)))


class FakeRunner:
    """Answers the namespace probe with `returncode`; records what it was asked to run."""

    def __init__(self, returncode: int, stderr: str = "") -> None:
        self.returncode = returncode
        self.stderr = stderr
        self.seen: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.seen.append(list(argv))
        return subprocess.CompletedProcess(list(argv), self.returncode, "", self.stderr)


def test_a_non_root_local_run_re_executes_itself_under_unshare_once() -> None:
    argv = ["e2e", "--platform", "local", "--scenario", "dynamic"]
    execve, stderr, run = FakeExec(), io.StringIO(), FakeRunner(0)
    outcome = userns.enter_if_needed(
        reason_of(argv), argv, euid=1000,
        environ={"PATH": "/usr/bin:/bin", "PYTHONPATH": "/elsewhere"},
        run=run, execve=execve, stderr=stderr,
    )  # fmt: skip
    assert outcome is None
    [(path, command, env)] = execve.calls
    options = list(userns.UNSHARE_OPTIONS)
    assert command[0] == path and Path(path).name == "unshare"
    assert command[1 : 1 + len(options)] == options
    assert command[1 + len(options) :] == ["--", sys.executable, "-m", "fsx_csi_harness", *argv]
    assert env[userns.GUARD_ENV] == "1"
    # Root's tools (chroot) are on the PATH inside, as sudo's secure_path would have them.
    assert env["PATH"] == "/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
    project = str(Path(userns.__file__).resolve().parents[1])
    assert env["PYTHONPATH"].split(":") == [project, "/elsewhere"]
    # The probe tried a bind mount inside a throwaway namespace of the same kind.
    [probe] = run.seen
    assert probe[1 : 1 + len(options)] == options and probe[-3] == "--bind"
    assert not Path(probe[-1]).exists()  # its scratch directory is gone
    line = stderr.getvalue()
    assert line.count("\n") == 1 and "private user+mount namespace" in line
    assert "uid 1000" in line and "e2e: the local platform" in line


def test_when_user_namespaces_are_refused_the_message_says_what_and_what_to_try() -> None:
    argv = ["qualify"]
    execve, stderr = FakeExec(), io.StringIO()
    outcome = userns.enter_if_needed(
        reason_of(argv), argv, euid=1000, environ={},
        run=FakeRunner(1, "unshare: unshare failed: Operation not permitted\n"),
        execve=execve, stderr=stderr,
    )  # fmt: skip
    assert outcome == 2 and execve.calls == []
    message = stderr.getvalue()
    for expected in (
        "uid 1000",
        "unshare failed: Operation not permitted",  # what failed, in the tool's words
        "needs root or a private user+mount namespace",
        "kernel.unprivileged_userns_clone=1",
        "user.max_user_namespaces",
        "sudo",
        "--platform kind",
    ):
        assert expected in message


def test_root_re_executes_in_a_mount_namespace_without_a_user_namespace() -> None:
    argv = ["qualify"]
    execve, stderr, run = FakeExec(), io.StringIO(), FakeRunner(0)
    outcome = userns.enter_if_needed(
        reason_of(argv), argv, euid=0, environ={"PATH": "/usr/bin"}, run=run,
        execve=execve, stderr=stderr,
    )  # fmt: skip
    assert outcome is None
    [(_, command, env)] = execve.calls
    assert command[1:5] == ["--mount", "--propagation", "slave", "--"]
    assert "--user" not in command and "--map-root-user" not in command
    assert command[5:] == [sys.executable, "-m", "fsx_csi_harness", *argv]
    assert env[userns.GUARD_ENV] == "1"
    [probe] = run.seen
    assert probe[1:5] == ["--mount", "--propagation", "slave", "--"] and probe[-3] == "--bind"
    line = stderr.getvalue()
    assert line.count("\n") == 1 and "running in a private mount namespace" in line
    assert "uid 0" in line and "vanish with it" in line


def test_root_without_a_mount_namespace_runs_in_place_and_says_so() -> None:
    # A container without CAP_SYS_ADMIN: root mounted in place before the namespace existed,
    # so it still does, and is told what a killed run may leave.
    execve, stderr = FakeExec(), io.StringIO()
    outcome = userns.enter_if_needed(
        reason_of(["e2e"]), ["e2e"], euid=0, environ={},
        run=FakeRunner(1, "unshare: unshare failed: Operation not permitted\n"),
        execve=execve, stderr=stderr,
    )  # fmt: skip
    assert outcome is None and execve.calls == []
    line = stderr.getvalue()
    assert line.count("\n") == 1 and "Operation not permitted" in line
    assert "made in the host's" in line and "leaves them there" in line


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["e2e", "--csi.endpoint", "unix:///a.sock", "--aws-endpoint-url", "http://x"],
         "--csi.endpoint"),
        (["qualify", "--csi.endpoint", "unix:///a.sock"], "--csi.endpoint"),
        (["e2e", "--aws-endpoint-url", "http://x"], "--aws-endpoint-url"),
        (["throughput", "--aws-endpoint-url", "http://x", "--emulation-root", "/r"],
         "--aws-endpoint-url"),
    ],
)  # fmt: skip
def test_root_stays_in_the_hosts_namespace_when_others_mount_for_the_run(
    argv: list[str], said: str
) -> None:
    # An external driver or emulator mounts in the host's namespace after the run started:
    # a private namespace would not see those mounts where the host propagates none (this
    # machine's / is private).
    args = cli.parse_args(argv)
    host_mounts = cli.host_mounts_reason(args)
    assert host_mounts is not None and said in host_mounts
    execve, stderr, run = FakeExec(), io.StringIO(), FakeRunner(0)
    outcome = userns.enter_if_needed(
        cli.mount_namespace_reason(args), argv, euid=0, environ={}, run=run, execve=execve,
        stderr=stderr, host_mounts=host_mounts,
    )  # fmt: skip
    assert outcome is None and execve.calls == [] and run.seen == []
    assert stderr.getvalue() == f"fsx-csi: running in the host's mount namespace: {host_mounts}\n"


def test_runs_that_start_everything_themselves_need_no_host_mounts() -> None:
    for argv in (["e2e"], ["qualify"], ["throughput"], ["e2e", "--driver-command", "d"]):
        assert cli.host_mounts_reason(cli.parse_args(argv)) is None, argv


def test_a_missing_unshare_command_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert userns.probe(1000, FakeRunner(0)) == "the unshare command (util-linux) is not on PATH"


def test_in_user_namespace_reads_the_uid_map(tmp_path: Path) -> None:
    uid_map = tmp_path / "uid_map"
    uid_map.write_text("         0          0 4294967295\n")
    assert not userns.in_user_namespace(uid_map)
    uid_map.write_text("         0       1000          1\n")
    assert userns.in_user_namespace(uid_map)
    assert not userns.in_user_namespace(tmp_path / "missing")


def test_only_the_entry_point_may_re_execute(monkeypatch: pytest.MonkeyPatch) -> None:
    # Embedding callers (these tests) pass argv and keep their process; `fsx-csi` itself
    # (argv None, read from sys.argv) goes through the namespace decision, with the reason
    # the command's own module gave.
    calls: list[tuple[str | None, list[str]]] = []

    def refuse(mount_reason: str | None, argv: Sequence[str], host_mounts: str | None) -> int:
        calls.append((mount_reason, list(argv)))
        return 2

    monkeypatch.setattr(userns, "enter_if_needed", refuse)
    assert cli.main(["e2e", "--list-scenarios"]) == 0 and calls == []
    monkeypatch.setattr(sys, "argv", ["fsx-csi", "e2e", "--list-scenarios"])
    assert cli.main() == 2 and calls == [(None, ["e2e", "--list-scenarios"])]
    monkeypatch.setattr(sys, "argv", ["fsx-csi", "e2e", "--scenario", "dynamic"])
    assert cli.main() == 2
    reason, argv = calls[-1]
    assert argv == ["e2e", "--scenario", "dynamic"] and reason is not None
    assert reason.startswith("e2e: ")


def test_the_ground_floor_knows_no_command_flags() -> None:
    # The per-command knowledge lives with each command; userns.py reads no parsed flags.
    import ast

    tree = ast.parse(Path(userns.__file__).read_text())
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for flag in ("platform", "list_scenarios", "csi_endpoint", "only", "skip_suite", "aws"):
        assert flag not in attributes, flag
    # A command without the hook (the driver) is never re-executed.
    assert reason_of(["driver", "--endpoint", "unix:///x.sock"]) is None
