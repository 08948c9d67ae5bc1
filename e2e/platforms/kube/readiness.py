"""When a deployed driver is ready: the CSIDriver exists, every workload (Deployment,
StatefulSet, DaemonSet) is rolled out, and the driver is registered in the CSINode of every
node. One deadline for all; a timeout names the object, its state, its events and its pods'
logs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from e2e.platforms.kube.clients import KubeClients, api_message
from e2e.platforms.kube.observe import (
    LOG_TAIL_LINES,
    describe_events,
    describe_pod,
    events_for,
    pod_logs,
    tail,
)
from e2e.platforms.manifests import CONTROLLER_DEPLOYMENT, DRIVER_NAME, NODE_DAEMONSET, ObjectRef
from e2e.progress import Probe, Progress, WaitTimeout
from e2e.results import StepError


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
        return f"(no logs of {workload}: HTTP {exc.status} {api_message(exc)})"
    parts = []
    for pod in pods:
        for container in pod.spec.containers:
            text = pod_logs(clients, namespace, pod.metadata.name, container.name, LOG_TAIL_LINES)
            parts.append(f"--- logs {pod.metadata.name}/{container.name}:\n{tail(text)}")
    return "\n".join(parts) or f"(no pods of {workload})"
