"""The report bundle's data model: what `summary.json` holds, as typed dataclasses.

The JSON form is versioned (`SCHEMA_VERSION`) and described by `summary.schema.json` next to
this file; README.md documents every field. Readers accept any 1.x summary and ignore fields
they do not know, so the schema can grow without breaking `report show` or `report compare`
on older bundles.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

# The suite-level model, throughput records included, is shared by every suite (each writes
# it) and lives on the ground floor; the report adds only what a bundle holds beyond it (the
# target, the environment, the verdict).
from fsx_csi_harness.results import (
    Expected,
    Leak,
    Measurement,
    Outcome,
    Ratio,
    ResultFormatError,
    SuiteResult,
    TestResult,
    Throughput,
    check_version,
)

__all__ = [
    "Environment",
    "Expected",
    "Leak",
    "Measurement",
    "Outcome",
    "Ratio",
    "SuiteResult",
    "Summary",
    "SummaryFormatError",
    "Target",
    "TestResult",
    "Throughput",
    "Verdict",
    "from_json",
    "to_json",
]

_T = TypeVar("_T")

# Bump the minor version for added optional fields, the major one for anything a reader of
# an older version would misread. 1.1: every suite carries its driver, leaks and details.
# 1.2: a ratio is published/raw of its two medians, with the paired runs' range; expected
# figures name the file system they were computed from (DescribeFileSystems). 1.3: the target
# keeps its image (`driver_image`) beside its vendor_version.
SCHEMA_VERSION = "1.3"


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    # The run did not finish: whatever it recorded is kept, but it is no verdict.
    INCOMPLETE = "incomplete"


@dataclass
class Target:
    """The driver under test and how the harness reached it."""

    # "reference" (the harness's own driver), "endpoint" (a CSI socket given by the user),
    # "command" (started by the harness from the user's --driver-command), "manifests"
    # (deployed from the user's manifests) or "installed" (already in the cluster).
    source: str
    driver_name: str | None = None
    # GetPluginInfo's vendor_version, from the first suite that asked (on kind, k3s and
    # cluster, when none did, the image, as older bundles have it).
    driver_version: str | None = None
    endpoint: str | None = None
    manifests: str | None = None
    command: str | None = None
    # On kind, k3s and cluster: the node plugin's image, `image REF (DIGEST)`, from the first
    # suite that ran pods, when a suite also gave the vendor_version.
    driver_image: str | None = None

    def describe_driver(self) -> str:
        """`NAME VERSION`, and the image where both are known; "unknown" for no name."""
        versions = ", ".join(v for v in (self.driver_version, self.driver_image) if v)
        return f"{self.driver_name or 'unknown'} {versions}".strip()


@dataclass
class Environment:
    host: str
    kernel: str
    python: str
    harness_version: str
    cpus: int
    # "fio-3.33" when fio ran the data workloads, or "fallback engine (...)" when it did not.
    fio: str


@dataclass
class Summary:
    run_id: str
    started: str
    platform: str
    aws_mode: str
    target: Target
    environment: Environment
    finished: str | None = None
    complete: bool = False
    verdict: Verdict = Verdict.INCOMPLETE
    command: list[str] = field(default_factory=list)
    suites: list[SuiteResult] = field(default_factory=list)
    throughput: Throughput | None = None
    notes: list[str] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION

    def suite(self, name: str) -> SuiteResult | None:
        return next((suite for suite in self.suites if suite.name == name), None)

    def leaks(self) -> list[tuple[str, Leak]]:
        """(suite name, leak) for every leak of every suite: each suite holds its own."""
        return [(suite.name, leak) for suite in self.suites for leak in suite.leaks]

    def decide_verdict(self) -> Verdict:
        """Passed only if complete, nothing failed or errored, and nothing leaked."""
        if not self.complete:
            return Verdict.INCOMPLETE
        for suite in self.suites:
            if suite.failed:
                return Verdict.FAILED
            if suite.required and suite.outcome is Outcome.NOT_RUN:
                return Verdict.FAILED
        return Verdict.PASSED


def to_json(summary: Summary) -> dict[str, Any]:
    """The summary as plain JSON types (enums become their string values)."""
    return {
        "schema_version": summary.schema_version,
        "run_id": summary.run_id,
        "started": summary.started,
        "finished": summary.finished,
        "complete": summary.complete,
        "verdict": summary.verdict.value,
        "command": list(summary.command),
        "platform": summary.platform,
        "aws_mode": summary.aws_mode,
        "target": dataclasses.asdict(summary.target),
        "environment": dataclasses.asdict(summary.environment),
        "suites": [suite.to_json() for suite in summary.suites],
        "throughput": (
            None if summary.throughput is None else _plain(dataclasses.asdict(summary.throughput))
        ),
        # Every suite's leaks again in one list, each naming its suite: what 1.0 readers read.
        "leaks": [{"suite": name, **leak.to_json()} for name, leak in summary.leaks()],
        "notes": list(summary.notes),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class SummaryFormatError(ValueError):
    """summary.json exists but is not a summary this version can read."""


def from_json(data: Any) -> Summary:
    """Read a summary written by any 1.x writer; unknown fields are ignored."""
    if not isinstance(data, dict):
        raise SummaryFormatError(f"expected a JSON object, saw {type(data).__name__}")
    try:
        version = check_version(data.get("schema_version"), "summary.json")
    except ResultFormatError as exc:
        raise SummaryFormatError(str(exc)) from None
    try:
        throughput_data = data.get("throughput")
        throughput = None
        if throughput_data is not None:
            expected_data = throughput_data.get("expected")
            throughput = Throughput(
                engine=throughput_data["engine"],
                engine_version=throughput_data.get("engine_version"),
                metadata_engine=throughput_data.get("metadata_engine", "python"),
                measurements=[
                    _build(Measurement, m, outcome=Outcome(m.get("outcome", "passed")))
                    for m in throughput_data.get("measurements", [])
                ],
                ratios=[_build(Ratio, r) for r in throughput_data.get("ratios", [])],
                expected=_build(Expected, expected_data) if expected_data else None,
                notes=list(throughput_data.get("notes", [])),
            )
        suites_data = data.get("suites", [])
        suites = [
            SuiteResult.from_json(item, f"suites[{index}]")
            for index, item in enumerate(suites_data)
        ]
        if not any("leaks" in item for item in suites_data):
            _attach_top_level_leaks(data.get("leaks", []), suites)
        return Summary(
            schema_version=version,
            run_id=data["run_id"],
            started=data["started"],
            finished=data.get("finished"),
            complete=bool(data.get("complete", False)),
            verdict=Verdict(data.get("verdict", "incomplete")),
            command=list(data.get("command", [])),
            platform=data["platform"],
            aws_mode=data["aws_mode"],
            target=_build(Target, data["target"]),
            environment=_build(Environment, data["environment"]),
            suites=suites,
            throughput=throughput,
            notes=list(data.get("notes", [])),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SummaryFormatError(f"summary.json does not match schema {version}: {exc!r}") from exc


def _attach_top_level_leaks(entries: list[Any], suites: list[SuiteResult]) -> None:
    """A 1.0 summary lists leaks only at the top level, each naming its suite."""
    for index, entry in enumerate(entries):
        leak = Leak.from_json(entry, f"leaks[{index}]")
        name = str(entry.get("suite", ""))
        suite = next((s for s in suites if s.name == name), None)
        if suite is None:  # a leak of a suite the summary does not list: keep it visible
            suite = SuiteResult(name or "unknown", Outcome.NOT_RUN, required=False)
            suites.append(suite)
        suite.leaks.append(leak)


def _build(cls: type[_T], data: dict[str, Any], **overrides: Any) -> _T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {key: value for key, value in data.items() if key in names}
    kwargs.update(overrides)
    return cls(**kwargs)
