"""The e2e scenarios as data: what to provision, which pods to run where, and what to assert.

Every platform (local, kind, cluster, k3s) runs the same scenarios. A scenario is read from one
YAML file in `fixtures/scenarios/` (data only) and validated here, so a typo in a scenario file
fails at load time with the file, the key and what was expected, not halfway through a run.

The order a platform follows for one scenario:

1. static scenarios: pre-create the file system through the FSx API and build a
   PersistentVolume (volumeHandle = file system id, volumeAttributes dnsname/mountname);
   dynamic scenarios: a StorageClass with `storage_class.parameters` and `mount_options`;
2. the claim (size, access modes, volume mode); wait until Bound, or, with
   `expected_failure`, check that it stays Pending with an error naming the parameter and that
   no file system was created;
3. the pods whose `after_expansion` is false, in order. A `lifecycle: exit` pod runs to
   completion and its exit code and output are checked; a `lifecycle: running` pod keeps running
   (for example the writer loop) while its `checks` are retried until they pass or time out,
   and while the pods after it run; a running pod's `mounted_with` options must be among those
   the node's mount of its volume got (read by the platform where it can: the Lustre
   emulation's record of the mount, or the pod's own mount table on real Lustre);
4. `expansion`: the claim is resized, then the file system's capacity is checked;
5. the pods with `after_expansion: true`;
5b. `modification`: the volume gets a VolumeAttributesClass's parameters (ControllerModifyVolume;
   on local the harness plays the external-resizer's modifier), then the file system must show
   `expected_lustre_configuration`; then the pods with `after_modification: true`;
6. teardown: pods, claim, volume; the file system must be gone (dynamic, reclaim Delete) or is
   deleted by the harness (static).

Pod commands are POSIX sh, with the volume mounted at /data. `variables` become environment
variables of every pod (and may be overridden by a run, for example a shorter write period in
the project's own tests).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, cast

import yaml

from fsx_csi_harness import fsx
from fsx_csi_harness.data import fixture_path

# The mount point of the volume inside every pod, on every platform.
VOLUME_MOUNT_PATH: Final = "/data"

# Where the scenario files live (a checkout's fixtures/, or an installed wheel's copy).
DEFAULT_SCENARIO_DIR: Final = fixture_path("scenarios")

AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]
ACCESS_MODES: Final[tuple[AccessMode, ...]] = (
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
)
VolumeMode = Literal["Filesystem", "Block"]
Provisioning = Literal["dynamic", "static"]
PodLifecycle = Literal["exit", "running"]
ReclaimPolicy = Literal["Delete", "Retain"]
FailureStage = Literal["provisioning"]

# Kubernetes object names used for pods and scenarios: DNS-1123 labels.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Binary suffixes Kubernetes accepts in a resource.Quantity, and plain bytes.
_QUANTITY = re.compile(r"^(?P<number>[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi)?$")
_SUFFIX_BYTES: Final = {
    None: 1,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "Pi": 1024**5,
}


class ScenarioError(ValueError):
    """A scenario file that cannot be used: names the file, the key, expected and seen."""


def parse_quantity(text: str) -> int:
    """Bytes in a Kubernetes quantity with a binary suffix ("1200Gi") or plain bytes."""
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not a size: expected a whole number with an optional binary suffix "
            "(Ki, Mi, Gi, Ti, Pi), for example 1200Gi"
        )
    return int(match["number"]) * _SUFFIX_BYTES[match["suffix"]]


def gib_ceil(size_bytes: int) -> int:
    """Whole GiB needed to hold `size_bytes` (how drivers turn a capacity range into GiB)."""
    return math.ceil(size_bytes / fsx.GIB)


@dataclass(frozen=True)
class StorageClassSpec:
    """The StorageClass of a dynamic scenario; keys as the upstream driver accepts them."""

    parameters: Mapping[str, str]
    mount_options: tuple[str, ...] = ()
    reclaim_policy: ReclaimPolicy = "Delete"
    allow_volume_expansion: bool = True


@dataclass(frozen=True)
class StaticFileSystemSpec:
    """A file system the harness creates through the FSx API before a static scenario.

    The PersistentVolume gets its id as volumeHandle and its DNSName and MountName as the
    `dnsname`/`mountname` volume attributes; the harness deletes it after the scenario.
    """

    deployment_type: str
    storage_capacity_gib: int
    subnet_id: str
    security_group_ids: tuple[str, ...] = ()
    per_unit_storage_throughput: int | None = None
    mount_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimSpec:
    size: str
    access_modes: tuple[AccessMode, ...]
    volume_mode: VolumeMode = "Filesystem"

    @property
    def size_bytes(self) -> int:
        return parse_quantity(self.size)


@dataclass(frozen=True)
class OutputExpectation:
    """What a command's combined stdout and stderr must hold.

    Every string of `contains` must occur at least `min_count` times; no string of
    `not_contains` may occur.
    """

    contains: tuple[str, ...] = ()
    min_count: int = 1
    not_contains: tuple[str, ...] = ()

    def failures(self, output: str) -> list[str]:
        """What is wrong with `output`, in words; empty when it meets the expectation."""
        problems = []
        for text in self.contains:
            seen = output.count(text)
            if seen < self.min_count:
                problems.append(f"expected {text!r} at least {self.min_count}x, seen {seen}x")
        problems.extend(f"did not expect {text!r}" for text in self.not_contains if text in output)
        return problems


@dataclass(frozen=True)
class ExecCheck:
    """A command executed inside a running pod (like `kubectl exec`), retried until it passes.

    `exit_code` is the expected exit code; the check passes once the exit code and the output
    match, and fails with the last result seen when `within_s` runs out.
    """

    name: str
    command: str
    exit_code: int = 0
    output: OutputExpectation = field(default_factory=OutputExpectation)
    within_s: float = 30.0


@dataclass(frozen=True)
class PodSpec:
    name: str
    node: int
    command: str
    read_only: bool = False
    lifecycle: PodLifecycle = "exit"
    # For `exit` pods: the expected exit code and output of the command.
    exit_code: int = 0
    output: OutputExpectation = field(default_factory=OutputExpectation)
    # For `running` pods: checks run inside the pod once it runs.
    checks: tuple[ExecCheck, ...] = ()
    # For `running` pods: mount options the node's mount of the volume must have got (the
    # emulation is kinder than Lustre: flock works on it without -o flock, so only the mount
    # itself tells whether the driver passed the StorageClass's mountOptions).
    mounted_with: tuple[str, ...] = ()
    after_expansion: bool = False
    after_modification: bool = False
    # How long the pod may take to finish (`exit`) or to start (`running`).
    timeout_s: float = 60.0


@dataclass(frozen=True)
class ExpansionSpec:
    """Grow the claim to `size`; the file system must then have `expected_capacity_gib`."""

    size: str
    expected_capacity_gib: int

    @property
    def size_bytes(self) -> int:
        return parse_quantity(self.size)


@dataclass(frozen=True)
class ModificationSpec:
    """A VolumeAttributesClass `volume_attributes_class` with `parameters` (the driver's
    mutable parameters) applied to the bound volume; DescribeFileSystems must then show every
    `expected_lustre_configuration` member (LustreConfiguration key -> value, compared as
    text)."""

    volume_attributes_class: str
    parameters: Mapping[str, str]
    expected_lustre_configuration: Mapping[str, str]


@dataclass(frozen=True)
class ExpectedFailure:
    """The scenario succeeds when provisioning fails like this and nothing is created.

    `message_contains` is matched case-insensitively: a driver may name the StorageClass key
    (perUnitStorageThroughput) or the FSx API field (PerUnitStorageThroughput).
    """

    stage: FailureStage
    message_contains: tuple[str, ...]
    file_system_created: bool = False

    def missing_from(self, message: str) -> list[str]:
        """The expected strings that `message` does not name."""
        lowered = message.lower()
        return [text for text in self.message_contains if text.lower() not in lowered]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    provisioning: Provisioning
    claim: ClaimSpec
    storage_class: StorageClassSpec | None = None
    static_file_system: StaticFileSystemSpec | None = None
    pods: tuple[PodSpec, ...] = ()
    expansion: ExpansionSpec | None = None
    modification: ModificationSpec | None = None
    expected_failure: ExpectedFailure | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    source: Path | None = None

    @property
    def mount_options(self) -> tuple[str, ...]:
        """Mount options the node plugin receives (StorageClass or static PV)."""
        if self.storage_class is not None:
            return self.storage_class.mount_options
        if self.static_file_system is not None:
            return self.static_file_system.mount_options
        return ()

    @property
    def node_count(self) -> int:
        """Nodes a platform needs: one more than the highest node index of the pods."""
        return max((pod.node for pod in self.pods), default=0) + 1

    def pods_before_expansion(self) -> tuple[PodSpec, ...]:
        return tuple(
            pod for pod in self.pods if not pod.after_expansion and not pod.after_modification
        )

    def pods_after_expansion(self) -> tuple[PodSpec, ...]:
        return tuple(pod for pod in self.pods if pod.after_expansion)

    def pods_after_modification(self) -> tuple[PodSpec, ...]:
        return tuple(pod for pod in self.pods if pod.after_modification)

    def with_variables(self, overrides: Mapping[str, str]) -> Scenario:
        """This scenario with some variables changed; unknown names are an error."""
        unknown = sorted(set(overrides) - set(self.variables))
        if unknown:
            raise ScenarioError(
                f"scenario {self.name!r}: cannot override variables {unknown}: it declares "
                f"only {sorted(self.variables)}"
            )
        return replace(self, variables={**self.variables, **overrides})


# --------------------------------------------------------------------------- loading


class _Reader:
    """Typed access to one mapping of a scenario file, naming the key path in every error."""

    def __init__(self, source: str, path: str, data: object) -> None:
        self.source = source
        self.path = path
        if not isinstance(data, dict):
            self.fail(f"expected a mapping, seen {_kind(data)}")
        self.data = cast(dict[str, Any], data)
        self.used: set[str] = set()

    def where(self, key: str | None = None) -> str:
        if key is None:
            return self.path or "the top level"
        return f"{self.path}.{key}" if self.path else key

    def fail(self, message: str, key: str | None = None) -> None:
        raise ScenarioError(f"{self.source}: {self.where(key)}: {message}")

    def _get(self, key: str, required: bool) -> object:
        self.used.add(key)
        if key not in self.data:
            if required:
                self.fail("is required but missing", key)
            return None
        return self.data[key]

    def string(self, key: str, default: str | None = None) -> str:
        value = self._get(key, required=default is None)
        if value is None:
            return cast(str, default)
        if not isinstance(value, str):
            self.fail(f"expected a string, seen {_kind(value)} {value!r}", key)
        return cast(str, value)

    def choice(self, key: str, choices: Sequence[str], default: str | None = None) -> str:
        value = self.string(key, default)
        if value not in choices:
            self.fail(f"expected one of {', '.join(choices)}; seen {value!r}", key)
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        value = self._get(key, required=default is None)
        if value is None:
            return cast(int, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"expected a whole number, seen {_kind(value)} {value!r}", key)
        return cast(int, value)

    def optional_integer(self, key: str) -> int | None:
        if key not in self.data:
            self.used.add(key)
            return None
        return self.integer(key)

    def number(self, key: str, default: float) -> float:
        value = self._get(key, required=False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.fail(f"expected a positive number of seconds, seen {value!r}", key)
        return float(cast(float, value))

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, required=False)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(f"expected true or false, seen {value!r}", key)
        return cast(bool, value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._get(key, required=False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"expected a list of strings, seen {value!r}", key)
        return tuple(cast(list[str], value))

    def string_map(self, key: str) -> dict[str, str]:
        value = self._get(key, required=False)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(f"expected a mapping of strings, seen {_kind(value)}", key)
        result = {}
        for name, item in cast(dict[object, object], value).items():
            if not isinstance(name, str) or isinstance(item, bool | dict | list) or item is None:
                self.fail(
                    f"expected string keys and scalar values, seen {name!r}: {item!r} "
                    "(quote numbers and booleans to keep them strings)",
                    key,
                )
            result[cast(str, name)] = str(item)
        return result

    def child(self, key: str, required: bool = False) -> _Reader | None:
        value = self._get(key, required)
        if value is None:
            return None
        return _Reader(self.source, self.where(key), value)

    def children(self, key: str) -> list[_Reader]:
        value = self._get(key, required=False)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(f"expected a list, seen {_kind(value)}", key)
        return [
            _Reader(self.source, f"{self.where(key)}[{index}]", item)
            for index, item in enumerate(cast(list[object], value))
        ]

    def done(self) -> None:
        """Reject keys this reader did not consume: a misspelt key is an error, not a no-op."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            self.fail(f"unknown keys {unknown}; known keys here: {sorted(self.used)}")


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _output(reader: _Reader | None) -> OutputExpectation:
    if reader is None:
        return OutputExpectation()
    expectation = OutputExpectation(
        contains=reader.strings("contains"),
        min_count=reader.integer("min_count", 1),
        not_contains=reader.strings("not_contains"),
    )
    if expectation.min_count < 1:
        reader.fail(f"expected at least 1, seen {expectation.min_count}", "min_count")
    reader.done()
    return expectation


def _name(reader: _Reader, key: str) -> str:
    value = reader.string(key)
    if not _DNS_LABEL.match(value):
        reader.fail(
            f"{value!r} is not a valid name: expected lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters",
            key,
        )
    return value


def _size(reader: _Reader, key: str) -> str:
    value = reader.string(key)
    try:
        parse_quantity(value)
    except ValueError as exc:
        reader.fail(str(exc), key)
    return value


def _check(reader: _Reader) -> ExecCheck:
    check = ExecCheck(
        name=reader.string("name"),
        command=reader.string("command"),
        exit_code=reader.integer("exit_code", 0),
        output=_output(reader.child("output")),
        within_s=reader.number("within_s", 30.0),
    )
    reader.done()
    return check


def _pod(reader: _Reader) -> PodSpec:
    lifecycle = cast(PodLifecycle, reader.choice("lifecycle", ("exit", "running"), "exit"))
    pod = PodSpec(
        name=_name(reader, "name"),
        node=reader.integer("node"),
        command=reader.string("command"),
        read_only=reader.boolean("read_only", False),
        lifecycle=lifecycle,
        exit_code=reader.integer("exit_code", 0),
        output=_output(reader.child("output")),
        checks=tuple(_check(c) for c in reader.children("checks")),
        mounted_with=reader.strings("mounted_with"),
        after_expansion=reader.boolean("after_expansion", False),
        after_modification=reader.boolean("after_modification", False),
        timeout_s=reader.number("timeout_s", 60.0),
    )
    if pod.node < 0:
        reader.fail(f"expected a node index of 0 or more, seen {pod.node}", "node")
    if lifecycle == "exit" and pod.checks:
        reader.fail("checks run inside running pods; use lifecycle: running or output", "checks")
    if lifecycle == "exit" and pod.mounted_with:
        # A pod that exited has no mount left to read (on a cluster, nothing to exec into).
        reader.fail("is read from a running pod's mount; use lifecycle: running", "mounted_with")
    if lifecycle == "running" and ("exit_code" in reader.data or "output" in reader.data):
        reader.fail("a running pod does not exit: put what to assert in checks", "lifecycle")
    reader.done()
    return pod


def _storage_class(reader: _Reader) -> StorageClassSpec:
    spec = StorageClassSpec(
        parameters=reader.string_map("parameters"),
        mount_options=reader.strings("mount_options"),
        reclaim_policy=cast(
            ReclaimPolicy, reader.choice("reclaim_policy", ("Delete", "Retain"), "Delete")
        ),
        allow_volume_expansion=reader.boolean("allow_volume_expansion", True),
    )
    reader.done()
    return spec


def _static_file_system(reader: _Reader) -> StaticFileSystemSpec:
    deployment = reader.choice("deployment_type", [d.value for d in fsx.DeploymentType])
    spec = StaticFileSystemSpec(
        deployment_type=deployment,
        storage_capacity_gib=reader.integer("storage_capacity_gib"),
        subnet_id=reader.string("subnet_id"),
        security_group_ids=reader.strings("security_group_ids"),
        per_unit_storage_throughput=reader.optional_integer("per_unit_storage_throughput"),
        mount_options=reader.strings("mount_options"),
    )
    rule = fsx.capacity_rule(fsx.DeploymentType(deployment))
    if not rule.is_valid(spec.storage_capacity_gib):
        reader.fail(
            f"{spec.storage_capacity_gib} GiB is not a valid {deployment} size: expected "
            f"{rule.describe()}",
            "storage_capacity_gib",
        )
    reader.done()
    return spec


def _claim(reader: _Reader) -> ClaimSpec:
    modes = reader.strings("access_modes")
    if not modes:
        reader.fail(f"expected at least one of {', '.join(ACCESS_MODES)}", "access_modes")
    for mode in modes:
        if mode not in ACCESS_MODES:
            reader.fail(
                f"unknown access mode {mode!r}: expected one of {', '.join(ACCESS_MODES)}",
                "access_modes",
            )
    claim = ClaimSpec(
        size=_size(reader, "size"),
        access_modes=cast(tuple[AccessMode, ...], modes),
        volume_mode=cast(
            VolumeMode, reader.choice("volume_mode", ("Filesystem", "Block"), "Filesystem")
        ),
    )
    reader.done()
    return claim


def _expected_capacity(scenario: Scenario, requested_gib: int) -> int | None:
    """The capacity FSx gives a request of `requested_gib`, per the scenario's file system."""
    try:
        if scenario.storage_class is not None:
            rule = fsx.storage_class_capacity_rule(scenario.storage_class.parameters)
        elif scenario.static_file_system is not None:
            static = scenario.static_file_system
            rule = fsx.LustreSettings(
                deployment_type=fsx.DeploymentType(static.deployment_type),
                per_unit_storage_throughput=static.per_unit_storage_throughput,
            ).capacity_rule
        else:
            return None
    except ValueError:
        return None  # an invalid combination: the expected-failure scenarios are about those
    return rule.round_up(requested_gib)


def parse_scenario(data: object, source: str = "<scenario>") -> Scenario:
    """Build and validate a Scenario from parsed YAML; raises ScenarioError."""
    top = _Reader(source, "", data)
    name = _name(top, "name")
    provisioning = cast(Provisioning, top.choice("provisioning", ("dynamic", "static")))
    sc_reader = top.child("storage_class")
    static_reader = top.child("static_file_system")
    claim_reader = top.child("claim", required=True)
    assert claim_reader is not None
    expansion_reader = top.child("expansion")
    modification_reader = top.child("modification")
    failure_reader = top.child("expected_failure")

    variables = top.string_map("variables")
    for variable in variables:
        if not _ENV_NAME.match(variable):
            top.fail(f"{variable!r} is not an environment variable name", "variables")

    expansion = None
    if expansion_reader is not None:
        expansion = ExpansionSpec(
            size=_size(expansion_reader, "size"),
            expected_capacity_gib=expansion_reader.integer("expected_capacity_gib"),
        )
        expansion_reader.done()
    modification = None
    if modification_reader is not None:
        modification = ModificationSpec(
            volume_attributes_class=_name(modification_reader, "volume_attributes_class"),
            parameters=modification_reader.string_map("parameters"),
            expected_lustre_configuration=modification_reader.string_map(
                "expected_lustre_configuration"
            ),
        )
        if not modification.parameters:
            modification_reader.fail("expected at least one mutable parameter", "parameters")
        if not modification.expected_lustre_configuration:
            modification_reader.fail(
                "expected at least one LustreConfiguration value the file system must show",
                "expected_lustre_configuration",
            )
        modification_reader.done()
    expected_failure = None
    if failure_reader is not None:
        expected_failure = ExpectedFailure(
            stage=cast(FailureStage, failure_reader.choice("stage", ("provisioning",))),
            message_contains=failure_reader.strings("message_contains"),
            file_system_created=failure_reader.boolean("file_system_created", False),
        )
        if not expected_failure.message_contains:
            failure_reader.fail(
                "expected at least one string the error must name (the parameter)",
                "message_contains",
            )
        failure_reader.done()

    scenario = Scenario(
        name=name,
        description=top.string("description").strip(),
        provisioning=provisioning,
        claim=_claim(claim_reader),
        storage_class=None if sc_reader is None else _storage_class(sc_reader),
        static_file_system=None if static_reader is None else _static_file_system(static_reader),
        pods=tuple(_pod(p) for p in top.children("pods")),
        expansion=expansion,
        modification=modification,
        expected_failure=expected_failure,
        variables=variables,
        source=Path(source) if source != "<scenario>" else None,
    )
    top.done()
    _check_consistency(top, scenario)
    return scenario


def _check_consistency(top: _Reader, scenario: Scenario) -> None:
    """Rules that span several keys."""
    if scenario.provisioning == "dynamic":
        if scenario.storage_class is None:
            top.fail("a dynamic scenario needs storage_class", "storage_class")
        if scenario.static_file_system is not None:
            top.fail("a dynamic scenario has no static_file_system", "static_file_system")
    else:
        if scenario.static_file_system is None:
            top.fail("a static scenario needs static_file_system", "static_file_system")
        if scenario.storage_class is not None:
            top.fail(
                "a static scenario has no StorageClass: put mount options in "
                "static_file_system.mount_options",
                "storage_class",
            )
    for index, pod in enumerate(scenario.pods):
        asked = {*scenario.mount_options, *(("ro",) if pod.read_only else ())}
        unasked = [option for option in pod.mounted_with if option not in asked]
        if unasked:
            top.fail(
                f"expected options the scenario asks for ({sorted(asked) or 'none'}: "
                f"mount_options, and ro for a read_only pod), seen {unasked}",
                f"pods[{index}].mounted_with",
            )
    names = [pod.name for pod in scenario.pods]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        top.fail(f"pod names must be unique, seen {duplicates} more than once", "pods")

    if scenario.expected_failure is not None:
        if scenario.pods or scenario.expansion is not None or scenario.modification is not None:
            top.fail(
                "a scenario whose provisioning must fail has no pods, expansion or modification",
                "expected_failure",
            )
        return
    if not scenario.pods:
        top.fail("expected at least one pod that uses the volume", "pods")

    if scenario.expansion is not None:
        requested = gib_ceil(scenario.expansion.size_bytes)
        if scenario.expansion.size_bytes <= scenario.claim.size_bytes:
            top.fail(
                f"expected a size above the claim's {scenario.claim.size}, seen "
                f"{scenario.expansion.size}",
                "expansion.size",
            )
        if scenario.storage_class is not None and not scenario.storage_class.allow_volume_expansion:
            top.fail("expansion needs allow_volume_expansion: true", "storage_class")
        expected = _expected_capacity(scenario, requested)
        if expected is not None and expected != scenario.expansion.expected_capacity_gib:
            top.fail(
                f"a request of {requested} GiB rounds up to {expected} GiB under the FSx "
                f"capacity rules (fsx_csi_harness.fsx), not "
                f"{scenario.expansion.expected_capacity_gib}",
                "expansion.expected_capacity_gib",
            )
    elif any(pod.after_expansion for pod in scenario.pods):
        top.fail("pods with after_expansion need an expansion", "pods")
    if scenario.modification is None and any(pod.after_modification for pod in scenario.pods):
        top.fail("pods with after_modification need a modification", "pods")
    if any(pod.after_expansion and pod.after_modification for pod in scenario.pods):
        top.fail("a pod runs after the expansion or after the modification, not both", "pods")


def load_scenario_file(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file: {exc}") from exc
    scenario = parse_scenario(data, str(path))
    if scenario.name != path.stem:
        raise ScenarioError(
            f"{path}: name {scenario.name!r} differs from the file name: expected "
            f"name: {path.stem} (one scenario per file, named after it)"
        )
    return scenario


def load_scenarios(directory: Path | None = None) -> list[Scenario]:
    """Every scenario in `directory` (default: fixtures/scenarios), sorted by name."""
    directory = directory or DEFAULT_SCENARIO_DIR
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ScenarioError(
            f"{directory}: no scenario files (*.yaml) found; expected the scenarios of "
            "fixtures/scenarios/ (run from a source checkout or pass --scenario-dir)"
        )
    return [load_scenario_file(path) for path in files]


def select_scenarios(scenarios: Sequence[Scenario], names: Sequence[str]) -> list[Scenario]:
    """The scenarios named, in the order given; all of them when `names` is empty."""
    if not names:
        return list(scenarios)
    by_name = {s.name: s for s in scenarios}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ScenarioError(f"unknown scenario(s) {unknown}; known scenarios: {sorted(by_name)}")
    return [by_name[n] for n in names]
