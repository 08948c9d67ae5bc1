"""`fsx-csi qualify --driver-command` on the reference driver against the default `qualify`
(issue 14: at most 1.1 times as long), side by side in one run.

    .venv/bin/python benchmarks/qualify_bench.py [--runs 2] [--json-out PATH] [-- QUALIFY ARGS]

Both variants run the same `fsx-csi qualify` command line as users run it (a fresh process
each, the same extra arguments: by default `--repeats 1 --size 4M`, the CI-sized throughput
plan); one of them adds `--driver-command` with the reference driver's own template
(REFERENCE_DRIVER_COMMAND), so only the way the driver is named differs. The runs alternate
and the order flips every pair, so a load change on the machine hits both alike. Reported:
every run's wall time, exit code and verdict line, the medians, their ratio, and the load
average before and after (`os.getloadavg`, as `uptime` shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from e2e.platforms.local.driver_stack import REFERENCE_DRIVER_COMMAND

CHECKOUT = Path(__file__).resolve().parent.parent
LIMIT = 1.1
DEFAULT_ARGS = ["--repeats", "1", "--size", "4M"]


def run_once(extra: list[str], report_dir: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "fsx_csi_harness", "qualify", "--report-dir", str(report_dir)]
    started = time.monotonic()
    completed = subprocess.run(
        [*command, *extra], capture_output=True, text=True, cwd=CHECKOUT, check=False
    )
    wall = time.monotonic() - started
    lines = completed.stderr.strip().splitlines()
    return {
        "wall_s": round(wall, 2),
        "exit_code": completed.returncode,
        "verdict": next((line for line in reversed(lines) if "verdict:" in line), "(none)"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs of each variant (default 2)")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("qualify_args", nargs="*", help="after --: extra qualify arguments")
    args = parser.parse_args()
    extra = args.qualify_args or DEFAULT_ARGS
    variants = {
        "default": extra,
        "driver-command": [*extra, "--driver-command", REFERENCE_DRIVER_COMMAND],
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="qualify-bench-") as directory:
        for index in range(args.runs):
            order = list(variants) if index % 2 == 0 else list(reversed(variants))
            for name in order:
                result = run_once(variants[name], Path(directory) / name)
                runs[name].append(result)
                print(f"run {index + 1} {name}: {result}", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    medians = {name: statistics.median(r["wall_s"] for r in rs) for name, rs in runs.items()}
    ratio = medians["driver-command"] / medians["default"]
    report = {
        "qualify_args": extra,
        "driver_command": REFERENCE_DRIVER_COMMAND,
        "runs": runs,
        "median_wall_s": medians,
        "ratio": round(ratio, 3),
        "limit": LIMIT,
        "within_limit": ratio <= LIMIT,
        "all_passed": all(r["exit_code"] == 0 for rs in runs.values() for r in rs),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out is not None:
        args.json_out.write_text(text + "\n")
    return 0 if report["within_limit"] and report["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
