"""The leak sweep of a cluster run: whatever the run's scenarios left, found by the run's
label (and the claims' bound volumes, and the run tag on file systems), deleted and listed."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from kubernetes.client.exceptions import ApiException

from e2e import leaks
from e2e.platforms.kube.clients import KubeClients, api_message
from e2e.platforms.kube.installed_patch import restore_leftovers
from e2e.platforms.kube.objects import KubeRunSettings
from e2e.platforms.kube.wire import delete
from e2e.platforms.manifests import RUN_ID_LABEL, kube_name
from fsx_csi_harness.results import Leak


def sweep_run(
    clients: KubeClients,
    guard: leaks.FileSystemGuard,
    settings: KubeRunSettings,
    bound_volumes: set[str],
) -> list[Leak]:
    """Delete what the run left: pods, claims, volumes, StorageClasses carrying the run's
    label (and PVs bound to its claims), then the file systems tagged with the run id, then
    the run's namespace; and restore any installed driver's workload another run left
    patched. Each leftover is reported."""
    found: list[Leak] = []
    namespace = settings.namespace
    selector = f"{RUN_ID_LABEL}={kube_name(settings.run_id)}"
    core, storage = clients.core, clients.storage

    def remove(kind: str, name: str, delete: Callable[[], object]) -> None:
        removed = True
        detail = "deleted by the sweep"
        try:
            delete()
        except ApiException as exc:
            if exc.status != 404:
                removed, detail = (
                    False,
                    f"could not delete: HTTP {exc.status} {api_message(exc)}",
                )
        found.append(Leak(kind, name, detail, removed))

    def pods() -> None:
        for pod in core.list_namespaced_pod(namespace, label_selector=selector).items:
            name = pod.metadata.name
            remove(
                "Pod",
                f"{namespace}/{name}",
                partial(
                    delete, core.delete_namespaced_pod, name, namespace, grace_period_seconds=0
                ),
            )

    def claims() -> None:
        listed = core.list_namespaced_persistent_volume_claim(namespace, label_selector=selector)
        for claim in listed.items:
            name = claim.metadata.name
            if claim.spec.volume_name:
                bound_volumes.add(claim.spec.volume_name)
            remove(
                "PersistentVolumeClaim",
                f"{namespace}/{name}",
                partial(delete, core.delete_namespaced_persistent_volume_claim, name, namespace),
            )

    def volumes() -> None:
        for volume in core.list_persistent_volume().items:
            name = volume.metadata.name
            labels = volume.metadata.labels or {}
            claim_ref = volume.spec.claim_ref
            ours = (
                labels.get(RUN_ID_LABEL) == kube_name(settings.run_id)
                or name in bound_volumes
                or (claim_ref is not None and claim_ref.namespace == namespace)
            )
            if ours:
                remove(
                    "PersistentVolume", name, partial(delete, core.delete_persistent_volume, name)
                )

    def storage_classes() -> None:
        for storage_class in storage.list_storage_class(label_selector=selector).items:
            name = storage_class.metadata.name
            remove("StorageClass", name, partial(delete, storage.delete_storage_class, name))

    def file_systems() -> None:
        found.extend(guard.sweep(settings.run_id, settings.file_system_delete_timeout_s))

    def patched_workloads() -> None:
        # An installed driver an earlier run patched (--driver installed on emulated AWS)
        # and could not restore: killed before its teardown.
        found.extend(restore_leftovers(clients, settings.run_id))

    # Each part on its own: an FSx endpoint that went away must not keep the namespace.
    for what, part in (
        ("pods", pods),
        ("claims", claims),
        ("persistent volumes", volumes),
        ("storage classes", storage_classes),
        ("file systems tagged with the run id", file_systems),
        ("workloads another run left patched", patched_workloads),
    ):
        try:
            part()
        except Exception as exc:  # noqa: BLE001 - reported as a leak the sweep could not check
            reason = (
                f"HTTP {exc.status} {api_message(exc)}"
                if isinstance(exc, ApiException)
                else (f"{type(exc).__name__}: {exc}")
            )
            found.append(Leak("sweep", what, f"could not be listed or removed: {reason}", False))
    try:
        delete(core.delete_namespace, namespace)
    except ApiException as exc:
        if exc.status != 404:
            found.append(
                Leak("Namespace", namespace, f"could not delete: HTTP {exc.status}", False)
            )
    return found
