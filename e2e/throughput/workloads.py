"""The throughput workloads: what is measured, with which block size, on how much data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

# Data workloads of one target share this file, so fio lays it out once (by the sequential
# write) and the reads and random workloads reuse it.
DATA_FILE = "fsx-csi-throughput.dat"


class Kind(StrEnum):
    SEQ_WRITE = "seq-write"
    SEQ_READ = "seq-read"
    RAND_READ = "rand-read"
    RAND_WRITE = "rand-write"
    METADATA = "metadata"

    @property
    def is_write(self) -> bool:
        return self in (Kind.SEQ_WRITE, Kind.RAND_WRITE)

    @property
    def fio_rw(self) -> str:
        return {
            Kind.SEQ_WRITE: "write",
            Kind.SEQ_READ: "read",
            Kind.RAND_READ: "randread",
            Kind.RAND_WRITE: "randwrite",
        }[self]

    @property
    def metric(self) -> str:
        if self in (Kind.SEQ_WRITE, Kind.SEQ_READ):
            return "bandwidth"
        if self is Kind.METADATA:
            return "ops"
        return "iops"


UNITS = {"bandwidth": "MB/s", "iops": "IOPS", "ops": "ops/s"}


@dataclass(frozen=True)
class Workload:
    kind: Kind
    block_size: int
    size_bytes: int
    # Random workloads stop after this long even if `size_bytes` is not done, so a slow disk
    # bounds the run time instead of stretching it.
    time_cap_s: float | None = None
    # Metadata workload: files created, stat'ed and deleted.
    files: int = 0
    # Sequential workloads go over their file again and again for this long: one pass of a
    # CI-sized file takes tens of milliseconds on a fast disk, too short to measure reliably.
    loop_for_s: float | None = None

    @property
    def name(self) -> str:
        return self.kind.value

    @property
    def metric(self) -> str:
        return self.kind.metric

    @property
    def unit(self) -> str:
        return UNITS[self.kind.metric]

    def describe(self) -> str:
        if self.kind is Kind.METADATA:
            return f"{self.name}: create, stat and delete {self.files} files"
        cap = f", at most {self.time_cap_s:g} s" if self.time_cap_s else ""
        if self.loop_for_s:
            cap = f", repeated for {self.loop_for_s:g} s"
        return (
            f"{self.name}: {format_size(self.size_bytes)} in {format_size(self.block_size)} "
            f"blocks{cap}"
        )


@dataclass(frozen=True)
class WorkloadPlan:
    """Sizes that keep a CI run short; `--size` and friends scale them."""

    size_bytes: int = 64 * MIB
    random_time_cap_s: float = 1.0
    sequential_seconds: float = 1.0
    metadata_files: int = 500

    def single_client(self) -> list[Workload]:
        loop = self.sequential_seconds or None
        return [
            Workload(Kind.SEQ_WRITE, MIB, self.size_bytes, loop_for_s=loop),
            Workload(Kind.SEQ_READ, MIB, self.size_bytes, loop_for_s=loop),
            Workload(Kind.RAND_READ, 4 * KIB, self.size_bytes, self.random_time_cap_s),
            Workload(Kind.RAND_WRITE, 4 * KIB, self.size_bytes, self.random_time_cap_s),
            Workload(Kind.METADATA, 0, 0, files=self.metadata_files),
        ]

    def multi_client(self) -> list[Workload]:
        loop = self.sequential_seconds or None
        return [
            Workload(Kind.SEQ_WRITE, MIB, self.size_bytes, loop_for_s=loop),
            Workload(Kind.SEQ_READ, MIB, self.size_bytes, loop_for_s=loop),
        ]


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB])?\s*$")


def parse_size(text: str) -> int:
    """'64M', '64MiB', '1G', '4096' -> bytes (binary units, as fio reads them)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"expected a size such as 64M, 256MiB or 1G, saw {text!r}")
    number, unit = float(match.group(1)), match.group(2).upper()
    factor = {"": 1, "K": KIB, "M": MIB, "G": GIB}[unit]
    value = int(number * factor)
    if value < MIB:
        raise ValueError(f"a workload size below 1 MiB measures nothing useful, saw {text!r}")
    return value


def format_size(value: int) -> str:
    for unit, factor in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if value >= factor and value % factor == 0:
            return f"{value // factor} {unit}"
    return f"{value} B"
