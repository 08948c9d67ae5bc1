"""csi-sanity: ExpandVolume [Controller Server] (pkg/sanity/controller.go)."""

from __future__ import annotations

import pytest
from grpc import StatusCode

from fsx_csi_harness.csi import csi_pb2
from sanity.cases._gates import ControllerRpc, require_controller
from sanity.context import SanityContext
from sanity.rpc import expect_code
from sanity.spec import it, provisions


class TestExpandVolume:
    DESCRIBE = "ExpandVolume [Controller Server]"
    SERVICE = "ExpandVolume"

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_controller(sanity, ControllerRpc.EXPAND_VOLUME, "ControllerExpandVolume")

    @it("should fail if no volume id is given")
    def test_rejects_a_request_without_volume_id(self, sanity: SanityContext) -> None:
        request = sanity.make_expand_req("")
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.controller_expand_volume(request),
            "ControllerExpandVolume without volume_id",
        )

    @it("should fail if no capacity range is given")
    def test_rejects_a_request_without_capacity_range(self, sanity: SanityContext) -> None:
        # As upstream, the volume id is empty too: either omission must be INVALID_ARGUMENT.
        request = csi_pb2.ControllerExpandVolumeRequest(
            volume_id="", secrets=sanity.secret("ControllerExpandVolumeSecret")
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.controller_expand_volume(request),
            "ControllerExpandVolume without capacity_range",
        )

    @it("should work")
    @provisions
    def test_expands_a_volume_to_the_requested_size(self, sanity: SanityContext) -> None:
        r = sanity.resources
        request = sanity.make_create_volume_req(sanity.names.unique("sanity-expand-volume"))
        volume = r.must_create_volume(request)
        response = r.controller_expand_volume(sanity.make_expand_req(volume.volume.volume_id))
        assert response.capacity_bytes == sanity.test_volume_expand_size, (
            f"ControllerExpandVolume returned capacity_bytes {response.capacity_bytes}; "
            f"expected exactly the requested {sanity.test_volume_expand_size}"
        )
