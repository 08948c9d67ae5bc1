"""Reliability against the FSx emulator: duplicates, crashes, a flaky API and no API at all."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from fsx_csi_harness.csi import csi_pb2
from reference_driver.process import DriverProcess
from reference_driver.server import build_server
from tests.reference_driver.conftest import (
    AWS_TEST_ENV,
    Csi,
    EmulatedDriver,
    create_request,
    emulated_config,
    live_file_systems,
    rpc_error,
)


def test_twenty_concurrent_creates_of_one_name_make_one_file_system(
    emulated_driver: EmulatedDriver,
) -> None:
    csi = emulated_driver.csi

    def create(_: int) -> str:
        try:
            return csi.controller.CreateVolume(create_request("pvc-herd")).volume.volume_id
        except grpc.RpcError as exc:
            code = exc.code()
            assert code == grpc.StatusCode.ABORTED, exc
            return "ABORTED"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(create, range(20)))
    file_systems = emulated_driver.emulator.control.file_systems()
    assert len(file_systems) == 1
    volume_ids = {o for o in outcomes if o != "ABORTED"}
    assert volume_ids == {file_systems[0]["FileSystemId"]}


def test_sigkill_while_waiting_then_retry_returns_the_same_file_system(
    emulator: Any, emulation_root: Path, short_dir: Path
) -> None:
    emulator.control.set_creation_delay(2.0)
    socket_path = short_dir / "csi.sock"
    args = [
        "--node-id", "node-1", "--aws-endpoint-url", emulator.endpoint_url,
        "--mounter", "emulated", "--emulation-root", str(emulation_root),
    ]  # fmt: skip
    with (
        DriverProcess(socket_path, args, env=AWS_TEST_ENV) as first,
        grpc.insecure_channel(first.address) as channel,
    ):
        future = Csi(channel).controller.CreateVolume.future(create_request("pvc-crash"))
        deadline = 100
        while not emulator.control.file_systems() and deadline:
            grpc_wait(0.05)
            deadline -= 1
        first.kill()  # while CreateVolume waits for AVAILABLE
        try:
            future.result(timeout=5)
            raise AssertionError("the call should die with the driver")
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE
    (created,) = emulator.control.file_systems()
    assert socket_path.exists()  # SIGKILL leaves the socket; the restart replaces it
    with (
        DriverProcess(socket_path, args, env=AWS_TEST_ENV) as second,
        grpc.insecure_channel(second.address) as channel,
    ):
        volume = Csi(channel).controller.CreateVolume(create_request("pvc-crash"), timeout=20)
    assert volume.volume.volume_id == created["FileSystemId"]
    assert len(emulator.control.file_systems()) == 1


def grpc_wait(seconds: float) -> None:
    import threading

    threading.Event().wait(seconds)


def test_create_and_delete_complete_while_every_other_call_fails(
    emulator: Any, emulation_root: Path, short_dir: Path
) -> None:
    emulator.control.set_creation_delay(0.1)
    emulator.control.inject_fault("*", "throttle", every=2)
    server = build_server(emulated_config(short_dir, emulator, emulation_root))
    with server, grpc.insecure_channel(server.address) as channel:
        csi = Csi(channel)
        volume = csi.controller.CreateVolume(create_request("pvc-flaky"), timeout=30).volume
        emulator.control.clear_faults()
        emulator.control.inject_fault("*", "server_error", every=2)
        csi.controller.DeleteVolume(
            csi_pb2.DeleteVolumeRequest(volume_id=volume.volume_id), timeout=30
        )
    emulator.control.clear_faults()
    assert live_file_systems(emulator) == []


def test_emulator_down_gives_unavailable_and_leaks_nothing(
    emulator: Any, emulation_root: Path, short_dir: Path
) -> None:
    from fsx_emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(), host="127.0.0.1", port=0) as doomed:
        down_url = doomed.endpoint_url
    config = emulated_config(
        short_dir, emulator, emulation_root, aws_endpoint_url=down_url, aws_max_attempts=2
    )
    server = build_server(config)
    with server, grpc.insecure_channel(server.address) as channel:
        csi = Csi(channel)
        create = rpc_error(csi.controller.CreateVolume, create_request("pvc-down"), timeout=30)
        delete = rpc_error(
            csi.controller.DeleteVolume,
            csi_pb2.DeleteVolumeRequest(volume_id="fs-0123456789abcdef0"),
            timeout=30,
        )
        for failure in (create, delete):
            assert failure.code() == grpc.StatusCode.UNAVAILABLE, failure
            assert "could not reach the FSx API" in failure.details()
        probe = csi.identity.Probe(csi_pb2.ProbeRequest())
        assert probe.ready.value is False
    assert emulator.control.file_systems() == []
