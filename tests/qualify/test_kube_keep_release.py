"""qualify on a cluster end to end, against the wire-level fake API (tests/e2e/fake_kube.py):
the e2e suite keeps the driver it deployed when the throughput suite follows, the fio Job
runs while that driver is still there, and the driver is removed at the end: after
throughput, when throughput fails, and on Ctrl-C (or SIGTERM, the same KeyboardInterrupt)
inside throughput or between the suites."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

import e2e.platforms
import qualify.run as qualify_run
from e2e.platforms import cluster as cluster_platform
from e2e.platforms import kind as kind_platform
from e2e.throughput import kube as kube_throughput
from e2e.throughput.kube import ClusterAccess, KubernetesClientApi, KubeThroughputConfig
from e2e.throughput.workloads import MIB, WorkloadPlan
from qualify.run import QualifyOptions, run_qualify
from tests.e2e.fake_kube import FakeCluster, PodScript
from tests.e2e.test_kube_platforms import RecordingRunner, needs_kubectl, no_port_forward
from tests.throughput.test_kube import pod_log

RUN_ID = "qualify-20260101-000000-keep01"
PLAN = WorkloadPlan(size_bytes=64 * MIB)
DRIVER_WORKLOADS = {
    ("Deployment", "fsx-csi", "fsx-csi-controller"),
    ("DaemonSet", "fsx-csi", "fsx-csi-node"),
}


class WatchingApi(KubernetesClientApi):
    """The real client; notes which driver workloads stand when the fio Job is applied, and
    can fail there (a Ctrl-C in the middle of the throughput suite)."""

    def __init__(self, cluster: FakeCluster, interrupt: bool = False) -> None:
        super().__init__(None, api_client=cluster.core.api_client)
        self._cluster = cluster
        self._interrupt = interrupt
        self.driver_at_job: set[tuple[str, str | None, str]] | None = None

    def apply(self, obj: dict[str, Any]) -> None:
        if obj["kind"] == "Job":
            self.driver_at_job = {k for k in self._cluster.applied if k[0] != "Namespace"}
            if self._interrupt:
                raise KeyboardInterrupt
        super().apply(obj)


@pytest.fixture
def cluster(emulator: Any) -> FakeCluster:
    fake = FakeCluster(emulator)
    fake.pod_scripts["fsx-app"] = PodScript(
        exec_results=[(0, "Mon hello from FSx\n"), (0, "Mon hello from FSx\nMon hello from FSx\n")]
    )
    fake.pod_scripts["fsx-app-other-node"] = PodScript(log="a hello from FSx\nb hello from FSx\n")
    fake.job_scripts[KubeThroughputConfig(run_id=RUN_ID).name] = PodScript(
        log=pod_log(300_000_000, 500_000_000)
    )
    return fake


def run_on_the_fake(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cluster: FakeCluster,
    emulator: Any,
    api: WatchingApi,
    kind: RecordingRunner | None = None,
) -> tuple[int, str]:
    """qualify on platform cluster, or on kind when `kind` (its command runner) is given."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("")
    platform: Any = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(),
        connect=lambda path, context: cluster.clients(),
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: emulator,
        environ={},
    )
    if kind is not None:
        platform = kind_platform.KindPlatform(
            runner=kind,
            connect=lambda path: cluster.clients(),
            port_forward=no_port_forward,
            fsx_client_factory=lambda url, region: emulator,
        )
    monkeypatch.setattr(e2e.platforms, "load_platform", lambda name: platform)
    real_run = kube_throughput.run_kube_throughput
    now = [0.0]

    def sleep(seconds: float) -> None:  # the throughput waits poll on a virtual clock
        now[0] += seconds
        time.sleep(0.002)

    access = ClusterAccess(
        api=api,
        port_forward=no_port_forward,
        fsx_client=lambda url, region: emulator,
        clock=lambda: now[0],
        sleep=sleep,
    )
    monkeypatch.setattr(
        kube_throughput,
        "run_kube_throughput",
        lambda options, writer, progress: real_run(options, writer, progress, access),
    )
    stream = io.StringIO()
    code = run_qualify(
        QualifyOptions(
            platform="cluster" if kind is None else "kind",
            suites=("e2e", "throughput"),
            report_dir=tmp_path / "reports",
            work_dir=tmp_path / "work",
            run_id=RUN_ID,
            kubeconfig=kubeconfig,
            e2e_scenarios=("dynamic",),
            plan=PLAN,
            stream=stream,
        )
    )
    return code, stream.getvalue()


def suites_of(tmp_path: Path) -> dict[str, dict[str, Any]]:
    summary = json.loads((tmp_path / "reports" / RUN_ID / "summary.json").read_text())
    return {suite["name"]: suite for suite in summary["suites"]}


@needs_kubectl
def test_throughput_runs_on_the_driver_e2e_kept_and_the_driver_is_removed_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, emulator: Any
) -> None:
    api = WatchingApi(cluster)

    code, progress = run_on_the_fake(tmp_path, monkeypatch, cluster, emulator, api)

    suites = suites_of(tmp_path)
    assert suites["e2e"]["outcome"] == "passed", suites["e2e"]
    assert suites["throughput"]["outcome"] == "passed", suites["throughput"]
    assert code == 0, progress
    assert api.driver_at_job is not None and api.driver_at_job >= DRIVER_WORKLOADS, (
        "the fio Job ran while the e2e suite's driver was still deployed"
    )
    assert "kept the deployed driver for the throughput suite" in progress
    assert "removing the deployed driver kept for the throughput suite" in progress
    assert cluster.applied == {}, "the kept driver is removed at the end"
    assert not cluster.jobs and not cluster.claims and not cluster.volumes
    assert emulator.describe_file_systems()["FileSystems"] == []


@needs_kubectl
def test_a_failed_throughput_suite_still_removes_the_kept_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, emulator: Any
) -> None:
    cluster.job_scripts[KubeThroughputConfig(run_id=RUN_ID).name] = PodScript(
        waiting_reason="ErrImageNeverPull"
    )

    code, _ = run_on_the_fake(tmp_path, monkeypatch, cluster, emulator, WatchingApi(cluster))

    assert code != 0
    assert suites_of(tmp_path)["throughput"]["outcome"] == "failed"
    assert cluster.applied == {} and not cluster.jobs and not cluster.claims


@needs_kubectl
def test_ctrl_c_in_the_throughput_suite_removes_the_kept_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, emulator: Any
) -> None:
    with pytest.raises(KeyboardInterrupt):
        run_on_the_fake(
            tmp_path, monkeypatch, cluster, emulator, WatchingApi(cluster, interrupt=True)
        )

    assert cluster.applied == {}, "released on the way out of the interrupted suite"
    assert not cluster.claims and not cluster.storage_classes
    assert emulator.describe_file_systems()["FileSystems"] == []


@needs_kubectl
def test_ctrl_c_between_the_suites_removes_the_kept_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, emulator: Any
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # after e2e kept its driver, before throughput starts

    monkeypatch.setattr(qualify_run, "run_throughput_suite", interrupted)

    with pytest.raises(KeyboardInterrupt):
        run_on_the_fake(tmp_path, monkeypatch, cluster, emulator, WatchingApi(cluster))

    assert cluster.applied == {}, "the run's end releases what no throughput suite used"


class KindCommands(RecordingRunner):
    """kind's command lines, each noted against whether the fio Job had been created yet."""

    def __init__(self, cluster: FakeCluster) -> None:
        super().__init__()
        self._cluster = cluster
        self.after_job: list[list[str]] = []

    def run(self, argv: Any, **kwargs: Any) -> Any:
        if any(key for key in self._cluster.requests if key[1].endswith("/jobs")):
            self.after_job.append(list(argv))
        return super().run(argv, **kwargs)


@needs_kubectl
def test_on_kind_the_kept_cluster_has_the_fio_image_and_is_deleted_after_throughput(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, emulator: Any
) -> None:
    runner = KindCommands(cluster)

    code, progress = run_on_the_fake(
        tmp_path, monkeypatch, cluster, emulator, WatchingApi(cluster), kind=runner
    )

    assert code == 0, progress
    name = kind_platform.cluster_name_for(RUN_ID)
    commands = runner.without_kustomize()
    assert ["kind", "load", "docker-image", "fsx-csi-harness:fio", "--name", name] in commands
    # Deleted once, after the fio Job: by the release, not by the e2e suite.
    deletes = [c for c in commands if c[:3] == ["kind", "delete", "cluster"]]
    assert len(deletes) == 1 and deletes[0] in runner.after_job
    # The emulation root stays mounted for throughput's pods; unmounted after the delete.
    unmounts = [c for c in commands if c[0] == "umount"]
    assert len(unmounts) == 1 and commands.index(unmounts[0]) > commands.index(deletes[0])
    assert "removing kind cluster" in progress


@needs_kubectl
def test_on_kind_ctrl_c_in_throughput_deletes_the_kept_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cluster: FakeCluster, emulator: Any
) -> None:
    runner = KindCommands(cluster)

    with pytest.raises(KeyboardInterrupt):
        run_on_the_fake(
            tmp_path, monkeypatch, cluster, emulator, WatchingApi(cluster, interrupt=True),
            kind=runner,
        )  # fmt: skip

    # Deleted, then its emulation root unmounted, by the release on the way out.
    assert [c[:3] for c in runner.without_kustomize()][-2:] == [
        ["kind", "delete", "cluster"],
        ["umount", "--recursive", "--lazy"],
    ]
