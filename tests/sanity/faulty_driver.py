"""A small in-memory CSI driver with fault switches, to prove the sanity suite catches bugs.

Correct by default: it implements the identity, controller, group controller and node
services to the CSI v1.12 spec closely enough to pass every sanity case. Each name in FAULTS
switches on one distinct spec violation. The node service works on real directories (the
target path is a directory it creates and removes; nothing is mounted), so it runs anywhere.

Used only by the project's own tests. Runs in-process (`FaultyDriver(...).serve(endpoint)`)
or as a process (`python -m tests.sanity.faulty_driver --endpoint unix:///tmp/x.sock`), the
latter also able to crash on purpose after a number of RPCs.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import grpc

from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc

GIB = 1024**3
Ctx = grpc.ServicerContext
CRpc = csi_pb2.ControllerServiceCapability.RPC
NRpc = csi_pb2.NodeServiceCapability.RPC
Mode = csi_pb2.VolumeCapability.AccessMode

# Each fault is one distinct CSI spec violation; the value says what the driver then does.
FAULTS: dict[str, str] = {
    "probe_fails": "Probe answers INTERNAL",
    "plugin_name_invalid": "GetPluginInfo returns a name that breaks the naming rule",
    "controller_capability_unknown": "ControllerGetCapabilities lists the UNKNOWN capability",
    "create_volume_missing_name_internal": "CreateVolume without name answers INTERNAL",
    "create_volume_same_name_new_id": "a repeated CreateVolume makes a second volume",
    "create_volume_ignores_capacity_conflict": "same name, other capacity is accepted",
    "create_from_missing_snapshot_ok": "CreateVolume from an unknown snapshot succeeds",
    "delete_volume_not_found_for_unknown": "DeleteVolume of an unknown id answers NOT_FOUND",
    "delete_volume_fails": "DeleteVolume of an existing volume answers INTERNAL",
    "list_volumes_advertised_unimplemented": "LIST_VOLUMES advertised, ListVolumes unimplemented",
    "list_volumes_accepts_invalid_token": "ListVolumes accepts a made-up starting_token",
    "list_volumes_omits_new_volumes": "ListVolumes misses the newest volume",
    "validate_unknown_volume_ok": "ValidateVolumeCapabilities confirms an unknown volume",
    "controller_publish_unknown_node_ok": "ControllerPublishVolume accepts an unknown node",
    "controller_publish_readonly_conflict_ok": "an incompatible re-publish is accepted",
    "expand_returns_old_capacity": "ControllerExpandVolume reports the old capacity",
    "modify_accepts_unknown_parameters": "ControllerModifyVolume accepts unknown parameters",
    "snapshot_same_name_other_source_ok": "same snapshot name, other source volume accepted",
    "snapshot_without_creation_time": "snapshots carry no creation_time",
    "list_snapshots_ignores_snapshot_id": "ListSnapshots ignores the snapshot_id filter",
    "list_snapshots_ignores_max_entries": "ListSnapshots ignores max_entries",
    "delete_snapshot_not_found_for_unknown": "DeleteSnapshot of an unknown id answers NOT_FOUND",
    "get_snapshot_unknown_ok": "GetSnapshot of an unknown id returns an empty snapshot",
    "group_snapshot_get_unknown_ok": "GetVolumeGroupSnapshot of an unknown id succeeds",
    "node_info_empty_node_id": "NodeGetInfo returns an empty node_id",
    "node_stage_without_capability_ok": "NodeStageVolume without volume_capability succeeds",
    "node_publish_not_idempotent": "a repeated NodePublishVolume answers ALREADY_EXISTS",
    "node_unpublish_leaves_target": "NodeUnpublishVolume leaves the target path behind",
    "volume_stats_wrong_path_ok": "NodeGetVolumeStats answers for a path not published",
    "node_expand_unknown_volume_ok": "NodeExpandVolume of an unknown volume succeeds",
    # Violations only the strict profile catches (csi-sanity passes each of them).
    "plugin_info_without_vendor_version": "GetPluginInfo returns no vendor_version",
    "volume_expansion_without_expand_capability": (
        "VolumeExpansion advertised without an EXPAND_VOLUME capability"
    ),
    "errors_without_message": "error statuses carry no message",
    "published_nodes_without_publish": (
        "LIST_VOLUMES_PUBLISHED_NODES advertised without PUBLISH_UNPUBLISH_VOLUME"
    ),
    "create_volume_exceeds_limit": "CreateVolume makes volumes larger than limit_bytes",
    "validate_confirms_unknown_access_mode": (
        "ValidateVolumeCapabilities confirms the UNKNOWN access mode"
    ),
    "delete_volume_twice_not_found": "DeleteVolume of a volume it deleted answers NOT_FOUND",
    "expand_without_capacity_range_ok": "ControllerExpandVolume without capacity_range succeeds",
    "controller_unpublish_unattached_fails": (
        "ControllerUnpublishVolume of a volume not published to the node fails"
    ),
    "list_volumes_ignores_max_entries": "ListVolumes ignores max_entries",
    "list_volumes_pages_overlap": "ListVolumes' next_token repeats the last entry",
    "get_capacity_negative": "GetCapacity reports a negative available_capacity",
    "get_snapshot_missing_id_not_found": "GetSnapshot without snapshot_id answers NOT_FOUND",
    "get_snapshot_unknown_internal": "GetSnapshot of an unknown id answers INTERNAL",
    "delete_snapshot_twice_not_found": "DeleteSnapshot of a snapshot it deleted answers NOT_FOUND",
    "node_unpublish_twice_not_found": "a second NodeUnpublishVolume answers NOT_FOUND",
    "node_unstage_twice_not_found": "a second NodeUnstageVolume answers NOT_FOUND",
    "node_publish_ignores_readonly": "a read-only NodePublishVolume mounts read-write",
    "node_publish_readonly_conflict_ok": "NodePublishVolume flips readonly at a published target",
    "volume_stats_unknown_unit": "NodeGetVolumeStats reports usage in the UNKNOWN unit",
    "node_capability_without_rpc": "NodeGetCapabilities lists an entry without rpc",
}

MUTABLE_PARAMETER_KEYS = frozenset({"throughput"})


@dataclass
class Volume:
    volume_id: str
    name: str
    capacity: int
    parameters: dict[str, str]
    mutable: dict[str, str]
    source: csi_pb2.VolumeContentSource | None
    access_modes: tuple[int, ...]
    publications: dict[str, bool] = field(default_factory=dict)  # node -> readonly

    def to_proto(self) -> csi_pb2.Volume:
        volume = csi_pb2.Volume(
            volume_id=self.volume_id,
            capacity_bytes=self.capacity,
            volume_context={"dnsname": f"{self.volume_id}.fsx.example", "mountname": "faulty"},
        )
        if self.source is not None:
            volume.content_source.CopyFrom(self.source)
        return volume


@dataclass
class Snapshot:
    snapshot_id: str
    name: str
    source_volume_id: str
    size: int
    created: float
    group_id: str = ""

    def to_proto(self, with_time: bool) -> csi_pb2.Snapshot:
        snapshot = csi_pb2.Snapshot(
            snapshot_id=self.snapshot_id,
            source_volume_id=self.source_volume_id,
            size_bytes=self.size,
            ready_to_use=True,
            group_snapshot_id=self.group_id,
        )
        if with_time:
            snapshot.creation_time.FromNanoseconds(int(self.created * 1e9))
        return snapshot


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


class FaultyDriver(
    csi_pb2_grpc.IdentityServicer,
    csi_pb2_grpc.ControllerServicer,
    csi_pb2_grpc.GroupControllerServicer,
    csi_pb2_grpc.NodeServicer,
):
    def __init__(
        self,
        faults: frozenset[str] = frozenset(),
        node_id: str = "faulty-node-1",
        max_volumes_per_node: int = 0,
        crash_after_calls: int = 0,
    ) -> None:
        unknown = faults - FAULTS.keys()
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {sorted(FAULTS)}")
        self.faults = faults
        self.node_id = node_id
        self.max_volumes_per_node = max_volumes_per_node
        self.crash_after_calls = crash_after_calls
        self.calls = 0
        self._lock = threading.RLock()
        self.volumes: dict[str, Volume] = {}
        self.volume_by_name: dict[str, str] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.snapshot_by_name: dict[str, str] = {}
        self.groups: dict[str, tuple[str, list[str]]] = {}  # id -> (name, snapshot ids)
        self.staged: set[tuple[str, str]] = set()
        self.published: dict[str, tuple[str, bool]] = {}  # target -> (volume, readonly)
        # What it deleted, for the faults that treat a repeated delete as an unknown id.
        self.deleted_volumes: set[str] = set()
        self.deleted_snapshots: set[str] = set()
        # Read-only publishes are real read-only bind mounts (when root may mount) of a
        # per-volume directory here, so that the suite can observe read-only enforcement.
        self._data_root: Path | None = None
        self.mounts: set[str] = set()
        self._order = itertools.count()

    def _count(self) -> None:
        with self._lock:
            self.calls += 1
            if self.crash_after_calls and self.calls > self.crash_after_calls:
                # A crash, not a shutdown: no goodbye, the socket just stops answering.
                os._exit(17)

    def has(self, fault: str) -> bool:
        return fault in self.faults

    def _fail(self, context: Ctx, code: grpc.StatusCode, message: str) -> NoReturn:
        context.abort(code, "" if self.has("errors_without_message") else message)

    # --- identity ----------------------------------------------------------------------------

    def GetPluginInfo(
        self, request: csi_pb2.GetPluginInfoRequest, context: Ctx
    ) -> csi_pb2.GetPluginInfoResponse:
        self._count()
        name = "-faulty driver-" if self.has("plugin_name_invalid") else "faulty.csi.example"
        version = "" if self.has("plugin_info_without_vendor_version") else "0.1.0"
        return csi_pb2.GetPluginInfoResponse(name=name, vendor_version=version)

    def GetPluginCapabilities(
        self, request: csi_pb2.GetPluginCapabilitiesRequest, context: Ctx
    ) -> csi_pb2.GetPluginCapabilitiesResponse:
        self._count()
        service = csi_pb2.PluginCapability.Service
        return csi_pb2.GetPluginCapabilitiesResponse(
            capabilities=[
                csi_pb2.PluginCapability(service=service(type=service.CONTROLLER_SERVICE)),
                csi_pb2.PluginCapability(service=service(type=service.GROUP_CONTROLLER_SERVICE)),
                csi_pb2.PluginCapability(
                    volume_expansion=csi_pb2.PluginCapability.VolumeExpansion(
                        type=csi_pb2.PluginCapability.VolumeExpansion.ONLINE
                    )
                ),
            ]
        )

    def Probe(self, request: csi_pb2.ProbeRequest, context: Ctx) -> csi_pb2.ProbeResponse:
        self._count()
        if self.has("probe_fails"):
            self._fail(context, grpc.StatusCode.INTERNAL, "probe failed on purpose")
        response = csi_pb2.ProbeResponse()
        response.ready.value = True
        return response

    # --- controller --------------------------------------------------------------------------

    def ControllerGetCapabilities(
        self, request: csi_pb2.ControllerGetCapabilitiesRequest, context: Ctx
    ) -> csi_pb2.ControllerGetCapabilitiesResponse:
        self._count()
        types = [
            CRpc.CREATE_DELETE_VOLUME,
            CRpc.PUBLISH_UNPUBLISH_VOLUME,
            CRpc.LIST_VOLUMES,
            CRpc.GET_CAPACITY,
            CRpc.CREATE_DELETE_SNAPSHOT,
            CRpc.LIST_SNAPSHOTS,
            CRpc.GET_SNAPSHOT,
            CRpc.CLONE_VOLUME,
            CRpc.PUBLISH_READONLY,
            CRpc.EXPAND_VOLUME,
            CRpc.MODIFY_VOLUME,
        ]
        if self.has("controller_capability_unknown"):
            types.append(CRpc.UNKNOWN)
        if self.has("volume_expansion_without_expand_capability"):
            types.remove(CRpc.EXPAND_VOLUME)
        if self.has("published_nodes_without_publish"):
            types.remove(CRpc.PUBLISH_UNPUBLISH_VOLUME)
            types.append(CRpc.LIST_VOLUMES_PUBLISHED_NODES)
        return csi_pb2.ControllerGetCapabilitiesResponse(
            capabilities=[csi_pb2.ControllerServiceCapability(rpc=CRpc(type=t)) for t in types]
        )

    def _check_mutable(self, parameters: dict[str, str], context: Ctx) -> None:
        unknown = set(parameters) - MUTABLE_PARAMETER_KEYS
        if unknown and not self.has("modify_accepts_unknown_parameters"):
            self._fail(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"unknown mutable parameters {unknown}"
            )

    def CreateVolume(
        self, request: csi_pb2.CreateVolumeRequest, context: Ctx
    ) -> csi_pb2.CreateVolumeResponse:
        self._count()
        if not request.name:
            code = (
                grpc.StatusCode.INTERNAL
                if self.has("create_volume_missing_name_internal")
                else grpc.StatusCode.INVALID_ARGUMENT
            )
            self._fail(context, code, "name is required")
        if not request.volume_capabilities:
            self._fail(
                context, grpc.StatusCode.INVALID_ARGUMENT, "volume_capabilities are required"
            )
        required = request.capacity_range.required_bytes
        limit = request.capacity_range.limit_bytes
        capacity = required or limit or GIB
        if limit > required and self.has("create_volume_exceeds_limit"):
            capacity = limit + GIB
        elif limit and capacity > limit:
            self._fail(context, grpc.StatusCode.OUT_OF_RANGE, f"{capacity} exceeds limit {limit}")
        self._check_mutable(dict(request.mutable_parameters), context)
        source = None
        if request.HasField("volume_content_source"):
            source = request.volume_content_source
            kind = source.WhichOneof("type")
            with self._lock:
                missing_snapshot = (
                    kind == "snapshot" and source.snapshot.snapshot_id not in self.snapshots
                )
                if missing_snapshot and not self.has("create_from_missing_snapshot_ok"):
                    self._fail(context, grpc.StatusCode.NOT_FOUND, "source snapshot not found")
                if kind == "volume" and source.volume.volume_id not in self.volumes:
                    self._fail(context, grpc.StatusCode.NOT_FOUND, "source volume not found")
        with self._lock:
            existing_id = self.volume_by_name.get(request.name)
            if existing_id and not self.has("create_volume_same_name_new_id"):
                existing = self.volumes[existing_id]
                if existing.capacity != capacity and not self.has(
                    "create_volume_ignores_capacity_conflict"
                ):
                    self._fail(
                        context,
                        grpc.StatusCode.ALREADY_EXISTS,
                        f"volume {request.name} exists with capacity {existing.capacity}",
                    )
                return csi_pb2.CreateVolumeResponse(volume=existing.to_proto())
            volume = Volume(
                volume_id=_new_id("fs"),
                name=request.name,
                capacity=capacity,
                parameters=dict(request.parameters),
                mutable=dict(request.mutable_parameters),
                source=source,
                access_modes=tuple(c.access_mode.mode for c in request.volume_capabilities),
            )
            self.volumes[volume.volume_id] = volume
            self.volume_by_name[request.name] = volume.volume_id
            return csi_pb2.CreateVolumeResponse(volume=volume.to_proto())

    def DeleteVolume(
        self, request: csi_pb2.DeleteVolumeRequest, context: Ctx
    ) -> csi_pb2.DeleteVolumeResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        with self._lock:
            volume = self.volumes.get(request.volume_id)
            if volume is None:
                deleted_before = request.volume_id in self.deleted_volumes
                if self.has("delete_volume_not_found_for_unknown") or (
                    deleted_before and self.has("delete_volume_twice_not_found")
                ):
                    self._fail(context, grpc.StatusCode.NOT_FOUND, "no such volume")
                return csi_pb2.DeleteVolumeResponse()
            if self.has("delete_volume_fails"):
                self._fail(context, grpc.StatusCode.INTERNAL, "deletion failed on purpose")
            del self.volumes[volume.volume_id]
            self.deleted_volumes.add(volume.volume_id)
            if self.volume_by_name.get(volume.name) == volume.volume_id:
                del self.volume_by_name[volume.name]
        return csi_pb2.DeleteVolumeResponse()

    def ControllerPublishVolume(
        self, request: csi_pb2.ControllerPublishVolumeRequest, context: Ctx
    ) -> csi_pb2.ControllerPublishVolumeResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        if not request.node_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "node_id is required")
        if not request.HasField("volume_capability"):
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_capability is required")
        with self._lock:
            volume = self.volumes.get(request.volume_id)
            if volume is None:
                self._fail(context, grpc.StatusCode.NOT_FOUND, "no such volume")
            if request.node_id != self.node_id and not self.has(
                "controller_publish_unknown_node_ok"
            ):
                self._fail(context, grpc.StatusCode.NOT_FOUND, f"no such node {request.node_id}")
            previous = volume.publications.get(request.node_id)
            conflict = previous is not None and previous != request.readonly
            if conflict and not self.has("controller_publish_readonly_conflict_ok"):
                self._fail(
                    context,
                    grpc.StatusCode.ALREADY_EXISTS,
                    "already published with another readonly setting",
                )
            if previous is None and self.max_volumes_per_node:
                attached = sum(
                    1 for v in self.volumes.values() if request.node_id in v.publications
                )
                if attached >= self.max_volumes_per_node:
                    self._fail(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "node attach limit")
            volume.publications[request.node_id] = request.readonly
        return csi_pb2.ControllerPublishVolumeResponse(publish_context={"device": "/dev/faulty"})

    def ControllerUnpublishVolume(
        self, request: csi_pb2.ControllerUnpublishVolumeRequest, context: Ctx
    ) -> csi_pb2.ControllerUnpublishVolumeResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        with self._lock:
            volume = self.volumes.get(request.volume_id)
            if volume is None:
                self._fail(context, grpc.StatusCode.NOT_FOUND, "no such volume")
            if request.node_id:
                if request.node_id not in volume.publications and self.has(
                    "controller_unpublish_unattached_fails"
                ):
                    self._fail(
                        context, grpc.StatusCode.FAILED_PRECONDITION, "not published to that node"
                    )
                volume.publications.pop(request.node_id, None)
            else:
                volume.publications.clear()
        return csi_pb2.ControllerUnpublishVolumeResponse()

    def ValidateVolumeCapabilities(
        self, request: csi_pb2.ValidateVolumeCapabilitiesRequest, context: Ctx
    ) -> csi_pb2.ValidateVolumeCapabilitiesResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        if not request.volume_capabilities:
            self._fail(
                context, grpc.StatusCode.INVALID_ARGUMENT, "volume_capabilities are required"
            )
        with self._lock:
            if request.volume_id not in self.volumes and not self.has("validate_unknown_volume_ok"):
                self._fail(context, grpc.StatusCode.NOT_FOUND, "no such volume")
        response = csi_pb2.ValidateVolumeCapabilitiesResponse()
        unsupported = [c for c in request.volume_capabilities if c.access_mode.mode == Mode.UNKNOWN]
        if unsupported and not self.has("validate_confirms_unknown_access_mode"):
            response.message = "access mode UNKNOWN is not supported"
            return response
        response.confirmed.volume_capabilities.extend(request.volume_capabilities)
        return response

    def _page(
        self,
        items: list[str],
        token: str,
        max_entries: int,
        context: Ctx,
        accept_any: bool,
        overlap: bool = False,
    ) -> tuple[list[str], str]:
        start = 0
        if token:
            if token.isdigit() and int(token) <= len(items):
                start = int(token)
            elif not accept_any:
                self._fail(context, grpc.StatusCode.ABORTED, f"invalid starting_token {token!r}")
        end = len(items) if max_entries <= 0 else min(len(items), start + max_entries)
        next_start = end - 1 if overlap and end > start else end
        return items[start:end], (str(next_start) if end < len(items) else "")

    def ListVolumes(
        self, request: csi_pb2.ListVolumesRequest, context: Ctx
    ) -> csi_pb2.ListVolumesResponse:
        self._count()
        if self.has("list_volumes_advertised_unimplemented"):
            self._fail(context, grpc.StatusCode.UNIMPLEMENTED, "ListVolumes is not implemented")
        with self._lock:
            ids = list(self.volumes)
            if self.has("list_volumes_omits_new_volumes") and ids:
                ids = ids[:-1]
            max_entries = 0 if self.has("list_volumes_ignores_max_entries") else request.max_entries
            page, next_token = self._page(
                ids,
                request.starting_token,
                max_entries,
                context,
                self.has("list_volumes_accepts_invalid_token"),
                overlap=self.has("list_volumes_pages_overlap"),
            )
            return csi_pb2.ListVolumesResponse(
                entries=[
                    csi_pb2.ListVolumesResponse.Entry(volume=self.volumes[i].to_proto())
                    for i in page
                ],
                next_token=next_token,
            )

    def GetCapacity(
        self, request: csi_pb2.GetCapacityRequest, context: Ctx
    ) -> csi_pb2.GetCapacityResponse:
        self._count()
        available = -1 if self.has("get_capacity_negative") else 1024 * GIB
        return csi_pb2.GetCapacityResponse(available_capacity=available)

    def ControllerExpandVolume(
        self, request: csi_pb2.ControllerExpandVolumeRequest, context: Ctx
    ) -> csi_pb2.ControllerExpandVolumeResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        if not request.HasField("capacity_range") and not self.has(
            "expand_without_capacity_range_ok"
        ):
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "capacity_range is required")
        with self._lock:
            volume = self.volumes.get(request.volume_id)
            if volume is None:
                self._fail(context, grpc.StatusCode.NOT_FOUND, "no such volume")
            old = volume.capacity
            volume.capacity = max(volume.capacity, request.capacity_range.required_bytes)
            reported = old if self.has("expand_returns_old_capacity") else volume.capacity
        return csi_pb2.ControllerExpandVolumeResponse(
            capacity_bytes=reported, node_expansion_required=True
        )

    def ControllerModifyVolume(
        self, request: csi_pb2.ControllerModifyVolumeRequest, context: Ctx
    ) -> csi_pb2.ControllerModifyVolumeResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        with self._lock:
            volume = self.volumes.get(request.volume_id)
            if volume is None:
                self._fail(context, grpc.StatusCode.NOT_FOUND, "no such volume")
            self._check_mutable(dict(request.mutable_parameters), context)
            volume.mutable.update(request.mutable_parameters)
        return csi_pb2.ControllerModifyVolumeResponse()

    def ControllerGetVolume(
        self, request: csi_pb2.ControllerGetVolumeRequest, context: Ctx
    ) -> csi_pb2.ControllerGetVolumeResponse:
        self._count()  # GET_VOLUME is not advertised, so the spec allows UNIMPLEMENTED
        self._fail(context, grpc.StatusCode.UNIMPLEMENTED, "ControllerGetVolume is not implemented")

    # --- snapshots ---------------------------------------------------------------------------

    def _snapshot_proto(self, snapshot: Snapshot) -> csi_pb2.Snapshot:
        return snapshot.to_proto(with_time=not self.has("snapshot_without_creation_time"))

    def CreateSnapshot(
        self, request: csi_pb2.CreateSnapshotRequest, context: Ctx
    ) -> csi_pb2.CreateSnapshotResponse:
        self._count()
        if not request.name:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "name is required")
        if not request.source_volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "source_volume_id is required")
        with self._lock:
            existing_id = self.snapshot_by_name.get(request.name)
            if existing_id:
                existing = self.snapshots[existing_id]
                if existing.source_volume_id != request.source_volume_id and not self.has(
                    "snapshot_same_name_other_source_ok"
                ):
                    self._fail(
                        context,
                        grpc.StatusCode.ALREADY_EXISTS,
                        f"snapshot {request.name} exists for volume {existing.source_volume_id}",
                    )
                return csi_pb2.CreateSnapshotResponse(snapshot=self._snapshot_proto(existing))
            volume = self.volumes.get(request.source_volume_id)
            if volume is None:
                self._fail(context, grpc.StatusCode.NOT_FOUND, "source volume not found")
            snapshot = Snapshot(
                _new_id("backup"), request.name, volume.volume_id, volume.capacity, time.time()
            )
            self.snapshots[snapshot.snapshot_id] = snapshot
            self.snapshot_by_name[snapshot.name] = snapshot.snapshot_id
            return csi_pb2.CreateSnapshotResponse(snapshot=self._snapshot_proto(snapshot))

    def DeleteSnapshot(
        self, request: csi_pb2.DeleteSnapshotRequest, context: Ctx
    ) -> csi_pb2.DeleteSnapshotResponse:
        self._count()
        if not request.snapshot_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "snapshot_id is required")
        with self._lock:
            snapshot = self.snapshots.pop(request.snapshot_id, None)
            if snapshot is None:
                deleted_before = request.snapshot_id in self.deleted_snapshots
                if self.has("delete_snapshot_not_found_for_unknown") or (
                    deleted_before and self.has("delete_snapshot_twice_not_found")
                ):
                    self._fail(context, grpc.StatusCode.NOT_FOUND, "no such snapshot")
                return csi_pb2.DeleteSnapshotResponse()
            self.snapshot_by_name.pop(snapshot.name, None)
            self.deleted_snapshots.add(snapshot.snapshot_id)
        return csi_pb2.DeleteSnapshotResponse()

    def ListSnapshots(
        self, request: csi_pb2.ListSnapshotsRequest, context: Ctx
    ) -> csi_pb2.ListSnapshotsResponse:
        self._count()
        with self._lock:
            ids = list(self.snapshots)
            if request.snapshot_id and not self.has("list_snapshots_ignores_snapshot_id"):
                ids = [i for i in ids if i == request.snapshot_id]
            if request.source_volume_id:
                ids = [
                    i for i in ids if self.snapshots[i].source_volume_id == request.source_volume_id
                ]
            max_entries = (
                0 if self.has("list_snapshots_ignores_max_entries") else request.max_entries
            )
            page, next_token = self._page(ids, request.starting_token, max_entries, context, False)
            return csi_pb2.ListSnapshotsResponse(
                entries=[
                    csi_pb2.ListSnapshotsResponse.Entry(
                        snapshot=self._snapshot_proto(self.snapshots[i])
                    )
                    for i in page
                ],
                next_token=next_token,
            )

    def GetSnapshot(
        self, request: csi_pb2.GetSnapshotRequest, context: Ctx
    ) -> csi_pb2.GetSnapshotResponse:
        self._count()
        if not request.snapshot_id:
            # NOT_FOUND as the hostpath driver answers: csi-sanity accepts any error here.
            code = (
                grpc.StatusCode.NOT_FOUND
                if self.has("get_snapshot_missing_id_not_found")
                else grpc.StatusCode.INVALID_ARGUMENT
            )
            self._fail(context, code, "snapshot_id is required")
        with self._lock:
            snapshot = self.snapshots.get(request.snapshot_id)
            if snapshot is None:
                if self.has("get_snapshot_unknown_ok"):
                    return csi_pb2.GetSnapshotResponse()
                code = (
                    grpc.StatusCode.INTERNAL
                    if self.has("get_snapshot_unknown_internal")
                    else grpc.StatusCode.NOT_FOUND
                )
                self._fail(context, code, "no such snapshot")
            return csi_pb2.GetSnapshotResponse(snapshot=self._snapshot_proto(snapshot))

    # --- group controller --------------------------------------------------------------------

    def GroupControllerGetCapabilities(
        self, request: csi_pb2.GroupControllerGetCapabilitiesRequest, context: Ctx
    ) -> csi_pb2.GroupControllerGetCapabilitiesResponse:
        self._count()
        rpc = csi_pb2.GroupControllerServiceCapability.RPC
        return csi_pb2.GroupControllerGetCapabilitiesResponse(
            capabilities=[
                csi_pb2.GroupControllerServiceCapability(
                    rpc=rpc(type=rpc.CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT)
                )
            ]
        )

    def CreateVolumeGroupSnapshot(
        self, request: csi_pb2.CreateVolumeGroupSnapshotRequest, context: Ctx
    ) -> csi_pb2.CreateVolumeGroupSnapshotResponse:
        self._count()
        if not request.name:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "name is required")
        if not request.source_volume_ids:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "source_volume_ids are required")
        with self._lock:
            group_id = _new_id("group")
            members = []
            for volume_id in request.source_volume_ids:
                volume = self.volumes.get(volume_id)
                if volume is None:
                    self._fail(context, grpc.StatusCode.NOT_FOUND, f"no such volume {volume_id}")
                snapshot = Snapshot(
                    _new_id("backup"), "", volume_id, volume.capacity, time.time(), group_id
                )
                self.snapshots[snapshot.snapshot_id] = snapshot
                members.append(snapshot.snapshot_id)
            self.groups[group_id] = (request.name, members)
            response = csi_pb2.CreateVolumeGroupSnapshotResponse()
            response.group_snapshot.group_snapshot_id = group_id
            response.group_snapshot.ready_to_use = True
            response.group_snapshot.creation_time.GetCurrentTime()
            for member in members:
                response.group_snapshot.snapshots.append(
                    self._snapshot_proto(self.snapshots[member])
                )
            return response

    def GetVolumeGroupSnapshot(
        self, request: csi_pb2.GetVolumeGroupSnapshotRequest, context: Ctx
    ) -> csi_pb2.GetVolumeGroupSnapshotResponse:
        self._count()
        if not request.group_snapshot_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "group_snapshot_id is required")
        with self._lock:
            group = self.groups.get(request.group_snapshot_id)
            if group is None:
                if self.has("group_snapshot_get_unknown_ok"):
                    return csi_pb2.GetVolumeGroupSnapshotResponse()
                self._fail(context, grpc.StatusCode.NOT_FOUND, "no such group snapshot")
            response = csi_pb2.GetVolumeGroupSnapshotResponse()
            response.group_snapshot.group_snapshot_id = request.group_snapshot_id
            response.group_snapshot.ready_to_use = True
            for member in group[1]:
                response.group_snapshot.snapshots.append(
                    self._snapshot_proto(self.snapshots[member])
                )
            return response

    def DeleteVolumeGroupSnapshot(
        self, request: csi_pb2.DeleteVolumeGroupSnapshotRequest, context: Ctx
    ) -> csi_pb2.DeleteVolumeGroupSnapshotResponse:
        self._count()
        if not request.group_snapshot_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "group_snapshot_id is required")
        with self._lock:
            group = self.groups.pop(request.group_snapshot_id, None)
            for member in group[1] if group else []:
                self.snapshots.pop(member, None)
        return csi_pb2.DeleteVolumeGroupSnapshotResponse()

    # --- node ----------------------------------------------------------------------------------

    def NodeGetCapabilities(
        self, request: csi_pb2.NodeGetCapabilitiesRequest, context: Ctx
    ) -> csi_pb2.NodeGetCapabilitiesResponse:
        self._count()
        types = [
            NRpc.STAGE_UNSTAGE_VOLUME,
            NRpc.GET_VOLUME_STATS,
            NRpc.EXPAND_VOLUME,
            NRpc.SINGLE_NODE_MULTI_WRITER,
        ]
        if self.has("volume_expansion_without_expand_capability"):
            types.remove(NRpc.EXPAND_VOLUME)
        capabilities = [csi_pb2.NodeServiceCapability(rpc=NRpc(type=t)) for t in types]
        if self.has("node_capability_without_rpc"):
            capabilities.append(csi_pb2.NodeServiceCapability())
        return csi_pb2.NodeGetCapabilitiesResponse(capabilities=capabilities)

    def NodeGetInfo(
        self, request: csi_pb2.NodeGetInfoRequest, context: Ctx
    ) -> csi_pb2.NodeGetInfoResponse:
        self._count()
        node_id = "" if self.has("node_info_empty_node_id") else self.node_id
        return csi_pb2.NodeGetInfoResponse(
            node_id=node_id, max_volumes_per_node=self.max_volumes_per_node
        )

    def _known_volume(self, volume_id: str, context: Ctx) -> Volume:
        volume = self.volumes.get(volume_id)
        if volume is None:
            self._fail(context, grpc.StatusCode.NOT_FOUND, f"no such volume {volume_id}")
        return volume

    def NodeStageVolume(
        self, request: csi_pb2.NodeStageVolumeRequest, context: Ctx
    ) -> csi_pb2.NodeStageVolumeResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        if not request.staging_target_path:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "staging_target_path is required")
        if not request.HasField("volume_capability") and not self.has(
            "node_stage_without_capability_ok"
        ):
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_capability is required")
        with self._lock:
            self._known_volume(request.volume_id, context)
            self.staged.add((request.volume_id, request.staging_target_path))
        return csi_pb2.NodeStageVolumeResponse()

    def NodeUnstageVolume(
        self, request: csi_pb2.NodeUnstageVolumeRequest, context: Ctx
    ) -> csi_pb2.NodeUnstageVolumeResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        if not request.staging_target_path:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "staging_target_path is required")
        with self._lock:
            key = (request.volume_id, request.staging_target_path)
            if key not in self.staged and self.has("node_unstage_twice_not_found"):
                self._fail(context, grpc.StatusCode.NOT_FOUND, "not staged there")
            self.staged.discard(key)
        return csi_pb2.NodeUnstageVolumeResponse()

    def NodePublishVolume(
        self, request: csi_pb2.NodePublishVolumeRequest, context: Ctx
    ) -> csi_pb2.NodePublishVolumeResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        if not request.target_path:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "target_path is required")
        if not request.HasField("volume_capability"):
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_capability is required")
        with self._lock:
            self._known_volume(request.volume_id, context)
            if (request.volume_id, request.staging_target_path) not in self.staged:
                self._fail(
                    context,
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"volume {request.volume_id} is not staged at {request.staging_target_path}",
                )
            current = self.published.get(request.target_path)
            if current is not None:
                flips_readonly = current[1] != request.readonly and not self.has(
                    "node_publish_readonly_conflict_ok"
                )
                if current[0] != request.volume_id or flips_readonly:
                    self._fail(
                        context, grpc.StatusCode.ALREADY_EXISTS, "target holds another publish"
                    )
                if self.has("node_publish_not_idempotent"):
                    self._fail(context, grpc.StatusCode.ALREADY_EXISTS, "already published")
                return csi_pb2.NodePublishVolumeResponse()
            mode = request.volume_capability.access_mode.mode
            if mode == Mode.SINGLE_NODE_SINGLE_WRITER and any(
                vol == request.volume_id for vol, _ in self.published.values()
            ):
                self._fail(
                    context,
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "a SINGLE_NODE_SINGLE_WRITER volume is already published elsewhere",
                )
            target = Path(request.target_path)
            if not target.parent.is_dir():
                self._fail(
                    context, grpc.StatusCode.FAILED_PRECONDITION, f"{target.parent} is missing"
                )
            target.mkdir(exist_ok=True)
            if request.readonly:
                self._mount_read_only(request.volume_id, target)
            self.published[request.target_path] = (request.volume_id, request.readonly)
        return csi_pb2.NodePublishVolumeResponse()

    def _mount_read_only(self, volume_id: str, target: Path) -> None:
        """Bind-mount the volume's directory read-only at `target`, where mounting is allowed
        (root); elsewhere the target stays a plain directory and read-only goes unobserved."""
        if os.geteuid() != 0:
            return
        if self._data_root is None:
            self._data_root = Path(tempfile.mkdtemp(prefix="faulty-csi-data-"))
        source = self._data_root / volume_id
        source.mkdir(exist_ok=True)
        options = "rw" if self.has("node_publish_ignores_readonly") else "ro"
        subprocess.run(
            ["mount", "--bind", "-o", options, str(source), str(target)],
            check=True,
            capture_output=True,
        )
        self.mounts.add(str(target))

    def _unmount(self, target: str) -> None:
        if target in self.mounts:
            subprocess.run(["umount", target], check=True, capture_output=True)
            self.mounts.discard(target)

    def release_mounts(self) -> None:
        """Unmount what is still mounted and remove the data directories (at shutdown)."""
        with self._lock:
            for target in list(self.mounts):
                with contextlib.suppress(subprocess.CalledProcessError):
                    self._unmount(target)
            if self._data_root is not None and not self.mounts:
                shutil.rmtree(self._data_root, ignore_errors=True)
                self._data_root = None

    def NodeUnpublishVolume(
        self, request: csi_pb2.NodeUnpublishVolumeRequest, context: Ctx
    ) -> csi_pb2.NodeUnpublishVolumeResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        if not request.target_path:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "target_path is required")
        with self._lock:
            if request.target_path not in self.published and self.has(
                "node_unpublish_twice_not_found"
            ):
                self._fail(context, grpc.StatusCode.NOT_FOUND, "not published there")
            self.published.pop(request.target_path, None)
            self._unmount(request.target_path)
            target = Path(request.target_path)
            if target.is_dir() and not self.has("node_unpublish_leaves_target"):
                target.rmdir()
        return csi_pb2.NodeUnpublishVolumeResponse()

    def NodeGetVolumeStats(
        self, request: csi_pb2.NodeGetVolumeStatsRequest, context: Ctx
    ) -> csi_pb2.NodeGetVolumeStatsResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        if not request.volume_path:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_path is required")
        with self._lock:
            volume = self._known_volume(request.volume_id, context)
            published = self.published.get(request.volume_path)
            if (published is None or published[0] != request.volume_id) and not self.has(
                "volume_stats_wrong_path_ok"
            ):
                self._fail(
                    context, grpc.StatusCode.NOT_FOUND, f"not published at {request.volume_path}"
                )
        unit = (
            csi_pb2.VolumeUsage.UNKNOWN
            if self.has("volume_stats_unknown_unit")
            else csi_pb2.VolumeUsage.BYTES
        )
        usage = csi_pb2.VolumeUsage(
            total=volume.capacity, used=0, available=volume.capacity, unit=unit
        )
        return csi_pb2.NodeGetVolumeStatsResponse(usage=[usage])

    def NodeExpandVolume(
        self, request: csi_pb2.NodeExpandVolumeRequest, context: Ctx
    ) -> csi_pb2.NodeExpandVolumeResponse:
        self._count()
        if not request.volume_id:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_id is required")
        if not request.volume_path:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, "volume_path is required")
        with self._lock:
            if request.volume_id not in self.volumes and not self.has(
                "node_expand_unknown_volume_ok"
            ):
                self._fail(context, grpc.StatusCode.NOT_FOUND, "no such volume")
            volume = self.volumes.get(request.volume_id)
            capacity = volume.capacity if volume else request.capacity_range.required_bytes
        return csi_pb2.NodeExpandVolumeResponse(capacity_bytes=capacity)

    # --- serving -------------------------------------------------------------------------------

    def add_to(self, server: grpc.Server) -> None:
        csi_pb2_grpc.add_IdentityServicer_to_server(self, server)
        csi_pb2_grpc.add_ControllerServicer_to_server(self, server)
        csi_pb2_grpc.add_GroupControllerServicer_to_server(self, server)
        csi_pb2_grpc.add_NodeServicer_to_server(self, server)

    @contextmanager
    def serve(self, endpoint: str) -> Iterator[grpc.Server]:
        """Serve on a unix:// endpoint until the block ends."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.add_to(server)
        server.add_insecure_port(endpoint)
        server.start()
        try:
            yield server
        finally:
            server.stop(grace=None).wait()
            self.release_mounts()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True, help="unix:///path/to.sock")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(FAULTS))
    parser.add_argument("--max-volumes-per-node", type=int, default=0)
    parser.add_argument("--crash-after-calls", type=int, default=0)
    args = parser.parse_args(argv)
    driver = FaultyDriver(
        frozenset(args.fault),
        max_volumes_per_node=args.max_volumes_per_node,
        crash_after_calls=args.crash_after_calls,
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    driver.add_to(server)
    server.add_insecure_port(args.endpoint)
    server.start()
    print(f"faulty driver serving on {args.endpoint}", flush=True)
    try:
        server.wait_for_termination()
    finally:
        driver.release_mounts()
    return 0


if __name__ == "__main__":
    sys.exit(main())
