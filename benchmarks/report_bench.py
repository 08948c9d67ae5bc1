"""`fsx-csi report compare` and `fsx-csi report trend` over a CI history of 50 bundles
(issue 12: both must finish in under 2 s).

    .venv/bin/python benchmarks/report_bench.py [--bundles 50] [--runs 5] [--json-out PATH]

The bundles are recorded ones (tests/qualify/report/recorded.py) at the size a local
`fsx-csi qualify` writes: 160 sanity cases, the e2e scenarios, 7 workloads x 2 targets x 4
repeats plus the multi-client runs, written by the real BundleWriter (summary.json, junit.xml,
index.html). One nightly run each; every tenth has a 30 % seq-write drop so the trend has
regressions to date.

Measured as a user runs them, a fresh `python -m fsx_csi_harness report ...` process each
time (interpreter start-up and imports included): `compare` of the first and the last
bundle, `compare` of every consecutive pair (49 processes, reported per process), and
`trend` over the whole directory. The median and the range of --runs; the verdict is on the
slowest run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qualify.report.bundle import BundleWriter
from tests.qualify.report.recorded import recorded_summary

LIMIT_S = 2.0
REPO = Path(__file__).resolve().parent.parent


def write_history(directory: Path, count: int) -> list[Path]:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    paths = []
    for night in range(count):
        summary = recorded_summary(
            night,
            run_id=f"{start + timedelta(days=night):%Y%m%d}-020000-{night:06x}",
            started=start + timedelta(days=night),
            drop={"seq-write": 0.7} if night % 10 == 9 else None,
            sanity_cases=160,
        )
        paths.append(BundleWriter(directory, summary).finish())
    return paths


def timed(command: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited {completed.returncode}: {completed.stderr}")
    return elapsed, completed.returncode


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    report = [sys.executable, "-m", "fsx_csi_harness", "report"]
    with tempfile.TemporaryDirectory(prefix="report-bench-") as temporary:
        reports = Path(temporary) / "reports"
        paths = write_history(reports, args.bundles)
        size_kib = sum(p.stat().st_size for p in reports.rglob("summary.json")) / len(paths) / 1024
        output = Path(temporary) / "trend.html"
        first_last: list[float] = []
        trend: list[float] = []
        for _ in range(args.runs):
            first_last.append(timed([*report, "compare", str(paths[0]), str(paths[-1])])[0])
            trend.append(timed([*report, "trend", str(reports), "--output", str(output)])[0])
        pairs = [
            timed([*report, "compare", str(a), str(b)])[0] for a, b in itertools.pairwise(paths)
        ]
    results: dict[str, Any] = {
        "bundles": args.bundles,
        "summary_json_kib": round(size_kib, 1),
        "compare_first_last": spread(first_last),
        "compare_each_consecutive_pair": spread(pairs),
        "trend_all": spread(trend),
    }
    slowest = max(max(first_last), max(pairs), max(trend))
    results["limit_s"] = LIMIT_S
    results["ok"] = slowest < LIMIT_S
    print(json.dumps(results, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    verdict = "OK" if results["ok"] else "TOO SLOW"
    print(
        f"compare (first vs last): median {results['compare_first_last']['median_s']} s; "
        f"compare of each of {len(pairs)} pairs: max {max(pairs):.3f} s; "
        f"trend over {args.bundles}: median {results['trend_all']['median_s']} s, max "
        f"{results['trend_all']['max_s']} s; limit {LIMIT_S} s: {verdict}"
    )
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
