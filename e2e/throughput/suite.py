"""The throughput suite as one step of a run: pick the engine, bring up the volume, run the
workloads, and record everything (measurements, ratios, test cases, leaks, raw outputs) into
the bundle being written. Used by `fsx-csi throughput` and by `fsx-csi qualify`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from e2e.throughput.engines import Engine, FioEngine, MetadataEngine, PythonEngine
from e2e.throughput.runner import (
    DEFAULT_RATIO_TARGET,
    ThroughputRunner,
    overhead_ratios,
    throughput_suite,
)
from e2e.throughput.workloads import WorkloadPlan
from fsx_csi_harness.results import (
    UNKNOWN,
    DriverInfo,
    Outcome,
    SuiteResult,
    TestResult,
    Throughput,
)

Progress = Callable[[str], None]


class ThroughputBundle(Protocol):
    """What the throughput suite needs of the report bundle being written (qualify's
    BundleWriter); a protocol, so this suite never imports the report above it."""

    @property
    def run_id(self) -> str: ...

    @property
    def raw_dir(self) -> Path: ...

    def write_raw(self, relative: str, content: str | bytes) -> str:
        """Store a tool's output under raw/; returns its bundle-relative path."""
        ...

    def raw_listing(self) -> list[str]: ...

    def checkpoint(self) -> None:
        """Write what is known so far (still incomplete)."""
        ...

    def record_throughput(self, throughput: Throughput, fio: str) -> None:
        """Make `throughput` the bundle's throughput section (the suite keeps filling it in)
        and `fio` the environment's engine label."""
        ...


@dataclass
class ThroughputOptions:
    run_id: str
    work_dir: Path
    plan: WorkloadPlan = field(default_factory=WorkloadPlan)
    repeats: int = 4
    nodes: int = 2
    ratio_target: float = DEFAULT_RATIO_TARGET
    # "auto": fio when on PATH, else the Python fallback; "python" forces the fallback.
    engine: str = "auto"
    csi_endpoint: str | None = None
    # The driver the harness starts (--driver-command); None: the reference driver.
    driver_command: str | None = None
    emulation_root: Path | None = None
    aws_endpoint_url: str | None = None
    creation_delay_s: float = 0.2


def select_engine(choice: str) -> tuple[Engine, str, list[str]]:
    """The data engine, the environment's fio label, and notes for the report."""
    if choice != "python":
        fio = FioEngine.detect()
        if fio is not None:
            return fio, fio.version or "fio", []
        if choice == "fio":
            raise SystemExit(
                "fsx-csi throughput: --engine fio was requested but fio is not on PATH; "
                "install it (Debian/Ubuntu: apt-get install fio) or use --engine auto"
            )
        note = (
            "fio is not installed: the data workloads ran on the built-in Python fallback "
            "engine, whose figures are not fio's; install fio (apt-get install fio) for "
            "comparable numbers"
        )
        return PythonEngine(), "fallback engine (fio not found)", [note]
    note = "the Python fallback engine was chosen with --engine python"
    return PythonEngine(), "fallback engine (chosen with --engine python)", [note]


def run_local_throughput(
    options: ThroughputOptions, writer: ThroughputBundle, progress: Progress
) -> SuiteResult:
    from e2e.throughput.local import LocalSetupError, LocalVolume, LocalVolumeConfig

    started = time.monotonic()
    engine, fio_label, notes = select_engine(options.engine)
    progress(
        f"throughput: data workloads on {engine.name}"
        + (f" ({engine.version})" if engine.version else "")
    )
    for note in notes:  # the fallback engine says so where the run is watched, too
        progress(f"throughput: {note}")
    throughput = Throughput(
        engine=engine.name,
        engine_version=engine.version,
        metadata_engine="python (create/stat/delete; the same on every platform)",
        notes=list(notes),
    )
    writer.record_throughput(throughput, fio_label)
    throughput.notes.extend(w.describe() for w in options.plan.single_client())
    runner = ThroughputRunner(engine, MetadataEngine(), progress, writer.write_raw)
    config = LocalVolumeConfig(
        run_id=options.run_id,
        work_dir=options.work_dir,
        nodes=options.nodes,
        csi_endpoint=options.csi_endpoint,
        driver_command=options.driver_command,
        emulation_root=options.emulation_root,
        aws_endpoint_url=options.aws_endpoint_url,
        creation_delay_s=options.creation_delay_s,
        log_dir=writer.raw_dir / "throughput",
    )
    volume = LocalVolume(config, progress)
    message = None
    try:
        with volume:
            throughput.expected, why_not = volume.expected()
            if why_not is not None:
                throughput.notes.append(why_not)
            clients = volume.clients()
            raw = volume.raw_client()
            single = clients[:1] + ([raw] if raw else [])
            if raw is None:
                throughput.notes.append(
                    "no raw emulation directory is known for this driver: no overhead ratio"
                )
            throughput.measurements.extend(
                runner.single(single, options.plan.single_client(), options.repeats)
            )
            writer.checkpoint()
            if len(clients) > 1:
                throughput.measurements.extend(
                    runner.concurrent(
                        clients, options.plan.multi_client(), options.plan.concurrent_repeats
                    )
                )
            else:
                throughput.notes.append("one node only: the multi-client aggregate was not run")
    except LocalSetupError as exc:
        message = f"could not set up the local volume: {exc}"
    except Exception as exc:  # noqa: BLE001 - a CSI error ends the suite, recorded as such
        message = f"{type(exc).__name__} while running throughput: {exc}"
    # The driver logs are in raw/throughput/ by now (the cluster copies them when it stops).
    throughput.ratios = overhead_ratios(throughput.measurements, options.ratio_target)
    suite = throughput_suite(throughput.measurements, time.monotonic() - started, message)
    suite.leaks = list(volume.leaks)
    suite.driver = DriverInfo(volume.driver_name or UNKNOWN, volume.driver_version or UNKNOWN)
    if message is not None:
        suite.outcome = Outcome.ERROR
        suite.tests.append(TestResult("throughput setup", Outcome.ERROR, message=message))
    suite.raw = [p for p in writer.raw_listing() if p.startswith("raw/throughput/")]
    return suite
