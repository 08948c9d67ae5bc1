"""Reducing repeated throughput measurements to one figure per workload, target and client.

Shared by the HTML page, `report show` and `report compare`, so all three quote the same
number for the same bundle.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from qualify.report.model import Measurement, Outcome


@dataclass(frozen=True)
class FigureKey:
    workload: str
    target: str
    client: str | None

    def label(self) -> str:
        client = f" [{self.client}]" if self.client else ""
        return f"{self.workload} on {self.target}{client}"


@dataclass(frozen=True)
class Figure:
    key: FigureKey
    metric: str
    unit: str
    median: float
    best: float
    runs: int
    failed_runs: int


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
        good = [m.value for m in runs if m.outcome is Outcome.PASSED]
        figures.append(
            Figure(
                key=key,
                metric=runs[0].metric,
                unit=runs[0].unit,
                median=statistics.median(good) if good else 0.0,
                best=max(good) if good else 0.0,
                runs=len(runs),
                failed_runs=len(runs) - len(good),
            )
        )
    return figures
