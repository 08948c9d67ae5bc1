"""CreateFileSystem / DescribeFileSystems / DeleteFileSystem: fields, lifecycle, pagination."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fsx_emulator import EmulatorConfig, EmulatorServer
from fsx_emulator.lifecycle import ManualClock

from .conftest import SUBNET, create, describe, make_client, wait_for, wait_lifecycle


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    error = info.value.response["Error"]
    status = info.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return error["Code"], error["Message"], status


def test_a_new_file_system_has_every_field_aws_returns(fsx: Any) -> None:
    fs = create(
        fsx,
        SecurityGroupIds=["sg-0123456789abcdef0"],
        Tags=[{"Key": "CSIVolumeName", "Value": "pvc-1"}],
        LustreConfiguration={
            "DeploymentType": "PERSISTENT_2",
            "PerUnitStorageThroughput": 250,
            "WeeklyMaintenanceStartTime": "2:03:30",
            "DailyAutomaticBackupStartTime": "04:15",
            "AutomaticBackupRetentionDays": 7,
            "CopyTagsToBackups": True,
            "DataCompressionType": "LZ4",
            "EfaEnabled": False,
            "MetadataConfiguration": {"Mode": "USER_PROVISIONED", "Iops": 3000},
        },
        KmsKeyId="arn:aws:kms:us-east-1:123456789012:key/abc",
    )
    fs_id = fs["FileSystemId"]
    assert re.fullmatch(r"fs-[0-9a-f]{17}", fs_id)
    assert fs["Lifecycle"] == "CREATING"
    assert fs["DNSName"] == f"{fs_id}.fsx.us-east-1.amazonaws.com"
    assert fs["ResourceARN"] == f"arn:aws:fsx:us-east-1:123456789012:file-system/{fs_id}"
    assert fs["OwnerId"] == "123456789012"
    assert fs["VpcId"].startswith("vpc-")
    assert fs["SubnetIds"] == [SUBNET]
    assert "SecurityGroupIds" not in fs  # AWS's FileSystem description has no such member
    assert fs["NetworkInterfaceIds"] and all(
        re.fullmatch(r"eni-[0-9a-f]{17}", eni) for eni in fs["NetworkInterfaceIds"]
    )
    assert fs["CreationTime"].year >= 2024
    assert (fs["StorageCapacity"], fs["StorageType"]) == (1200, "SSD")
    assert fs["FileSystemType"] == "LUSTRE"
    assert fs["FileSystemTypeVersion"] == "2.15"  # PERSISTENT_2 with a metadata mode
    assert fs["KmsKeyId"] == "arn:aws:kms:us-east-1:123456789012:key/abc"
    assert fs["Tags"] == [{"Key": "CSIVolumeName", "Value": "pvc-1"}]
    lustre = fs["LustreConfiguration"]
    assert re.fullmatch(r"[a-z0-9]{8}", lustre["MountName"])
    assert lustre["DeploymentType"] == "PERSISTENT_2"
    assert lustre["PerUnitStorageThroughput"] == 250
    assert lustre["WeeklyMaintenanceStartTime"] == "2:03:30"
    assert lustre["DailyAutomaticBackupStartTime"] == "04:15"
    assert lustre["AutomaticBackupRetentionDays"] == 7
    assert lustre["CopyTagsToBackups"] is True
    assert lustre["DataCompressionType"] == "LZ4"
    assert lustre["EfaEnabled"] is False
    assert lustre["MetadataConfiguration"] == {"Mode": "USER_PROVISIONED", "Iops": 3000}
    assert describe(fsx, fs_id)["LustreConfiguration"] == lustre


def test_legacy_s3_link_is_echoed_as_data_repository_configuration(fsx: Any) -> None:
    fs = create(
        fsx,
        LustreConfiguration={
            "DeploymentType": "SCRATCH_2",
            "ImportPath": "s3://bucket/in",
            "ExportPath": "s3://bucket/out",
            "ImportedFileChunkSize": 2048,
            "AutoImportPolicy": "NEW_CHANGED",
        },
    )
    repository = fs["LustreConfiguration"]["DataRepositoryConfiguration"]
    assert repository == {
        "Lifecycle": "CREATING",
        "ImportPath": "s3://bucket/in",
        "ExportPath": "s3://bucket/out",
        "ImportedFileChunkSize": 2048,
        "AutoImportPolicy": "NEW_CHANGED",
    }
    available = wait_lifecycle(fsx, fs["FileSystemId"], "AVAILABLE")
    assert available["LustreConfiguration"]["DataRepositoryConfiguration"]["Lifecycle"] == (
        "AVAILABLE"
    )


def test_import_path_alone_gets_aws_defaults(fsx: Any) -> None:
    fs = create(fsx, LustreConfiguration={"DeploymentType": "SCRATCH_2", "ImportPath": "s3://b"})
    repository = fs["LustreConfiguration"]["DataRepositoryConfiguration"]
    assert re.fullmatch(r"s3://b/FSxLustre\d{8}T\d{6}Z", repository["ExportPath"])
    assert repository["ImportedFileChunkSize"] == 1024
    assert repository["AutoImportPolicy"] == "NONE"


def test_scratch_1_is_the_default_and_its_mount_name_is_fsx(fsx: Any) -> None:
    fs = fsx.create_file_system(FileSystemType="LUSTRE", StorageCapacity=1200, SubnetIds=[SUBNET])[
        "FileSystem"
    ]
    lustre = fs["LustreConfiguration"]
    assert lustre["DeploymentType"] == "SCRATCH_1"
    assert lustre["MountName"] == "fsx"
    assert fs["FileSystemTypeVersion"] == "2.10"
    assert "PerUnitStorageThroughput" not in lustre
    assert "KmsKeyId" not in fs  # scratch: keys Amazon FSx manages
    assert re.fullmatch(r"[1-7]:([01]\d|2[0-3]):\d\d", lustre["WeeklyMaintenanceStartTime"])


def test_hdd_echoes_drive_cache_type(fsx: Any) -> None:
    fs = create(
        fsx,
        StorageType="HDD",
        StorageCapacity=6000,
        LustreConfiguration={
            "DeploymentType": "PERSISTENT_1",
            "PerUnitStorageThroughput": 12,
            "DriveCacheType": "READ",
        },
    )
    assert fs["StorageType"] == "HDD"
    assert fs["LustreConfiguration"]["DriveCacheType"] == "READ"
    assert fs["KmsKeyId"].startswith("arn:aws:kms:us-east-1:123456789012:key/")


def test_creating_then_available_after_the_delay(emu: EmulatorServer, fsx: Any) -> None:
    emu.control.set_creation_delay(0.5)
    fs = create(fsx)
    assert describe(fsx, fs["FileSystemId"])["Lifecycle"] == "CREATING"
    wait_lifecycle(fsx, fs["FileSystemId"], "AVAILABLE", timeout=3)


def test_delete_goes_through_deleting_then_not_found(fsx: Any) -> None:
    fs_id = create(fsx)["FileSystemId"]
    wait_lifecycle(fsx, fs_id, "AVAILABLE")
    answer = fsx.delete_file_system(FileSystemId=fs_id)
    assert (answer["FileSystemId"], answer["Lifecycle"]) == (fs_id, "DELETING")
    assert describe(fsx, fs_id)["Lifecycle"] == "DELETING"

    def gone() -> str:
        try:
            return str(describe(fsx, fs_id)["Lifecycle"])
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])

    wait_for(f"{fs_id} to disappear", gone, lambda code: code == "FileSystemNotFound")


def test_delete_unknown_file_system_fails_with_file_system_not_found(fsx: Any) -> None:
    with pytest.raises(ClientError) as info:
        fsx.delete_file_system(FileSystemId="fs-0123456789abcdef0")
    assert error_of(info)[0] == "FileSystemNotFound"


def test_describe_unknown_id_fails_with_file_system_not_found(fsx: Any) -> None:
    known = create(fsx)["FileSystemId"]
    with pytest.raises(ClientError) as info:
        fsx.describe_file_systems(FileSystemIds=[known, "fs-0123456789abcdef0"])
    code, message, status = error_of(info)
    assert (code, status) == ("FileSystemNotFound", 400)
    assert "fs-0123456789abcdef0" in message


def test_describe_pages_with_max_results_and_next_token(fsx: Any) -> None:
    created = [create(fsx)["FileSystemId"] for _ in range(5)]
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"MaxResults": 2}
        if token:
            kwargs["NextToken"] = token
        page = fsx.describe_file_systems(**kwargs)
        assert len(page["FileSystems"]) <= 2
        seen += [fs["FileSystemId"] for fs in page["FileSystems"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert seen == created
    assert pages == 3
    paginated = fsx.get_paginator("describe_file_systems").paginate(
        PaginationConfig={"PageSize": 3}
    )
    assert [fs["FileSystemId"] for page in paginated for fs in page["FileSystems"]] == created


def test_a_bad_next_token_is_a_bad_request(fsx: Any) -> None:
    with pytest.raises(ClientError) as info:
        fsx.describe_file_systems(NextToken="not-a-token")
    code, message, _ = error_of(info)
    assert code == "BadRequest" and "NextToken" in message


def test_lifecycle_follows_an_injected_clock_exactly() -> None:
    clock = ManualClock()
    config = EmulatorConfig(creation_delay=600, deletion_delay=30, update_delay=10)
    with EmulatorServer(config, clock=clock) as emu:
        fsx = make_client(emu.endpoint_url)
        fs_id = create(fsx)["FileSystemId"]
        clock.advance(599.9)
        assert describe(fsx, fs_id)["Lifecycle"] == "CREATING"
        clock.advance(0.1)
        assert describe(fsx, fs_id)["Lifecycle"] == "AVAILABLE"
        fsx.delete_file_system(FileSystemId=fs_id)
        clock.advance(29)
        assert describe(fsx, fs_id)["Lifecycle"] == "DELETING"
        clock.advance(1)
        assert fsx.describe_file_systems()["FileSystems"] == []


def test_creation_delay_is_settable_globally_and_per_file_system(
    emu: EmulatorServer, fsx: Any
) -> None:
    emu.control.set_creation_delay(3600)
    slow = create(fsx)["FileSystemId"]
    other = create(fsx)["FileSystemId"]
    emu.control.set_creation_delay(0, file_system_id=slow)
    assert describe(fsx, slow)["Lifecycle"] == "AVAILABLE"
    assert describe(fsx, other)["Lifecycle"] == "CREATING"
    emu.control.set_creation_delay(0.05)
    quick = create(fsx)["FileSystemId"]
    wait_lifecycle(fsx, quick, "AVAILABLE", timeout=3)
    assert describe(fsx, other)["Lifecycle"] == "CREATING"


def test_control_lists_every_file_system_for_leak_checks(emu: EmulatorServer, fsx: Any) -> None:
    ids = {create(fsx)["FileSystemId"] for _ in range(3)}
    assert {fs["FileSystemId"] for fs in emu.control.file_systems()} == ids
    emu.control.reset()
    assert emu.control.file_systems() == []
