"""Running workloads on clients, and turning what they measured into report records.

A client is one directory one node writes to: the published target path of a node (target
"published"), or the emulation directory itself (target "raw", local platform only). Single-
client runs interleave the targets and alternate their order every repeat, so slow phases of
a shared machine hit both targets alike; the published/raw ratio is then the median of the
per-repeat paired ratios.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from e2e.throughput.engines import MB, Engine, EngineResult, MetadataEngine
from e2e.throughput.workloads import DATA_FILE, Kind, Workload
from fsx_csi_harness import mountinfo
from fsx_csi_harness.results import Measurement, Outcome, Ratio, SuiteResult, TestResult

DEFAULT_RATIO_TARGET = 0.95

# Says what is wrong with a client's volume, or None when it is usable.
VolumeCheck = Callable[[], "str | None"]
# Stores a raw tool output in the bundle; returns its bundle-relative path.
RawSink = Callable[[str, str], "str | None"]


def mount_points(path: Path = mountinfo.MOUNTINFO) -> set[str]:
    """Every mount point of this mount namespace, bind mounts included (see mountinfo)."""
    return {entry.mount_point for entry in mountinfo.read(path)}


def directory_check(directory: Path, must_be_mount: bool) -> VolumeCheck:
    """A published volume must stay a mount point: once it is unmounted, writes would land
    silently on the node's own disk, so that case is a failure, not a measurement."""

    def check() -> str | None:
        if not directory.is_dir():
            return f"{directory} no longer exists"
        if must_be_mount and str(directory.resolve()) not in mount_points():
            return f"{directory} is no longer a mount point (the volume was unmounted)"
        return None

    return check


@dataclass
class Client:
    name: str
    target: str  # "published" or "raw"
    directory: Path
    check: VolumeCheck


class ThroughputRunner:
    def __init__(
        self,
        engine: Engine,
        metadata_engine: MetadataEngine,
        progress: Callable[[str], None],
        raw_sink: RawSink | None = None,
    ) -> None:
        self.engine = engine
        self.metadata_engine = metadata_engine
        self._progress = progress
        self._raw_sink = raw_sink
        # Targets whose volume went away: later runs on them are recorded as not run.
        self._lost: dict[str, str] = {}

    def single(
        self, clients: list[Client], workloads: list[Workload], repeats: int
    ) -> list[Measurement]:
        measurements: list[Measurement] = []
        total = repeats * len(workloads) * len(clients)
        planned_left = repeats * len(clients) * sum(w.planned_s for w in workloads)
        done = 0
        for repeat in range(repeats):
            order = clients if repeat % 2 == 0 else list(reversed(clients))
            for workload in workloads:
                for client in order:
                    done += 1
                    left = f", about {planned_left:.0f} s of runs left" if planned_left else ""
                    self._progress(
                        f"throughput [{done}/{total}] {workload.name} on {client.target} "
                        f"({client.name}), run {repeat + 1}/{repeats}{left}"
                    )
                    results = self._one(client, workload, repeat, client_label=None)
                    planned_left = max(0.0, planned_left - workload.planned_s)
                    self._progress(
                        f"throughput [{done}/{total}] "
                        + "; ".join(_result_line(m) for m in results)
                    )
                    measurements.extend(results)
        for client in clients:
            _remove_quietly(client.directory / DATA_FILE)
        return measurements

    def concurrent(
        self, clients: list[Client], workloads: list[Workload], repeats: int = 1
    ) -> list[Measurement]:
        """Every client runs the workload at the same moment; the aggregate is the bytes of
        all clients over the longest client's time (what the file system delivered). Repeated
        `repeats` times, so the aggregate has a spread too."""
        measurements: list[Measurement] = []
        total = repeats * len(workloads)
        done = 0
        for repeat in range(repeats):
            for workload in workloads:
                done += 1
                name = f"{workload.name} x{len(clients)}"
                self._progress(
                    f"throughput [{done}/{total}] {name}: {len(clients)} clients at once, "
                    f"run {repeat + 1}/{repeats}"
                )
                runs = self._at_once(clients, workload, repeat)
                for measurement in runs:
                    measurement.workload = name
                aggregate = _aggregate(name, workload, runs, repeat)
                self._progress(f"throughput [{done}/{total}] {_result_line(aggregate)} aggregate")
                measurements.extend(runs)
                measurements.append(aggregate)
        for client in clients:
            _remove_quietly(client.directory / f"{DATA_FILE}.{client.name}")
        return measurements

    def _at_once(self, clients: list[Client], workload: Workload, repeat: int) -> list[Measurement]:
        per_client: list[list[Measurement]] = [[] for _ in clients]
        barrier = threading.Barrier(len(clients))

        def work(index: int, client: Client) -> None:
            barrier.wait()
            per_client[index] = self._one(
                client, workload, repeat, client_label=client.name, file_suffix=client.name
            )

        threads = [
            threading.Thread(target=work, args=(i, c), name=f"throughput-{c.name}")
            for i, c in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [m for group in per_client for m in group]

    def _one(
        self,
        client: Client,
        workload: Workload,
        repeat: int,
        client_label: str | None,
        file_suffix: str | None = None,
    ) -> list[Measurement]:
        file_name = f"{DATA_FILE}.{file_suffix}" if file_suffix else DATA_FILE

        def record(result: EngineResult, outcome: Outcome, message: str | None) -> Measurement:
            raw_path = None
            if result.raw and self._raw_sink is not None:
                raw_path = self._raw_sink(
                    f"throughput/{client.target}-{client.name}-{result.workload}-r{repeat}.json",
                    result.raw,
                )
            return Measurement(
                workload=result.workload,
                target=client.target,
                metric=result.metric,
                value=round(result.value, 3),
                unit=result.unit,
                outcome=outcome,
                client=client_label,
                repeat=repeat,
                duration_s=round(result.duration_s, 4),
                bytes=result.bytes,
                engine=result.engine,
                message=message,
                raw=raw_path,
            )

        lost = self._lost.get(client.directory.as_posix()) or client.check()
        if lost is not None:
            self._lost[client.directory.as_posix()] = lost
            return [
                Measurement(
                    workload=name,
                    target=client.target,
                    metric=workload.metric,
                    value=0.0,
                    unit=workload.unit,
                    outcome=Outcome.NOT_RUN,
                    client=client_label,
                    repeat=repeat,
                    message=f"not run: the volume is gone: {lost}",
                )
                for name in _result_names(workload)
            ]
        engine = self.metadata_engine if workload.kind is Kind.METADATA else self.engine
        results = engine.run(workload, client.directory, file_name)
        lost_after = client.check()
        measurements = []
        for result in results:
            if lost_after is not None:
                self._lost[client.directory.as_posix()] = lost_after
                message = (
                    f"the volume disappeared during {result.workload}: {lost_after}; "
                    "the figure is void"
                    + (f" (the engine said: {result.message})" if result.message else "")
                )
                measurements.append(record(result, Outcome.FAILED, message))
            elif not result.ok:
                self._progress(f"throughput {result.workload} on {client.target} failed: "
                               f"{result.message}")  # fmt: skip
                measurements.append(record(result, Outcome.FAILED, result.message))
            else:
                measurements.append(record(result, Outcome.PASSED, None))
        return measurements


def _result_line(measurement: Measurement) -> str:
    if measurement.outcome is not Outcome.PASSED:
        return f"{measurement.workload}: {measurement.outcome.value}"
    return f"{measurement.workload}: {measurement.value:,.0f} {measurement.unit}"


def _result_names(workload: Workload) -> list[str]:
    if workload.kind is Kind.METADATA:
        return ["metadata-create", "metadata-stat", "metadata-delete"]
    return [workload.name]


def _aggregate(
    name: str, workload: Workload, runs: list[Measurement], repeat: int = 0
) -> Measurement:
    failed = [m for m in runs if m.outcome is not Outcome.PASSED]
    total_bytes = sum(m.bytes for m in runs)
    longest = max((m.duration_s for m in runs), default=0.0)
    value = total_bytes / longest / MB if longest > 0 else 0.0
    return Measurement(
        workload=name,
        target="aggregate",
        metric=workload.metric,
        value=round(value, 3),
        unit=workload.unit,
        outcome=Outcome.FAILED if failed else Outcome.PASSED,
        repeat=repeat,
        bytes=total_bytes,
        duration_s=round(longest, 4),
        engine=runs[0].engine if runs else "",
        message=(
            f"{len(failed)} of {len(runs)} clients failed: "
            + "; ".join(f"{m.client}: {m.message}" for m in failed)
            if failed
            else None
        ),
    )


def _remove_quietly(path: Path) -> None:
    # The volume may be gone (that is a recorded failure already); nothing to add here.
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def overhead_ratios(
    measurements: list[Measurement], target: float = DEFAULT_RATIO_TARGET
) -> list[Ratio]:
    """published/raw per workload: the ratio of the two medians (so it is the division of the
    two figures a reader sees beside it), with the range of the runs' paired ratios (run i on
    the volume over run i on the raw directory) as its spread.

    Also an overall entry over the data workloads (the geometric mean of their ratios), the
    figure the >= target goal is about; metadata is listed but does not count towards it,
    because file creation on a shared disk is dominated by journal noise, not the data path.
    """
    values: dict[tuple[str, str, int], Measurement] = {}
    for m in measurements:
        if m.client is None and m.target in ("raw", "published") and m.outcome is Outcome.PASSED:
            values[(m.workload, m.target, m.repeat)] = m
    workloads = list(dict.fromkeys(key[0] for key in values))
    ratios: list[Ratio] = []
    data_ratios: list[float] = []
    for workload in workloads:
        pairs = [
            (values[(workload, "published", r)], values[(workload, "raw", r)])
            for (w, t, r) in values
            if w == workload and t == "published" and (workload, "raw", r) in values
        ]
        pairs = [(p, q) for p, q in pairs if q.value > 0]
        if not pairs:
            continue
        published = statistics.median(p.value for p, _ in pairs)
        raw = statistics.median(q.value for _, q in pairs)
        if raw <= 0:
            continue
        ratio = published / raw
        paired = [p.value / q.value for p, q in pairs]
        if not workload.startswith("metadata"):
            data_ratios.append(ratio)
        ratios.append(
            Ratio(
                workload=workload,
                metric=pairs[0][0].metric,
                published=published,
                raw=raw,
                ratio=round(ratio, 4),
                target=target,
                meets_target=ratio >= target,
                method=f"median of {len(pairs)} paired runs each",
                paired_low=round(min(paired), 4),
                paired_high=round(max(paired), 4),
            )
        )
    if data_ratios:
        overall = math.exp(statistics.fmean(math.log(r) for r in data_ratios))
        ratios.append(
            Ratio(
                workload="all data workloads",
                metric="ratio",
                published=0.0,
                raw=0.0,
                ratio=round(overall, 4),
                target=target,
                meets_target=overall >= target,
                method=f"geometric mean over {len(data_ratios)} data workloads",
                paired_low=round(min(data_ratios), 4),
                paired_high=round(max(data_ratios), 4),
            )
        )
    return ratios


def throughput_suite(
    measurements: list[Measurement], duration_s: float, message: str | None
) -> SuiteResult:
    """The throughput runs as test cases, so junit.xml and the verdict cover them too."""
    tests: list[TestResult] = []
    grouped: dict[tuple[str, str, str | None], list[Measurement]] = {}
    for m in measurements:
        grouped.setdefault((m.workload, m.target, m.client), []).append(m)
    for (workload, target, client), runs in grouped.items():
        bad = [m for m in runs if m.outcome is not Outcome.PASSED]
        name = f"{workload} on {target}" + (f" [{client}]" if client else "")
        if not bad:
            outcome = Outcome.PASSED
        elif all(m.outcome is Outcome.NOT_RUN for m in bad):
            outcome = Outcome.NOT_RUN
        else:
            outcome = Outcome.FAILED
        tests.append(
            TestResult(
                name=name,
                classname=target,
                outcome=outcome,
                duration_s=round(sum(m.duration_s for m in runs), 3),
                message=bad[0].message if bad else None,
            )
        )
    # The published/raw ratio is a measured figure (shown in the report and compared between
    # bundles), not a test: on a shared machine its noise is larger than the 5 % it is judged
    # by, and timing must not decide a correctness verdict.
    failed = any(t.outcome.is_failure for t in tests)
    return SuiteResult(
        name="throughput",
        outcome=Outcome.FAILED if failed else Outcome.PASSED,
        duration_s=round(duration_s, 3),
        message=message,
        tests=tests,
    )
