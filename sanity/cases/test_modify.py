"""csi-sanity: ModifyVolume [Controller Server] (pkg/sanity/controller.go)."""

from __future__ import annotations

import pytest
from grpc import StatusCode

from fsx_csi_harness.csi import csi_pb2
from sanity.cases._gates import ControllerRpc, require_controller
from sanity.context import SanityContext
from sanity.rpc import expect_code
from sanity.spec import it, provisions

FAKE_MUTABLE_PARAMETERS = {"XXX_FakeKey": "XXX_FakeValue"}


class TestModifyVolume:
    DESCRIBE = "ModifyVolume [Controller Server]"
    SERVICE = "ModifyVolume"

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        require_controller(sanity, ControllerRpc.MODIFY_VOLUME, "ControllerModifyVolume")

    def _volume(self, sanity: SanityContext, name: str, with_class: bool) -> str:
        request = sanity.make_create_volume_req(sanity.names.unique(name))
        if with_class:
            request.mutable_parameters.update(sanity.mutable_parameters)
        return sanity.resources.must_create_volume(request).volume.volume_id

    def _fake_modify(self, sanity: SanityContext, volume_id: str) -> None:
        request = csi_pb2.ControllerModifyVolumeRequest(
            volume_id=volume_id,
            mutable_parameters=FAKE_MUTABLE_PARAMETERS,
            secrets=sanity.secret("ControllerModifyVolumeSecret"),
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.controller_modify_volume(request),
            "ControllerModifyVolume with mutable parameter XXX_FakeKey",
        )

    @it("should fail if no volume id is given")
    def test_rejects_a_request_without_volume_id(self, sanity: SanityContext) -> None:
        request = sanity.make_modify_req("")
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.controller_modify_volume(request),
            "ControllerModifyVolume without volume_id",
        )

    @it("should fail if volume does not exist")
    def test_rejects_an_unknown_volume_with_not_found(self, sanity: SanityContext) -> None:
        request = sanity.make_modify_req("non-existing-volume-id")
        expect_code(
            StatusCode.NOT_FOUND,
            lambda: sanity.resources.controller_modify_volume(request),
            "ControllerModifyVolume(non-existing-volume-id)",
        )

    @it("should fail if specified mutable parameters are not supported by the volume")
    @provisions
    def test_rejects_unsupported_mutable_parameters(self, sanity: SanityContext) -> None:
        volume_id = self._volume(sanity, "sanity-modify-volume-unsupported", with_class=False)
        self._fake_modify(sanity, volume_id)

    @it("should modify a volume created without a volume attribute class")
    @provisions
    def test_modifies_a_volume_created_without_a_class(self, sanity: SanityContext) -> None:
        volume_id = self._volume(sanity, "sanity-modify-volume", with_class=False)
        sanity.resources.controller_modify_volume(sanity.make_modify_req(volume_id))

    @it("should modify a volume created with a volume attribute class")
    @provisions
    def test_modifies_a_volume_created_with_a_class(self, sanity: SanityContext) -> None:
        volume_id = self._volume(sanity, "sanity-modify-volume-with-vac", with_class=True)
        sanity.resources.controller_modify_volume(sanity.make_modify_req(volume_id))

    @it(
        "should fail to modify a volume created with a volume "
        "attribute class if new mutable parameters are not supported by volume"
    )
    @provisions
    def test_rejects_unsupported_parameters_for_a_volume_with_a_class(
        self, sanity: SanityContext
    ) -> None:
        volume_id = self._volume(
            sanity, "sanity-modify-volume-with-vac-not-supported", with_class=True
        )
        self._fake_modify(sanity, volume_id)
