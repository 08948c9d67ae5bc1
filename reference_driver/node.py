"""The CSI Node service: mount FSx for Lustre file systems where kubelet asks.

There is no staging: a Lustre client mounts the file system once per target path, as the
upstream driver does. Every target is checked against /proc/self/mountinfo (through the
mounter) before anything is mounted or unmounted, except where the kernel itself answers: a
path that does not exist has nothing mounted at it, and a target that rmdir(2) removes had
nothing left mounted at it (rmdir of a mount point is EBUSY). A read of the mount table costs
about 1.5 ms on a node with 300 mounts, a third of what publish + unpublish cost without it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import grpc

from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from fsx_csi_harness.fsx import FILE_SYSTEM_ID
from reference_driver.capabilities import READ_ONLY_ACCESS_MODES, unsupported_reason
from reference_driver.config import DriverConfig
from reference_driver.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unimplemented,
    require,
)
from reference_driver.inflight import InFlight
from reference_driver.mounter.base import LustreSource, Mounter, MountError
from reference_driver.parameters import CONTEXT_DNS_NAME, CONTEXT_MOUNT_NAME

log = logging.getLogger(__name__)

NodeRPC = csi_pb2.NodeServiceCapability.RPC
AccessMode = csi_pb2.VolumeCapability.AccessMode
# Modes that allow one target path on the node (CSI: a second publish is FAILED_PRECONDITION).
SINGLE_WRITER_ACCESS_MODES = frozenset({AccessMode.SINGLE_NODE_SINGLE_WRITER})
# A stack of mounts at one target is unusual; unmount at most this many layers.
MAX_UNMOUNT_LAYERS = 8


def checked_path(value: str, field: str) -> Path:
    """A node path from the CO: required, absolute, and without `..` components."""
    if not value:
        raise InvalidArgument(f"{field} is required")
    if not value.startswith("/") or "\0" in value:
        raise InvalidArgument(f"{field} {value!r} must be an absolute path")
    if ".." in value.split("/"):
        raise InvalidArgument(f"{field} {value!r} must not contain '..' components")
    return Path(value)


def _exists(path: Path) -> bool:
    """Whether anything is at `path` itself (a dangling symlink counts), as lstat(2) says."""
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    return True


def _removed_after_unmount(target: Path) -> bool:
    """Right after an unmount: remove the target directory if nothing is mounted on it any more.

    rmdir(2) of a mount point of this mount namespace is EBUSY, so a removal proves that the
    last layer went, without reading the mount table again. Any failure (another layer, a
    target that is no directory, a directory that is not empty) leaves the answer to the
    mount table, as before.
    """
    try:
        target.rmdir()
    except OSError:
        return False
    return True


class NodeService(csi_pb2_grpc.NodeServicer):
    def __init__(self, config: DriverConfig, mounter: Mounter) -> None:
        self.config = config
        self.mounter = mounter
        self.in_flight = InFlight()

    def NodePublishVolume(
        self, request: csi_pb2.NodePublishVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodePublishVolumeResponse:
        volume_id = require(request.volume_id, "volume_id")
        target = checked_path(request.target_path, "target_path")
        if not request.HasField("volume_capability"):
            raise InvalidArgument("volume_capability is required")
        reason = unsupported_reason(request.volume_capability)
        if reason is not None:
            raise InvalidArgument(f"volume_capability: {reason}")
        context_values = request.volume_context
        dns_name = context_values.get(CONTEXT_DNS_NAME, "")
        mount_name = context_values.get(CONTEXT_MOUNT_NAME, "")
        if not dns_name:
            raise InvalidArgument(
                f"volume_context needs {CONTEXT_DNS_NAME} (CreateVolume returns it with "
                f"{CONTEXT_MOUNT_NAME}; a static PV sets them in volumeAttributes)"
            )
        source = LustreSource.from_context(dns_name, mount_name)
        # Upstream takes any volumeHandle for a static volume (it mounts what the context
        # names); only a handle that is itself another file system's id is a contradiction.
        if (
            FILE_SYSTEM_ID.matches(volume_id)
            and source.file_system_id is not None
            and source.file_system_id != volume_id
        ):
            raise InvalidArgument(
                f"volume_context {CONTEXT_DNS_NAME}={dns_name} belongs to "
                f"{source.file_system_id}, not to volume {volume_id}"
            )
        capability = request.volume_capability
        read_only = request.readonly or capability.access_mode.mode in READ_ONLY_ACCESS_MODES
        flags = list(capability.mount.mount_flags)
        if read_only and "ro" not in flags:
            flags.append("ro")

        with self.in_flight.hold(str(target), "NodePublishVolume"):
            # A target kubelet has not created yet (the usual case) has nothing mounted at it.
            existing = self.mounter.mounted_at(target) if _exists(target) else None
            if existing is not None:
                if not existing.serves(source):
                    raise AlreadyExists(
                        f"target_path {target} already has {existing.description} mounted, not "
                        f"{source}; unpublish it first"
                    )
                if existing.read_only != read_only:
                    raise AlreadyExists(
                        f"volume {volume_id} is already published at {target} "
                        f"{'read-only' if existing.read_only else 'read-write'}; this request "
                        f"asks for {'read-only' if read_only else 'read-write'}"
                    )
                return csi_pb2.NodePublishVolumeResponse()
            if capability.access_mode.mode in SINGLE_WRITER_ACCESS_MODES:
                elsewhere = [t for t in self.mounter.targets_of(source) if t != target]
                if elsewhere:
                    raise FailedPrecondition(
                        f"volume {volume_id} has access mode "
                        f"{AccessMode.Mode.Name(capability.access_mode.mode)} and is already "
                        f"published at {elsewhere[0]}; unpublish it there first"
                    )
            created = self._make_target(target)
            try:
                self.mounter.mount(source, target, flags)
            except BaseException:
                # Leave nothing behind: the directories this call created go again.
                for directory in reversed(created):
                    try:
                        directory.rmdir()
                    except OSError as cleanup_error:
                        log.warning(
                            "could not remove a directory created for a failed mount",
                            extra={"fields": {"path": str(directory), "error": str(cleanup_error)}},
                        )
                raise
        return csi_pb2.NodePublishVolumeResponse()

    def _make_target(self, target: Path) -> list[Path]:
        """Create `target` and missing parents; return what was created, outermost first."""
        if target.exists():
            if not target.is_dir():
                raise FailedPrecondition(f"target_path {target} exists and is not a directory")
            return []
        missing: list[Path] = []
        path = target
        while not path.exists():
            missing.append(path)
            path = path.parent
        missing.reverse()
        for directory in missing:
            try:
                directory.mkdir(mode=0o750)
            except FileExistsError:
                continue
            except OSError as exc:
                raise FailedPrecondition(f"cannot create target_path {target}: {exc}") from exc
        return missing

    def NodeUnpublishVolume(
        self, request: csi_pb2.NodeUnpublishVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeUnpublishVolumeResponse:
        volume_id = require(request.volume_id, "volume_id")
        target = checked_path(request.target_path, "target_path")
        with self.in_flight.hold(str(target), "NodeUnpublishVolume"):
            for _ in range(MAX_UNMOUNT_LAYERS):
                mounted = self.mounter.mounted_at(target) if _exists(target) else None
                if mounted is None:
                    break
                if not mounted.holds(volume_id):
                    raise FailedPrecondition(
                        f"target_path {target} has {mounted.description} mounted, which is not "
                        f"volume {volume_id}; refusing to unmount it"
                    )
                self.mounter.unmount(target)
                if _removed_after_unmount(target):
                    return csi_pb2.NodeUnpublishVolumeResponse()
            else:
                raise MountError(f"{target} is still mounted after {MAX_UNMOUNT_LAYERS} unmounts")
            if target.is_dir():
                try:
                    target.rmdir()
                except OSError as exc:
                    raise FailedPrecondition(
                        f"unmounted {target} but could not remove it: {exc}"
                    ) from exc
        return csi_pb2.NodeUnpublishVolumeResponse()

    def NodeGetVolumeStats(
        self, request: csi_pb2.NodeGetVolumeStatsRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeGetVolumeStatsResponse:
        volume_id = require(request.volume_id, "volume_id")
        try:
            path = checked_path(request.volume_path, "volume_path")
        except InvalidArgument as exc:
            if not request.volume_path:
                raise
            # Kubelet only asks about paths it published to; no such path holds a volume.
            raise NotFound(f"volume {volume_id} is not mounted at it: {exc.message}") from exc
        mounted = self.mounter.mounted_at(path)
        if mounted is None or not mounted.holds(volume_id):
            seen = mounted.description if mounted else "nothing mounted"
            raise NotFound(f"volume {volume_id} is not mounted at {path} ({seen})")
        Usage = csi_pb2.VolumeUsage
        try:
            stats = os.statvfs(path)
        except OSError as exc:
            return csi_pb2.NodeGetVolumeStatsResponse(
                volume_condition=csi_pb2.VolumeCondition(
                    abnormal=True, message=f"statvfs({path}) failed: {exc}"
                )
            )
        block = stats.f_frsize
        return csi_pb2.NodeGetVolumeStatsResponse(
            usage=[
                Usage(
                    unit=Usage.BYTES,
                    total=stats.f_blocks * block,
                    available=stats.f_bavail * block,
                    used=(stats.f_blocks - stats.f_bfree) * block,
                ),
                Usage(
                    unit=Usage.INODES,
                    total=stats.f_files,
                    available=stats.f_ffree,
                    used=stats.f_files - stats.f_ffree,
                ),
            ],
            volume_condition=csi_pb2.VolumeCondition(
                abnormal=False, message=f"mounted: {mounted.description}"
            ),
        )

    def NodeGetCapabilities(
        self, request: csi_pb2.NodeGetCapabilitiesRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeGetCapabilitiesResponse:
        return csi_pb2.NodeGetCapabilitiesResponse(
            capabilities=[
                csi_pb2.NodeServiceCapability(rpc=NodeRPC(type=kind))
                for kind in (
                    NodeRPC.GET_VOLUME_STATS,
                    NodeRPC.VOLUME_CONDITION,
                    NodeRPC.SINGLE_NODE_MULTI_WRITER,
                )
            ]
        )

    def NodeGetInfo(
        self, request: csi_pb2.NodeGetInfoRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeGetInfoResponse:
        return csi_pb2.NodeGetInfoResponse(node_id=self.config.node_id)

    def NodeStageVolume(
        self, request: csi_pb2.NodeStageVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeStageVolumeResponse:
        raise Unimplemented(
            "NodeStageVolume is not implemented: "
            "the STAGE_UNSTAGE_VOLUME capability is not offered (Lustre mounts per target)"
        )

    def NodeUnstageVolume(
        self, request: csi_pb2.NodeUnstageVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeUnstageVolumeResponse:
        raise Unimplemented(
            "NodeUnstageVolume is not implemented: "
            "the STAGE_UNSTAGE_VOLUME capability is not offered (Lustre mounts per target)"
        )

    def NodeExpandVolume(
        self, request: csi_pb2.NodeExpandVolumeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.NodeExpandVolumeResponse:
        raise Unimplemented(
            "NodeExpandVolume is not implemented: "
            "FSx grows on the server side; nodes need no expansion step"
        )
