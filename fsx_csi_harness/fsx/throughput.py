"""Throughput a file system should deliver (what a throughput report compares against).

Source: the FSx for Lustre user guide, "Performance" (FSX_FACTS.md, "Throughput").
"""

from __future__ import annotations

from fsx_csi_harness.fsx.values import TIB_IN_GIB, DeploymentType

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
