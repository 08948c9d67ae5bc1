"""The driver against the FSx emulator over HTTP, with real (emulated-Lustre) bind mounts.

In-process drivers are built by `build_server` with production wiring (boto3 client, emulated
mounter); the process tests run `python -m fsx_csi_harness driver` itself.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import grpc
import pytest

from fsx_csi_harness import mountinfo
from fsx_csi_harness.csi import csi_pb2
from fsx_csi_harness.fsx import GIB
from reference_driver.process import DriverProcess
from tests.reference_driver.conftest import (
    AWS_TEST_ENV,
    PERSISTENT_2,
    Csi,
    EmulatedDriver,
    create_request,
    live_file_systems,
    mount_capability,
    needs_root,
    rpc_error,
)

AccessMode = csi_pb2.VolumeCapability.AccessMode


def publish(csi: Csi, volume: csi_pb2.Volume, target: Path, *, readonly: bool = False) -> None:
    csi.node.NodePublishVolume(
        csi_pb2.NodePublishVolumeRequest(
            volume_id=volume.volume_id,
            target_path=str(target),
            volume_capability=mount_capability(),
            volume_context=volume.volume_context,
            readonly=readonly,
        )
    )


def unpublish(csi: Csi, volume_id: str, target: Path) -> None:
    csi.node.NodeUnpublishVolume(
        csi_pb2.NodeUnpublishVolumeRequest(volume_id=volume_id, target_path=str(target))
    )


def is_mount_point(path: Path) -> bool:
    return mountinfo.mount_at(mountinfo.read(), str(path)) is not None


@needs_root
def test_volume_lifecycle_with_real_bind_mounts(
    emulated_driver: EmulatedDriver,
) -> None:
    csi = emulated_driver.csi
    volume = csi.controller.CreateVolume(create_request("pvc-life", required_gib=1300)).volume
    assert volume.capacity_bytes == 2400 * GIB
    targets = emulated_driver.targets
    writer, reader = targets / "pod-a" / "vol", targets / "pod-b" / "vol"
    try:
        publish(csi, volume, writer)
        publish(csi, volume, writer)  # idempotent
        publish(csi, volume, reader, readonly=True)
        assert is_mount_point(writer) and is_mount_point(reader)
        (writer / "hello.txt").write_text("from pod a")
        # ReadWriteMany for real: the other mount sees the data, and cannot write.
        assert (reader / "hello.txt").read_text() == "from pod a"
        with pytest.raises(OSError) as caught:
            (reader / "nope.txt").write_text("x")
        assert caught.value.errno == errno.EROFS
        stats = csi.node.NodeGetVolumeStats(
            csi_pb2.NodeGetVolumeStatsRequest(volume_id=volume.volume_id, volume_path=str(writer))
        )
        assert stats.usage[0].total > 0 and not stats.volume_condition.abnormal
        not_that_volume = csi_pb2.NodeGetVolumeStatsRequest(
            volume_id="fs-0123456789abcdef0", volume_path=str(writer)
        )
        assert rpc_error(csi.node.NodeGetVolumeStats, not_that_volume).code() == (
            grpc.StatusCode.NOT_FOUND
        )
    finally:
        unpublish(csi, volume.volume_id, writer)
        unpublish(csi, volume.volume_id, reader)
    assert not writer.exists() and not reader.exists()
    unpublish(csi, volume.volume_id, writer)  # idempotent
    csi.controller.DeleteVolume(csi_pb2.DeleteVolumeRequest(volume_id=volume.volume_id))
    csi.controller.DeleteVolume(csi_pb2.DeleteVolumeRequest(volume_id=volume.volume_id))
    assert live_file_systems(emulated_driver.emulator) == []
    # The emulator removed the file system's directory: mounting now fails like Lustre.
    target = targets / "after-delete"
    error = rpc_error(publish, csi, volume, target)
    assert "failed: No such file or directory" in error.details()
    assert "unknown or not AVAILABLE" in error.details()
    assert not target.exists()


@needs_root
def test_unpublish_unmounts_every_layer_of_the_volume_and_no_other(
    emulated_driver: EmulatedDriver,
) -> None:
    # After each unmount the driver tries rmdir instead of reading the mount table again: the
    # kernel's EBUSY must send it back to the table while a layer is left, its own or not.
    csi = emulated_driver.csi
    volume = csi.controller.CreateVolume(create_request("pvc-layers")).volume
    targets = emulated_driver.targets
    stacked, over_foreign = targets / "stacked", targets / "over-foreign"
    try:
        publish(csi, volume, stacked)
        subprocess.run(["mount", "--bind", str(stacked), str(stacked)], check=True)
        assert len([e for e in mountinfo.read() if e.mount_point == str(stacked)]) == 2
        unpublish(csi, volume.volume_id, stacked)
        assert not stacked.exists() and not is_mount_point(stacked)
        # The volume over something else: its layer goes, the other one stays, and it says so.
        publish(csi, volume, stacked)
        over_foreign.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "other-fs", str(over_foreign)], check=True)
        subprocess.run(["mount", "--bind", str(stacked), str(over_foreign)], check=True)
        error = rpc_error(unpublish, csi, volume.volume_id, over_foreign)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "tmpfs other-fs" in error.details() and "refusing to unmount" in error.details()
        entry = mountinfo.mount_at(mountinfo.read(), str(over_foreign))
        assert entry is not None and entry.source == "other-fs"
    finally:
        for path in (over_foreign, stacked):
            while is_mount_point(path):
                subprocess.run(["umount", str(path)], check=True)
    unpublish(csi, volume.volume_id, over_foreign)
    assert not over_foreign.exists()


@needs_root
def test_mounting_a_file_system_that_is_not_available_leaves_nothing_behind(
    emulated_driver: EmulatedDriver,
) -> None:
    fake = csi_pb2.Volume(
        volume_id="fs-0aaaaaaaaaaaaaaaa",
        volume_context={
            "dnsname": "fs-0aaaaaaaaaaaaaaaa.fsx.us-east-1.amazonaws.com",
            "mountname": "abcdefgh",
        },
    )
    target = emulated_driver.targets / "deep" / "target"
    error = rpc_error(publish, emulated_driver.csi, fake, target)
    assert "fs-0aaaaaaaaaaaaaaaa.fsx.us-east-1.amazonaws.com@tcp:/abcdefgh" in error.details()
    assert not (emulated_driver.targets / "deep").exists()


def test_expansion_against_the_emulator(emulated_driver: EmulatedDriver) -> None:
    csi = emulated_driver.csi
    volume = csi.controller.CreateVolume(create_request("pvc-grow")).volume
    answer = csi.controller.ControllerExpandVolume(
        csi_pb2.ControllerExpandVolumeRequest(
            volume_id=volume.volume_id,
            capacity_range=csi_pb2.CapacityRange(required_bytes=3000 * GIB),
        )
    )
    assert answer.capacity_bytes == 4800 * GIB
    (fs,) = live_file_systems(emulated_driver.emulator)
    assert fs["AdministrativeActions"][0]["TargetFileSystemValues"]["StorageCapacity"] == 4800


def test_data_repository_associations_against_the_emulator(
    emulated_driver: EmulatedDriver,
) -> None:
    import boto3

    parameters = {
        **PERSISTENT_2,
        "dataRepositoryAssociations": "/data=s3://training-bucket/data",
        "dataRepositoryAutoExportEvents": "NEW,CHANGED",
    }
    csi = emulated_driver.csi
    volume = csi.controller.CreateVolume(create_request("pvc-dra", parameters)).volume
    fsx = boto3.client(
        "fsx", endpoint_url=emulated_driver.emulator.endpoint_url, region_name="us-east-1"
    )
    associations = fsx.describe_data_repository_associations(
        Filters=[{"Name": "file-system-id", "Values": [volume.volume_id]}]
    )["Associations"]
    assert [(a["FileSystemPath"], a["Lifecycle"]) for a in associations] == [("/data", "AVAILABLE")]
    assert associations[0]["S3"]["AutoExportPolicy"]["Events"] == ["NEW", "CHANGED"]


def test_validation_errors_come_from_the_driver_not_from_aws(
    emulated_driver: EmulatedDriver,
) -> None:
    error = rpc_error(
        emulated_driver.csi.controller.CreateVolume,
        create_request("pvc-bad", {**PERSISTENT_2, "perUnitStorageThroughput": "200"}),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "125, 250, 500, 1000" in error.details()
    assert live_file_systems(emulated_driver.emulator) == []


# The driver as a process -------------------------------------------------------------------


def driver_args(emulator: Any, root: Path, *extra: str) -> list[str]:
    return [
        "--mode",
        "all",
        "--node-id",
        "node-1",
        "--aws-endpoint-url",
        emulator.endpoint_url,
        *extra,
    ]


def test_process_socket_is_owner_only_and_a_stale_socket_is_replaced(
    emulator: Any, emulation_root: Path, short_dir: Path
) -> None:
    import socket

    socket_path = short_dir / "csi.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(socket_path))
    stale.close()  # a socket file nobody listens on, as a killed driver leaves it
    with DriverProcess(
        socket_path, driver_args(emulator, emulation_root), env=AWS_TEST_ENV
    ) as driver:
        assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
        # The 2 s target is measured by benchmarks/driver_bench.py on a quiet machine; here
        # only a bound that a loaded CI runner meets.
        assert driver.ready_after < 10.0, driver.logs()
        # A second driver on the same live socket refuses to start.
        second = subprocess.run(
            DriverProcess(socket_path, driver_args(emulator, emulation_root)).argv,
            env={**os.environ, **AWS_TEST_ENV},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2
        assert "served by another running process" in second.stderr
        assert driver.terminate() == 0
    assert not socket_path.exists()


def test_sigterm_lets_the_call_in_flight_finish(
    emulator: Any, emulation_root: Path, short_dir: Path
) -> None:
    emulator.control.set_creation_delay(1.0)
    socket_path = short_dir / "csi.sock"
    with (
        DriverProcess(
            socket_path, driver_args(emulator, emulation_root), env=AWS_TEST_ENV
        ) as driver,
        grpc.insecure_channel(driver.address) as channel,
    ):
        future = Csi(channel).controller.CreateVolume.future(create_request("pvc-term"))
        threading.Event().wait(0.4)  # the call is waiting for AVAILABLE now
        assert driver.process is not None
        driver.process.send_signal(15)
        volume = future.result(timeout=10).volume
        assert volume.volume_id.startswith("fs-")
        assert driver.terminate() == 0
        assert "driver stopped" in driver.logs()
    assert not socket_path.exists()


def test_reflection_lists_the_csi_services(
    emulator: Any, emulation_root: Path, short_dir: Path
) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with (
        DriverProcess(
            short_dir / "csi.sock", driver_args(emulator, emulation_root), env=AWS_TEST_ENV
        ) as driver,
        grpc.insecure_channel(driver.address) as channel,
    ):
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (answer,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
        names = {s.name for s in answer.list_services_response.service}
    assert {"csi.v1.Identity", "csi.v1.Controller", "csi.v1.Node"} <= names


def test_json_logs_carry_one_line_per_rpc(
    emulator: Any, emulation_root: Path, short_dir: Path
) -> None:
    import json

    args = driver_args(emulator, emulation_root, "--log-format", "json")
    with (
        DriverProcess(short_dir / "csi.sock", args, env=AWS_TEST_ENV) as driver,
        grpc.insecure_channel(driver.address) as channel,
    ):
        request = create_request("pvc-json", secrets={"token": "s3cr3t-value"})
        Csi(channel).controller.CreateVolume(request)
        driver.terminate()
        lines = [json.loads(line) for line in driver.logs().splitlines() if line.startswith("{")]
    rpc = [line for line in lines if line["msg"] == "rpc" and line["method"] == "CreateVolume"]
    assert len(rpc) == 1
    assert rpc[0]["volume_name"] == "pvc-json" and rpc[0]["code"] == "OK"
    assert all("s3cr3t-value" not in json.dumps(line) for line in lines)


def test_emulation_root_permissions_are_not_touched(emulation_root: Path) -> None:
    assert os.access(emulation_root, os.W_OK)
