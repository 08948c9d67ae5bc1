"""The shared result model: round trips, strict reading, and the bundle schema that validates it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from e2e.results import RunResult, ScenarioRecorder, StepFailed, read_results, write_results
from fsx_csi_harness import results
from fsx_csi_harness.results import (
    DriverInfo,
    Leak,
    Outcome,
    ResultFormatError,
    SuiteResult,
    TestResult,
)
from qualify.report.model import Summary, from_json, to_json
from tests.qualify.report.conftest import make_summary

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "qualify/report/summary.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())


def schema_validator(definition: str | None = None) -> jsonschema.Draft202012Validator:
    """The summary schema, or one of its definitions (`suite_file`, `suite`, `leak`)."""
    # A definition is checked alone, without the summary's top-level rules.
    schema = (
        SCHEMA
        if definition is None
        else {"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{definition}"}
    )
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def full_suite() -> SuiteResult:
    """A suite with every field set to something other than its default."""
    return SuiteResult(
        name="sanity",
        outcome=Outcome.FAILED,
        duration_s=12.5,
        message="one case failed",
        tests=[
            TestResult(
                "sanity/cases/test_node.py::TestPublish::test_x",
                Outcome.FAILED,
                0.25,
                "target path still exists",
                "Node",
                {"upstream": "Node Service should work", "rpc_seconds": 0.1, "rpc_calls": 3},
            ),
            TestResult("skipped one", Outcome.SKIPPED, message="no snapshots", classname="Node"),
            TestResult("unfinished", Outcome.NOT_RUN, message="interrupted"),
        ],
        driver=DriverInfo("fsx.csi.aws.com", "1.2.3"),
        leaks=[
            Leak("volume", "fs-0123456789abcdef0", "DeleteVolume failed: INTERNAL", False, "t1"),
            Leak("process", "node-1 (pid 7)", "still running", removed=True),
        ],
        raw=["raw/sanity/sanity.json"],
        required=False,
        details={"endpoint": "unix:///csi.sock", "interrupted": False, "rpc_seconds_total": 1.5},
    )


def test_a_suite_result_file_round_trips_every_field(tmp_path: Path) -> None:
    suite = full_suite()
    path = results.write_suite_file(suite, tmp_path / "deep" / "sanity.json")
    assert results.read_suite_file(path) == suite
    data = json.loads(path.read_text())
    assert data["schema_version"] == results.RESULT_SCHEMA_VERSION
    schema_validator("suite_file").validate(data)


def test_defaults_are_written_and_read_back_too() -> None:
    suite = SuiteResult("e2e", Outcome.NOT_RUN)
    data = results.to_json(suite)
    assert data["driver"] == {"name": "unknown", "version": "unknown"}
    assert results.from_json(data) == suite
    assert not results.from_json(data).driver.known
    schema_validator("suite_file").validate(data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("outcome"), "suite: the key 'outcome' is missing"),
        (lambda d: d.update(outcome="interrupted"), "expected one of passed, failed"),
        (lambda d: d.update(duration_s="3"), "suite.duration_s: expected a number"),
        (lambda d: d["tests"][0].update(name=7), "suite.tests[0].name: expected a string"),
        (lambda d: d["leaks"][0].pop("id"), "suite.leaks[0]: the key 'id' is missing"),
        (lambda d: d["leaks"][1].update(removed="yes"), "leaks[1].removed: expected true or"),
        (lambda d: d["details"].update(nested={"a": 1}), "details.nested: expected a scalar"),
        (lambda d: d.update(schema_version="2.0"), "schema_version '2.0' is not supported"),
        (lambda d: d.pop("schema_version"), "schema_version '' is not supported"),
    ],
)
def test_reading_is_strict_and_names_the_key(change: Any, expected: str) -> None:
    data = results.to_json(full_suite())
    change(data)
    with pytest.raises(ResultFormatError, match=re.escape(expected)):
        results.from_json(data)


def test_unknown_keys_are_ignored_so_the_model_can_grow() -> None:
    data = results.to_json(full_suite())
    data["added_in_1_1"] = True
    data["tests"][0]["new_field"] = "x"
    assert results.from_json(data) == full_suite()


def test_a_run_result_is_written_as_the_shared_model_and_read_back(tmp_path: Path) -> None:
    recorder = ScenarioRecorder("dynamic", "local")
    with recorder.step("provision"):
        recorder.result.details["file_system_id"] = "fs-0123456789abcdef0"
    with pytest.raises(StepFailed), recorder.step("pod fsx-app"):
        raise StepFailed("expected exit 0, seen 1")
    run = RunResult(
        "e2e-1",
        "local",
        "reference",
        scenarios=[recorder.finish()],
        leaks=[Leak("mount", "/run/target", "source x", removed=True)],
        details={"driver_name": "fsx.csi.aws.com", "driver_version": "0.1.0"},
    )
    path = write_results(run, tmp_path)
    assert path.name == "e2e-results.json"
    suite = read_results(tmp_path)
    assert suite == run.to_suite()
    assert suite.outcome is Outcome.FAILED and suite.driver == DriverInfo(
        "fsx.csi.aws.com", "0.1.0"
    )
    assert [(t.name, t.classname, t.outcome) for t in suite.tests] == [
        ("dynamic", "scenario", Outcome.FAILED),
        ("dynamic: provision", "step.dynamic", Outcome.PASSED),
        ("dynamic: pod fsx-app", "step.dynamic", Outcome.FAILED),
    ]
    assert suite.tests[0].details == {"file_system_id": "fs-0123456789abcdef0"}
    assert suite.leaks == run.leaks and suite.details["platform"] == "local"
    schema_validator("suite_file").validate(json.loads(path.read_text()))


def test_a_clean_run_with_leaks_is_a_failed_suite_and_a_run_without_scenarios_an_error() -> None:
    leaked = RunResult("r", "local", "reference", leaks=[Leak("process", "p", "")])
    assert leaked.to_suite().outcome is Outcome.ERROR  # no scenario at all
    scenario = ScenarioRecorder("dynamic", "local").finish()
    leaked.scenarios.append(scenario)
    suite = leaked.to_suite()
    assert suite.outcome is Outcome.FAILED and "1 resource(s) left behind" in (suite.message or "")
    assert suite.driver == DriverInfo()  # the Kubernetes platforms do not ask GetPluginInfo


def test_a_summary_round_trips_with_each_suites_driver_and_leaks() -> None:
    summary = make_summary()
    summary.suites.append(full_suite())
    data = to_json(summary)
    schema_validator().validate(data)
    assert from_json(json.loads(json.dumps(data))) == summary
    # The top-level list repeats every suite's leaks, naming the suite, for 1.0 readers.
    assert [(leak["suite"], leak["id"]) for leak in data["leaks"]] == [
        ("sanity", "fs-0123456789abcdef0"),
        ("sanity", "node-1 (pid 7)"),
    ]


def test_a_1_0_summary_gets_its_top_level_leaks_into_their_suites() -> None:
    data = to_json(make_summary())
    data["schema_version"] = "1.0"
    for suite in data["suites"]:
        for key in ("leaks", "driver", "details"):
            suite.pop(key)
    data["leaks"] = [
        {"kind": "file-system", "id": "fs-1", "suite": "e2e", "detail": "Lifecycle AVAILABLE"},
        {"kind": "mount", "id": "/t", "suite": "throughput", "detail": ""},
    ]
    summary: Summary = from_json(data)
    assert [(name, leak.id) for name, leak in summary.leaks()] == [
        ("e2e", "fs-1"),
        ("throughput", "/t"),  # a suite the summary did not list: kept visible, not dropped
    ]
    assert summary.suite("throughput") is not None


def test_leaks_fail_the_verdict_through_their_suite() -> None:
    summary = make_summary()
    summary.complete = True
    assert summary.decide_verdict().value == "passed"
    summary.suites[1].leaks.append(Leak("file-system", "fs-1", "left behind"))
    assert summary.decide_verdict().value == "failed"


def test_the_report_says_which_driver_each_suite_exercised() -> None:
    from qualify.report.html import render_html
    from qualify.report.show import format_summary

    summary = make_summary()
    summary.suites.append(full_suite())
    page = render_html(summary, [])
    assert "Driver exercised: fsx.csi.aws.com 1.2.3" in page
    assert "Driver exercised: unknown unknown" in page  # the conftest's suites did not ask
    assert "(driver fsx.csi.aws.com 1.2.3)" in format_summary(summary, "reports/r")


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(unexpected=1),
        lambda d: d.pop("driver"),
        lambda d: d["tests"][0].update(nodeid="x"),
        lambda d: d["leaks"][0].update(resource="x"),
        lambda d: d["driver"].update(vendor="x"),
        lambda d: d["details"].update(nested=[1]),
    ],
)
def test_the_schema_accepts_exactly_what_the_model_writes(change: Any) -> None:
    data = results.to_json(full_suite())
    schema_validator("suite_file").validate(data)
    change(data)
    with pytest.raises(jsonschema.ValidationError):
        schema_validator("suite_file").validate(data)
    summary = to_json(make_summary())
    summary["suites"][0] = {k: v for k, v in data.items() if k != "schema_version"}
    with pytest.raises(jsonschema.ValidationError):
        schema_validator().validate(summary)
