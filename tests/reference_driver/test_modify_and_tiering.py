"""Over gRPC against the FSx emulator: ControllerModifyVolume, INTELLIGENT_TIERING StorageClasses,
--extra-tags, the unknown-key warning and the controller's start-up without AWS settings."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import grpc
import pytest

from fsx_csi_harness.csi import csi_pb2
from reference_driver.server import build_server
from tests.reference_driver.conftest import (
    PERSISTENT_2,
    Csi,
    EmulatedDriver,
    create_request,
    emulated_config,
    live_file_systems,
    rpc_error,
)

METADATA_P2 = {**PERSISTENT_2, "metadataConfigurationMode": "AUTOMATIC"}
TIERING = {"subnetId": PERSISTENT_2["subnetId"], "storageType": "INTELLIGENT_TIERING"}


def file_system(emulated: EmulatedDriver, volume_id: str) -> dict[str, Any]:
    systems: list[dict[str, Any]] = emulated.emulator.control.file_systems()
    [fs] = [f for f in systems if f["FileSystemId"] == volume_id]
    return fs


def modify(csi: Csi, volume_id: str, **mutable: str) -> None:
    csi.controller.ControllerModifyVolume(
        csi_pb2.ControllerModifyVolumeRequest(volume_id=volume_id, mutable_parameters=mutable),
        timeout=20,
    )


def test_modify_changes_per_unit_throughput_and_is_idempotent(
    emulated_driver: EmulatedDriver,
) -> None:
    csi = emulated_driver.csi
    volume = csi.controller.CreateVolume(create_request("pvc-modify"), timeout=20).volume
    modify(csi, volume.volume_id, perUnitStorageThroughput="500")
    fs = file_system(emulated_driver, volume.volume_id)
    assert fs["LustreConfiguration"]["PerUnitStorageThroughput"] == 500
    assert fs["Lifecycle"] == "AVAILABLE"
    actions = fs["AdministrativeActions"]
    assert actions[-1]["TargetFileSystemValues"] == {
        "LustreConfiguration": {"PerUnitStorageThroughput": 500}
    }
    # The same values again: nothing to change, no second UpdateFileSystem.
    modify(csi, volume.volume_id, perUnitStorageThroughput="500")
    assert len(file_system(emulated_driver, volume.volume_id)["AdministrativeActions"]) == 1


def test_modify_raises_metadata_iops_from_automatic(emulated_driver: EmulatedDriver) -> None:
    csi = emulated_driver.csi
    volume = csi.controller.CreateVolume(create_request("pvc-mdt", METADATA_P2), timeout=20).volume
    modify(csi, volume.volume_id, metadataIops="3000")
    metadata = file_system(emulated_driver, volume.volume_id)["LustreConfiguration"][
        "MetadataConfiguration"
    ]
    assert metadata == {"Mode": "USER_PROVISIONED", "Iops": 3000}


@pytest.mark.parametrize(
    ("parameters", "mutable", "words"),
    [
        (PERSISTENT_2, {"deploymentType": "PERSISTENT_1"}, ["deploymentType", "metadataIops"]),
        (
            PERSISTENT_2,
            {"perUnitStorageThroughput": "200"},
            ["perUnitStorageThroughput", "125, 250, 500, 1000"],
        ),
        (
            PERSISTENT_2,
            {"perUnitStorageThroughput": "fast"},
            ["perUnitStorageThroughput", "integer"],
        ),
        (
            PERSISTENT_2,
            {"metadataIops": "3000"},
            ["metadataIops", "metadata configuration", "2.12"],
        ),
        (METADATA_P2, {"metadataIops": "4000"}, ["metadataIops", "1500, 3000, 6000"]),
        (
            {
                **METADATA_P2,
                "metadataConfigurationMode": "USER_PROVISIONED",
                "metadataIops": "6000",
            },
            {"metadataIops": "3000"},
            ["metadataIops", "only increase"],
        ),
        (
            {**METADATA_P2, "perUnitStorageThroughput": "1000", "efaEnabled": "true"},
            {"perUnitStorageThroughput": "125"},
            ["perUnitStorageThroughput", "does not fit the storage capacity 4800 GiB"],
        ),
        (
            {"subnetId": PERSISTENT_2["subnetId"], "deploymentType": "SCRATCH_2"},
            {"perUnitStorageThroughput": "125"},
            ["perUnitStorageThroughput", "persistent SSD"],
        ),
    ],
)
def test_modify_refuses_what_fsx_cannot_change_naming_the_key(
    emulated_driver: EmulatedDriver,
    parameters: dict[str, str],
    mutable: dict[str, str],
    words: list[str],
) -> None:
    csi = emulated_driver.csi
    volume = csi.controller.CreateVolume(create_request("pvc-bad", parameters), timeout=20).volume
    before = file_system(emulated_driver, volume.volume_id)
    error = rpc_error(
        csi.controller.ControllerModifyVolume,
        csi_pb2.ControllerModifyVolumeRequest(
            volume_id=volume.volume_id, mutable_parameters=mutable
        ),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    for word in words:
        assert word in error.details(), error.details()
    assert file_system(emulated_driver, volume.volume_id) == before


def test_modify_of_an_unknown_volume_is_not_found(emulated_driver: EmulatedDriver) -> None:
    error = rpc_error(
        emulated_driver.csi.controller.ControllerModifyVolume,
        csi_pb2.ControllerModifyVolumeRequest(
            volume_id="fs-0123456789abcdef0", mutable_parameters={"perUnitStorageThroughput": "250"}
        ),
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_create_volume_applies_mutable_parameters(emulated_driver: EmulatedDriver) -> None:
    request = create_request("pvc-vac", mutable_parameters={"perUnitStorageThroughput": "250"})
    volume = emulated_driver.csi.controller.CreateVolume(request, timeout=20).volume
    lustre = file_system(emulated_driver, volume.volume_id)["LustreConfiguration"]
    assert lustre["PerUnitStorageThroughput"] == 250


def test_intelligent_tiering_storage_class_with_upstreams_defaults(
    emulated_driver: EmulatedDriver,
) -> None:
    request = create_request("pvc-it", {**TIERING, "throughputCapacity": "8000"}, required_gib=500)
    volume = emulated_driver.csi.controller.CreateVolume(request, timeout=20).volume
    assert volume.capacity_bytes == 0  # elastic: external-provisioner keeps the requested size
    fs = file_system(emulated_driver, volume.volume_id)
    assert fs["StorageType"] == "INTELLIGENT_TIERING" and "StorageCapacity" not in fs
    lustre = fs["LustreConfiguration"]
    assert lustre["DeploymentType"] == "PERSISTENT_2"
    assert lustre["ThroughputCapacity"] == 8000
    assert lustre["DataReadCacheConfiguration"] == {
        "SizingMode": "PROPORTIONAL_TO_THROUGHPUT_CAPACITY"
    }
    assert lustre["MetadataConfiguration"] == {"Mode": "USER_PROVISIONED", "Iops": 6000}
    error = rpc_error(
        emulated_driver.csi.controller.ControllerExpandVolume,
        csi_pb2.ControllerExpandVolumeRequest(
            volume_id=volume.volume_id, capacity_range=csi_pb2.CapacityRange(required_bytes=1)
        ),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"throughputCapacity": "5000"}, ["throughputCapacity", "4000"]),
        ({}, ["throughputCapacity", "storageType=INTELLIGENT_TIERING"]),
        (
            {
                "throughputCapacity": "4000",
                "dataReadCacheSizingMode": "USER_PROVISIONED",
                "dataReadCacheSizeGiB": "10",
            },
            ["dataReadCacheSizeGiB", "32 to 131072"],
        ),
        ({"throughputCapacity": "4000", "metadataIops": "3000"}, ["metadataIops", "6000 or 12000"]),
        (
            {"throughputCapacity": "4000", "perUnitStorageThroughput": "125"},
            ["perUnitStorageThroughput", "throughputCapacity"],
        ),
        (
            {"throughputCapacity": "4000", "dataRepositoryAssociations": "/d=s3://bucket/d"},
            ["dataRepositoryAssociations", "INTELLIGENT_TIERING"],
        ),
        (
            {"throughputCapacity": "4000", "deploymentType": "PERSISTENT_1"},
            ["storageType", "PERSISTENT_2"],
        ),
    ],
)
def test_intelligent_tiering_refusals_name_the_key_and_create_nothing(
    emulated_driver: EmulatedDriver, extra: dict[str, str], words: list[str]
) -> None:
    error = rpc_error(
        emulated_driver.csi.controller.CreateVolume,
        create_request("pvc-it-bad", {**TIERING, **extra}),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    for word in words:
        assert word in error.details(), error.details()
    assert live_file_systems(emulated_driver.emulator) == []


def test_extra_tags_flag_tags_every_file_system(
    short_dir: Path, emulator: Any, emulation_root: Path
) -> None:
    config = emulated_config(
        short_dir, emulator, emulation_root, extra_tags=(("team", "ml"), ("env", "dev"))
    )
    with build_server(config) as server, grpc.insecure_channel(server.address) as channel:
        csi = Csi(channel)
        parameters = {**PERSISTENT_2, "extraTags": "env=prod"}
        volume = csi.controller.CreateVolume(create_request("pvc-tags", parameters), timeout=20)
    [fs] = live_file_systems(emulator)
    assert fs["FileSystemId"] == volume.volume.volume_id
    tags = {t["Key"]: t["Value"] for t in fs["Tags"]}
    assert tags == {"CSIVolumeName": "pvc-tags", "team": "ml", "env": "prod"}


def test_an_unknown_key_is_ignored_with_a_warning_naming_the_closest_key(
    emulated_driver: EmulatedDriver, caplog: pytest.LogCaptureFixture
) -> None:
    parameters = {**PERSISTENT_2, "deploymentTyp": "SCRATCH_2", "csi.storage.k8s.io/pvc/name": "x"}
    with caplog.at_level(logging.WARNING, logger="reference_driver.parameters"):
        emulated_driver.csi.controller.CreateVolume(
            create_request("pvc-typo", parameters), timeout=20
        )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "'deploymentTyp'" in warnings[0] and "'deploymentType'" in warnings[0]


def _driver_without(*unset: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in unset and not k.startswith("AWS_")}
    env.update({"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent"})
    env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
    if "AWS_REGION" not in unset:
        env["AWS_REGION"] = "us-east-1"
    return subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness.cli", "driver", "--mode", "controller",
         "--endpoint", "unix:///tmp/rd-no-aws.sock"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("unset", "words"),
    [(("AWS_REGION",), "set AWS_REGION (or pass --region)"), ((), "AWS_ACCESS_KEY_ID")],
)
def test_a_controller_without_aws_settings_ends_with_one_line(
    unset: tuple[str, ...], words: str
) -> None:
    result = _driver_without(*unset)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "deployment",
    [
        {"deploymentType": "SCRATCH_2", "fileSystemTypeVersion": "2.12"},
        {
            "deploymentType": "PERSISTENT_1",
            "perUnitStorageThroughput": "50",
            "fileSystemTypeVersion": "2.15",
        },
        {"deploymentType": "PERSISTENT_2", "perUnitStorageThroughput": "125"},
    ],
)
def test_associations_wherever_aws_allows_them(
    emulated_driver: EmulatedDriver, deployment: dict[str, str]
) -> None:
    parameters = {
        "subnetId": PERSISTENT_2["subnetId"],
        **deployment,
        "dataRepositoryAssociations": "/data=s3://bucket/data",
    }
    request = create_request("pvc-dra", parameters)
    volume = emulated_driver.csi.controller.CreateVolume(request, timeout=20).volume
    fsx = boto3.client(
        "fsx",
        endpoint_url=emulated_driver.emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    associations = fsx.describe_data_repository_associations()["Associations"]
    assert [(a["FileSystemId"], a["FileSystemPath"], a["Lifecycle"]) for a in associations] == [
        (volume.volume_id, "/data", "AVAILABLE")
    ]


def test_associations_on_scratch_1_are_refused_naming_the_key(
    emulated_driver: EmulatedDriver,
) -> None:
    parameters = {
        "subnetId": PERSISTENT_2["subnetId"],
        "deploymentType": "SCRATCH_1",
        "dataRepositoryAssociations": "/data=s3://bucket/data",
    }
    error = rpc_error(
        emulated_driver.csi.controller.CreateVolume, create_request("pvc-dra-s1", parameters)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "dataRepositoryAssociations" in error.details() and "SCRATCH_1" in error.details()
    assert live_file_systems(emulated_driver.emulator) == []


def test_metadata_increases_six_hours_apart_pass_through_with_aws_words(
    emulated_driver: EmulatedDriver,
) -> None:
    csi = emulated_driver.csi
    parameters = {
        **METADATA_P2,
        "metadataConfigurationMode": "USER_PROVISIONED",
        "metadataIops": "1500",
    }
    volume = csi.controller.CreateVolume(create_request("pvc-6h", parameters), timeout=20).volume
    modify(csi, volume.volume_id, metadataIops="3000")
    error = rpc_error(
        csi.controller.ControllerModifyVolume,
        csi_pb2.ControllerModifyVolumeRequest(
            volume_id=volume.volume_id, mutable_parameters={"metadataIops": "6000"}
        ),
    )
    # FSx refuses (the driver cannot know when the last increase was): its words reach the CO.
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "6 hours" in error.details()
    emulated_driver.emulator.control.advance_clock(6 * 3600)
    modify(csi, volume.volume_id, metadataIops="6000")
    metadata = file_system(emulated_driver, volume.volume_id)["LustreConfiguration"][
        "MetadataConfiguration"
    ]
    assert metadata == {"Mode": "USER_PROVISIONED", "Iops": 6000}
