"""The harness judges the driver under test, never itself (issue 14).

Against tests/drivers/other_fsx_driver (an FSx driver that is not the reference driver), real
processes on the local platform: every suite passes on it; each fault it can switch on fails
the matching e2e scenario and the verdict; a driver that only pretends to mount, a missing
endpoint, a driver that dies at start, never serves or crashes mid-run are never PASSED and
leave nothing running or mounted; SIGTERM cleans up as Ctrl-C does; a SIGKILLed run's mounts go
with its mount namespace.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from fsx_csi_harness import userns
from fsx_csi_harness.cli import main as fsx_csi
from fsx_csi_harness.results import DriverInfo
from qualify.run import QualifyOptions, run_qualify

PROJECT_ROOT = Path(__file__).resolve().parents[2]
OTHER_DRIVER = PROJECT_ROOT / "tests" / "drivers" / "other_fsx_driver" / "driver.py"
OTHER_DRIVER_INFO = DriverInfo("fsx.csi.aws.com", "other-0.1.0")
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the local platform mounts: root")


def other_driver_command(fault: str = "") -> str:
    """The --driver-command template of the other driver, with a fault switched on."""
    command = (
        f"{shlex.quote(sys.executable)} {shlex.quote(str(OTHER_DRIVER))} "
        "--endpoint {endpoint} --mode {mode} --node-id {node_id}"
    )
    return f"env OTHER_FSX_FAULT={fault} {command}" if fault else command


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Unix socket paths must stay under 108 bytes; pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="fsxq-any-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def summary_of(report_dir: Path, run_id: str) -> dict[str, Any]:
    data = json.loads((report_dir / run_id / "summary.json").read_text())
    assert isinstance(data, dict)
    return data


def suite(summary: dict[str, Any], name: str) -> dict[str, Any]:
    found = next(s for s in summary["suites"] if s["name"] == name)
    assert isinstance(found, dict)
    return found


def test_case(summary: dict[str, Any], suite_name: str, test: str) -> dict[str, Any]:
    found = next(t for t in suite(summary, suite_name)["tests"] if t["name"] == test)
    assert isinstance(found, dict)
    return found


test_case.__test__ = False  # type: ignore[attr-defined] # a helper, not a test


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (a run's directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def mounts_under(path: Path) -> list[str]:
    return [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(path))
    ]


def assert_nothing_left(path: Path) -> None:
    deadline = time.monotonic() + 5  # process groups are reaped just after the run returns
    while processes_mentioning(str(path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_mentioning(str(path)) == []
    assert mounts_under(path) == []


# -- the other driver passes; its faults fail -----------------------------------------------


def test_qualify_driver_command_passes_every_suite_on_another_fsx_driver(
    short_dir: Path,
) -> None:
    reports = short_dir / "reports"
    result = subprocess.run(
        [
            sys.executable, "-m", "fsx_csi_harness", "qualify",
            "--driver-command", other_driver_command(),
            "--report-dir", str(reports), "--run-id", "r-other",
            "--repeats", "1", "--size", "4M",
        ],
        capture_output=True, text=True, timeout=600, cwd=short_dir,
    )  # fmt: skip
    summary = summary_of(reports, "r-other")
    outcomes = {s["name"]: (s["outcome"], s["message"]) for s in summary["suites"]}
    failed = [f"{t['name']}: {t['message']}" for s in summary["suites"] for t in s["tests"]
              if t["outcome"] in ("failed", "error")]  # fmt: skip
    assert result.returncode == 0, (outcomes, failed[:5], result.stderr[-2000:])
    assert summary["verdict"] == "passed"
    assert summary["target"]["source"] == "command"
    for name in ("sanity", "e2e", "throughput"):
        assert suite(summary, name)["outcome"] == "passed", suite(summary, name)["message"]
        # Each suite read the driver it exercised from the driver itself.
        assert suite(summary, name)["driver"] == {
            "name": "fsx.csi.aws.com",
            "version": "other-0.1.0",
        }
    # An FSx driver gets the FSx profile without being asked.
    assert "profile fsx" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "verdict: PASSED for fsx.csi.aws.com other-0.1.0" in last, last


@pytest.mark.parametrize(
    ("fault", "scenario"),
    [("wrong-directory", "dynamic"), ("ignore-ro", "read-only")],
)
def test_a_fault_of_the_driver_fails_its_scenario_and_the_verdict(
    short_dir: Path, fault: str, scenario: str
) -> None:
    code = run_qualify(
        QualifyOptions(
            suites=("e2e",),
            driver_command=other_driver_command(fault),
            e2e_scenarios=(scenario,),
            report_dir=short_dir / "reports",
            run_id="r-fault",
            work_dir=short_dir / "work",
        )
    )
    summary = summary_of(short_dir / "reports", "r-fault")
    assert code == 1 and summary["verdict"] == "failed"
    assert test_case(summary, "e2e", scenario)["outcome"] == "failed"
    assert suite(summary, "e2e")["driver"]["version"] == "other-0.1.0"
    assert_nothing_left(short_dir)


def test_a_driver_that_drops_mount_options_fails_mount_options_saying_expected_and_seen(
    short_dir: Path,
) -> None:
    """flock works on the emulation's bind mount with or without -o flock (not on Lustre):
    the scenario fails on what the mount got, read from the emulation's record of it."""
    outcomes = {}
    for run_id, fault in (("r-drops", "drops-mount-options"), ("r-keeps", "")):
        code = run_qualify(
            QualifyOptions(
                suites=("e2e",),
                driver_command=other_driver_command(fault),
                e2e_scenarios=("mount-options",),
                report_dir=short_dir / "reports",
                run_id=run_id,
                work_dir=short_dir / "work",
            )
        )
        summary = summary_of(short_dir / "reports", run_id)
        outcomes[run_id] = (code, summary["verdict"], test_case(summary, "e2e", "mount-options"))
    code, verdict, scenario = outcomes["r-drops"]
    assert (code, verdict, scenario["outcome"]) == (1, "failed", "failed")
    message = scenario["message"]
    assert "pod lock-holder on node-0: expected its volume mounted with ['flock'], seen ['rw']" in (
        message
    ), message
    assert "the Lustre emulation's record of mount -t lustre" in message
    assert "missing ['flock']" in message
    # The same driver with the options passed through passes the same scenario.
    code, verdict, scenario = outcomes["r-keeps"]
    assert (code, verdict, scenario["outcome"]) == (0, "passed", "passed"), scenario["message"]
    assert_nothing_left(short_dir)


@contextmanager
def drivers_you_run(
    short_dir: Path, count: int, fault: str = ""
) -> Iterator[tuple[list[str], str]]:
    """`count` node plugins of the other driver in mode all, started as a user would, and the
    FSx emulator they talk to: (their endpoints, the emulator's URL)."""
    from fsx_emulator import EmulatorServer
    from fsx_emulator.config import EmulatorConfig

    with ExitStack() as stack:
        root = short_dir / "emulation"
        root.mkdir()
        emulator = stack.enter_context(
            EmulatorServer(EmulatorConfig(creation_delay=0.1, emulation_root=root))
        )
        endpoints = []
        for index in range(count):
            endpoint = f"unix://{short_dir}/driver-{index}.sock"
            env = {**os.environ, **emulator.client_environment, "OTHER_FSX_FAULT": fault}
            process = subprocess.Popen(
                [sys.executable, str(OTHER_DRIVER), "--endpoint", endpoint, "--mode", "all",
                 "--node-id", f"own-node-{index}"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            stack.callback(process.wait, 10)
            stack.callback(process.terminate)
            endpoints.append(endpoint)
        deadline = time.monotonic() + 30
        while not all(Path(e.removeprefix("unix://")).exists() for e in endpoints):
            assert time.monotonic() < deadline, "the other driver did not create its sockets"
            time.sleep(0.05)
        yield endpoints, emulator.endpoint_url


def test_an_endpoint_whose_node_does_not_mount_fails_the_data_check_on_the_second_node(
    short_dir: Path,
) -> None:
    with drivers_you_run(short_dir, 2, fault="mkdir-only") as (endpoints, fsx_url):
        code = run_qualify(
            QualifyOptions(
                suites=("e2e",),
                csi_endpoint=endpoints[0],
                more_csi_endpoints=tuple(endpoints[1:]),
                aws_endpoint_url=fsx_url,
                e2e_scenarios=("dynamic",),
                report_dir=short_dir / "reports",
                run_id="r-mkdir",
                work_dir=short_dir / "work",
            )
        )
    summary = summary_of(short_dir / "reports", "r-mkdir")
    assert code == 1 and summary["verdict"] == "failed"
    step = test_case(summary, "e2e", "dynamic: pod fsx-app-other-node")
    assert step["outcome"] == "failed"
    # The pod on the second node did not see the file the first one wrote.
    assert "fsx-app-other-node on node-1" in step["message"], step["message"]
    assert "hello from FSx" in step["message"] and "seen 0x" in step["message"]


def test_one_endpoint_leaves_the_two_node_scenarios_not_run_and_fails_the_verdict(
    short_dir: Path,
) -> None:
    with drivers_you_run(short_dir, 1) as (endpoints, fsx_url):
        code = run_qualify(
            QualifyOptions(
                suites=("e2e",),
                csi_endpoint=endpoints[0],
                aws_endpoint_url=fsx_url,
                e2e_scenarios=("dynamic", "invalid-parameters"),
                report_dir=short_dir / "reports",
                run_id="r-one",
                work_dir=short_dir / "work",
            )
        )
    summary = summary_of(short_dir / "reports", "r-one")
    dynamic = test_case(summary, "e2e", "dynamic")
    assert dynamic["outcome"] == "not_run"
    assert "needs 2 nodes" in dynamic["message"] and "--csi.endpoint" in dynamic["message"]
    # The one-node scenario ran against the target, and the verdict is no pass.
    assert test_case(summary, "e2e", "invalid-parameters")["outcome"] == "passed"
    assert suite(summary, "e2e")["driver"]["version"] == "other-0.1.0"
    assert code == 1 and summary["verdict"] != "passed"


def test_sanity_gives_an_fsx_driver_fsx_sizes_and_parameters_by_default(short_dir: Path) -> None:
    with drivers_you_run(short_dir, 1) as (endpoints, _fsx_url):
        result = subprocess.run(
            [sys.executable, "-m", "fsx_csi_harness", "sanity", "--csi.endpoint", endpoints[0],
             "--csi.mountdir", str(short_dir / "m"), "--csi.stagingdir", str(short_dir / "s"),
             "-k", "TestFsxVolumes"],
            capture_output=True, text=True, timeout=300, cwd=short_dir,
        )  # fmt: skip
    output = result.stdout + result.stderr
    assert "an FSx for Lustre driver: profile fsx (FSx sizes), test-volume parameters" in output
    # The FSx cases ran (not skipped for a missing profile) and passed with FSx's sizes. (Not
    # the node cases: a driver the user runs has no Lustre emulation in its mount namespace.)
    assert result.returncode == 0, output[-3000:]
    assert "FSx profile not enabled" not in output


def test_a_missing_endpoint_is_never_passed(short_dir: Path) -> None:
    code = run_qualify(
        QualifyOptions(
            suites=("sanity", "e2e"),
            csi_endpoint=f"unix://{short_dir}/nobody-listens.sock",
            aws_endpoint_url="http://127.0.0.1:9",
            e2e_scenarios=("dynamic",),
            report_dir=short_dir / "reports",
            run_id="r-missing",
            work_dir=short_dir / "work",
            driver_start_timeout_s=1.0,
        )
    )
    summary = summary_of(short_dir / "reports", "r-missing")
    assert code == 1 and summary["verdict"] == "failed"
    for name in ("sanity", "e2e"):
        assert suite(summary, name)["outcome"] in ("failed", "error", "not_run")


# -- bad input: drivers that die, never serve, crash mid-run -----------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("sh -c 'echo starting the broken driver; exit 3'", "exited with code 3"),
        ("sh -c 'echo listening soon; exec sleep 60'", "socket not created yet"),
        ("/nonexistent/driver --endpoint {endpoint}", "not found"),
    ],
    ids=["exits-at-start", "never-creates-its-socket", "not-found"],
)
def test_a_driver_that_does_not_start_fails_with_what_was_started_and_what_it_printed(
    short_dir: Path, command: str, expected: str
) -> None:
    code = run_qualify(
        QualifyOptions(
            suites=("sanity", "e2e"),
            driver_command=command,
            e2e_scenarios=("dynamic",),
            report_dir=short_dir / "reports",
            run_id="r-broken",
            work_dir=short_dir / "work",
            driver_start_timeout_s=2.0,
        )
    )
    summary = summary_of(short_dir / "reports", "r-broken")
    assert code == 1 and summary["verdict"] == "failed"
    sanity = suite(summary, "sanity")
    assert sanity["outcome"] == "failed"
    assert expected in sanity["message"], sanity["message"]
    program = shlex.split(command)[0]
    assert program in sanity["message"]  # what was started
    if "echo" in command:  # what it printed last
        printed = "starting the broken driver" if "exit" in command else "listening soon"
        assert printed in sanity["message"]
        assert printed in test_case(summary, "e2e", "dynamic")["message"]
    assert_nothing_left(short_dir)


def test_a_driver_that_crashes_mid_run_fails_with_its_exit_and_leaves_nothing(
    short_dir: Path,
) -> None:
    code = run_qualify(
        QualifyOptions(
            suites=("e2e",),
            driver_command=other_driver_command("crash-on-publish"),
            e2e_scenarios=("dynamic", "static"),
            report_dir=short_dir / "reports",
            run_id="r-crash",
            work_dir=short_dir / "work",
        )
    )
    summary = summary_of(short_dir / "reports", "r-crash")
    assert code == 1 and summary["verdict"] == "failed"
    dynamic = test_case(summary, "e2e", "dynamic")
    assert dynamic["outcome"] == "failed"
    assert "the driver under test died" in dynamic["message"]
    assert "exited with code 70" in dynamic["message"]
    assert str(OTHER_DRIVER) in dynamic["message"]  # what was started
    static = test_case(summary, "e2e", "static")
    assert static["outcome"] == "error" and "died earlier" in static["message"]
    assert_nothing_left(short_dir)


# -- the reference driver through --driver-command --------------------------------------------


def test_the_reference_driver_through_driver_command_passes_as_by_default(
    short_dir: Path,
) -> None:
    from e2e.platforms.local.driver_stack import REFERENCE_DRIVER_COMMAND

    outcomes = {}
    for run_id, command in (("r-default", None), ("r-command", REFERENCE_DRIVER_COMMAND)):
        code = run_qualify(
            QualifyOptions(
                suites=("e2e",),
                driver_command=command,
                e2e_scenarios=("dynamic", "read-only"),
                report_dir=short_dir / "reports",
                run_id=run_id,
                work_dir=short_dir / run_id,
            )
        )
        e2e = suite(summary_of(short_dir / "reports", run_id), "e2e")
        outcomes[run_id] = (code, e2e["outcome"], e2e["driver"], [
            (t["name"], t["outcome"]) for t in e2e["tests"]
        ])  # fmt: skip
    assert outcomes["r-default"] == outcomes["r-command"]
    assert outcomes["r-default"][:2] == (0, "passed")


# -- command line: one meaning of --aws, refusals before anything starts ----------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["e2e", "--aws", "real"], "--aws real needs --platform kind or cluster"),
        (["qualify", "--platform", "cluster", "--aws", "real"], "needs --aws-settings"),
        (["throughput", "--platform", "kind", "--aws", "real"], "needs --aws-settings"),
        (
            [
                "e2e",
                "--platform",
                "cluster",
                "--aws-settings",
                "fixtures/aws-settings/example.yaml",
            ],
            "add --aws real",
        ),
        (["qualify", "--driver-command", "d {nope}"], "unknown placeholder {nope}"),
        (["e2e", "--driver-command", "d", "--csi.endpoint", "unix:///x"], "seen both"),
        (["throughput", "--platform", "kind", "--driver-command", "d"], "--platform local"),
    ],
)
def test_the_command_line_refuses_before_anything_starts(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert fsx_csi(argv) == 2
    assert expected in capsys.readouterr().err
    assert time.monotonic() - started < 10


def test_real_aws_without_credentials_says_so_before_anything_starts(tmp_path: Path) -> None:
    from fsx_csi_harness.aws_mode import aws_mode_problem

    settings = PROJECT_ROOT / "fixtures" / "aws-settings" / "example.yaml"
    problem = aws_mode_problem("real", settings, "cluster", credentials_present=lambda: False)
    assert problem is not None and "needs AWS credentials" in problem
    assert aws_mode_problem("real", settings, "cluster", credentials_present=lambda: True) is None


# -- SIGTERM is Ctrl-C ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "running"),
    [
        (["e2e", "--platform", "local", "--scenario", "dynamic"], "scenario dynamic:"),
        (["qualify", "--only", "e2e", "--scenario", "dynamic"], "scenario dynamic:"),
        (["throughput", "--repeats", "1", "--size", "4M"], "published"),
    ],
    ids=["e2e", "qualify", "throughput"],
)
def test_sigterm_cleans_up_as_ctrl_c_does(short_dir: Path, argv: list[str], running: str) -> None:
    temp = short_dir / "tmp"
    temp.mkdir()
    # In place (the guard says "already inside"), not in the run's own mount namespace: what
    # is checked here is the harness's own clean-up, which the host must see.
    process = start_until(argv, running, short_dir, temp, {userns.GUARD_ENV: "1"})
    # Mid-run: drivers up, volumes provisioned or mounted, the temp directory in use.
    assert processes_mentioning(str(temp)), "expected the run's drivers to be running"
    process.send_signal(signal.SIGTERM)
    assert process.stderr is not None
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert "terminated (SIGTERM)" in rest, rest[-2000:]
    assert_nothing_left(short_dir)
    assert list(temp.iterdir()) == [], "the run's temp directory was left behind"


def start_until(
    argv: list[str], running: str, short_dir: Path, temp: Path, env: dict[str, str]
) -> subprocess.Popen[str]:
    """`fsx-csi ARGV` with TMPDIR=temp, once its stderr has said `running`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fsx_csi_harness", *argv, "--report-dir", str(short_dir / "r")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=PROJECT_ROOT,
        env={**os.environ, "TMPDIR": str(temp), **env},
    )  # fmt: skip
    assert process.stderr is not None
    seen = []
    deadline = time.monotonic() + 120
    for line in process.stderr:
        seen.append(line)
        if running in line or time.monotonic() > deadline:
            break
    assert any(running in line for line in seen), "".join(seen)
    return process


def processes_in_mount_namespace(namespace: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "ns" / "mnt") == namespace:
                found.append(entry.name)
        except OSError:
            continue  # gone meanwhile
    return found


def test_a_sigkilled_run_leaves_no_mount_and_no_process(short_dir: Path) -> None:
    # SIGKILL leaves the harness no clean-up at all: its mounts must go with its namespace.
    temp = short_dir / "tmp"
    temp.mkdir()
    argv = ["e2e", "--platform", "local", "--scenario", "dynamic"]
    process = start_until(argv, "in pod fsx-app", short_dir, temp, {})
    namespace = os.readlink(f"/proc/{process.pid}/ns/mnt")
    assert namespace != os.readlink("/proc/self/ns/mnt"), "the run is not in a namespace of its own"
    inside = [
        line.split()[4]
        for line in Path(f"/proc/{process.pid}/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(temp))
    ]
    # Mid-run: the run directory, the emulation root, the helper's layer, a published target.
    assert len(inside) >= 4, inside
    assert mounts_under(temp) == [], "the run's mounts reached the host"
    process.kill()
    process.wait(timeout=30)
    deadline = time.monotonic() + 30  # the drivers and pods get SIGTERM as their parent dies
    while processes_in_mount_namespace(namespace) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_in_mount_namespace(namespace) == [], "the namespace, and its mounts, live on"
    assert_nothing_left(short_dir)
    # What SIGKILL does leave: the run directory, as plain directories (the fixture removes it).


# -- honest verdicts: the suites must have exercised the one target ---------------------------


def test_a_suite_that_another_driver_answered_is_failed_and_one_that_asked_none_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qualify.run as qualify
    from fsx_csi_harness.results import Outcome, SuiteResult, TestResult

    def answered_by(name: str, driver: DriverInfo) -> Any:
        def suite(*args: object) -> SuiteResult:
            return SuiteResult(name, Outcome.PASSED, tests=[TestResult("t", Outcome.PASSED)],
                               driver=driver)  # fmt: skip

        return suite

    monkeypatch.setattr(qualify, "run_sanity_suite", answered_by("sanity", OTHER_DRIVER_INFO))
    monkeypatch.setattr(
        qualify, "run_e2e_suite", answered_by("e2e", DriverInfo("fsx.csi.aws.com", "0.1.0"))
    )
    monkeypatch.setattr(qualify, "run_throughput_suite", answered_by("throughput", DriverInfo()))
    code = run_qualify(QualifyOptions(report_dir=tmp_path, run_id="r-subst", driver_command="d"))
    summary = summary_of(tmp_path, "r-subst")
    assert suite(summary, "sanity")["outcome"] == "passed"
    e2e = suite(summary, "e2e")
    assert e2e["outcome"] == "failed" and "another driver was substituted" in e2e["message"]
    throughput = suite(summary, "throughput")
    assert throughput["outcome"] == "not_run" and "GetPluginInfo" in throughput["message"]
    assert code == 1 and summary["verdict"] == "failed"
    assert summary["target"] == {**summary["target"], "driver_name": "fsx.csi.aws.com",
                                 "driver_version": "other-0.1.0", "source": "command"}  # fmt: skip
