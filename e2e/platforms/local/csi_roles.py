"""The Kubernetes components the local platform plays over CSI gRPC.

`ExternalProvisioner` and `ExternalResizer` do what the csi-provisioner and csi-resizer
sidecars do for a claim (kubernetes-csi/external-provisioner `pkg/controller/controller.go`,
external-resizer `pkg/resizer/csi_resizer.go`): the same RPCs, in the same order, with the
same arguments. `Kubelet` does what kubelet's CSI volume plugin does for a pod
(kubernetes `pkg/volume/csi/csi_mounter.go`, `csi_attacher.go`): NodeStage when the driver
advertises it, NodePublish on the kubelet target path layout, NodeUnpublish, NodeUnstage.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from e2e.progress import Probe, Progress
from e2e.scenarios import AccessMode
from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc

_MODE = csi_pb2.VolumeCapability.AccessMode
# How both sidecars and kubelet translate a Kubernetes access mode (without the
# SINGLE_NODE_MULTI_WRITER capability, which FSx drivers do not advertise).
CSI_ACCESS_MODES: dict[AccessMode, csi_pb2.VolumeCapability.AccessMode.Mode.ValueType] = {
    "ReadWriteOnce": _MODE.SINGLE_NODE_WRITER,
    "ReadOnlyMany": _MODE.MULTI_NODE_READER_ONLY,
    "ReadWriteMany": _MODE.MULTI_NODE_MULTI_WRITER,
    "ReadWriteOncePod": _MODE.SINGLE_NODE_SINGLE_WRITER,
}

# Codes after which external-provisioner keeps the volume "in progress" and calls CreateVolume
# again with the same name (its isFinalError); any other code is final for that attempt.
IN_PROGRESS_CODES = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)

# Parameters external-provisioner adds with --extra-create-metadata (upstream manifests set it).
PVC_NAME_KEY = "csi.storage.k8s.io/pvc/name"
PVC_NAMESPACE_KEY = "csi.storage.k8s.io/pvc/namespace"
PV_NAME_KEY = "csi.storage.k8s.io/pv/name"


def volume_capability(
    access_mode: AccessMode, mount_flags: Sequence[str], fs_type: str = ""
) -> csi_pb2.VolumeCapability:
    return csi_pb2.VolumeCapability(
        mount=csi_pb2.VolumeCapability.MountVolume(fs_type=fs_type, mount_flags=list(mount_flags)),
        access_mode=csi_pb2.VolumeCapability.AccessMode(mode=CSI_ACCESS_MODES[access_mode]),
    )


def new_volume_name() -> str:
    """`pvc-<uuid>`: the PV name external-provisioner gives a claim (`pvc-` + claim UID)."""
    return f"pvc-{uuid.uuid4()}"


@dataclass(frozen=True)
class PersistentVolume:
    """What the local platform keeps of a PV: what kubelet and the sidecars read from it."""

    name: str
    volume_id: str
    capacity_bytes: int
    access_modes: tuple[AccessMode, ...]
    mount_options: tuple[str, ...]
    volume_context: Mapping[str, str] = field(default_factory=dict)


class CsiCallFailed(Exception):
    """A CSI call ended with a gRPC error; `code` and `details` are the driver's answer."""

    def __init__(self, rpc: str, code: grpc.StatusCode, details: str, attempts: int = 1) -> None:
        super().__init__(f"{rpc} failed with {code.name}: {details} (after {attempts} attempt(s))")
        self.rpc = rpc
        self.code = code
        self.details = details
        self.attempts = attempts


def _call_with_progress(
    progress: Progress,
    what: str,
    call: Callable[..., Any],
    request: Any,
    timeout_s: float,
    state: Callable[[], str] | None = None,
) -> Any:
    """Start a unary call, show progress while it runs, return its response or raise."""
    future = call.future(request, timeout=timeout_s)  # type: ignore[attr-defined]

    def probe() -> Probe:
        return Probe(future.done(), state() if state is not None else "call in flight")

    # The gRPC deadline ends the call; the extra second lets its DEADLINE_EXCEEDED arrive.
    progress.wait(what, probe, timeout_s + 1.0, poll_s=0.05, max_poll_s=0.5)
    return future.result()


class ExternalProvisioner:
    def __init__(
        self,
        controller: grpc.Channel,
        progress: Progress,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stub = csi_pb2_grpc.ControllerStub(controller)
        self._progress = progress
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._clock = clock

    def create_volume(
        self,
        pv_name: str,
        claim_name: str,
        namespace: str,
        parameters: Mapping[str, str],
        size_bytes: int,
        access_modes: Sequence[AccessMode],
        mount_options: Sequence[str],
        timeout_s: float,
        per_call_timeout_s: float = 300.0,
        state: Callable[[], str] | None = None,
    ) -> PersistentVolume:
        """CreateVolume until it succeeds, fails finally, or `timeout_s` runs out.

        In-progress codes are retried with the same name and arguments (so a correct driver
        must not create a second file system); a final code raises CsiCallFailed, which the
        provisioner would record as a ProvisioningFailed event on the claim.
        """
        request = csi_pb2.CreateVolumeRequest(
            name=pv_name,
            capacity_range=csi_pb2.CapacityRange(required_bytes=size_bytes),
            volume_capabilities=[volume_capability(mode, mount_options) for mode in access_modes],
            parameters={
                **parameters,
                PVC_NAME_KEY: claim_name,
                PVC_NAMESPACE_KEY: namespace,
                PV_NAME_KEY: pv_name,
            },
        )
        deadline = self._clock() + timeout_s
        attempt = 0
        backoff = self._backoff_s
        while True:
            attempt += 1
            remaining = deadline - self._clock()
            try:
                response = _call_with_progress(
                    self._progress,
                    f"CreateVolume {pv_name} (claim {claim_name}, attempt {attempt})",
                    self._stub.CreateVolume,
                    request,
                    max(1.0, min(per_call_timeout_s, remaining)),
                    state,
                )
            except grpc.RpcError as exc:
                code, details = exc.code(), exc.details() or ""
                if code in IN_PROGRESS_CODES and self._clock() + backoff < deadline:
                    self._progress.info(
                        f"CreateVolume {pv_name}: {code.name} ({details}); retrying the same "
                        f"name in {backoff:.1f}s as external-provisioner does"
                    )
                    self._sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                raise CsiCallFailed("CreateVolume", code, details, attempt) from exc
            volume = response.volume
            return PersistentVolume(
                name=pv_name,
                volume_id=volume.volume_id,
                capacity_bytes=volume.capacity_bytes,
                access_modes=tuple(access_modes),
                mount_options=tuple(mount_options),
                volume_context=dict(volume.volume_context),
            )

    def delete_volume(self, volume_id: str, timeout_s: float) -> None:
        """DeleteVolume, retried on in-progress codes (the reclaim of a Delete policy PV)."""
        deadline = self._clock() + timeout_s
        backoff = self._backoff_s
        attempt = 0
        while True:
            attempt += 1
            try:
                _call_with_progress(
                    self._progress,
                    f"DeleteVolume {volume_id} (attempt {attempt})",
                    self._stub.DeleteVolume,
                    csi_pb2.DeleteVolumeRequest(volume_id=volume_id),
                    max(1.0, deadline - self._clock()),
                )
                return
            except grpc.RpcError as exc:
                code, details = exc.code(), exc.details() or ""
                if code in IN_PROGRESS_CODES and self._clock() + backoff < deadline:
                    self._sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                raise CsiCallFailed("DeleteVolume", code, details, attempt) from exc


class ExternalResizer:
    def __init__(self, controller: grpc.Channel, progress: Progress) -> None:
        self._stub = csi_pb2_grpc.ControllerStub(controller)
        self._progress = progress

    def expand(self, pv: PersistentVolume, size_bytes: int, timeout_s: float) -> tuple[int, bool]:
        """ControllerExpandVolume; returns (capacity_bytes, node_expansion_required)."""
        request = csi_pb2.ControllerExpandVolumeRequest(
            volume_id=pv.volume_id,
            capacity_range=csi_pb2.CapacityRange(required_bytes=size_bytes),
            volume_capability=volume_capability(pv.access_modes[0], pv.mount_options),
        )
        try:
            response = _call_with_progress(
                self._progress,
                f"ControllerExpandVolume {pv.volume_id} to {size_bytes} bytes",
                self._stub.ControllerExpandVolume,
                request,
                timeout_s,
            )
        except grpc.RpcError as exc:
            raise CsiCallFailed(
                "ControllerExpandVolume",
                exc.code(),
                exc.details() or "",
            ) from exc
        return response.capacity_bytes, response.node_expansion_required


@dataclass
class _Published:
    pv: PersistentVolume
    target: Path
    staging: Path | None


class Kubelet:
    """One node's kubelet: mounts volumes for pods through that node's CSI plugin.

    `root` plays /var/lib/kubelet. Target paths follow kubelet's layout,
    `<root>/pods/<pod uid>/volumes/kubernetes.io~csi/<pv name>/mount`; kubelet creates the
    parent directory and leaves the target itself to the driver.
    """

    def __init__(
        self, node_name: str, node: grpc.Channel, root: Path, driver_name: str, progress: Progress
    ) -> None:
        self.node_name = node_name
        self.root = root
        self._stub = csi_pb2_grpc.NodeStub(node)
        self._driver_name = driver_name
        self._progress = progress
        self._stage_unstage: bool | None = None
        self._staged: dict[str, Path] = {}  # volume id -> staging path
        self._published: dict[tuple[str, str], _Published] = {}

    def _supports_staging(self) -> bool:
        if self._stage_unstage is None:
            response = self._stub.NodeGetCapabilities(
                csi_pb2.NodeGetCapabilitiesRequest(), timeout=10
            )
            stage = csi_pb2.NodeServiceCapability.RPC.STAGE_UNSTAGE_VOLUME
            self._stage_unstage = any(c.rpc.type == stage for c in response.capabilities)
        return self._stage_unstage

    def target_path(self, pod_uid: str, pv: PersistentVolume) -> Path:
        return self.root / "pods" / pod_uid / "volumes" / "kubernetes.io~csi" / pv.name / "mount"

    def staging_path(self, pv: PersistentVolume) -> Path:
        digest = hashlib.sha256(pv.volume_id.encode()).hexdigest()
        return self.root / "plugins/kubernetes.io/csi" / self._driver_name / digest / "globalmount"

    def _call(self, rpc: str, request: Any, timeout_s: float) -> Any:
        try:
            return _call_with_progress(
                self._progress,
                f"{rpc} on {self.node_name}",
                getattr(self._stub, rpc),
                request,
                timeout_s,
            )
        except grpc.RpcError as exc:
            raise CsiCallFailed(
                f"{rpc} on {self.node_name}",
                exc.code(),
                exc.details() or "",
            ) from exc

    def publish(
        self, pod_uid: str, pv: PersistentVolume, read_only: bool, timeout_s: float = 120.0
    ) -> Path:
        # kubelet uses the PV's first access mode for node calls (csi_mounter.go).
        capability = volume_capability(pv.access_modes[0], pv.mount_options)
        staging = None
        if self._supports_staging():
            staging = self._staged.get(pv.volume_id)
            if staging is None:
                staging = self.staging_path(pv)
                staging.parent.mkdir(parents=True, exist_ok=True)
                self._call(
                    "NodeStageVolume",
                    csi_pb2.NodeStageVolumeRequest(
                        volume_id=pv.volume_id,
                        staging_target_path=str(staging),
                        volume_capability=capability,
                        volume_context=dict(pv.volume_context),
                    ),
                    timeout_s,
                )
                self._staged[pv.volume_id] = staging
        target = self.target_path(pod_uid, pv)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._call(
            "NodePublishVolume",
            csi_pb2.NodePublishVolumeRequest(
                volume_id=pv.volume_id,
                staging_target_path=str(staging) if staging else "",
                target_path=str(target),
                volume_capability=capability,
                readonly=read_only,
                volume_context=dict(pv.volume_context),
            ),
            timeout_s,
        )
        self._published[(pod_uid, pv.volume_id)] = _Published(pv, target, staging)
        return target

    def unpublish(self, pod_uid: str, pv: PersistentVolume, timeout_s: float = 60.0) -> None:
        published = self._published.pop((pod_uid, pv.volume_id), None)
        target = published.target if published else self.target_path(pod_uid, pv)
        self._call(
            "NodeUnpublishVolume",
            csi_pb2.NodeUnpublishVolumeRequest(volume_id=pv.volume_id, target_path=str(target)),
            timeout_s,
        )
        # kubelet removes the volume directory once the driver has unmounted the target.
        _remove_empty_dirs(target, stop=self.root / "pods" / pod_uid)
        still_used = any(key[1] == pv.volume_id for key in self._published)
        staging = self._staged.get(pv.volume_id)
        if staging is not None and not still_used:
            self._call(
                "NodeUnstageVolume",
                csi_pb2.NodeUnstageVolumeRequest(
                    volume_id=pv.volume_id, staging_target_path=str(staging)
                ),
                timeout_s,
            )
            del self._staged[pv.volume_id]

    def published(self) -> list[tuple[str, PersistentVolume]]:
        """(pod uid, volume) pairs still published, for cleanup after a failure."""
        return [(uid, p.pv) for (uid, _), p in self._published.items()]


def _remove_empty_dirs(path: Path, stop: Path) -> None:
    """rmdir `path` and its parents up to and including `stop`, while they are empty."""
    current = path
    while True:
        try:
            current.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            return  # not empty (or still a mount point): leave it for the sweep to report
        if current == stop or stop not in current.parents:
            return
        current = current.parent
