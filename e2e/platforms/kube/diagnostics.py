"""What a failed kind, cluster or k3s run saves into the report bundle: events, object dumps
and every container's log of the run's namespaces, plus the cluster-scoped storage objects."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from e2e.platforms.kube.clients import KubeClients
from e2e.platforms.kube.observe import pod_logs
from e2e.progress import Progress


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
