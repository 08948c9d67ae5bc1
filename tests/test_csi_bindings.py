"""The generated CSI bindings: current with their proto, faithful to CSI v1.12.0, usable.

The wire-fact checks pin values from the upstream spec (container-storage-interface/spec,
tag v1.12.0) that a hand-edited or mistyped proto would most likely break: field numbers,
enum numbers, the secret marker, alpha markers and the service/method names that form the
gRPC paths a real CO calls.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor

from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CSI_DIR = PROJECT_ROOT / "fsx_csi_harness" / "csi"
GENERATED = ("csi_pb2.py", "csi_pb2.pyi", "csi_pb2_grpc.py", "csi_pb2_grpc.pyi")


def _run_generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness.csi.generate", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """A project root holding a copy of the proto and the committed bindings."""
    target = tmp_path / "fsx_csi_harness" / "csi"
    target.mkdir(parents=True)
    for name in ("csi.proto", *GENERATED):
        shutil.copy2(CSI_DIR / name, target / name)
    return tmp_path


# ---- drift ----


def test_committed_bindings_match_a_fresh_generation() -> None:
    result = _run_generate("--check")
    assert result.returncode == 0, result.stderr


def test_check_names_a_hand_edited_generated_file(tree_copy: Path) -> None:
    edited = tree_copy / "fsx_csi_harness" / "csi" / "csi_pb2_grpc.py"
    edited.write_text(edited.read_text() + "\n# edited by hand\n")

    result = _run_generate("--check", "--root", str(tree_copy))

    assert result.returncode == 1
    assert "csi_pb2_grpc.py" in result.stderr
    assert "csi_pb2.py," not in result.stderr  # untouched files are not reported


def test_check_fails_when_the_proto_changes_but_bindings_do_not(tree_copy: Path) -> None:
    proto = tree_copy / "fsx_csi_harness" / "csi" / "csi.proto"
    text = proto.read_text()
    assert "int64 limit_bytes = 2;" in text
    proto.write_text(text.replace("int64 limit_bytes = 2;", "int64 limit_bytes = 9;"))

    result = _run_generate("--check", "--root", str(tree_copy))

    assert result.returncode == 1
    assert "csi_pb2.py" in result.stderr


def test_check_fails_when_a_generated_file_is_missing(tree_copy: Path) -> None:
    (tree_copy / "fsx_csi_harness" / "csi" / "csi_pb2.pyi").unlink()

    result = _run_generate("--check", "--root", str(tree_copy))

    assert result.returncode == 1
    assert "csi_pb2.pyi" in result.stderr


# ---- wire facts ----


def _field_numbers(message: descriptor.Descriptor) -> dict[str, int]:
    return {field.name: field.number for field in message.fields}


def _enum_values(enum: descriptor.EnumDescriptor) -> dict[str, int]:
    return {value.name: value.number for value in enum.values}


def _all_messages() -> Iterator[descriptor.Descriptor]:
    pending = list(csi_pb2.DESCRIPTOR.message_types_by_name.values())
    while pending:
        message = pending.pop()
        yield message
        pending.extend(message.nested_types)


def test_package_and_go_package_match_upstream() -> None:
    file_descriptor = csi_pb2.DESCRIPTOR
    assert file_descriptor.package == "csi.v1"
    assert (
        file_descriptor.GetOptions().go_package
        == "github.com/container-storage-interface/spec/lib/go/csi"
    )


def test_create_volume_request_field_numbers() -> None:
    assert _field_numbers(csi_pb2.CreateVolumeRequest.DESCRIPTOR) == {
        "name": 1,
        "capacity_range": 2,
        "volume_capabilities": 3,
        "parameters": 4,
        "secrets": 5,
        "volume_content_source": 6,
        "accessibility_requirements": 7,
        "mutable_parameters": 8,
    }


def test_node_publish_and_stage_request_field_numbers() -> None:
    assert _field_numbers(csi_pb2.NodePublishVolumeRequest.DESCRIPTOR) == {
        "volume_id": 1,
        "publish_context": 2,
        "staging_target_path": 3,
        "target_path": 4,
        "volume_capability": 5,
        "readonly": 6,
        "secrets": 7,
        "volume_context": 8,
    }
    assert _field_numbers(csi_pb2.NodeStageVolumeRequest.DESCRIPTOR) == {
        "volume_id": 1,
        "publish_context": 2,
        "staging_target_path": 3,
        "volume_capability": 4,
        "secrets": 5,
        "volume_context": 6,
    }


def test_extension_numbers() -> None:
    extensions = csi_pb2.DESCRIPTOR.extensions_by_name
    assert extensions["csi_secret"].number == 1059
    for alpha in (
        "alpha_enum",
        "alpha_enum_value",
        "alpha_field",
        "alpha_message",
        "alpha_method",
        "alpha_service",
    ):
        assert extensions[alpha].number == 1060, alpha


def test_every_secrets_field_and_only_those_carry_csi_secret() -> None:
    marked = {
        (message.full_name, field.name)
        for message in _all_messages()
        for field in message.fields
        if field.GetOptions().Extensions[csi_pb2.csi_secret]
    }
    named_secrets = {
        (message.full_name, field.name)
        for message in _all_messages()
        for field in message.fields
        if field.name == "secrets"
    }
    assert marked == named_secrets
    assert {message for message, _ in marked} == {
        f"csi.v1.{name}"
        for name in (
            "CreateVolumeRequest",
            "DeleteVolumeRequest",
            "ControllerPublishVolumeRequest",
            "ControllerUnpublishVolumeRequest",
            "ValidateVolumeCapabilitiesRequest",
            "ControllerModifyVolumeRequest",
            "CreateSnapshotRequest",
            "DeleteSnapshotRequest",
            "ListSnapshotsRequest",
            "GetSnapshotRequest",
            "ControllerExpandVolumeRequest",
            "NodeStageVolumeRequest",
            "NodePublishVolumeRequest",
            "NodeExpandVolumeRequest",
            "CreateVolumeGroupSnapshotRequest",
            "DeleteVolumeGroupSnapshotRequest",
            "GetVolumeGroupSnapshotRequest",
            "GetMetadataAllocatedRequest",
            "GetMetadataDeltaRequest",
        )
    }


def test_node_expand_secrets_are_still_alpha_and_modify_volume_is_ga() -> None:
    node_expand_secrets = csi_pb2.NodeExpandVolumeRequest.DESCRIPTOR.fields_by_name["secrets"]
    assert node_expand_secrets.GetOptions().Extensions[csi_pb2.alpha_field]

    modify = csi_pb2.DESCRIPTOR.services_by_name["Controller"].methods_by_name[
        "ControllerModifyVolume"
    ]
    assert not modify.GetOptions().Extensions[csi_pb2.alpha_method]
    create_mutable = csi_pb2.CreateVolumeRequest.DESCRIPTOR.fields_by_name["mutable_parameters"]
    assert not create_mutable.GetOptions().Extensions[csi_pb2.alpha_field]


def test_access_modes() -> None:
    mode = csi_pb2.VolumeCapability.AccessMode.Mode
    assert _enum_values(mode.DESCRIPTOR) == {
        "UNKNOWN": 0,
        "SINGLE_NODE_WRITER": 1,
        "SINGLE_NODE_READER_ONLY": 2,
        "MULTI_NODE_READER_ONLY": 3,
        "MULTI_NODE_SINGLE_WRITER": 4,
        "MULTI_NODE_MULTI_WRITER": 5,
        "SINGLE_NODE_SINGLE_WRITER": 6,
        "SINGLE_NODE_MULTI_WRITER": 7,
    }
    single_writer = mode.DESCRIPTOR.values_by_name["SINGLE_NODE_SINGLE_WRITER"]
    assert single_writer.GetOptions().Extensions[csi_pb2.alpha_enum_value]


def test_services_and_methods() -> None:
    services = {
        name: [method.name for method in service.methods]
        for name, service in csi_pb2.DESCRIPTOR.services_by_name.items()
    }
    assert services == {
        "Identity": ["GetPluginInfo", "GetPluginCapabilities", "Probe"],
        "Controller": [
            "CreateVolume",
            "DeleteVolume",
            "ControllerPublishVolume",
            "ControllerUnpublishVolume",
            "ValidateVolumeCapabilities",
            "ListVolumes",
            "GetCapacity",
            "ControllerGetCapabilities",
            "CreateSnapshot",
            "DeleteSnapshot",
            "ListSnapshots",
            "GetSnapshot",
            "ControllerExpandVolume",
            "ControllerGetVolume",
            "ControllerModifyVolume",
        ],
        "GroupController": [
            "GroupControllerGetCapabilities",
            "CreateVolumeGroupSnapshot",
            "DeleteVolumeGroupSnapshot",
            "GetVolumeGroupSnapshot",
        ],
        "SnapshotMetadata": ["GetMetadataAllocated", "GetMetadataDelta"],
        "Node": [
            "NodeStageVolume",
            "NodeUnstageVolume",
            "NodePublishVolume",
            "NodeUnpublishVolume",
            "NodeGetVolumeStats",
            "NodeExpandVolume",
            "NodeGetCapabilities",
            "NodeGetInfo",
        ],
    }


def test_snapshot_metadata_is_alpha_and_server_streaming() -> None:
    service = csi_pb2.DESCRIPTOR.services_by_name["SnapshotMetadata"]
    assert service.GetOptions().Extensions[csi_pb2.alpha_service]
    for method in service.methods:
        assert method.server_streaming and not method.client_streaming, method.name
    allocated = service.methods_by_name["GetMetadataAllocated"]
    assert _field_numbers(allocated.input_type) == {
        "snapshot_id": 1,
        "starting_offset": 2,
        "max_results": 3,
        "secrets": 4,
    }


def test_controller_capability_types() -> None:
    rpc_type = csi_pb2.ControllerServiceCapability.RPC.Type
    assert _enum_values(rpc_type.DESCRIPTOR) == {
        "UNKNOWN": 0,
        "CREATE_DELETE_VOLUME": 1,
        "PUBLISH_UNPUBLISH_VOLUME": 2,
        "LIST_VOLUMES": 3,
        "GET_CAPACITY": 4,
        "CREATE_DELETE_SNAPSHOT": 5,
        "LIST_SNAPSHOTS": 6,
        "CLONE_VOLUME": 7,
        "PUBLISH_READONLY": 8,
        "EXPAND_VOLUME": 9,
        "LIST_VOLUMES_PUBLISHED_NODES": 10,
        "VOLUME_CONDITION": 11,
        "GET_VOLUME": 12,
        "SINGLE_NODE_MULTI_WRITER": 13,
        "MODIFY_VOLUME": 14,
        "GET_SNAPSHOT": 15,
    }


def test_node_and_plugin_capability_types() -> None:
    assert _enum_values(csi_pb2.NodeServiceCapability.RPC.Type.DESCRIPTOR) == {
        "UNKNOWN": 0,
        "STAGE_UNSTAGE_VOLUME": 1,
        "GET_VOLUME_STATS": 2,
        "EXPAND_VOLUME": 3,
        "VOLUME_CONDITION": 4,
        "SINGLE_NODE_MULTI_WRITER": 5,
        "VOLUME_MOUNT_GROUP": 6,
    }
    assert _enum_values(csi_pb2.PluginCapability.Service.Type.DESCRIPTOR) == {
        "UNKNOWN": 0,
        "CONTROLLER_SERVICE": 1,
        "VOLUME_ACCESSIBILITY_CONSTRAINTS": 2,
        "GROUP_CONTROLLER_SERVICE": 3,
        "SNAPSHOT_METADATA_SERVICE": 4,
    }


def test_a_message_survives_the_wire() -> None:
    request = csi_pb2.CreateVolumeRequest(
        name="pvc-1",
        capacity_range=csi_pb2.CapacityRange(required_bytes=1200 * 1024**3),
        secrets={"token": "s3cr3t"},
        mutable_parameters={"throughput": "250"},
    )
    decoded = csi_pb2.CreateVolumeRequest.FromString(request.SerializeToString())
    assert decoded == request
    # Field 1 (name), wire type 2 (length-delimited): tag byte 0x0a leads the encoding.
    assert request.SerializeToString()[:1] == b"\x0a"


# ---- a real gRPC round trip ----


class _FixedIdentity(csi_pb2_grpc.IdentityServicer):
    def GetPluginInfo(
        self, request: csi_pb2.GetPluginInfoRequest, context: grpc.ServicerContext
    ) -> csi_pb2.GetPluginInfoResponse:
        return csi_pb2.GetPluginInfoResponse(
            name="fsx.csi.test", vendor_version="0.0.1", manifest={"k": "v"}
        )

    # mypy-protobuf marks every servicer method abstract, so all three are defined.
    def GetPluginCapabilities(
        self, request: csi_pb2.GetPluginCapabilitiesRequest, context: grpc.ServicerContext
    ) -> csi_pb2.GetPluginCapabilitiesResponse:
        return csi_pb2.GetPluginCapabilitiesResponse()

    def Probe(
        self, request: csi_pb2.ProbeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ProbeResponse:
        return csi_pb2.ProbeResponse()


@pytest.fixture
def identity_channel() -> Iterator[grpc.Channel]:
    # A short directory: Unix socket paths are limited to about 107 bytes.
    socket_dir = Path(tempfile.mkdtemp(prefix="csi-"))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    csi_pb2_grpc.add_IdentityServicer_to_server(_FixedIdentity(), server)
    address = f"unix://{socket_dir / 'csi.sock'}"
    server.add_insecure_port(address)
    server.start()
    try:
        with grpc.insecure_channel(address) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            yield channel
    finally:
        server.stop(grace=None).wait(timeout=10)
        shutil.rmtree(socket_dir, ignore_errors=True)


def test_get_plugin_info_over_a_unix_socket(identity_channel: grpc.Channel) -> None:
    stub = csi_pb2_grpc.IdentityStub(identity_channel)
    response = stub.GetPluginInfo(csi_pb2.GetPluginInfoRequest(), timeout=10)
    assert response.name == "fsx.csi.test"
    assert response.vendor_version == "0.0.1"
    assert dict(response.manifest) == {"k": "v"}


def test_the_method_path_is_the_one_cos_call(identity_channel: grpc.Channel) -> None:
    # A CO written in Go calls this exact path; a wrong package or service name breaks it.
    call = identity_channel.unary_unary(
        "/csi.v1.Identity/GetPluginInfo",
        request_serializer=csi_pb2.GetPluginInfoRequest.SerializeToString,
        response_deserializer=csi_pb2.GetPluginInfoResponse.FromString,
    )
    assert call(csi_pb2.GetPluginInfoRequest(), timeout=10).name == "fsx.csi.test"


def test_a_service_not_served_answers_unimplemented(identity_channel: grpc.Channel) -> None:
    # A node-only plugin serves no Controller; a CO must see UNIMPLEMENTED, not a hang.
    stub = csi_pb2_grpc.ControllerStub(identity_channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.CreateVolume(csi_pb2.CreateVolumeRequest(name="v"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


# ---- the stubs type-check ----

_TYPED_USE = textwrap.dedent(
    """
    import grpc

    from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc


    def make_request() -> csi_pb2.CreateVolumeRequest:
        mode = csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_MULTI_WRITER
        capability = csi_pb2.VolumeCapability(
            mount=csi_pb2.VolumeCapability.MountVolume(fs_type="lustre"),
            access_mode=csi_pb2.VolumeCapability.AccessMode(mode=mode),
        )
        request = csi_pb2.CreateVolumeRequest(name="v", volume_capabilities=[capability])
        request.secrets["key"] = "value"
        return request


    class PartialIdentity(csi_pb2_grpc.IdentityServicer):
        def Probe(
            self, request: csi_pb2.ProbeRequest, context: grpc.ServicerContext
        ) -> csi_pb2.ProbeResponse:
            return csi_pb2.ProbeResponse()


    def plugin_name(channel: grpc.Channel) -> str:
        stub = csi_pb2_grpc.IdentityStub(channel)
        return stub.GetPluginInfo(csi_pb2.GetPluginInfoRequest()).name
    """
)
_MISTYPED_USE = (
    "\nrequired: str = make_request().capacity_range.required_bytes\n"
    "# Servicer methods are abstract in the stubs: a partial servicer cannot be built.\n"
    "partial = PartialIdentity()\n"
)


@pytest.mark.slow
def test_stubs_type_check_under_mypy_strict(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    good = tmp_path / "typed_use.py"
    good.write_text(_TYPED_USE)
    bad = tmp_path / "mistyped_use.py"
    bad.write_text(_TYPED_USE + _MISTYPED_USE)
    common = ["--strict", "--no-incremental", "--config-file", str(tmp_path / "none.ini")]
    (tmp_path / "none.ini").write_text("[mypy]\n")

    stdout, stderr, status = api.run([*common, str(good)])
    assert status == 0, stdout + stderr

    # The stubs must be precise enough to reject a wrong type, not just importable.
    stdout, _, status = api.run([*common, str(bad)])
    assert status == 1
    assert "mistyped_use.py" in stdout
    assert "[assignment]" in stdout
    assert "[abstract]" in stdout
