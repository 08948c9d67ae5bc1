"""The run's results: per case outcome, the per-service summary and the JSON document.

Fed from pytest's test reports by the plugin (on the xdist controller when running in
parallel, so workers' results arrive here too); knows nothing about pytest itself.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "fsx-csi-harness/sanity-result/v1"

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


@dataclass
class CaseResult:
    nodeid: str
    upstream: str = ""
    service: str = ""
    # passed, failed, skipped, error; "interrupted" when the case never finished its body
    outcome: str = "interrupted"
    duration: float = 0.0
    message: str = ""
    rpc_seconds: float = 0.0
    rpc_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "upstream": self.upstream,
            "service": self.service,
            "outcome": self.outcome,
            "duration": round(self.duration, 4),
            "message": self.message,
            "rpc_seconds": round(self.rpc_seconds, 4),
            "rpc_calls": self.rpc_calls,
        }


@dataclass
class ResultCollector:
    endpoint: str = ""
    profile: str = "none"
    run_id: str = ""
    started: float = field(default_factory=time.time)
    cases: dict[str, CaseResult] = field(default_factory=dict)
    leaks: list[dict[str, str]] = field(default_factory=list)
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
        case = self.cases.setdefault(nodeid, CaseResult(nodeid))
        for key, value in props:
            if key == PROP_UPSTREAM:
                case.upstream = str(value)
            elif key == PROP_SERVICE:
                case.service = str(value)
            elif key == PROP_RPC_SECONDS and isinstance(value, int | float):
                case.rpc_seconds = float(value)
            elif key == PROP_RPC_CALLS and isinstance(value, int):
                case.rpc_calls = value
            elif key == PROP_LEAK and when == "teardown" and isinstance(value, Mapping):
                leak = {str(k): str(v) for k, v in value.items()}
                if leak not in self.leaks:
                    self.leaks.append(leak)
        case.duration += duration
        if outcome == "passed" and when == "call" and case.outcome == "interrupted":
            case.outcome = "passed"
        elif outcome == "skipped":
            if when in ("setup", "call"):
                case.outcome = "skipped"
                case.message = message
        elif outcome == "failed":
            if when == "call":
                case.outcome = "failed"
                case.message = message
            elif case.outcome == "error":
                case.message = f"{case.message}\n{message}" if case.message else message
            elif case.outcome != "failed":
                # A failure outside the case body (fixture setup, cleanup) is an error.
                case.outcome = "error"
                case.message = message

    def summary(self) -> dict[str, Counter[str]]:
        by_service: dict[str, Counter[str]] = {}
        for case in self.cases.values():
            by_service.setdefault(case.service or "Other", Counter())[case.outcome] += 1
        ordered = {name: by_service[name] for name in SERVICE_ORDER if name in by_service}
        ordered.update({k: v for k, v in by_service.items() if k not in ordered})
        return ordered

    def summary_lines(self) -> list[str]:
        lines = []
        for service, counts in self.summary().items():
            lines.append(
                f"{service:<16} {counts['passed']:>3} passed, {counts['failed']:>3} failed, "
                f"{counts['error']:>3} errors, {counts['skipped']:>3} skipped"
                + (f", {counts['interrupted']} interrupted" if counts["interrupted"] else "")
            )
        return lines

    def to_json(self) -> dict[str, Any]:
        totals: Counter[str] = Counter(case.outcome for case in self.cases.values())
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "endpoint": self.endpoint,
            "profile": self.profile,
            "started": self.started,
            "finished": time.time(),
            "interrupted": self.interrupted,
            "totals": {
                k: totals[k] for k in ("passed", "failed", "error", "skipped", "interrupted")
            },
            "services": {name: dict(counts) for name, counts in self.summary().items()},
            "rpc_seconds_total": round(sum(c.rpc_seconds for c in self.cases.values()), 4),
            "tests": [case.to_dict() for case in self.cases.values()],
            "leaks": self.leaks,
        }

    def write_json(self, path: str) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
