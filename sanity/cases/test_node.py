"""csi-sanity: Node Service (pkg/sanity/node.go)."""

from __future__ import annotations

from typing import ClassVar

import pytest
from grpc import StatusCode

from fsx_csi_harness.csi import csi_pb2
from sanity.cases._flows import NodeFlow
from sanity.cases._gates import NodeRpc, require_node
from sanity.context import SanityContext
from sanity.paths import PathKind
from sanity.rpc import expect_code
from sanity.spec import it, provisions

DESCRIBE = "Node Service"
SERVICE = "Node"
ACCESSIBILITY = csi_pb2.PluginCapability.Service.VOLUME_ACCESSIBILITY_CONSTRAINTS
SINGLE_NODE_SINGLE_WRITER = csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_SINGLE_WRITER

KNOWN_NODE_CAPABILITIES = {
    NodeRpc.UNKNOWN,
    NodeRpc.STAGE_UNSTAGE_VOLUME,
    NodeRpc.GET_VOLUME_STATS,
    NodeRpc.EXPAND_VOLUME,
    NodeRpc.VOLUME_CONDITION,
    NodeRpc.SINGLE_NODE_MULTI_WRITER,
    NodeRpc.VOLUME_MOUNT_GROUP,
}


def run_controller_test(sanity: SanityContext, flow: NodeFlow, count: int) -> None:
    """csi-test's runControllerTest: create, controller-publish, stage and publish `count`
    times, then NodeGetVolumeStats; the Resources teardown undoes it all."""
    r = sanity.resources
    info = flow.node_info()
    request = sanity.make_create_volume_req(sanity.names.unique(f"sanity-node-full-{count}"))
    if info.HasField("accessible_topology"):
        request.accessibility_requirements.requisite.append(info.accessible_topology)
    volume = r.must_create_volume(request)
    published = None
    if flow.publishes_on_controller:
        published = r.controller_publish_volume(
            csi_pb2.ControllerPublishVolumeRequest(
                volume_id=volume.volume.volume_id,
                node_id=info.node_id,
                volume_capability=flow.capability(),
                volume_context=volume.volume.volume_context,
                readonly=False,
                secrets=sanity.secret("ControllerPublishVolumeSecret"),
            )
        )
    if flow.stage:
        for _ in range(count):
            flow.node_stage(volume, published)
    for _ in range(count):
        flow.node_publish(volume, published)
    if flow.volume_stats:
        stats = r.node_get_volume_stats(
            csi_pb2.NodeGetVolumeStatsRequest(
                volume_id=volume.volume.volume_id, volume_path=flow.target
            )
        )
        assert stats.usage, "NodeGetVolumeStats on a published volume returned no usage"


@pytest.fixture
def flow(sanity: SanityContext) -> NodeFlow:
    return NodeFlow(sanity)


class TestNodeGetCapabilities:
    DESCRIBE = f"{DESCRIBE} NodeGetCapabilities"
    SERVICE = SERVICE

    @it("should return appropriate capabilities")
    def test_returns_only_capabilities_the_spec_defines(self, sanity: SanityContext) -> None:
        # csi-test does not require the rpc field here (unlike the controller's): an entry
        # without it reads as UNKNOWN, which it accepts. The strict profile requires it.
        for capability in sanity.resources.node_get_capabilities().capabilities:
            assert capability.rpc.type in KNOWN_NODE_CAPABILITIES, (
                f"Unknown capability: {capability.rpc.type}"
            )


class TestNodeGetInfo:
    DESCRIBE = f"{DESCRIBE} NodeGetInfo"
    SERVICE = SERVICE

    @it("should return appropriate values")
    def test_returns_a_node_id_and_a_sane_volume_limit(self, sanity: SanityContext) -> None:
        info = sanity.resources.node_get_info()
        assert info.node_id, "NodeGetInfo returned an empty node_id"
        assert info.max_volumes_per_node >= 0, (
            f"NodeGetInfo returned max_volumes_per_node={info.max_volumes_per_node}"
        )
        if sanity.plugin_provides(ACCESSIBILITY):
            assert info.HasField("accessible_topology"), (
                "the plugin advertises VOLUME_ACCESSIBILITY_CONSTRAINTS but NodeGetInfo "
                "returned no accessible_topology"
            )


class TestNodePublishVolume:
    DESCRIBE = f"{DESCRIBE} NodePublishVolume"
    SERVICE = SERVICE

    @it("should fail when no volume id is provided")
    def test_rejects_a_request_without_volume_id(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodePublishVolumeRequest(secrets=sanity.secret("NodePublishVolumeSecret"))
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_publish_volume(request),
            "NodePublishVolume without volume_id",
        )

    @it("should fail when no target path is provided")
    def test_rejects_a_request_without_target_path(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodePublishVolumeRequest(
            volume_id=sanity.ids.unique_valid_volume_id(),
            secrets=sanity.secret("NodePublishVolumeSecret"),
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_publish_volume(request),
            "NodePublishVolume without target_path",
        )

    @it("should fail when no volume capability is provided")
    def test_rejects_a_request_without_volume_capability(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodePublishVolumeRequest(
            volume_id=sanity.ids.unique_valid_volume_id(),
            target_path=sanity.target_path + "/target",
            secrets=sanity.secret("NodePublishVolumeSecret"),
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_publish_volume(request),
            "NodePublishVolume without volume_capability",
        )


class TestNodePublishVolumeWithSingleNodeMultiWriter:
    DESCRIBE = f"{DESCRIBE} NodePublishVolume with single node multi writer capability"
    SERVICE = SERVICE

    @it(
        "should fail when volume with single node single writer access mode is already "
        "mounted at a different target path"
    )
    @provisions
    def test_refuses_a_second_target_for_a_single_writer_volume(
        self, sanity: SanityContext, flow: NodeFlow
    ) -> None:
        require_node(sanity, NodeRpc.SINGLE_NODE_MULTI_WRITER, "single node multi writer")
        capability = flow.capability(SINGLE_NODE_SINGLE_WRITER)
        volume = flow.create_volume(
            sanity.names.unique("sanity-node-publish-single-node-single-writer"), capability
        )
        info = flow.node_info()
        published = flow.controller_publish(volume, info, capability)
        flow.node_stage(volume, published, capability)
        flow.node_publish(volume, published, capability)
        request = csi_pb2.NodePublishVolumeRequest(
            volume_id=volume.volume.volume_id,
            target_path=sanity.target_path + "/other_target",
            volume_capability=capability,
            volume_context=volume.volume.volume_context,
            secrets=sanity.secret("NodePublishVolumeSecret"),
            staging_target_path=sanity.staging_path if flow.stage else "",
        )
        if published is not None:
            request.publish_context.update(published.publish_context)
        expect_code(
            StatusCode.FAILED_PRECONDITION,
            lambda: sanity.resources.node_publish_volume(request),
            "NodePublishVolume of a SINGLE_NODE_SINGLE_WRITER volume at a second target path",
        )


class TestNodeUnpublishVolume:
    DESCRIBE = f"{DESCRIBE} NodeUnpublishVolume"
    SERVICE = SERVICE

    @it("should fail when no volume id is provided")
    def test_rejects_a_request_without_volume_id(self, sanity: SanityContext) -> None:
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_unpublish_volume(csi_pb2.NodeUnpublishVolumeRequest()),
            "NodeUnpublishVolume without volume_id",
        )

    @it("should fail when no target path is provided")
    def test_rejects_a_request_without_target_path(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodeUnpublishVolumeRequest(volume_id=sanity.ids.unique_valid_volume_id())
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_unpublish_volume(request),
            "NodeUnpublishVolume without target_path",
        )

    @it("should remove target path")
    @provisions
    def test_removes_the_target_path(self, sanity: SanityContext, flow: NodeFlow) -> None:
        config = sanity.config
        if config.create_mount_path_cmd and not config.check_path_cmd:
            pytest.skip(
                "CreateTargetPathCmd was set, but CheckPathCmd was not. Please update your "
                "testing configuration to enable CheckPathCmd (--csi.checkpathcmd)."
            )
        volume = flow.stage_and_publish(sanity.names.unique("sanity-node-unpublish-volume"))
        target = flow.target
        kind = sanity.check_path(target)
        assert kind is not PathKind.NOT_FOUND, (
            f"path {target!r} should have been created by the CSI driver during "
            "NodePublishVolume and the test config should be enabling testing for that path"
        )
        sanity.resources.node_unpublish_volume(
            csi_pb2.NodeUnpublishVolumeRequest(
                volume_id=volume.volume.volume_id, target_path=target
            )
        )
        kind = sanity.check_path(target)
        assert kind is PathKind.NOT_FOUND, (
            f"path {target!r} should have been removed by the CSI driver during "
            f"NodeUnpublishVolume; it is still there ({kind.value})"
        )


class TestNodeStageVolume:
    DESCRIBE = f"{DESCRIBE} NodeStageVolume"
    SERVICE = SERVICE
    DEVICE: ClassVar[dict[str, str]] = {"device": "/dev/mock"}

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_node(sanity, NodeRpc.STAGE_UNSTAGE_VOLUME, "NodeStageVolume")

    @it("should fail when no volume id is provided")
    def test_rejects_a_request_without_volume_id(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodeStageVolumeRequest(
            staging_target_path=sanity.staging_path,
            volume_capability=sanity.volume_capability(),
            publish_context=self.DEVICE,
            secrets=sanity.secret("NodeStageVolumeSecret"),
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_stage_volume(request),
            "NodeStageVolume without volume_id",
        )

    @it("should fail when no staging target path is provided")
    def test_rejects_a_request_without_staging_path(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodeStageVolumeRequest(
            volume_id=sanity.ids.unique_valid_volume_id(),
            volume_capability=sanity.volume_capability(),
            publish_context=self.DEVICE,
            secrets=sanity.secret("NodeStageVolumeSecret"),
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_stage_volume(request),
            "NodeStageVolume without staging_target_path",
        )

    @it("should fail when no volume capability is provided")
    @provisions
    def test_rejects_a_request_without_volume_capability(self, sanity: SanityContext) -> None:
        volume = sanity.resources.must_create_volume(
            sanity.make_create_volume_req(sanity.names.unique("sanity-node-stage-nocaps"))
        )
        request = csi_pb2.NodeStageVolumeRequest(
            volume_id=volume.volume.volume_id,
            staging_target_path=sanity.staging_path,
            publish_context=self.DEVICE,
            secrets=sanity.secret("NodeStageVolumeSecret"),
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_stage_volume(request),
            "NodeStageVolume without volume_capability",
        )


class TestNodeUnstageVolume:
    DESCRIBE = f"{DESCRIBE} NodeUnstageVolume"
    SERVICE = SERVICE

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_node(sanity, NodeRpc.STAGE_UNSTAGE_VOLUME, "NodeUnstageVolume")

    @it("should fail when no volume id is provided")
    def test_rejects_a_request_without_volume_id(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodeUnstageVolumeRequest(staging_target_path=sanity.staging_path)
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_unstage_volume(request),
            "NodeUnstageVolume without volume_id",
        )

    @it("should fail when no staging target path is provided")
    def test_rejects_a_request_without_staging_path(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodeUnstageVolumeRequest(volume_id=sanity.ids.unique_valid_volume_id())
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_unstage_volume(request),
            "NodeUnstageVolume without staging_target_path",
        )


class TestNodeGetVolumeStats:
    DESCRIBE = f"{DESCRIBE} NodeGetVolumeStats"
    SERVICE = SERVICE

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_node(sanity, NodeRpc.GET_VOLUME_STATS, "NodeGetVolume")

    @it("should fail when no volume id is provided")
    def test_rejects_a_request_without_volume_id(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodeGetVolumeStatsRequest(volume_path="some/path")
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_get_volume_stats(request),
            "NodeGetVolumeStats without volume_id",
        )

    @it("should fail when no volume path is provided")
    def test_rejects_a_request_without_volume_path(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodeGetVolumeStatsRequest(volume_id=sanity.ids.unique_valid_volume_id())
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_get_volume_stats(request),
            "NodeGetVolumeStats without volume_path",
        )

    @it("should fail when volume is not found")
    def test_rejects_an_unknown_volume_with_not_found(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodeGetVolumeStatsRequest(
            volume_id=sanity.ids.unique_valid_volume_id(), volume_path="some/path"
        )
        expect_code(
            StatusCode.NOT_FOUND,
            lambda: sanity.resources.node_get_volume_stats(request),
            "NodeGetVolumeStats for a volume that does not exist",
        )

    @it("should fail when volume does not exist on the specified path")
    @provisions
    def test_rejects_a_path_the_volume_is_not_published_at(
        self, sanity: SanityContext, flow: NodeFlow
    ) -> None:
        volume = flow.stage_and_publish(sanity.names.unique("sanity-node-get-volume-stats"))
        request = csi_pb2.NodeGetVolumeStatsRequest(
            volume_id=volume.volume.volume_id, volume_path="some/path"
        )
        expect_code(
            StatusCode.NOT_FOUND,
            lambda: sanity.resources.node_get_volume_stats(request),
            "NodeGetVolumeStats at a path where the volume is not published",
        )


class TestNodeExpandVolume:
    DESCRIBE = f"{DESCRIBE} NodeExpandVolume"
    SERVICE = SERVICE

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_node(sanity, NodeRpc.EXPAND_VOLUME, "NodeExpandVolume")

    @it("should fail when no volume id is provided")
    def test_rejects_a_request_without_volume_id(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodeExpandVolumeRequest(
            volume_path=sanity.target_path, volume_capability=sanity.volume_capability()
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_expand_volume(request),
            "NodeExpandVolume without volume_id",
        )

    @it("should fail when no volume path is provided")
    @provisions
    def test_rejects_a_request_without_volume_path(
        self, sanity: SanityContext, flow: NodeFlow
    ) -> None:
        volume = flow.create_volume(sanity.names.unique("sanity-node-expand-volume-valid-id"))
        request = csi_pb2.NodeExpandVolumeRequest(
            volume_id=volume.volume.volume_id, volume_capability=sanity.volume_capability()
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.node_expand_volume(request),
            "NodeExpandVolume without volume_path",
        )

    @it("should fail when volume is not found")
    def test_rejects_an_unknown_volume_with_not_found(self, sanity: SanityContext) -> None:
        request = csi_pb2.NodeExpandVolumeRequest(
            volume_id=sanity.ids.unique_valid_volume_id(), volume_path="some/path"
        )
        expect_code(
            StatusCode.NOT_FOUND,
            lambda: sanity.resources.node_expand_volume(request),
            "NodeExpandVolume for a volume that does not exist",
        )

    @it("should work if node-expand is called after node-publish")
    @provisions
    def test_expands_a_published_volume(self, sanity: SanityContext, flow: NodeFlow) -> None:
        r = sanity.resources
        name = sanity.names.unique("sanity-node-expand-volume")
        volume = flow.create_volume(name)
        if flow.controller_expansion:
            response = r.controller_expand_volume(
                csi_pb2.ControllerExpandVolumeRequest(
                    volume_id=volume.volume.volume_id,
                    capacity_range=csi_pb2.CapacityRange(
                        required_bytes=sanity.test_volume_expand_size
                    ),
                    secrets=sanity.secret("ControllerExpandVolumeSecret"),
                )
            )
            assert response.capacity_bytes == sanity.test_volume_expand_size, (
                f"ControllerExpandVolume returned {response.capacity_bytes}; expected "
                f"{sanity.test_volume_expand_size}"
            )
        info = flow.node_info()
        published = flow.controller_publish(volume, info)
        flow.node_stage(volume, published)
        flow.node_publish(volume, published)
        r.node_expand_volume(
            csi_pb2.NodeExpandVolumeRequest(
                volume_id=volume.volume.volume_id,
                volume_path=flow.target,
                capacity_range=csi_pb2.CapacityRange(required_bytes=sanity.test_volume_expand_size),
            )
        )


class TestNodeService:
    DESCRIBE = DESCRIBE
    SERVICE = SERVICE

    @it("should work")
    @provisions
    def test_runs_the_whole_node_workflow(self, sanity: SanityContext, flow: NodeFlow) -> None:
        if not flow.provides_controller:
            pytest.skip("Controller Service not provided: CreateVolume not supported")
        run_controller_test(sanity, flow, 1)

    @it("should be idempotent")
    @provisions
    def test_runs_every_node_step_idempotently(self, sanity: SanityContext, flow: NodeFlow) -> None:
        if not flow.provides_controller:
            pytest.skip("Controller Service not provided: CreateVolume not supported")
        if sanity.config.idempotent_count <= 0:
            pytest.skip("Config.IdempotentCount is zero or negative, skip tests")
        run_controller_test(sanity, flow, sanity.config.idempotent_count)
