"""Throughput a file system should deliver (what a throughput report compares against).

Source: the FSx for Lustre user guide, "Performance".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fsx_csi_harness.fsx.values import TIB_IN_GIB, DeploymentType, StorageType

# Scratch file systems have a fixed baseline: 200 MB/s per TiB (SCRATCH_1 is documented at
# 200 MB/s/TiB too).
SCRATCH_BASELINE_MBPS_PER_TIB = 200

# Burst network throughput per TiB where AWS documents one.
BURST_MBPS_PER_TIB: dict[tuple[DeploymentType, int | None], int] = {
    (DeploymentType.SCRATCH_2, None): 1300,
    (DeploymentType.PERSISTENT_2, 125): 1300,
    (DeploymentType.PERSISTENT_2, 250): 1300,
}


def expected_throughput_mbps(
    deployment: DeploymentType, capacity_gib: int, per_unit_throughput: int | None
) -> float:
    """Baseline aggregate throughput (MB/s) of a file system: storage TiB x per-unit rate."""
    tib = capacity_gib / TIB_IN_GIB
    if deployment.is_persistent:
        if per_unit_throughput is None:
            raise ValueError("persistent file systems have a per-unit throughput")
        return tib * per_unit_throughput
    return tib * SCRATCH_BASELINE_MBPS_PER_TIB


def burst_throughput_mbps(
    deployment: DeploymentType, capacity_gib: int, per_unit_throughput: int | None
) -> float | None:
    """Burst aggregate throughput (MB/s) where AWS documents one, else None."""
    key = (deployment, None if not deployment.is_persistent else per_unit_throughput)
    rate = BURST_MBPS_PER_TIB.get(key)
    return None if rate is None else rate * capacity_gib / TIB_IN_GIB


@dataclass(frozen=True)
class FileSystemThroughput:
    """What a file system should deliver, from what FSx says it created."""

    file_system_id: str
    deployment_type: DeploymentType
    storage_type: StorageType
    # 0 for INTELLIGENT_TIERING, which has no StorageCapacity (it is elastic).
    capacity_gib: int
    per_unit_throughput: int | None
    baseline_mbps: float
    burst_mbps: float | None


def throughput_of(file_system: Mapping[str, Any]) -> FileSystemThroughput:
    """Baseline and burst of one DescribeFileSystems entry (real FSx or the emulator, which
    answers the same fields): its deployment type, storage type, per-unit throughput (or, for
    INTELLIGENT_TIERING, its ThroughputCapacity) and capacity. Raises ValueError naming the
    field that is missing or unknown."""
    lustre = file_system.get("LustreConfiguration") or {}
    try:
        deployment = DeploymentType(lustre["DeploymentType"])
        storage = StorageType(file_system.get("StorageType", StorageType.SSD.value))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"DescribeFileSystems entry without a known {exc}") from None
    identifier = str(file_system.get("FileSystemId", "unknown"))
    if storage is StorageType.INTELLIGENT_TIERING:
        capacity = lustre.get("ThroughputCapacity")
        if not isinstance(capacity, int):
            raise ValueError("INTELLIGENT_TIERING file system without a ThroughputCapacity")
        return FileSystemThroughput(identifier, deployment, storage, 0, None, float(capacity), None)
    gib = file_system.get("StorageCapacity")
    if not isinstance(gib, int) or gib <= 0:
        raise ValueError(f"DescribeFileSystems entry without a StorageCapacity: {gib!r}")
    per_unit = lustre.get("PerUnitStorageThroughput")
    per_unit = int(per_unit) if per_unit is not None else None
    burst = burst_throughput_mbps(deployment, gib, per_unit)
    return FileSystemThroughput(
        file_system_id=identifier,
        deployment_type=deployment,
        storage_type=storage,
        capacity_gib=gib,
        per_unit_throughput=per_unit,
        baseline_mbps=expected_throughput_mbps(deployment, gib, per_unit),
        burst_mbps=burst,
    )
