"""csi-test's Node Service helpers (pkg/sanity/node.go), shared by the node cases of every
profile: create, controller-publish, stage and publish as far as the driver supports each."""

from __future__ import annotations

from fsx_csi_harness.csi import csi_pb2
from sanity.cases._gates import ControllerRpc, NodeRpc
from sanity.context import SINGLE_NODE_WRITER, SanityContext, VolumeMode

CONTROLLER_SERVICE = csi_pb2.PluginCapability.Service.CONTROLLER_SERVICE


class NodeFlow:
    """csi-test's Node Service helpers: what the driver supports decides each step."""

    def __init__(self, sanity: SanityContext) -> None:
        self.sanity = sanity
        self.r = sanity.resources
        self.provides_controller = sanity.plugin_provides(CONTROLLER_SERVICE)
        self.publishes_on_controller = self.provides_controller and sanity.controller_supports(
            ControllerRpc.PUBLISH_UNPUBLISH_VOLUME
        )
        self.controller_expansion = self.provides_controller and sanity.controller_supports(
            ControllerRpc.EXPAND_VOLUME
        )
        self.stage = sanity.node_supports(NodeRpc.STAGE_UNSTAGE_VOLUME)
        self.volume_stats = sanity.node_supports(NodeRpc.GET_VOLUME_STATS)

    @property
    def target(self) -> str:
        return self.sanity.target_path + "/target"

    def capability(self, mode: VolumeMode = SINGLE_NODE_WRITER) -> csi_pb2.VolumeCapability:
        return self.sanity.volume_capability(mode)

    def create_volume(
        self, name: str, capability: csi_pb2.VolumeCapability | None = None
    ) -> csi_pb2.CreateVolumeResponse:
        request = self.sanity.make_create_volume_req(name)
        if capability is not None:
            del request.volume_capabilities[:]
            request.volume_capabilities.append(capability)
        return self.r.must_create_volume(request)

    def controller_publish(
        self,
        volume: csi_pb2.CreateVolumeResponse,
        node: csi_pb2.NodeGetInfoResponse,
        capability: csi_pb2.VolumeCapability | None = None,
    ) -> csi_pb2.ControllerPublishVolumeResponse | None:
        if not self.publishes_on_controller:
            return None
        return self.r.must_controller_publish_volume(
            csi_pb2.ControllerPublishVolumeRequest(
                volume_id=volume.volume.volume_id,
                node_id=node.node_id,
                volume_capability=capability or self.capability(),
                volume_context=volume.volume.volume_context,
                readonly=False,
                secrets=self.sanity.secret("ControllerPublishVolumeSecret"),
            )
        )

    def node_stage(
        self,
        volume: csi_pb2.CreateVolumeResponse,
        published: csi_pb2.ControllerPublishVolumeResponse | None,
        capability: csi_pb2.VolumeCapability | None = None,
    ) -> None:
        if not self.stage:
            return
        request = csi_pb2.NodeStageVolumeRequest(
            volume_id=volume.volume.volume_id,
            volume_capability=capability or self.capability(),
            staging_target_path=self.sanity.staging_path,
            volume_context=volume.volume.volume_context,
            secrets=self.sanity.secret("NodeStageVolumeSecret"),
        )
        if published is not None:
            request.publish_context.update(published.publish_context)
        self.r.node_stage_volume(request)

    def node_publish(
        self,
        volume: csi_pb2.CreateVolumeResponse,
        published: csi_pb2.ControllerPublishVolumeResponse | None,
        capability: csi_pb2.VolumeCapability | None = None,
        target: str | None = None,
        readonly: bool = False,
    ) -> csi_pb2.NodePublishVolumeRequest:
        request = csi_pb2.NodePublishVolumeRequest(
            volume_id=volume.volume.volume_id,
            target_path=target or self.target,
            staging_target_path=self.sanity.staging_path if self.stage else "",
            volume_capability=capability or self.capability(),
            readonly=readonly,
            volume_context=volume.volume.volume_context,
            secrets=self.sanity.secret("NodePublishVolumeSecret"),
        )
        if published is not None:
            request.publish_context.update(published.publish_context)
        self.r.node_publish_volume(request)
        return request

    def node_info(self) -> csi_pb2.NodeGetInfoResponse:
        info = self.r.node_get_info()
        assert info.node_id, "NodeGetInfo returned an empty node_id"
        return info

    def stage_and_publish(self, name: str, readonly: bool = False) -> csi_pb2.CreateVolumeResponse:
        volume = self.create_volume(name)
        info = self.node_info()
        published = self.controller_publish(volume, info)
        self.node_stage(volume, published)
        self.node_publish(volume, published, readonly=readonly)
        return volume
