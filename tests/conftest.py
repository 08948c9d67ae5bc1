"""Fixtures shared across the test packages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from fsx_emulator.config import EmulatorConfig
from fsx_emulator.server import EmulatorServer


@pytest.fixture
def emulator() -> Iterator[Any]:
    """A boto3 FSx client on an FSx emulator with no lifecycle delays: the AWS side of the
    kube platforms' runs against the fake Kubernetes API (tests/e2e/fake_kube.py). Packages
    that need another emulator define their own `emulator`, which pytest prefers."""
    config = EmulatorConfig(creation_delay=0.0, deletion_delay=0.0, update_delay=0.0)
    with EmulatorServer(config) as server:
        yield boto3.client(
            "fsx",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="emulated",
            aws_secret_access_key="emulated",
        )
