"""The scenarios on a real Kubernetes cluster (kind, k3s, any kubeconfig), through its API only.

Shared by the kind, cluster and k3s platforms:

- `KubeClients`: the typed kubernetes API objects the harness uses (CoreV1, StorageV1, AppsV1,
  RbacAuthorizationV1) plus a `PodExec`; `connect()` builds them from a kubeconfig, the tests
  pass fakes with the same methods.
- `apply_manifests` / `delete_manifests`: server-side apply of rendered manifests, and their
  removal in reverse order.
- `plan_driver` / `deploy_planned_driver`: what a run deploys (the reference overlay, or another
  driver's manifests beside the FSx emulator), applied and waited for.
- `wait_workloads_ready` (and `wait_driver_ready` for the reference driver): the CSIDriver
  exists, the workloads are rolled out, the driver is registered on every node.
- `KubeScenarioRunner`: one scenario = StorageClass (or a static PV) -> claim -> pods pinned to
  nodes -> checks -> expansion -> teardown in reverse order -> proof through the FSx API that
  the file system is gone; plus the leak sweep over everything labelled with the run id.
- `collect_diagnostics`: events, object dumps and logs into the report bundle on failure.

Every wait goes through `Progress.wait` (what, elapsed, last state); a wait that times out is
turned into a message carrying the object's state, its events and the relevant logs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from e2e import leaks
from e2e.platforms.commands import CommandRunner
from e2e.platforms.manifests import (
    CONTROLLER_DEPLOYMENT,
    DRIVER_NAME,
    DRIVER_NAMESPACE,
    NODE_DAEMONSET,
    RUN_ID_LABEL,
    Manifest,
    ObjectRef,
    Overlay,
    ref,
    render,
    with_driver_image,
    with_labels,
)
from e2e.progress import Probe, Progress, WaitTimeout
from e2e.results import (
    LeakedResource,
    Outcome,
    RunResult,
    ScenarioRecorder,
    ScenarioResult,
    StepError,
    StepFailed,
)
from e2e.scenarios import VOLUME_MOUNT_PATH, ExecCheck, PodSpec, Scenario
from fsx_csi_harness.processes import tied_to_parent

if TYPE_CHECKING:
    from e2e.platforms import RunOptions
    from e2e.platforms.user_manifests import DriverManifests

FIELD_MANAGER: Final = "fsx-csi-harness"
APPLY_CONTENT_TYPE: Final = "application/apply-patch+yaml"
SCENARIO_LABEL: Final = "fsx-csi-harness/scenario"
APP_CONTAINER: Final = "app"
# Labels nodes carry when they only run the control plane (tainted NoSchedule on kind).
_CONTROL_PLANE_TAINTS: Final = (
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
)
_LOG_TAIL_LINES: Final = 40


# --------------------------------------------------------------------------- clients


class PodExec(Protocol):
    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout_s: float
    ) -> tuple[int, str]:
        """Run `argv` in a container (like `kubectl exec`); exit code and combined output."""
        ...


@dataclass
class KubeClients:
    """The API surface the harness uses. Fields are kubernetes.client API objects (or fakes
    with the same methods); `exec` runs commands inside pods."""

    core: Any
    storage: Any
    apps: Any
    rbac: Any
    exec: PodExec
    # PolicyV1Api: only for manifests that carry a PodDisruptionBudget.
    policy: Any = None


class ClusterUnreachable(Exception):
    """The kubeconfig's cluster does not answer; says which server and what to try."""


class StreamPodExec:
    """`kubectl exec` over the API's websocket (kubernetes.stream)."""

    def __init__(self, core: Any) -> None:
        self._core = core

    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout_s: float
    ) -> tuple[int, str]:
        from kubernetes.stream import stream

        response = stream(
            self._core.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            container=container,
            command=list(argv),
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        output: list[str] = []
        deadline = time.monotonic() + timeout_s
        try:
            while response.is_open() and time.monotonic() < deadline:
                response.update(timeout=1)
                output.append(response.read_stdout())
                output.append(response.read_stderr())
            timed_out = response.is_open()
        finally:
            response.close()
        if timed_out:
            return 124, "".join(output) + f"\n(exec still running after {timeout_s:.0f}s)"
        code = response.returncode
        return (code if isinstance(code, int) else 0), "".join(output)


def connect(kubeconfig: Path | None = None, context: str | None = None) -> KubeClients:
    """API clients for a kubeconfig (None: $KUBECONFIG or ~/.kube/config, else in-cluster)."""
    from kubernetes import config

    new_client: Any = config.new_client_from_config  # untyped in the kubernetes package
    api_client = new_client(config_file=str(kubeconfig) if kubeconfig else None, context=context)
    core = k8s.CoreV1Api(api_client)
    return KubeClients(
        core=core,
        storage=k8s.StorageV1Api(api_client),
        apps=k8s.AppsV1Api(api_client),
        rbac=k8s.RbacAuthorizationV1Api(api_client),
        exec=StreamPodExec(core),
        policy=k8s.PolicyV1Api(api_client),
    )


def check_reachable(clients: KubeClients, server: str, timeout_s: float = 10.0) -> int:
    """Number of nodes; raises ClusterUnreachable with what to try when the API does not answer."""
    try:
        nodes = clients.core.list_node(_request_timeout=timeout_s)
    except ApiException as exc:
        raise ClusterUnreachable(
            f"the cluster at {server} answered listing nodes with HTTP {exc.status} "
            f"({exc.reason}); expected the node list; try `kubectl get nodes` with the same "
            "kubeconfig and check the credentials and RBAC"
        ) from exc
    except Exception as exc:
        raise ClusterUnreachable(
            f"the cluster at {server} did not answer within {timeout_s:.0f}s: "
            f"{type(exc).__name__}: {exc}; expected the Kubernetes API; try `kubectl get "
            "nodes` with the same kubeconfig, check the context and that the cluster runs"
        ) from exc
    return len(nodes.items)


# --------------------------------------------------------------------------- apply / delete

# kind -> (client attribute, method suffix, namespaced). Server-side apply goes through the
# typed `patch_*` methods with the apply content type; creation and update are one call.
_METHODS: Final[dict[str, tuple[str, str, bool]]] = {
    "Namespace": ("core", "namespace", False),
    "ServiceAccount": ("core", "namespaced_service_account", True),
    "ConfigMap": ("core", "namespaced_config_map", True),
    "Secret": ("core", "namespaced_secret", True),
    "Service": ("core", "namespaced_service", True),
    "ClusterRole": ("rbac", "cluster_role", False),
    "ClusterRoleBinding": ("rbac", "cluster_role_binding", False),
    "Role": ("rbac", "namespaced_role", True),
    "RoleBinding": ("rbac", "namespaced_role_binding", True),
    "CSIDriver": ("storage", "csi_driver", False),
    "StorageClass": ("storage", "storage_class", False),
    "Deployment": ("apps", "namespaced_deployment", True),
    "StatefulSet": ("apps", "namespaced_stateful_set", True),
    "DaemonSet": ("apps", "namespaced_daemon_set", True),
    "PodDisruptionBudget": ("policy", "namespaced_pod_disruption_budget", True),
}


def _method(
    clients: KubeClients, manifest: Manifest, verb: str
) -> tuple[Callable[..., Any], dict[str, str]]:
    kind = str(manifest.get("kind"))
    if kind not in _METHODS:
        raise StepError(
            f"cannot apply {ref(manifest)}: the harness applies only {sorted(_METHODS)}; "
            "add the kind to e2e/platforms/kube.py or remove it from the manifests"
        )
    attribute, suffix, namespaced = _METHODS[kind]
    api = getattr(clients, attribute)
    if api is None:
        raise StepError(
            f"cannot apply {ref(manifest)}: the harness was given no {attribute} API client; "
            "build the clients with kube.connect()"
        )
    metadata = manifest["metadata"]
    kwargs = {"name": metadata["name"]}
    if namespaced:
        kwargs["namespace"] = metadata.get("namespace") or "default"
    return getattr(api, f"{verb}_{suffix}"), kwargs


def apply_manifests(clients: KubeClients, objects: Sequence[Manifest], progress: Progress) -> None:
    """Server-side apply of every object, in order (namespaces and RBAC come first)."""
    for manifest in objects:
        patch, kwargs = _method(clients, manifest, "patch")
        try:
            patch(
                body=manifest,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type=APPLY_CONTENT_TYPE,
                **kwargs,
            )
        except ApiException as exc:
            raise StepError(
                f"applying {ref(manifest)} failed with HTTP {exc.status}: "
                f"{_api_message(exc)}; expected the API server to accept it; try "
                "`kubectl apply --server-side` on the rendered manifests to see the same error"
            ) from exc
    progress.info(f"applied {len(objects)} objects")


def delete_manifests(
    clients: KubeClients, objects: Sequence[Manifest], progress: Progress
) -> list[str]:
    """Delete every object in reverse order; NotFound is fine. Returns what could not be
    deleted, in words."""
    problems = []
    for manifest in reversed(objects):
        delete, kwargs = _method(clients, manifest, "delete")
        try:
            delete(**kwargs)
        except ApiException as exc:
            if exc.status != 404:
                problems.append(f"{ref(manifest)}: HTTP {exc.status} {_api_message(exc)}")
    progress.info(f"deleted {len(objects) - len(problems)} of {len(objects)} driver objects")
    return problems


def _api_message(exc: ApiException) -> str:
    """The Status message of an API error body, else its reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            message = yaml.safe_load(body).get("message")
            if message:
                return str(message)
        except (yaml.YAMLError, AttributeError):
            pass
    return str(exc.reason)


# --------------------------------------------------------------------------- observing objects


def events_for(clients: KubeClients, namespace: str | None, kind: str, name: str) -> list[Any]:
    """Events about one object, oldest first."""
    selector = f"involvedObject.kind={kind},involvedObject.name={name}"
    if namespace is None:
        items = clients.core.list_event_for_all_namespaces(field_selector=selector).items
    else:
        items = clients.core.list_namespaced_event(namespace, field_selector=selector).items
    return sorted(items, key=lambda e: str(e.last_timestamp or e.event_time or ""))


def describe_events(events: Sequence[Any]) -> str:
    if not events:
        return "no events"
    return "; ".join(f"{e.type} {e.reason}: {e.message}" for e in events[-5:])


def describe_pod(pod: Any) -> str:
    """A pod's state in words: phase, why it is not running, which node."""
    status = pod.status
    parts = [str(status.phase if status else "Unknown")]
    for condition in (status.conditions or []) if status else []:
        if condition.type == "PodScheduled" and condition.status != "True":
            parts.append(f"unschedulable: {condition.message}")
    for container in (status.container_statuses or []) if status else []:
        state = container.state
        if state and state.waiting:
            waiting = f"{state.waiting.reason} {state.waiting.message or ''}".strip()
            parts.append(f"{container.name} waiting: {waiting}")
        elif state and state.terminated:
            parts.append(
                f"{container.name} terminated: {state.terminated.reason} exit code "
                f"{state.terminated.exit_code}"
            )
        elif state and state.running:
            parts.append(f"{container.name} running{'' if container.ready else ' (not ready)'}")
    if pod.spec and pod.spec.node_name:
        parts.append(f"on {pod.spec.node_name}")
    return ", ".join(parts)


def pod_logs(
    clients: KubeClients, namespace: str, pod: str, container: str, tail: int | None
) -> str:
    try:
        text = clients.core.read_namespaced_pod_log(
            pod, namespace, container=container, tail_lines=tail
        )
    except ApiException as exc:
        return f"(no logs: HTTP {exc.status} {_api_message(exc)})"
    return str(text)


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def schedulable_nodes(clients: KubeClients) -> list[str]:
    """Ready nodes that ordinary pods can land on, by name (control-plane-only nodes left out)."""
    names = []
    for node in clients.core.list_node().items:
        if node.spec.unschedulable:
            continue
        taints = node.spec.taints or []
        if any(t.effect in ("NoSchedule", "NoExecute") for t in taints):
            continue
        ready = any(
            c.type == "Ready" and c.status == "True" for c in (node.status.conditions or [])
        )
        if ready:
            names.append(node.metadata.name)
    return sorted(names)


# --------------------------------------------------------------------------- driver readiness


def _pods_summary(clients: KubeClients, namespace: str, selector: Mapping[str, str]) -> str:
    label_selector = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = clients.core.list_namespaced_pod(namespace, label_selector=label_selector).items
    if not pods:
        return "no pods yet"
    return "; ".join(f"{p.metadata.name}: {describe_pod(p)}" for p in pods)


def _generation_lag(workload: Any) -> str | None:
    """How far the workload's controller is behind its spec (kubectl rollout status' first
    test): right after an apply over an older version, the old pods still count as ready."""
    generation = workload.metadata.generation if workload.metadata else None
    observed = workload.status.observed_generation if workload.status else None
    if generation is not None and observed is not None and observed < generation:
        return f"controller saw generation {observed} of {generation}"
    return None


def _replicated_probe(
    clients: KubeClients, namespace: str, read: Callable[[], Any], count: str
) -> Callable[[], Probe]:
    """Rolled out, with enough pods `count` (a status field: available or ready replicas)."""
    word = count.removesuffix("_replicas")

    def probe() -> Probe:
        workload = read()
        wanted = workload.spec.replicas if workload.spec.replicas is not None else 1
        status = workload.status
        counted = (getattr(status, count) or 0) if status else 0
        updated = status.updated_replicas if status else None
        lag = _generation_lag(workload)
        rolled_out = lag is None and (updated is None or updated >= wanted)
        if rolled_out and counted >= wanted:
            return Probe(True, f"{counted}/{wanted} {word}")
        pods = _pods_summary(clients, namespace, workload.spec.selector.match_labels)
        progress = f"{counted}/{wanted} {word}, {updated or 0}/{wanted} updated"
        return Probe(False, f"{progress}{f', {lag}' if lag else ''}; pods: {pods}")

    return probe


def _deployment_probe(clients: KubeClients, namespace: str, name: str) -> Callable[[], Probe]:
    def read() -> Any:
        return clients.apps.read_namespaced_deployment(name, namespace)

    return _replicated_probe(clients, namespace, read, "available_replicas")


def _stateful_set_probe(clients: KubeClients, namespace: str, name: str) -> Callable[[], Probe]:
    def read() -> Any:
        return clients.apps.read_namespaced_stateful_set(name, namespace)

    return _replicated_probe(clients, namespace, read, "ready_replicas")


def _daemonset_probe(clients: KubeClients, namespace: str, name: str) -> Callable[[], Probe]:
    def probe() -> Probe:
        daemonset = clients.apps.read_namespaced_daemon_set(name, namespace)
        status = daemonset.status
        desired = status.desired_number_scheduled if status else 0
        ready = (status.number_ready or 0) if status else 0
        updated = status.updated_number_scheduled if status else None
        lag = _generation_lag(daemonset)
        rolled_out = lag is None and (updated is None or updated >= desired)
        if desired and rolled_out and ready >= desired:
            return Probe(True, f"{ready}/{desired} ready")
        pods = _pods_summary(clients, namespace, daemonset.spec.selector.match_labels)
        progress = f"{ready}/{desired} ready, {updated or 0}/{desired} updated"
        return Probe(False, f"{progress}{f', {lag}' if lag else ''}; pods: {pods}")

    return probe


def _csi_driver_probe(clients: KubeClients, driver_name: str) -> Callable[[], Probe]:
    def probe() -> Probe:
        try:
            clients.storage.read_csi_driver(driver_name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return Probe(False, f"no CSIDriver {driver_name}")
        return Probe(True, f"CSIDriver {driver_name} exists")

    return probe


def _registration_probe(
    clients: KubeClients, nodes: Sequence[str], driver_name: str = DRIVER_NAME
) -> Callable[[], Probe]:
    def probe() -> Probe:
        missing = []
        for node in nodes:
            try:
                csi_node = clients.storage.read_csi_node(node)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                missing.append(f"{node} (no CSINode)")
                continue
            drivers = [d.name for d in (csi_node.spec.drivers or [])]
            if driver_name not in drivers:
                missing.append(f"{node} (drivers: {drivers or 'none'})")
        if missing:
            return Probe(False, f"{driver_name} not registered on {', '.join(missing)}")
        return Probe(True, f"registered on {len(nodes)} nodes")

    return probe


_WORKLOAD_PROBES: Final = {
    "Deployment": (_deployment_probe, "to be available"),
    "StatefulSet": (_stateful_set_probe, "to be ready"),
    "DaemonSet": (_daemonset_probe, "to be ready on every node"),
}


def wait_driver_ready(
    clients: KubeClients,
    progress: Progress,
    namespace: str,
    timeout_s: float,
    with_emulator: bool,
    nodes: Sequence[str],
) -> None:
    """The reference driver: the emulator (if any), controller and node plugins running, the
    driver registered with the kubelet of every node the scenarios use."""
    from e2e.platforms.manifests import EMULATOR_DEPLOYMENT

    workloads = [ObjectRef("Deployment", EMULATOR_DEPLOYMENT, namespace)] if with_emulator else []
    workloads += [
        ObjectRef("Deployment", CONTROLLER_DEPLOYMENT, namespace),
        ObjectRef("DaemonSet", NODE_DAEMONSET, namespace),
    ]
    wait_workloads_ready(clients, progress, workloads, DRIVER_NAME, nodes, timeout_s)


def wait_workloads_ready(
    clients: KubeClients,
    progress: Progress,
    workloads: Sequence[ObjectRef],
    driver_name: str,
    nodes: Sequence[str],
    timeout_s: float,
) -> None:
    """Any driver: its CSIDriver exists, every workload (Deployment, StatefulSet, DaemonSet)
    is rolled out, and `driver_name` is registered in the CSINode of every node in `nodes`.
    One deadline for all. On timeout: the object's state, its events, its pods' logs."""
    waits: list[tuple[str, Callable[[], Probe], ObjectRef | None]] = [
        (f"CSIDriver {driver_name} to exist", _csi_driver_probe(clients, driver_name), None)
    ]
    for workload in workloads:
        make_probe, goal = _WORKLOAD_PROBES[workload.kind]
        namespace = workload.namespace or "default"
        waits.append(
            (f"{workload} {goal}", make_probe(clients, namespace, workload.name), workload)
        )
    node_plugin = next((w for w in workloads if w.kind == "DaemonSet"), None)
    waits.append(
        (
            f"{driver_name} to register with the kubelets",
            _registration_probe(clients, nodes, driver_name),
            node_plugin,
        )
    )
    started = progress.clock()
    for what, probe, subject in waits:
        remaining = max(1.0, timeout_s - (progress.clock() - started))
        try:
            progress.wait(what, probe, remaining, poll_s=0.5, max_poll_s=3.0)
        except WaitTimeout as exc:
            if subject is None:
                raise StepError(
                    f"{exc}\ntry: `kubectl get csidriver`; the manifests applied must include "
                    f"the CSIDriver {driver_name}"
                ) from exc
            namespace = subject.namespace or "default"
            events = events_for(clients, namespace, subject.kind, subject.name)
            raise StepError(
                f"{exc}\nevents: {describe_events(events)}\n"
                f"{_workload_logs(clients, subject)}\ntry: `kubectl -n {namespace} describe "
                f"{subject.kind.lower()} {subject.name}`; an ImagePullBackOff means the image "
                "is not on the nodes (kind load docker-image / --set image=...)"
            ) from exc


def _workload_logs(clients: KubeClients, workload: ObjectRef) -> str:
    """The last log lines of every container of the workload's pods."""
    namespace = workload.namespace or "default"
    read = {
        "Deployment": clients.apps.read_namespaced_deployment,
        "StatefulSet": clients.apps.read_namespaced_stateful_set,
        "DaemonSet": clients.apps.read_namespaced_daemon_set,
    }[workload.kind]
    try:
        selector = read(workload.name, namespace).spec.selector.match_labels or {}
        label_selector = ",".join(f"{k}={v}" for k, v in selector.items())
        pods = clients.core.list_namespaced_pod(namespace, label_selector=label_selector).items
    except ApiException as exc:
        return f"(no logs of {workload}: HTTP {exc.status} {_api_message(exc)})"
    parts = []
    for pod in pods:
        for container in pod.spec.containers:
            text = pod_logs(clients, namespace, pod.metadata.name, container.name, _LOG_TAIL_LINES)
            parts.append(f"--- logs {pod.metadata.name}/{container.name}:\n{_tail(text)}")
    return "\n".join(parts) or f"(no pods of {workload})"


# --------------------------------------------------------------------------- scenarios


def kube_name(text: str, limit: int = 63) -> str:
    """`text` as a DNS-1123 label: lower case, [a-z0-9-], at most `limit` characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:limit].rstrip("-") or "x"


def _quantity_bytes(text: str) -> int:
    from kubernetes.utils import quantity

    parse: Any = quantity.parse_quantity  # untyped in the kubernetes package
    value: Decimal = parse(text)
    return int(value)


@dataclass
class KubeRunSettings:
    """How the runner shapes the objects it creates on this cluster."""

    run_id: str
    platform: str
    # Namespace for the claims and pods of this run (created and deleted by the runner).
    namespace: str
    # Image of the scenario pods: needs POSIX sh (the driver image on kind/k3s, busybox else).
    pod_image: str
    pod_image_pull_policy: str = "IfNotPresent"
    provisioner: str = DRIVER_NAME
    # Merged under every StorageClass's parameters (real-AWS subnet, security groups, ...).
    storage_class_defaults: Mapping[str, str] = field(default_factory=dict)
    # Overrides for static file systems on real AWS (subnet, security groups).
    static_subnet_id: str | None = None
    static_security_group_ids: tuple[str, ...] | None = None
    provision_timeout_s: float = 300.0
    # Added to each pod's own timeout: scheduling, image pull and mount on a real cluster.
    pod_start_allowance_s: float = 120.0
    # With fewer nodes than a scenario wants: share nodes (k3s: one node) or skip the scenario.
    share_nodes: bool = False
    file_system_delete_timeout_s: float = 600.0
    # Where failure messages read the driver's logs: pods by (namespace, label selector), and
    # which containers (None: every container of the pod).
    controller_pods: Sequence[tuple[str, str]] = ((DRIVER_NAMESPACE, "app=fsx-csi-controller"),)
    controller_containers: Sequence[str] | None = ("fsx-plugin", "csi-provisioner", "csi-resizer")
    node_pods: Sequence[tuple[str, str]] = ((DRIVER_NAMESPACE, "app=fsx-csi-node"),)
    node_containers: Sequence[str] | None = ("fsx-plugin",)
    # Added to a claim that does not bind, and to a pod that fails to start or to see its
    # data (for example: a third-party driver on emulated Lustre cannot mount).
    provisioning_hint: str | None = None
    mount_hint: str | None = None


@dataclass
class _Cleanup:
    """What a scenario created, undone in reverse order."""

    name: str
    action: Callable[[], None]


class KubeScenarioRunner:
    """Runs scenarios on a cluster where the driver is installed; sweeps what a run left."""

    def __init__(
        self,
        clients: KubeClients,
        guard: leaks.FileSystemGuard,
        fsx_client: Any,
        progress: Progress,
        settings: KubeRunSettings,
        nodes: Sequence[str],
    ) -> None:
        self._clients = clients
        self._guard = guard
        self._fsx = fsx_client
        self._progress = progress
        self._settings = settings
        self._nodes = list(nodes)
        # PV names the run's claims bound to, so the sweep finds them without a label.
        self._bound_volumes: set[str] = set()

    @property
    def labels(self) -> dict[str, str]:
        return {RUN_ID_LABEL: kube_name(self._settings.run_id)}

    # ----------------------------------------------------------------- run

    def ensure_namespace(self) -> None:
        body = k8s.V1Namespace(
            metadata=k8s.V1ObjectMeta(name=self._settings.namespace, labels=self.labels)
        )
        try:
            self._clients.core.create_namespace(body)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def run(self, scenario: Scenario) -> ScenarioResult:
        recorder = ScenarioRecorder(scenario.name, self._settings.platform)
        nodes = self._nodes_for(scenario, recorder)
        if nodes is None:
            return recorder.finish()
        cleanups: list[_Cleanup] = []
        try:
            self._run_steps(scenario, nodes, recorder, cleanups)
        except (StepFailed, StepError, WaitTimeout, ApiException):
            pass  # recorded by the step that raised; teardown follows
        finally:
            self._teardown(recorder, cleanups)
        return recorder.finish()

    def _nodes_for(self, scenario: Scenario, recorder: ScenarioRecorder) -> list[str] | None:
        needed = scenario.node_count
        if len(self._nodes) >= needed:
            return self._nodes[:needed]
        if not self._nodes:
            recorder.result.outcome = Outcome.ERROR
            recorder.result.message = (
                "no schedulable node: expected at least one Ready node without a NoSchedule "
                "taint; try `kubectl get nodes`"
            )
            return None
        if self._settings.share_nodes:
            recorder.result.details["nodes"] = (
                f"the scenario wants {needed} nodes, the cluster has {len(self._nodes)}: pods "
                "share nodes, so this does not prove cross-node sharing"
            )
            return [self._nodes[i % len(self._nodes)] for i in range(needed)]
        recorder.result.outcome = Outcome.SKIPPED
        recorder.result.message = (
            f"needs {needed} schedulable nodes, the cluster has {len(self._nodes)} "
            f"({', '.join(self._nodes)}); try a cluster with more worker nodes"
        )
        return None

    def _run_steps(
        self,
        scenario: Scenario,
        nodes: list[str],
        recorder: ScenarioRecorder,
        cleanups: list[_Cleanup],
    ) -> None:
        claim_name = kube_name(scenario.name)
        with recorder.step("provision"):
            if scenario.provisioning == "static":
                self._static_volume(scenario, claim_name, recorder, cleanups)
            else:
                self._storage_class(scenario, cleanups)
            self._create_claim(scenario, claim_name, cleanups)
            if scenario.expected_failure is not None:
                self._expect_provisioning_failure(scenario, claim_name, recorder)
                return
            self._wait_bound(scenario, claim_name, recorder)
        for pod in scenario.pods_before_expansion():
            with recorder.step(f"pod {pod.name}"):
                self._run_pod(scenario, pod, nodes[pod.node], claim_name, cleanups)
        if scenario.expansion is not None:
            with recorder.step("expand"):
                self._expand(scenario, claim_name, recorder)
            for pod in scenario.pods_after_expansion():
                with recorder.step(f"pod {pod.name}"):
                    self._run_pod(scenario, pod, nodes[pod.node], claim_name, cleanups)

    # ----------------------------------------------------------------- provisioning

    def _meta(self, name: str, scenario: Scenario, namespaced: bool = True) -> Any:
        return k8s.V1ObjectMeta(
            name=name,
            namespace=self._settings.namespace if namespaced else None,
            labels={**self.labels, SCENARIO_LABEL: kube_name(scenario.name)},
        )

    def _cluster_name(self, scenario: Scenario) -> str:
        return kube_name(f"{self._settings.run_id}-{scenario.name}", 253)

    def _storage_class(self, scenario: Scenario, cleanups: list[_Cleanup]) -> None:
        spec = scenario.storage_class
        assert spec is not None  # a dynamic scenario has one (checked at load)
        parameters = leaks.with_run_tags(
            {**self._settings.storage_class_defaults, **spec.parameters},
            self._settings.run_id,
            scenario.name,
        )
        name = self._cluster_name(scenario)
        body = k8s.V1StorageClass(
            metadata=self._meta(name, scenario, namespaced=False),
            provisioner=self._settings.provisioner,
            parameters=parameters,
            mount_options=list(spec.mount_options) or None,
            reclaim_policy=spec.reclaim_policy,
            allow_volume_expansion=spec.allow_volume_expansion,
            volume_binding_mode="Immediate",
        )
        self._clients.storage.create_storage_class(body)
        cleanups.append(_Cleanup(f"StorageClass {name}", lambda: self._delete_storage_class(name)))

    def _static_volume(
        self,
        scenario: Scenario,
        claim_name: str,
        recorder: ScenarioRecorder,
        cleanups: list[_Cleanup],
    ) -> None:
        spec = scenario.static_file_system
        assert spec is not None  # a static scenario has one (checked at load)
        lustre: dict[str, Any] = {"DeploymentType": spec.deployment_type}
        if spec.per_unit_storage_throughput is not None:
            lustre["PerUnitStorageThroughput"] = spec.per_unit_storage_throughput
        tags = leaks.run_tags(self._settings.run_id, scenario.name)
        response = self._fsx.create_file_system(
            FileSystemType="LUSTRE",
            StorageCapacity=spec.storage_capacity_gib,
            SubnetIds=[self._settings.static_subnet_id or spec.subnet_id],
            SecurityGroupIds=list(
                self._settings.static_security_group_ids or spec.security_group_ids
            ),
            LustreConfiguration=lustre,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        fs_id = response["FileSystem"]["FileSystemId"]
        recorder.result.details["file_system_id"] = fs_id
        cleanups.append(_Cleanup(f"file system {fs_id}", lambda: self._delete_file_system(fs_id)))
        description = self._wait_file_system_available(fs_id)
        pv_name = self._cluster_name(scenario)
        body = k8s.V1PersistentVolume(
            metadata=self._meta(pv_name, scenario, namespaced=False),
            spec=k8s.V1PersistentVolumeSpec(
                capacity={"storage": scenario.claim.size},
                access_modes=list(scenario.claim.access_modes),
                volume_mode=scenario.claim.volume_mode,
                persistent_volume_reclaim_policy="Retain",
                storage_class_name="",
                mount_options=list(spec.mount_options) or None,
                claim_ref=k8s.V1ObjectReference(
                    namespace=self._settings.namespace, name=claim_name
                ),
                csi=k8s.V1CSIPersistentVolumeSource(
                    driver=self._settings.provisioner,
                    volume_handle=fs_id,
                    volume_attributes={
                        "dnsname": description["DNSName"],
                        "mountname": description.get("LustreConfiguration", {}).get(
                            "MountName", ""
                        ),
                    },
                ),
            ),
        )
        self._clients.core.create_persistent_volume(body)
        cleanups.append(
            _Cleanup(f"PersistentVolume {pv_name}", lambda: self._delete_volume(pv_name))
        )

    def _wait_file_system_available(self, fs_id: str) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def probe() -> Probe:
            description = self._guard.describe(fs_id)
            if description is None:
                return Probe(False, "FileSystemNotFound")
            seen.clear()
            seen.update(description)
            lifecycle = description.get("Lifecycle", "AVAILABLE")  # moto omits it
            if lifecycle == "FAILED":
                raise StepFailed(
                    f"file system {fs_id} went to FAILED: "
                    f"{description.get('FailureDetails', {}).get('Message', '(no details)')}"
                )
            return Probe(lifecycle == "AVAILABLE", f"Lifecycle {lifecycle}")

        self._progress.wait(
            f"file system {fs_id} to become AVAILABLE",
            probe,
            self._settings.provision_timeout_s,
            poll_s=0.5,
            max_poll_s=15.0,
            hint="FSx creation takes 5-10 minutes on AWS; raise --provision-timeout",
        )
        return seen

    def _create_claim(self, scenario: Scenario, claim_name: str, cleanups: list[_Cleanup]) -> None:
        static = scenario.provisioning == "static"
        body = k8s.V1PersistentVolumeClaim(
            metadata=self._meta(claim_name, scenario),
            spec=k8s.V1PersistentVolumeClaimSpec(
                access_modes=list(scenario.claim.access_modes),
                volume_mode=scenario.claim.volume_mode,
                resources=k8s.V1VolumeResourceRequirements(
                    requests={"storage": scenario.claim.size}
                ),
                storage_class_name="" if static else self._cluster_name(scenario),
                volume_name=self._cluster_name(scenario) if static else None,
            ),
        )
        self._clients.core.create_namespaced_persistent_volume_claim(self._settings.namespace, body)
        cleanups.append(
            _Cleanup(
                f"PersistentVolumeClaim {claim_name}",
                lambda: self._delete_claim(claim_name, scenario),
            )
        )

    def _read_claim(self, name: str) -> Any:
        return self._clients.core.read_namespaced_persistent_volume_claim(
            name, self._settings.namespace
        )

    def _claim_events(self, name: str) -> list[Any]:
        return events_for(self._clients, self._settings.namespace, "PersistentVolumeClaim", name)

    def _wait_bound(self, scenario: Scenario, claim_name: str, recorder: ScenarioRecorder) -> None:
        def probe() -> Probe:
            claim = self._read_claim(claim_name)
            phase = claim.status.phase if claim.status else None
            if phase == "Bound":
                return Probe(True, f"Bound to {claim.spec.volume_name}")
            return Probe(False, f"{phase}; {describe_events(self._claim_events(claim_name))}")

        try:
            self._progress.wait(
                f"claim {self._settings.namespace}/{claim_name} to be Bound",
                probe,
                self._settings.provision_timeout_s,
                poll_s=0.5,
                max_poll_s=5.0,
                hint="check the controller's csi-provisioner and fsx-plugin logs",
            )
        except WaitTimeout as exc:
            hint = self._settings.provisioning_hint
            raise StepFailed(
                f"{exc}\n{self._controller_logs()}" + (f"\nnote: {hint}" if hint else "")
            ) from exc
        claim = self._read_claim(claim_name)
        volume = claim.spec.volume_name
        self._bound_volumes.add(volume)
        pv = self._clients.core.read_persistent_volume(volume)
        recorder.result.details["persistent_volume"] = volume
        recorder.result.details["volume_handle"] = pv.spec.csi.volume_handle
        recorder.result.details["capacity"] = str(pv.spec.capacity.get("storage"))
        if scenario.provisioning == "dynamic":
            recorder.result.details["file_system_id"] = pv.spec.csi.volume_handle

    def _expect_provisioning_failure(
        self, scenario: Scenario, claim_name: str, recorder: ScenarioRecorder
    ) -> None:
        failure = scenario.expected_failure
        assert failure is not None
        wanted = [text.lower() for text in failure.message_contains]

        def probe() -> Probe:
            events = [e for e in self._claim_events(claim_name) if e.reason == "ProvisioningFailed"]
            matching = [e for e in events if all(text in str(e.message).lower() for text in wanted)]
            if matching:
                return Probe(True, f"ProvisioningFailed: {matching[-1].message}")
            claim = self._read_claim(claim_name)
            if claim.status and claim.status.phase == "Bound":
                raise StepFailed(
                    f"claim {claim_name}: expected it to stay Pending with a ProvisioningFailed "
                    f"event naming {list(failure.message_contains)}, seen it Bound to "
                    f"{claim.spec.volume_name}: the driver accepted the StorageClass"
                )
            return Probe(
                False, f"{claim.status.phase if claim.status else None}; {describe_events(events)}"
            )

        try:
            seen = self._progress.wait(
                f"a ProvisioningFailed event on claim {claim_name} naming "
                f"{list(failure.message_contains)}",
                probe,
                self._settings.provision_timeout_s,
                poll_s=0.5,
                max_poll_s=5.0,
            )
        except WaitTimeout as exc:
            raise StepFailed(f"{exc}\n{self._controller_logs()}") from exc
        recorder.result.details["provisioning_error"] = seen.state
        claim = self._read_claim(claim_name)
        if claim.status and claim.status.phase != "Pending":
            raise StepFailed(
                f"claim {claim_name}: expected Pending after the rejection, seen "
                f"{claim.status.phase}"
            )
        created = self._guard.matching(leaks.run_tags(self._settings.run_id, scenario.name))
        created += self._guard.matching({leaks.VOLUME_NAME_TAG: f"pvc-{claim.metadata.uid}"})
        ids = sorted({fs["FileSystemId"] for fs in created})
        if bool(ids) != failure.file_system_created:
            raise StepFailed(
                f"expected {'a' if failure.file_system_created else 'no'} file system for the "
                f"rejected claim, seen {ids or 'none'}"
            )

    # ----------------------------------------------------------------- pods

    def _pod_body(self, scenario: Scenario, pod: PodSpec, node: str, claim_name: str) -> Any:
        env = [k8s.V1EnvVar(name=k, value=v) for k, v in sorted(scenario.variables.items())]
        affinity = k8s.V1Affinity(
            node_affinity=k8s.V1NodeAffinity(
                required_during_scheduling_ignored_during_execution=k8s.V1NodeSelector(
                    node_selector_terms=[
                        k8s.V1NodeSelectorTerm(
                            match_expressions=[
                                k8s.V1NodeSelectorRequirement(
                                    key="kubernetes.io/hostname", operator="In", values=[node]
                                )
                            ]
                        )
                    ]
                )
            )
        )
        return k8s.V1Pod(
            metadata=self._meta(pod.name, scenario),
            spec=k8s.V1PodSpec(
                restart_policy="Never",
                affinity=affinity,
                # A writer loop under `sh` ignores SIGTERM; do not wait 30 s for it at teardown.
                termination_grace_period_seconds=1,
                automount_service_account_token=False,
                containers=[
                    k8s.V1Container(
                        name=APP_CONTAINER,
                        image=self._settings.pod_image,
                        image_pull_policy=self._settings.pod_image_pull_policy,
                        command=["sh", "-c", pod.command],
                        env=env or None,
                        volume_mounts=[
                            k8s.V1VolumeMount(
                                name="data", mount_path=VOLUME_MOUNT_PATH, read_only=pod.read_only
                            )
                        ],
                    )
                ],
                volumes=[
                    k8s.V1Volume(
                        name="data",
                        persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                            claim_name=claim_name, read_only=pod.read_only
                        ),
                    )
                ],
            ),
        )

    def _run_pod(
        self,
        scenario: Scenario,
        pod: PodSpec,
        node: str,
        claim_name: str,
        cleanups: list[_Cleanup],
    ) -> None:
        namespace = self._settings.namespace
        self._clients.core.create_namespaced_pod(
            namespace, self._pod_body(scenario, pod, node, claim_name)
        )
        cleanups.append(_Cleanup(f"Pod {pod.name}", lambda: self._delete_pod(pod.name)))
        if pod.lifecycle == "exit":
            self._wait_pod_exit(pod, node)
        else:
            self._wait_pod_running(pod, node)
            for check in pod.checks:
                self._run_check(pod, check)

    def _pod_failure(self, pod: PodSpec, node: str, reason: str) -> StepFailed:
        namespace = self._settings.namespace
        events = events_for(self._clients, namespace, "Pod", pod.name)
        return StepFailed(
            f"{reason}\npod events: {describe_events(events)}\n"
            f"pod log: {_tail(pod_logs(self._clients, namespace, pod.name, APP_CONTAINER, 20))}\n"
            f"{self._node_plugin_logs(node)}"
            + (f"\nnote: {self._settings.mount_hint}" if self._settings.mount_hint else "")
        )

    def _wait_pod_exit(self, pod: PodSpec, node: str) -> None:
        namespace = self._settings.namespace

        def probe() -> Probe:
            seen = self._clients.core.read_namespaced_pod(pod.name, namespace)
            done = seen.status is not None and seen.status.phase in ("Succeeded", "Failed")
            return Probe(done, describe_pod(seen))

        try:
            self._progress.wait(
                f"pod {pod.name} on {node} to finish",
                probe,
                pod.timeout_s + self._settings.pod_start_allowance_s,
                poll_s=0.5,
                max_poll_s=3.0,
            )
        except WaitTimeout as exc:
            raise self._pod_failure(pod, node, str(exc)) from exc
        seen = self._clients.core.read_namespaced_pod(pod.name, namespace)
        exit_code = _exit_code(seen)
        output = pod_logs(self._clients, namespace, pod.name, APP_CONTAINER, None)
        problems = pod.output.failures(output)
        if exit_code != pod.exit_code:
            problems.insert(0, f"expected exit code {pod.exit_code}, seen {exit_code}")
        if problems:
            raise self._pod_failure(
                pod, node, f"pod {pod.name} on {node}: {'; '.join(problems)}; output: {output!r}"
            )

    def _wait_pod_running(self, pod: PodSpec, node: str) -> None:
        namespace = self._settings.namespace

        def probe() -> Probe:
            seen = self._clients.core.read_namespaced_pod(pod.name, namespace)
            phase = seen.status.phase if seen.status else None
            if phase in ("Succeeded", "Failed"):
                raise self._pod_failure(
                    pod,
                    node,
                    f"pod {pod.name}: expected it to keep running, seen {describe_pod(seen)}",
                )
            return Probe(phase == "Running", describe_pod(seen))

        try:
            self._progress.wait(
                f"pod {pod.name} on {node} to run",
                probe,
                pod.timeout_s + self._settings.pod_start_allowance_s,
                poll_s=0.5,
                max_poll_s=3.0,
            )
        except WaitTimeout as exc:
            raise self._pod_failure(pod, node, str(exc)) from exc

    def _run_check(self, pod: PodSpec, check: ExecCheck) -> None:
        namespace = self._settings.namespace

        def probe() -> Probe:
            code, output = self._clients.exec.exec(
                namespace, pod.name, APP_CONTAINER, ["sh", "-c", check.command], 30.0
            )
            problems = check.output.failures(output)
            if code != check.exit_code:
                problems.insert(0, f"expected exit code {check.exit_code}, seen {code}")
            state = "; ".join(problems) + f"; output: {output[-300:]!r}" if problems else "ok"
            return Probe(not problems, state)

        try:
            self._progress.wait(
                f"check '{check.name}' in pod {pod.name}",
                probe,
                check.within_s,
                poll_s=1.0,
                max_poll_s=3.0,
            )
        except WaitTimeout as exc:
            raise StepFailed(f"check '{check.name}' in pod {pod.name}: {exc}") from exc

    # ----------------------------------------------------------------- expansion

    def _expand(self, scenario: Scenario, claim_name: str, recorder: ScenarioRecorder) -> None:
        expansion = scenario.expansion
        assert expansion is not None
        self._clients.core.patch_namespaced_persistent_volume_claim(
            claim_name,
            self._settings.namespace,
            {"spec": {"resources": {"requests": {"storage": expansion.size}}}},
        )
        volume = self._read_claim(claim_name).spec.volume_name

        def probe() -> Probe:
            pv = self._clients.core.read_persistent_volume(volume)
            capacity = str(pv.spec.capacity.get("storage"))
            done = _quantity_bytes(capacity) >= expansion.size_bytes
            events = describe_events(self._claim_events(claim_name))
            return Probe(done, f"PV capacity {capacity}; {events}")

        try:
            seen = self._progress.wait(
                f"PersistentVolume {volume} to grow to {expansion.size}",
                probe,
                self._settings.provision_timeout_s,
                poll_s=0.5,
                max_poll_s=5.0,
                hint="check the csi-resizer and fsx-plugin logs of the controller",
            )
        except WaitTimeout as exc:
            raise StepFailed(f"{exc}\n{self._controller_logs()}") from exc
        recorder.result.details["expanded_capacity"] = seen.state
        fs_id = self._clients.core.read_persistent_volume(volume).spec.csi.volume_handle
        description = self._guard.describe(fs_id)
        capacity = None if description is None else description.get("StorageCapacity")
        if capacity != expansion.expected_capacity_gib:
            raise StepFailed(
                f"file system {fs_id}: expected StorageCapacity {expansion.expected_capacity_gib} "
                f"GiB after growing the claim to {expansion.size}, seen {capacity}"
            )

    # ----------------------------------------------------------------- teardown

    def _teardown(self, recorder: ScenarioRecorder, cleanups: list[_Cleanup]) -> None:
        for cleanup in reversed(cleanups):
            started = time.monotonic()
            try:
                cleanup.action()
            except (StepFailed, StepError, WaitTimeout, ApiException) as exc:
                recorder.cleanup_failed(
                    f"teardown {cleanup.name}", str(exc), round(time.monotonic() - started, 3)
                )

    def _wait_gone(self, what: str, read: Callable[[], Any], timeout_s: float, hint: str) -> None:
        def probe() -> Probe:
            try:
                seen = read()
            except ApiException as exc:
                if exc.status == 404:
                    return Probe(True, "gone")
                raise
            finalizers = getattr(seen.metadata, "finalizers", None)
            phase = getattr(seen.status, "phase", None) if seen.status else None
            return Probe(False, f"still there (phase {phase}, finalizers {finalizers})")

        self._progress.wait(
            f"{what} to be deleted", probe, timeout_s, poll_s=0.3, max_poll_s=3.0, hint=hint
        )

    def _delete_pod(self, name: str) -> None:
        namespace = self._settings.namespace
        try:
            self._clients.core.delete_namespaced_pod(name, namespace, grace_period_seconds=1)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self._wait_gone(
            f"pod {name}",
            lambda: self._clients.core.read_namespaced_pod(name, namespace),
            120.0,
            "a pod stuck Terminating usually means the volume does not unmount: check the node "
            "plugin's NodeUnpublishVolume log",
        )

    def _delete_claim(self, name: str, scenario: Scenario) -> None:
        namespace = self._settings.namespace
        volume: str | None = None
        try:
            claim = self._read_claim(name)
            volume = claim.spec.volume_name
            self._clients.core.delete_namespaced_persistent_volume_claim(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self._wait_gone(
            f"claim {name}",
            lambda: self._read_claim(name),
            120.0,
            "a claim stuck with the pvc-protection finalizer is still used by a pod",
        )
        reclaim = scenario.storage_class.reclaim_policy if scenario.storage_class else "Retain"
        if scenario.provisioning != "dynamic" or not volume:
            return
        if reclaim == "Retain":
            # The harness removes what the Retain policy keeps: the PV and its file system.
            fs_id = self._clients.core.read_persistent_volume(volume).spec.csi.volume_handle
            self._delete_volume(volume)
            self._delete_file_system(fs_id)
            return
        fs_id = self._volume_handle(volume)
        self._wait_gone(
            f"PersistentVolume {volume}",
            lambda: self._clients.core.read_persistent_volume(volume),
            self._settings.file_system_delete_timeout_s,
            "the provisioner deletes the PV after DeleteVolume succeeds: check its log",
        )
        if fs_id:
            self._wait_file_system_gone(fs_id)

    def _volume_handle(self, volume: str) -> str | None:
        try:
            pv = self._clients.core.read_persistent_volume(volume)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return str(pv.spec.csi.volume_handle) if pv.spec.csi else None

    def _wait_file_system_gone(self, fs_id: str) -> None:
        try:
            self._guard.wait_gone(fs_id, self._settings.file_system_delete_timeout_s)
        except WaitTimeout as exc:
            raise StepFailed(
                f"the claim and its PersistentVolume are gone but file system {fs_id} is not: {exc}"
            ) from exc

    def _delete_volume(self, name: str) -> None:
        try:
            self._clients.core.delete_persistent_volume(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self._wait_gone(
            f"PersistentVolume {name}",
            lambda: self._clients.core.read_persistent_volume(name),
            120.0,
            "check the PV's finalizers",
        )

    def _delete_file_system(self, fs_id: str) -> None:
        try:
            self._fsx.delete_file_system(FileSystemId=fs_id)
        except self._fsx.exceptions.FileSystemNotFound:
            return
        self._wait_file_system_gone(fs_id)

    def _delete_storage_class(self, name: str) -> None:
        try:
            self._clients.storage.delete_storage_class(name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    # ----------------------------------------------------------------- logs for failures

    def _controller_logs(self) -> str:
        settings = self._settings
        return "\n".join(
            self._logs_of(namespace, selector, settings.controller_containers)
            for namespace, selector in settings.controller_pods
        )

    def _node_plugin_logs(self, node: str) -> str:
        settings = self._settings
        return "\n".join(
            self._logs_of(
                namespace,
                selector,
                settings.node_containers,
                field_selector=f"spec.nodeName={node}",
            )
            for namespace, selector in settings.node_pods
        )

    def _logs_of(
        self,
        namespace: str,
        label_selector: str,
        containers: Sequence[str] | None,
        field_selector: str | None = None,
    ) -> str:
        try:
            kwargs = {"label_selector": label_selector}
            if field_selector:
                kwargs["field_selector"] = field_selector
            pods = self._clients.core.list_namespaced_pod(namespace, **kwargs).items
        except ApiException as exc:
            return f"(cannot list pods {label_selector} in {namespace}: HTTP {exc.status})"
        if not pods:
            return (
                f"(no pods {label_selector} in {namespace}: with --driver installed, read the "
                "installed driver's logs)"
            )
        parts = []
        for pod in pods:
            names = containers or [c.name for c in pod.spec.containers]
            for container in names:
                text = pod_logs(
                    self._clients, namespace, pod.metadata.name, container, _LOG_TAIL_LINES
                )
                parts.append(f"--- {pod.metadata.name}/{container}:\n{_tail(text)}")
        return "\n".join(parts)

    # ----------------------------------------------------------------- leak sweep

    def sweep(self) -> list[LeakedResource]:
        """Delete what the run left: pods, claims, volumes, StorageClasses carrying the run's
        label (and PVs bound to its claims), then the file systems tagged with the run id, then
        the run's namespace. Each leftover is reported."""
        found: list[LeakedResource] = []
        namespace = self._settings.namespace
        selector = f"{RUN_ID_LABEL}={kube_name(self._settings.run_id)}"
        core, storage = self._clients.core, self._clients.storage

        def remove(kind: str, name: str, delete: Callable[[], object]) -> None:
            removed = True
            detail = "deleted by the sweep"
            try:
                delete()
            except ApiException as exc:
                if exc.status != 404:
                    removed, detail = (
                        False,
                        f"could not delete: HTTP {exc.status} {_api_message(exc)}",
                    )
            found.append(LeakedResource(kind, name, detail, removed))

        for pod in core.list_namespaced_pod(namespace, label_selector=selector).items:
            name = pod.metadata.name
            remove(
                "Pod",
                f"{namespace}/{name}",
                partial(core.delete_namespaced_pod, name, namespace, grace_period_seconds=0),
            )
        for claim in core.list_namespaced_persistent_volume_claim(
            namespace, label_selector=selector
        ).items:
            name = claim.metadata.name
            if claim.spec.volume_name:
                self._bound_volumes.add(claim.spec.volume_name)
            remove(
                "PersistentVolumeClaim",
                f"{namespace}/{name}",
                partial(core.delete_namespaced_persistent_volume_claim, name, namespace),
            )
        for volume in core.list_persistent_volume().items:
            name = volume.metadata.name
            labelled = (volume.metadata.labels or {}).get(RUN_ID_LABEL) == kube_name(
                self._settings.run_id
            )
            claim_ref = volume.spec.claim_ref
            ours = (
                labelled
                or name in self._bound_volumes
                or (claim_ref is not None and claim_ref.namespace == namespace)
            )
            if ours:
                remove("PersistentVolume", name, partial(core.delete_persistent_volume, name))
        for storage_class in storage.list_storage_class(label_selector=selector).items:
            name = storage_class.metadata.name
            remove("StorageClass", name, partial(storage.delete_storage_class, name))
        found += self._guard.sweep(
            self._settings.run_id, self._settings.file_system_delete_timeout_s
        )
        try:
            core.delete_namespace(namespace)
        except ApiException as exc:
            if exc.status != 404:
                found.append(
                    LeakedResource(
                        "Namespace", namespace, f"could not delete: HTTP {exc.status}", False
                    )
                )
        return found


def _exit_code(pod: Any) -> int | None:
    for container in (pod.status.container_statuses or []) if pod.status else []:
        if container.name == APP_CONTAINER and container.state and container.state.terminated:
            return int(container.state.terminated.exit_code)
    return None


# --------------------------------------------------------------------------- diagnostics


def collect_diagnostics(
    clients: KubeClients, directory: Path, namespaces: Sequence[str], progress: Progress
) -> list[Path]:
    """Events, object dumps and every container's log of `namespaces`, plus the cluster-scoped
    storage objects, into `directory`. Best effort: a failing call is written down, not raised."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    serializer: Any = k8s.ApiClient()  # untyped in the kubernetes package
    sanitize = serializer.sanitize_for_serialization

    def write(name: str, text: str) -> None:
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    def dump(items: Sequence[Any]) -> str:
        return yaml.safe_dump_all([sanitize(item) for item in items], sort_keys=False)

    for namespace in namespaces:
        try:
            events = clients.core.list_namespaced_event(namespace).items
            write(
                f"{namespace}/events.txt",
                "\n".join(
                    f"{e.last_timestamp or e.event_time} {e.type} {e.reason} "
                    f"{e.involved_object.kind}/{e.involved_object.name}: {e.message}"
                    for e in events
                ),
            )
            pods = clients.core.list_namespaced_pod(namespace).items
            claims = clients.core.list_namespaced_persistent_volume_claim(namespace).items
            write(f"{namespace}/objects.yaml", dump([*pods, *claims]))
            for pod in pods:
                for container in pod.spec.containers:
                    text = pod_logs(clients, namespace, pod.metadata.name, container.name, None)
                    write(f"{namespace}/logs/{pod.metadata.name}/{container.name}.log", text)
        except ApiException as exc:
            write(
                f"{namespace}/error.txt",
                f"collecting {namespace} failed: HTTP {exc.status} {exc.reason}",
            )
    try:
        cluster_objects = [
            *clients.core.list_persistent_volume().items,
            *clients.storage.list_storage_class().items,
            *clients.storage.list_csi_node().items,
            *clients.core.list_node().items,
        ]
        write("cluster-objects.yaml", dump(cluster_objects))
    except ApiException as exc:
        write("cluster-error.txt", f"collecting cluster objects failed: HTTP {exc.status}")
    progress.info(f"saved {len(written)} diagnostic files to {directory}")
    return written


@contextmanager
def timed(progress: Progress, what: str, timings: dict[str, str]) -> Iterator[None]:
    """Time a platform step (cluster create, image load, deploy, ...) for the run's details."""
    started = progress.clock()
    progress.info(f"{what} ...")
    yield
    elapsed = progress.clock() - started
    timings[f"step: {what}"] = f"{elapsed:.1f}s"
    progress.info(f"{what}: done in {elapsed:.1f}s")


# --------------------------------------------------------------------------- FSx access


class PortForward(Protocol):
    def __call__(
        self, kubeconfig: Path | None, namespace: str, service: str, port: int
    ) -> AbstractContextManager[str]:
        """Forward a local port to a Service; yields the local base URL (http://127.0.0.1:N)."""
        ...


@contextmanager
def kubectl_port_forward(
    kubeconfig: Path | None, namespace: str, service: str, port: int, timeout_s: float = 30.0
) -> Iterator[str]:
    """`kubectl port-forward` to a Service on a free local port (127.0.0.1 only)."""
    import subprocess
    import threading

    argv = ["kubectl"]
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    argv += [
        "--namespace",
        namespace,
        "port-forward",
        "--address",
        "127.0.0.1",
        f"service/{service}",
        f":{port}",
    ]
    process = subprocess.Popen(
        tied_to_parent(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(timeout_s):
            process.kill()
            _, stderr = process.communicate(timeout=5)
            raise StepError(
                f"`{' '.join(argv)}` did not report a forwarded port within {timeout_s:.0f}s; "
                f"it printed: {stderr.strip() or '(nothing)'}; expected 'Forwarding from "
                f"127.0.0.1:PORT'; try the command by hand, and check that service "
                f"{namespace}/{service} has a ready pod"
            )
        yield f"http://127.0.0.1:{found[0]}"
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(timeout=5)


def boto3_fsx_client(endpoint_url: str | None, region: str) -> Any:
    """An FSx client: the emulator (dummy credentials) when `endpoint_url` is set, else the
    default AWS credential chain."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "adaptive", "max_attempts": 8})
    if endpoint_url is None:
        return boto3.client("fsx", region_name=region, config=config)
    return boto3.client(
        "fsx",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="emulated",
        aws_secret_access_key="emulated",  # noqa: S106 - the emulator accepts any credentials
        config=config,
    )


FsxClientFactory = Callable[[str | None, str], Any]


# --------------------------------------------------------------------------- a whole run


def run_scenarios(
    clients: KubeClients,
    fsx_client: Any,
    scenarios: Sequence[Scenario],
    settings: KubeRunSettings,
    progress: Progress,
    result: RunResult,
    diagnostics_dir: Path | None,
    diagnostics_namespaces: Sequence[str],
) -> None:
    """Every scenario on the cluster, then the leak sweep; diagnostics saved when anything
    failed. Results go into `result` as they come, so an interrupted run keeps what it did."""
    guard = leaks.FileSystemGuard(fsx_client, progress)
    nodes = schedulable_nodes(clients)
    progress.info(f"schedulable nodes: {', '.join(nodes) or 'none'}")
    runner = KubeScenarioRunner(clients, guard, fsx_client, progress, settings, nodes)
    runner.ensure_namespace()
    try:
        for scenario in scenarios:
            progress.info(f"scenario {scenario.name} on {settings.platform}")
            scenario_result = runner.run(scenario)
            result.scenarios.append(scenario_result)
            progress.info(
                f"scenario {scenario.name}: {scenario_result.outcome.value}"
                + (
                    f" ({scenario_result.message.splitlines()[0]})"
                    if scenario_result.message
                    else ""
                )
            )
    finally:
        failed = any(not s.passed and s.outcome is not Outcome.SKIPPED for s in result.scenarios)
        if failed and diagnostics_dir is not None:
            collect_diagnostics(
                clients,
                diagnostics_dir,
                [*diagnostics_namespaces, settings.namespace],
                progress,
            )
        result.leaks += runner.sweep()
        if result.leaks:
            progress.info(
                "leak sweep removed: "
                + ", ".join(f"{leak.kind} {leak.identifier}" for leak in result.leaks)
            )


@dataclass
class DriverPlan:
    """The driver a kind, cluster or k3s run deploys: the reference overlay, or another
    driver's manifests (`--manifests`), with the FSx emulator beside it on emulated AWS."""

    # Every object the run applies, labelled with the run id, in apply order.
    objects: list[Manifest]
    driver_name: str
    # Waited for after the apply (the emulator first when there is one).
    workloads: list[ObjectRef]
    # The driver's namespaces, for diagnostics.
    namespaces: list[str]
    description: str
    # Only for another driver's manifests: what the run should add to its failure messages.
    user: DriverManifests | None = None
    with_emulator: bool = False

    def run_settings(self) -> dict[str, Any]:
        """KubeRunSettings fields that depend on the driver: provisioner, where its logs are,
        and hints for failures that another driver meets on emulated AWS."""
        if self.user is None:
            return {}
        from e2e.platforms.user_manifests import (
            EMULATED_MOUNT_HINT,
            ENDPOINT_HINT,
        )

        def pods(workloads: Sequence[ObjectRef]) -> list[tuple[str, str]]:
            found = []
            for workload in workloads:
                manifest = next(
                    m
                    for m in self.objects
                    if m["kind"] == workload.kind and m["metadata"]["name"] == workload.name
                )
                labels = manifest["spec"]["selector"].get("matchLabels") or {}
                selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
                found.append((workload.namespace or "default", selector))
            return found

        return {
            "provisioner": self.driver_name,
            "controller_pods": pods(self.user.controllers),
            "controller_containers": None,
            "node_pods": pods(self.user.node_plugins),
            "node_containers": None,
            "provisioning_hint": (
                f"the driver under test must reach the FSx emulator: {ENDPOINT_HINT}"
                if self.with_emulator
                else None
            ),
            "mount_hint": EMULATED_MOUNT_HINT if self.with_emulator else None,
        }


def plan_driver(
    runner: CommandRunner,
    overlay: Overlay,
    user: DriverManifests | None,
    image: str | None,
    pull_policy: str | None,
    run_id: str,
) -> DriverPlan:
    """What to apply and wait for. `overlay` is the reference driver's ("emulated" also
    brings the FSx emulator); with `user`, only the emulator's objects are taken from it.
    `image` replaces the harness image (the reference driver's and the emulator's) wherever
    it appears; another driver's own images are left alone."""
    from e2e.platforms.manifests import DRIVER_NAMESPACE, EMULATOR_DEPLOYMENT
    from e2e.platforms.user_manifests import emulator_objects, merged

    with_emulator = overlay == "emulated"
    emulator = [ObjectRef("Deployment", EMULATOR_DEPLOYMENT, DRIVER_NAMESPACE)]
    if user is None:
        objects = render(runner, overlay)
        workloads = [
            ObjectRef("Deployment", CONTROLLER_DEPLOYMENT, DRIVER_NAMESPACE),
            ObjectRef("DaemonSet", NODE_DAEMONSET, DRIVER_NAMESPACE),
        ]
        namespaces = [DRIVER_NAMESPACE]
        description = f"the reference driver (overlay {overlay})"
        driver_name = DRIVER_NAME
    else:
        objects = user.objects
        if with_emulator:
            objects = merged(emulator_objects(render(runner, overlay)), objects)
        workloads = user.workloads
        namespaces = user.namespaces
        description = f"--manifests {user.describe()}"
        driver_name = user.driver_name
    if with_emulator:
        workloads = [*emulator, *workloads]
        namespaces = sorted({DRIVER_NAMESPACE, *namespaces})
    if image is not None:
        objects = with_driver_image(objects, image, pull_policy)
    return DriverPlan(
        objects=with_labels(objects, {RUN_ID_LABEL: kube_name(run_id)}),
        driver_name=driver_name,
        workloads=workloads,
        namespaces=namespaces,
        description=description,
        user=user,
        with_emulator=with_emulator,
    )


def deploy_planned_driver(
    clients: KubeClients,
    plan: DriverPlan,
    progress: Progress,
    timeout_s: float,
    nodes: Sequence[str],
) -> None:
    """Apply the plan's objects and wait until the driver is ready on `nodes`."""
    progress.info(f"deploying {plan.description}")
    if plan.user is not None:
        for note in plan.user.notes:
            progress.info(note)
    apply_manifests(clients, plan.objects, progress)
    wait_workloads_ready(clients, progress, plan.workloads, plan.driver_name, nodes, timeout_s)


def foreign_csi_driver(clients: KubeClients, driver_name: str) -> bool:
    """Whether the cluster has a CSIDriver `driver_name` that no harness run created."""
    try:
        existing = clients.storage.read_csi_driver(driver_name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    labels = (existing.metadata.labels or {}) if existing.metadata else {}
    # One left by an earlier harness run is ours to replace.
    return RUN_ID_LABEL not in labels


def refuse_foreign_csi_driver(clients: KubeClients, plan: DriverPlan, where: str) -> None:
    """On a shared cluster, another driver's manifests must not take over an installed
    driver: the run's teardown would delete it. Raises StepError before anything is applied."""
    if not foreign_csi_driver(clients, plan.driver_name):
        return
    raise StepError(
        f"CSIDriver {plan.driver_name} already exists in the cluster at {where}, not created "
        "by the harness: expected none before deploying --manifests (applying would take over "
        "the installed driver and the teardown would delete it); try --driver installed to "
        "test the installed driver, or uninstall it first"
    )


SETUP_ERRORS: Final = (StepError, WaitTimeout, ClusterUnreachable, ApiException)


def new_run_result(options: RunOptions, platform: str) -> RunResult:
    """The result a kind, cluster or k3s run fills in."""
    # "manifests": another driver's, deployed by the run (--manifests).
    return RunResult(options.run_id, platform, "manifests" if options.manifests else options.driver)


def deploy_emulated_driver(
    clients: KubeClients,
    runner: CommandRunner,
    user: DriverManifests | None,
    image: str,
    options: RunOptions,
    platform: str,
    progress: Progress,
    result: RunResult,
    timings: dict[str, str],
    diagnostics: list[str],
    *,
    share_nodes: bool = False,
) -> KubeRunSettings:
    """Deploy the driver and the FSx emulator on a throw-away cluster (kind, k3s) whose nodes
    already hold `image`, and return the settings to run the scenarios with. `diagnostics`
    is updated in place to the driver's namespaces before anything is applied, so a failed
    deploy still collects them."""
    with timed(progress, "deploying the driver and the emulator", timings):
        plan = plan_driver(runner, "emulated", user, image, "Never", options.run_id)
        diagnostics[:] = plan.namespaces
        result.details["driver"] = plan.description
        deploy_planned_driver(
            clients,
            plan,
            progress,
            float(options.settings.get("wait", "300")),
            schedulable_nodes(clients),
        )
    return KubeRunSettings(
        run_id=options.run_id,
        platform=platform,
        namespace=kube_name(f"fsx-csi-{options.run_id}"),
        # The driver image has sh and is already on every node: no pull.
        pod_image=image,
        pod_image_pull_policy="Never",
        provision_timeout_s=options.provision_timeout_s,
        pod_start_allowance_s=60.0,
        share_nodes=share_nodes,
        file_system_delete_timeout_s=options.provision_timeout_s,
        **plan.run_settings(),
    )


def record_setup_failure(
    result: RunResult,
    scenarios: Sequence[Scenario],
    exc: Exception,
    progress: Progress,
    clients: KubeClients | None,
    report_dir: Path | None,
    diagnostics: Sequence[str],
) -> None:
    """The platform could not get ready (cluster, image, driver): every scenario not run yet
    is an error carrying the reason, so the report says why nothing ran; the driver's
    namespaces are saved when the cluster was reached."""
    platform = result.platform
    message = str(exc)
    done = {s.name for s in result.scenarios}
    for scenario in scenarios:
        if scenario.name not in done:
            result.scenarios.append(
                ScenarioResult(
                    name=scenario.name,
                    platform=platform,
                    outcome=Outcome.ERROR,
                    message=f"platform setup failed: {message}",
                )
            )
    progress.info(f"{platform} setup failed: {message}")
    if clients is not None and report_dir is not None:
        collect_diagnostics(clients, report_dir, diagnostics, progress)
