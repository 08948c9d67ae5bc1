"""The sanity run's results: pytest's phase reports folded into the shared result model."""

from __future__ import annotations

from pathlib import Path

from fsx_csi_harness.results import DriverInfo, Leak, Outcome, read_suite_file
from sanity.resources import cleanup_leak
from sanity.results import (
    PROP_LEAK,
    PROP_RPC_CALLS,
    PROP_RPC_SECONDS,
    PROP_SERVICE,
    PROP_UPSTREAM,
    UNFINISHED,
    ResultCollector,
)

CASE = "sanity/cases/test_node.py::TestNodePublish::test_publishes"
PROPS = [(PROP_UPSTREAM, "Node Service should publish"), (PROP_SERVICE, "Node")]


def fold(collector: ResultCollector, nodeid: str, *phases: tuple[str, str, str]) -> None:
    for when, outcome, message in phases:
        collector.add_report(nodeid, when, outcome, 0.5, message, PROPS)


def test_each_phase_outcome_lands_where_csi_sanity_would_put_it() -> None:
    collector = ResultCollector()
    fold(
        collector, "a", ("setup", "passed", ""), ("call", "passed", ""), ("teardown", "passed", "")
    )
    fold(collector, "b", ("setup", "passed", ""), ("call", "failed", "expected X, seen Y"))
    fold(collector, "c", ("setup", "skipped", "no SNAPSHOT capability"))
    fold(collector, "d", ("setup", "failed", "connect timed out"), ("teardown", "failed", "later"))
    fold(
        collector, "e", ("setup", "passed", ""), ("call", "passed", ""), ("teardown", "failed", "x")
    )
    fold(collector, "f", ("setup", "passed", ""))  # never reached its body's end
    collector.add_report("not-sanity", "call", "passed", 1.0, "", [])  # another plugin's test
    outcomes = {name: (t.outcome, t.message) for name, t in collector.cases.items()}
    assert outcomes == {
        "a": (Outcome.PASSED, None),
        "b": (Outcome.FAILED, "expected X, seen Y"),
        "c": (Outcome.SKIPPED, "no SNAPSHOT capability"),
        "d": (Outcome.ERROR, "connect timed out\nlater"),
        "e": (Outcome.ERROR, "x"),  # a cleanup failure after a passing body
        "f": (Outcome.NOT_RUN, UNFINISHED),
    }
    assert collector.cases["a"].duration_s == 1.5 and collector.cases["a"].classname == "Node"
    assert collector.summary_lines()[0].startswith("Node")
    assert "1 interrupted" in collector.summary_lines()[0]


def test_rpc_time_and_leaks_travel_with_the_case_and_into_the_suite(tmp_path: Path) -> None:
    collector = ResultCollector(endpoint="unix:///csi.sock", profile="fsx", run_id="r1")
    leak = cleanup_leak(CASE, "volume", "volume fs-1", "DeleteVolume", "INTERNAL: boom")
    props = [*PROPS, (PROP_RPC_SECONDS, 0.25), (PROP_RPC_CALLS, 4)]
    collector.add_report(CASE, "setup", "passed", 0.1, "", props)
    collector.add_report(CASE, "call", "passed", 0.1, "", props)
    # Leak records arrive as JSON (xdist workers send them over the wire), once per teardown.
    teardown = [*props, (PROP_LEAK, leak.to_json()), (PROP_LEAK, leak.to_json())]
    collector.add_report(CASE, "teardown", "failed", 0.1, "resource cleanup failed", teardown)
    assert collector.leaks == [
        Leak("volume", "volume fs-1", "DeleteVolume failed: INTERNAL: boom", False, CASE)
    ]
    path = collector.write_json(str(tmp_path / "sanity.json"), DriverInfo("fsx.csi.aws.com", "1"))
    suite = read_suite_file(path)
    assert suite.name == "sanity" and suite.outcome is Outcome.FAILED
    assert suite.driver == DriverInfo("fsx.csi.aws.com", "1") and suite.leaks == collector.leaks
    [case] = suite.tests
    assert case.name == CASE and case.outcome is Outcome.ERROR
    assert case.details == {
        "upstream": "Node Service should publish",
        "rpc_seconds": 0.25,
        "rpc_calls": 4,
    }
    assert suite.details == {
        "endpoint": "unix:///csi.sock",
        "profile": "fsx",
        "run_id": "r1",
        "rpc_seconds_total": 0.25,
        "interrupted": False,
    }


def test_an_interrupted_run_is_an_error_and_an_empty_one_too() -> None:
    collector = ResultCollector()
    fold(collector, "a", ("setup", "passed", ""), ("call", "passed", ""))
    assert collector.to_suite(DriverInfo()).outcome is Outcome.PASSED
    collector.interrupted = True
    suite = collector.to_suite(DriverInfo())
    assert suite.outcome is Outcome.ERROR and "interrupted" in (suite.message or "")
    empty = ResultCollector().to_suite(DriverInfo())
    assert empty.outcome is Outcome.ERROR and empty.message == "the sanity run recorded no case"
