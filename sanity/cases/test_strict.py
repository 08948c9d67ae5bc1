"""Strict profile: what the CSI spec v1.12 requires, a client can observe, and csi-sanity
does not check.

Opt in with `--csi.profile strict` (`fsx-csi sanity --profile strict`, or `strict,fsx` with
the FSx profile); skipped otherwise. Each case names the rule it checks; sanity/README.md
maps every REQUIRED field and MUST of the spec to the case that checks it, or says why a
client cannot. The strict profile also fails a case whose cleanup finds the target path the
driver created still there (the spec: NodeUnpublishVolume "MUST delete the file or directory
it created at this path"), which csi-sanity tolerates.
"""

from __future__ import annotations

import pytest
from grpc import StatusCode

from fsx_csi_harness.csi import csi_pb2
from sanity.cases._checks import assert_writes_refused
from sanity.cases._flows import NodeFlow
from sanity.cases._gates import ControllerRpc, NodeRpc, require_controller, require_node
from sanity.context import SanityContext
from sanity.rpc import RpcFailure, expect_code, expect_failure
from sanity.spec import exclusive, it, provisions

SERVICE = "Strict"
CONTROLLER_SERVICE = csi_pb2.PluginCapability.Service.CONTROLLER_SERVICE
UNKNOWN_ACCESS_MODE = csi_pb2.VolumeCapability.AccessMode.UNKNOWN
KNOWN_USAGE_UNITS = (csi_pb2.VolumeUsage.BYTES, csi_pb2.VolumeUsage.INODES)
# ListVolumes paging needs more volumes than one page holds.
PAGING_VOLUMES, PAGE_SIZE = 3, 2


class _StrictProfile:
    SERVICE = SERVICE
    PROFILE = "strict"

    @pytest.fixture(autouse=True)
    def _profile(self, sanity: SanityContext) -> None:
        if self.PROFILE not in sanity.config.profiles:
            pytest.skip("strict profile not enabled (--csi.profile strict)")


@pytest.fixture
def flow(sanity: SanityContext) -> NodeFlow:
    return NodeFlow(sanity)


def require_controller_service(sanity: SanityContext, flow: NodeFlow) -> None:
    if not flow.provides_controller:
        pytest.skip("Controller Service not provided: CreateVolume not supported")
    require_controller(sanity, ControllerRpc.CREATE_DELETE_VOLUME, "CreateVolume")


class TestStrictIdentity(_StrictProfile):
    DESCRIBE = "Strict profile: Identity Service"

    @it("GetPluginInfo returns a vendor_version, a REQUIRED field")
    def test_plugin_info_has_a_vendor_version(self, sanity: SanityContext) -> None:
        for name, identity in sanity.identities.items():
            response = sanity.call(
                "GetPluginInfo", identity.GetPluginInfo, csi_pb2.GetPluginInfoRequest()
            )
            assert response.vendor_version, (
                f"[{name}] GetPluginInfo returned no vendor_version (spec: REQUIRED)"
            )

    @it("advertises VolumeExpansion only with an EXPAND_VOLUME controller or node capability")
    def test_volume_expansion_comes_with_an_expand_capability(
        self, sanity: SanityContext, flow: NodeFlow
    ) -> None:
        response = sanity.call(
            "GetPluginCapabilities",
            sanity.identity.GetPluginCapabilities,
            csi_pb2.GetPluginCapabilitiesRequest(),
        )
        if not any(cap.HasField("volume_expansion") for cap in response.capabilities):
            pytest.skip("the plugin advertises no VolumeExpansion capability")
        assert flow.controller_expansion or sanity.node_supports(NodeRpc.EXPAND_VOLUME), (
            "the plugin advertises VolumeExpansion but neither the EXPAND_VOLUME controller "
            "capability nor the EXPAND_VOLUME node capability (spec: it MUST implement one)"
        )

    @it("describes every error in the status message")
    def test_error_statuses_carry_a_message(self, sanity: SanityContext, flow: NodeFlow) -> None:
        r = sanity.resources
        # Requests every driver must refuse, whatever it supports: required fields missing.
        refusals = [
            expect_failure(
                lambda: r.node_publish_volume(csi_pb2.NodePublishVolumeRequest()),
                "NodePublishVolume with an empty request",
            ),
            expect_failure(
                lambda: r.node_unpublish_volume(csi_pb2.NodeUnpublishVolumeRequest()),
                "NodeUnpublishVolume with an empty request",
            ),
        ]
        if flow.provides_controller and sanity.controller_supports(
            ControllerRpc.CREATE_DELETE_VOLUME
        ):
            refusals.append(
                expect_failure(
                    lambda: r.create_volume(csi_pb2.CreateVolumeRequest()),
                    "CreateVolume with an empty request",
                )
            )
        silent = [
            f"{failure.rpc} ({failure.code.name})"
            for failure in refusals
            if not failure.details.strip()
        ]
        assert not silent, (
            f"errors without a status message: {', '.join(silent)} (spec: the status message "
            "MUST contain a human readable description of the error)"
        )


class TestStrictController(_StrictProfile):
    DESCRIBE = "Strict profile: Controller Service"

    @it("advertises LIST_VOLUMES_PUBLISHED_NODES only with PUBLISH_UNPUBLISH_VOLUME")
    def test_published_nodes_come_with_publish(self, sanity: SanityContext, flow: NodeFlow) -> None:
        if not flow.provides_controller:
            pytest.skip("Controller Service not provided")
        if not sanity.controller_supports(ControllerRpc.LIST_VOLUMES_PUBLISHED_NODES):
            pytest.skip("LIST_VOLUMES_PUBLISHED_NODES not advertised")
        assert sanity.controller_supports(ControllerRpc.PUBLISH_UNPUBLISH_VOLUME), (
            "LIST_VOLUMES_PUBLISHED_NODES is advertised without PUBLISH_UNPUBLISH_VOLUME "
            "(spec: the SP MUST also support PUBLISH_UNPUBLISH_VOLUME)"
        )

    @it("creates volumes within the capacity range: at least required_bytes, at most limit_bytes")
    @provisions
    def test_created_volumes_stay_within_the_capacity_range(
        self, sanity: SanityContext, flow: NodeFlow
    ) -> None:
        require_controller_service(sanity, flow)
        size = sanity.test_volume_size
        request = sanity.make_create_volume_req(sanity.names.unique("strict-capacity-range"))
        request.capacity_range.limit_bytes = 2 * size
        try:
            response = sanity.resources.create_volume(request)
        except RpcFailure as failure:
            if failure.code is StatusCode.OUT_OF_RANGE:
                return  # the spec's answer for a range the driver cannot serve
            raise
        capacity = response.volume.capacity_bytes
        assert capacity == 0 or size <= capacity <= 2 * size, (
            f"CreateVolume(required_bytes={size}, limit_bytes={2 * size}) returned "
            f"capacity_bytes {capacity} (spec: at least required_bytes, not bigger than "
            "limit_bytes, or OUT_OF_RANGE)"
        )

    @it("ValidateVolumeCapabilities does not confirm an access mode no driver supports")
    @provisions
    def test_does_not_confirm_the_unknown_access_mode(
        self, sanity: SanityContext, flow: NodeFlow
    ) -> None:
        require_controller_service(sanity, flow)
        volume = sanity.resources.must_create_volume(
            sanity.make_create_volume_req(sanity.names.unique("strict-validate-unknown-mode"))
        )
        request = csi_pb2.ValidateVolumeCapabilitiesRequest(
            volume_id=volume.volume.volume_id,
            volume_capabilities=[sanity.volume_capability(UNKNOWN_ACCESS_MODE)],
            secrets=sanity.secret("ControllerValidateVolumeCapabilitiesSecret"),
        )
        try:
            response = sanity.resources.validate_volume_capabilities(request)
        except RpcFailure as failure:
            assert failure.code is StatusCode.INVALID_ARGUMENT, (
                f"ValidateVolumeCapabilities for access mode UNKNOWN failed with "
                f"{failure.code.name}; expected no confirmation, or INVALID_ARGUMENT"
            )
            return
        assert not response.HasField("confirmed"), (
            "ValidateVolumeCapabilities confirmed access mode UNKNOWN, which no driver can "
            f"support: {response.confirmed}"
        )

    @it("DeleteVolume of a volume it already deleted answers OK")
    @provisions
    def test_deletes_a_volume_twice(self, sanity: SanityContext, flow: NodeFlow) -> None:
        require_controller_service(sanity, flow)
        r = sanity.resources
        volume = r.must_create_volume(
            sanity.make_create_volume_req(sanity.names.unique("strict-delete-twice"))
        )
        request = sanity.make_delete_volume_req(volume.volume.volume_id)
        r.delete_volume(request)
        r.delete_volume(request)  # spec: a volume that does not exist any more is 0 OK

    @it("ControllerExpandVolume without a capacity range is INVALID_ARGUMENT")
    @provisions
    def test_refuses_an_expansion_without_capacity_range(
        self, sanity: SanityContext, flow: NodeFlow
    ) -> None:
        require_controller_service(sanity, flow)
        require_controller(sanity, ControllerRpc.EXPAND_VOLUME, "ControllerExpandVolume")
        volume = sanity.resources.must_create_volume(
            sanity.make_create_volume_req(sanity.names.unique("strict-expand-no-range"))
        )
        # csi-sanity's own case sends no volume id either, so any driver passes it by
        # checking the id alone; here the volume exists.
        request = csi_pb2.ControllerExpandVolumeRequest(
            volume_id=volume.volume.volume_id,
            volume_capability=sanity.volume_capability(),
            secrets=sanity.secret("ControllerExpandVolumeSecret"),
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.controller_expand_volume(request),
            f"ControllerExpandVolume({volume.volume.volume_id}) without capacity_range",
        )

    @it("ControllerUnpublishVolume of a volume not published to the node answers OK")
    @provisions
    def test_unpublishes_a_volume_that_is_not_published(
        self, sanity: SanityContext, flow: NodeFlow
    ) -> None:
        require_controller_service(sanity, flow)
        require_controller(
            sanity, ControllerRpc.PUBLISH_UNPUBLISH_VOLUME, "ControllerUnpublishVolume"
        )
        volume = sanity.resources.must_create_volume(
            sanity.make_create_volume_req(sanity.names.unique("strict-unpublish-unattached"))
        )
        sanity.resources.controller_unpublish_volume(
            csi_pb2.ControllerUnpublishVolumeRequest(
                volume_id=volume.volume.volume_id,
                node_id=sanity.node_id(),
                secrets=sanity.secret("ControllerUnpublishVolumeSecret"),
            )
        )

    def _list_volumes_with_at_least(self, sanity: SanityContext, flow: NodeFlow) -> set[str]:
        """The ids ListVolumes shows, after creating volumes until it shows enough to page."""
        require_controller_service(sanity, flow)
        require_controller(sanity, ControllerRpc.LIST_VOLUMES, "ListVolumes")
        r = sanity.resources
        listed = len(r.list_volumes(csi_pb2.ListVolumesRequest()).entries)
        for index in range(listed, PAGING_VOLUMES):
            r.must_create_volume(
                sanity.make_create_volume_req(sanity.names.unique(f"strict-list-{index}"))
            )
        return {
            entry.volume.volume_id for entry in r.list_volumes(csi_pb2.ListVolumesRequest()).entries
        }

    @exclusive
    @it("ListVolumes returns at most max_entries and a next_token for the rest")
    @provisions
    def test_list_volumes_honours_max_entries(self, sanity: SanityContext, flow: NodeFlow) -> None:
        everything = self._list_volumes_with_at_least(sanity, flow)
        page = sanity.resources.list_volumes(csi_pb2.ListVolumesRequest(max_entries=PAGE_SIZE))
        assert len(page.entries) <= PAGE_SIZE, (
            f"ListVolumes(max_entries={PAGE_SIZE}) returned {len(page.entries)} entries "
            "(spec: the Plugin MUST NOT return more)"
        )
        assert page.next_token, (
            f"ListVolumes(max_entries={PAGE_SIZE}) with {len(everything)} volumes returned no "
            "next_token (spec: the Plugin MUST set next_token when there are more)"
        )

    @exclusive
    @it("ListVolumes pagination returns every volume exactly once")
    @provisions
    def test_list_volumes_pages_through_every_volume_once(
        self, sanity: SanityContext, flow: NodeFlow
    ) -> None:
        everything = self._list_volumes_with_at_least(sanity, flow)
        seen: list[str] = []
        token = ""
        # One page per volume, plus one: a driver whose tokens loop fails instead of hanging.
        for _ in range(len(everything) + 1):
            page = sanity.resources.list_volumes(
                csi_pb2.ListVolumesRequest(max_entries=1, starting_token=token)
            )
            seen += [entry.volume.volume_id for entry in page.entries]
            token = page.next_token
            if not token:
                break
        repeated = sorted({volume for volume in seen if seen.count(volume) > 1})
        assert not repeated, f"ListVolumes pages returned volumes more than once: {repeated}"
        assert set(seen) == everything, (
            f"paging ListVolumes(max_entries=1) returned {sorted(set(seen))}; one unpaged "
            f"ListVolumes returned {sorted(everything)}"
            + (" (the last page still had a next_token)" if token else "")
        )

    @it("GetCapacity reports no negative capacity")
    def test_capacity_is_not_negative(self, sanity: SanityContext, flow: NodeFlow) -> None:
        if not flow.provides_controller:
            pytest.skip("Controller Service not provided")
        require_controller(sanity, ControllerRpc.GET_CAPACITY, "GetCapacity")
        response = sanity.resources.get_capacity(csi_pb2.GetCapacityRequest())
        negative = [
            f"{name}={value}"
            for name, value, present in (
                ("available_capacity", response.available_capacity, True),
                (
                    "maximum_volume_size",
                    response.maximum_volume_size.value,
                    response.HasField("maximum_volume_size"),
                ),
                (
                    "minimum_volume_size",
                    response.minimum_volume_size.value,
                    response.HasField("minimum_volume_size"),
                ),
            )
            if present and value < 0
        ]
        assert not negative, (
            f"GetCapacity reported {', '.join(negative)} (spec: MUST NOT be negative)"
        )


class TestStrictSnapshots(_StrictProfile):
    DESCRIBE = "Strict profile: snapshots"

    @it("GetSnapshot without snapshot_id is INVALID_ARGUMENT")
    def test_get_snapshot_without_id_is_invalid(self, sanity: SanityContext) -> None:
        require_controller(sanity, ControllerRpc.GET_SNAPSHOT, "GetSnapshot")
        request = csi_pb2.GetSnapshotRequest(secrets=sanity.secret("GetSnapshotSecret"))
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.get_snapshot(request),
            "GetSnapshot without snapshot_id (spec: a missing required field)",
        )

    @it("GetSnapshot of a snapshot that does not exist is NOT_FOUND")
    def test_get_snapshot_of_an_unknown_id_is_not_found(self, sanity: SanityContext) -> None:
        require_controller(sanity, ControllerRpc.GET_SNAPSHOT, "GetSnapshot")
        request = csi_pb2.GetSnapshotRequest(
            snapshot_id=sanity.ids.invalid_snapshot_id(),
            secrets=sanity.secret("GetSnapshotSecret"),
        )
        expect_code(
            StatusCode.NOT_FOUND,
            lambda: sanity.resources.get_snapshot(request),
            f"GetSnapshot({request.snapshot_id})",
        )

    @it("DeleteSnapshot of a snapshot it already deleted answers OK")
    @provisions
    def test_deletes_a_snapshot_twice(self, sanity: SanityContext) -> None:
        require_controller(sanity, ControllerRpc.CREATE_DELETE_SNAPSHOT, "DeleteSnapshot")
        snapshot, _ = sanity.must_create_snapshot_from_volume_request(
            sanity.make_create_volume_req(sanity.names.unique("strict-snapshot-source")),
            sanity.names.unique("strict-delete-snapshot-twice"),
        )
        request = sanity.make_delete_snapshot_req(snapshot.snapshot.snapshot_id)
        sanity.resources.delete_snapshot(request)
        sanity.resources.delete_snapshot(request)  # spec: a snapshot that is gone is 0 OK


class TestStrictNode(_StrictProfile):
    DESCRIBE = "Strict profile: Node Service"

    @it("NodeGetCapabilities names an RPC in every entry")
    def test_every_node_capability_has_an_rpc(self, sanity: SanityContext) -> None:
        without = [
            str(cap) or "(empty entry)"
            for cap in sanity.resources.node_get_capabilities().capabilities
            if not cap.HasField("rpc")
        ]
        assert not without, f"NodeGetCapabilities entries without rpc: {without}"

    @it("a second NodeUnpublishVolume after success answers OK")
    @provisions
    def test_unpublishes_twice(self, sanity: SanityContext, flow: NodeFlow) -> None:
        require_controller_service(sanity, flow)
        volume = flow.stage_and_publish(sanity.names.unique("strict-unpublish-twice"))
        request = csi_pb2.NodeUnpublishVolumeRequest(
            volume_id=volume.volume.volume_id, target_path=flow.target
        )
        sanity.resources.node_unpublish_volume(request)
        sanity.resources.node_unpublish_volume(request)  # spec: idempotent

    @it("a second NodeUnstageVolume after success answers OK")
    @provisions
    def test_unstages_twice(self, sanity: SanityContext, flow: NodeFlow) -> None:
        require_controller_service(sanity, flow)
        require_node(sanity, NodeRpc.STAGE_UNSTAGE_VOLUME, "NodeUnstageVolume")
        volume = flow.stage_and_publish(sanity.names.unique("strict-unstage-twice"))
        r = sanity.resources
        r.node_unpublish_volume(
            csi_pb2.NodeUnpublishVolumeRequest(
                volume_id=volume.volume.volume_id, target_path=flow.target
            )
        )
        request = csi_pb2.NodeUnstageVolumeRequest(
            volume_id=volume.volume.volume_id, staging_target_path=sanity.staging_path
        )
        r.node_unstage_volume(request)
        r.node_unstage_volume(request)  # spec: idempotent

    @it("a read-only NodePublishVolume refuses writes through the target path")
    @provisions
    def test_read_only_publish_refuses_writes(self, sanity: SanityContext, flow: NodeFlow) -> None:
        require_controller_service(sanity, flow)
        flow.stage_and_publish(sanity.names.unique("strict-read-only"), readonly=True)
        assert_writes_refused(flow.target)

    @it("NodePublishVolume at a published target with the other readonly flag is ALREADY_EXISTS")
    @provisions
    def test_refuses_to_flip_readonly_at_a_published_target(
        self, sanity: SanityContext, flow: NodeFlow
    ) -> None:
        require_controller_service(sanity, flow)
        volume = flow.create_volume(sanity.names.unique("strict-readonly-conflict"))
        published = flow.controller_publish(volume, flow.node_info())
        flow.node_stage(volume, published)
        flow.node_publish(volume, published)
        expect_code(
            StatusCode.ALREADY_EXISTS,
            lambda: flow.node_publish(volume, published, readonly=True),
            f"NodePublishVolume({volume.volume.volume_id}) read-only at {flow.target}, where it "
            "is published read-write (spec: volume published but is incompatible)",
        )

    @it("NodeGetVolumeStats reports usage in a known unit and never negative")
    @provisions
    def test_volume_stats_are_well_formed(self, sanity: SanityContext, flow: NodeFlow) -> None:
        require_controller_service(sanity, flow)
        require_node(sanity, NodeRpc.GET_VOLUME_STATS, "NodeGetVolumeStats")
        volume = flow.stage_and_publish(sanity.names.unique("strict-volume-stats"))
        stats = sanity.resources.node_get_volume_stats(
            csi_pb2.NodeGetVolumeStatsRequest(
                volume_id=volume.volume.volume_id, volume_path=flow.target
            )
        )
        problems = [
            f"unit {csi_pb2.VolumeUsage.Unit.Name(usage.unit)} (REQUIRED: BYTES or INODES)"
            for usage in stats.usage
            if usage.unit not in KNOWN_USAGE_UNITS
        ] + [
            f"{csi_pb2.VolumeUsage.Unit.Name(usage.unit)} {field}={value} (MUST NOT be negative)"
            for usage in stats.usage
            for field, value in (
                ("total", usage.total),
                ("used", usage.used),
                ("available", usage.available),
            )
            if value < 0
        ]
        assert not problems, f"NodeGetVolumeStats usage: {'; '.join(problems)}"
