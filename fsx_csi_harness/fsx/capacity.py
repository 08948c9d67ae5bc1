"""Storage capacity (GiB): the valid sizes of each configuration, and rounding up to them.

Source: the FSx for Lustre user guide, "Managing storage capacity".
"""

from __future__ import annotations

from dataclasses import dataclass

from fsx_csi_harness.fsx.values import (
    EFA_INCREMENT_GIB,
    DeploymentType,
    StorageType,
)


@dataclass(frozen=True)
class CapacityRule:
    """Valid storage capacities: an explicit list of small sizes, then multiples of a step."""

    small_sizes: tuple[int, ...]
    step: int

    def is_valid(self, gib: int) -> bool:
        return gib in self.small_sizes or (gib > 0 and gib % self.step == 0)

    def round_up(self, gib: int) -> int:
        """The smallest valid capacity that is at least `gib`."""
        for size in self.small_sizes:
            if gib <= size:
                return size
        steps = max(1, -(-gib // self.step))
        return steps * self.step

    def describe(self) -> str:
        small = ", ".join(str(s) for s in self.small_sizes)
        multiples = f"multiples of {self.step}"
        return f"{small}, then {multiples}" if small else multiples


# HDD capacity steps per per-unit throughput (PERSISTENT_1 HDD).
HDD_INCREMENT_GIB: dict[int, int] = {12: 6000, 40: 1800}


def capacity_rule(
    deployment: DeploymentType,
    storage: StorageType = StorageType.SSD,
    per_unit_throughput: int | None = None,
    efa_enabled: bool = False,
) -> CapacityRule:
    """The storage capacity rule (GiB) for a file system configuration.

    Raises ValueError for combinations that have no rule (for example HDD without a
    per-unit throughput); callers validate the combination first (configuration_problem).
    """
    if not storage.has_storage_capacity:
        raise ValueError(f"{storage} file systems have no storage capacity to choose")
    if storage is StorageType.HDD:
        if per_unit_throughput not in HDD_INCREMENT_GIB:
            raise ValueError(
                "HDD storage needs PerUnitStorageThroughput "
                + " or ".join(str(t) for t in HDD_INCREMENT_GIB)
            )
        return CapacityRule((), HDD_INCREMENT_GIB[per_unit_throughput])
    if deployment is DeploymentType.SCRATCH_1:
        return CapacityRule((1200, 2400), 3600)
    if deployment is DeploymentType.PERSISTENT_2 and efa_enabled:
        if per_unit_throughput not in EFA_INCREMENT_GIB:
            raise ValueError(
                "EFA needs PerUnitStorageThroughput " + ", ".join(str(t) for t in EFA_INCREMENT_GIB)
            )
        return CapacityRule((), EFA_INCREMENT_GIB[per_unit_throughput])
    return CapacityRule((1200,), 2400)
