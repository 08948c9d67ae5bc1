"""The real-AWS settings file (`--aws-settings PATH`): where a run may create file systems.

One loader for every command that takes the file (`fsx-csi e2e`, `throughput`, `qualify`), and
it validates: an unknown key, a missing required key or a value of the wrong type is an
`AwsSettingsError` that names the file and the key, says what was expected and what was seen.
The example, with every key explained, is fixtures/aws-settings/example.yaml.

Not to be confused with an AWS *profile* (`AWS_PROFILE`, ~/.aws/config): credentials come from
boto3's default chain as always; this file only says which subnet, security groups and
file-system settings the run's StorageClasses use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PROVISIONING_TIMEOUT_S = 1200.0

# key -> what it holds, for the error that lists the known keys.
KEYS = {
    "region": "the AWS region of the file systems, such as us-east-1",
    "storageClassParameters": "StorageClass parameters merged into every scenario's (subnetId "
    "required; usually securityGroupIds and deploymentType)",
    "provisioningTimeoutSeconds": "how long a file system may take to become AVAILABLE",
    "extraTags": "tags added to every file system the run creates",
}
REQUIRED_PARAMETER = "subnetId"


class AwsSettingsError(ValueError):
    """An AWS settings file that cannot be used: names the file, the key, expected and seen."""


@dataclass(frozen=True)
class AwsSettings:
    region: str
    storage_class_parameters: Mapping[str, str]
    provisioning_timeout_s: float = DEFAULT_PROVISIONING_TIMEOUT_S
    extra_tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def subnet_id(self) -> str | None:
        return self.storage_class_parameters.get("subnetId")

    @property
    def security_group_ids(self) -> tuple[str, ...] | None:
        value = self.storage_class_parameters.get("securityGroupIds")
        return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None

    def storage_class_defaults(self) -> dict[str, str]:
        """The StorageClass parameters, with the extra tags folded into `extraTags` (k=v,...)."""
        defaults = dict(self.storage_class_parameters)
        if self.extra_tags:
            tags = ",".join(f"{k}={v}" for k, v in self.extra_tags.items())
            existing = defaults.get("extraTags", "").strip(",")
            defaults["extraTags"] = f"{existing},{tags}" if existing else tags
        return defaults


def load_aws_settings(path: Path) -> AwsSettings:
    """Read and validate the settings file at `path`."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AwsSettingsError(
            f"{path}: cannot read the AWS settings file: {exc.strerror or exc}"
        ) from exc
    except yaml.YAMLError as exc:
        raise AwsSettingsError(f"{path}: not valid YAML: {exc}") from exc
    return parse_aws_settings(data, str(path))


def parse_aws_settings(data: Any, source: str) -> AwsSettings:
    """Validate the settings already parsed from YAML; `source` names them in errors."""
    if not isinstance(data, Mapping):
        raise AwsSettingsError(
            f"{source}: expected a mapping of {', '.join(KEYS)}, seen {type(data).__name__}"
        )
    unknown = sorted(str(key) for key in data if key not in KEYS)
    if unknown:
        known = "; ".join(f"{key}: {meaning}" for key, meaning in KEYS.items())
        raise AwsSettingsError(
            f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {known}"
        )
    region = data.get("region")
    if not isinstance(region, str) or not region.strip():
        raise AwsSettingsError(
            f"{source}: region: expected an AWS region such as us-east-1, seen {region!r}"
        )
    parameters = _string_map(data.get("storageClassParameters"), "storageClassParameters", source)
    if REQUIRED_PARAMETER not in parameters:
        raise AwsSettingsError(
            f"{source}: storageClassParameters: expected at least {REQUIRED_PARAMETER} (and "
            f"usually securityGroupIds), seen {sorted(parameters) or 'none'}"
        )
    timeout = data.get("provisioningTimeoutSeconds", DEFAULT_PROVISIONING_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise AwsSettingsError(
            f"{source}: provisioningTimeoutSeconds: expected a number of seconds above 0, "
            f"seen {timeout!r}"
        )
    extra_tags = data.get("extraTags")
    return AwsSettings(
        region=region.strip(),
        storage_class_parameters=parameters,
        provisioning_timeout_s=float(timeout),
        extra_tags=_string_map(extra_tags, "extraTags", source) if extra_tags is not None else {},
    )


def _string_map(value: Any, key: str, source: str) -> dict[str, str]:
    """A mapping of scalars as the strings Kubernetes passes on (booleans as true/false)."""
    if not isinstance(value, Mapping):
        raise AwsSettingsError(f"{source}: {key}: expected a mapping, seen {value!r}")
    result: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, bool):
            result[str(name)] = "true" if item else "false"
        elif isinstance(item, str | int | float):
            result[str(name)] = str(item)
        else:
            raise AwsSettingsError(
                f"{source}: {key}.{name}: expected a string, number or boolean, seen {item!r}"
            )
    return result
