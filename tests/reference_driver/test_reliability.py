"""Reliability against the FSx emulator: duplicates, crashes, a flaky API and no API at all.

The duplicate tests close the emulator's ClientRequestToken window early (as AWS's closes), so
a driver that trusted the token alone would create a second file system and fail them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import grpc

from fsx_csi_harness.csi import csi_pb2
from fsx_emulator.config import STRICT_RATE_LIMITS, RateLimit
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
    emulated_driver.emulator.control.set_token_ttl(0.05)
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
    # Shorter than a driver restart: the retry's token has expired, only the tag finds it.
    emulator.control.set_token_ttl(0.2)
    socket_path = short_dir / "csi.sock"
    args = [
        "--node-id", "node-1", "--aws-endpoint-url", emulator.endpoint_url,
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


def test_a_retry_after_the_token_window_finds_the_file_system_by_tag_across_pages(
    emulator: Any, emulation_root: Path, short_dir: Path
) -> None:
    """The upstream bug (PR #453): a provisioner retry after AWS's idempotency window. A fresh
    driver (nothing remembered) must find the file system by its tag, on a later page."""
    emulator.control.set_token_ttl(0.05)
    emulator.control.set_describe_page_size(2)
    # Credentials from AWS_TEST_ENV, which the emulator fixture exports.
    fsx = boto3.client("fsx", endpoint_url=emulator.endpoint_url, region_name="us-east-1")
    others = [
        fsx.create_file_system(
            FileSystemType="LUSTRE",
            StorageCapacity=1200,
            SubnetIds=["subnet-0123456789abcdef0"],
            Tags=[{"Key": "CSIVolumeName", "Value": f"pvc-other-{index}"}],
        )["FileSystem"]["FileSystemId"]
        for index in range(3)
    ]
    config = emulated_config(short_dir, emulator, emulation_root)
    with build_server(config) as server, grpc.insecure_channel(server.address) as channel:
        first = Csi(channel).controller.CreateVolume(create_request("pvc-late"), timeout=30)
    grpc_wait(0.1)  # past the token window
    with build_server(config) as server, grpc.insecure_channel(server.address) as channel:
        retry = Csi(channel).controller.CreateVolume(create_request("pvc-late"), timeout=30)
    assert retry.volume.volume_id == first.volume.volume_id
    assert len(emulator.control.file_systems()) == len(others) + 1  # five pages, one volume


def test_strict_rate_limits_slow_a_correct_driver_but_do_not_fail_it(
    emulator: Any, emulation_root: Path, short_dir: Path
) -> None:
    """`fsx-csi emulator --strict`: the driver's retries (botocore's adaptive mode) absorb the
    ThrottlingExceptions of eight concurrent creates, each polling DescribeFileSystems."""
    emulator.control.set_rate_limits(STRICT_RATE_LIMITS)
    # A second of CREATING: eight waits polling every 50 ms ask for ~160 descriptions, well
    # over the bucket (40) and its refill (20 per second), however loaded the machine.
    emulator.control.set_creation_delay(1.0)
    emulator.control.set_describe_page_size(2)
    emulator.control.set_token_ttl(0.5)
    config = emulated_config(short_dir, emulator, emulation_root, create_timeout=60.0)
    names = [f"pvc-strict-{index}" for index in range(8)]
    with build_server(config) as server, grpc.insecure_channel(server.address) as channel:
        csi = Csi(channel)
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            volumes = list(
                pool.map(
                    lambda name: csi.controller.CreateVolume(create_request(name), timeout=90),
                    names,
                )
            )
        # Retried creates after the window: found by tag, not created again.
        again = [csi.controller.CreateVolume(create_request(n), timeout=90) for n in names]
        assert [v.volume.volume_id for v in again] == [v.volume.volume_id for v in volumes]
        for volume in volumes:
            csi.controller.DeleteVolume(
                csi_pb2.DeleteVolumeRequest(volume_id=volume.volume.volume_id), timeout=90
            )
    throttled = emulator.control.strictness()["throttled"]
    assert sum(throttled.values()) > 0, "the storm was never throttled: the test proves nothing"
    assert live_file_systems(emulator) == []


def test_probe_reports_ready_while_the_fsx_api_throttles(
    emulator: Any, emulation_root: Path, short_dir: Path
) -> None:
    """A ThrottlingException is an answer: the API is reachable and the driver is ready. A
    not-ready Probe would have the livenessprobe sidecar restart a healthy controller."""
    emulator.control.set_rate_limits({"DescribeFileSystems": RateLimit(rate=0.001, burst=1)})
    fsx = boto3.client("fsx", endpoint_url=emulator.endpoint_url, region_name="us-east-1")
    fsx.describe_file_systems()  # the bucket is empty now, for the rest of the test
    server = build_server(emulated_config(short_dir, emulator, emulation_root))
    with server, grpc.insecure_channel(server.address) as channel:
        probe = Csi(channel).identity.Probe(csi_pb2.ProbeRequest())
    assert emulator.control.strictness()["throttled"]["DescribeFileSystems"] >= 1
    assert probe.ready.value is True, server.identity.last_probe_problem


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
