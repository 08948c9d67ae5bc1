from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from e2e import leaks
from e2e.platforms.kind import DEFAULT_FIO_IMAGE
from e2e.throughput.kube import (
    LABEL,
    MARKER,
    ClusterAccess,
    KubernetesClientApi,
    KubeThroughputConfig,
    ThroughputSetupFailed,
    expected_figures,
    parse_pod_log,
    render_objects,
    run_fio_jobs,
    run_kube_throughput,
)
from e2e.throughput.workloads import MIB, WorkloadPlan
from fsx_csi_harness.results import DriverInfo, Throughput
from qualify.report.model import Outcome
from tests.e2e.fake_kube import DRIVER, UPSTREAM_IMAGE, FakeCluster, PodScript, image_id

KUBERNETES_VERSION = "1.31"
PLAN = WorkloadPlan(size_bytes=64 * MIB)


def test_rendered_objects_validate_against_the_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for obj in render_objects(KubeThroughputConfig(run_id="20260101-000000-abcdef", nodes=3)):
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_job_puts_one_fio_pod_on_each_node_all_at_once() -> None:
    _, claim, job = render_objects(KubeThroughputConfig(run_id="r1", nodes=3))
    spec = job["spec"]
    assert spec["parallelism"] == spec["completions"] == 3
    anti = spec["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert (
        anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"]
        == "kubernetes.io/hostname"
    )
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    script = spec["template"]["spec"]["containers"][0]["command"][2]
    assert "--output-format=json" in script and "--rw=write" in script and "--rw=read" in script


def fio_json(bw_bytes: int, io_bytes: int, side: str) -> str:
    return json.dumps(
        {
            "jobs": [
                {
                    "error": 0,
                    side: {
                        "bw_bytes": bw_bytes,
                        "io_bytes": io_bytes,
                        "runtime": 1000,
                        "iops": 1.0,
                    },
                }
            ]
        }
    )


def pod_log(write_bw: int, read_bw: int) -> str:
    return "\n".join(
        [
            "apt noise",
            f"{MARKER} begin seq-write",
            fio_json(write_bw, write_bw, "write"),
            f"{MARKER} end seq-write rc=0",
            f"{MARKER} begin seq-read",
            "fio: warning",
            fio_json(read_bw, read_bw, "read"),
            f"{MARKER} end seq-read rc=0",
        ]
    )


class RecordingApi:
    """Records every call; reports the Job running once, then done."""

    def __init__(self, logs: dict[str, str]) -> None:
        self.calls: list[tuple[str, str]] = []
        self._polls = 0
        self._logs = logs

    def apply(self, obj: dict[str, Any]) -> None:
        self.calls.append(("apply", obj["kind"]))

    def delete(self, obj: dict[str, Any]) -> None:
        self.calls.append(("delete", obj["kind"]))

    def job_state(self, namespace: str, name: str) -> tuple[bool, str]:
        self._polls += 1
        self.calls.append(("job_state", name))
        return self._polls > 1, f"active {2 if self._polls == 1 else 0}"

    def claim_state(self, namespace: str, name: str) -> tuple[str, str]:
        self.calls.append(("claim_state", name))
        return "Bound", "Normal ProvisioningSucceeded: Successfully provisioned volume pvc-1"

    def pod_logs(self, namespace: str, selector: str) -> dict[str, str]:
        self.calls.append(("pod_logs", selector))
        return self._logs


def test_fio_jobs_are_applied_awaited_read_aggregated_and_deleted() -> None:
    api = RecordingApi(
        {"node-a": pod_log(300_000_000, 500_000_000), "node-b": pod_log(200_000_000, 400_000_000)}
    )
    config = KubeThroughputConfig(run_id="r1", nodes=2, plan=PLAN)
    measurements = run_fio_jobs(api, config, progress=lambda _: None, sleep=lambda _: None)
    kinds = [c for c in api.calls if c[0] in ("apply", "delete")]
    assert kinds == [
        ("apply", "StorageClass"),
        ("apply", "PersistentVolumeClaim"),
        ("apply", "Job"),
        ("delete", "Job"),
        ("delete", "PersistentVolumeClaim"),
        ("delete", "StorageClass"),
    ]
    assert ("pod_logs", f"{LABEL}=r1") in api.calls
    aggregate = {m.workload: m.value for m in measurements if m.target == "aggregate"}
    assert aggregate == {"seq-write": 500.0, "seq-read": 900.0}


def test_objects_are_deleted_even_when_the_job_never_finishes() -> None:
    class Stuck(RecordingApi):
        def job_state(self, namespace: str, name: str) -> tuple[bool, str]:
            return False, "active 0, pods Pending"

    api = Stuck({})
    ticks = iter(range(0, 10_000, 100))
    with pytest.raises(TimeoutError, match="pods Pending"):
        run_fio_jobs(
            api,
            KubeThroughputConfig(run_id="r1"),
            lambda _: None,
            timeout_s=300,
            clock=lambda: float(next(ticks)),
            sleep=lambda _: None,
        )
    assert [c for c in api.calls if c[0] == "delete"][-1] == ("delete", "StorageClass")


def test_a_pod_log_without_fio_json_is_a_failed_measurement() -> None:
    log = f"{MARKER} begin seq-write\nsh: fio: not found\n{MARKER} end seq-write rc=127"
    [measurement] = parse_pod_log(log, "node-a", PLAN)
    assert measurement.outcome is Outcome.FAILED and "fio: not found" in (measurement.message or "")


def test_expected_figures_come_from_the_fsx_rules() -> None:
    scratch = expected_figures({"deploymentType": "SCRATCH_2"}, 2400)
    assert scratch.baseline_mbps == pytest.approx(2400 / 1024 * 200, abs=0.1)
    assert scratch.burst_mbps == pytest.approx(2400 / 1024 * 1300, abs=0.1)
    persistent = expected_figures(
        {"deploymentType": "PERSISTENT_2", "perUnitStorageThroughput": "500"}, 1200
    )
    assert (
        persistent.baseline_mbps == pytest.approx(1200 / 1024 * 500, abs=0.1)
        and persistent.burst_mbps is None
    )


def test_a_claim_that_cannot_bind_fails_fast_without_waiting_on_the_job() -> None:
    class Unbindable(RecordingApi):
        def claim_state(self, namespace: str, name: str) -> tuple[str, str]:
            self.calls.append(("claim_state", name))
            return "Pending", "ProvisioningFailed: rpc error: code = InvalidArgument"

    api = Unbindable({})
    with pytest.raises(ThroughputSetupFailed, match="cannot be provisioned: ProvisioningFailed"):
        run_fio_jobs(api, KubeThroughputConfig(run_id="r1"), lambda _: None, sleep=lambda _: None)
    assert ("job_state", KubeThroughputConfig(run_id="r1").name) not in api.calls
    assert [c for c in api.calls if c[0] == "delete"][-1] == ("delete", "StorageClass")


def test_a_claim_nothing_binds_fails_after_its_own_timeout_naming_the_driver() -> None:
    class NoDriver(RecordingApi):
        def claim_state(self, namespace: str, name: str) -> tuple[str, str]:
            return "Pending", "Normal ExternalProvisioning: waiting for a volume to be created"

    ticks = iter(range(0, 100_000, 50))
    with pytest.raises(ThroughputSetupFailed, match="is the driver deployed and ready"):
        run_fio_jobs(
            NoDriver({}),
            KubeThroughputConfig(run_id="r1"),
            lambda _: None,
            claim_timeout_s=300,
            clock=lambda: float(next(ticks)),
            sleep=lambda _: None,
        )


def test_the_file_systems_carry_the_run_tags_and_fio_is_never_installed_at_run_time() -> None:
    storage_class, _, job = render_objects(KubeThroughputConfig(run_id="r1"))
    tags = storage_class["parameters"]["extraTags"]
    assert f"{leaks.RUN_ID_TAG}=r1" in tags and f"{leaks.SCENARIO_TAG}=throughput" in tags
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == DEFAULT_FIO_IMAGE == "fsx-csi-harness:fio"
    script = container["command"][-1]
    assert "apt-get" not in script and "docker build --target fio" in script
    other = render_objects(KubeThroughputConfig(run_id="r1", fio_image="registry/fio:3"))
    assert other[2]["spec"]["template"]["spec"]["containers"][0]["image"] == "registry/fio:3"


# ---------------------------------------------------------------- through the real client
# The run as it happens on a cluster: the real kubernetes ApiClient (KubernetesClientApi)
# over the wire-level fake API server (tests/e2e/fake_kube.py: batch/v1 Jobs whose
# controller creates one pod per node, JSON with omitted zero fields), the FSx side in the
# project's emulator over HTTP.


@dataclass(frozen=True)
class ClusterOptions:
    """What qualify's options carry into the kind/cluster run (KubeThroughputOptions)."""

    aws_settings: Path | None = None
    nodes: int = 2
    plan: WorkloadPlan = PLAN
    aws: str = "emulated"
    kubeconfig: Path | None = None
    settings: Mapping[str, str] = field(default_factory=dict)


class Bundle:
    """The report bundle being written, as the throughput suite uses it (ThroughputBundle)."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.run_id = run_id
        self.raw_dir = root / "raw"
        self.throughput: Throughput | None = None

    def write_raw(self, relative: str, content: str | bytes) -> str:
        path = self.raw_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return f"raw/{relative}"

    def raw_listing(self) -> list[str]:
        return sorted(str(p.relative_to(self.raw_dir)) for p in self.raw_dir.rglob("*"))

    def checkpoint(self) -> None:
        """Nothing to write between steps here."""

    def record_throughput(self, throughput: Throughput, fio: str) -> None:
        self.throughput = throughput


RUN_ID = "qualify-20260101-000000-abcdef"


@contextmanager
def forward_to_emulator(
    kubeconfig: Path | None, namespace: str, service: str, port: int
) -> Iterator[str]:
    assert (namespace, service, port) == ("fsx-csi", "fsx-emulator", 8080)
    yield "http://fsx-emulator.fsx-csi:8080"


def access_to(cluster: FakeCluster, emulator: Any) -> ClusterAccess:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        time.sleep(0.002)  # the emulator's lifecycle moves in real time

    return ClusterAccess(
        api=KubernetesClientApi(None, api_client=cluster.core.api_client),
        port_forward=forward_to_emulator,
        fsx_client=lambda url, region: emulator,
        clock=lambda: now[0],
        sleep=sleep,
    )


def test_the_fio_job_runs_through_the_real_client_and_leaves_nothing(
    tmp_path: Path, emulator: Any
) -> None:
    cluster = FakeCluster(emulator)
    cluster.install_driver()
    name = KubeThroughputConfig(run_id=RUN_ID).name
    cluster.job_scripts[name] = PodScript(log=pod_log(300_000_000, 500_000_000))
    bundle = Bundle(tmp_path, RUN_ID)

    suite = run_kube_throughput(
        ClusterOptions(), bundle, lambda line: None, access_to(cluster, emulator)
    )

    assert suite.outcome is Outcome.PASSED, suite.message
    assert suite.leaks == []
    # The driver measured, as the e2e suite names it: registered name, node plugin image.
    assert suite.driver == DriverInfo(
        DRIVER, f"image {UPSTREAM_IMAGE} ({image_id(UPSTREAM_IMAGE)})"
    )
    assert str(suite.details["driver_identity"]).startswith(
        f"CSINode registration {DRIVER} on 2 node(s) (kind-worker, kind-worker2)"
    )
    assert suite.details["csi_driver"] == (
        f"CSIDriver {DRIVER}: attachRequired=false, podInfoOnMount=false, "
        "fsGroupPolicy=ReadWriteOnceWithFSType; "
        "helm.sh/chart=aws-fsx-csi-driver-1.9.0"
    )
    throughput = bundle.throughput
    assert throughput is not None
    clients = {m.client for m in throughput.measurements if m.target == "published"}
    assert clients == {"kind-worker", "kind-worker2"}, "one fio pod on each schedulable node"
    aggregate = {m.workload: m.value for m in throughput.measurements if m.target == "aggregate"}
    assert aggregate == {"seq-write": 600.0, "seq-read": 1000.0}
    # The expected figures are the file system's the emulator created (SCRATCH_2, 1200 GiB).
    assert throughput.expected is not None
    assert (throughput.expected.deployment_type, throughput.expected.capacity_gib) == (
        "SCRATCH_2",
        1200,
    )
    wire = cluster.requests
    assert ("POST", "/apis/batch/v1/namespaces/default/jobs") in wire
    assert ("GET", f"/apis/batch/v1/namespaces/default/jobs/{name}/status") in wire
    assert ("DELETE", f"/apis/batch/v1/namespaces/default/jobs/{name}") in wire
    assert not cluster.jobs and not cluster.pods and not cluster.claims
    assert not cluster.storage_classes and not cluster.volumes
    assert emulator.describe_file_systems()["FileSystems"] == []


def test_a_file_system_of_the_run_left_in_fsx_is_swept_and_recorded_as_a_leak(
    tmp_path: Path, emulator: Any
) -> None:
    cluster = FakeCluster(emulator)
    cluster.install_driver()
    name = KubeThroughputConfig(run_id=RUN_ID).name
    cluster.job_scripts[name] = PodScript(log=pod_log(300_000_000, 500_000_000))
    # One the provisioner created and never deleted (a retried CreateVolume, say): it carries
    # the run's tags from the StorageClass, and nothing else of the run knows it.
    left = emulator.create_file_system(
        FileSystemType="LUSTRE",
        StorageCapacity=1200,
        SubnetIds=["subnet-0123456789abcdef0"],
        LustreConfiguration={"DeploymentType": "SCRATCH_2"},
        Tags=[{"Key": k, "Value": v} for k, v in leaks.run_tags(RUN_ID, "throughput").items()],
    )["FileSystem"]["FileSystemId"]

    suite = run_kube_throughput(
        ClusterOptions(), Bundle(tmp_path, RUN_ID), lambda line: None, access_to(cluster, emulator)
    )

    assert [(leak.kind, leak.id, leak.removed) for leak in suite.leaks] == [
        ("file-system", left, True)
    ]
    assert emulator.describe_file_systems()["FileSystems"] == []


def test_fio_pods_whose_image_the_nodes_do_not_have_fail_at_once_and_leave_nothing(
    tmp_path: Path, emulator: Any
) -> None:
    cluster = FakeCluster(emulator)
    cluster.install_driver()
    name = KubeThroughputConfig(run_id=RUN_ID).name
    cluster.job_scripts[name] = PodScript(waiting_reason="ErrImageNeverPull")

    suite = run_kube_throughput(
        ClusterOptions(), Bundle(tmp_path, RUN_ID), lambda line: None, access_to(cluster, emulator)
    )

    assert suite.outcome is Outcome.FAILED
    assert "cannot get their image" in (suite.message or "")
    assert "ErrImageNeverPull" in (suite.message or "")
    assert "kind load docker-image fsx-csi-harness:fio" in (suite.message or "")
    assert suite.leaks == []
    assert not cluster.jobs and not cluster.claims and not cluster.volumes
    assert emulator.describe_file_systems()["FileSystems"] == []


def test_a_one_node_cluster_runs_one_fio_client_and_says_so(tmp_path: Path, emulator: Any) -> None:
    cluster = FakeCluster(emulator, nodes=("k3s-server",), control_plane=())
    cluster.install_driver()
    cluster.job_scripts[KubeThroughputConfig(run_id=RUN_ID).name] = PodScript(
        log=pod_log(300_000_000, 500_000_000)
    )
    bundle = Bundle(tmp_path, RUN_ID)

    suite = run_kube_throughput(
        ClusterOptions(nodes=2), bundle, lambda line: None, access_to(cluster, emulator)
    )

    assert suite.outcome is Outcome.PASSED, suite.message
    assert bundle.throughput is not None
    assert any("1 fio client(s) instead of 2" in note for note in bundle.throughput.notes)
    clients = {m.client for m in bundle.throughput.measurements if m.target == "published"}
    assert clients == {"k3s-server"}
    objects = (bundle.raw_dir / "throughput" / "fio-objects.yaml").read_text()
    assert "parallelism: 1" in objects, "the bundle shows the Job that ran"


def test_a_driver_registered_on_no_node_fails_before_any_fio_object_is_applied(
    tmp_path: Path, emulator: Any
) -> None:
    cluster = FakeCluster(emulator)  # no driver installed: every CSINode has drivers null

    suite = run_kube_throughput(
        ClusterOptions(), Bundle(tmp_path, RUN_ID), lambda line: None, access_to(cluster, emulator)
    )

    assert suite.outcome is Outcome.FAILED and not suite.driver.known
    assert (suite.message or "").startswith(
        f"the provisioner {DRIVER} is registered on none of the run's nodes (kind-worker: "
        "drivers none, kind-worker2: drivers none)"
    )
    assert {t.outcome for t in suite.tests} == {Outcome.NOT_RUN}
    assert not [m for m in cluster.requests if m[0] == "POST"], "nothing was created"


def test_figures_whose_driver_cannot_be_identified_are_not_run_saying_why(
    tmp_path: Path, emulator: Any
) -> None:
    cluster = FakeCluster(emulator)
    cluster.install_driver()
    # Registered on the nodes, but its CSIDriver object is gone: the identity is unproven.
    del cluster.applied[("CSIDriver", None, DRIVER)]
    cluster.job_scripts[KubeThroughputConfig(run_id=RUN_ID).name] = PodScript(
        log=pod_log(300_000_000, 500_000_000)
    )

    suite = run_kube_throughput(
        ClusterOptions(), Bundle(tmp_path, RUN_ID), lambda line: None, access_to(cluster, emulator)
    )

    assert suite.outcome is Outcome.NOT_RUN and not suite.driver.known
    assert suite.message == (
        "the run did not record which driver it measured: not read from the cluster: no "
        f"CSIDriver {DRIVER} in the cluster, though the nodes register {DRIVER}"
    )
    assert suite.details["driver_identity"] == suite.message.split("measured: ", 1)[1]
