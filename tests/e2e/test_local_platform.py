"""The local platform for real: reference driver processes, the embedded emulator, real bind
mounts, real pod processes. Needs root (mounts); skips otherwise."""

from __future__ import annotations

import copy
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.leaks import mounts_under
from e2e.platforms import RunOptions
from e2e.platforms.local import run_local
from e2e.progress import Progress
from e2e.results import Outcome, RunResult
from e2e.scenarios import DEFAULT_SCENARIO_DIR, Scenario, load_scenarios, parse_scenario

pytestmark = [
    pytest.mark.slow,
    pytest.mark.needs_root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the local platform mounts: needs root"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) missing"),
]

CREATION_DELAY_S = 0.3


def options(tmp_path: Path, run_id: str) -> RunOptions:
    return RunOptions(
        run_id=run_id,
        work_dir=tmp_path,
        creation_delay_s=CREATION_DELAY_S,
        provision_timeout_s=30.0,
    )


def scenario_data(name: str) -> dict[str, Any]:
    data = yaml.safe_load((DEFAULT_SCENARIO_DIR / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited while we looked
        if text in args:
            found.append(f"{cmdline.parent.name}: {args}")
    return found


def assert_nothing_left(result: RunResult, tmp_path: Path) -> None:
    assert result.leaks == [], result.leaks
    assert mounts_under(tmp_path) == []
    assert processes_mentioning(result.run_id) == []
    assert list(tmp_path.iterdir()) == [], "the run directory was not removed"


def describe(result: RunResult) -> str:
    lines = []
    for scenario in result.scenarios:
        lines.append(f"{scenario.name}: {scenario.outcome.value} {scenario.message}")
        lines.extend(f"  {s.name}: {s.outcome.value} {s.message}" for s in scenario.steps)
    return "\n".join(lines)


def test_headline_scenario_two_pods_on_two_nodes_within_20_seconds(tmp_path: Path) -> None:
    (dynamic,) = [s for s in load_scenarios() if s.name == "dynamic"]
    assert dynamic.variables["WRITE_PERIOD"] == "5"  # the walkthrough's period, kept
    started = time.monotonic()
    result = run_local(
        RunOptions(run_id="e2e-test-headline", work_dir=tmp_path, creation_delay_s=1.0),
        [dynamic],
        Progress(),
    )
    wall_s = time.monotonic() - started
    assert result.passed, describe(result)
    steps = [step.name for step in result.scenarios[0].steps]
    assert steps == [
        "provision",
        "pod fsx-app",
        "pod fsx-app-other-node",
        "delete pods",
        "delete volume",
    ]
    assert wall_s <= 20.0, f"the headline scenario took {wall_s:.1f}s (budget 20 s)"
    assert_nothing_left(result, tmp_path)


def test_every_other_scenario_passes_and_leaves_nothing(tmp_path: Path) -> None:
    scenarios = [s for s in load_scenarios() if s.name != "dynamic"]
    result = run_local(options(tmp_path, "e2e-test-all"), scenarios, Progress())
    assert result.passed, describe(result)
    assert {s.name for s in result.scenarios} == {s.name for s in scenarios}
    by_name = {s.name: s for s in result.scenarios}
    assert by_name["expansion"].details["expanded_capacity_gib"] == "2400"
    assert (
        "perUnitStorageThroughput" in by_name["invalid-parameters"].details["provisioning_error"]
        or "PerUnitStorageThroughput" in by_name["invalid-parameters"].details["provisioning_error"]
    )
    # The reference driver passed the StorageClass's flock to mount -t lustre: the emulation's
    # record of the lock holder's mount says so (flock alone would work without it).
    holder = next(s for s in by_name["mount-options"].steps if s.name == "pod lock-holder")
    assert "mounted with ['flock'] (the Lustre emulation's record of mount -t lustre" in (
        holder.message
    ), holder.message
    assert_nothing_left(result, tmp_path)


def failing_scenarios() -> list[Scenario]:
    wrong_content = scenario_data("static")
    wrong_content["name"] = "wrong-content"
    wrong_content["pods"][1]["output"]["contains"] = ["goodbye from FSx"]

    check_times_out = scenario_data("dynamic")
    check_times_out["name"] = "check-times-out"
    check_times_out["variables"]["WRITE_PERIOD"] = "1"
    check_times_out["pods"][0]["checks"][0]["output"]["contains"] = ["never written"]
    check_times_out["pods"][0]["checks"][0]["within_s"] = 1.5

    wrong_parameter = scenario_data("invalid-parameters")
    wrong_parameter["name"] = "wrong-parameter"
    wrong_parameter["expected_failure"]["message_contains"] = ["kmsKeyId"]

    valid_but_expected_to_fail = scenario_data("invalid-parameters")
    valid_but_expected_to_fail["name"] = "valid-but-expected-to-fail"
    valid_but_expected_to_fail["storage_class"]["parameters"]["perUnitStorageThroughput"] = "250"

    writer_can_write = scenario_data("read-only")
    writer_can_write["name"] = "writer-can-write"
    writer_can_write["pods"][1]["read_only"] = False

    return [
        parse_scenario(data, f"{data['name']}.yaml")
        for data in (
            wrong_content,
            check_times_out,
            wrong_parameter,
            valid_but_expected_to_fail,
            writer_can_write,
        )
    ]


def test_failing_scenarios_fail_with_expected_and_seen_and_still_clean_up(
    tmp_path: Path,
) -> None:
    result = run_local(options(tmp_path, "e2e-test-failing"), failing_scenarios(), Progress())
    assert not result.passed
    by_name = {s.name: s for s in result.scenarios}
    assert all(s.outcome is Outcome.FAILED for s in result.scenarios), describe(result)

    wrong = by_name["wrong-content"]
    assert wrong.message.startswith("pod static-reader: ")
    assert "expected 'goodbye from FSx' at least 1x, seen 0x" in wrong.message
    assert "hello from FSx (static)" in wrong.message  # the output seen

    timed_out = by_name["check-times-out"]
    assert "timed out after" in timed_out.message and "never written" in timed_out.message
    assert "hello from FSx" in timed_out.message  # last output of the check

    assert "expected the provisioning error to name ['kmsKeyId']" in (
        by_name["wrong-parameter"].message
    )
    assert "it succeeded with volume fs-" in by_name["valid-but-expected-to-fail"].message
    assert "expected 'write refused'" in by_name["writer-can-write"].message
    # A failed scenario carries the driver logs for the report.
    assert "log controller" in wrong.details
    assert_nothing_left(result, tmp_path)


def test_leak_sweep_deletes_and_reports_file_systems_left_by_the_run(tmp_path: Path) -> None:
    """A file system tagged with the run id that no scenario deleted is swept and reported."""
    from e2e.platforms.local.driver_stack import DriverStack, DriverStackConfig

    config = DriverStackConfig(
        run_id="e2e-test-sweep", work_dir=tmp_path, creation_delay_s=CREATION_DELAY_S
    )
    with DriverStack(config, Progress()) as cluster:
        created = cluster.fsx.create_file_system(
            FileSystemType="LUSTRE",
            StorageCapacity=1200,
            SubnetIds=["subnet-0123456789abcdef0"],
            LustreConfiguration={"DeploymentType": "SCRATCH_2"},
            Tags=[{"Key": "fsx-csi-harness/run-id", "Value": "e2e-test-sweep"}],
        )
        other_run = cluster.fsx.create_file_system(
            FileSystemType="LUSTRE",
            StorageCapacity=1200,
            SubnetIds=["subnet-0123456789abcdef0"],
            LustreConfiguration={"DeploymentType": "SCRATCH_2"},
            Tags=[{"Key": "fsx-csi-harness/run-id", "Value": "another-run"}],
        )
        guard = cluster.guard
    fs_id = created["FileSystem"]["FileSystemId"]
    assert [(leak.kind, leak.id, leak.removed) for leak in cluster.leaks] == [
        ("file-system", fs_id, True)
    ]
    del guard, other_run  # the emulator is gone with the cluster; another run's fs untouched
    assert mounts_under(tmp_path) == []
    assert processes_mentioning("e2e-test-sweep") == []


def test_a_driver_that_does_not_start_is_reported_with_its_log(tmp_path: Path) -> None:
    opts = RunOptions(
        run_id="e2e-test-nodriver",
        work_dir=tmp_path,
        creation_delay_s=CREATION_DELAY_S,
        settings={"driver-command": "{python} -c 'import sys; print(\"boom\"); sys.exit(3)'"},
    )
    (static,) = [s for s in load_scenarios() if s.name == "static"]
    result = run_local(opts, [static], Progress())
    (scenario,) = result.scenarios
    assert scenario.outcome is Outcome.ERROR
    assert "exited during start-up" in scenario.message and "boom" in scenario.message
    assert_nothing_left(result, tmp_path)
