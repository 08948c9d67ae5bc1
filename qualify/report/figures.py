"""Reducing repeated throughput measurements to one figure per workload, target and client.

Shared by the HTML page, `report show`, `report compare` and `report trend`, so all of them
quote the same numbers for the same bundle: the median of the good repeats, and their spread
(min-max, and the interquartile range when there are enough repeats to have one).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from qualify.report.model import Measurement, Outcome

# Targets that measure no driver: the raw emulation directory is what the published volume is
# a bind mount of. Such figures are context for the others, never a regression of the driver.
CONTEXT_TARGETS = frozenset({"raw"})


@dataclass(frozen=True)
class FigureKey:
    workload: str
    target: str
    client: str | None

    def label(self) -> str:
        client = f" [{self.client}]" if self.client else ""
        return f"{self.workload} on {self.target}{client}"

    @property
    def measures_driver(self) -> bool:
        return self.target not in CONTEXT_TARGETS


@dataclass(frozen=True)
class Figure:
    key: FigureKey
    metric: str
    unit: str
    # The good repeats' values, in repeat order: what the spread and the noise test use.
    values: tuple[float, ...]
    runs: int
    failed_runs: int

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else 0.0

    @property
    def low(self) -> float:
        return min(self.values) if self.values else 0.0

    @property
    def high(self) -> float:
        return max(self.values) if self.values else 0.0

    @property
    def quartiles(self) -> tuple[float, float] | None:
        """(Q1, Q3) with at least four repeats; fewer have no meaningful interquartile range."""
        if len(self.values) < 4:
            return None
        q1, _, q3 = statistics.quantiles(self.values, n=4, method="inclusive")
        return q1, q3

    @property
    def spread_pct(self) -> float:
        """(max - min) / median, in percent: how noisy the repeats were."""
        median = self.median
        return (self.high - self.low) / median * 100 if median else 0.0


def reduce_measurements(measurements: list[Measurement]) -> list[Figure]:
    """One Figure per (workload, target, client), in first-seen order.

    Failed runs are counted but contribute no value, so a run cut short by ENOSPC does not
    drag the median down silently; its failure is reported next to the figure instead.
    """
    grouped: dict[FigureKey, list[Measurement]] = {}
    for measurement in measurements:
        key = FigureKey(measurement.workload, measurement.target, measurement.client)
        grouped.setdefault(key, []).append(measurement)
    figures = []
    for key, runs in grouped.items():
        good = tuple(m.value for m in runs if m.outcome is Outcome.PASSED)
        figures.append(
            Figure(
                key=key,
                metric=runs[0].metric,
                unit=runs[0].unit,
                values=good,
                runs=len(runs),
                failed_runs=len(runs) - len(good),
            )
        )
    return figures
