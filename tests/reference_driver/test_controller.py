"""Controller and identity over real gRPC (Unix socket), with the in-memory FSx fake."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import grpc
import pytest

from fsx_csi_harness.csi import csi_pb2
from fsx_csi_harness.fsx import GIB
from reference_driver.config import Mode
from reference_driver.logs import JsonFormatter
from reference_driver.server import build_server
from tests.reference_driver.conftest import (
    PERSISTENT_2,
    Csi,
    InProcessDriver,
    create_request,
    driver_config,
    mount_capability,
    rpc_error,
)
from tests.reference_driver.fakes import FakeFsxApi, Fault

AccessMode = csi_pb2.VolumeCapability.AccessMode


def test_plugin_info_capabilities_and_probe(driver: InProcessDriver) -> None:
    from fsx_csi_harness import __version__

    info = driver.csi.identity.GetPluginInfo(csi_pb2.GetPluginInfoRequest())
    assert (info.name, info.vendor_version) == ("fsx.csi.aws.com", __version__)
    caps = driver.csi.identity.GetPluginCapabilities(csi_pb2.GetPluginCapabilitiesRequest())
    kinds = {c.WhichOneof("type") for c in caps.capabilities}
    assert kinds == {"service", "volume_expansion"}
    assert driver.csi.identity.Probe(csi_pb2.ProbeRequest()).ready.value is True


def test_probe_is_not_ready_while_the_fsx_api_fails(short_dir: Path) -> None:
    fsx = FakeFsxApi()
    fsx.inject_fault(
        "DescribeFileSystems", Fault("InternalServerError", http_status=500, remaining=None)
    )
    server = build_server(driver_config(short_dir, mode=Mode.CONTROLLER), fsx_client=fsx)
    with server, grpc.insecure_channel(server.address) as channel:
        probe = Csi(channel).identity.Probe(csi_pb2.ProbeRequest())
    assert probe.ready.value is False
    assert server.identity.last_probe_problem is not None
    assert "InternalServerError" in server.identity.last_probe_problem


def test_create_volume_returns_dns_and_mount_name(driver: InProcessDriver) -> None:
    volume = driver.csi.controller.CreateVolume(create_request("pvc-a", required_gib=1300)).volume
    assert volume.volume_id.startswith("fs-")
    assert volume.capacity_bytes == 2400 * GIB
    assert volume.volume_context["dnsname"] == f"{volume.volume_id}.fsx.us-east-1.amazonaws.com"
    assert len(volume.volume_context["mountname"]) == 8
    created = driver.fsx.calls_of("CreateFileSystem")[0]
    assert {"Key": "CSIVolumeName", "Value": "pvc-a"} in created["Tags"]
    assert created["ClientRequestToken"].startswith("csi-pvc-a-")


def test_create_volume_is_idempotent_and_finds_by_tag_after_restart(
    driver: InProcessDriver, short_dir: Path
) -> None:
    first = driver.csi.controller.CreateVolume(create_request("pvc-b")).volume
    again = driver.csi.controller.CreateVolume(create_request("pvc-b")).volume
    assert again.volume_id == first.volume_id
    # A new driver process knows nothing; the tag lookup finds the file system.
    restarted_dir = short_dir / "restarted"
    restarted_dir.mkdir()
    server = build_server(driver_config(restarted_dir), fsx_client=driver.fsx)
    with server, grpc.insecure_channel(server.address) as channel:
        third = Csi(channel).controller.CreateVolume(create_request("pvc-b")).volume
    assert third.volume_id == first.volume_id
    assert len(driver.fsx.file_system_ids()) == 1
    assert len(driver.fsx.calls_of("CreateFileSystem")) == 1


def test_same_name_with_another_size_is_already_exists(driver: InProcessDriver) -> None:
    driver.csi.controller.CreateVolume(create_request("pvc-c", required_gib=1200))
    error = rpc_error(
        driver.csi.controller.CreateVolume, create_request("pvc-c", required_gib=3000)
    )
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "1200 GiB" in error.details() and "4800 GiB" in error.details()


def test_invalid_parameters_and_requests_are_invalid_argument(driver: InProcessDriver) -> None:
    controller = driver.csi.controller
    error = rpc_error(
        controller.CreateVolume, create_request("v", {**PERSISTENT_2, "deploymentType": "X"})
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "deploymentType" in error.details()
    assert (
        rpc_error(controller.CreateVolume, create_request("")).code()
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    no_caps = csi_pb2.CreateVolumeRequest(name="v", parameters=PERSISTENT_2)
    assert "volume_capabilities" in rpc_error(controller.CreateVolume, no_caps).details()
    block = csi_pb2.CreateVolumeRequest(
        name="v",
        parameters=PERSISTENT_2,
        volume_capabilities=[
            csi_pb2.VolumeCapability(
                block=csi_pb2.VolumeCapability.BlockVolume(),
                access_mode=AccessMode(mode=AccessMode.SINGLE_NODE_WRITER),
            )
        ],
    )
    assert "block" in rpc_error(controller.CreateVolume, block).details()
    too_long = create_request("x" * 129)
    assert rpc_error(controller.CreateVolume, too_long).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert driver.fsx.calls_of("CreateFileSystem") == []


def test_limit_below_rounded_size_is_out_of_range(driver: InProcessDriver) -> None:
    request = create_request("pvc-d", required_gib=1300)
    request.capacity_range.limit_bytes = 2000 * GIB
    assert (
        rpc_error(driver.csi.controller.CreateVolume, request).code()
        == grpc.StatusCode.OUT_OF_RANGE
    )


def test_concurrent_duplicate_gets_aborted(short_dir: Path) -> None:
    fsx = FakeFsxApi(creation_delay=0.5)
    server = build_server(driver_config(short_dir), fsx_client=fsx)
    with server, grpc.insecure_channel(server.address) as channel:
        csi = Csi(channel)
        results: list[object] = []
        first = threading.Thread(
            target=lambda: results.append(csi.controller.CreateVolume(create_request("pvc-e")))
        )
        first.start()
        try:
            # Wait until the first call holds the name (its file system is CREATING).
            deadline = 50
            while not fsx.calls_of("CreateFileSystem") and deadline:
                threading.Event().wait(0.02)
                deadline -= 1
            error = rpc_error(csi.controller.CreateVolume, create_request("pvc-e"))
            assert error.code() == grpc.StatusCode.ABORTED
            assert "already in progress" in error.details()
        finally:
            first.join()
    assert len(results) == 1 and len(fsx.file_system_ids()) == 1


def test_still_creating_at_the_deadline_then_the_retry_resumes(short_dir: Path) -> None:
    fsx = FakeFsxApi(creation_delay=1.0)
    server = build_server(driver_config(short_dir, create_timeout=0.3), fsx_client=fsx)
    with server, grpc.insecure_channel(server.address) as channel:
        csi = Csi(channel)
        error = rpc_error(csi.controller.CreateVolume, create_request("pvc-f"))
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "CREATING" in error.details() and "--create-timeout" in error.details()
        # The RPC deadline bounds the wait as well.
        error = rpc_error(csi.controller.CreateVolume, create_request("pvc-f"), timeout=0.4)
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    server = build_server(driver_config(short_dir, create_timeout=5), fsx_client=fsx)
    with server, grpc.insecure_channel(server.address) as channel:
        volume = Csi(channel).controller.CreateVolume(create_request("pvc-f")).volume
    assert fsx.file_system_ids() == [volume.volume_id]


def test_failed_creation_carries_failure_details(driver: InProcessDriver) -> None:
    driver.fsx.fail_next_creation("The subnet ran out of IP addresses.")
    error = rpc_error(driver.csi.controller.CreateVolume, create_request("pvc-g"))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "ran out of IP addresses" in error.details()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ServiceLimitExceeded", 400, grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("ThrottlingException", 400, grpc.StatusCode.UNAVAILABLE),
        ("InvalidNetworkSettings", 400, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_aws_errors_reach_the_caller_through_the_table(
    driver: InProcessDriver, code: str, status: int, expected: grpc.StatusCode
) -> None:
    driver.fsx.inject_fault("CreateFileSystem", Fault(code, http_status=status))
    error = rpc_error(driver.csi.controller.CreateVolume, create_request("pvc-h"))
    assert error.code() == expected
    assert code in error.details()


def test_delete_volume_is_idempotent(driver: InProcessDriver) -> None:
    volume = driver.csi.controller.CreateVolume(create_request("pvc-i")).volume
    delete = csi_pb2.DeleteVolumeRequest(volume_id=volume.volume_id)
    driver.csi.controller.DeleteVolume(delete)
    driver.csi.controller.DeleteVolume(delete)
    assert driver.fsx.file_system_ids() == []
    driver.csi.controller.DeleteVolume(csi_pb2.DeleteVolumeRequest(volume_id="not-an-fsx-id"))
    driver.csi.controller.DeleteVolume(
        csi_pb2.DeleteVolumeRequest(volume_id="fs-0000000000000000a")
    )
    empty = csi_pb2.DeleteVolumeRequest()
    assert (
        rpc_error(driver.csi.controller.DeleteVolume, empty).code()
        == grpc.StatusCode.INVALID_ARGUMENT
    )


def test_delete_waits_for_a_creating_file_system(short_dir: Path) -> None:
    fsx = FakeFsxApi(creation_delay=0.3)
    server = build_server(driver_config(short_dir, create_timeout=0.1), fsx_client=fsx)
    with server, grpc.insecure_channel(server.address) as channel:
        csi = Csi(channel)
        rpc_error(csi.controller.CreateVolume, create_request("pvc-j"))
        (fs_id,) = fsx.file_system_ids()
    server = build_server(driver_config(short_dir), fsx_client=fsx)
    with server, grpc.insecure_channel(server.address) as channel:
        Csi(channel).controller.DeleteVolume(csi_pb2.DeleteVolumeRequest(volume_id=fs_id))
    assert fsx.file_system_ids() == []


def test_validate_volume_capabilities(driver: InProcessDriver) -> None:
    volume = driver.csi.controller.CreateVolume(create_request("pvc-k")).volume
    validate = driver.csi.controller.ValidateVolumeCapabilities
    request = csi_pb2.ValidateVolumeCapabilitiesRequest(
        volume_id=volume.volume_id,
        volume_capabilities=[mount_capability(AccessMode.MULTI_NODE_READER_ONLY)],
    )
    assert validate(request).confirmed.volume_capabilities == request.volume_capabilities
    request.volume_capabilities[0].access_mode.mode = AccessMode.MULTI_NODE_SINGLE_WRITER
    answer = validate(request)
    assert not answer.HasField("confirmed") and "MULTI_NODE_SINGLE_WRITER" in answer.message
    request.volume_id = "fs-00000000000000000"
    assert rpc_error(validate, request).code() == grpc.StatusCode.NOT_FOUND
    request.volume_id = "bogus"
    assert rpc_error(validate, request).code() == grpc.StatusCode.NOT_FOUND


def test_controller_capabilities(driver: InProcessDriver) -> None:
    caps = driver.csi.controller.ControllerGetCapabilities(
        csi_pb2.ControllerGetCapabilitiesRequest()
    )
    RPC = csi_pb2.ControllerServiceCapability.RPC
    assert {c.rpc.type for c in caps.capabilities} == {
        RPC.CREATE_DELETE_VOLUME,
        RPC.EXPAND_VOLUME,
        RPC.SINGLE_NODE_MULTI_WRITER,
        RPC.MODIFY_VOLUME,
    }
    error = rpc_error(driver.csi.controller.ListVolumes, csi_pb2.ListVolumesRequest())
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


def test_expand_volume_rounds_with_the_file_system_rules(driver: InProcessDriver) -> None:
    volume = driver.csi.controller.CreateVolume(create_request("pvc-l")).volume
    expand = driver.csi.controller.ControllerExpandVolume
    answer = expand(
        csi_pb2.ControllerExpandVolumeRequest(
            volume_id=volume.volume_id,
            capacity_range=csi_pb2.CapacityRange(required_bytes=1500 * GIB),
        )
    )
    assert answer.capacity_bytes == 2400 * GIB and not answer.node_expansion_required
    update = driver.fsx.calls_of("UpdateFileSystem")[0]
    assert update["StorageCapacity"] == 2400
    # Asking for less than the file system has is a no-op.
    smaller = expand(
        csi_pb2.ControllerExpandVolumeRequest(
            volume_id=volume.volume_id,
            capacity_range=csi_pb2.CapacityRange(required_bytes=100 * GIB),
        )
    )
    assert smaller.capacity_bytes == 2400 * GIB
    assert len(driver.fsx.calls_of("UpdateFileSystem")) == 1
    too_big = csi_pb2.ControllerExpandVolumeRequest(
        volume_id=volume.volume_id,
        capacity_range=csi_pb2.CapacityRange(required_bytes=2500 * GIB, limit_bytes=3000 * GIB),
    )
    assert rpc_error(expand, too_big).code() == grpc.StatusCode.OUT_OF_RANGE
    missing = csi_pb2.ControllerExpandVolumeRequest(
        volume_id="fs-00000000000000000", capacity_range=csi_pb2.CapacityRange(required_bytes=1)
    )
    assert rpc_error(expand, missing).code() == grpc.StatusCode.NOT_FOUND


def test_expand_tolerates_an_update_to_the_same_size_already_running(short_dir: Path) -> None:
    fsx = FakeFsxApi(update_delay=0.3)
    server = build_server(driver_config(short_dir, create_timeout=0.1), fsx_client=fsx)

    def request_for(vid: str) -> csi_pb2.ControllerExpandVolumeRequest:
        return csi_pb2.ControllerExpandVolumeRequest(
            volume_id=vid, capacity_range=csi_pb2.CapacityRange(required_bytes=2400 * GIB)
        )

    with server, grpc.insecure_channel(server.address) as channel:
        csi = Csi(channel)
        vid = csi.controller.CreateVolume(create_request("pvc-m")).volume.volume_id
        first = rpc_error(csi.controller.ControllerExpandVolume, request_for(vid))
        assert first.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    server = build_server(driver_config(short_dir), fsx_client=fsx)
    with server, grpc.insecure_channel(server.address) as channel:
        answer = Csi(channel).controller.ControllerExpandVolume(request_for(vid))
    assert answer.capacity_bytes == 2400 * GIB
    assert len(fsx.calls_of("UpdateFileSystem")) == 2  # the second was refused as in progress


def test_data_repository_associations_are_created_once(driver: InProcessDriver) -> None:
    parameters = {
        **PERSISTENT_2,
        "dataRepositoryAssociations": "/data=s3://bucket/data;/logs=s3://bucket/logs",
        "dataRepositoryAutoImportEvents": "NEW,CHANGED,DELETED",
    }
    driver.csi.controller.CreateVolume(create_request("pvc-n", parameters))
    driver.csi.controller.CreateVolume(create_request("pvc-n", parameters))
    calls = driver.fsx.calls_of("CreateDataRepositoryAssociation")
    assert sorted(c["FileSystemPath"] for c in calls) == ["/data", "/logs"]
    assert calls[0]["S3"] == {"AutoImportPolicy": {"Events": ["NEW", "CHANGED", "DELETED"]}}


def test_one_log_line_per_rpc_without_secrets(
    driver: InProcessDriver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reference_driver")
    request = create_request("pvc-o", secrets={"password": "hunter2-secret"})
    driver.csi.controller.CreateVolume(request)
    rpc_lines = [r for r in caplog.records if r.name == "reference_driver.rpc" and r.msg == "rpc"]
    assert len(rpc_lines) == 1
    fields = rpc_lines[0].fields  # type: ignore[attr-defined]
    assert fields["method"] == "CreateVolume"
    assert fields["volume_name"] == "pvc-o"
    assert fields["code"] == "OK" and fields["duration_ms"] >= 0
    rendered = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "hunter2-secret" not in rendered
    assert "***stripped***" in rendered  # the debug request line shows the field, redacted
    driver.csi.identity.Probe(csi_pb2.ProbeRequest())
    probe_lines = [r for r in caplog.records if getattr(r, "fields", {}).get("method") == "Probe"]
    assert probe_lines and all(r.levelno == logging.DEBUG for r in probe_lines)


def test_expanding_a_scratch_1_volume_is_refused_as_fsx_refuses_it(
    driver: InProcessDriver,
) -> None:
    # FSx cannot grow SCRATCH_1 storage (fsx.GROWABLE_DEPLOYMENT_TYPES); the fake says so too.
    volume = driver.csi.controller.CreateVolume(
        create_request("pvc-scratch-1", {"subnetId": "subnet-0123456789abcdef0"})
    ).volume
    error = rpc_error(
        driver.csi.controller.ControllerExpandVolume,
        csi_pb2.ControllerExpandVolumeRequest(
            volume_id=volume.volume_id,
            capacity_range=csi_pb2.CapacityRange(required_bytes=2400 * GIB),
        ),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "SCRATCH_1" in (error.details() or "")
