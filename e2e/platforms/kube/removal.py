"""Removing what a scenario made on a cluster, and proving it is gone: pods, the claim (and,
as its reclaim policy says, its PV and file system, waited for through the FSx API), static
PVs and file systems, StorageClasses. NotFound is success: the thing is gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from e2e import leaks
from e2e.platforms.kube.clients import KubeClients
from e2e.platforms.kube.objects import KubeRunSettings
from e2e.platforms.kube.wire import delete
from e2e.progress import Probe, Progress, WaitTimeout
from e2e.results import StepFailed
from e2e.scenarios import Scenario


class ScenarioRemoval:
    """Deletes one kind of object each, then waits until the API no longer has it."""

    def __init__(
        self,
        clients: KubeClients,
        guard: leaks.FileSystemGuard,
        fsx_client: Any,
        progress: Progress,
        settings: KubeRunSettings,
    ) -> None:
        self._clients = clients
        self._guard = guard
        self._fsx = fsx_client
        self._progress = progress
        self._settings = settings

    def wait_gone(self, what: str, read: Callable[[], Any], timeout_s: float, hint: str) -> None:
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

    def delete_pod(self, name: str) -> None:
        namespace = self._settings.namespace
        try:
            delete(
                self._clients.core.delete_namespaced_pod, name, namespace, grace_period_seconds=1
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
        self.wait_gone(
            f"pod {name}",
            lambda: self._clients.core.read_namespaced_pod(name, namespace),
            120.0,
            "a pod stuck Terminating usually means the volume does not unmount: check the node "
            "plugin's NodeUnpublishVolume log",
        )

    def delete_claim(self, name: str, scenario: Scenario) -> None:
        namespace = self._settings.namespace
        volume: str | None = None
        fs_id: str | None = None
        try:
            claim = self._clients.core.read_namespaced_persistent_volume_claim(name, namespace)
            volume = claim.spec.volume_name
            # Before the delete: with reclaim Delete, the provisioner removes the PV together
            # with the volume, and the file system's id would be gone with it.
            fs_id = self._volume_handle(volume) if volume else None
            delete(self._clients.core.delete_namespaced_persistent_volume_claim, name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self.wait_gone(
            f"claim {name}",
            lambda: self._clients.core.read_namespaced_persistent_volume_claim(name, namespace),
            120.0,
            "a claim stuck with the pvc-protection finalizer is still used by a pod",
        )
        reclaim = scenario.storage_class.reclaim_policy if scenario.storage_class else "Retain"
        if scenario.provisioning != "dynamic" or not volume:
            return
        if reclaim == "Retain":
            # The harness removes what the Retain policy keeps: the PV and its file system.
            self.delete_volume(volume)
            if fs_id:
                self.delete_file_system(fs_id)
            return
        self.wait_gone(
            f"PersistentVolume {volume}",
            lambda: self._clients.core.read_persistent_volume(volume),
            self._settings.file_system_delete_timeout_s,
            "the provisioner deletes the PV after DeleteVolume succeeds: check its log",
        )
        if fs_id:
            self.wait_file_system_gone(fs_id)

    def _volume_handle(self, volume: str) -> str | None:
        try:
            pv = self._clients.core.read_persistent_volume(volume)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return str(pv.spec.csi.volume_handle) if pv.spec.csi else None

    def wait_file_system_gone(self, fs_id: str) -> None:
        try:
            self._guard.wait_gone(fs_id, self._settings.file_system_delete_timeout_s)
        except WaitTimeout as exc:
            raise StepFailed(
                f"the claim and its PersistentVolume are gone but file system {fs_id} is not: {exc}"
            ) from exc

    def delete_volume(self, name: str) -> None:
        try:
            delete(self._clients.core.delete_persistent_volume, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self.wait_gone(
            f"PersistentVolume {name}",
            lambda: self._clients.core.read_persistent_volume(name),
            120.0,
            "check the PV's finalizers",
        )

    def delete_file_system(self, fs_id: str) -> None:
        try:
            self._fsx.delete_file_system(FileSystemId=fs_id)
        except self._fsx.exceptions.FileSystemNotFound:
            return
        self.wait_file_system_gone(fs_id)

    def delete_storage_class(self, name: str) -> None:
        try:
            delete(self._clients.storage.delete_storage_class, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
