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
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from e2e.results import LeakedResource

_T = TypeVar("_T")

# Bump the minor version for added optional fields, the major one for anything a reader of
# an older version would misread.
SCHEMA_VERSION = "1.0"
SUPPORTED_MAJOR = 1


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"
    NOT_RUN = "not_run"

    @property
    def is_failure(self) -> bool:
        return self in (Outcome.FAILED, Outcome.ERROR)


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    # The run did not finish: whatever it recorded is kept, but it is no verdict.
    INCOMPLETE = "incomplete"


@dataclass
class Target:
    """The driver under test and how the harness reached it."""

    # "reference" (the harness's own driver), "endpoint" (a CSI socket given by the user),
    # "manifests" (deployed from the user's manifests) or "installed" (already in the cluster).
    source: str
    driver_name: str | None = None
    driver_version: str | None = None
    endpoint: str | None = None
    manifests: str | None = None


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
class TestResult:
    __test__ = False  # a record, not a pytest test class

    name: str
    outcome: Outcome
    duration_s: float = 0.0
    message: str | None = None
    # Group within the suite (a csi-sanity service, a scenario, a workload family).
    classname: str | None = None


@dataclass
class SuiteResult:
    name: str
    outcome: Outcome
    duration_s: float = 0.0
    message: str | None = None
    tests: list[TestResult] = field(default_factory=list)
    # Bundle-relative paths of this suite's raw outputs (raw/...).
    raw: list[str] = field(default_factory=list)
    # A required suite that did not run fails the verdict: a qualification that skipped
    # sanity because it could not start is no pass. Suites the user excluded are not required.
    required: bool = True

    def counts(self) -> dict[str, int]:
        counted = {outcome.value: 0 for outcome in Outcome}
        for test in self.tests:
            counted[test.outcome.value] += 1
        return counted


@dataclass
class Measurement:
    """One workload run on one target by one client."""

    workload: str
    # "published" (through the driver's published volume), "raw" (the emulation directory
    # itself, local platform only) or "aggregate" (the sum over concurrent clients).
    target: str
    # "bandwidth" (MB/s, 10^6 bytes per second), "iops" or "ops" (metadata operations/s).
    metric: str
    value: float
    unit: str
    outcome: Outcome = Outcome.PASSED
    client: str | None = None
    repeat: int = 0
    duration_s: float = 0.0
    bytes: int = 0
    engine: str = ""
    message: str | None = None
    raw: str | None = None


@dataclass
class Ratio:
    """Published-volume figure over raw-directory figure for one workload (local platform)."""

    workload: str
    metric: str
    published: float
    raw: float
    ratio: float
    target: float
    meets_target: bool
    # How the two figures were reduced from the repeats ("best of N", "median of N").
    method: str


@dataclass
class Expected:
    """What the file system should deliver (real AWS): storage TiB x per-unit throughput."""

    deployment_type: str
    capacity_gib: int
    per_unit_throughput: int | None
    baseline_mbps: float
    burst_mbps: float | None


@dataclass
class Throughput:
    engine: str
    engine_version: str | None
    # The metadata workload is Python on every platform; recorded so nobody reads it as fio.
    metadata_engine: str
    measurements: list[Measurement] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    expected: Expected | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Leak:
    kind: str
    id: str
    suite: str
    detail: str = ""

    @classmethod
    def from_sweep(cls, leak: LeakedResource, suite: str) -> Leak:
        """A leak a run's sweep found (e2e.results), as the suite's report records it."""
        return cls(leak.kind, leak.identifier, suite, leak.describe())


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
    leaks: list[Leak] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION

    def suite(self, name: str) -> SuiteResult | None:
        return next((suite for suite in self.suites if suite.name == name), None)

    def decide_verdict(self) -> Verdict:
        """Passed only if complete, nothing failed or errored, and nothing leaked."""
        if not self.complete:
            return Verdict.INCOMPLETE
        for suite in self.suites:
            if suite.outcome.is_failure or any(t.outcome.is_failure for t in suite.tests):
                return Verdict.FAILED
            if suite.required and suite.outcome is Outcome.NOT_RUN:
                return Verdict.FAILED
        if self.leaks:
            return Verdict.FAILED
        return Verdict.PASSED


def to_json(summary: Summary) -> dict[str, Any]:
    """The summary as plain JSON types (enums become their string values)."""
    data = dataclasses.asdict(summary)
    return _plain(data)  # type: ignore[no-any-return]


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
    version = str(data.get("schema_version", ""))
    major = version.split(".", 1)[0]
    if not major.isdigit() or int(major) != SUPPORTED_MAJOR:
        raise SummaryFormatError(
            f"schema_version {version!r} is not supported (this reader understands "
            f"{SUPPORTED_MAJOR}.x); use the fsx-csi version that wrote the bundle"
        )
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
            suites=[
                SuiteResult(
                    name=s["name"],
                    outcome=Outcome(s["outcome"]),
                    duration_s=float(s.get("duration_s", 0.0)),
                    message=s.get("message"),
                    raw=list(s.get("raw", [])),
                    required=bool(s.get("required", True)),
                    tests=[
                        _build(TestResult, t, outcome=Outcome(t["outcome"]))
                        for t in s.get("tests", [])
                    ],
                )
                for s in data.get("suites", [])
            ],
            throughput=throughput,
            leaks=[_build(Leak, leak) for leak in data.get("leaks", [])],
            notes=list(data.get("notes", [])),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SummaryFormatError(f"summary.json does not match schema {version}: {exc!r}") from exc


def _build(cls: type[_T], data: dict[str, Any], **overrides: Any) -> _T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {key: value for key, value in data.items() if key in names}
    kwargs.update(overrides)
    return cls(**kwargs)
