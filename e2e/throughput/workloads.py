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
    # The file the data workloads go over (again and again, for `runtime_s`).
    size_bytes: int
    # Data workloads are time-based (fio's time_based): they go over their file until
    # `runtime_s` is up, after `ramp_s` of warm-up whose I/O is not counted. A size-bounded run
    # of a CI-sized file lasts tens of milliseconds on a fast disk (a random write of 64 MiB
    # took 125 ms, and its IOPS snapped to size/block/time): too short to measure anything.
    # None: one pass over the file, however long it takes.
    runtime_s: float | None = None
    ramp_s: float = 0.0
    # Metadata workload: files created, stat'ed and deleted.
    files: int = 0

    @property
    def name(self) -> str:
        return self.kind.value

    @property
    def metric(self) -> str:
        return self.kind.metric

    @property
    def unit(self) -> str:
        return UNITS[self.kind.metric]

    @property
    def planned_s(self) -> float:
        """How long the workload should take (for progress estimates); 0 when unknown."""
        return (self.runtime_s or 0.0) + self.ramp_s

    def describe(self) -> str:
        if self.kind is Kind.METADATA:
            return f"{self.name}: create, stat and delete {self.files} files"
        timing = ", one pass"
        if self.runtime_s:
            ramp = f" after a {self.ramp_s:g} s ramp" if self.ramp_s else ""
            timing = f", time-based: {self.runtime_s:g} s measured{ramp}"
        return (
            f"{self.name}: over a {format_size(self.size_bytes)} file in "
            f"{format_size(self.block_size)} blocks{timing}"
        )


@dataclass(frozen=True)
class WorkloadPlan:
    """Sizes and times that keep a CI run short (`fsx-csi qualify` about 90 s in all); `--size`
    and friends scale them. Each data run lasts `ramp_s` + its runtime."""

    size_bytes: int = 64 * MIB
    # The measured time of each random 4 KiB run.
    random_time_cap_s: float = 0.5
    # The measured time of each sequential 1 MiB run; 0: one pass over the file.
    sequential_seconds: float = 0.5
    metadata_files: int = 500
    # Warm-up of each time-based run, not counted: the first I/O of a run (file extension,
    # cold caches, fio's own start) is not what the workload measures.
    ramp_s: float = 0.2
    # Runs of the multi-client workloads (all clients at once), for their spread: 3, the
    # fewest that `report compare`'s rank test can judge.
    concurrent_repeats: int = 3

    def _data(self, kind: Kind) -> Workload:
        random_access = kind in (Kind.RAND_READ, Kind.RAND_WRITE)
        runtime = self.random_time_cap_s if random_access else self.sequential_seconds
        return Workload(
            kind,
            4 * KIB if random_access else MIB,
            self.size_bytes,
            runtime_s=runtime or None,
            ramp_s=self.ramp_s if runtime else 0.0,
        )

    def single_client(self) -> list[Workload]:
        return [
            self._data(Kind.SEQ_WRITE),
            self._data(Kind.SEQ_READ),
            self._data(Kind.RAND_READ),
            self._data(Kind.RAND_WRITE),
            Workload(Kind.METADATA, 0, 0, files=self.metadata_files),
        ]

    def multi_client(self) -> list[Workload]:
        return [self._data(Kind.SEQ_WRITE), self._data(Kind.SEQ_READ)]


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
