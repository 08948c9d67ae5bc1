"""The sanity suite's configuration: every csi-sanity setting, with csi-sanity's defaults.

`SanityConfig` is built once (from `fsx-csi sanity` flags, pytest options or pyproject ini
keys), validated before anything connects, and then passed inward frozen. The YAML files it
names (secrets, volume/snapshot parameters) are read by `load_inputs`, also before any test
runs, so that a typo in a path fails the run at once instead of in the first test.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

GIB = 1024**3

# The test sizes that FSx for Lustre capacity rules need: 1200 GiB is the smallest file
# system of every SSD deployment type, 2400 GiB the next valid size (fsx_csi_harness.fsx).
FSX_TEST_VOLUME_SIZE = 1200 * GIB
FSX_TEST_VOLUME_EXPAND_SIZE = 2400 * GIB

# Profiles add cases to csi-sanity's: fsx (FSx for Lustre conformance) and strict (what the
# CSI spec requires and csi-sanity does not check). They combine: "strict,fsx".
PROFILES = ("none", "fsx", "strict")


def profile_names(profile: str) -> frozenset[str]:
    """The extra profiles a --csi.profile value switches on ("none" switches on nothing)."""
    return frozenset(name.strip() for name in profile.split(",")) - {"none", ""}


ACCESS_TYPES = ("mount", "block")

# Secret names as csi-sanity's secrets YAML spells them (pkg/sanity/sanity.go CSISecrets).
SECRET_KEYS = (
    "CreateVolumeSecret",
    "DeleteVolumeSecret",
    "ControllerPublishVolumeSecret",
    "ControllerUnpublishVolumeSecret",
    "ControllerValidateVolumeCapabilitiesSecret",
    "NodeStageVolumeSecret",
    "NodePublishVolumeSecret",
    "CreateSnapshotSecret",
    "DeleteSnapshotSecret",
    "ControllerExpandVolumeSecret",
    "ListSnapshotsSecret",
    "ControllerModifyVolumeSecret",
    "GetSnapshotSecret",
)


class ConfigError(ValueError):
    """A setting has a value the suite cannot run with; the message names the flag."""


@dataclass(frozen=True)
class SanityConfig:
    """Every csi-sanity setting (cmd/csi-sanity/main.go), plus the harness's own.

    Durations are seconds. Sizes are bytes. Empty strings mean "not set", as in csi-sanity.
    """

    endpoint: str = ""
    controller_endpoint: str = ""
    mount_dir: str = field(default_factory=lambda: str(Path(tempfile.gettempdir(), "csi-mount")))
    staging_dir: str = field(
        default_factory=lambda: str(Path(tempfile.gettempdir(), "csi-staging"))
    )
    create_mount_path_cmd: str = ""
    create_staging_path_cmd: str = ""
    create_path_cmd_timeout: float = 10.0
    remove_mount_path_cmd: str = ""
    remove_staging_path_cmd: str = ""
    remove_path_cmd_timeout: float = 10.0
    check_path_cmd: str = ""
    check_path_cmd_timeout: float = 10.0
    secrets_file: str = ""
    test_volume_size: int = 10 * GIB
    # 0 means csi-sanity's default: the test volume size plus 1 GiB.
    test_volume_expand_size: int = 0
    test_volume_access_type: str = "mount"
    test_volume_parameters_file: str = ""
    test_volume_mutable_parameters_file: str = ""
    test_snapshot_parameters_file: str = ""
    test_node_volume_attach_limit: bool = False
    idempotent_count: int = 10
    junit_file: str = ""
    # The harness's own settings (csi-sanity has no equivalent).
    json_report: str = ""
    connect_timeout: float = 30.0
    # Deadline of a single RPC; 0 waits forever as csi-sanity does. Ten minutes covers the
    # upstream FSx driver's own wait for a file system to become AVAILABLE.
    rpc_timeout: float = 600.0
    profile: str = "none"

    def validate(self) -> SanityConfig:
        """Raise ConfigError naming the first invalid setting; return self otherwise."""
        if not self.endpoint.strip():
            raise ConfigError(
                "--csi.endpoint must be provided with a CSI endpoint "
                "(for example unix:///var/lib/csi/csi.sock or 127.0.0.1:10000)"
            )
        for flag, value in (
            ("--csi.endpoint", self.endpoint),
            ("--csi.controllerendpoint", self.controller_endpoint),
        ):
            if value:
                problem = endpoint_problem(value)
                if problem:
                    raise ConfigError(f"{flag}={value!r}: {problem}")
        if self.test_volume_access_type.strip().lower() not in ACCESS_TYPES:
            raise ConfigError(
                f"--csi.testvolumeaccesstype={self.test_volume_access_type!r}: "
                "valid values are mount or block"
            )
        unknown = [name for name in self.profile.split(",") if name.strip() not in PROFILES]
        if unknown or not self.profile.strip():
            raise ConfigError(
                f"--csi.profile={self.profile!r}: valid values are none, fsx, strict, or "
                "fsx and strict together as strict,fsx"
            )
        if self.test_volume_size < 0:
            raise ConfigError(f"--csi.testvolumesize={self.test_volume_size}: must be >= 0")
        if self.test_volume_expand_size < 0:
            raise ConfigError(
                f"--csi.testvolumeexpandsize={self.test_volume_expand_size}: must be >= 0"
            )
        if self.idempotent_count < 0:
            raise ConfigError(
                f"--csi.idempotentcount={self.idempotent_count}: must be >= 0 (0 skips the "
                "idempotency cases)"
            )
        for flag, seconds in (
            ("--csi.createpathcmdtimeout", self.create_path_cmd_timeout),
            ("--csi.removepathcmdtimeout", self.remove_path_cmd_timeout),
            ("--csi.checkpathcmdtimeout", self.check_path_cmd_timeout),
            ("--csi.connecttimeout", self.connect_timeout),
        ):
            if seconds <= 0:
                raise ConfigError(f"{flag}={seconds}s: must be a positive duration")
        if self.rpc_timeout < 0:
            raise ConfigError(f"--csi.rpctimeout={self.rpc_timeout}s: must be >= 0")
        for flag, path in (
            ("--csi.secrets", self.secrets_file),
            ("--csi.testvolumeparameters", self.test_volume_parameters_file),
            ("--csi.testvolumemutableparameters", self.test_volume_mutable_parameters_file),
            ("--csi.testsnapshotparameters", self.test_snapshot_parameters_file),
        ):
            if path and not Path(path).is_file():
                raise ConfigError(f"{flag}={path!r}: no such file")
        for flag, path in (
            ("--csi.mountdir", self.mount_dir),
            ("--csi.stagingdir", self.staging_dir),
        ):
            if not path:
                raise ConfigError(f"{flag} must not be empty")
        return self

    @property
    def profiles(self) -> frozenset[str]:
        """The extra profiles switched on ("none" switches on nothing)."""
        return profile_names(self.profile)

    @property
    def access_type(self) -> str:
        return self.test_volume_access_type.strip().lower()

    @property
    def effective_expand_size(self) -> int:
        """csi-sanity's TestVolumeExpandSize: the configured size, else size + 1 GiB."""
        if self.test_volume_expand_size > 0:
            return self.test_volume_expand_size
        return self.test_volume_size + GIB

    def with_profile_defaults(self, explicitly_set: frozenset[str]) -> SanityConfig:
        """Apply the FSx profile's test sizes unless the user set them explicitly."""
        if "fsx" not in self.profiles:
            return self
        changes: dict[str, Any] = {}
        if "test_volume_size" not in explicitly_set:
            changes["test_volume_size"] = FSX_TEST_VOLUME_SIZE
        if "test_volume_expand_size" not in explicitly_set:
            changes["test_volume_expand_size"] = FSX_TEST_VOLUME_EXPAND_SIZE
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class CsiSecrets:
    """Secrets per RPC, keyed as in csi-sanity's secrets YAML; missing ones are empty."""

    by_name: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def get(self, name: str) -> dict[str, str]:
        if name not in SECRET_KEYS:
            raise KeyError(f"unknown CSI secret {name!r}; known: {', '.join(SECRET_KEYS)}")
        return dict(self.by_name.get(name, {}))


@dataclass(frozen=True)
class SanityInputs:
    """The contents of the files SanityConfig names."""

    volume_parameters: Mapping[str, str] = field(default_factory=dict)
    volume_mutable_parameters: Mapping[str, str] = field(default_factory=dict)
    snapshot_parameters: Mapping[str, str] = field(default_factory=dict)
    secrets: CsiSecrets = field(default_factory=CsiSecrets)


def _read_yaml_mapping(flag: str, path: str) -> Mapping[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{flag}={path!r}: cannot read it: {exc}") from exc
    try:
        # BaseLoader keeps every scalar a string, as Go's map[string]string decoding does:
        # `perUnitStorageThroughput: 200` must reach the driver as "200", not "200.0".
        data = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds no objects
    except yaml.YAMLError as exc:
        raise ConfigError(f"{flag}={path!r}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{flag}={path!r}: expected a YAML mapping of key: value, found {type(data).__name__}"
        )
    return data


def _string_map(flag: str, path: str, data: Mapping[str, Any], where: str = "") -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise ConfigError(
                f"{flag}={path!r}: {where}{key!r} must be a plain value, found a "
                f"{'mapping' if isinstance(value, dict) else 'list'}"
            )
        result[str(key)] = value
    return result


def load_inputs(config: SanityConfig) -> SanityInputs:
    """Read the YAML files the configuration names; raise ConfigError on any problem."""

    def params(flag: str, path: str) -> dict[str, str]:
        return _string_map(flag, path, _read_yaml_mapping(flag, path)) if path else {}

    secrets: dict[str, dict[str, str]] = {}
    if config.secrets_file:
        raw = _read_yaml_mapping("--csi.secrets", config.secrets_file)
        for name, value in raw.items():
            # Unknown names are ignored, as csi-sanity's YAML decoding ignores them, so a
            # secrets file written for a newer csi-sanity still works here.
            if name in SECRET_KEYS:
                if not isinstance(value, dict):
                    raise ConfigError(
                        f"--csi.secrets={config.secrets_file!r}: {name} must be a mapping of "
                        "secret key: value"
                    )
                secrets[name] = _string_map(
                    "--csi.secrets", config.secrets_file, value, where=f"{name}."
                )
    return SanityInputs(
        volume_parameters=params("--csi.testvolumeparameters", config.test_volume_parameters_file),
        volume_mutable_parameters=params(
            "--csi.testvolumemutableparameters", config.test_volume_mutable_parameters_file
        ),
        snapshot_parameters=params(
            "--csi.testsnapshotparameters", config.test_snapshot_parameters_file
        ),
        secrets=CsiSecrets(secrets),
    )


_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):\d{1,5}$")


def endpoint_problem(endpoint: str) -> str:
    """Why `endpoint` is not a usable CSI endpoint, or "" when it is."""
    if endpoint.startswith("unix:"):
        path = (
            endpoint.removeprefix("unix://")
            if endpoint.startswith("unix://")
            else (endpoint.removeprefix("unix:"))
        )
        if not path.startswith("/"):
            return "a unix endpoint needs an absolute socket path, as in unix:///run/csi.sock"
        return ""
    if endpoint.startswith("/"):
        return ""  # a bare socket path, as some drivers print it
    rest = endpoint.removeprefix("tcp://").removeprefix("dns:///")
    if _HOST_PORT.match(rest):
        return ""
    return "expected unix:///path/to.sock, /path/to.sock, host:port or tcp://host:port"


# --- flag parsing shared by the CLI and the pytest plugin --------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(flag: str, text: str) -> float:
    """Seconds from a Go duration ("10s", "1m30s", "500ms") or a plain number of seconds."""
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    if value and _DURATION_PART.sub("", value) == "":
        return sum(
            float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(value)
        )
    raise ConfigError(f"{flag}={text!r}: expected a duration such as 10s, 1m30s or 500ms")


_SIZE = re.compile(r"^(\d+)\s*(Ki|Mi|Gi|Ti)?$")
_SIZE_FACTORS = {None: 1, "": 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def parse_size(flag: str, text: str) -> int:
    """Bytes from an integer (as csi-sanity takes it) or a Kubernetes-style Ki/Mi/Gi/Ti size."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ConfigError(f"{flag}={text!r}: expected a number of bytes, or a size like 1200Gi")
    return int(match.group(1)) * _SIZE_FACTORS[match.group(2)]


def parse_bool(flag: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{flag}={text!r}: expected true or false")


def parse_int(flag: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ConfigError(f"{flag}={text!r}: expected an integer") from None


@dataclass(frozen=True)
class FlagSpec:
    """One `--csi.*` flag: its csi-sanity name, the SanityConfig field and its parser."""

    name: str
    field: str
    kind: str  # "str", "duration", "size", "bool", "int"
    help: str

    @property
    def flag(self) -> str:
        return f"--csi.{self.name}"

    @property
    def ini_key(self) -> str:
        return f"csi_{self.field}"

    def parse(self, raw: str) -> Any:
        if self.kind == "duration":
            return parse_duration(self.flag, raw)
        if self.kind == "size":
            return parse_size(self.flag, raw)
        if self.kind == "bool":
            return parse_bool(self.flag, raw)
        if self.kind == "int":
            return parse_int(self.flag, raw)
        return raw


# The flag table: csi-sanity's names and meanings, then the harness's additions.
FLAGS: tuple[FlagSpec, ...] = (
    FlagSpec("endpoint", "endpoint", "str", "CSI endpoint (unix:///path.sock or host:port)"),
    FlagSpec("controllerendpoint", "controller_endpoint", "str", "CSI controller endpoint"),
    FlagSpec("mountdir", "mount_dir", "str", "Mount point for NodePublish (parent directory)"),
    FlagSpec(
        "stagingdir", "staging_dir", "str", "Mount point for NodeStage if staging is supported"
    ),
    FlagSpec(
        "createmountpathcmd",
        "create_mount_path_cmd",
        "str",
        "Command to run for target path creation",
    ),
    FlagSpec(
        "createstagingpathcmd",
        "create_staging_path_cmd",
        "str",
        "Command to run for staging path creation",
    ),
    FlagSpec(
        "createpathcmdtimeout",
        "create_path_cmd_timeout",
        "duration",
        "Timeout for the commands to create target and staging paths",
    ),
    FlagSpec(
        "removemountpathcmd",
        "remove_mount_path_cmd",
        "str",
        "Command to run for target path removal",
    ),
    FlagSpec(
        "removestagingpathcmd",
        "remove_staging_path_cmd",
        "str",
        "Command to run for staging path removal",
    ),
    FlagSpec(
        "removepathcmdtimeout",
        "remove_path_cmd_timeout",
        "duration",
        "Timeout for the commands to remove target and staging paths",
    ),
    FlagSpec(
        "checkpathcmd",
        "check_path_cmd",
        "str",
        "Command to run to check a given path; it must print file, directory, not_found or other",
    ),
    FlagSpec(
        "checkpathcmdtimeout",
        "check_path_cmd_timeout",
        "duration",
        "Timeout for the command to check a given path",
    ),
    FlagSpec("secrets", "secrets_file", "str", "CSI secrets file (YAML, csi-sanity's format)"),
    FlagSpec(
        "testvolumeaccesstype",
        "test_volume_access_type",
        "str",
        "Volume capability access type: mount or block",
    ),
    FlagSpec(
        "testvolumesize",
        "test_volume_size",
        "size",
        "Base volume size used for provisioned volumes (bytes, or e.g. 1200Gi)",
    ),
    FlagSpec(
        "testvolumeexpandsize",
        "test_volume_expand_size",
        "size",
        "Target size for expanded volumes (default: test volume size + 1Gi)",
    ),
    FlagSpec(
        "testvolumeparameters",
        "test_volume_parameters_file",
        "str",
        "YAML file of volume parameters for provisioned volumes",
    ),
    FlagSpec(
        "testvolumemutableparameters",
        "test_volume_mutable_parameters_file",
        "str",
        "YAML file of mutable parameters for provisioned volumes",
    ),
    FlagSpec(
        "testsnapshotparameters",
        "test_snapshot_parameters_file",
        "str",
        "YAML file of snapshot parameters for provisioned snapshots",
    ),
    FlagSpec(
        "testnodevolumeattachlimit",
        "test_node_volume_attach_limit",
        "bool",
        "Test node volume attach limit",
    ),
    FlagSpec(
        "idempotentcount",
        "idempotent_count",
        "int",
        "Repeat count of volume operations in the idempotency cases (0 skips them)",
    ),
    FlagSpec(
        "junitfile", "junit_file", "str", "JUnit XML output file where test results will be written"
    ),
    FlagSpec(
        "jsonreport",
        "json_report",
        "str",
        "JSON result file (per test outcome, duration, message; leak report)",
    ),
    FlagSpec(
        "connecttimeout",
        "connect_timeout",
        "duration",
        "How long to wait for the driver's socket to accept a connection",
    ),
    FlagSpec(
        "rpctimeout", "rpc_timeout", "duration", "Deadline of one RPC (0: none, as csi-sanity)"
    ),
    FlagSpec(
        "profile",
        "profile",
        "str",
        "Extra checks: none; fsx (FSx for Lustre conformance); strict (CSI spec rules "
        "csi-sanity does not check); both as strict,fsx",
    ),
)

FLAGS_BY_FIELD = {spec.field: spec for spec in FLAGS}


def config_from_raw(raw: Mapping[str, str | bool | None]) -> SanityConfig:
    """Build and validate a SanityConfig from raw flag values keyed by SanityConfig field.

    Values that are None are unset and keep csi-sanity's defaults. Booleans pass through
    (store_true flags); strings are parsed by the flag's kind.
    """
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        spec = FLAGS_BY_FIELD.get(name)
        if spec is None:
            raise ConfigError(f"unknown sanity setting {name!r}")
        values[name] = value if isinstance(value, bool) else spec.parse(value)
    config = SanityConfig(**values)
    return config.with_profile_defaults(frozenset(values)).validate()
