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
from e2e.platforms.kube.wire import count, field, items, read_json
from e2e.platforms.manifests import DRIVER_NAME, ObjectRef
from e2e.progress import Probe, Progress, WaitTimeout
from e2e.results import StepError


def _pods_summary(clients: KubeClients, namespace: str, selector: Mapping[str, str]) -> str:
    label_selector = ",".join(f"{k}={v}" for k, v in selector.items())
    pods = clients.core.list_namespaced_pod(namespace, label_selector=label_selector).items
    if not pods:
        return "no pods yet"
    return "; ".join(f"{p.metadata.name}: {describe_pod(p)}" for p in pods)


def rollout_status(kind: str, workload: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether a workload (its JSON, as the API server sent it) is rolled out, judged as
    `kubectl rollout status` judges it, and the state in words. Missing fields are zero, as
    in the API's Go types: right after an apply that changed the pod template, a Deployment
    reads `observedGeneration == generation` with no `updatedReplicas` while the old pods
    are still available; that is not rolled out."""
    generation = count(workload, "metadata", "generation")
    observed = count(workload, "status", "observedGeneration")
    if (kind == "StatefulSet" and observed == 0) or generation > observed:
        return (
            False,
            f"{_counts(kind, workload)}, controller saw generation {observed} of {generation}",
        )
    strategy = field(workload, "spec", "updateStrategy", "type") or "RollingUpdate"
    if kind == "DaemonSet":
        desired = count(workload, "status", "desiredNumberScheduled")
        updated = count(workload, "status", "updatedNumberScheduled")
        available = count(workload, "status", "numberAvailable")
        words = f"{available}/{desired} available, {updated}/{desired} updated"
        if strategy != "RollingUpdate":
            return True, f"{words} (update strategy {strategy}: not tracked)"
        return updated >= desired and available >= desired, words
    wanted_field = field(workload, "spec", "replicas")
    wanted = int(wanted_field) if isinstance(wanted_field, int) else 1
    replicas = count(workload, "status", "replicas")
    updated = count(workload, "status", "updatedReplicas")
    if kind == "StatefulSet":
        ready = count(workload, "status", "readyReplicas")
        words = f"{ready}/{wanted} ready, {updated}/{wanted} updated"
        if strategy != "RollingUpdate":
            return True, f"{words} (update strategy {strategy}: not tracked)"
        if ready < wanted:
            return False, words
        partition = count(workload, "spec", "updateStrategy", "rollingUpdate", "partition")
        if partition:
            return updated >= wanted - partition, words
        current = field(workload, "status", "currentRevision")
        revision = field(workload, "status", "updateRevision")
        if current != revision:
            return False, f"{words}, pods moving from revision {current} to {revision}"
        return True, words
    available = count(workload, "status", "availableReplicas")
    words = f"{available}/{wanted} available, {updated}/{wanted} updated"
    for condition in items(workload, "status", "conditions"):
        if condition.get("reason") == "ProgressDeadlineExceeded":
            raise StepError(
                f"Deployment {field(workload, 'metadata', 'name')} exceeded its progress "
                f"deadline ({words}): {condition.get('message')}"
            )
    if updated < wanted:
        return False, words
    if replicas > updated:
        return False, f"{words}, {replicas - updated} old replicas pending termination"
    return available >= updated, words


def _counts(kind: str, workload: Mapping[str, Any]) -> str:
    if kind == "DaemonSet":
        desired = count(workload, "status", "desiredNumberScheduled")
        return f"{count(workload, 'status', 'numberAvailable')}/{desired} available"
    wanted = field(workload, "spec", "replicas")
    wanted = wanted if isinstance(wanted, int) else 1
    counted = "readyReplicas" if kind == "StatefulSet" else "availableReplicas"
    return f"{count(workload, 'status', counted)}/{wanted} {counted.removesuffix('Replicas')}"


_READS: Final = {
    "Deployment": "read_namespaced_deployment",
    "StatefulSet": "read_namespaced_stateful_set",
    "DaemonSet": "read_namespaced_daemon_set",
}


def _workload_probe(
    clients: KubeClients, kind: str, namespace: str, name: str
) -> Callable[[], Probe]:
    def probe() -> Probe:
        workload = read_json(getattr(clients.apps, _READS[kind]), name, namespace)
        done, words = rollout_status(kind, workload)
        if done:
            return Probe(True, words)
        selector = field(workload, "spec", "selector", "matchLabels") or {}
        return Probe(False, f"{words}; pods: {_pods_summary(clients, namespace, selector)}")

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
                # Raw JSON: a CSINode without drivers reads `"drivers": null`.
                csi_node = read_json(clients.storage.read_csi_node, node)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                missing.append(f"{node} (no CSINode)")
                continue
            drivers = [d.get("name") for d in items(csi_node, "spec", "drivers")]
            if driver_name not in drivers:
                missing.append(f"{node} (drivers: {drivers or 'none'})")
        if missing:
            return Probe(False, f"{driver_name} not registered on {', '.join(missing)}")
        return Probe(True, f"registered on {len(nodes)} nodes")

    return probe


_GOALS: Final = {
    "Deployment": "to be available",
    "StatefulSet": "to be ready",
    "DaemonSet": "to be ready on every node",
}


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
        namespace = workload.namespace or "default"
        probe = _workload_probe(clients, workload.kind, namespace, workload.name)
        waits.append((f"{workload} {_GOALS[workload.kind]}", probe, workload))
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
    read = getattr(clients.apps, _READS[workload.kind])
    try:
        selector = field(
            read_json(read, workload.name, namespace), "spec", "selector", "matchLabels"
        )
        selector = selector or {}
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
