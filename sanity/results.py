"""The run's results as the shared result model: one TestResult per case, one SuiteResult.

Fed from pytest's test reports by the plugin (on the xdist controller when running in
parallel, so workers' results arrive here too); knows nothing about pytest itself. The JSON
result (`--json-report`, `--csi.jsonreport`) is the shared `SuiteResult`
(fsx_csi_harness.results), the file `fsx-csi qualify` reads.

Per case: `name` is the pytest node id, `classname` the csi-sanity service (Identity,
Controller, Node, ..., FSx), `details` the upstream csi-sanity case name (`upstream`) and the
time spent inside driver RPCs (`rpc_seconds`, `rpc_calls`). Per suite: `details` holds the
endpoint, the profile, the run id, the total RPC time and whether the run was interrupted.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fsx_csi_harness.results import (
    UNKNOWN,
    DriverInfo,
    Leak,
    Outcome,
    ResultFormatError,
    SuiteResult,
    TestResult,
    write_suite_file,
)

SUITE = "sanity"

# Order of the services in the summary: csi-test's top-level Describe blocks, then ours.
SERVICE_ORDER = (
    "Identity",
    "Controller",
    "ListSnapshots",
    "GetSnapshot",
    "DeleteSnapshot",
    "CreateSnapshot",
    "ExpandVolume",
    "ModifyVolume",
    "Node",
    "GroupController",
    "FSx",
)

# user_properties keys the plugin attaches to every sanity case's reports.
PROP_UPSTREAM = "csi_sanity_upstream"
PROP_SERVICE = "csi_sanity_service"
PROP_RPC_SECONDS = "csi_sanity_rpc_seconds"
PROP_RPC_CALLS = "csi_sanity_rpc_calls"
PROP_LEAK = "csi_sanity_leak"

# A case whose body never finished (Ctrl-C, a crashed worker) did not judge the driver.
UNFINISHED = "interrupted before the case finished"


@dataclass
class ResultCollector:
    endpoint: str = ""
    profile: str = "none"
    run_id: str = ""
    started: float = field(default_factory=time.time)
    cases: dict[str, TestResult] = field(default_factory=dict)
    leaks: list[Leak] = field(default_factory=list)
    interrupted: bool = False

    @property
    def active(self) -> bool:
        return bool(self.cases)

    def add_report(
        self,
        nodeid: str,
        when: str,
        outcome: str,
        duration: float,
        message: str,
        properties: Iterable[tuple[str, object]],
    ) -> None:
        """Fold one phase report (setup, call or teardown) into the case's result."""
        props = list(properties)
        keys = {key for key, _ in props}
        if PROP_UPSTREAM not in keys and nodeid not in self.cases:
            return  # not a sanity case
        case = self.cases.setdefault(
            nodeid, TestResult(nodeid, Outcome.NOT_RUN, message=UNFINISHED)
        )
        for key, value in props:
            if key == PROP_UPSTREAM:
                case.details["upstream"] = str(value)
            elif key == PROP_SERVICE:
                case.classname = str(value) or None
            elif key == PROP_RPC_SECONDS and isinstance(value, int | float):
                case.details["rpc_seconds"] = round(float(value), 4)
            elif key == PROP_RPC_CALLS and isinstance(value, int):
                case.details["rpc_calls"] = value
            elif key == PROP_LEAK and when == "teardown" and isinstance(value, Mapping):
                self._add_leak(value)
        case.duration_s += duration
        unfinished = case.outcome is Outcome.NOT_RUN
        if outcome == "passed" and when == "call" and unfinished:
            case.outcome, case.message = Outcome.PASSED, None
        elif outcome == "skipped":
            if when in ("setup", "call"):
                case.outcome, case.message = Outcome.SKIPPED, message
        elif outcome == "failed":
            if when == "call":
                case.outcome, case.message = Outcome.FAILED, message
            elif case.outcome is Outcome.ERROR:
                case.message = f"{case.message}\n{message}" if case.message else message
            elif case.outcome is not Outcome.FAILED:
                # A failure outside the case body (fixture setup, cleanup) is an error.
                case.outcome, case.message = Outcome.ERROR, message

    def _add_leak(self, value: Mapping[object, object]) -> None:
        try:
            leak = Leak.from_json(dict(value), PROP_LEAK)
        except ResultFormatError:
            # The plugin writes these itself; an unreadable one is a harness bug, kept visible.
            leak = Leak("unknown", str(dict(value)), "unreadable leak record")
        if leak not in self.leaks:
            self.leaks.append(leak)

    def rpc_seconds_total(self) -> float:
        return round(sum(float(c.details.get("rpc_seconds", 0.0)) for c in self.cases.values()), 4)

    def summary(self) -> dict[str, Counter[str]]:
        by_service: dict[str, Counter[str]] = {}
        for case in self.cases.values():
            by_service.setdefault(case.classname or "Other", Counter())[case.outcome.value] += 1
        ordered = {name: by_service[name] for name in SERVICE_ORDER if name in by_service}
        ordered.update({k: v for k, v in by_service.items() if k not in ordered})
        return ordered

    def summary_lines(self) -> list[str]:
        lines = []
        for service, counts in self.summary().items():
            unfinished = counts[Outcome.NOT_RUN.value]
            lines.append(
                f"{service:<16} {counts['passed']:>3} passed, {counts['failed']:>3} failed, "
                f"{counts['error']:>3} errors, {counts['skipped']:>3} skipped"
                + (f", {unfinished} interrupted" if unfinished else "")
            )
        return lines

    def to_suite(self, driver: DriverInfo, finished: float | None = None) -> SuiteResult:
        """The run as the shared SuiteResult; `driver` is what GetPluginInfo answered."""
        finished = time.time() if finished is None else finished
        tests = list(self.cases.values())
        message: str | None = None
        if self.interrupted:
            outcome = Outcome.ERROR
            message = "the sanity run was interrupted before it finished; its cases are partial"
        elif not tests:
            outcome, message = Outcome.ERROR, "the sanity run recorded no case"
        elif any(test.outcome.is_failure for test in tests) or self.leaks:
            outcome = Outcome.FAILED
        else:
            outcome = Outcome.PASSED
        return SuiteResult(
            name=SUITE,
            outcome=outcome,
            duration_s=max(0.0, finished - self.started),
            message=message,
            tests=tests,
            driver=driver,
            leaks=list(self.leaks),
            details={
                "endpoint": self.endpoint,
                "profile": self.profile,
                "run_id": self.run_id,
                "rpc_seconds_total": self.rpc_seconds_total(),
                "interrupted": self.interrupted,
            },
        )

    def write_json(self, path: str, driver: DriverInfo) -> Path:
        return write_suite_file(self.to_suite(driver), Path(path))


def ask_driver(endpoint: str, timeout_s: float) -> DriverInfo:
    """The driver's GetPluginInfo name and version, or unknown when it does not answer
    within `timeout_s` (it stopped, or the run never reached it)."""
    from sanity.connection import ConnectError, connect, identify

    try:
        connection = connect(endpoint, timeout_s)
    except ConnectError:
        return DriverInfo()
    try:
        info = identify(connection, timeout_s)
    except ConnectError:  # also NotCsiError: something else listens there
        return DriverInfo()
    finally:
        connection.close()
    return DriverInfo(info.name or UNKNOWN, info.vendor_version or UNKNOWN)
