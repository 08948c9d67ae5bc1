"""The driver and the emulator agree on which StorageClass configurations FSx accepts.

Both take their rules from `fsx_csi_harness.fsx`; this table of valid and invalid parameter
combinations holds them to it. A combination the driver accepts becomes the CreateFileSystem
request the driver sends, and the emulator (over HTTP, as boto3 talks to it) must accept that
request; one the driver refuses is sent to the emulator as the plain translation of each key
to its field, and the emulator must refuse it too, naming the same field. The driver's test
fake (tests/reference_driver/fakes.py) must agree as well.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from fsx_csi_harness.fsx import (
    DEFAULT_CAPACITY_GIB,
    STORAGE_CLASS_FIELDS,
    Field,
    storage_class_capacity_rule,
)
from reference_driver.cloud.domain import create_file_system_request
from reference_driver.errors import InvalidArgument
from reference_driver.parameters import key_name, parse_create_parameters
from tests.reference_driver.fakes import FakeFsxApi

NET = {"subnetId": "subnet-0123456789abcdef0", "securityGroupIds": "sg-0123456789abcdef0"}
S2 = {"deploymentType": "SCRATCH_2"}
P1 = {"deploymentType": "PERSISTENT_1", "perUnitStorageThroughput": "50"}
HDD = {"deploymentType": "PERSISTENT_1", "storageType": "HDD", "perUnitStorageThroughput": "12"}
P2 = {"deploymentType": "PERSISTENT_2", "perUnitStorageThroughput": "125"}
IT = {"storageType": "INTELLIGENT_TIERING", "throughputCapacity": "4000"}

VALID: list[tuple[str, dict[str, str]]] = [
    ("defaults (SCRATCH_1)", {}),
    ("SCRATCH_2", S2),
    ("PERSISTENT_1 SSD", P1),
    ("PERSISTENT_1 HDD 12 without cache", {**HDD, "driveCacheType": "NONE"}),
    ("PERSISTENT_1 HDD 40 read cache", {**HDD, "perUnitStorageThroughput": "40",
                                        "driveCacheType": "READ"}),
    ("PERSISTENT_2", P2),
    ("PERSISTENT_2 EFA", {**P2, "perUnitStorageThroughput": "1000", "efaEnabled": "true",
                          "metadataConfigurationMode": "AUTOMATIC"}),
    ("PERSISTENT_2 user-provisioned metadata", {**P2, "metadataConfigurationMode":
                                                "USER_PROVISIONED", "metadataIops": "3000"}),
    ("PERSISTENT_2 Lustre 2.15 metadata", {**P2, "fileSystemTypeVersion": "2.15",
                                           "metadataConfigurationMode": "AUTOMATIC"}),
    ("SCRATCH_2 Lustre 2.12", {**S2, "fileSystemTypeVersion": "2.12"}),
    ("backups", {**P1, "automaticBackupRetentionDays": "7",
                 "dailyAutomaticBackupStartTime": "05:00", "copyTagsToBackups": "true",
                 "kmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/k"}),
    ("legacy S3 link", {**S2, "s3ImportPath": "s3://bucket-a/in",
                        "s3ExportPath": "s3://bucket-a/out", "autoImportPolicy": "NEW"}),
    ("maintenance window and compression", {**S2, "weeklyMaintenanceStartTime": "7:09:00",
                                            "dataCompressionType": "LZ4"}),
    # Reconciled drift: the driver once refused these, which AWS accepts.
    ("subnet of 10 hex digits", {"subnetId": "subnet-0123456789"}),
    ("efaEnabled=false on SCRATCH_2", {**S2, "efaEnabled": "false"}),
    ("INTELLIGENT_TIERING with upstream's defaults", {**IT}),
    ("INTELLIGENT_TIERING with a user-provisioned cache", {**IT, "throughputCapacity": "8000",
     "dataReadCacheSizingMode": "USER_PROVISIONED", "dataReadCacheSizeGiB": "64",
     "metadataIops": "12000"}),
]  # fmt: skip

INVALID: list[tuple[str, dict[str, str]]] = [
    ("HDD on SCRATCH_2", {**S2, "storageType": "HDD"}),
    ("PERSISTENT_1 SSD at 125", {**P1, "perUnitStorageThroughput": "125"}),
    ("PERSISTENT_2 without throughput", {"deploymentType": "PERSISTENT_2"}),
    ("throughput on SCRATCH_2", {**S2, "perUnitStorageThroughput": "200"}),
    ("HDD without drive cache", HDD),
    ("drive cache on SSD", {**P1, "driveCacheType": "READ"}),
    ("KMS key on SCRATCH_2", {**S2, "kmsKeyId": "k"}),
    ("backups on SCRATCH_2", {**S2, "automaticBackupRetentionDays": "1"}),
    ("retention of 91 days", {**P1, "automaticBackupRetentionDays": "91"}),
    ("backup time 25:00", {**P1, "automaticBackupRetentionDays": "1",
                           "dailyAutomaticBackupStartTime": "25:00"}),
    ("maintenance on day 8", {**S2, "weeklyMaintenanceStartTime": "8:00:00"}),
    ("import path on PERSISTENT_2", {**P2, "s3ImportPath": "s3://bucket-a"}),
    ("export without import", {**S2, "s3ExportPath": "s3://bucket-a/out"}),
    ("export to another bucket", {**S2, "s3ImportPath": "s3://bucket-a",
                                  "s3ExportPath": "s3://bucket-b/out"}),
    ("auto import without import", {**S2, "autoImportPolicy": "NEW"}),
    ("Lustre 2.10 on PERSISTENT_2", {**P2, "fileSystemTypeVersion": "2.10"}),
    ("Lustre 3.0", {**S2, "fileSystemTypeVersion": "3.0"}),
    ("EFA on PERSISTENT_1", {**P1, "efaEnabled": "true"}),
    ("metadata on SCRATCH_2", {**S2, "metadataConfigurationMode": "AUTOMATIC"}),
    ("IOPS in AUTOMATIC mode", {**P2, "metadataConfigurationMode": "AUTOMATIC",
                                "metadataIops": "1500"}),
    ("USER_PROVISIONED without IOPS", {**P2, "metadataConfigurationMode": "USER_PROVISIONED"}),
    ("IOPS of 2000", {**P2, "metadataConfigurationMode": "USER_PROVISIONED",
                      "metadataIops": "2000"}),
    ("deployment SCRATCH_9", {"deploymentType": "SCRATCH_9"}),
    ("storage NVME", {"storageType": "NVME"}),
    ("compression GZIP", {**S2, "dataCompressionType": "GZIP"}),
    ("malformed security group", {**S2, "securityGroupIds": "sg-1"}),
    # Reconciled drift: one copy accepted these, which AWS refuses.
    ("subnet longer than the API allows", {"subnetId": "subnet-" + "0" * 18}),
    ("maintenance window without its colon", {**S2, "weeklyMaintenanceStartTime": "1:0500"}),
    ("backup time without its colon", {**P1, "automaticBackupRetentionDays": "1",
                                       "dailyAutomaticBackupStartTime": "0500"}),
    ("backup time with backups disabled", {**P1, "dailyAutomaticBackupStartTime": "05:00"}),
    ("metadata on Lustre 2.12", {**P2, "fileSystemTypeVersion": "2.12",
                                 "metadataConfigurationMode": "AUTOMATIC"}),
    ("EFA without a metadata configuration", {**P2, "perUnitStorageThroughput": "1000",
                                              "efaEnabled": "true"}),
    ("INTELLIGENT_TIERING throughput not a step", {**IT, "throughputCapacity": "6000",
     "metadataConfigurationMode": "USER_PROVISIONED", "metadataIops": "6000",
     "dataReadCacheSizingMode": "NO_CACHE", "deploymentType": "PERSISTENT_2"}),
    ("INTELLIGENT_TIERING on PERSISTENT_1", {**IT, "deploymentType": "PERSISTENT_1"}),
    ("INTELLIGENT_TIERING automatic metadata", {**IT, "deploymentType": "PERSISTENT_2",
     "dataReadCacheSizingMode": "NO_CACHE", "metadataConfigurationMode": "AUTOMATIC"}),
    ("read cache on SSD", {**P2, "dataReadCacheSizingMode": "NO_CACHE"}),
]  # fmt: skip

# JSON types of the fields whose StorageClass strings are not JSON strings.
_INTEGERS = {
    Field.PER_UNIT_STORAGE_THROUGHPUT,
    Field.AUTOMATIC_BACKUP_RETENTION_DAYS,
    Field.METADATA_IOPS,
    Field.THROUGHPUT_CAPACITY,
    Field.READ_CACHE_SIZE,
}
_BOOLEANS = {Field.COPY_TAGS_TO_BACKUPS, Field.EFA_ENABLED}
_LISTS = {Field.SUBNET_IDS, Field.SECURITY_GROUP_IDS}


def plain_request(params: dict[str, str]) -> dict[str, Any]:
    """Each key's value at its field's path, converted to its JSON type and nothing else."""
    try:
        capacity = storage_class_capacity_rule(params).round_up(DEFAULT_CAPACITY_GIB)
    except ValueError:
        capacity = DEFAULT_CAPACITY_GIB
    request: dict[str, Any] = {
        "FileSystemType": "LUSTRE",
        "StorageCapacity": capacity,
        "LustreConfiguration": {},
    }
    if params.get("storageType") == "INTELLIGENT_TIERING":
        del request["StorageCapacity"]
    for key, raw in params.items():
        field = STORAGE_CLASS_FIELDS[key]
        value: Any = raw
        if field in _INTEGERS:
            value = int(raw)
        elif field in _BOOLEANS:
            value = raw == "true"
        elif field in _LISTS:
            value = raw.split(",")
        *parents, leaf = field.path
        target = request
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return request


@pytest.fixture
def client(emulator: Any) -> Any:
    # botocore's own checks (minimum lengths) are off: the emulator is the one under test.
    return boto3.client(
        "fsx",
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )


def refusal(client: Any, request: dict[str, Any]) -> str | None:
    """The emulator's error message for `request`, or None when it creates the file system."""
    try:
        client.create_file_system(**request)
    except ClientError as exc:
        return f"{exc.response['Error']['Code']}: {exc.response['Error']['Message']}"
    return None


def fake_refusal(request: dict[str, Any]) -> str | None:
    try:
        FakeFsxApi().create_file_system(**request)
    except ClientError as exc:
        return str(exc.response["Error"]["Message"])
    return None


@pytest.mark.parametrize("params", [pytest.param(p, id=name) for name, p in VALID])
def test_what_the_driver_accepts_the_emulator_creates(client: Any, params: dict[str, str]) -> None:
    options = parse_create_parameters({**NET, **params})
    request = create_file_system_request("pvc-agreement", options)
    assert refusal(client, request) is None
    assert fake_refusal(request) is None


@pytest.mark.parametrize("params", [pytest.param(p, id=name) for name, p in INVALID])
def test_what_the_driver_refuses_the_emulator_refuses_naming_the_same_field(
    client: Any, params: dict[str, str]
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_create_parameters({**NET, **params})
    driver_message = caught.value.message
    named_key = driver_message.removeprefix("parameter ").split("=")[0].split(" ")[0]
    request = plain_request({**NET, **params})
    emulator_message = refusal(client, request)
    assert emulator_message is not None, f"the driver refused ({driver_message}), the emulator not"
    field = STORAGE_CLASS_FIELDS[named_key]
    assert key_name(field) == named_key
    assert field.key in emulator_message, (driver_message, emulator_message)
    assert fake_refusal(request) is not None
