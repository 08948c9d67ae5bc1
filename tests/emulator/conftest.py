"""Fixtures: one emulator per test module (short delays), reset before every test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from fsx_emulator import EmulatorConfig, EmulatorServer

SUBNET = "subnet-0123456789abcdef0"
FAST = EmulatorConfig(creation_delay=0.1, deletion_delay=0.5, update_delay=0.05)


def make_client(endpoint_url: str, attempts: int = 3) -> Any:
    """A boto3 FSx client; `attempts` counts the first try (1: botocore never retries)."""
    return boto3.client(
        "fsx",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
    )


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(FAST) as emu:
        yield emu


@pytest.fixture
def emu(server: EmulatorServer) -> EmulatorServer:
    server.control.reset()
    return server


@pytest.fixture
def fsx(emu: EmulatorServer) -> Any:
    return make_client(emu.endpoint_url)


def lustre_request(**overrides: Any) -> dict[str, Any]:
    """A valid CreateFileSystem request (PERSISTENT_2, 1200 GiB); overrides replace keys."""
    request: dict[str, Any] = {
        "FileSystemType": "LUSTRE",
        "StorageCapacity": 1200,
        "SubnetIds": [SUBNET],
        "LustreConfiguration": {"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 125},
    }
    request.update(overrides)
    return request


def create(fsx: Any, **overrides: Any) -> dict[str, Any]:
    file_system: dict[str, Any] = fsx.create_file_system(**lustre_request(**overrides))[
        "FileSystem"
    ]
    return file_system


def describe(fsx: Any, file_system_id: str) -> dict[str, Any]:
    file_system: dict[str, Any] = fsx.describe_file_systems(FileSystemIds=[file_system_id])[
        "FileSystems"
    ][0]
    return file_system


def wait_for(
    what: str, probe: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 5.0
) -> Any:
    """Poll `probe` until `done(value)`; on timeout say what was awaited and the last value."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def wait_lifecycle(fsx: Any, file_system_id: str, lifecycle: str, timeout: float = 5.0) -> Any:
    return wait_for(
        f"{file_system_id} to be {lifecycle}",
        lambda: describe(fsx, file_system_id),
        lambda fs: fs["Lifecycle"] == lifecycle,
        timeout,
    )
