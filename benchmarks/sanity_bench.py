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

Scale with waiting (issue 13): on AWS a CreateVolume takes minutes, so what matters is that
the parallel run's wall time follows the critical path (the longest single case), not the
sum of the cases or the cores. Measured with `--creation-delay 20 --workers 16 --profile
none`, with targets: parallel wall <= 1.5 x the longest case of the serial run, and the
serial run's sum of case times >= 8 x the parallel wall. Each run also records a timeline
(benchmarks/sanity_timeline.py, a pytest plugin loaded into the suite's processes): when
each process started, was configured, collected, and ran each case, so that start-up, gaps
and the tail are figures too; and the load average before and after each run, since the
machine is shared.

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
                                      [--profile none|fsx|strict|both]
                                      [--bytecode-cache warm|environment]
                                      [--runs serial,parallel]
                                      [--output reports/sanity-bench.json]
    python benchmarks/sanity_bench.py --creation-delay 20 --workers 16 --profile none
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

# benchmarks/ itself, where the timeline plugin (sanity_timeline.py) lives.
BENCHMARKS = Path(__file__).resolve().parent

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
        assert cluster.controller is not None and cluster.controller.process is not None
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
        # FSx-valid sizes in every profile (the fsx profile's defaults): csi-sanity's 10 GiB
        # is below every FSx minimum, so its capacity cases would measure refusals.
        "--csi.testvolumesize=1200Gi", "--csi.testvolumeexpandsize=2400Gi",
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


def timeline_figures(path: Path, launched: float, wall: float) -> dict[str, Any]:
    """Where a run's wall time went, from the stamps benchmarks/sanity_timeline.py wrote."""
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    cases = [r for r in records if r["event"] == "case"]
    if not cases:
        return {}
    configured = {r["worker"]: r for r in records if r["event"] == "configured"}
    first_case: dict[str, float] = {}
    busy: Counter[str] = Counter()
    for case in cases:
        first_case[case["worker"]] = min(
            first_case.get(case["worker"], case["start"]), case["start"]
        )
        busy[case["worker"]] += case["end"] - case["start"]
    workers = [w for w in configured if w != "main"] or ["main"]
    return {
        "processes": len(configured),
        # From launching `fsx-csi sanity` to a process being configured (interpreter start,
        # imports, plugin set-up): the start-up each worker pays before its first case.
        "slowest_process_configured_after_seconds": round(
            max(r["at"] for r in configured.values()) - launched, 2
        ),
        "first_case_started_after_seconds": round(min(first_case.values()) - launched, 2),
        "last_worker_first_case_after_seconds": round(
            max(first_case.get(w, launched + wall) for w in workers) - launched, 2
        ),
        "last_case_ended_before_exit_seconds": round(
            launched + wall - max(c["end"] for c in cases), 2
        ),
        "longest_case_seconds": round(max(c["end"] - c["start"] for c in cases), 2),
        "busiest_worker_seconds": round(max(busy.values()), 2),
        "case_seconds": round(sum(busy.values()), 2),
    }


def run_sanity(
    endpoint: str,
    workdir: Path,
    workers: int | str,
    profile: str,
    tag: str,
    stack_pids: list[int],
    env: dict[str, str],
) -> dict[str, Any]:
    report = workdir / f"{tag}.json"
    timeline = workdir / f"{tag}.timeline"
    command = [
        *sanity_command(endpoint, workdir, profile, tag),
        f"--json-report={report}", "-n", str(workers), "--", "-q", "-p", "sanity_timeline",
    ]  # fmt: skip
    run_env = {
        **env,
        "SANITY_BENCH_TIMELINE": str(timeline),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCHMARKS), env.get("PYTHONPATH")])),
    }
    load_before = os.getloadavg()
    stack_cpu_before = sum(_cpu_seconds(pid) for pid in stack_pids)
    suite_cpu_before = _children_cpu_seconds()
    launched = time.time()
    started = time.monotonic()
    completed = subprocess.run(
        tied_to_parent(command), cwd=ROOT, env=run_env, capture_output=True, text=True, check=False
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
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "timeline": timeline_figures(timeline, launched, wall),
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


def cpu_of(run: dict[str, Any]) -> dict[str, float]:
    total = run["suite_cpu_seconds"] + run["driver_and_emulator_cpu_seconds"]
    return {
        "suite_cpu_seconds": round(run["suite_cpu_seconds"], 2),
        "driver_and_emulator_cpu_seconds": round(run["driver_and_emulator_cpu_seconds"], 2),
        # CPU seconds per wall second: 1.0 would keep one core busy for the whole run.
        "cores_busy_on_average": round(total / run["wall_seconds"], 2),
        "waiting_share": round(max(0.0, 1 - total / run["wall_seconds"]), 2),
    }


def run_figures(run: dict[str, Any]) -> dict[str, Any]:
    rpc_seconds = run["result"]["details"]["rpc_seconds_total"]
    case_seconds = [t["duration_s"] for t in run["result"]["tests"]]
    return {
        "wall_seconds": round(run["wall_seconds"], 2),
        "load_average_before": run["load_average_before"],
        "load_average_after": run["load_average_after"],
        "totals": totals(run),
        "rpc_seconds": rpc_seconds,
        "harness_overhead_ratio": round(run["wall_seconds"] / rpc_seconds, 3)
        if rpc_seconds
        else None,
        "case_seconds": round(sum(case_seconds), 2),
        "longest_case_seconds": round(max(case_seconds, default=0.0), 2),
        "timeline": run["timeline"],
        "cpu": cpu_of(run),
        "leaks": run["result"]["leaks"],
    }


def figures_of(
    serial: dict[str, Any] | None,
    parallel: dict[str, Any] | None,
    workers: int | str,
    profile: str,
) -> dict[str, Any]:
    figures: dict[str, Any] = {"profile": profile, "workers": workers, "cpu_cores": os.cpu_count()}
    if parallel is not None:
        # The processes of the parallel run less its controller: what -n auto started.
        figures["parallel_workers_started"] = parallel["timeline"]["processes"] - 1
    if serial is not None:
        figures["serial"] = run_figures(serial)
    if parallel is not None:
        figures["parallel"] = run_figures(parallel)
    if serial is not None and parallel is not None:
        wall = parallel["wall_seconds"]
        longest = figures["serial"]["longest_case_seconds"]
        case_sum = figures["serial"]["case_seconds"]
        figures["same_verdicts"] = verdicts(serial) == verdicts(parallel)
        figures["speedup"] = round(serial["wall_seconds"] / wall, 2)
        # The issue 13 targets: the parallel run follows the critical path, not the sum.
        figures["parallel_wall_over_longest_case"] = round(wall / longest, 2) if longest else None
        figures["case_seconds_over_parallel_wall"] = round(case_sum / wall, 2)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--workers",
        type=lambda text: text if text == "auto" else int(text),
        default=4,
        help="the parallel run's -n: a number, or auto (what `fsx-csi sanity -n auto` starts)",
    )
    parser.add_argument("--creation-delay", type=float, default=1.0)
    parser.add_argument("--profile", choices=("none", "fsx", "strict", "both"), default="both")
    parser.add_argument(
        "--runs",
        default="serial,parallel",
        help="which runs: serial, parallel or both (comma-separated; default both)",
    )
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
    wanted = {name.strip() for name in args.runs.split(",")}
    if not wanted or not wanted <= {"serial", "parallel"}:
        parser.error("--runs takes serial, parallel or serial,parallel")
    workdir = Path(tempfile.mkdtemp(prefix="sanity-bench-", dir="/tmp"))
    runs: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]] = {}
    try:
        env = suite_environment(workdir, args.bytecode_cache)
        with reference_stack(workdir, args.creation_delay) as (endpoint, pids):
            if args.bytecode_cache == "warm":
                warm_bytecode_cache(endpoint, workdir, env)
            for profile in profiles:
                serial = parallel = None
                if "serial" in wanted:
                    serial = run_sanity(
                        endpoint, workdir, 0, profile, f"{profile}-serial", pids, env
                    )
                if "parallel" in wanted:
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
        for tag, run in (("serial  ", serial), (f"-n {args.workers:<4}", parallel)):
            for line in run["summary"] if run else []:
                print(f"{profile:6} {tag}", line)
        if serial is not None and parallel is not None and verdicts(serial) != verdicts(parallel):
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
