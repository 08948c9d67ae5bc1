"""What a failed kind, cluster or k3s run saves into the report bundle: events, object dumps
and every container's log of the run's namespaces, plus the cluster-scoped storage objects."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client.exceptions import ApiException

from e2e.platforms.kube.clients import KubeClients
from e2e.platforms.kube.observe import pod_logs
from e2e.platforms.kube.wire import field, items, read_json
from e2e.progress import Progress


def collect_diagnostics(
    clients: KubeClients, directory: Path, namespaces: Sequence[str], progress: Progress
) -> list[Path]:
    """Events, object dumps and every container's log of `namespaces`, plus the cluster-scoped
    storage objects, into `directory`. Best effort: a failing call is written down, not raised."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(name: str, text: str) -> None:
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    def listed(list_call: Any, *args: Any) -> list[dict[str, Any]]:
        """The objects as the API server sent them: a dump must not fail on a null the
        client models refuse (a CSINode's `drivers: null`)."""
        return [dict(item) for item in items(read_json(list_call, *args), "items")]

    def dump(objects: Sequence[dict[str, Any]]) -> str:
        return yaml.safe_dump_all(objects, sort_keys=False)

    for namespace in namespaces:
        try:
            events = listed(clients.core.list_namespaced_event, namespace)
            write(
                f"{namespace}/events.txt",
                "\n".join(
                    f"{e.get('lastTimestamp') or e.get('eventTime')} {e.get('type')} "
                    f"{e.get('reason')} {field(e, 'involvedObject', 'kind')}/"
                    f"{field(e, 'involvedObject', 'name')}: {e.get('message')}"
                    for e in events
                ),
            )
            pods = listed(clients.core.list_namespaced_pod, namespace)
            claims = listed(clients.core.list_namespaced_persistent_volume_claim, namespace)
            write(f"{namespace}/objects.yaml", dump([*pods, *claims]))
            for pod in pods:
                name = str(field(pod, "metadata", "name"))
                for container in items(pod, "spec", "containers"):
                    text = pod_logs(clients, namespace, name, str(container.get("name")), None)
                    write(f"{namespace}/logs/{name}/{container.get('name')}.log", text)
        except Exception as exc:  # noqa: BLE001 - best effort: written down, never raised
            write(f"{namespace}/error.txt", f"collecting {namespace} failed: {_why(exc)}")
    try:
        cluster_objects = [
            *listed(clients.core.list_persistent_volume),
            *listed(clients.storage.list_storage_class),
            *listed(clients.storage.list_csi_node),
            *listed(clients.core.list_node),
        ]
        write("cluster-objects.yaml", dump(cluster_objects))
    except Exception as exc:  # noqa: BLE001 - best effort: written down, never raised
        write("cluster-error.txt", f"collecting cluster objects failed: {_why(exc)}")
    progress.info(f"saved {len(written)} diagnostic files to {directory}")
    return written


def _why(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"
