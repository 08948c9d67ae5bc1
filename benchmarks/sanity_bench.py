"""Benchmark of the sanity suite against the reference driver on the FSx emulator.

Brings up the local reference stack (`DriverStack` of e2e/platforms/local/, all-in-one: the FSx
emulator embedded in this process, 1 s creation delay by default, and the reference driver in
mode all with the emulated Lustre mounter, which needs root for its bind mounts), then runs
`fsx-csi sanity` serially and with N workers, and reports:

* wall time serial vs parallel and the speed-up (target: >= 2.5x with 4 workers);
* whether both runs reached the same verdict for every case (they must);
* harness overhead: serial wall time / the sum of the driver's RPC times as the suite
  measured them (target: <= 1.5);
* where the time goes: CPU seconds of the suite (pytest and its workers) and of the driver
  and emulator per run (the emulator's are this process's own, which only waits otherwise),
  the share of the wall time that was waiting rather than computing, the longest single case
  and the serial case time divided by the workers (lower bounds of the parallel run before
  start-up).

`--profile both` (the default) measures the csi-sanity cases alone and the full suite with
the FSx profile.

Bytecode: every pytest process (the serial one; the controller and each worker of `-n N`)
imports pytest, grpc, protobuf, the CSI bindings and the suite. Python normally caches their
compiled bytecode (`__pycache__`, written by pip at install time or on first import); with
PYTHONDONTWRITEBYTECODE=1 in the environment (this sandbox sets it) each process compiles
about 200 modules from source again, about 1 s of CPU per process, paid five times by `-n 4`
on a machine with fewer cores than workers. `--bytecode-cache warm` (the default) measures
the suite as an ordinary installation runs it: the suite's processes write and read their
bytecode in a private cache under the benchmark's temporary directory (PYTHONPYCACHEPREFIX;
nothing is written into the project or the virtualenv), warmed by one `--collect-only` run
before the timed runs, so that both timed runs start equally warm. `--bytecode-cache
environment` leaves the environment as it is (cold when PYTHONDONTWRITEBYTECODE is set).

    python benchmarks/sanity_bench.py [--workers 4] [--creation-delay 1]
                                      [--profile none|fsx|both]
                                      [--bytecode-cache warm|environment]
                                      [--output reports/sanity-bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e2e.platforms.local.driver_stack import PROJECT_ROOT as ROOT
from e2e.platforms.local.driver_stack import (
    REFERENCE_DRIVER_COMMAND,
    DriverStack,
    DriverStackConfig,
)
from e2e.progress import Progress
from fsx_csi_harness.processes import tied_to_parent

PARAMETERS = """\
subnetId: subnet-0123456789abcdef0
securityGroupIds: sg-0123456789abcdef0
deploymentType: SCRATCH_2
"""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def reference_stack(workdir: Path, creation_delay: float) -> Iterator[tuple[str, list[int]]]:
    """The emulator and the reference driver; yields the driver's CSI endpoint and the pids
    whose CPU time is the stack's (this process, which runs the emulator, and the driver)."""
    config = DriverStackConfig(
        run_id="sanity-bench",
        work_dir=workdir,
        creation_delay_s=creation_delay,
        # The driver exactly as it ships: its own poll schedule against a non-AWS endpoint.
        driver_command=REFERENCE_DRIVER_COMMAND,
        all_in_one=True,
    )
    with DriverStack(config, Progress()) as cluster:
        assert cluster.controller is not None
        yield cluster.controller.endpoint, [os.getpid(), cluster.controller.process.pid]
    for leak in cluster.leaks:
        print(
            f"sanity_bench: left behind: {leak.kind} {leak.id}: {leak.describe()}",
            file=sys.stderr,
        )


def suite_environment(workdir: Path, bytecode_cache: str) -> dict[str, str]:
    """The environment of the suite's processes (see "Bytecode" above)."""
    env = dict(os.environ)
    if bytecode_cache == "warm":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


def sanity_command(endpoint: str, workdir: Path, profile: str, tag: str) -> list[str]:
    params = workdir / "parameters.yaml"
    params.write_text(PARAMETERS)
    return [
        sys.executable, "-m", "fsx_csi_harness", "sanity", f"--csi.endpoint={endpoint}",
        f"--csi.testvolumeparameters={params}", f"--csi.mountdir={workdir}/mnt-{tag}",
        f"--csi.stagingdir={workdir}/stage-{tag}", f"--profile={profile}",
    ]  # fmt: skip


def warm_bytecode_cache(endpoint: str, workdir: Path, env: dict[str, str]) -> None:
    """One untimed run through the same path as the timed ones that only collects the
    cases (in one xdist worker, which imports what workers import), so that the cache holds
    everything both timed runs import."""
    command = [
        *sanity_command(endpoint, workdir, "fsx", "warm"), "-n", "1", "--", "--collect-only", "-q"
    ]  # fmt: skip
    completed = subprocess.run(
        tied_to_parent(command), cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"warming the bytecode cache failed (exit {completed.returncode}):\n"
            f"{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
        )


def run_sanity(
    endpoint: str,
    workdir: Path,
    workers: int,
    profile: str,
    tag: str,
    stack_pids: list[int],
    env: dict[str, str],
) -> dict[str, Any]:
    report = workdir / f"{tag}.json"
    command = [
        *sanity_command(endpoint, workdir, profile, tag),
        f"--json-report={report}", "-n", str(workers), "--", "-q",
    ]  # fmt: skip
    stack_cpu_before = sum(_cpu_seconds(pid) for pid in stack_pids)
    suite_cpu_before = _children_cpu_seconds()
    started = time.monotonic()
    completed = subprocess.run(
        tied_to_parent(command), cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    wall = time.monotonic() - started
    # The pytest process reaps its xdist workers, so their CPU time is in its own.
    suite_cpu = _children_cpu_seconds() - suite_cpu_before
    stack_cpu = sum(_cpu_seconds(pid) for pid in stack_pids) - stack_cpu_before
    if not report.exists():
        raise RuntimeError(
            f"sanity ({tag}) wrote no result:\n{completed.stdout}\n{completed.stderr}"
        )
    result: dict[str, Any] = json.loads(report.read_text())
    summary = [line for line in completed.stdout.splitlines() if " passed, " in line]
    return {
        "wall_seconds": wall,
        "suite_cpu_seconds": suite_cpu,
        "driver_and_emulator_cpu_seconds": stack_cpu,
        "exit_code": completed.returncode,
        "result": result,
        "summary": summary,
    }


# run["result"] is the sanity JSON result: the shared SuiteResult (fsx_csi_harness.results).
def verdicts(run: dict[str, Any]) -> dict[str, str]:
    return {t["name"]: t["outcome"] for t in run["result"]["tests"]}


def totals(run: dict[str, Any]) -> dict[str, int]:
    return dict(Counter(t["outcome"] for t in run["result"]["tests"]))


def figures_of(
    serial: dict[str, Any], parallel: dict[str, Any], workers: int, profile: str
) -> dict[str, Any]:
    rpc_seconds = serial["result"]["details"]["rpc_seconds_total"]
    case_seconds = [t["duration_s"] for t in serial["result"]["tests"]]

    def cpu(run: dict[str, Any]) -> dict[str, float]:
        total = run["suite_cpu_seconds"] + run["driver_and_emulator_cpu_seconds"]
        return {
            "suite_cpu_seconds": round(run["suite_cpu_seconds"], 2),
            "driver_and_emulator_cpu_seconds": round(run["driver_and_emulator_cpu_seconds"], 2),
            # CPU seconds per wall second: 1.0 would keep one core busy for the whole run.
            "cores_busy_on_average": round(total / run["wall_seconds"], 2),
            "waiting_share": round(max(0.0, 1 - total / run["wall_seconds"]), 2),
        }

    return {
        "profile": profile,
        "workers": workers,
        "serial_wall_seconds": round(serial["wall_seconds"], 2),
        "parallel_wall_seconds": round(parallel["wall_seconds"], 2),
        "speedup": round(serial["wall_seconds"] / parallel["wall_seconds"], 2),
        "same_verdicts": verdicts(serial) == verdicts(parallel),
        "serial_totals": totals(serial),
        "parallel_totals": totals(parallel),
        "serial_rpc_seconds": rpc_seconds,
        "harness_overhead_ratio": round(serial["wall_seconds"] / rpc_seconds, 2)
        if rpc_seconds
        else None,
        "serial_case_seconds": round(sum(case_seconds), 2),
        "longest_case_seconds": round(max(case_seconds, default=0.0), 2),
        "serial_case_seconds_per_worker": round(sum(case_seconds) / workers, 2),
        "serial_cpu": cpu(serial),
        "parallel_cpu": cpu(parallel),
        "cpu_cores": os.cpu_count(),
        "serial_leaks": serial["result"]["leaks"],
        "parallel_leaks": parallel["result"]["leaks"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--creation-delay", type=float, default=1.0)
    parser.add_argument("--profile", choices=("none", "fsx", "both"), default="both")
    parser.add_argument(
        "--bytecode-cache",
        choices=("warm", "environment"),
        default="warm",
        help="warm: the suite's processes use a private, pre-warmed bytecode cache; "
        "environment: as the environment says (see the module docstring)",
    )
    parser.add_argument("--output", default="")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(
            "sanity_bench: the emulated Lustre mounter needs root for bind mounts", file=sys.stderr
        )
        return 2
    profiles = ["none", "fsx"] if args.profile == "both" else [args.profile]
    workdir = Path(tempfile.mkdtemp(prefix="sanity-bench-", dir="/tmp"))
    runs: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    try:
        env = suite_environment(workdir, args.bytecode_cache)
        with reference_stack(workdir, args.creation_delay) as (endpoint, pids):
            if args.bytecode_cache == "warm":
                warm_bytecode_cache(endpoint, workdir, env)
            for profile in profiles:
                serial = run_sanity(endpoint, workdir, 0, profile, f"{profile}-serial", pids, env)
                parallel = run_sanity(
                    endpoint, workdir, args.workers, profile, f"{profile}-n{args.workers}",
                    pids, env,
                )  # fmt: skip
                runs[profile] = (serial, parallel)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report = {
        "creation_delay_seconds": args.creation_delay,
        "bytecode_cache": args.bytecode_cache,
        "environment_disables_bytecode_writing": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
        "runs": [
            figures_of(serial, parallel, args.workers, profile)
            for profile, (serial, parallel) in runs.items()
        ],
    }
    print(json.dumps(report, indent=2))
    all_same = True
    for profile, (serial, parallel) in runs.items():
        for line in serial["summary"]:
            print(f"{profile:4} serial  ", line)
        for line in parallel["summary"]:
            print(f"{profile:4} -n {args.workers:<4}", line)
        if verdicts(serial) != verdicts(parallel):
            all_same = False
            differing = {
                k: (v, verdicts(parallel).get(k)) for k, v in verdicts(serial).items()
                if verdicts(parallel).get(k) != v
            }  # fmt: skip
            print(f"{profile}: verdicts differ:", json.dumps(differing, indent=2))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
