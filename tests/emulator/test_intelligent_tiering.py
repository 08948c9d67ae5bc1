"""INTELLIGENT_TIERING over HTTP: created, described and updated as the API reference has it,
and the combinations AWS refuses (with its error code, naming the fields, creating nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from fsx_emulator import EmulatorServer

from .conftest import SUBNET, describe, wait_lifecycle


def tiering(**lustre: Any) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "DeploymentType": "PERSISTENT_2",
        "ThroughputCapacity": 4000,
        "DataReadCacheConfiguration": {"SizingMode": "NO_CACHE"},
        "MetadataConfiguration": {"Mode": "USER_PROVISIONED", "Iops": 6000},
    }
    configuration.update(lustre)
    return {
        "FileSystemType": "LUSTRE",
        "StorageType": "INTELLIGENT_TIERING",
        "SubnetIds": [SUBNET],
        "LustreConfiguration": {k: v for k, v in configuration.items() if v is not None},
    }


def test_created_and_described_without_storage_capacity(fsx: Any) -> None:
    request = tiering(
        ThroughputCapacity=8000,
        DataReadCacheConfiguration={"SizingMode": "USER_PROVISIONED", "SizeGiB": 64},
    )
    created = fsx.create_file_system(**request)["FileSystem"]
    wait_lifecycle(fsx, created["FileSystemId"], "AVAILABLE")
    fs = describe(fsx, created["FileSystemId"])
    assert fs["StorageType"] == "INTELLIGENT_TIERING"
    assert "StorageCapacity" not in fs
    lustre = fs["LustreConfiguration"]
    assert lustre["ThroughputCapacity"] == 8000
    assert lustre["DataReadCacheConfiguration"] == {"SizingMode": "USER_PROVISIONED", "SizeGiB": 64}
    assert lustre["MetadataConfiguration"] == {"Mode": "USER_PROVISIONED", "Iops": 6000}
    assert "PerUnitStorageThroughput" not in lustre
    assert fs["FileSystemTypeVersion"] == "2.15"


REFUSED = [
    ("storage capacity", {"StorageCapacity": 1200}, {}, "BadRequest", ["StorageCapacity"]),
    (
        "not a step",
        {},
        {"ThroughputCapacity": 5000},
        "BadRequest",
        ["ThroughputCapacity", "4000"],
    ),
    (
        "no throughput capacity",
        {},
        {"ThroughputCapacity": None},
        "MissingFileSystemConfiguration",
        ["ThroughputCapacity"],
    ),
    (
        "no read cache configuration",
        {},
        {"DataReadCacheConfiguration": None},
        "MissingFileSystemConfiguration",
        ["DataReadCacheConfiguration.SizingMode", "NO_CACHE"],
    ),
    (
        "cache size below 32 GiB per step",
        {},
        {
            "ThroughputCapacity": 8000,
            "DataReadCacheConfiguration": {"SizingMode": "USER_PROVISIONED", "SizeGiB": 32},
        },
        "BadRequest",
        ["SizeGiB", "64 to 262144"],
    ),
    (
        "cache size without user provisioning",
        {},
        {"DataReadCacheConfiguration": {"SizingMode": "NO_CACHE", "SizeGiB": 100}},
        "BadRequest",
        ["SizeGiB", "USER_PROVISIONED"],
    ),
    (
        "automatic metadata",
        {},
        {"MetadataConfiguration": {"Mode": "AUTOMATIC"}},
        "BadRequest",
        ["MetadataConfiguration.Mode", "AUTOMATIC"],
    ),
    (
        "metadata iops not a tiering value",
        {},
        {"MetadataConfiguration": {"Mode": "USER_PROVISIONED", "Iops": 3000}},
        "BadRequest",
        ["MetadataConfiguration.Iops", "6000 or 12000"],
    ),
    (
        "no metadata",
        {},
        {"MetadataConfiguration": None},
        "MissingFileSystemConfiguration",
        ["MetadataConfiguration.Mode"],
    ),
    (
        "per-unit throughput",
        {},
        {"PerUnitStorageThroughput": 125},
        "InvalidPerUnitStorageThroughput",
        ["PerUnitStorageThroughput", "ThroughputCapacity"],
    ),
    (
        "not persistent 2",
        {},
        {"DeploymentType": "PERSISTENT_1"},
        "BadRequest",
        ["StorageType", "PERSISTENT_2"],
    ),
]


@pytest.mark.parametrize(
    ("top", "lustre", "code", "words"),
    [pytest.param(t, lu, c, w, id=name) for name, t, lu, c, w in REFUSED],
)
def test_refused_combinations_create_nothing(
    emu: EmulatorServer,
    fsx: Any,
    top: dict[str, Any],
    lustre: dict[str, Any],
    code: str,
    words: list[str],
) -> None:
    request = {**tiering(**lustre), **top}
    with pytest.raises(ClientError) as info:
        fsx.create_file_system(**request)
    error = info.value.response["Error"]
    assert error["Code"] == code, error
    for word in words:
        assert word in error["Message"], error["Message"]
    assert emu.control.file_systems() == []


def test_tiering_fields_need_tiering_storage(emu: EmulatorServer, fsx: Any) -> None:
    with pytest.raises(ClientError) as info:
        fsx.create_file_system(
            FileSystemType="LUSTRE",
            StorageCapacity=1200,
            SubnetIds=[SUBNET],
            LustreConfiguration={
                "DeploymentType": "PERSISTENT_2",
                "PerUnitStorageThroughput": 125,
                "ThroughputCapacity": 4000,
            },
        )
    message = info.value.response["Error"]["Message"]
    assert "ThroughputCapacity" in message and "INTELLIGENT_TIERING" in message
    assert emu.control.file_systems() == []


def test_throughput_and_read_cache_update(fsx: Any) -> None:
    fs_id = fsx.create_file_system(**tiering())["FileSystem"]["FileSystemId"]
    wait_lifecycle(fsx, fs_id, "AVAILABLE")
    with pytest.raises(ClientError) as info:
        fsx.update_file_system(FileSystemId=fs_id, LustreConfiguration={"ThroughputCapacity": 4000})
    assert "can only increase" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=2400)
    assert "StorageCapacity" in info.value.response["Error"]["Message"]
    fsx.update_file_system(
        FileSystemId=fs_id,
        LustreConfiguration={
            "ThroughputCapacity": 12000,
            "DataReadCacheConfiguration": {"SizingMode": "PROPORTIONAL_TO_THROUGHPUT_CAPACITY"},
        },
    )
    fs = wait_lifecycle(fsx, fs_id, "AVAILABLE")
    assert fs["LustreConfiguration"]["ThroughputCapacity"] == 12000
    cache = fs["LustreConfiguration"]["DataReadCacheConfiguration"]
    assert cache["SizingMode"] == "PROPORTIONAL_TO_THROUGHPUT_CAPACITY"
    # Metadata on tiering: 6000 -> 12000, the only other value AWS lists.
    fsx.update_file_system(
        FileSystemId=fs_id,
        LustreConfiguration={"MetadataConfiguration": {"Mode": "USER_PROVISIONED", "Iops": 12000}},
    )
    fs = wait_lifecycle(fsx, fs_id, "AVAILABLE")
    assert fs["LustreConfiguration"]["MetadataConfiguration"]["Iops"] == 12000


def test_no_data_repository_associations(fsx: Any) -> None:
    fs_id = fsx.create_file_system(**tiering())["FileSystem"]["FileSystemId"]
    wait_lifecycle(fsx, fs_id, "AVAILABLE")
    with pytest.raises(ClientError) as info:
        fsx.create_data_repository_association(
            FileSystemId=fs_id, FileSystemPath="/data", DataRepositoryPath="s3://bucket/data"
        )
    message = info.value.response["Error"]["Message"]
    assert "INTELLIGENT_TIERING" in message
    assert fsx.describe_data_repository_associations()["Associations"] == []
