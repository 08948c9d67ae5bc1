"""The real-AWS settings file: one validating loader, one flag name (--aws-settings) everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fsx_csi_harness.aws_settings import AwsSettingsError, load_aws_settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "fixtures/aws-settings/example.yaml"


def test_the_example_file_loads_with_every_key() -> None:
    settings = load_aws_settings(EXAMPLE)
    assert settings.region == "us-east-1"
    assert settings.subnet_id == "subnet-0123456789abcdef0"
    assert settings.security_group_ids == ("sg-0123456789abcdef0",)
    assert settings.provisioning_timeout_s == 1200.0
    # The extra tags travel in extraTags, beside the run tags the harness adds.
    assert settings.storage_class_defaults()["extraTags"] == "owner=fsx-csi-harness"


def test_scalars_become_the_strings_kubernetes_passes_on(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "region: eu-west-1\n"
        "storageClassParameters:\n"
        "  subnetId: subnet-1\n"
        "  perUnitStorageThroughput: 250\n"
        "  efaEnabled: true\n"
        "provisioningTimeoutSeconds: 90\n"
    )
    settings = load_aws_settings(path)
    assert dict(settings.storage_class_parameters) == {
        "subnetId": "subnet-1",
        "perUnitStorageThroughput": "250",
        "efaEnabled": "true",
    }
    assert settings.provisioning_timeout_s == 90.0 and settings.extra_tags == {}


# The smallest valid file; each case below adds or breaks one thing.
VALID = "region: r\nstorageClassParameters: {subnetId: s}\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (VALID + "subnet: x\n", "unknown key(s) subnet"),
        ("storageClassParameters: {subnetId: s}\n", "region: expected an AWS region"),
        ("region: 5\nstorageClassParameters: {subnetId: s}\n", "region: expected an AWS region"),
        ("region: r\n", "storageClassParameters: expected a mapping, seen None"),
        ("region: r\nstorageClassParameters: {a: b}\n", "expected at least subnetId"),
        (
            "region: r\nstorageClassParameters: {subnetId: s, securityGroupIds: [a, b]}\n",
            "storageClassParameters.securityGroupIds: expected a string",
        ),
        (VALID + "provisioningTimeoutSeconds: soon\n", "provisioningTimeoutSeconds: expected"),
        (VALID + "provisioningTimeoutSeconds: true\n", "provisioningTimeoutSeconds: expected"),
        (VALID + "provisioningTimeoutSeconds: 0\n", "provisioningTimeoutSeconds: expected"),
        (VALID + "extraTags: [a]\n", "extraTags: expected a mapping"),
        ("- region\n", "expected a mapping of region"),
        ("region: [unclosed\n", "not valid YAML"),
    ],
)
def test_every_problem_names_the_file_and_the_key(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(content)
    with pytest.raises(AwsSettingsError) as raised:
        load_aws_settings(path)
    assert str(raised.value).startswith(f"{path}: ") and expected in str(raised.value)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(AwsSettingsError, match="cannot read the AWS settings file"):
        load_aws_settings(tmp_path / "absent.yaml")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


@pytest.mark.parametrize("command", ["e2e", "throughput", "qualify"])
def test_every_command_that_takes_the_file_calls_it_aws_settings(command: str) -> None:
    help_text = run_cli(command, "--help").stdout
    assert "--aws-settings PATH" in help_text
    # No alias: --profile is the sanity suite's flag only (a sanity profile: none, fsx, ...).
    assert "--profile" not in help_text.replace("--sanity-profile", "")
    refused = run_cli(command, "--profile", str(EXAMPLE))
    assert refused.returncode == 2 and "unrecognized arguments: --profile" in refused.stderr


def test_sanity_keeps_profile_for_sanity_profiles() -> None:
    assert "--profile" in run_cli("sanity", "--help").stdout


@pytest.mark.parametrize("command", ["throughput", "qualify"])
def test_a_bad_settings_file_stops_the_run_before_any_suite(tmp_path: Path, command: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("region: us-east-1\nstorageClassParameters: {subnetId: s}\nsubnetID: typo\n")
    reports = tmp_path / "reports"
    # The settings file is read for real AWS only (--aws emulated with a settings file is
    # refused on its own); dummy credentials get past the credentials check to the file's.
    credentials = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example"}
    result = run_cli(
        command, "--platform", "cluster", "--aws", "real", "--aws-settings", str(bad),
        "--report-dir", str(reports), env={**os.environ, **credentials},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "--aws-settings:" in result.stderr and "unknown key(s) subnetID" in result.stderr
    assert not reports.exists()
