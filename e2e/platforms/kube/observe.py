"""Looking at cluster objects for progress lines and failure messages: events, a pod's state
in words, container logs, and the nodes ordinary pods can land on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from e2e.platforms.kube.clients import KubeClients, api_message

# How many log lines a failure message carries per container.
LOG_TAIL_LINES: Final = 40


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
        restarts = _restarts(container)
        if restarts:
            parts.append(restarts)
    if pod.spec and pod.spec.node_name:
        parts.append(f"on {pod.spec.node_name}")
    return ", ".join(parts)


def _restarts(container: Any) -> str:
    """How often the kubelet restarted a container and why it last ended (a liveness probe
    that fails, a crash): a pod that looks Running may be in CrashLoopBackOff."""
    if not container.restart_count:
        return ""
    text = f"{container.name} restarted {container.restart_count} times"
    last = container.last_state.terminated if container.last_state else None
    if last is not None:
        text += f", last ended {last.reason or 'without a reason'} (exit code {last.exit_code})"
    return text


def pod_logs(
    clients: KubeClients, namespace: str, pod: str, container: str, tail: int | None
) -> str:
    try:
        text = clients.core.read_namespaced_pod_log(
            pod, namespace, container=container, tail_lines=tail
        )
    except ApiException as exc:
        return f"(no logs: HTTP {exc.status} {api_message(exc)})"
    return str(text)


def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
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
