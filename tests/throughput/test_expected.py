"""The expected FSx figures come from what DescribeFileSystems says was created (the emulator
answers the same fields as FSx), read by the rules table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from e2e.throughput.expected import describe_expected, expected_from_description
from fsx_emulator import EmulatorConfig, EmulatorServer
from tests.emulator.conftest import make_client

SUBNET = "subnet-0123456789abcdef0"


@pytest.fixture(scope="module")
def fsx() -> Iterator[Any]:
    with EmulatorServer(EmulatorConfig(creation_delay=0.0)) as server:
        yield make_client(server.endpoint_url)


def created(fsx: Any, capacity: int, **lustre: Any) -> str:
    answer = fsx.create_file_system(
        FileSystemType="LUSTRE",
        StorageCapacity=capacity,
        SubnetIds=[SUBNET],
        LustreConfiguration=lustre,
    )
    return str(answer["FileSystem"]["FileSystemId"])


def test_scratch_2_baseline_and_burst_come_from_the_created_file_system(fsx: Any) -> None:
    file_system_id = created(fsx, 2400, DeploymentType="SCRATCH_2")
    expected, why_not = describe_expected(fsx, file_system_id)
    assert why_not is None and expected is not None
    # 2400 GiB = 2.34375 TiB: 200 MB/s/TiB baseline, 1300 burst (FSX_FACTS.md, "Throughput").
    assert expected.baseline_mbps == pytest.approx(468.8, abs=0.1)
    assert expected.burst_mbps == pytest.approx(3046.9, abs=0.1)
    assert (expected.file_system_id, expected.deployment_type) == (file_system_id, "SCRATCH_2")
    assert expected.source == "DescribeFileSystems" and expected.storage_type == "SSD"


def test_persistent_2_uses_the_per_unit_throughput_fsx_reports(fsx: Any) -> None:
    file_system_id = created(fsx, 1200, DeploymentType="PERSISTENT_2", PerUnitStorageThroughput=250)
    expected, _ = describe_expected(fsx, file_system_id)
    assert expected is not None
    assert (expected.per_unit_throughput, expected.capacity_gib) == (250, 1200)
    assert expected.baseline_mbps == pytest.approx(1200 / 1024 * 250, abs=0.1)
    assert expected.burst_mbps == pytest.approx(1200 / 1024 * 1300, abs=0.1)


def test_what_fsx_created_wins_over_what_was_asked_for() -> None:
    # A StorageClass may say nothing of the per-unit throughput; the answer always does.
    answer = {
        "FileSystemId": "fs-0123456789abcdef0",
        "StorageCapacity": 4800,
        "StorageType": "SSD",
        "LustreConfiguration": {"DeploymentType": "PERSISTENT_1", "PerUnitStorageThroughput": 50},
    }
    expected = expected_from_description(answer)
    assert expected.baseline_mbps == pytest.approx(4800 / 1024 * 50, abs=0.1)
    assert expected.burst_mbps is None


def test_an_unknown_file_system_gives_a_note_not_a_crash(fsx: Any) -> None:
    expected, why_not = describe_expected(fsx, "fs-00000000000000000")
    assert expected is None
    assert why_not is not None and "fs-00000000000000000" in why_not
    assert "FileSystemNotFound" in why_not
