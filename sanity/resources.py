"""Resources: every RPC a case makes, with what it creates recorded for cleanup.

Like csi-test's Resources, this is the only way the cases talk to the controller and node
services. Volumes, snapshots, controller publications, node stagings and node publications
that succeed are recorded; `cleanup` undoes them newest first (unpublish, unstage,
controller-unpublish, delete) with csi-test's tolerance (NOT_FOUND means undone only for the
node steps), and returns what it could not undo: the leak report.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from fsx_csi_harness.results import Leak
from sanity.config import CsiSecrets
from sanity.rpc import Caller, RpcFailure

Response = TypeVar("Response")


@dataclass(frozen=True)
class Record:
    """Something the driver holds because a case asked for it."""

    kind: str  # volume, snapshot, controller_publication, node_staging, node_publication
    volume_id: str = ""
    snapshot_id: str = ""
    node_id: str = ""
    path: str = ""

    def describe(self) -> str:
        if self.kind == "snapshot":
            return f"snapshot {self.snapshot_id}"
        if self.kind == "volume":
            return f"volume {self.volume_id}"
        if self.kind == "controller_publication":
            return f"volume {self.volume_id} published to node {self.node_id}"
        if self.kind == "node_staging":
            return f"volume {self.volume_id} staged at {self.path}"
        return f"volume {self.volume_id} published at {self.path}"


def cleanup_leak(case: str, kind: str, resource: str, action: str, error: str) -> Leak:
    """A resource that cleanup could not undo, and why, as the shared result model's Leak."""
    return Leak(kind=kind, id=resource, detail=f"{action} failed: {error}", test=case)


class Resources:
    """Proxies the controller, node and group controller services; records what they create.

    All methods may be called from several threads (the concurrent-retry cases do).
    """

    def __init__(
        self,
        call: Caller,
        controller: csi_pb2_grpc.ControllerStub,
        node: csi_pb2_grpc.NodeStub,
        group_controller: csi_pb2_grpc.GroupControllerStub,
        secrets: CsiSecrets,
        case: str = "",
    ) -> None:
        self.call = call
        self.controller = controller
        self.node = node
        self.group_controller = group_controller
        self.secrets = secrets
        self.case = case
        self._lock = threading.Lock()
        self._records: list[Record] = []
        # Every target path a NodePublishVolume succeeded at: the spec makes the driver
        # delete what it created there, which the case's close() checks after cleanup.
        self.published_targets: set[str] = set()
        # csi-test's cleanup unpublishes and unstages every volume at the case's own paths
        # (TargetPath + "/target", StagingPath), published there or not; the context sets
        # them once it has made the directories, and says whether the node stages.
        self.case_target = ""
        self.case_staging = ""
        self.node_stages: Callable[[], bool] = lambda: False

    # --- bookkeeping -------------------------------------------------------------------------

    def _register(self, record: Record) -> None:
        with self._lock:
            if record not in self._records:  # idempotent repeats register once
                self._records.append(record)

    def _unregister(self, record: Record) -> None:
        with self._lock:
            if record in self._records:
                self._records.remove(record)

    @property
    def records(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    def _rpc(self, name: str, method: Callable[..., Response], request: Message) -> Response:
        return self.call(name, method, request)

    # --- controller service ------------------------------------------------------------------

    def controller_get_capabilities(self) -> csi_pb2.ControllerGetCapabilitiesResponse:
        return self._rpc(
            "ControllerGetCapabilities",
            self.controller.ControllerGetCapabilities,
            csi_pb2.ControllerGetCapabilitiesRequest(),
        )

    def create_volume(self, request: csi_pb2.CreateVolumeRequest) -> csi_pb2.CreateVolumeResponse:
        response = self._rpc("CreateVolume", self.controller.CreateVolume, request)
        if response.volume.volume_id:
            self._register(Record("volume", volume_id=response.volume.volume_id))
        return response

    def delete_volume(self, request: csi_pb2.DeleteVolumeRequest) -> csi_pb2.DeleteVolumeResponse:
        response = self._rpc("DeleteVolume", self.controller.DeleteVolume, request)
        if request.volume_id:
            self._unregister(Record("volume", volume_id=request.volume_id))
        return response

    def controller_publish_volume(
        self, request: csi_pb2.ControllerPublishVolumeRequest
    ) -> csi_pb2.ControllerPublishVolumeResponse:
        response = self._rpc(
            "ControllerPublishVolume", self.controller.ControllerPublishVolume, request
        )
        if request.volume_id and request.node_id:
            self._register(
                Record(
                    "controller_publication", volume_id=request.volume_id, node_id=request.node_id
                )
            )
        return response

    def controller_unpublish_volume(
        self, request: csi_pb2.ControllerUnpublishVolumeRequest
    ) -> csi_pb2.ControllerUnpublishVolumeResponse:
        response = self._rpc(
            "ControllerUnpublishVolume", self.controller.ControllerUnpublishVolume, request
        )
        self._unregister(
            Record("controller_publication", volume_id=request.volume_id, node_id=request.node_id)
        )
        return response

    def validate_volume_capabilities(
        self, request: csi_pb2.ValidateVolumeCapabilitiesRequest
    ) -> csi_pb2.ValidateVolumeCapabilitiesResponse:
        return self._rpc(
            "ValidateVolumeCapabilities", self.controller.ValidateVolumeCapabilities, request
        )

    def list_volumes(self, request: csi_pb2.ListVolumesRequest) -> csi_pb2.ListVolumesResponse:
        return self._rpc("ListVolumes", self.controller.ListVolumes, request)

    def get_capacity(self, request: csi_pb2.GetCapacityRequest) -> csi_pb2.GetCapacityResponse:
        return self._rpc("GetCapacity", self.controller.GetCapacity, request)

    def create_snapshot(
        self, request: csi_pb2.CreateSnapshotRequest
    ) -> csi_pb2.CreateSnapshotResponse:
        response = self._rpc("CreateSnapshot", self.controller.CreateSnapshot, request)
        if response.snapshot.snapshot_id:
            self._register(Record("snapshot", snapshot_id=response.snapshot.snapshot_id))
        return response

    def delete_snapshot(
        self, request: csi_pb2.DeleteSnapshotRequest
    ) -> csi_pb2.DeleteSnapshotResponse:
        response = self._rpc("DeleteSnapshot", self.controller.DeleteSnapshot, request)
        if request.snapshot_id:
            self._unregister(Record("snapshot", snapshot_id=request.snapshot_id))
        return response

    def list_snapshots(
        self, request: csi_pb2.ListSnapshotsRequest
    ) -> csi_pb2.ListSnapshotsResponse:
        return self._rpc("ListSnapshots", self.controller.ListSnapshots, request)

    def get_snapshot(self, request: csi_pb2.GetSnapshotRequest) -> csi_pb2.GetSnapshotResponse:
        return self._rpc("GetSnapshot", self.controller.GetSnapshot, request)

    def controller_expand_volume(
        self, request: csi_pb2.ControllerExpandVolumeRequest
    ) -> csi_pb2.ControllerExpandVolumeResponse:
        return self._rpc("ControllerExpandVolume", self.controller.ControllerExpandVolume, request)

    def controller_modify_volume(
        self, request: csi_pb2.ControllerModifyVolumeRequest
    ) -> csi_pb2.ControllerModifyVolumeResponse:
        return self._rpc("ControllerModifyVolume", self.controller.ControllerModifyVolume, request)

    # --- group controller service ------------------------------------------------------------

    def group_controller_get_capabilities(
        self,
    ) -> csi_pb2.GroupControllerGetCapabilitiesResponse:
        return self._rpc(
            "GroupControllerGetCapabilities",
            self.group_controller.GroupControllerGetCapabilities,
            csi_pb2.GroupControllerGetCapabilitiesRequest(),
        )

    def create_volume_group_snapshot(
        self, request: csi_pb2.CreateVolumeGroupSnapshotRequest
    ) -> csi_pb2.CreateVolumeGroupSnapshotResponse:
        return self._rpc(
            "CreateVolumeGroupSnapshot", self.group_controller.CreateVolumeGroupSnapshot, request
        )

    def get_volume_group_snapshot(
        self, request: csi_pb2.GetVolumeGroupSnapshotRequest
    ) -> csi_pb2.GetVolumeGroupSnapshotResponse:
        return self._rpc(
            "GetVolumeGroupSnapshot", self.group_controller.GetVolumeGroupSnapshot, request
        )

    def delete_volume_group_snapshot(
        self, request: csi_pb2.DeleteVolumeGroupSnapshotRequest
    ) -> csi_pb2.DeleteVolumeGroupSnapshotResponse:
        return self._rpc(
            "DeleteVolumeGroupSnapshot", self.group_controller.DeleteVolumeGroupSnapshot, request
        )

    # --- node service ------------------------------------------------------------------------

    def node_get_capabilities(self) -> csi_pb2.NodeGetCapabilitiesResponse:
        return self._rpc(
            "NodeGetCapabilities",
            self.node.NodeGetCapabilities,
            csi_pb2.NodeGetCapabilitiesRequest(),
        )

    def node_get_info(self) -> csi_pb2.NodeGetInfoResponse:
        return self._rpc("NodeGetInfo", self.node.NodeGetInfo, csi_pb2.NodeGetInfoRequest())

    def node_stage_volume(
        self, request: csi_pb2.NodeStageVolumeRequest
    ) -> csi_pb2.NodeStageVolumeResponse:
        response = self._rpc("NodeStageVolume", self.node.NodeStageVolume, request)
        if request.volume_id and request.staging_target_path:
            self._register(
                Record(
                    "node_staging", volume_id=request.volume_id, path=request.staging_target_path
                )
            )
        return response

    def node_unstage_volume(
        self, request: csi_pb2.NodeUnstageVolumeRequest
    ) -> csi_pb2.NodeUnstageVolumeResponse:
        response = self._rpc("NodeUnstageVolume", self.node.NodeUnstageVolume, request)
        self._unregister(
            Record("node_staging", volume_id=request.volume_id, path=request.staging_target_path)
        )
        return response

    def node_publish_volume(
        self, request: csi_pb2.NodePublishVolumeRequest
    ) -> csi_pb2.NodePublishVolumeResponse:
        response = self._rpc("NodePublishVolume", self.node.NodePublishVolume, request)
        if request.target_path:
            with self._lock:
                self.published_targets.add(request.target_path)
        if request.volume_id and request.target_path:
            self._register(
                Record("node_publication", volume_id=request.volume_id, path=request.target_path)
            )
        return response

    def node_unpublish_volume(
        self, request: csi_pb2.NodeUnpublishVolumeRequest
    ) -> csi_pb2.NodeUnpublishVolumeResponse:
        response = self._rpc("NodeUnpublishVolume", self.node.NodeUnpublishVolume, request)
        self._unregister(
            Record("node_publication", volume_id=request.volume_id, path=request.target_path)
        )
        return response

    def node_get_volume_stats(
        self, request: csi_pb2.NodeGetVolumeStatsRequest
    ) -> csi_pb2.NodeGetVolumeStatsResponse:
        return self._rpc("NodeGetVolumeStats", self.node.NodeGetVolumeStats, request)

    def node_expand_volume(
        self, request: csi_pb2.NodeExpandVolumeRequest
    ) -> csi_pb2.NodeExpandVolumeResponse:
        return self._rpc("NodeExpandVolume", self.node.NodeExpandVolume, request)

    # --- must_* helpers: the call succeeds and the response carries what the spec requires ----

    def must_create_volume(
        self, request: csi_pb2.CreateVolumeRequest
    ) -> csi_pb2.CreateVolumeResponse:
        response = self.create_volume(request)
        assert response.HasField("volume"), (
            f"CreateVolume({request.name!r}) returned no volume in its response"
        )
        assert response.volume.volume_id, (
            f"CreateVolume({request.name!r}) returned a volume without a volume_id"
        )
        return response

    def must_controller_publish_volume(
        self, request: csi_pb2.ControllerPublishVolumeRequest
    ) -> csi_pb2.ControllerPublishVolumeResponse:
        return self.controller_publish_volume(request)

    def must_create_snapshot(
        self, request: csi_pb2.CreateSnapshotRequest
    ) -> csi_pb2.CreateSnapshotResponse:
        response = self.create_snapshot(request)
        assert response.HasField("snapshot"), (
            f"CreateSnapshot({request.name!r}) returned no snapshot in its response"
        )
        verify_snapshot_info(response.snapshot, f"CreateSnapshot({request.name!r})")
        return response

    # --- cleanup -----------------------------------------------------------------------------

    def cleanup(self) -> list[Leak]:
        """Undo every record, newest first; return the ones that could not be undone.

        The same RPCs and the same tolerance as csi-test's Resources.Cleanup: node
        unpublish and unstage may answer NOT_FOUND (nothing to undo); ControllerUnpublish,
        DeleteVolume and DeleteSnapshot must succeed, as the spec makes them idempotent.
        """
        with self._lock:
            pending = list(reversed(self._records))
            self._records.clear()
        leaks: list[Leak] = []
        for record in pending:
            steps = [self._undo_for(record)]
            if record.kind == "volume":
                steps = [*self._case_path_undos(record.volume_id), *steps]
            for action, undo, not_found_is_done in steps:
                leak = self._attempt(record, action, undo, not_found_is_done)
                if leak is not None:
                    leaks.append(leak)
        return leaks

    def _attempt(
        self, record: Record, action: str, undo: Callable[[], object], not_found_is_done: bool
    ) -> Leak | None:
        try:
            undo()
        except RpcFailure as failure:
            if not_found_is_done and failure.code is grpc.StatusCode.NOT_FOUND:
                return None  # already gone: exactly what cleanup wanted
            return cleanup_leak(
                self.case,
                record.kind,
                record.describe(),
                action,
                f"{failure.code.name}: {failure.details}",
            )
        except Exception as exc:  # noqa: BLE001 - a leak report must survive any failure
            return cleanup_leak(self.case, record.kind, record.describe(), action, repr(exc))
        return None

    def _case_path_undos(self, volume_id: str) -> list[tuple[str, Callable[[], object], bool]]:
        """csi-test's cleanupVolume node steps: unpublish at the case's target and unstage
        at its staging path (when the node stages) before the volume is deleted."""
        undos: list[tuple[str, Callable[[], object], bool]] = []
        if self.case_target:
            request = csi_pb2.NodeUnpublishVolumeRequest(
                volume_id=volume_id, target_path=self.case_target
            )
            undos.append(("NodeUnpublishVolume", lambda: self.node_unpublish_volume(request), True))
        try:
            stages = self.node_stages()
        except Exception:  # noqa: BLE001 - no answer: the recorded stagings are undone anyway
            stages = False
        if self.case_staging and stages:
            unstage = csi_pb2.NodeUnstageVolumeRequest(
                volume_id=volume_id, staging_target_path=self.case_staging
            )
            undos.append(("NodeUnstageVolume", lambda: self.node_unstage_volume(unstage), True))
        return undos

    def _undo_for(self, record: Record) -> tuple[str, Callable[[], object], bool]:
        """The RPC that undoes `record`, through the same proxies the cases call, and whether
        NOT_FOUND counts as undone (for node unpublish and unstage only, as csi-test)."""
        if record.kind == "node_publication":
            return (
                "NodeUnpublishVolume",
                lambda: self.node_unpublish_volume(
                    csi_pb2.NodeUnpublishVolumeRequest(
                        volume_id=record.volume_id, target_path=record.path
                    )
                ),
                True,
            )
        if record.kind == "node_staging":
            return (
                "NodeUnstageVolume",
                lambda: self.node_unstage_volume(
                    csi_pb2.NodeUnstageVolumeRequest(
                        volume_id=record.volume_id, staging_target_path=record.path
                    )
                ),
                True,
            )
        if record.kind == "controller_publication":
            return (
                "ControllerUnpublishVolume",
                lambda: self.controller_unpublish_volume(
                    csi_pb2.ControllerUnpublishVolumeRequest(
                        volume_id=record.volume_id,
                        node_id=record.node_id,
                        secrets=self.secrets.get("ControllerUnpublishVolumeSecret"),
                    )
                ),
                False,
            )
        if record.kind == "snapshot":
            return (
                "DeleteSnapshot",
                lambda: self.delete_snapshot(
                    csi_pb2.DeleteSnapshotRequest(
                        snapshot_id=record.snapshot_id,
                        secrets=self.secrets.get("DeleteSnapshotSecret"),
                    )
                ),
                False,
            )
        return (
            "DeleteVolume",
            lambda: self.delete_volume(
                csi_pb2.DeleteVolumeRequest(
                    volume_id=record.volume_id, secrets=self.secrets.get("DeleteVolumeSecret")
                )
            ),
            False,
        )


def verify_volume_info(volume: csi_pb2.Volume, what: str = "volume") -> None:
    assert volume.ByteSize() > 0 or volume.volume_id, f"{what}: volume is missing"
    assert volume.volume_id, f"{what}: volume has no volume_id"


def verify_snapshot_info(snapshot: csi_pb2.Snapshot, what: str = "snapshot") -> None:
    """csi-test's verifySnapshotInfo: id, source volume id and creation time are required."""
    assert snapshot.snapshot_id, f"{what}: snapshot has no snapshot_id"
    assert snapshot.source_volume_id, f"{what}: snapshot has no source_volume_id"
    assert snapshot.HasField("creation_time") and (
        snapshot.creation_time.seconds or snapshot.creation_time.nanos
    ), f"{what}: snapshot has no creation_time"
