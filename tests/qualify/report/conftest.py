from __future__ import annotations

import pytest

from qualify.report.model import (
    Environment,
    Measurement,
    Outcome,
    SuiteResult,
    Summary,
    Target,
    TestResult,
    Throughput,
)


def make_summary(run_id: str = "20260101-000000-abcdef", seq_write: float = 1000.0) -> Summary:
    """A small but complete summary: two suites, throughput on two targets, four repeats."""
    measurements = [
        Measurement("seq-write", target, "bandwidth", value, "MB/s", repeat=repeat, engine="fio")
        for target, values in (
            ("published", (seq_write, seq_write * 0.98, seq_write * 1.01, seq_write * 0.97)),
            ("raw", (1010.0, 990.0, 1020.0, 980.0)),
        )
        for repeat, value in enumerate(values)
    ] + [
        Measurement("rand-read", "published", "iops", 15000.0, "IOPS", engine="fio"),
        Measurement("seq-write x2", "published", "bandwidth", 600.0, "MB/s", client="node-1"),
        Measurement("seq-write x2", "published", "bandwidth", 580.0, "MB/s", client="node-2"),
        Measurement("seq-write x2", "aggregate", "bandwidth", 1180.0, "MB/s"),
    ]
    return Summary(
        run_id=run_id,
        started="2026-01-01T00:00:00+00:00",
        platform="local",
        aws_mode="emulated",
        target=Target(source="reference", driver_name="fsx.csi.aws.com", driver_version="0.1.0"),
        environment=Environment("host", "Linux 6", "CPython 3.11", "0.1.0", 2, "fio-3.33"),
        suites=[
            SuiteResult(
                "sanity",
                Outcome.PASSED,
                12.0,
                tests=[
                    TestResult("creates a volume", Outcome.PASSED, 0.5, classname="Controller"),
                    TestResult(
                        "skips snapshots", Outcome.SKIPPED, 0.0, "no capability", "Snapshot"
                    ),
                ],
            ),
            SuiteResult(
                "e2e", Outcome.PASSED, 20.0, tests=[TestResult("dynamic", Outcome.PASSED, 19.0)]
            ),
        ],
        throughput=Throughput("fio", "fio-3.33", "python", measurements=measurements),
    )


@pytest.fixture
def summary() -> Summary:
    return make_summary()
