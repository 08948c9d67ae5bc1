"""The expected FSx figures come from what DescribeFileSystems says was created (the emulator
answers the same fields as FSx), read by the rules table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from e2e.platforms import manifests
from e2e.platforms.kube.fsx_access import boto3_fsx_client
from e2e.throughput.expected import (
    describe_expected,
    describe_in_cluster,
    expected_from_description,
)
from fsx_emulator import EmulatorConfig, EmulatorServer
from tests.emulator.conftest import make_client

SUBNET = "subnet-0123456789abcdef0"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(creation_delay=0.0)) as emulator:
        yield emulator


@pytest.fixture
def fsx(server: EmulatorServer) -> Any:
    return make_client(server.endpoint_url)


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
    # 2400 GiB = 2.34375 TiB: 200 MB/s/TiB baseline, 1300 burst.
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


def test_on_a_cluster_the_in_cluster_emulator_is_asked_through_its_service(
    server: EmulatorServer, fsx: Any
) -> None:
    file_system_id = created(fsx, 1200, DeploymentType="SCRATCH_2")
    forwarded: list[tuple[Path | None, str, str, int]] = []

    @contextmanager
    def port_forward(
        kubeconfig: Path | None, namespace: str, service: str, port: int
    ) -> Iterator[str]:
        # Where kubectl port-forward would lead: the emulator's Service; here, the emulator.
        forwarded.append((kubeconfig, namespace, service, port))
        yield server.endpoint_url

    expected, why_not = describe_in_cluster(
        file_system_id, False, Path("kubeconfig"), "us-east-1", port_forward, boto3_fsx_client
    )
    assert why_not is None and expected is not None
    assert expected.file_system_id == file_system_id and expected.baseline_mbps == 234.4
    service = (manifests.DRIVER_NAMESPACE, manifests.EMULATOR_SERVICE, manifests.EMULATOR_PORT)
    assert forwarded == [(Path("kubeconfig"), *service)]


def test_an_unreachable_in_cluster_emulator_costs_only_the_baseline() -> None:
    @contextmanager
    def broken(kubeconfig: Path | None, namespace: str, service: str, port: int) -> Iterator[str]:
        raise RuntimeError("kubectl port-forward: service/fsx-emulator has no ready pod")
        yield ""  # pragma: no cover

    expected, why_not = describe_in_cluster("fs-1", False, None, "us-east-1", broken)
    assert expected is None and why_not is not None and "no ready pod" in why_not
