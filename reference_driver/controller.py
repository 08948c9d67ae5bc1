"""The CSI Controller service: FSx for Lustre file systems as volumes.

Idempotency, in the order a CreateVolume checks it:
1. a second call for a name while one runs gets ABORTED (in-flight guard);
2. a file system tagged CSIVolumeName=<name> is the volume, found by listing (so it survives a
   driver restart); a different rounded size gives ALREADY_EXISTS;
3. otherwise CreateFileSystem with a ClientRequestToken derived from the name, so even a
   create whose answer was lost cannot make a second file system.
Waiting for AVAILABLE is bounded by --create-timeout and the RPC deadline; running out while
the file system is still CREATING gives DEADLINE_EXCEEDED, and the retry resumes the wait.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

import grpc

from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from fsx_csi_harness.fsx import (
    GIB,
    METADATA_USER_PROVISIONED,
    metadata_iops_change_problem,
    throughput_change_problem,
)
from reference_driver.capabilities import first_unsupported
from reference_driver.cloud.domain import FsxCloud, is_file_system_id
from reference_driver.cloud.errors import CloudError
from reference_driver.cloud.model import FileSystem, Lifecycle
from reference_driver.config import DriverConfig
from reference_driver.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    OutOfRange,
    Unimplemented,
    require,
)
from reference_driver.inflight import InFlight
from reference_driver.parameters import (
    CONTEXT_DNS_NAME,
    CONTEXT_MOUNT_NAME,
    Modification,
    key_name,
    merge_tags,
    parse_create_parameters,
    parse_mutable_parameters,
    round_capacity,
)
from reference_driver.waiting import Clock, Deadline

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 128
RPC = csi_pb2.ControllerServiceCapability.RPC


def _not_found(exc: CloudError) -> bool:
    return exc.code == grpc.StatusCode.NOT_FOUND


def _shows(fs: FileSystem, modification: Modification) -> bool:
    """Whether the file system reports every value `modification` asks for."""
    throughput = modification.per_unit_storage_throughput
    iops = modification.metadata_iops
    return (throughput is None or fs.per_unit_throughput == throughput) and (
        iops is None or (fs.metadata_iops == iops and fs.metadata_mode == METADATA_USER_PROVISIONED)
    )


def _volume(fs: FileSystem) -> csi_pb2.Volume:
    return csi_pb2.Volume(
        volume_id=fs.file_system_id,
        capacity_bytes=fs.capacity_gib * GIB,
        volume_context={CONTEXT_DNS_NAME: fs.dns_name, CONTEXT_MOUNT_NAME: fs.mount_name},
    )


class ControllerService(csi_pb2_grpc.ControllerServicer):
    def __init__(self, config: DriverConfig, cloud: FsxCloud, clock: Clock) -> None:
        self.config = config
        self.cloud = cloud
        self.clock = clock
        self.in_flight = InFlight()
        # Volume name -> file system id for volumes this process has seen: a retry then costs
        # one DescribeFileSystems by id instead of a listing. Lost on restart, by design.
        self._known: dict[str, str] = {}
        self._known_lock = threading.Lock()

    def _deadline(self, context: grpc.ServicerContext) -> Deadline:
        return Deadline(
            self.clock,
            limit_seconds=self.config.create_timeout,
            limit_name=f"--create-timeout {self.config.create_timeout:g}s",
            rpc_remaining=context.time_remaining(),
            cancelled=lambda: not context.is_active(),
        )

    def _find(self, name: str) -> FileSystem | None:
        with self._known_lock:
            known_id = self._known.get(name)
        if known_id is not None:
            try:
                fs = self.cloud.describe(known_id)
            except CloudError as exc:
                if not _not_found(exc):
                    raise
            else:
                if fs.lifecycle is not Lifecycle.DELETING:
                    return fs
            with self._known_lock:
                self._known.pop(name, None)
        return self.cloud.find_by_volume_name(name)

    def _remember(self, name: str, file_system_id: str) -> None:
        with self._known_lock:
            self._known[name] = file_system_id

    def _forget_id(self, file_system_id: str) -> None:
        with self._known_lock:
            for name in [n for n, i in self._known.items() if i == file_system_id]:
                del self._known[name]

    def CreateVolume(
        self, request: csi_pb2.CreateVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.CreateVolumeResponse:
        name = require(request.name, "name")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidArgument(
                f"name is {len(name)} characters long; CSI allows at most {MAX_NAME_LENGTH}"
            )
        if not request.volume_capabilities:
            raise InvalidArgument("volume_capabilities is required (at least one)")
        reason = first_unsupported(request.volume_capabilities)
        if reason is not None:
            raise InvalidArgument(f"volume_capabilities: {reason}")
        if request.HasField("volume_content_source"):
            raise InvalidArgument(
                "volume_content_source is not supported: FSx for Lustre volumes cannot be "
                "created from snapshots or other volumes by this driver"
            )
        capacity = request.capacity_range
        # Mutable parameters (CSI 1.12, MODIFY_VOLUME) set the same fields at creation and win
        # over the StorageClass's, as a VolumeAttributesClass overrides its StorageClass.
        parse_mutable_parameters(request.mutable_parameters)
        parameters = {**request.parameters, **request.mutable_parameters}
        options = parse_create_parameters(parameters, capacity.required_bytes, capacity.limit_bytes)
        options = replace(
            options, extra_tags=merge_tags(self.config.extra_tags, options.extra_tags)
        )
        with self.in_flight.hold(name, "CreateVolume"):
            fs = self._find(name)
            if fs is not None:
                self._check_compatible(name, fs, options.capacity_gib, request)
            else:
                fs = self.cloud.create_file_system(name, options)
                log.info(
                    "created file system",
                    extra={"fields": {"volume_name": name, "volume_id": fs.file_system_id}},
                )
            self._remember(name, fs.file_system_id)
            deadline = self._deadline(context)
            if fs.lifecycle is not Lifecycle.AVAILABLE:
                fs = self.cloud.wait_until_available(fs.file_system_id, deadline)
            self.cloud.ensure_data_repository_associations(
                fs.file_system_id, name, options.data_repository_associations, deadline
            )
            return csi_pb2.CreateVolumeResponse(volume=_volume(fs))

    def _check_compatible(
        self,
        name: str,
        fs: FileSystem,
        rounded_gib: int | None,
        request: csi_pb2.CreateVolumeRequest,
    ) -> None:
        range_given = request.capacity_range.required_bytes or request.capacity_range.limit_bytes
        if range_given and rounded_gib is not None and fs.capacity_gib != rounded_gib:
            raise AlreadyExists(
                f"volume {name!r} exists as file system {fs.file_system_id} with "
                f"{fs.capacity_gib} GiB, but this request rounds to {rounded_gib} GiB; use "
                "another name or the same capacity"
            )

    def DeleteVolume(
        self, request: csi_pb2.DeleteVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.DeleteVolumeResponse:
        volume_id = require(request.volume_id, "volume_id")
        if not is_file_system_id(volume_id):
            # Not an FSx id, so no such file system can exist: deleting it is done.
            return csi_pb2.DeleteVolumeResponse()
        with self.in_flight.hold(volume_id, "DeleteVolume"):
            try:
                fs = self.cloud.describe(volume_id)
                if fs.lifecycle is Lifecycle.DELETING:
                    return csi_pb2.DeleteVolumeResponse()
                if fs.lifecycle in (Lifecycle.CREATING, Lifecycle.UPDATING):
                    # FSx refuses to delete a file system in these states; wait them out.
                    self.cloud.wait_until_settled(volume_id, self._deadline(context))
                self.cloud.delete(volume_id)
            except CloudError as exc:
                if not _not_found(exc):
                    raise
            self._forget_id(volume_id)
            return csi_pb2.DeleteVolumeResponse()

    def ValidateVolumeCapabilities(
        self, request: csi_pb2.ValidateVolumeCapabilitiesRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ValidateVolumeCapabilitiesResponse:
        volume_id = require(request.volume_id, "volume_id")
        if not request.volume_capabilities:
            raise InvalidArgument("volume_capabilities is required (at least one)")
        self._describe_volume(volume_id)
        reason = first_unsupported(request.volume_capabilities)
        if reason is None and request.parameters:
            try:
                parse_create_parameters(request.parameters)
            except InvalidArgument as exc:
                reason = exc.message
        if reason is not None:
            return csi_pb2.ValidateVolumeCapabilitiesResponse(message=reason)
        return csi_pb2.ValidateVolumeCapabilitiesResponse(
            confirmed=csi_pb2.ValidateVolumeCapabilitiesResponse.Confirmed(
                volume_context=request.volume_context,
                volume_capabilities=request.volume_capabilities,
                parameters=request.parameters,
                mutable_parameters=request.mutable_parameters,
            )
        )

    def _describe_volume(self, volume_id: str) -> FileSystem:
        if not is_file_system_id(volume_id):
            raise NotFound(f"volume {volume_id!r} does not exist (not an FSx file system id)")
        try:
            fs = self.cloud.describe(volume_id)
        except CloudError as exc:
            if _not_found(exc):
                raise NotFound(f"volume {volume_id} does not exist: {exc.message}") from exc
            raise
        if fs.lifecycle is Lifecycle.DELETING:
            raise NotFound(f"volume {volume_id} is being deleted")
        return fs

    def ControllerGetCapabilities(
        self, request: csi_pb2.ControllerGetCapabilitiesRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ControllerGetCapabilitiesResponse:
        return csi_pb2.ControllerGetCapabilitiesResponse(
            capabilities=[
                csi_pb2.ControllerServiceCapability(rpc=RPC(type=kind))
                for kind in (
                    RPC.CREATE_DELETE_VOLUME,
                    RPC.EXPAND_VOLUME,
                    RPC.SINGLE_NODE_MULTI_WRITER,
                    RPC.MODIFY_VOLUME,
                )
            ]
        )

    def ControllerExpandVolume(
        self, request: csi_pb2.ControllerExpandVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ControllerExpandVolumeResponse:
        volume_id = require(request.volume_id, "volume_id")
        if not request.HasField("capacity_range"):
            raise InvalidArgument("capacity_range is required")
        if request.HasField("volume_capability"):
            reason = first_unsupported([request.volume_capability])
            if reason is not None:
                raise InvalidArgument(f"volume_capability: {reason}")
        with self.in_flight.hold(volume_id, "ControllerExpandVolume"):
            fs = self._describe_volume(volume_id)
            if not fs.storage_type.has_storage_capacity:
                raise InvalidArgument(
                    f"volume {volume_id} is {fs.storage_type}: its storage is elastic and has "
                    "no capacity to expand"
                )
            capacity = request.capacity_range
            try:
                target = round_capacity(
                    capacity.required_bytes, capacity.limit_bytes, fs.capacity_rule
                )
            except OutOfRange as exc:
                raise OutOfRange(f"volume {volume_id}: {exc.message}") from exc
            if target > fs.capacity_gib:
                self.cloud.resize(fs, target)
                fs = self.cloud.wait_for_update(volume_id, target, self._deadline(context))
            return csi_pb2.ControllerExpandVolumeResponse(
                capacity_bytes=max(fs.capacity_gib, target) * GIB,
                node_expansion_required=False,
            )

    def ControllerPublishVolume(
        self, request: csi_pb2.ControllerPublishVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ControllerPublishVolumeResponse:
        raise Unimplemented(
            "ControllerPublishVolume is not implemented: "
            "FSx for Lustre needs no attach step (CSIDriver attachRequired: false)"
        )

    def ControllerUnpublishVolume(
        self, request: csi_pb2.ControllerUnpublishVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ControllerUnpublishVolumeResponse:
        raise Unimplemented(
            "ControllerUnpublishVolume is not implemented: "
            "FSx for Lustre needs no attach step (CSIDriver attachRequired: false)"
        )

    def ListVolumes(
        self, request: csi_pb2.ListVolumesRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ListVolumesResponse:
        raise Unimplemented(
            "ListVolumes is not implemented: the LIST_VOLUMES capability is not offered"
        )

    def GetCapacity(
        self, request: csi_pb2.GetCapacityRequest, context: grpc.ServicerContext
    ) -> csi_pb2.GetCapacityResponse:
        raise Unimplemented(
            "GetCapacity is not implemented: the GET_CAPACITY capability is not offered"
        )

    def CreateSnapshot(
        self, request: csi_pb2.CreateSnapshotRequest, context: grpc.ServicerContext
    ) -> csi_pb2.CreateSnapshotResponse:
        raise Unimplemented("CreateSnapshot is not implemented: snapshots are not supported")

    def DeleteSnapshot(
        self, request: csi_pb2.DeleteSnapshotRequest, context: grpc.ServicerContext
    ) -> csi_pb2.DeleteSnapshotResponse:
        raise Unimplemented("DeleteSnapshot is not implemented: snapshots are not supported")

    def ListSnapshots(
        self, request: csi_pb2.ListSnapshotsRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ListSnapshotsResponse:
        raise Unimplemented("ListSnapshots is not implemented: snapshots are not supported")

    def GetSnapshot(
        self, request: csi_pb2.GetSnapshotRequest, context: grpc.ServicerContext
    ) -> csi_pb2.GetSnapshotResponse:
        raise Unimplemented("GetSnapshot is not implemented: snapshots are not supported")

    def ControllerGetVolume(
        self, request: csi_pb2.ControllerGetVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ControllerGetVolumeResponse:
        raise Unimplemented(
            "ControllerGetVolume is not implemented: the GET_VOLUME capability is not offered"
        )

    def ControllerModifyVolume(
        self, request: csi_pb2.ControllerModifyVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ControllerModifyVolumeResponse:
        """Change what FSx changes online (MUTABLE_KEYS) and wait until the file system shows
        it. Idempotent: values the file system already has cost no UpdateFileSystem."""
        volume_id = require(request.volume_id, "volume_id")
        modification = parse_mutable_parameters(request.mutable_parameters)
        with self.in_flight.hold(volume_id, "ControllerModifyVolume"):
            fs = self._describe_volume(volume_id)
            changes = self._lustre_changes(fs, modification)
            if changes:
                self.cloud.modify(fs, changes)
                self.cloud.wait_for_modification(
                    volume_id,
                    lambda now: _shows(now, modification),
                    ", ".join(f"{k}={v}" for k, v in request.mutable_parameters.items()),
                    self._deadline(context),
                )
            log.info(
                "modified volume",
                extra={"fields": {"volume_id": volume_id, "changes": dict(changes)}},
            )
            return csi_pb2.ControllerModifyVolumeResponse()

    def _lustre_changes(self, fs: FileSystem, modification: Modification) -> dict[str, Any]:
        """The UpdateFileSystem LustreConfiguration that takes `fs` to `modification`; {} when
        it is there already. InvalidArgument, naming the key, for what FSx cannot change."""
        changes: dict[str, Any] = {}
        throughput = modification.per_unit_storage_throughput
        if throughput is not None and throughput != fs.per_unit_throughput:
            problem = throughput_change_problem(
                fs.settings, throughput, fs.capacity_gib if fs.capacity_gib else None
            )
            if problem is not None:
                raise InvalidArgument(
                    f"volume {fs.file_system_id}: mutable parameter " + problem.render(key_name)
                )
            changes["PerUnitStorageThroughput"] = throughput
        iops = modification.metadata_iops
        if iops is not None and not (
            iops == fs.metadata_iops and fs.metadata_mode == METADATA_USER_PROVISIONED
        ):
            problem = metadata_iops_change_problem(fs.settings, iops, fs.metadata_iops)
            if problem is not None:
                raise InvalidArgument(
                    f"volume {fs.file_system_id}: mutable parameter " + problem.render(key_name)
                )
            changes["MetadataConfiguration"] = {"Mode": METADATA_USER_PROVISIONED, "Iops": iops}
        return changes
