"""UpdateFileSystem (storage growth) and data repository associations."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from fsx_emulator import EmulatorConfig, EmulatorServer
from fsx_emulator.lifecycle import ManualClock

from .conftest import create, describe, make_client, wait_for, wait_lifecycle


def available(fsx: Any, **overrides: Any) -> str:
    fs_id: str = create(fsx, **overrides)["FileSystemId"]
    wait_lifecycle(fsx, fs_id, "AVAILABLE")
    return fs_id


def _actions(fs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["AdministrativeActionType"]: a for a in fs.get("AdministrativeActions", [])}


def test_storage_growth_moves_through_every_phase() -> None:
    clock = ManualClock()
    with EmulatorServer(EmulatorConfig(creation_delay=1, update_delay=10), clock=clock) as emu:
        fsx = make_client(emu.endpoint_url)
        fs_id = create(fsx)["FileSystemId"]
        clock.advance(1)
        updated = fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=2400)["FileSystem"]
        assert updated["Lifecycle"] == "UPDATING"
        seen = []
        for _ in range(4):
            fs = describe(fsx, fs_id)
            actions = _actions(fs)
            update = actions["FILE_SYSTEM_UPDATE"]
            assert update["TargetFileSystemValues"]["StorageCapacity"] == 2400
            optimization = actions.get("STORAGE_OPTIMIZATION", {}).get("Status")
            seen.append((update["Status"], optimization, fs["Lifecycle"], fs["StorageCapacity"]))
            clock.advance(10)
        # FILE_SYSTEM_UPDATE, then STORAGE_OPTIMIZATION while the new storage is already usable.
        assert seen == [
            ("PENDING", None, "UPDATING", 1200),
            ("IN_PROGRESS", None, "UPDATING", 1200),
            ("UPDATED_OPTIMIZING", "IN_PROGRESS", "AVAILABLE", 2400),
            ("COMPLETED", "COMPLETED", "AVAILABLE", 2400),
        ]
        final = _actions(describe(fsx, fs_id))
        assert [a["ProgressPercent"] for a in final.values()] == [100, 100]
        kinds = [
            a["AdministrativeActionType"] for a in describe(fsx, fs_id)["AdministrativeActions"]
        ]
        assert kinds == ["FILE_SYSTEM_UPDATE", "STORAGE_OPTIMIZATION"]


def test_a_second_update_while_one_runs_is_refused() -> None:
    # A manual clock: a loaded machine cannot let the first update finish before the second.
    clock = ManualClock()
    with EmulatorServer(EmulatorConfig(creation_delay=1, update_delay=10), clock=clock) as emu:
        fsx = make_client(emu.endpoint_url)
        fs_id = create(fsx)["FileSystemId"]
        clock.advance(1)
        fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=2400)
        for _ in range(3):  # PENDING, IN_PROGRESS, UPDATED_OPTIMIZING
            with pytest.raises(ClientError) as info:
                fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=4800)
            error = info.value.response["Error"]
            assert error["Code"] == "BadRequest"
            # AWS's text exactly: the upstream driver matches on it.
            assert error["Message"] == (
                "Unable to perform the storage capacity update. There is an update already "
                "in progress."
            )
            clock.advance(10)
        assert describe(fsx, fs_id)["AdministrativeActions"][-1]["Status"] == "COMPLETED"
        assert describe(fsx, fs_id)["StorageCapacity"] == 2400


def test_storage_increases_are_six_hours_apart() -> None:
    clock = ManualClock()
    with EmulatorServer(EmulatorConfig(creation_delay=1, update_delay=10), clock=clock) as emu:
        fsx = make_client(emu.endpoint_url)
        fs_id = create(fsx)["FileSystemId"]
        clock.advance(1)
        fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=2400)
        clock.advance(40)  # the first update has COMPLETED
        with pytest.raises(ClientError) as info:
            fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=4800)
        error = info.value.response["Error"]
        assert error["Code"] == "BadRequest"
        assert "StorageCapacity" in error["Message"] and "6 hours" in error["Message"]
        assert describe(fsx, fs_id)["StorageCapacity"] == 2400  # the refusal changed nothing
        assert len(describe(fsx, fs_id)["AdministrativeActions"]) == 2
        clock.advance(6 * 3600 - 40 - 1)  # one second short of six hours after the request
        with pytest.raises(ClientError):
            fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=4800)
        clock.advance(1)
        fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=4800)
        assert describe(fsx, fs_id)["AdministrativeActions"][-1]["Status"] == "PENDING"


@pytest.mark.parametrize(
    ("capacity", "words"),
    [(1200, "can only grow"), (600, "can only grow"), (3600, "increments")],
)
def test_storage_grows_only_in_valid_increments(fsx: Any, capacity: int, words: str) -> None:
    fs_id = available(fsx)
    with pytest.raises(ClientError) as info:
        fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=capacity)
    error = info.value.response["Error"]
    assert error["Code"] == "BadRequest"
    assert "StorageCapacity" in error["Message"] and words in error["Message"]


def test_scratch_1_storage_cannot_grow(fsx: Any) -> None:
    fs_id = available(fsx, LustreConfiguration={"DeploymentType": "SCRATCH_1"})
    with pytest.raises(ClientError) as info:
        fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=2400)
    assert "SCRATCH_1" in info.value.response["Error"]["Message"]


def test_update_before_available_is_refused(emu: EmulatorServer, fsx: Any) -> None:
    emu.control.set_creation_delay(3600)
    fs_id = create(fsx)["FileSystemId"]
    with pytest.raises(ClientError) as info:
        fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=2400)
    assert "CREATING" in info.value.response["Error"]["Message"]


def test_update_unknown_file_system(fsx: Any) -> None:
    with pytest.raises(ClientError) as info:
        fsx.update_file_system(FileSystemId="fs-0123456789abcdef0", StorageCapacity=2400)
    assert info.value.response["Error"]["Code"] == "FileSystemNotFound"


def test_lustre_settings_update_applies(fsx: Any) -> None:
    fs_id = available(fsx)
    fsx.update_file_system(
        FileSystemId=fs_id,
        LustreConfiguration={"WeeklyMaintenanceStartTime": "3:04:00", "DataCompressionType": "LZ4"},
    )
    lustre = describe(fsx, fs_id)["LustreConfiguration"]
    assert (lustre["WeeklyMaintenanceStartTime"], lustre["DataCompressionType"]) == (
        "3:04:00",
        "LZ4",
    )


# -- data repository associations ------------------------------------------------------------


def test_association_lifecycle_on_persistent_2(fsx: Any) -> None:
    fs_id = available(fsx)
    association = fsx.create_data_repository_association(
        FileSystemId=fs_id,
        FileSystemPath="/ns1",
        DataRepositoryPath="s3://bucket/prefix",
        BatchImportMetaDataOnCreate=True,
        S3={"AutoImportPolicy": {"Events": ["NEW", "CHANGED"]}},
        Tags=[{"Key": "k", "Value": "v"}],
    )["Association"]
    dra_id = association["AssociationId"]
    assert association["Lifecycle"] == "CREATING"
    assert association["FileSystemId"] == fs_id
    assert association["ImportedFileChunkSize"] == 1024
    assert association["S3"] == {"AutoImportPolicy": {"Events": ["NEW", "CHANGED"]}}
    assert association["ResourceARN"].endswith(f":association/{fs_id}/{dra_id}")

    def state() -> str:
        found = fsx.describe_data_repository_associations(AssociationIds=[dra_id])
        return str(found["Associations"][0]["Lifecycle"])

    wait_for(f"{dra_id} AVAILABLE", state, lambda s: s == "AVAILABLE")
    by_fs = fsx.describe_data_repository_associations(
        Filters=[{"Name": "file-system-id", "Values": [fs_id]}]
    )["Associations"]
    assert [a["AssociationId"] for a in by_fs] == [dra_id]
    deleted = fsx.delete_data_repository_association(AssociationId=dra_id)
    assert deleted["Lifecycle"] == "DELETING"

    def gone() -> str:
        try:
            return state()
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])

    wait_for(f"{dra_id} gone", gone, lambda s: s == "DataRepositoryAssociationNotFound")


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"LustreConfiguration": {"DeploymentType": "SCRATCH_1"}}, id="scratch_1"),
        pytest.param(
            {
                "LustreConfiguration": {
                    "DeploymentType": "PERSISTENT_1",
                    "PerUnitStorageThroughput": 50,
                }
            },
            id="lustre-2.10",
        ),
        pytest.param(
            {
                "LustreConfiguration": {"DeploymentType": "SCRATCH_2", "ImportPath": "s3://b"},
                "FileSystemTypeVersion": "2.12",
            },
            id="legacy-import-path",
        ),
    ],
)
def test_associations_are_refused_where_aws_refuses_them(
    fsx: Any, overrides: dict[str, Any]
) -> None:
    fs_id = available(fsx, **overrides)
    with pytest.raises(ClientError) as info:
        fsx.create_data_repository_association(
            FileSystemId=fs_id, FileSystemPath="/a", DataRepositoryPath="s3://b/a"
        )
    assert info.value.response["Error"]["Code"] == "BadRequest"


def test_overlapping_association_paths_are_refused(fsx: Any) -> None:
    fs_id = available(fsx)
    fsx.create_data_repository_association(
        FileSystemId=fs_id, FileSystemPath="/ns1", DataRepositoryPath="s3://b/1"
    )
    with pytest.raises(ClientError) as info:
        fsx.create_data_repository_association(
            FileSystemId=fs_id, FileSystemPath="/ns1/sub", DataRepositoryPath="s3://b/2"
        )
    assert "FileSystemPath" in info.value.response["Error"]["Message"]


def test_association_errors(fsx: Any) -> None:
    with pytest.raises(ClientError) as info:
        fsx.create_data_repository_association(
            FileSystemId="fs-0123456789abcdef0", FileSystemPath="/a", DataRepositoryPath="s3://b"
        )
    assert info.value.response["Error"]["Code"] == "FileSystemNotFound"
    with pytest.raises(ClientError) as info:
        fsx.delete_data_repository_association(AssociationId="dra-0123456789abcdef0")
    assert info.value.response["Error"]["Code"] == "DataRepositoryAssociationNotFound"
    fs_id = available(fsx)
    with pytest.raises(ClientError) as info:
        fsx.create_data_repository_association(
            FileSystemId=fs_id, FileSystemPath="/a", DataRepositoryPath="/not/s3"
        )
    assert "DataRepositoryPath" in info.value.response["Error"]["Message"]


def test_deleting_a_file_system_deletes_its_associations(fsx: Any) -> None:
    fs_id = available(fsx)
    dra_id = fsx.create_data_repository_association(
        FileSystemId=fs_id, FileSystemPath="/a", DataRepositoryPath="s3://b/a"
    )["Association"]["AssociationId"]
    fsx.delete_file_system(FileSystemId=fs_id)
    found = fsx.describe_data_repository_associations(AssociationIds=[dra_id])["Associations"]
    assert found[0]["Lifecycle"] == "DELETING"
