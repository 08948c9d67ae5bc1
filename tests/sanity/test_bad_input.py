"""Bad input: dead endpoints, invalid flags and a driver that crashes mid-run."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.sanity.conftest import PROJECT_ROOT, run_suite
from tests.sanity.faulty_driver import FaultyDriver


def fsx_csi_sanity(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness", "sanity", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_cli_names_an_endpoint_nobody_listens_on_within_the_connect_timeout(
    workdir: Path,
) -> None:
    dead = f"unix://{workdir}/nobody.sock"
    started = time.monotonic()
    result = fsx_csi_sanity(f"--csi.endpoint={dead}", "--csi.connecttimeout=2s")
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    assert dead in result.stderr and "within 2s" in result.stderr
    assert "does not exist" in result.stderr
    assert elapsed < 2 + 15, f"took {elapsed:.1f}s"  # interpreter start-up on a busy machine


def test_pytest_errors_every_case_with_the_dead_endpoint_without_waiting_for_each(
    endpoint: str, workdir: Path
) -> None:
    run = run_suite(
        endpoint,
        workdir,
        targets=["sanity.cases.test_identity", "sanity.cases.test_expand"],
        extra=["--csi.connecttimeout=1"],
    )
    assert run.returncode == 1
    assert run.count("error") == 6, run.outcomes()
    messages = {test["message"] for test in run.result["tests"]}
    assert all(endpoint in message and "within 1s" in message for message in messages), messages
    # One connect timeout for the whole run, not one per case.
    assert run.seconds < 1 * 6 + 15


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("--csi.testvolumeaccesstype=floppy", "valid values are mount or block"),
        ("--csi.testvolumesize=ten", "--csi.testvolumesize"),
        ("--csi.createpathcmdtimeout=soon", "expected a duration"),
        ("--csi.idempotentcount=-1", "must be >= 0"),
        ("--csi.testvolumeparameters=/nonexistent/params.yaml", "no such file"),
        ("--csi.profile=gold", "none, fsx, strict"),
        ("--csi.controllerendpoint=unix:relative.sock", "absolute socket path"),
    ],
)
def test_invalid_flags_are_rejected_before_anything_connects(
    flag: str, expected: str, serve: Callable[..., FaultyDriver], endpoint: str, workdir: Path
) -> None:
    driver = serve()
    result = fsx_csi_sanity(f"--csi.endpoint={endpoint}", flag)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    pytest_run = run_suite(endpoint, workdir, targets=["sanity.cases.test_identity"], extra=[flag])
    assert pytest_run.returncode == 4, pytest_run.stdout + pytest_run.stderr  # usage error
    assert expected in pytest_run.stderr
    assert driver.calls == 0, "the driver was called although the flags were invalid"


def test_a_parameters_file_that_is_not_a_mapping_is_rejected(endpoint: str, workdir: Path) -> None:
    params = workdir / "params.yaml"
    params.write_text("- just\n- a list\n")
    result = fsx_csi_sanity(f"--csi.endpoint={endpoint}", f"--csi.testvolumeparameters={params}")
    assert result.returncode == 2
    assert "expected a YAML mapping" in result.stderr


def test_a_driver_that_crashes_mid_run_errors_the_remaining_cases_and_cleanup_is_reported(
    endpoint: str, workdir: Path
) -> None:
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sanity.faulty_driver",
            f"--endpoint={endpoint}",
            "--crash-after-calls=60",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert driver.stdout is not None
        assert "serving" in driver.stdout.readline()
        run = run_suite(endpoint, workdir, targets=["sanity.cases.test_controller"])
    finally:
        driver.kill()
        driver.wait(timeout=10)
    assert driver.returncode == 17 or driver.returncode == -9
    outcomes = run.outcomes()
    assert run.count("passed") >= 1, outcomes
    errored = [t for t in run.result["tests"] if t["outcome"] == "error"]
    assert errored, outcomes
    cause = "stopped answering"
    assert all(cause in test["message"] and endpoint in test["message"] for test in errored[1:]), [
        t["message"] for t in errored
    ]
    # The case that was running when the driver died tried to clean up, and says what leaked.
    assert run.result["leaks"], run.stdout[-3000:]
    assert any("UNAVAILABLE" in leak["detail"] for leak in run.result["leaks"])
    assert "leak report:" in run.stdout


def test_ctrl_c_still_cleans_up_what_the_running_case_created(
    serve: Callable[..., FaultyDriver], endpoint: str, workdir: Path
) -> None:
    import json
    import signal

    from sanity.cli import plugin_arguments

    driver = serve()
    report = workdir / "interrupted.json"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "pytest", "--pyargs", "sanity.cases.test_node",
            *plugin_arguments(), "-p", "no:cacheprovider", "-q", "-k", "idempotent",
            f"--csi.endpoint={endpoint}", f"--csi.mountdir={workdir}/mnt",
            f"--csi.stagingdir={workdir}/stage", "--csi.idempotentcount=1000000",
            f"--csi.jsonreport={report}",
        ],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (driver.volumes and driver.staged) and time.monotonic() < deadline:
        time.sleep(0.1)  # wait until the case holds a volume and a staging
    assert driver.volumes and driver.staged, "the case never got going"
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output[-3000:]  # pytest's "interrupted"
    assert "interrupted; undoing what 1 running case(s) created" in output
    assert not driver.volumes and not driver.staged and not driver.published
    result = json.loads(report.read_text())
    assert result["details"]["interrupted"] is True and result["leaks"] == []
    assert result["outcome"] == "error" and "interrupted" in result["message"]
    assert [(t["outcome"], t["message"]) for t in result["tests"]] == [
        ("not_run", "interrupted before the case finished")
    ]
    assert not (workdir / "mnt").exists() and not (workdir / "stage").exists()
