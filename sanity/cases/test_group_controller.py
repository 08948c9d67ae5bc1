"""csi-sanity: GroupController Service (pkg/sanity/groupcontroller.go)."""

from __future__ import annotations

import pytest
from grpc import StatusCode

from fsx_csi_harness.csi import csi_pb2
from sanity.context import SanityContext
from sanity.rpc import expect_code
from sanity.spec import it

GroupRpc = csi_pb2.GroupControllerServiceCapability.RPC
GROUP_SERVICE = csi_pb2.PluginCapability.Service.GROUP_CONTROLLER_SERVICE


def require_group_controller_service(sanity: SanityContext) -> None:
    if not sanity.plugin_provides(GROUP_SERVICE):
        pytest.skip(
            "GroupControllerService not supported: GetPluginCapabilities does not list "
            "GROUP_CONTROLLER_SERVICE"
        )


class TestGroupControllerGetCapabilities:
    DESCRIBE = "GroupController Service [GroupController Server] GroupControllerGetCapabilities"
    SERVICE = "GroupController"

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_group_controller_service(sanity)

    @it("should return appropriate capabilities")
    def test_returns_only_capabilities_the_spec_defines(self, sanity: SanityContext) -> None:
        response = sanity.resources.group_controller_get_capabilities()
        for capability in response.capabilities:
            assert capability.HasField("rpc"), f"capability without rpc: {capability}"
            assert capability.rpc.type == GroupRpc.CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT, (
                f"Unknown capability: {capability.rpc.type}"
            )


class _VolumeGroupSnapshots:
    SERVICE = "GroupController"

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_group_controller_service(sanity)
        if not sanity.group_controller_supports(GroupRpc.CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT):
            pytest.skip(
                "VolumeGroupSnapshots not supported: the driver does not advertise the "
                "CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT group controller capability"
            )


PREFIX = "GroupController Service [GroupController VolumeGroupSnapshots]"


class TestCreateVolumeGroupSnapshot(_VolumeGroupSnapshots):
    DESCRIBE = f"{PREFIX} CreateVolumeGroupSnapshot"

    @it("should fail when no name is provided")
    def test_rejects_a_request_without_name(self, sanity: SanityContext) -> None:
        request = csi_pb2.CreateVolumeGroupSnapshotRequest(
            secrets=sanity.secret("CreateSnapshotSecret")
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.create_volume_group_snapshot(request),
            "CreateVolumeGroupSnapshot without name",
        )


class TestGetVolumeGroupSnapshot(_VolumeGroupSnapshots):
    DESCRIBE = f"{PREFIX} GetVolumeGroupSnapshot"

    @it("should fail when no volume id is provided")
    def test_rejects_a_request_without_group_snapshot_id(self, sanity: SanityContext) -> None:
        request = csi_pb2.GetVolumeGroupSnapshotRequest(
            secrets=sanity.secret("ListSnapshotsSecret")
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.get_volume_group_snapshot(request),
            "GetVolumeGroupSnapshot without group_snapshot_id",
        )

    @it("should fail when an invalid volume id is used")
    def test_rejects_an_unknown_group_snapshot_with_not_found(self, sanity: SanityContext) -> None:
        request = csi_pb2.GetVolumeGroupSnapshotRequest(
            group_snapshot_id=sanity.ids.invalid_volume_id(),
            secrets=sanity.secret("ListSnapshotsSecret"),
        )
        expect_code(
            StatusCode.NOT_FOUND,
            lambda: sanity.resources.get_volume_group_snapshot(request),
            f"GetVolumeGroupSnapshot({request.group_snapshot_id})",
        )


class TestDeleteVolumeGroupSnapshot(_VolumeGroupSnapshots):
    DESCRIBE = f"{PREFIX} DeleteVolumeGroupSnapshot"

    @it("should fail when no volume id is provided")
    def test_rejects_a_request_without_group_snapshot_id(self, sanity: SanityContext) -> None:
        request = csi_pb2.DeleteVolumeGroupSnapshotRequest(
            secrets=sanity.secret("DeleteSnapshotSecret")
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.delete_volume_group_snapshot(request),
            "DeleteVolumeGroupSnapshot without group_snapshot_id",
        )

    @it("should succeed when an invalid volume id is used")
    def test_succeeds_for_a_group_snapshot_that_does_not_exist(self, sanity: SanityContext) -> None:
        sanity.resources.delete_volume_group_snapshot(
            csi_pb2.DeleteVolumeGroupSnapshotRequest(
                group_snapshot_id=sanity.ids.invalid_volume_id(),
                secrets=sanity.secret("DeleteSnapshotSecret"),
            )
        )
