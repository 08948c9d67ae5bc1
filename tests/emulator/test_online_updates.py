"""UpdateFileSystem's online changes over HTTP: per-unit throughput, metadata configuration.

Each change shows a FILE_SYSTEM_UPDATE administrative action whose TargetFileSystemValues
name it, the file system is UPDATING until it applies, and a refused change changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fsx_emulator import EmulatorConfig, EmulatorServer
from fsx_emulator.lifecycle import ManualClock

from .conftest import create, describe, make_client, wait_lifecycle

P2_METADATA = {
    "DeploymentType": "PERSISTENT_2",
    "PerUnitStorageThroughput": 125,
    "MetadataConfiguration": {"Mode": "AUTOMATIC"},
}


class Emulated:
    def __init__(self, emu: EmulatorServer, clock: ManualClock) -> None:
        self.emu = emu
        self.clock = clock
        self.fsx = make_client(emu.endpoint_url)

    def available(self, **overrides: Any) -> str:
        fs_id: str = create(self.fsx, **overrides)["FileSystemId"]
        self.clock.advance(1)
        assert describe(self.fsx, fs_id)["Lifecycle"] == "AVAILABLE"
        return fs_id

    def settle(self) -> None:
        self.clock.advance(100)

    def refused(self, fs_id: str, **request: Any) -> dict[str, str]:
        before = describe(self.fsx, fs_id)
        with pytest.raises(ClientError) as info:
            self.fsx.update_file_system(FileSystemId=fs_id, **request)
        after = describe(self.fsx, fs_id)
        assert after == before, "a refused update changed the file system"
        error = dict(info.value.response["Error"])
        return {str(k): str(v) for k, v in error.items()}


@pytest.fixture
def emulated() -> Iterator[Emulated]:
    clock = ManualClock()
    config = EmulatorConfig(creation_delay=1, update_delay=10)
    with EmulatorServer(config, clock=clock) as emu:
        yield Emulated(emu, clock)


def _update_action(fs: dict[str, Any]) -> dict[str, Any]:
    actions: list[dict[str, Any]] = [
        a
        for a in fs["AdministrativeActions"]
        if a["AdministrativeActionType"] == "FILE_SYSTEM_UPDATE"
    ]
    return actions[-1]


@pytest.mark.parametrize(
    ("lustre", "old", "new"),
    [
        ({"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 125}, 125, 500),
        ({"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 1000}, 1000, 250),
        ({"DeploymentType": "PERSISTENT_1", "PerUnitStorageThroughput": 50}, 50, 200),
    ],
)
def test_per_unit_throughput_changes_online(
    emulated: Emulated, lustre: dict[str, Any], old: int, new: int
) -> None:
    fs_id = emulated.available(LustreConfiguration=lustre)
    answer = emulated.fsx.update_file_system(
        FileSystemId=fs_id, LustreConfiguration={"PerUnitStorageThroughput": new}
    )["FileSystem"]
    assert answer["Lifecycle"] == "UPDATING"
    fs = describe(emulated.fsx, fs_id)
    action = _update_action(fs)
    assert action["TargetFileSystemValues"] == {
        "LustreConfiguration": {"PerUnitStorageThroughput": new}
    }
    assert fs["LustreConfiguration"]["PerUnitStorageThroughput"] == old
    emulated.clock.advance(10)
    assert _update_action(describe(emulated.fsx, fs_id))["Status"] == "IN_PROGRESS"
    emulated.clock.advance(10)
    fs = describe(emulated.fsx, fs_id)
    assert (fs["Lifecycle"], _update_action(fs)["Status"]) == ("AVAILABLE", "COMPLETED")
    assert fs["LustreConfiguration"]["PerUnitStorageThroughput"] == new
    assert "STORAGE_OPTIMIZATION" not in {
        a["AdministrativeActionType"] for a in fs["AdministrativeActions"]
    }


@pytest.mark.parametrize(
    ("lustre", "storage", "value", "code", "words"),
    [
        (
            {
                "DeploymentType": "PERSISTENT_1",
                "PerUnitStorageThroughput": 12,
                "DriveCacheType": "NONE",
            },
            "HDD",
            40,
            "InvalidPerUnitStorageThroughput",
            "persistent SSD",
        ),
        (
            {"DeploymentType": "SCRATCH_2"},
            "SSD",
            125,
            "InvalidPerUnitStorageThroughput",
            "SCRATCH_2",
        ),
        (
            {"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 125},
            "SSD",
            200,
            "InvalidPerUnitStorageThroughput",
            "125, 250, 500, 1000",
        ),
        (
            {"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 125},
            "SSD",
            125,
            "BadRequest",
            "already",
        ),
    ],
)
def test_per_unit_throughput_changes_aws_refuses(
    emulated: Emulated,
    lustre: dict[str, Any],
    storage: str,
    value: int,
    code: str,
    words: str,
) -> None:
    capacity = 6000 if storage == "HDD" else 1200
    fs_id = emulated.available(
        StorageType=storage, StorageCapacity=capacity, LustreConfiguration=lustre
    )
    error = emulated.refused(fs_id, LustreConfiguration={"PerUnitStorageThroughput": value})
    assert error["Code"] == code
    assert "PerUnitStorageThroughput" in error["Message"] and words in error["Message"]


def test_a_throughput_whose_capacity_steps_the_file_system_misses_is_refused(
    emulated: Emulated,
) -> None:
    lustre = {**P2_METADATA, "PerUnitStorageThroughput": 1000, "EfaEnabled": True}
    fs_id = emulated.available(StorageCapacity=4800, LustreConfiguration=lustre)
    error = emulated.refused(fs_id, LustreConfiguration={"PerUnitStorageThroughput": 125})
    assert error["Code"] == "InvalidPerUnitStorageThroughput"
    assert "does not fit the storage capacity 4800 GiB" in error["Message"]


def test_metadata_goes_from_automatic_to_user_provisioned(emulated: Emulated) -> None:
    fs_id = emulated.available(LustreConfiguration=P2_METADATA)
    assert describe(emulated.fsx, fs_id)["LustreConfiguration"]["MetadataConfiguration"] == {
        "Mode": "AUTOMATIC",
        "Iops": 1500,
    }
    emulated.fsx.update_file_system(
        FileSystemId=fs_id,
        LustreConfiguration={"MetadataConfiguration": {"Mode": "USER_PROVISIONED", "Iops": 6000}},
    )
    fs = describe(emulated.fsx, fs_id)
    assert fs["Lifecycle"] == "UPDATING"
    assert _update_action(fs)["TargetFileSystemValues"] == {
        "LustreConfiguration": {"MetadataConfiguration": {"Mode": "USER_PROVISIONED", "Iops": 6000}}
    }
    emulated.settle()
    fs = describe(emulated.fsx, fs_id)
    assert fs["LustreConfiguration"]["MetadataConfiguration"] == {
        "Mode": "USER_PROVISIONED",
        "Iops": 6000,
    }
    # Back to AUTOMATIC on SSD: FSx sets the IOPS from the capacity again.
    emulated.fsx.update_file_system(
        FileSystemId=fs_id, LustreConfiguration={"MetadataConfiguration": {"Mode": "AUTOMATIC"}}
    )
    emulated.settle()
    metadata = describe(emulated.fsx, fs_id)["LustreConfiguration"]["MetadataConfiguration"]
    assert metadata == {"Mode": "AUTOMATIC", "Iops": 1500}


def test_metadata_iops_increases_are_six_hours_apart(emulated: Emulated) -> None:
    lustre = {**P2_METADATA, "MetadataConfiguration": {"Mode": "USER_PROVISIONED", "Iops": 1500}}
    fs_id = emulated.available(LustreConfiguration=lustre)
    increase = {"MetadataConfiguration": {"Mode": "USER_PROVISIONED", "Iops": 3000}}
    emulated.fsx.update_file_system(FileSystemId=fs_id, LustreConfiguration=increase)
    emulated.settle()
    again = {"MetadataConfiguration": {"Iops": 6000}}
    error = emulated.refused(fs_id, LustreConfiguration=again)
    assert error["Code"] == "BadRequest"
    assert "MetadataConfiguration.Iops" in error["Message"] and "6 hours" in error["Message"]
    emulated.clock.advance(6 * 3600)
    emulated.fsx.update_file_system(FileSystemId=fs_id, LustreConfiguration=again)
    emulated.settle()
    iops = describe(emulated.fsx, fs_id)["LustreConfiguration"]["MetadataConfiguration"]["Iops"]
    assert iops == 6000


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({"Mode": "USER_PROVISIONED", "Iops": 1500}, "can only increase"),
        ({"Iops": 4000}, "1500, 3000, 6000"),
        ({"Mode": "USER_PROVISIONED"}, "needs Iops"),
        ({"Mode": "AUTOMATIC", "Iops": 12000}, "USER_PROVISIONED"),
    ],
)
def test_metadata_changes_aws_refuses(
    emulated: Emulated, metadata: dict[str, Any], words: str
) -> None:
    lustre = {**P2_METADATA, "MetadataConfiguration": {"Mode": "USER_PROVISIONED", "Iops": 3000}}
    fs_id = emulated.available(LustreConfiguration=lustre)
    error = emulated.refused(fs_id, LustreConfiguration={"MetadataConfiguration": metadata})
    assert error["Code"] == "BadRequest"
    assert "MetadataConfiguration" in error["Message"] and words in error["Message"]


def test_metadata_cannot_be_added_to_a_lustre_2_12_file_system(emulated: Emulated) -> None:
    fs_id = emulated.available()  # PERSISTENT_2 without metadata: Lustre 2.12
    assert describe(emulated.fsx, fs_id)["FileSystemTypeVersion"] == "2.12"
    error = emulated.refused(
        fs_id,
        LustreConfiguration={"MetadataConfiguration": {"Mode": "USER_PROVISIONED", "Iops": 3000}},
    )
    assert "2.12" in error["Message"] and "2.15" in error["Message"]


def test_an_update_while_another_runs_is_refused(emulated: Emulated) -> None:
    fs_id = emulated.available(LustreConfiguration=P2_METADATA)
    emulated.fsx.update_file_system(
        FileSystemId=fs_id, LustreConfiguration={"PerUnitStorageThroughput": 250}
    )
    error = emulated.refused(fs_id, LustreConfiguration={"PerUnitStorageThroughput": 500})
    assert "already in progress" in error["Message"]


def test_a_harness_in_another_process_lets_six_hours_pass_over_the_control_api() -> None:
    # The default clock runs in real time and jumps when told to: no ManualClock needed.
    config = EmulatorConfig(creation_delay=0.05, update_delay=0.02)
    with EmulatorServer(config) as emu:
        fsx = make_client(emu.endpoint_url)
        fs_id = create(fsx)["FileSystemId"]
        wait_lifecycle(fsx, fs_id, "AVAILABLE")
        fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=2400)
        with pytest.raises(ClientError) as info:
            fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=4800)
        assert "in progress" in info.value.response["Error"]["Message"]
        emu.control.advance_clock(6 * 3600)  # the update completes, the spacing runs out
        assert describe(fsx, fs_id)["StorageCapacity"] == 2400
        fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=4800)
        emu.control.advance_clock(1)
        assert describe(fsx, fs_id)["StorageCapacity"] == 4800
