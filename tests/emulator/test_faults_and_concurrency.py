"""Fault injection over the control API, thread safety, Lustre emulation directories."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fsx_emulator import EmulatorConfig, EmulatorControl, EmulatorServer
from fsx_emulator.control import EmulatorControlError

from .conftest import FAST, create, describe, make_client, wait_for, wait_lifecycle


def test_throttling_is_retried_by_botocore(emu: EmulatorServer, fsx: Any) -> None:
    emu.control.inject_fault("DescribeFileSystems", "throttle", count=2)
    answer = fsx.describe_file_systems()
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert emu.control.faults() == []  # the rule is spent


def test_throttling_without_retries_shows_throttling_exception(emu: EmulatorServer) -> None:
    emu.control.inject_fault("*", "throttle", count=1)
    with pytest.raises(ClientError) as info:
        make_client(emu.endpoint_url, attempts=1).describe_file_systems()
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_server_error_is_a_500(emu: EmulatorServer) -> None:
    emu.control.inject_fault("CreateFileSystem", "server_error", every=1)
    with pytest.raises(ClientError) as info:
        create(make_client(emu.endpoint_url, attempts=2))
    response = info.value.response
    assert response["Error"]["Code"] == "InternalServerError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    emu.control.clear_faults()
    assert emu.control.file_systems() == []


def test_every_nth_call_and_probability(emu: EmulatorServer) -> None:
    fsx = make_client(emu.endpoint_url, attempts=1)
    emu.control.inject_fault("DescribeFileSystems", "server_error", every=3)
    outcomes = []
    for _ in range(6):
        try:
            fsx.describe_file_systems()
            outcomes.append("ok")
        except ClientError:
            outcomes.append("error")
    assert outcomes == ["ok", "ok", "error", "ok", "ok", "error"]
    emu.control.clear_faults()
    emu.control.inject_fault("DescribeFileSystems", "server_error", probability=0.0)
    fsx.describe_file_systems()
    emu.control.inject_fault("DescribeFileSystems", "server_error", probability=1.0, count=1)
    with pytest.raises(ClientError):
        fsx.describe_file_systems()


def test_latency_delays_only_the_chosen_operation(emu: EmulatorServer, fsx: Any) -> None:
    emu.control.inject_fault("DescribeFileSystems", "latency", latency=1.0, count=1)
    started = time.monotonic()
    fsx.list_tags_for_resource(ResourceARN=create(fsx)["ResourceARN"])
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    fsx.describe_file_systems()
    assert time.monotonic() - started >= 1.0


def test_stuck_creating_until_released(emu: EmulatorServer, fsx: Any) -> None:
    emu.control.inject_fault("CreateFileSystem", "stuck_creating", count=1)
    stuck = create(fsx)["FileSystemId"]
    normal = create(fsx)["FileSystemId"]
    wait_lifecycle(fsx, normal, "AVAILABLE")
    time.sleep(FAST.creation_delay)
    assert describe(fsx, stuck)["Lifecycle"] == "CREATING"
    emu.control.set_creation_delay(0, file_system_id=stuck)
    assert describe(fsx, stuck)["Lifecycle"] == "AVAILABLE"


def test_fail_creation_ends_in_failed_with_details(emu: EmulatorServer, fsx: Any) -> None:
    emu.control.inject_fault(
        "CreateFileSystem", "fail_creation", count=1, message="subnet has no free IPs"
    )
    fs_id = create(fsx)["FileSystemId"]
    failed = wait_lifecycle(fsx, fs_id, "FAILED")
    assert failed["FailureDetails"] == {"Message": "subnet has no free IPs"}


def test_control_api_rejects_bad_rules_and_unknown_routes(emu: EmulatorServer) -> None:
    with pytest.raises(EmulatorControlError, match="400"):
        emu.control.inject_fault("DescribeFileSystems", "stuck_creating")
    with pytest.raises(EmulatorControlError, match="400"):
        emu.control.inject_fault("CreateFileSystem", "explode")
    with pytest.raises(EmulatorControlError, match="404"):
        emu.control._call("GET", "nothing-here")
    with pytest.raises(EmulatorControlError, match="cannot reach"):
        EmulatorControl("http://127.0.0.1:9", timeout=2).health()


def test_concurrent_creates_make_distinct_file_systems(emu: EmulatorServer) -> None:
    clients = [make_client(emu.endpoint_url) for _ in range(8)]

    def one(index: int) -> str:
        fs_id: str = create(clients[index % 8])["FileSystemId"]
        return fs_id

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(one, range(64)))
    assert len(set(ids)) == 64
    assert {fs["FileSystemId"] for fs in emu.control.file_systems()} == set(ids)


def test_concurrent_tokens_create_exactly_one_file_system(emu: EmulatorServer) -> None:
    clients = [make_client(emu.endpoint_url) for _ in range(8)]
    barrier = threading.Barrier(8)

    def one(index: int) -> str:
        barrier.wait()
        answer = clients[index].create_file_system(ClientRequestToken="same", **_request())
        return str(answer["FileSystem"]["FileSystemId"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(one, range(8)))
    assert len(ids) == 1


def _request() -> dict[str, Any]:
    from .conftest import lustre_request

    return lustre_request()


def test_emulation_directory_follows_the_lifecycle(tmp_path: Path) -> None:
    config = EmulatorConfig(
        creation_delay=0.5, deletion_delay=0.1, update_delay=0.5, emulation_root=tmp_path
    )
    with EmulatorServer(config) as emu:
        fsx = make_client(emu.endpoint_url)
        fs = create(fsx)
        fs_id, mount_name = fs["FileSystemId"], fs["LustreConfiguration"]["MountName"]
        directory = tmp_path / fs_id / mount_name
        assert not directory.exists()  # CREATING: nothing to mount
        # The directory appears on time even if nobody calls the API.
        wait_for(f"{directory} to exist", directory.exists, bool, timeout=3)
        (directory / "data").write_text("x")
        fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=2400)
        assert describe(fsx, fs_id)["Lifecycle"] == "UPDATING"
        assert (directory / "data").read_text() == "x"
        wait_lifecycle(fsx, fs_id, "AVAILABLE")
        fsx.delete_file_system(FileSystemId=fs_id)
        assert not (tmp_path / fs_id).exists()
        emu.control.inject_fault("CreateFileSystem", "fail_creation", count=1)
        failed = create(fsx)
        wait_lifecycle(fsx, failed["FileSystemId"], "FAILED")
        assert not (tmp_path / failed["FileSystemId"]).exists()


def test_server_stops_without_leaving_threads() -> None:
    before = set(threading.enumerate())
    with EmulatorServer(FAST) as emu:
        fsx = make_client(emu.endpoint_url)
        create(fsx)  # leaves a keep-alive connection open in the client's pool
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == []
