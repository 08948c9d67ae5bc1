"""csi-sanity: ListSnapshots, GetSnapshot, DeleteSnapshot and CreateSnapshot [Controller Server].

All four follow pkg/sanity/controller.go of csi-test's master branch (GetSnapshot came with
csi-test pull request 573): same names, requests and assertions.
"""

from __future__ import annotations

import pytest
from grpc import StatusCode

from fsx_csi_harness.csi import csi_pb2
from sanity.cases._gates import ControllerRpc, require_controller
from sanity.context import SanityContext
from sanity.resources import verify_snapshot_info
from sanity.rpc import expect_code, expect_failure
from sanity.spec import exclusive, it, provisions

MAX_NAME_LENGTH = 128


def list_request(sanity: SanityContext, **fields: object) -> csi_pb2.ListSnapshotsRequest:
    request = csi_pb2.ListSnapshotsRequest(**fields)  # type: ignore[arg-type]
    request.secrets.update(sanity.secret("ListSnapshotsSecret"))
    return request


def three_snapshots(sanity: SanityContext, prefix: str, tag: str) -> csi_pb2.CreateSnapshotResponse:
    """csi-test's setup for the snapshot filters: an unrelated snapshot, the target, another
    unrelated one, each of its own volume; returns the target."""
    names = sanity.names
    sanity.must_create_snapshot_from_volume_request(
        sanity.make_create_volume_req(names.unique(f"{prefix}-volume-unrelated-{tag}-1")),
        names.unique(f"{prefix}-snapshot-unrelated-{tag}-1"),
    )
    target, _ = sanity.must_create_snapshot_from_volume_request(
        sanity.make_create_volume_req(names.unique(f"{prefix}-volume-target-{tag}")),
        names.unique(f"{prefix}-snapshot-target-{tag}"),
    )
    sanity.must_create_snapshot_from_volume_request(
        sanity.make_create_volume_req(names.unique(f"{prefix}-volume-unrelated-{tag}-2")),
        names.unique(f"{prefix}-snapshot-unrelated-{tag}-2"),
    )
    return target


class TestListSnapshots:
    DESCRIBE = "ListSnapshots [Controller Server]"
    SERVICE = "ListSnapshots"

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_controller(sanity, ControllerRpc.LIST_SNAPSHOTS, "ListSnapshots")

    @it("should return appropriate values (no optional values added)")
    def test_returns_entries_with_required_fields(self, sanity: SanityContext) -> None:
        response = sanity.resources.list_snapshots(list_request(sanity))
        for entry in response.entries:
            verify_snapshot_info(entry.snapshot, "ListSnapshots entry")

    @it("should return snapshots that match the specified snapshot id")
    @provisions
    def test_filters_by_snapshot_id(self, sanity: SanityContext) -> None:
        target = three_snapshots(sanity, "listSnapshots", "s")
        response = sanity.resources.list_snapshots(
            list_request(sanity, snapshot_id=target.snapshot.snapshot_id)
        )
        assert len(response.entries) == 1, (
            f"ListSnapshots(snapshot_id={target.snapshot.snapshot_id}) returned "
            f"{len(response.entries)} entries; expected exactly 1"
        )
        verify_snapshot_info(response.entries[0].snapshot, "ListSnapshots entry")
        assert response.entries[0].snapshot.snapshot_id == target.snapshot.snapshot_id

    @it("should return empty when the specified snapshot id does not exist")
    def test_returns_nothing_for_an_unknown_snapshot_id(self, sanity: SanityContext) -> None:
        response = sanity.resources.list_snapshots(
            list_request(sanity, snapshot_id="none-exist-id")
        )
        assert not response.entries, (
            f"ListSnapshots(snapshot_id=none-exist-id) returned {len(response.entries)} entries"
        )

    @it("should return snapshots that match the specified source volume id")
    @provisions
    def test_filters_by_source_volume_id(self, sanity: SanityContext) -> None:
        target = three_snapshots(sanity, "listSnapshots", "v")
        source = target.snapshot.source_volume_id
        response = sanity.resources.list_snapshots(list_request(sanity, source_volume_id=source))
        assert len(response.entries) == 1, (
            f"ListSnapshots(source_volume_id={source}) returned {len(response.entries)} "
            "entries; expected exactly 1"
        )
        verify_snapshot_info(response.entries[0].snapshot, "ListSnapshots entry")
        assert response.entries[0].snapshot.source_volume_id == source

    @it("should return empty when the specified source volume id does not exist")
    def test_returns_nothing_for_an_unknown_source_volume(self, sanity: SanityContext) -> None:
        response = sanity.resources.list_snapshots(
            list_request(sanity, source_volume_id=sanity.ids.unique_valid_volume_id())
        )
        assert not response.entries, (
            f"ListSnapshots for an unknown source volume returned {len(response.entries)} entries"
        )

    @exclusive
    @it("check the presence of new snapshots in the snapshot list")
    def test_lists_new_snapshots_and_omits_deleted_ones(self, sanity: SanityContext) -> None:
        r = sanity.resources
        total = len(r.list_snapshots(list_request(sanity)).entries)
        snapshot, _ = sanity.must_create_snapshot_from_volume_request(
            sanity.make_create_volume_req(sanity.names.unique("listSnapshots-volume-3")),
            sanity.names.unique("listSnapshots-snapshot-3"),
        )
        verify_snapshot_info(snapshot.snapshot)
        count = len(r.list_snapshots(list_request(sanity)).entries)
        assert count == total + 1, f"ListSnapshots shows {count} snapshots; expected {total + 1}"
        r.delete_snapshot(sanity.make_delete_snapshot_req(snapshot.snapshot.snapshot_id))
        count = len(r.list_snapshots(list_request(sanity)).entries)
        assert count == total, (
            f"ListSnapshots shows {count} snapshots after delete; expected {total}"
        )

    @exclusive
    @it("should return next token when a limited number of entries are requested")
    def test_pages_with_max_entries_and_next_token(self, sanity: SanityContext) -> None:
        min_snapshots, max_entries = 5, 2
        r = sanity.resources
        current = len(r.list_snapshots(list_request(sanity)).entries)
        for index in range(1, max(0, min_snapshots - current) + 1):
            snapshot, _ = sanity.must_create_snapshot_from_volume_request(
                sanity.make_create_volume_req(sanity.names.unique(f"volume{index}")),
                sanity.names.unique(f"snapshot{index}"),
            )
            verify_snapshot_info(snapshot.snapshot)
        current = max(current, min_snapshots)
        first_page = r.list_snapshots(list_request(sanity, max_entries=max_entries))
        assert len(first_page.entries) == max_entries, (
            f"ListSnapshots(max_entries={max_entries}) returned {len(first_page.entries)} entries"
        )
        rest = r.list_snapshots(list_request(sanity, starting_token=first_page.next_token))
        assert len(rest.entries) == current - max_entries, (
            f"ListSnapshots(starting_token={first_page.next_token!r}) returned "
            f"{len(rest.entries)} entries; expected the remaining {current - max_entries}"
        )


class TestGetSnapshot:
    DESCRIBE = "GetSnapshot [Controller Server]"
    SERVICE = "GetSnapshot"

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_controller(sanity, ControllerRpc.GET_SNAPSHOT, "GetSnapshot")

    # csi-test asks only for an error here, whatever its code: the hostpath driver answers
    # NOT_FOUND to an empty request. The strict profile requires INVALID_ARGUMENT.
    @it("should return an error")
    def test_fails_for_an_empty_request(self, sanity: SanityContext) -> None:
        request = csi_pb2.GetSnapshotRequest(secrets=sanity.secret("GetSnapshotSecret"))
        expect_failure(
            lambda: sanity.resources.get_snapshot(request), "GetSnapshot with an empty request"
        )

    @it("should return snapshot that match the specified snapshot id")
    @provisions
    def test_returns_the_snapshot_with_that_id(self, sanity: SanityContext) -> None:
        target = three_snapshots(sanity, "getSnapshot", "s")
        response = sanity.resources.get_snapshot(
            csi_pb2.GetSnapshotRequest(
                snapshot_id=target.snapshot.snapshot_id,
                secrets=sanity.secret("GetSnapshotSecret"),
            )
        )
        verify_snapshot_info(response.snapshot, "GetSnapshot")
        assert response.snapshot.snapshot_id == target.snapshot.snapshot_id, (
            f"GetSnapshot({target.snapshot.snapshot_id}) returned snapshot "
            f"{response.snapshot.snapshot_id}"
        )

    @it("should return an error when the specified snapshot id does not exist")
    def test_fails_for_an_unknown_snapshot_id(self, sanity: SanityContext) -> None:
        request = csi_pb2.GetSnapshotRequest(
            snapshot_id="none-exist-id", secrets=sanity.secret("GetSnapshotSecret")
        )
        expect_failure(lambda: sanity.resources.get_snapshot(request), "GetSnapshot(none-exist-id)")


class TestDeleteSnapshot:
    DESCRIBE = "DeleteSnapshot [Controller Server]"
    SERVICE = "DeleteSnapshot"

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_controller(sanity, ControllerRpc.CREATE_DELETE_SNAPSHOT, "DeleteSnapshot")

    @it("should fail when no snapshot id is provided")
    def test_rejects_a_request_without_snapshot_id(self, sanity: SanityContext) -> None:
        request = csi_pb2.DeleteSnapshotRequest(secrets=sanity.secret("DeleteSnapshotSecret"))
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.delete_snapshot(request),
            "DeleteSnapshot without snapshot_id",
        )

    @it("should succeed when an invalid snapshot id is used")
    def test_succeeds_for_a_snapshot_that_does_not_exist(self, sanity: SanityContext) -> None:
        sanity.resources.delete_snapshot(sanity.make_delete_snapshot_req("reallyfakesnapshotid"))

    @it("should return appropriate values (no optional values added)")
    @provisions
    def test_creates_a_snapshot_that_cleanup_deletes(self, sanity: SanityContext) -> None:
        r = sanity.resources
        volume = r.create_volume(
            sanity.make_create_volume_req(sanity.names.unique("DeleteSnapshot-volume-1"))
        )
        r.must_create_snapshot(
            sanity.make_create_snapshot_req(
                sanity.names.unique("DeleteSnapshot-snapshot-1"), volume.volume.volume_id
            )
        )


class TestCreateSnapshot:
    DESCRIBE = "CreateSnapshot [Controller Server]"
    SERVICE = "CreateSnapshot"

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_controller(sanity, ControllerRpc.CREATE_DELETE_SNAPSHOT, "CreateSnapshot")

    @it("should fail when no name is provided")
    def test_rejects_a_request_without_name(self, sanity: SanityContext) -> None:
        request = csi_pb2.CreateSnapshotRequest(
            source_volume_id="testId", secrets=sanity.secret("CreateSnapshotSecret")
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.create_snapshot(request),
            "CreateSnapshot without name",
        )

    @it("should fail when no source volume id is provided")
    def test_rejects_a_request_without_source_volume(self, sanity: SanityContext) -> None:
        request = csi_pb2.CreateSnapshotRequest(
            name="name", secrets=sanity.secret("CreateSnapshotSecret")
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.create_snapshot(request),
            "CreateSnapshot without source_volume_id",
        )

    @it(
        "should succeed when requesting to create a snapshot "
        "with already existing name and same source volume ID"
    )
    @provisions
    def test_returns_the_snapshot_again_for_a_repeated_request(self, sanity: SanityContext) -> None:
        r = sanity.resources
        volume = r.must_create_volume(
            sanity.make_create_volume_req(sanity.names.unique("CreateSnapshot-volume-1"))
        )
        request = sanity.make_create_snapshot_req(
            sanity.names.unique("CreateSnapshot-snapshot-1"), volume.volume.volume_id
        )
        r.must_create_snapshot(request)
        r.must_create_snapshot(request)

    @it(
        "should fail when requesting to create a snapshot "
        "with already existing name and different source volume ID"
    )
    @provisions
    def test_rejects_a_repeated_name_for_another_volume(self, sanity: SanityContext) -> None:
        name = sanity.names.unique("CreateSnapshot-snapshot-2")
        sanity.must_create_snapshot_from_volume_request(
            sanity.make_create_volume_req(sanity.names.unique("CreateSnapshot-volume-2")), name
        )
        other = sanity.resources.must_create_volume(
            sanity.make_create_volume_req(sanity.names.unique("CreateSnapshot-volume-3"))
        )
        request = sanity.make_create_snapshot_req(name, other.volume.volume_id)
        expect_code(
            StatusCode.ALREADY_EXISTS,
            lambda: sanity.resources.create_snapshot(request),
            f"CreateSnapshot({name!r}) again from another source volume",
        )

    @it("should succeed when creating snapshot with maximum-length name")
    @provisions
    def test_accepts_a_name_of_maximum_length(self, sanity: SanityContext) -> None:
        r = sanity.resources
        volume = r.must_create_volume(
            sanity.make_create_volume_req(sanity.names.unique("CreateSnapshot-volume-maxlen-name"))
        )
        name = sanity.names.unique_with_length("CreateSnapshot-snapshot-maxlen", MAX_NAME_LENGTH)
        request = sanity.make_create_snapshot_req(name, volume.volume.volume_id)
        r.must_create_snapshot(request)
        r.must_create_snapshot(request)
