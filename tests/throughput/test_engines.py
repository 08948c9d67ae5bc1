from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.throughput.engines import Engine, FioEngine, MetadataEngine, PythonEngine
from e2e.throughput.runner import Client, ThroughputRunner, directory_check, overhead_ratios
from e2e.throughput.workloads import MIB, Kind, Workload, WorkloadPlan, parse_size
from qualify.report.model import Outcome

SMALL = WorkloadPlan(
    size_bytes=4 * MIB, random_time_cap_s=0.2, sequential_seconds=0, metadata_files=50
)
needs_fio = pytest.mark.skipif(
    shutil.which("fio") is None, reason="fio is not installed (apt-get install fio)"
)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


def engines() -> list[Engine]:
    found: list[Engine] = [PythonEngine()]
    fio = FioEngine.detect()
    if fio is not None:
        found.append(fio)
    return found


@pytest.mark.parametrize("engine", engines(), ids=lambda e: e.name)
def test_every_workload_measures_something_on_a_directory(engine: Engine, tmp_path: Path) -> None:
    for workload in SMALL.single_client():
        runner = MetadataEngine() if workload.kind is Kind.METADATA else engine
        for result in runner.run(workload, tmp_path, "data"):
            assert result.ok, result.message
            assert (
                result.value > 0
                and result.unit
                == {"bandwidth": "MB/s", "iops": "IOPS", "ops": "ops/s"}[result.metric]
            )
            if workload.kind in (Kind.SEQ_WRITE, Kind.SEQ_READ):
                assert result.bytes == 4 * MIB
    assert not (tmp_path / "data.metadata").exists()


@needs_fio
def test_fio_command_uses_json_output_fsync_for_writes_and_a_time_based_run_with_a_ramp(
    tmp_path: Path,
) -> None:
    fio = FioEngine.detect()
    assert fio is not None and fio.version and fio.version.startswith("fio-")
    write = fio.command(
        Workload(Kind.SEQ_WRITE, MIB, 8 * MIB, runtime_s=1, ramp_s=0.25), tmp_path, "f"
    )
    assert {"--output-format=json", "--end_fsync=1", "--time_based=1", "--runtime=1000ms"} <= set(
        write
    )
    assert "--ramp_time=250ms" in write
    read = fio.command(Workload(Kind.RAND_READ, 4096, 8 * MIB, runtime_s=2), tmp_path, "f")
    assert "--rw=randread" in read and "--runtime=2000ms" in read and "--end_fsync=1" not in read
    one_pass = fio.command(Workload(Kind.SEQ_READ, MIB, 8 * MIB), tmp_path, "f")
    assert not any(arg.startswith(("--time_based", "--runtime", "--ramp")) for arg in one_pass)


@pytest.mark.parametrize("engine", engines(), ids=lambda e: e.name)
def test_a_random_write_on_a_small_file_runs_for_its_runtime_not_for_one_pass(
    engine: Engine, tmp_path: Path
) -> None:
    # The bug this guards against: a size-bound 4 MiB random write finished in a few ms and
    # its IOPS snapped to blocks / time; time-based, it measures for the runtime it was given.
    plan = WorkloadPlan(size_bytes=4 * MIB, random_time_cap_s=0.4, ramp_s=0.3)
    engine.run(plan.single_client()[0], tmp_path, "data")  # lays the file out
    [result] = engine.run(plan.single_client()[3], tmp_path, "data")
    assert result.ok, result.message
    assert result.workload == "rand-write" and result.metric == "iops"
    # The measured time is the runtime: the ramp before it is not counted.
    assert 0.35 <= result.duration_s < 0.4 + 0.25, result.duration_s
    # It went over the 4 MiB file more than once, at the rate it reports.
    assert result.bytes > 4 * MIB
    assert result.value == pytest.approx(result.bytes / 4096 / result.duration_s, rel=0.1)


def test_fio_output_without_json_is_a_failure_that_quotes_fio() -> None:
    engine = FioEngine(
        "fio", runner=lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "fio: bad option --foo")
    )
    [result] = engine.run(SMALL.single_client()[0], Path("/tmp"), "f")
    assert not result.ok and "bad option --foo" in (result.message or "")


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@needs_root
@pytest.mark.parametrize("engine", engines(), ids=lambda e: e.name)
def test_a_full_disk_gives_a_clear_message_and_keeps_the_partial_figure(
    engine: Engine, tiny_tmpfs: Path
) -> None:
    workload = Workload(Kind.SEQ_WRITE, MIB, 8 * MIB)
    [result] = engine.run(workload, tiny_tmpfs, "data")
    assert not result.ok
    assert "no space left on device" in (result.message or "") and "smaller --size" in (
        result.message or ""
    )
    assert 0 < result.bytes < 8 * MIB or engine.name == "python-fallback"


@needs_root
def test_a_volume_unmounted_mid_run_is_a_recorded_failure_and_later_runs_are_not_run(
    tiny_tmpfs: Path,
) -> None:
    workloads = [Workload(Kind.SEQ_WRITE, MIB, MIB), Workload(Kind.SEQ_READ, MIB, MIB)]

    class UnmountAfterFirst(PythonEngine):
        def run(self, workload, directory, file_name):  # type: ignore[no-untyped-def]
            results = super().run(workload, directory, file_name)
            subprocess.run(["umount", "-l", str(directory)], check=True)
            return results

    client = Client(
        "node-1", "published", tiny_tmpfs, directory_check(tiny_tmpfs, must_be_mount=True)
    )
    runner = ThroughputRunner(UnmountAfterFirst(), MetadataEngine(), progress=lambda _: None)
    first, second = runner.single([client], workloads, repeats=1)
    assert first.outcome is Outcome.FAILED and "no longer a mount point" in (first.message or "")
    assert second.outcome is Outcome.NOT_RUN and "volume is gone" in (second.message or "")


def test_the_overhead_ratio_pairs_runs_by_repeat(tmp_path: Path) -> None:
    runner = ThroughputRunner(PythonEngine(), MetadataEngine(), progress=lambda _: None)
    clients = [
        Client("node-1", "published", tmp_path, directory_check(tmp_path, must_be_mount=False)),
        Client("root", "raw", tmp_path, directory_check(tmp_path, must_be_mount=False)),
    ]
    measurements = runner.single(clients, SMALL.single_client()[:2], repeats=2)
    # Interleaved, and the order flips every repeat so neither target always goes first.
    assert [m.target for m in measurements[:4]] == ["published", "raw", "published", "raw"]
    assert [m.target for m in measurements[4:6]] == ["raw", "published"]
    ratios = {r.workload: r for r in overhead_ratios(measurements)}
    assert set(ratios) == {"seq-write", "seq-read", "all data workloads"}
    assert all(r.ratio > 0 and r.method for r in ratios.values())


def test_sizes_parse_in_binary_units_and_reject_nonsense() -> None:
    assert parse_size("64M") == parse_size("64MiB") == 64 * MIB
    assert parse_size("1G") == 1024 * MIB
    for bad in ("lots", "512K", "-1M"):
        with pytest.raises(ValueError):
            parse_size(bad)
