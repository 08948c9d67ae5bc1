"""`--aws emulated|real`: one meaning on `fsx-csi e2e`, `throughput` and `qualify`.

emulated (the default): the FSx API is an emulator (embedded, in-cluster, or
`--aws-endpoint-url`) and Lustre is emulated; nothing is created in an AWS account.
real: the driver under test creates real file systems in the account the boto3 default
credential chain finds, in the subnet and security groups of the `--aws-settings` file.

The flag alone decides; the settings file never turns a run real behind the user's back, and a
real run is refused before anything starts when it lacks what it needs. Standard library only at
import time (boto3 only when credentials are checked).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Final

AWS_MODES: Final = ("emulated", "real")
EXAMPLE_SETTINGS: Final = "fixtures/aws-settings/example.yaml"


def add_aws_arguments(group: argparse._ActionsContainer) -> None:
    """`--aws` and `--aws-settings`, worded alike on e2e, throughput and qualify."""
    group.add_argument(
        "--aws",
        choices=AWS_MODES,
        default="emulated",
        help="emulated (default): an FSx API emulator and emulated Lustre; real: real file "
        "systems in your account (kind/cluster; needs AWS credentials and --aws-settings)",
    )
    group.add_argument(
        "--aws-settings",
        type=Path,
        metavar="PATH",
        help="with --aws real: the settings file (region, subnet, security groups, deployment "
        f"type; example: {EXAMPLE_SETTINGS})",
    )


def default_credentials_present() -> bool:
    """Whether boto3's default credential chain finds credentials (env, files, SSO, IMDS)."""
    import boto3

    return boto3.Session().get_credentials() is not None


def aws_mode_problem(
    mode: str,
    settings: Path | None,
    platform: str,
    credentials_present: Callable[[], bool] = default_credentials_present,
) -> str | None:
    """What stops a run in AWS mode `mode` (None: nothing), checked before anything starts."""
    from fsx_csi_harness.aws_settings import AwsSettingsError, load_aws_settings

    if mode not in AWS_MODES:
        return f"--aws: expected one of {', '.join(AWS_MODES)}, seen {mode!r}"
    if mode == "emulated":
        if settings is not None:
            return (
                f"--aws-settings {settings} is where a real-AWS run creates its file systems, "
                "and this run is --aws emulated (the default): add --aws real to use real AWS, "
                "or drop --aws-settings"
            )
        return None
    if platform == "local":
        return (
            "--aws real needs --platform kind or cluster: the local platform emulates Lustre "
            "mounts, which real file systems cannot be"
        )
    if settings is None:
        return (
            f"--aws real needs --aws-settings PATH (region, subnet, security groups): copy "
            f"{EXAMPLE_SETTINGS} and fill it in"
        )
    try:
        load_aws_settings(settings)
    except AwsSettingsError as exc:
        return f"--aws-settings: {exc}"
    if not credentials_present():
        return (
            "--aws real needs AWS credentials, and boto3's default credential chain found none: "
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`"
        )
    return None
