"""Throughput on kind and cluster platforms: fio pods on one ReadWriteMany volume, one pod
per node, results read from the pods' logs and aggregated.

The objects are plain dicts rendered here (and validated against the Kubernetes schemas in
the tests); `KubeThroughput` applies them through an injected API object so the calls can be
checked with a recording client on machines without a cluster. The report adds the file
system's expected baseline and burst, from DescribeFileSystems of the file system FSx (or the
in-cluster emulator) created for the claim, read by `fsx_csi_harness.fsx`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from e2e.leaks import RUN_ID_TAG, with_run_tags
from e2e.platforms.kind import DEFAULT_FIO_IMAGE, FIO_IMAGE_SETTING
from e2e.platforms.manifests import DRIVER_NAME
from e2e.progress import LineProgress, Probe, WaitTimeout
from e2e.throughput.engines import MB, time_based_arguments
from e2e.throughput.workloads import MIB, Kind, Workload, WorkloadPlan
from fsx_csi_harness.aws_settings import load_aws_settings
from fsx_csi_harness.fsx import DEFAULT_CAPACITY_GIB
from fsx_csi_harness.results import (
    Expected,
    Leak,
    Measurement,
    Outcome,
    SuiteResult,
    TestResult,
    Throughput,
)

if TYPE_CHECKING:
    from e2e.platforms.kube.clients import KubeClients
    from e2e.platforms.kube.identity import DriverIdentity
    from e2e.throughput.expected import FsxClientFactory, PortForward
    from e2e.throughput.suite import ThroughputBundle

LABEL = "fsx-csi-harness/throughput"
# The fio image (DEFAULT_FIO_IMAGE, FIO_IMAGE_SETTING) is the platforms': kind builds and
# loads it into a kept cluster's nodes.
MARKER = "FSX-CSI-FIO-JSON"
# How long the fio claim may take to bind before the run fails (FSx creation on AWS takes
# 5-10 minutes); a ProvisioningFailed event or a driver that is not there fail sooner.
CLAIM_BIND_TIMEOUT_S = 900.0


# Waiting reasons of a container whose image the node cannot get: waiting on is pointless.
IMAGE_PULL_FAILURES: Final = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull")


class ThroughputSetupFailed(Exception):
    """The fio run could not start (a claim that does not bind); says what was seen."""


class KubeThroughputOptions(Protocol):
    """What the kind/cluster throughput run reads of qualify's options (qualify.run's
    QualifyOptions has these fields); a protocol, so this suite never imports qualify.run."""

    @property
    def aws_settings(self) -> Path | None: ...
    @property
    def nodes(self) -> int: ...
    @property
    def plan(self) -> WorkloadPlan: ...
    @property
    def aws(self) -> str: ...
    @property
    def kubeconfig(self) -> Path | None: ...
    @property
    def settings(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class KubeThroughputConfig:
    run_id: str
    nodes: int = 2
    namespace: str = "default"
    storage_class_parameters: dict[str, str] = field(
        default_factory=lambda: {
            "subnetId": "subnet-0123456789abcdef0",
            "securityGroupIds": "sg-0123456789abcdef0",
            "deploymentType": "SCRATCH_2",
        }
    )
    capacity_gib: int = DEFAULT_CAPACITY_GIB
    provisioner: str = "fsx.csi.aws.com"
    fio_image: str = DEFAULT_FIO_IMAGE
    plan: WorkloadPlan = field(default_factory=WorkloadPlan)

    @property
    def name(self) -> str:
        return f"fsx-throughput-{self.run_id}".lower()[:52]


def fio_script(workloads: list[Workload]) -> str:
    """The pod's shell script: fio per workload, each JSON report framed by markers so
    the harness can pick them out of the pod log."""
    lines = [
        "set -u",
        # Images without fio get it from the distribution; a pre-built image skips this.
        # No install at run time (cluster pods often have no internet): say what to do.
        'command -v fio >/dev/null 2>&1 || { echo "fio is not in this image: build one with '
        "docker build --target fio --tag fsx-csi-harness:fio . (and load it into the nodes) "
        f'or pass --set {FIO_IMAGE_SETTING}=IMAGE"; exit 127; }}',
        'file="/data/fsx-csi-throughput.${HOSTNAME}"',
    ]
    for workload in workloads:
        if workload.kind is Kind.METADATA:
            continue
        args = (
            f"--name={workload.name} --filename=$file --rw={workload.kind.fio_rw} "
            f"--bs={workload.block_size} --size={workload.size_bytes} --ioengine=psync "
            "--invalidate=1 --output-format=json"
            + (" --end_fsync=1" if workload.kind.is_write else "")
            + "".join(f" {argument}" for argument in time_based_arguments(workload))
        )
        lines.append(f'echo "{MARKER} begin {workload.name}"')
        lines.append(f"fio {args}")
        lines.append(f'echo "{MARKER} end {workload.name} rc=$?"')
    lines.append('rm -f "$file"')
    return "\n".join(lines)


def render_objects(config: KubeThroughputConfig) -> list[dict[str, Any]]:
    labels = {LABEL: config.run_id}
    name = config.name
    storage_class = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "labels": labels},
        "provisioner": config.provisioner,
        # The run's tags on every file system it creates, so the leak guard finds them.
        "parameters": with_run_tags(config.storage_class_parameters, config.run_id, "throughput"),
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": config.namespace, "labels": labels},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": name,
            "resources": {"requests": {"storage": f"{config.capacity_gib}Gi"}},
        },
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": config.namespace, "labels": labels},
        "spec": {
            # All clients at once, one per node: that is what the aggregate measures.
            "parallelism": config.nodes,
            "completions": config.nodes,
            "completionMode": "Indexed",
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "affinity": {
                        "podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "labelSelector": {"matchLabels": labels},
                                    "topologyKey": "kubernetes.io/hostname",
                                }
                            ]
                        }
                    },
                    "containers": [
                        {
                            "name": "fio",
                            "image": config.fio_image,
                            "command": ["sh", "-c", fio_script(config.plan.multi_client())],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            "env": [
                                {
                                    "name": "NODE_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                                }
                            ],
                        }
                    ],
                    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": name}}],
                },
            },
        },
    }
    return [storage_class, claim, job]


def parse_pod_log(log: str, client: str, plan: WorkloadPlan) -> list[Measurement]:
    """fio JSON documents between markers -> one measurement per workload for this client."""
    workloads = {w.name: w for w in plan.multi_client()}
    measurements: list[Measurement] = []
    current: str | None = None
    buffer: list[str] = []
    for line in log.splitlines():
        if line.startswith(f"{MARKER} begin "):
            current, buffer = line.split()[-1], []
        elif line.startswith(f"{MARKER} end ") and current is not None:
            workload = workloads[current]
            try:
                job = json.loads("\n".join(buffer)[("\n".join(buffer)).index("{") :])["jobs"][0]
                side = job["write" if workload.kind.is_write else "read"]
                error = int(job.get("error", 0))
                measurements.append(
                    Measurement(
                        workload=current, target="published", metric=workload.metric,
                        value=round(float(side["bw_bytes"]) / MB, 3), unit=workload.unit,
                        outcome=Outcome.FAILED if error else Outcome.PASSED, client=client,
                        duration_s=float(side.get("runtime", 0)) / 1000,
                        bytes=int(side.get("io_bytes", 0)), engine="fio",
                        message=f"fio error {error}" if error else None,
                    )
                )  # fmt: skip
            except (ValueError, KeyError, IndexError):
                measurements.append(
                    Measurement(
                        workload=current, target="published", metric=workload.metric, value=0.0,
                        unit=workload.unit, outcome=Outcome.FAILED, client=client,
                        message=f"no fio JSON in the log of {client}: "
                        + " ".join(buffer)[-300:],
                    )
                )  # fmt: skip
            current = None
        elif current is not None:
            buffer.append(line)
    return measurements


def expected_figures(parameters: dict[str, str], capacity_gib: int) -> Expected:
    from fsx_csi_harness import fsx
    from fsx_csi_harness.fsx import storage_class

    deployment = fsx.DeploymentType(
        parameters.get(storage_class.DEPLOYMENT_TYPE, fsx.DEFAULT_DEPLOYMENT_TYPE)
    )
    per_unit_text = parameters.get(storage_class.PER_UNIT_STORAGE_THROUGHPUT)
    per_unit = int(per_unit_text) if per_unit_text else None
    burst = fsx.burst_throughput_mbps(deployment, capacity_gib, per_unit)
    return Expected(
        deployment_type=deployment.value,
        capacity_gib=capacity_gib,
        per_unit_throughput=per_unit,
        baseline_mbps=round(fsx.expected_throughput_mbps(deployment, capacity_gib, per_unit), 1),
        burst_mbps=round(burst, 1) if burst is not None else None,
    )


class KubeApi(Protocol):
    """The few Kubernetes calls the fio run makes (kubernetes client, or a recorder)."""

    def apply(self, obj: dict[str, Any]) -> None: ...

    def delete(self, obj: dict[str, Any]) -> None: ...

    def job_state(self, namespace: str, name: str) -> tuple[bool, str]: ...

    def claim_state(self, namespace: str, name: str) -> tuple[str, str]:
        """The claim's phase and, in words, its latest events."""
        ...

    def pod_logs(self, namespace: str, selector: str) -> dict[str, str]: ...


def run_fio_jobs(
    api: KubeApi,
    config: KubeThroughputConfig,
    progress: Callable[[str], None],
    timeout_s: float = 1800.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    while_bound: Callable[[], None] | None = None,
    claim_timeout_s: float = CLAIM_BIND_TIMEOUT_S,
) -> list[Measurement]:
    """Apply the objects, wait for the Job (with progress), read and aggregate the results;
    the objects are deleted whatever happens. `while_bound` runs after the Job, while the claim
    still holds its volume (to describe the file system FSx created). Raises
    ThroughputSetupFailed when the claim does not bind (no Job waits on it)."""
    from e2e.throughput.runner import _aggregate

    objects = render_objects(config)
    line_progress = LineProgress(progress, "throughput: ", clock=clock, sleep=sleep)
    try:
        for obj in objects:
            api.apply(obj)
            progress(f"throughput: applied {obj['kind']} {obj['metadata']['name']}")

        def claim_bound() -> Probe:
            phase, events = api.claim_state(config.namespace, config.name)
            if "ProvisioningFailed" in events:
                raise ThroughputSetupFailed(
                    f"claim {config.namespace}/{config.name} cannot be provisioned: {events}; "
                    f"expected {config.provisioner} to create a file system; try: check the "
                    "driver's controller logs and the StorageClass parameters"
                )
            return Probe(phase == "Bound", f"{phase}; {events}")

        try:
            line_progress.wait(
                f"claim {config.namespace}/{config.name} to be Bound",
                claim_bound,
                claim_timeout_s,
                poll_s=2.0,
                max_poll_s=10.0,
            )
        except WaitTimeout as exc:
            raise ThroughputSetupFailed(
                f"{exc}; expected the driver {config.provisioner} to bind it before the fio "
                "Job can start; try: is the driver deployed and ready (`kubectl get csidriver`, "
                "its controller pods)?"
            ) from exc

        def job_done() -> Probe:
            done, state = api.job_state(config.namespace, config.name)
            return Probe(done, state)

        line_progress.wait(
            f"fio Job {config.namespace}/{config.name}",
            job_done,
            timeout_s,
            poll_s=5.0,
            max_poll_s=5.0,
            hint="check the claim is Bound and the pods are scheduled (one per node: the "
            f"cluster needs {config.nodes} schedulable nodes)",
        )
        logs = api.pod_logs(config.namespace, f"{LABEL}={config.run_id}")
        if while_bound is not None:
            while_bound()
    finally:
        for obj in reversed(objects):
            api.delete(obj)
    measurements: list[Measurement] = []
    for client, log in sorted(logs.items()):
        measurements.extend(parse_pod_log(log, client, config.plan))
    for workload in config.plan.multi_client():
        runs = [m for m in measurements if m.workload == workload.name]
        if runs:
            aggregate = _aggregate(workload.name, workload, runs)
            measurements.append(aggregate)
    return measurements


@dataclass(frozen=True)
class ClusterAccess:
    """How the run reaches the cluster and FSx: the kubernetes client and `kubectl
    port-forward` to the in-cluster emulator by default; tests pass the fake API server's."""

    api: KubernetesClientApi | None = None
    port_forward: PortForward | None = None
    fsx_client: FsxClientFactory | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


# How long the run waits for its file system to be gone once the claim is deleted (the
# provisioner's DeleteVolume; FSx takes minutes on AWS), before its sweep deletes what is left.
FILE_SYSTEM_GONE_TIMEOUT_S = 600.0


def run_kube_throughput(
    options: KubeThroughputOptions,
    writer: ThroughputBundle,
    progress: Callable[[str], None],
    access: ClusterAccess | None = None,
) -> SuiteResult:
    """kind/cluster throughput; on a machine without a reachable cluster, the rendered
    objects go into the bundle and the suite is recorded as not run, with the reason. After
    the fio run, the file systems carrying the run's tags are proven gone (as the e2e leak
    guard does): whatever is left is deleted and recorded as a leak."""
    import yaml

    access = access or ClusterAccess()

    parameters = dict(KubeThroughputConfig(run_id="x").storage_class_parameters)
    if options.aws_settings is not None:
        parameters.update(load_aws_settings(options.aws_settings).storage_class_defaults())
    config = KubeThroughputConfig(
        run_id=writer.run_id,
        nodes=options.nodes,
        storage_class_parameters=parameters,
        plan=options.plan,
        fio_image=options.settings.get(FIO_IMAGE_SETTING, DEFAULT_FIO_IMAGE),
        # The driver the e2e suite deployed or found (--manifests, --driver installed).
        provisioner=options.settings.get("driver-name", DRIVER_NAME),
    )
    objects = render_objects(config)
    manifests = writer.write_raw(
        "throughput/fio-objects.yaml", yaml.safe_dump_all(objects, sort_keys=False)
    )
    throughput = Throughput(engine="fio", engine_version=None, metadata_engine="not run in pods")
    writer.record_throughput(throughput, "fio in pods (image " + config.fio_image + ")")
    reason = _cluster_unreachable(options.kubeconfig) if access.api is None else None
    if reason is not None:
        return SuiteResult(
            "throughput",
            Outcome.NOT_RUN,
            message=f"{reason}; the fio objects that would run are in {manifests}",
            tests=[
                TestResult(f"{w.name} x{config.nodes}", Outcome.NOT_RUN, message=reason)
                for w in config.plan.multi_client()
            ],
            raw=[manifests],
        )
    api = access.api or KubernetesClientApi(options.kubeconfig)
    started = access.clock()
    # One fio pod per node (required anti-affinity): on fewer schedulable nodes than asked
    # (k3s, a one-node cluster), extra pods would stay Pending for the whole Job timeout.
    nodes = api.schedulable_nodes()
    if 0 < len(nodes) < config.nodes:
        throughput.notes.append(
            f"{len(nodes)} fio client(s) instead of {config.nodes}: the cluster has "
            f"{len(nodes)} schedulable node(s) ({', '.join(nodes)}), one fio pod per node"
        )
        config = replace(config, nodes=len(nodes))
        manifests = writer.write_raw(
            "throughput/fio-objects.yaml",
            yaml.safe_dump_all(render_objects(config), sort_keys=False),
        )
    from e2e.platforms.kube.identity import NotRegistered, unknown_details

    try:
        identity, identity_details = _driver_identity(api, config.provisioner, nodes, progress)
    except NotRegistered as exc:
        # No fio pod could mount through a driver that runs on none of the nodes.
        return SuiteResult(
            "throughput",
            Outcome.FAILED,
            message=str(exc),
            tests=[
                TestResult(f"{w.name} x{config.nodes}", Outcome.NOT_RUN, message="no fio ran")
                for w in config.plan.multi_client()
            ],
            raw=[manifests],
            details=dict(unknown_details(str(exc))),
        )
    region = (
        load_aws_settings(options.aws_settings).region
        if options.aws_settings is not None
        else "us-east-1"
    )
    created: list[str] = []

    from e2e.throughput.expected import describe_in_cluster

    def describe_volume() -> None:
        # What FSx (or the in-cluster emulator) created for the claim, not the StorageClass
        # text: that is what the figures are compared against.
        file_system_id = api.bound_volume_handle(config.namespace, config.name)
        if file_system_id is None:
            throughput.notes.append(f"no expected FSx figures: claim {config.name} is not bound")
            return
        created.append(file_system_id)
        throughput.expected, why_not = describe_in_cluster(
            file_system_id,
            options.aws == "real",
            options.kubeconfig,
            region,
            port_forward=access.port_forward,
            fsx_client=access.fsx_client,
        )
        if why_not is not None:
            throughput.notes.append(why_not)

    suite: SuiteResult
    try:
        throughput.measurements = run_fio_jobs(
            api, config, progress, clock=access.clock, sleep=access.sleep,
            while_bound=describe_volume,
        )  # fmt: skip
    except ThroughputSetupFailed as exc:
        suite = SuiteResult(
            "throughput",
            Outcome.FAILED,
            message=str(exc),
            tests=[
                TestResult(f"{w.name} x{config.nodes}", Outcome.NOT_RUN, message="no fio ran")
                for w in config.plan.multi_client()
            ],
        )
    else:
        from e2e.throughput.runner import throughput_suite

        suite = throughput_suite(throughput.measurements, 0.0, None)
    finally:
        # Also on Ctrl-C and a failed wait: the objects are deleted, so their file systems go.
        leaks, note = sweep_file_systems(options, writer.run_id, region, created, progress, access)
        if note is not None:
            throughput.notes.append(note)
    suite.leaks = leaks
    suite.duration_s = round(access.clock() - started, 3)
    suite.raw = [manifests]
    suite.details.update(identity_details)
    if identity is not None:
        suite.driver = identity.info()
    elif suite.outcome is Outcome.PASSED:
        # Figures of an unknown driver vouch for no driver.
        suite.outcome = Outcome.NOT_RUN
        why = identity_details["driver_identity"]
        suite.message = f"the run did not record which driver it measured: {why}"
    return suite


def _driver_identity(
    api: KubernetesClientApi, provisioner: str, nodes: list[str], progress: Callable[[str], None]
) -> tuple[DriverIdentity | None, dict[str, str]]:
    """The driver the fio pods mount through, read from the cluster as the e2e suite reads it
    (e2e/platforms/kube/identity.py), and the details saying so; unreadable: no identity,
    and why. Raises NotRegistered when the driver runs on none of `nodes`."""
    from kubernetes.client.exceptions import ApiException

    from e2e.platforms.kube import identity as kube_identity

    try:
        identity = kube_identity.read_identity(api.clients(), provisioner, nodes)
    except kube_identity.NotRegistered:
        raise  # the caller fails the suite: no fio can run
    except (kube_identity.IdentityUnknown, ApiException) as exc:
        details = kube_identity.unknown_details(kube_identity.identity_problem(exc))
        progress(f"throughput: driver identity {details[kube_identity.IDENTITY_DETAIL]}")
        return None, details
    progress(f"throughput: driver under test: {identity.name} {identity.version}")
    return identity, identity.details()


def sweep_file_systems(
    options: KubeThroughputOptions,
    run_id: str,
    region: str,
    created: list[str],
    progress: Callable[[str], None],
    access: ClusterAccess,
) -> tuple[list[Leak], str | None]:
    """Prove the run's file systems gone: wait for the one its claim bound (the provisioner
    deletes it with the claim), then delete whatever still carries the run's tags (a leak
    each). Returns the leaks and, when FSx could not be asked, a note saying so."""
    from e2e.leaks import FileSystemGuard
    from e2e.platforms.kube.fsx_access import boto3_fsx_client, in_cluster_emulator

    client_for = access.fsx_client or boto3_fsx_client
    line_progress = LineProgress(progress, "throughput: ", clock=access.clock, sleep=access.sleep)

    def sweep(fsx_client: Any) -> list[Leak]:
        guard = FileSystemGuard(fsx_client, line_progress)
        for file_system_id in created:
            guard.wait_gone(file_system_id, FILE_SYSTEM_GONE_TIMEOUT_S)
        return guard.sweep(run_id)

    try:
        if options.aws == "real":
            return sweep(client_for(None, region)), None
        with in_cluster_emulator(options.kubeconfig, access.port_forward) as url:
            return sweep(client_for(url, region)), None
    except WaitTimeout as exc:
        return [Leak("file-system", ", ".join(created), f"not gone after the run: {exc}")], None
    except Exception as exc:  # noqa: BLE001 - FSx unreachable: say the proof is missing
        return [], (
            f"the run's file systems could not be checked gone ({type(exc).__name__}: {exc}); "
            f"look for FSx file systems tagged {RUN_ID_TAG}={run_id}"
        )


def _cluster_unreachable(kubeconfig: Path | None) -> str | None:
    import os

    path = kubeconfig or Path(os.environ.get("KUBECONFIG", str(Path.home() / ".kube/config")))
    if not path.exists():
        return (
            f"no cluster: kubeconfig {path} does not exist; create a kind cluster or pass "
            "--kubeconfig"
        )
    try:
        import kubernetes

        k8s: Any = kubernetes
        k8s.config.load_kube_config(config_file=str(path))
        k8s.client.VersionApi().get_code(_request_timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure means: cannot run here
        return f"the cluster of {path} is unreachable ({type(exc).__name__}: {exc})"
    return None


class KubernetesClientApi:
    """KubeApi over the official kubernetes client (used only where a cluster answers).

    The client's objects are handled as Any: its generated models make every field
    optional, and the calls below only run against a live API server.
    """

    def __init__(self, kubeconfig: Path | None, api_client: Any = None) -> None:
        """`api_client`: an ApiClient already connected (tests: one on the fake API server);
        by default one from the kubeconfig."""
        import kubernetes

        k8s: Any = kubernetes
        if api_client is None:
            k8s.config.load_kube_config(config_file=str(kubeconfig) if kubeconfig else None)
            api_client = k8s.client.ApiClient()
        self._k8s = k8s
        self._client: Any = api_client
        self._core: Any = k8s.client.CoreV1Api(self._client)
        self._batch: Any = k8s.client.BatchV1Api(self._client)
        self._storage: Any = k8s.client.StorageV1Api(self._client)

    def apply(self, obj: dict[str, Any]) -> None:
        from kubernetes import utils

        create: Any = utils.create_from_dict
        create(self._client, obj)

    def delete(self, obj: dict[str, Any]) -> None:
        name, namespace = obj["metadata"]["name"], obj["metadata"].get("namespace", "default")
        # Already gone is fine; anything left is reported by the run's leak sweep.
        with contextlib.suppress(Exception):
            if obj["kind"] == "Job":
                self._batch.delete_namespaced_job(name, namespace, propagation_policy="Foreground")
            elif obj["kind"] == "PersistentVolumeClaim":
                self._core.delete_namespaced_persistent_volume_claim(name, namespace)
            elif obj["kind"] == "StorageClass":
                self._storage.delete_storage_class(name)

    def job_state(self, namespace: str, name: str) -> tuple[bool, str]:
        from e2e.platforms.kube.observe import describe_pod

        status: Any = self._batch.read_namespaced_job_status(name, namespace).status
        active, succeeded, failed = status.active or 0, status.succeeded or 0, status.failed or 0
        done = bool(succeeded + failed) and not active
        pods: Any = self._core.list_namespaced_pod(
            namespace, label_selector=f"job-name={name}"
        ).items
        states = "; ".join(f"{p.metadata.name}: {describe_pod(p)}" for p in pods) or "no pods"
        if any(reason in states for reason in IMAGE_PULL_FAILURES):
            raise ThroughputSetupFailed(
                f"the fio pods cannot get their image: {states}; try: build it (docker build "
                "--target fio --tag fsx-csi-harness:fio .), load it into the nodes (kind load "
                f"docker-image fsx-csi-harness:fio) or push it, or --set {FIO_IMAGE_SETTING}=IMAGE"
            )
        return done, f"active {active}, succeeded {succeeded}, failed {failed}; pods: {states}"

    def claim_state(self, namespace: str, name: str) -> tuple[str, str]:
        claim: Any = self._core.read_namespaced_persistent_volume_claim(name, namespace)
        events: Any = self._core.list_namespaced_event(
            namespace,
            field_selector=f"involvedObject.kind=PersistentVolumeClaim,involvedObject.name={name}",
        ).items
        words = "; ".join(f"{e.reason}: {e.message}" for e in events[-3:]) or "no events"
        return str(claim.status.phase if claim.status else None), words

    def bound_volume_handle(self, namespace: str, claim: str) -> str | None:
        """The CSI volume handle (the FSx file system id) of the claim's volume, once bound."""
        volume_name = self._core.read_namespaced_persistent_volume_claim(
            claim, namespace
        ).spec.volume_name
        if not volume_name:
            return None
        csi = self._core.read_persistent_volume(volume_name).spec.csi
        return str(csi.volume_handle) if csi is not None else None

    def clients(self) -> KubeClients:
        """The e2e platforms' API clients on this connection."""
        from e2e.platforms.kube.clients import KubeClients, StreamPodExec

        apps = self._k8s.client.AppsV1Api(self._client)
        return KubeClients(self._core, self._storage, apps, None, StreamPodExec(self._core))

    def schedulable_nodes(self) -> list[str]:
        """The nodes a fio pod can land on (as the e2e scenarios count them)."""
        from e2e.platforms.kube.observe import schedulable_nodes

        return schedulable_nodes(self.clients())

    def pod_logs(self, namespace: str, selector: str) -> dict[str, str]:
        pods: Any = self._core.list_namespaced_pod(namespace, label_selector=selector).items
        return {
            str(pod.spec.node_name or pod.metadata.name): str(
                self._core.read_namespaced_pod_log(pod.metadata.name, namespace)
            )
            for pod in pods
        }


__all__ = ["MIB", "KubeThroughputConfig", "render_objects", "run_fio_jobs"]
