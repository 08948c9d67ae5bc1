"""Realistic recorded bundles, built by code: the suites, cases and throughput figures a local
`fsx-csi qualify` writes, with the run-to-run spread this machine shows (measured on
2026-12-02 with fio 3.33 and the time-based CI plan: sequential runs within about +-10 %,
random 4 KiB within +-15 %, metadata creation within +-30 %, now and then one slow run).

`recorded_summary(seed)` is one run of the same code: different seeds are back-to-back runs.
`drop` lowers one workload's published figures (an injected regression).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from qualify.report.model import (
    Environment,
    Expected,
    Measurement,
    Outcome,
    Ratio,
    SuiteResult,
    Summary,
    Target,
    TestResult,
    Throughput,
    Verdict,
)

# workload -> (metric, unit, typical median, relative spread (sigma of the log))
WORKLOADS: dict[str, tuple[str, str, float, float]] = {
    "seq-write": ("bandwidth", "MB/s", 2150.0, 0.06),
    "seq-read": ("bandwidth", "MB/s", 1390.0, 0.05),
    "rand-read": ("iops", "IOPS", 13000.0, 0.07),
    "rand-write": ("iops", "IOPS", 74000.0, 0.08),
    "metadata-create": ("ops", "ops/s", 3600.0, 0.15),
    "metadata-stat": ("ops", "ops/s", 225000.0, 0.06),
    "metadata-delete": ("ops", "ops/s", 85000.0, 0.1),
}
MULTI = {"seq-write x2": ("bandwidth", "MB/s", 1740.0, 0.06),
         "seq-read x2": ("bandwidth", "MB/s", 965.0, 0.06)}  # fmt: skip
REPEATS = 4
SANITY_CASES = 40
E2E_SCENARIOS = ("dynamic provisioning", "static provisioning", "read-only many", "expansion",
                 "multi-node writers", "deletion")  # fmt: skip


def _noisy(rng: random.Random, median: float, sigma: float) -> float:
    value = median * math.exp(rng.gauss(0.0, sigma))
    if rng.random() < 0.05:  # a slow phase of the shared machine
        value *= rng.uniform(0.6, 0.8)
    return round(value, 3)


def recorded_summary(
    seed: int,
    run_id: str | None = None,
    started: datetime | None = None,
    drop: dict[str, float] | None = None,
    sanity_cases: int = SANITY_CASES,
) -> Summary:
    """One complete local run. `drop` maps a workload to the factor its published (and
    aggregate) figures are multiplied by, e.g. {"seq-write": 0.7} for a 30 % drop.
    `sanity_cases`: 160 makes a bundle the size a real local run writes."""
    rng = random.Random(seed)
    drop = drop or {}
    started = started or datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=seed)
    run_id = run_id or f"{started:%Y%m%d-%H%M%S}-{seed:06x}"[:22]
    measurements: list[Measurement] = []
    for repeat in range(REPEATS):
        for workload, (metric, unit, median, sigma) in WORKLOADS.items():
            for target in ("published", "raw") if repeat % 2 == 0 else ("raw", "published"):
                factor = drop.get(workload, 1.0) if target == "published" else 1.0
                measurements.append(
                    Measurement(
                        workload, target, metric, _noisy(rng, median * factor, sigma), unit,
                        repeat=repeat, duration_s=0.6, engine="fio",
                    )
                )  # fmt: skip
    for repeat in range(3):
        for workload, (metric, unit, median, sigma) in MULTI.items():
            factor = drop.get(workload.split(" ")[0], 1.0)
            clients = [_noisy(rng, median * factor, sigma) for _ in range(2)]
            for index, value in enumerate(clients):
                measurements.append(
                    Measurement(
                        workload, "published", metric, value, unit, client=f"node-{index + 1}",
                        repeat=repeat, duration_s=0.6, engine="fio",
                    )
                )  # fmt: skip
            measurements.append(
                Measurement(workload, "aggregate", metric, round(sum(clients), 3), unit,
                            repeat=repeat, duration_s=0.6, engine="fio")
            )  # fmt: skip
    sanity = SuiteResult(
        "sanity",
        Outcome.PASSED,
        10.8,
        tests=[
            TestResult(f"case {index:02d}", Outcome.PASSED, 0.1, classname="Controller")
            for index in range(sanity_cases)
        ]
        + [TestResult("snapshots", Outcome.SKIPPED, 0.0, "no capability", "Snapshot")],
    )
    e2e = SuiteResult(
        "e2e",
        Outcome.PASSED,
        26.7,
        tests=[
            TestResult(name, Outcome.PASSED, 3.0, classname="scenario") for name in E2E_SCENARIOS
        ],
    )
    throughput_tests = [
        TestResult(f"{w} on {t}", Outcome.PASSED, 2.4, classname=t)
        for w in WORKLOADS
        for t in ("published", "raw")
    ]
    suites = [sanity, e2e, SuiteResult("throughput", Outcome.PASSED, 46.0, tests=throughput_tests)]
    summary = Summary(
        run_id=run_id,
        started=started.isoformat(timespec="seconds"),
        finished=(started + timedelta(seconds=90)).isoformat(timespec="seconds"),
        complete=True,
        platform="local",
        aws_mode="emulated",
        target=Target("reference", "fsx.csi.aws.com", "0.1.0"),
        environment=Environment("ci-host", "Linux 6.1", "CPython 3.11", "0.1.0", 2, "fio-3.33"),
        suites=suites,
        throughput=Throughput(
            "fio",
            "fio-3.33",
            "python",
            measurements=measurements,
            ratios=_ratios(measurements),
            expected=Expected(
                "SCRATCH_2", 1200, None, 234.4, 1523.4, "SSD", "fs-0123456789abcdef0"
            ),
        ),
    )
    summary.verdict = summary.decide_verdict()
    assert summary.verdict is Verdict.PASSED
    return summary


def _ratios(measurements: list[Measurement]) -> list[Ratio]:
    # The runner's own computation, so recorded bundles hold what real ones hold.
    from e2e.throughput.runner import overhead_ratios

    return overhead_ratios(measurements)
