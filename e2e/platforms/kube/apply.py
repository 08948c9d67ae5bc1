"""Server-side apply of rendered manifests, and their removal in reverse order.

The one table of the kinds the harness applies (`_METHODS`: which client, which typed method);
anything else is refused with what to do about it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from e2e.platforms.kube.clients import KubeClients, api_message
from e2e.platforms.kube.wire import delete as delete_call
from e2e.platforms.manifests import Manifest, ref
from e2e.progress import Progress
from e2e.results import StepError

FIELD_MANAGER: Final = "fsx-csi-harness"
APPLY_CONTENT_TYPE: Final = "application/apply-patch+yaml"

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
            "add the kind to e2e/platforms/kube/apply.py or remove it from the manifests"
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
                f"{api_message(exc)}; expected the API server to accept it; try "
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
            delete_call(delete, **kwargs)
        except ApiException as exc:
            if exc.status != 404:
                problems.append(f"{ref(manifest)}: HTTP {exc.status} {api_message(exc)}")
    progress.info(f"deleted {len(objects) - len(problems)} of {len(objects)} driver objects")
    return problems
