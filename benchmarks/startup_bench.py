"""Start-up of `fsx-csi driver` and the size of the driver image's dependencies (issue 9).

    .venv/bin/python benchmarks/startup_bench.py [--source DIR ...] [--runs 5] [--sizes]
                                                 [--json-out PATH]

Start-up: the driver runs as users start it (`python -m fsx_csi_harness driver --mode all`)
against the FSx emulator, which runs in this process. Measured: the time from
the process's start to the first Probe answered ready=true, the CPU time the process spent
until then (steadier than wall time on a busy machine), and its RSS after 2 s idle; the median
(and range) of --runs.

--source DIR runs another tree of the project (for a before/after comparison:
`git worktree add /tmp/before 208f204`) through PYTHONPATH and its own working directory, with
this venv's interpreter and dependencies, so only the project's code differs. Repeat it to
compare trees: their runs alternate, so a load change on the machine hits both alike. The
script prints which fsx_csi_harness/cli.py that interpreter imports there, to show which code
ran.

--sizes: what the Dockerfile's driver target installs (the wheel of --source, no extras: before
issue 9 every dependency was a core one) with pip into a fresh venv; reported as the MB that
install adds to site-packages (`du -sm`, minus the empty venv's pip).
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

import grpc

from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from fsx_emulator import EmulatorConfig, EmulatorServer
from reference_driver.process import DriverProcess

CHECKOUT = Path(__file__).resolve().parent.parent
IDLE_SECONDS = 2.0
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": "us-east-1",
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def source_environment(source: Path) -> dict[str, str]:
    return {**AWS_ENV, "PYTHONPATH": str(source)}


def code_that_runs(source: Path) -> str:
    """The fsx_csi_harness/cli.py this interpreter imports from `source`'s directory."""
    done = subprocess.run(
        [sys.executable, "-c", "import fsx_csi_harness.cli as c; print(c.__file__)"],
        cwd=source, env={**os.environ, **source_environment(source)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_start(
    source: Path, work: Path, endpoint_url: str, root: Path
) -> tuple[float, float, float]:
    """(seconds from process start to Probe ready=true, CPU seconds until then, idle RSS in
    MB) of one driver start."""
    args = [
        "--mode", "all", "--node-id", "bench-node", "--region", "us-east-1",
        "--aws-endpoint-url", endpoint_url, "--log-level", "warning",
    ]  # fmt: skip
    socket = work / "csi.sock"
    driver = DriverProcess(socket, args, env=source_environment(source), cwd=source)
    with driver, grpc.insecure_channel(driver.address) as channel:
        identity = csi_pb2_grpc.IdentityStub(channel)
        # DriverProcess returns at the first Probe answered; ready=true needs the FSx API too.
        while not identity.Probe(csi_pb2.ProbeRequest(), timeout=5).ready.value:
            time.sleep(0.01)
        ready_after = time.monotonic() - driver.started_at
        assert driver.process is not None
        cpu = cpu_seconds(driver.process.pid)
        time.sleep(IDLE_SECONDS)
        rss = rss_mb(driver.process.pid)
    socket.unlink(missing_ok=True)
    return ready_after, cpu, rss


def summary(samples: list[float], digits: int) -> dict[str, Any]:
    return {
        "median": round(statistics.median(samples), digits),
        "min": round(min(samples), digits),
        "max": round(max(samples), digits),
        "samples": [round(s, digits) for s in samples],
    }


def startup(sources: list[Path], runs: int) -> dict[Path, dict[str, Any]]:
    measured: dict[Path, list[tuple[float, float, float]]] = {source: [] for source in sources}
    with tempfile.TemporaryDirectory(prefix="fsx-startup-", dir="/tmp") as tmp:
        work = Path(tmp)
        root = work / "emulation-root"
        root.mkdir()
        config = EmulatorConfig(creation_delay=0.0, emulation_root=root)
        with EmulatorServer(config, host="127.0.0.1", port=0) as emulator:
            for source in sources:
                one_start(source, work, emulator.endpoint_url, root)  # warm the page cache
            for _ in range(runs):
                for source in sources:
                    measured[source].append(one_start(source, work, emulator.endpoint_url, root))
    return {
        source: {
            "probe_ready_seconds": summary([m[0] for m in samples], 3),
            "cpu_seconds_to_ready": summary([m[1] for m in samples], 3),
            "idle_rss_mb": summary([m[2] for m in samples], 1),
        }
        for source, samples in measured.items()
    }


def site_packages_mb(venv: Path) -> int:
    [site] = (venv / "lib").glob("python3*/site-packages")
    done = subprocess.run(["du", "-sm", str(site)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0])


def driver_image_dependencies_mb(source: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fsx-size-", dir="/tmp") as tmp:
        work = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir",
             str(work / "dist"), str(source)],
            check=True, cwd=work,
        )  # fmt: skip
        [wheel] = (work / "dist").glob("*.whl")
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        empty = site_packages_mb(venv)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True)
        total = site_packages_mb(venv)
        frozen = subprocess.run(
            [str(venv / "bin" / "pip"), "freeze"], capture_output=True, text=True, check=True
        ).stdout.split()
    return {"installed_mb": total - empty, "site_packages_mb": total, "distributions": len(frozen)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument(
        "--source", type=Path, action="append", help="a project tree to run (repeatable; "
        "default: this checkout)",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", action="store_true", help="also measure the image's deps")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()

    sources = [source.resolve() for source in (args.source or [CHECKOUT])]
    results: list[dict[str, Any]] = []
    for source, figures in startup(sources, args.runs).items():
        result = {"source": str(source), "code_that_runs": code_that_runs(source), **figures}
        if args.sizes:
            result["driver_image_dependencies"] = driver_image_dependencies_mb(source)
        results.append(result)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json_out is not None:
        args.json_out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
