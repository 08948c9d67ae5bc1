"""FSx emulator benchmark: request rate against plain moto, strict mode, burst, CLI startup.

    .venv/bin/python benchmarks/emulator_bench.py [--threads 8] [--iterations 60] [--rounds 2]

1. The same create/describe/tag/delete mix from N client threads against moto's
   ThreadedMotoServer and against the emulator, alternating rounds in one run; the emulator
   should sustain at least 0.9 times moto's rate.
2. Strict mode against itself, same mix, one emulator, alternating rounds: strict off; strict
   with every limit out of the mix's reach (the cost of the rate-limit machinery on every
   call); strict with `--strict`'s own limits (the mix is then mostly throttled: the rate is
   answers per second, ThrottlingException answers included). Each should sustain at least
   0.9 times the strict-off rate.
3. 500 CreateFileSystem calls from 32 threads: zero errors, 500 distinct ids.
4. `fsx-csi emulator` start-to-URL time (target: under 2 s).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fsx_emulator import EmulatorConfig, EmulatorServer  # noqa: E402
from fsx_emulator.config import STRICT_RATE_LIMITS, RateLimit  # noqa: E402

REQUEST: dict[str, Any] = {
    "FileSystemType": "LUSTRE",
    "StorageCapacity": 1200,
    "SubnetIds": ["subnet-0123456789abcdef0"],
    "LustreConfiguration": {"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 125},
}


def client(endpoint_url: str) -> Any:
    return boto3.client(
        "fsx",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the dummy credentials moto documents
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=64),
    )


def run_mix(endpoint_url: str, threads: int, iterations: int) -> tuple[float, int, int]:
    """Each thread: create, describe it, tag it, delete it (an iteration ends at its first
    error, as a client's would); returns (answers per second, calls, errors)."""
    clients = [client(endpoint_url) for _ in range(threads)]
    calls = 0
    errors = 0
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)

    def worker(fsx: Any) -> None:
        nonlocal calls, errors
        barrier.wait()
        made = failed = 0
        for _ in range(iterations):
            try:
                made += 1
                fs = fsx.create_file_system(**REQUEST)["FileSystem"]
                made += 1
                fsx.describe_file_systems(FileSystemIds=[fs["FileSystemId"]])
                made += 1
                fsx.tag_resource(ResourceARN=fs["ResourceARN"], Tags=[{"Key": "k", "Value": "v"}])
                made += 1
                fsx.delete_file_system(FileSystemId=fs["FileSystemId"])
            except Exception:  # noqa: BLE001 - counted and reported
                failed += 1
        with lock:
            calls += made
            errors += failed

    workers = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    return calls / elapsed, calls, errors


def bench_rate(threads: int, iterations: int, rounds: int) -> dict[str, Any]:
    from moto.server import ThreadedMotoServer

    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    config = EmulatorConfig(creation_delay=0.5, deletion_delay=0.2)
    moto_rates: list[float] = []
    emu_rates: list[float] = []
    errors = {"moto": 0, "emulator": 0}
    try:
        with EmulatorServer(config) as emu:
            # Warm both (imports, first-request setup) before measuring.
            run_mix(moto_url, 2, 3)
            run_mix(emu.endpoint_url, 2, 3)
            for _ in range(rounds):
                rate, _, err = run_mix(moto_url, threads, iterations)
                moto_rates.append(rate)
                errors["moto"] += err
                rate, _, err = run_mix(emu.endpoint_url, threads, iterations)
                emu_rates.append(rate)
                errors["emulator"] += err
    finally:
        moto_server.stop()
    moto_rate, emu_rate = statistics.median(moto_rates), statistics.median(emu_rates)
    return {
        "moto": moto_rate,
        "emulator": emu_rate,
        "ratio": emu_rate / moto_rate,
        "errors": errors,
        "calls": threads * iterations * 4 * rounds,
    }


# Every strict limit, out of reach of the mix: the buckets run on every call, never refuse.
UNREACHABLE_LIMITS = {op: RateLimit(1e9, 10**9) for op in STRICT_RATE_LIMITS}
STRICT_MODES: dict[str, dict[str, RateLimit]] = {
    "off": {},
    "machinery": UNREACHABLE_LIMITS,
    "strict": dict(STRICT_RATE_LIMITS),
}


def bench_strict(threads: int, iterations: int, rounds: int) -> dict[str, Any]:
    """The same mix with strict mode off and on, alternating rounds on one emulator."""
    rates: dict[str, list[float]] = {mode: [] for mode in STRICT_MODES}
    errors: dict[str, int] = dict.fromkeys(STRICT_MODES, 0)
    throttled: dict[str, int] = dict.fromkeys(STRICT_MODES, 0)
    config = EmulatorConfig(creation_delay=0.5, deletion_delay=0.2)
    with EmulatorServer(config) as emu:
        run_mix(emu.endpoint_url, 2, 3)  # warm up
        modes = list(STRICT_MODES)
        for index in range(rounds):
            # A different mode goes first each round, so no mode always meets a cold server.
            for mode in modes[index % len(modes) :] + modes[: index % len(modes)]:
                emu.control.set_rate_limits(
                    STRICT_MODES[mode]
                )  # buckets start full, counts at zero
                rate, _, err = run_mix(emu.endpoint_url, threads, iterations)
                rates[mode].append(rate)
                errors[mode] += err
                throttled[mode] += sum(emu.control.strictness()["throttled"].values())
    medians = {mode: statistics.median(values) for mode, values in rates.items()}
    return {
        "rates": medians,
        "ratios": {mode: medians[mode] / medians["off"] for mode in ("machinery", "strict")},
        "errors": errors,
        "throttled": throttled,
    }


def bench_burst(total: int = 500, threads: int = 32) -> dict[str, Any]:
    with EmulatorServer(EmulatorConfig(creation_delay=1.0)) as emu:
        clients = [client(emu.endpoint_url) for _ in range(threads)]
        errors: list[str] = []

        def one(index: int) -> str | None:
            try:
                fs_id: str = clients[index % threads].create_file_system(**REQUEST)["FileSystem"][
                    "FileSystemId"
                ]
                return fs_id
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(repr(exc))
                return None

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            ids = [fs_id for fs_id in pool.map(one, range(total)) if fs_id]
        elapsed = time.perf_counter() - started
        held = len(emu.control.file_systems())
    return {
        "calls": total,
        "errors": len(errors),
        "distinct_ids": len(set(ids)),
        "held": held,
        "seconds": elapsed,
        "first_error": errors[0] if errors else "",
    }


def bench_startup(runs: int = 3) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "fsx_csi_harness", "emulator", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        times.append(time.perf_counter() - started)
        process.terminate()
        process.communicate(timeout=10)
        if "AWS_ENDPOINT_URL_FSX=" not in line:
            raise RuntimeError(f"fsx-csi emulator printed {line!r} instead of its URL")
    return times


def main() -> int:
    # moto's server logs every request through werkzeug's logger; keep the table readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=60, help="mix iterations per thread")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per server")
    args = parser.parse_args()

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("rate", lambda: bench_rate(args.threads, args.iterations, args.rounds)),
        ("strict", lambda: bench_strict(args.threads, args.iterations, args.rounds)),
        ("burst", bench_burst),
        ("startup", bench_startup),
    ]
    results = {name: step() for name, step in steps}
    rate, strict = results["rate"], results["strict"]
    burst, startup = results["burst"], results["startup"]
    ok_rate = rate["ratio"] >= 0.9 and not any(rate["errors"].values())
    # Off and machinery must answer every call; strict must throttle (or it proves nothing).
    ok_machinery = (
        strict["ratios"]["machinery"] >= 0.9
        and strict["errors"]["off"] == strict["errors"]["machinery"] == 0
    )
    ok_strict = strict["ratios"]["strict"] >= 0.9 and strict["throttled"]["strict"] > 0
    ok_burst = burst["errors"] == 0 and burst["distinct_ids"] == burst["calls"] == burst["held"]
    ok_startup = statistics.median(startup) < 2.0
    rows = [
        ("measure", "value", "target", "ok"),
        (f"moto mix rate ({args.threads} threads)", f"{rate['moto']:.0f} req/s", "", ""),
        (f"emulator mix rate ({args.threads} threads)", f"{rate['emulator']:.0f} req/s", "", ""),
        ("emulator / moto", f"{rate['ratio']:.2f}", ">= 0.90", "yes" if ok_rate else "NO"),
        (
            "mix errors (moto, emulator)",
            f"{rate['errors']['moto']}, {rate['errors']['emulator']}",
            "0, 0",
            "",
        ),
        ("emulator mix rate, strict off", f"{strict['rates']['off']:.0f} req/s", "", ""),
        (
            "strict limits out of reach / off",
            f"{strict['ratios']['machinery']:.2f} ({strict['rates']['machinery']:.0f} req/s)",
            ">= 0.90",
            "yes" if ok_machinery else "NO",
        ),
        (
            "strict (--strict limits) / off",
            f"{strict['ratios']['strict']:.2f} ({strict['rates']['strict']:.0f} answers/s, "
            f"{strict['throttled']['strict']} throttled)",
            ">= 0.90",
            "yes" if ok_strict else "NO",
        ),
        (
            "CreateFileSystem burst (500 x 32 thr)",
            f"{burst['errors']} errors, {burst['distinct_ids']} ids, {burst['seconds']:.1f}s",
            "0 errors, 500 ids",
            "yes" if ok_burst else "NO",
        ),
        (
            "fsx-csi emulator start-to-URL",
            " / ".join(f"{t:.2f}s" for t in startup),
            "< 2 s (median)",
            "yes" if ok_startup else "NO",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    if burst["first_error"]:
        print(f"first burst error: {burst['first_error']}")
    return 0 if ok_rate and ok_machinery and ok_strict and ok_burst and ok_startup else 1


if __name__ == "__main__":
    sys.exit(main())
