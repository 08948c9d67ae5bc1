"""The one result model: what every suite writes and what the report bundle reads.

A suite (sanity, e2e, throughput) ends with a `SuiteResult`: its outcome, duration and message,
one `TestResult` per test case, the driver that answered (GetPluginInfo's name and version, or
"unknown" when the suite could not ask), and the `Leak`s it found. Each suite writes it as a JSON
file (`write_suite_file`); `fsx-csi qualify` reads that file back (`read_suite_file`) and puts
the same objects into the bundle's summary.json, whose schema
(qualify/report/summary.schema.json, `$defs/suite`) validates both. The throughput suite's
records (`Measurement`, `Ratio`, `Expected`, `Throughput`: the bundle's `throughput`, schema
`$defs/throughput`) are here too, so that suite writes them without importing the report.

Readers are strict about what the model defines (a missing required key or a wrong type is an
error naming the key) and ignore keys they do not know, so the model can grow by minor versions.
Standard library only: the suites, the report and any other tool can import it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

# The version of a suite result file. Bump the minor version for added optional keys, the
# major one for anything a reader of an older version would misread.
RESULT_SCHEMA_VERSION = "1.0"
SUPPORTED_MAJOR = 1

UNKNOWN = "unknown"
# How a version that is no GetPluginInfo answer begins. On kind, k3s and cluster the driver's
# socket is on the nodes, out of the harness's reach: the suites name the version by the node
# plugin's container image ("image REF (sha256:...)"), so no reader takes it for a
# vendor_version.
IMAGE_VERSION_PREFIX = "image "

# Values of the free-form `details` maps: JSON scalars, so every reader can show them as is.
Detail: TypeAlias = str | int | float | bool

_T = TypeVar("_T")


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # an assertion did not hold: the driver (or the scenario) is wrong
    SKIPPED = "skipped"  # deliberately not run (a capability the driver lacks), reason given
    ERROR = "error"  # the harness could not do its part (a crash, a missing tool, a timeout)
    NOT_RUN = "not_run"  # the target was not exercised (prerequisites missing, interrupted)

    @property
    def is_failure(self) -> bool:
        return self in (Outcome.FAILED, Outcome.ERROR)


@dataclass(frozen=True)
class DriverInfo:
    """The driver a suite exercised, as its GetPluginInfo answered (on the Kubernetes
    platforms: the name the driver registered on the nodes, and its image as the version)."""

    name: str = UNKNOWN
    version: str = UNKNOWN

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN

    @property
    def version_is_image(self) -> bool:
        return self.version.startswith(IMAGE_VERSION_PREFIX)


@dataclass(frozen=True)
class Leak:
    """Something a run created and did not remove itself: a failed cleanup path.

    A leak fails the run even when a later sweep removed it (`removed`): the cleanup that should
    have removed it did not.
    """

    # "volume", "node_publication", "path" (sanity records), "file-system", "mount",
    # "process", "directory" (sweeps), "publication", or a Kubernetes kind.
    kind: str
    # What identifies it: a volume or file system id, a path, a process, an object name.
    id: str
    # What failed and what was seen ("DeleteVolume failed: INTERNAL: ...").
    detail: str = ""
    # Whether a sweep removed it afterwards.
    removed: bool = False
    # The test case or scenario that left it behind, when known.
    test: str | None = None

    def describe(self) -> str:
        """The detail and what became of the resource, for a report line."""
        state = "removed by the sweep" if self.removed else "NOT removed"
        return f"{self.detail} ({state})" if self.detail else state

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "detail": self.detail,
            "removed": self.removed,
            "test": self.test,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "leak") -> Leak:
        fields = _mapping(data, where)
        return cls(
            kind=_string(fields, "kind", where),
            id=_string(fields, "id", where),
            detail=_string(fields, "detail", where, default=""),
            removed=_boolean(fields, "removed", where, default=False),
            test=_optional_string(fields, "test", where),
        )


@dataclass
class TestResult:
    __test__ = False  # a record, not a pytest test class

    name: str
    outcome: Outcome
    duration_s: float = 0.0
    message: str | None = None
    # Group within the suite (a csi-sanity service, "scenario", a workload family).
    classname: str | None = None
    # Facts a suite keeps per test (sanity: the upstream case name and RPC time; e2e: the
    # file system id, ...).
    details: dict[str, Detail] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome.value,
            "duration_s": round(self.duration_s, 4),
            "message": self.message,
            "classname": self.classname,
            "details": dict(self.details),
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "test") -> TestResult:
        fields = _mapping(data, where)
        return cls(
            name=_string(fields, "name", where),
            outcome=_outcome(fields, where),
            duration_s=_number(fields, "duration_s", where, default=0.0),
            message=_optional_string(fields, "message", where),
            classname=_optional_string(fields, "classname", where),
            details=_details(fields, where),
        )


@dataclass
class SuiteResult:
    name: str
    outcome: Outcome
    duration_s: float = 0.0
    message: str | None = None
    tests: list[TestResult] = field(default_factory=list)
    driver: DriverInfo = field(default_factory=DriverInfo)
    leaks: list[Leak] = field(default_factory=list)
    # Paths of this suite's raw outputs; in a bundle, relative to it (raw/...).
    raw: list[str] = field(default_factory=list)
    # A required suite that did not run fails a qualification: one that skipped sanity because
    # it could not start is no pass. Suites the user excluded are not required.
    required: bool = True
    # Facts about the run as a whole (the endpoint, the sanity profile, the platform, ...).
    details: dict[str, Detail] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counted = {outcome.value: 0 for outcome in Outcome}
        for test in self.tests:
            counted[test.outcome.value] += 1
        return counted

    @property
    def failed(self) -> bool:
        """The suite, one of its tests, or its cleanup went wrong."""
        return (
            self.outcome.is_failure
            or any(test.outcome.is_failure for test in self.tests)
            or bool(self.leaks)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome.value,
            "duration_s": round(self.duration_s, 3),
            "message": self.message,
            "driver": {"name": self.driver.name, "version": self.driver.version},
            "tests": [test.to_json() for test in self.tests],
            "leaks": [leak.to_json() for leak in self.leaks],
            "raw": list(self.raw),
            "required": self.required,
            "details": dict(self.details),
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "suite") -> SuiteResult:
        fields = _mapping(data, where)
        driver = _mapping(fields.get("driver", {}), f"{where}.driver")
        return cls(
            name=_string(fields, "name", where),
            outcome=_outcome(fields, where),
            duration_s=_number(fields, "duration_s", where, default=0.0),
            message=_optional_string(fields, "message", where),
            tests=[
                TestResult.from_json(item, f"{where}.tests[{index}]")
                for index, item in enumerate(_sequence(fields, "tests", where))
            ],
            driver=DriverInfo(
                name=_string(driver, "name", f"{where}.driver", default=UNKNOWN),
                version=_string(driver, "version", f"{where}.driver", default=UNKNOWN),
            ),
            leaks=[
                Leak.from_json(item, f"{where}.leaks[{index}]")
                for index, item in enumerate(_sequence(fields, "leaks", where, default=[]))
            ],
            raw=[
                _checked(item, str, f"{where}.raw[{index}]", "a string")
                for index, item in enumerate(_sequence(fields, "raw", where, default=[]))
            ],
            required=_boolean(fields, "required", where, default=True),
            details=_details(fields, where),
        )


# -- throughput records: what the throughput suite measured (a bundle's `throughput`) -------


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
    """Published-volume figure over raw-directory figure for one workload (local platform).

    `ratio` is `published / raw` of the two medians shown beside it; the paired runs' ratios
    (run i on the volume over run i on the raw directory) give its spread, `paired_low` to
    `paired_high`: a ratio whose range reaches the target is indistinguishable from it.
    """

    workload: str
    metric: str
    published: float
    raw: float
    ratio: float
    target: float
    meets_target: bool
    # How the two figures were reduced from the repeats ("median of N paired runs").
    method: str
    paired_low: float | None = None
    paired_high: float | None = None

    @property
    def within_noise(self) -> bool:
        """Below the target, but some paired run reached it: the gap is run-to-run noise."""
        return self.paired_high is not None and self.paired_high >= self.target


@dataclass
class Expected:
    """What the file system should deliver on real FSx: storage TiB x per-unit throughput,
    computed from what DescribeFileSystems says FSx (or the emulator) created."""

    deployment_type: str
    capacity_gib: int
    per_unit_throughput: int | None
    baseline_mbps: float
    burst_mbps: float | None
    storage_type: str | None = None
    file_system_id: str | None = None
    # "DescribeFileSystems" (what FSx created) or "StorageClass parameters" (what was asked
    # for, when the file system could not be described).
    source: str = "DescribeFileSystems"


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


class ResultFormatError(ValueError):
    """A result document that this version cannot read; the message names the key."""


def to_json(suite: SuiteResult) -> dict[str, Any]:
    """A suite result file's content: the suite, marked with its schema version."""
    return {"schema_version": RESULT_SCHEMA_VERSION, **suite.to_json()}


def from_json(data: Any) -> SuiteResult:
    """Read a suite result file's content written by any 1.x writer."""
    fields = _mapping(data, "suite result")
    check_version(fields.get("schema_version"), "suite result")
    return SuiteResult.from_json(fields)


def check_version(version: Any, what: str) -> str:
    """The document's schema version, if this reader understands its major version."""
    text = str(version or "")
    major = text.split(".", 1)[0]
    if not major.isdigit() or int(major) != SUPPORTED_MAJOR:
        raise ResultFormatError(
            f"{what}: schema_version {text!r} is not supported (this reader understands "
            f"{SUPPORTED_MAJOR}.x); use the fsx-csi version that wrote it"
        )
    return text


def write_suite_file(suite: SuiteResult, path: Path) -> Path:
    """Write the suite's result file (the parent directory is created); returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(suite), indent=2) + "\n", encoding="utf-8")
    return path


def read_suite_file(path: Path) -> SuiteResult:
    """Read a suite's result file; ResultFormatError says what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultFormatError(f"{path}: cannot read the suite result: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ResultFormatError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    try:
        return from_json(data)
    except ResultFormatError as exc:
        raise ResultFormatError(f"{path}: {exc}") from exc


# -- strict readers: each names the key and what it expected ----------------------------------

_MISSING: Any = object()


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ResultFormatError(f"{where}: expected a JSON object, seen {type(value).__name__}")
    return value


def _get(fields: Mapping[str, Any], key: str, where: str, default: Any) -> Any:
    value = fields.get(key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            raise ResultFormatError(f"{where}: the key {key!r} is missing")
        return default
    return value


def _checked(value: Any, kind: type[_T] | tuple[type, ...], where: str, expected: str) -> _T:
    # bool is an int in Python, never a number or a string in these documents.
    accepts_bool = kind is bool or (isinstance(kind, tuple) and bool in kind)
    if not isinstance(value, kind) or (isinstance(value, bool) and not accepts_bool):
        raise ResultFormatError(f"{where}: expected {expected}, seen {value!r}")
    return value  # type: ignore[return-value]


def _string(fields: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> str:
    value = _get(fields, key, where, default)
    return _checked(value, str, f"{where}.{key}", "a string")


def _optional_string(fields: Mapping[str, Any], key: str, where: str) -> str | None:
    value = fields.get(key)
    return None if value is None else _checked(value, str, f"{where}.{key}", "a string or null")


def _number(fields: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> float:
    value = _get(fields, key, where, default)
    return float(_checked(value, (int, float), f"{where}.{key}", "a number"))


def _boolean(fields: Mapping[str, Any], key: str, where: str, default: Any = _MISSING) -> bool:
    value = _get(fields, key, where, default)
    return _checked(value, bool, f"{where}.{key}", "true or false")


def _sequence(
    fields: Mapping[str, Any], key: str, where: str, default: Any = _MISSING
) -> Sequence[Any]:
    value = _get(fields, key, where, default)
    return _checked(value, list, f"{where}.{key}", "a list")


def _outcome(fields: Mapping[str, Any], where: str) -> Outcome:
    value = _string(fields, "outcome", where)
    try:
        return Outcome(value)
    except ValueError:
        choices = ", ".join(outcome.value for outcome in Outcome)
        raise ResultFormatError(
            f"{where}.outcome: expected one of {choices}, seen {value!r}"
        ) from None


def _details(fields: Mapping[str, Any], where: str) -> dict[str, Detail]:
    details = _mapping(fields.get("details", {}), f"{where}.details")
    return {
        str(key): _checked(value, (str, int, float, bool), f"{where}.details.{key}", "a scalar")
        for key, value in details.items()
    }
