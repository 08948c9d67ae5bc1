"""Amazon FSx for Lustre rules, in one place.

The FSx emulator validates requests with these rules, the reference driver rounds capacity
with them, the sanity FSx profile derives its expectations from them and the throughput
report computes expected figures from them. Sources: the FSx for Lustre user guide
("Managing storage capacity", "Performance") and the CreateFileSystem API reference; see
../shared/FSX_FACTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GIB = 1024**3
TIB_IN_GIB = 1024


class DeploymentType(StrEnum):
    SCRATCH_1 = "SCRATCH_1"
    SCRATCH_2 = "SCRATCH_2"
    PERSISTENT_1 = "PERSISTENT_1"
    PERSISTENT_2 = "PERSISTENT_2"

    @property
    def is_persistent(self) -> bool:
        return self in (DeploymentType.PERSISTENT_1, DeploymentType.PERSISTENT_2)


class StorageType(StrEnum):
    SSD = "SSD"
    HDD = "HDD"


class DriveCacheType(StrEnum):
    NONE = "NONE"
    READ = "READ"


# The API's default when LustreConfiguration.DeploymentType is omitted.
DEFAULT_DEPLOYMENT_TYPE = DeploymentType.SCRATCH_1
DEFAULT_STORAGE_TYPE = StorageType.SSD
# CSI: no capacity range means the smallest FSx for Lustre file system.
DEFAULT_CAPACITY_GIB = 1200

# PerUnitStorageThroughput (MB/s per TiB) that each deployment and storage type accepts.
# Scratch file systems take none.
PER_UNIT_THROUGHPUT: dict[tuple[DeploymentType, StorageType], tuple[int, ...]] = {
    (DeploymentType.PERSISTENT_1, StorageType.SSD): (50, 100, 200),
    (DeploymentType.PERSISTENT_1, StorageType.HDD): (12, 40),
    (DeploymentType.PERSISTENT_2, StorageType.SSD): (125, 250, 500, 1000),
}

# PERSISTENT_2 with EFA: capacity increment per per-unit throughput.
EFA_INCREMENT_GIB: dict[int, int] = {125: 38400, 250: 19200, 500: 9600, 1000: 4800}

# A file system id: "fs-" and 17 hex digits (8 for file systems from before 2018).
FILE_SYSTEM_ID_PATTERN = r"fs-[0-9a-f]{8,17}"

# Versions of Lustre that FileSystemTypeVersion accepts.
LUSTRE_VERSIONS = ("2.10", "2.12", "2.15")


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


def capacity_rule(
    deployment: DeploymentType,
    storage: StorageType = StorageType.SSD,
    per_unit_throughput: int | None = None,
    efa_enabled: bool = False,
) -> CapacityRule:
    """The storage capacity rule (GiB) for a file system configuration.

    Raises ValueError for combinations that have no rule (for example HDD without a
    per-unit throughput); callers validate the combination first.
    """
    if storage is StorageType.HDD:
        if per_unit_throughput == 12:
            return CapacityRule((), 6000)
        if per_unit_throughput == 40:
            return CapacityRule((), 1800)
        raise ValueError("HDD storage needs PerUnitStorageThroughput 12 or 40")
    if deployment is DeploymentType.SCRATCH_1:
        return CapacityRule((1200, 2400), 3600)
    if deployment is DeploymentType.PERSISTENT_2 and efa_enabled:
        if per_unit_throughput not in EFA_INCREMENT_GIB:
            raise ValueError("EFA needs PerUnitStorageThroughput 125, 250, 500 or 1000")
        return CapacityRule((), EFA_INCREMENT_GIB[per_unit_throughput])
    return CapacityRule((1200,), 2400)


def expected_throughput_mbps(
    deployment: DeploymentType, capacity_gib: int, per_unit_throughput: int | None
) -> float:
    """Baseline aggregate throughput (MB/s) of a file system: storage TiB x per-unit rate.

    SCRATCH_2 has a 200 MB/s/TiB baseline; SCRATCH_1 is documented at 200 MB/s/TiB too.
    """
    tib = capacity_gib / TIB_IN_GIB
    if deployment.is_persistent:
        if per_unit_throughput is None:
            raise ValueError("persistent file systems have a per-unit throughput")
        return tib * per_unit_throughput
    return tib * 200


# Burst network throughput per TiB where AWS documents one (FSX_FACTS.md).
BURST_MBPS_PER_TIB: dict[tuple[DeploymentType, int | None], int] = {
    (DeploymentType.SCRATCH_2, None): 1300,
    (DeploymentType.PERSISTENT_2, 125): 1300,
    (DeploymentType.PERSISTENT_2, 250): 1300,
}
