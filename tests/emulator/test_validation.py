"""Bad input: AWS's error code and shape, a message naming the field; never a 500."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from fsx_csi_harness.fsx import PER_UNIT_THROUGHPUT, DeploymentType, StorageType, capacity_rule
from fsx_emulator import EmulatorServer

from .conftest import SUBNET, create, lustre_request, make_client

P1 = {"DeploymentType": "PERSISTENT_1", "PerUnitStorageThroughput": 50}
P2 = {"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 125}
S1 = {"DeploymentType": "SCRATCH_1"}
S2 = {"DeploymentType": "SCRATCH_2"}

INVALID = [
    (
        "capacity not a valid size for scratch_2",
        {"StorageCapacity": 1800, "LustreConfiguration": S2},
        "BadRequest",
        "StorageCapacity",
    ),
    (
        "capacity not a valid size for scratch_1",
        {"StorageCapacity": 4800, "LustreConfiguration": S1},
        "BadRequest",
        "StorageCapacity",
    ),
    (
        "hdd capacity at 12 MB/s",
        {
            "StorageType": "HDD",
            "StorageCapacity": 1800,
            "LustreConfiguration": {
                "DeploymentType": "PERSISTENT_1",
                "PerUnitStorageThroughput": 12,
                "DriveCacheType": "NONE",
            },
        },
        "BadRequest",
        "StorageCapacity",
    ),
    (
        "throughput on scratch",
        {"LustreConfiguration": {**S2, "PerUnitStorageThroughput": 50}},
        "InvalidPerUnitStorageThroughput",
        "PerUnitStorageThroughput",
    ),
    (
        "persistent without throughput",
        {"LustreConfiguration": {"DeploymentType": "PERSISTENT_1"}},
        "InvalidPerUnitStorageThroughput",
        "PerUnitStorageThroughput",
    ),
    (
        "p2 throughput value",
        {"LustreConfiguration": {**P2, "PerUnitStorageThroughput": 200}},
        "InvalidPerUnitStorageThroughput",
        "PerUnitStorageThroughput",
    ),
    (
        "p1 ssd throughput value",
        {"LustreConfiguration": {**P1, "PerUnitStorageThroughput": 125}},
        "InvalidPerUnitStorageThroughput",
        "PerUnitStorageThroughput",
    ),
    ("hdd on p2", {"StorageType": "HDD", "LustreConfiguration": P2}, "BadRequest", "HDD"),
    (
        "hdd without drive cache",
        {
            "StorageType": "HDD",
            "StorageCapacity": 6000,
            "LustreConfiguration": {
                "DeploymentType": "PERSISTENT_1",
                "PerUnitStorageThroughput": 12,
            },
        },
        "BadRequest",
        "DriveCacheType",
    ),
    (
        "drive cache on ssd",
        {"LustreConfiguration": {**P1, "DriveCacheType": "READ"}},
        "BadRequest",
        "DriveCacheType",
    ),
    (
        "deployment type name",
        {"LustreConfiguration": {"DeploymentType": "PERSISTENT_3"}},
        "BadRequest",
        "DeploymentType",
    ),
    (
        "two subnets",
        {"SubnetIds": [SUBNET, "subnet-0123456789abcdef1"]},
        "InvalidNetworkSettings",
        "SubnetIds",
    ),
    (
        "malformed subnet",
        {"SubnetIds": ["subnet-nothexatall"]},
        "InvalidNetworkSettings",
        "SubnetIds",
    ),
    (
        "malformed security group",
        {"SecurityGroupIds": ["sg-nothexatall"]},
        "InvalidNetworkSettings",
        "SecurityGroupIds",
    ),
    (
        "backup retention > 90",
        {"LustreConfiguration": {**P2, "AutomaticBackupRetentionDays": 91}},
        "BadRequest",
        "AutomaticBackupRetentionDays",
    ),
    (
        "backups on scratch",
        {"LustreConfiguration": {**S2, "AutomaticBackupRetentionDays": 1}},
        "BadRequest",
        "AutomaticBackupRetentionDays",
    ),
    (
        "backup start time",
        {
            "LustreConfiguration": {
                **P2,
                "AutomaticBackupRetentionDays": 1,
                "DailyAutomaticBackupStartTime": "25:00",
            }
        },
        "BadRequest",
        "DailyAutomaticBackupStartTime",
    ),
    (
        "backup start without retention",
        {"LustreConfiguration": {**P2, "DailyAutomaticBackupStartTime": "01:00"}},
        "BadRequest",
        "DailyAutomaticBackupStartTime",
    ),
    (
        "copy tags on scratch",
        {"LustreConfiguration": {**S1, "CopyTagsToBackups": True}},
        "BadRequest",
        "CopyTagsToBackups",
    ),
    (
        "maintenance window",
        {"LustreConfiguration": {**P2, "WeeklyMaintenanceStartTime": "8:00:00"}},
        "BadRequest",
        "WeeklyMaintenanceStartTime",
    ),
    ("kms on scratch", {"KmsKeyId": "key", "LustreConfiguration": S2}, "BadRequest", "KmsKeyId"),
    (
        "import path on p2",
        {"LustreConfiguration": {**P2, "ImportPath": "s3://b"}},
        "InvalidImportPath",
        "ImportPath",
    ),
    (
        "export without import",
        {"LustreConfiguration": {**S2, "ExportPath": "s3://b"}},
        "InvalidExportPath",
        "ExportPath",
    ),
    (
        "import path not s3",
        {"LustreConfiguration": {**S2, "ImportPath": "/data"}},
        "InvalidImportPath",
        "ImportPath",
    ),
    (
        "export in another bucket",
        {"LustreConfiguration": {**S2, "ImportPath": "s3://a", "ExportPath": "s3://b/x"}},
        "InvalidExportPath",
        "ExportPath",
    ),
    (
        "chunk size too big",
        {"LustreConfiguration": {**S2, "ImportPath": "s3://a", "ImportedFileChunkSize": 512001}},
        "BadRequest",
        "ImportedFileChunkSize",
    ),
    (
        "auto import policy value",
        {"LustreConfiguration": {**S2, "ImportPath": "s3://a", "AutoImportPolicy": "ALL"}},
        "BadRequest",
        "AutoImportPolicy",
    ),
    (
        "compression type",
        {"LustreConfiguration": {**S2, "DataCompressionType": "GZIP"}},
        "BadRequest",
        "DataCompressionType",
    ),
    ("efa on p1", {"LustreConfiguration": {**P1, "EfaEnabled": True}}, "BadRequest", "EfaEnabled"),
    (
        "efa without metadata configuration",
        {
            "StorageCapacity": 4800,
            "LustreConfiguration": {**P2, "PerUnitStorageThroughput": 1000, "EfaEnabled": True},
        },
        "MissingFileSystemConfiguration",
        "MetadataConfiguration.Mode",
    ),
    (
        "metadata on scratch",
        {"LustreConfiguration": {**S2, "MetadataConfiguration": {"Mode": "AUTOMATIC"}}},
        "BadRequest",
        "MetadataConfiguration",
    ),
    (
        "metadata iops in automatic mode",
        {
            "LustreConfiguration": {
                **P2,
                "MetadataConfiguration": {"Mode": "AUTOMATIC", "Iops": 1500},
            }
        },
        "BadRequest",
        "Iops",
    ),
    (
        "metadata iops value",
        {
            "LustreConfiguration": {
                **P2,
                "MetadataConfiguration": {"Mode": "USER_PROVISIONED", "Iops": 2000},
            }
        },
        "BadRequest",
        "Iops",
    ),
    ("lustre version", {"FileSystemTypeVersion": "2.11"}, "BadRequest", "FileSystemTypeVersion"),
    ("2.10 on p2", {"FileSystemTypeVersion": "2.10"}, "BadRequest", "FileSystemTypeVersion"),
    (
        "efa capacity",
        {
            "StorageCapacity": 2400,
            "LustreConfiguration": {
                **P2,
                "EfaEnabled": True,
                "MetadataConfiguration": {"Mode": "AUTOMATIC"},
            },
        },
        "BadRequest",
        "StorageCapacity",
    ),
    ("reserved tag prefix", {"Tags": [{"Key": "aws:x", "Value": "y"}]}, "BadRequest", "Tags"),
    (
        "client request token",
        {"ClientRequestToken": "has space"},
        "BadRequest",
        "ClientRequestToken",
    ),
    ("file system type", {"FileSystemType": "WINDOWS"}, "BadRequest", "FileSystemType"),
    # Drift once between the emulator and the driver, reconciled on the API reference.
    # Ids are capped in length (subnet- 15-24, sg- 11-20 characters).
    (
        "subnet id longer than the api allows",
        {"SubnetIds": ["subnet-" + "0" * 18]},
        "InvalidNetworkSettings",
        "SubnetIds",
    ),
    (
        "security group id longer than the api allows",
        {"SecurityGroupIds": ["sg-" + "0" * 18]},
        "InvalidNetworkSettings",
        "SecurityGroupIds",
    ),
    (
        "metadata configuration on lustre 2.12",
        {
            "FileSystemTypeVersion": "2.12",
            "LustreConfiguration": {**P2, "MetadataConfiguration": {"Mode": "AUTOMATIC"}},
        },
        "BadRequest",
        "FileSystemTypeVersion",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [pytest.param(o, c, f, id=name) for name, o, c, f in INVALID],
)
def test_invalid_create_names_the_field(
    fsx: Any, overrides: dict[str, Any], code: str, field: str
) -> None:
    with pytest.raises(ClientError) as info:
        create(fsx, **overrides)
    error = info.value.response["Error"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == code
    assert field in error["Message"]
    assert fsx.describe_file_systems()["FileSystems"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("WeeklyMaintenanceStartTime", "1:0500"), ("DailyAutomaticBackupStartTime", "0500")],
)
def test_times_without_their_colon_are_refused(emu: EmulatorServer, field: str, value: str) -> None:
    # Drift once between the emulator and the driver: the API's time patterns make the colon
    # optional, but their fixed lengths (7 and 5) require it. botocore checks minimum lengths
    # itself, so this client sends what a client without that check would.
    client = boto3.client(
        "fsx",
        endpoint_url=emu.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )
    lustre = {**P2, "AutomaticBackupRetentionDays": 1, field: value}
    with pytest.raises(ClientError) as info:
        client.create_file_system(**lustre_request(LustreConfiguration=lustre))
    assert info.value.response["Error"]["Code"] == "BadRequest"
    assert field in info.value.response["Error"]["Message"]


def valid_configurations() -> list[Any]:
    """Every deployment/storage/throughput combination at its two smallest valid sizes."""
    cases: list[tuple[DeploymentType, StorageType, int | None]] = [
        (DeploymentType.SCRATCH_1, StorageType.SSD, None),
        (DeploymentType.SCRATCH_2, StorageType.SSD, None),
    ]
    cases += [(d, s, t) for (d, s), values in PER_UNIT_THROUGHPUT.items() for t in values]
    params = []
    for deployment, storage, throughput in cases:
        rule = capacity_rule(deployment, storage, throughput)
        first = rule.round_up(1)
        for size in (first, rule.round_up(first + 1)):
            params.append(
                pytest.param(
                    deployment,
                    storage,
                    throughput,
                    size,
                    id=f"{deployment}-{storage}-{throughput}-{size}",
                )
            )
    return params


@pytest.mark.parametrize(("deployment", "storage", "throughput", "size"), valid_configurations())
def test_valid_configurations_are_accepted(
    fsx: Any, deployment: DeploymentType, storage: StorageType, throughput: int | None, size: int
) -> None:
    lustre: dict[str, Any] = {"DeploymentType": str(deployment)}
    if throughput is not None:
        lustre["PerUnitStorageThroughput"] = throughput
    if storage is StorageType.HDD:
        lustre["DriveCacheType"] = "NONE"
    fs = create(fsx, StorageCapacity=size, StorageType=str(storage), LustreConfiguration=lustre)
    assert fs["StorageCapacity"] == size


def test_efa_needs_its_own_increment(fsx: Any) -> None:
    fs = create(
        fsx,
        StorageCapacity=4800,
        LustreConfiguration={
            "DeploymentType": "PERSISTENT_2",
            "PerUnitStorageThroughput": 1000,
            "EfaEnabled": True,
            "MetadataConfiguration": {"Mode": "AUTOMATIC"},
        },
    )
    assert fs["LustreConfiguration"]["EfaEnabled"] is True
    assert fs["LustreConfiguration"]["MetadataConfiguration"]["Mode"] == "AUTOMATIC"


def raw_post(endpoint: str, target: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target is not None:
        headers["X-Amz-Target"] = target
    request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


TARGET = "AWSSimbaAPIService_v20180301."


@pytest.mark.parametrize(
    ("target", "body", "code"),
    [
        pytest.param(
            TARGET + "CreateFileSystem", b"{not json", "SerializationException", id="json"
        ),
        pytest.param(TARGET + "CreateFileSystem", b"[1, 2]", "SerializationException", id="array"),
        pytest.param(
            TARGET + "CreateFileSystem", b"\xff\xfe", "SerializationException", id="bytes"
        ),
        pytest.param(
            TARGET + "CreateFileSystem",
            json.dumps(lustre_request(StorageCapacity="big")).encode(),
            "BadRequest",
            id="type",
        ),
        pytest.param(
            TARGET + "CreateFileSystem",
            json.dumps(lustre_request(LustreConfiguration="x")).encode(),
            "BadRequest",
            id="object-type",
        ),
        pytest.param(TARGET + "CreateFileSystem", b"{}", "BadRequest", id="missing"),
        pytest.param(
            TARGET + "DescribeFileSystems",
            b'{"FileSystemIds": "fs-1"}',
            "BadRequest",
            id="list-type",
        ),
        pytest.param(
            TARGET + "TagResource",
            b'{"ResourceARN": "arn:aws:fsx:x", "Tags": [1]}',
            "BadRequest",
            id="tag-type",
        ),
        pytest.param(
            TARGET + "DescribeDataRepositoryAssociations",
            b'{"Filters": ["file-system-id"]}',
            "BadRequest",
            id="filter-type",
        ),
        pytest.param(None, b"{}", "UnknownOperationException", id="no-target"),
        pytest.param("Other.CreateFileSystem", b"{}", "UnknownOperationException", id="prefix"),
    ],
)
def test_malformed_requests_get_a_4xx_json_error(
    emu: EmulatorServer, target: str | None, body: bytes, code: str
) -> None:
    status, error = raw_post(emu.endpoint_url, target, body)
    assert 400 <= status < 500
    assert error["__type"] == code
    assert error["Message"]


def test_unimplemented_operation_is_a_non_retryable_400(emu: EmulatorServer) -> None:
    fsx = make_client(emu.endpoint_url, attempts=5)
    with pytest.raises(ClientError) as info:
        fsx.create_backup(FileSystemId="fs-0123456789abcdef0")
    response = info.value.response
    assert response["Error"]["Code"] == "BadRequest"
    assert response["Error"]["Message"] == "fsx-csi emulator does not implement CreateBackup"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["RetryAttempts"] == 0


WRONG_VALUES: list[Any] = [None, True, -1, 0, 10**12, "", "x" * 5000, [], [1], {}, {"a": 1}]
FULL_REQUEST = lustre_request(
    ClientRequestToken="tok",
    SecurityGroupIds=["sg-0123456789abcdef0"],
    Tags=[{"Key": "k", "Value": "v"}],
    KmsKeyId="key",
    FileSystemTypeVersion="2.15",
    LustreConfiguration={
        "DeploymentType": "PERSISTENT_2",
        "PerUnitStorageThroughput": 125,
        "WeeklyMaintenanceStartTime": "1:00:00",
        "AutomaticBackupRetentionDays": 1,
        "DailyAutomaticBackupStartTime": "01:00",
        "CopyTagsToBackups": True,
        "DataCompressionType": "LZ4",
        "EfaEnabled": False,
        "LogConfiguration": {"Level": "WARN_ERROR"},
        "RootSquashConfiguration": {"RootSquash": "65534:65534"},
        "MetadataConfiguration": {"Mode": "AUTOMATIC"},
    },
)


def mutations() -> list[Any]:
    cases = []
    for key in FULL_REQUEST:
        if key != "LustreConfiguration":
            cases += [(key, None, value) for value in WRONG_VALUES]
    for key in FULL_REQUEST["LustreConfiguration"]:
        cases += [("LustreConfiguration", key, value) for value in WRONG_VALUES]
    return [pytest.param(*case, id=f"{case[0]}.{case[1]}={case[2]!r:.12}") for case in cases]


@pytest.mark.parametrize(("key", "inner", "value"), mutations())
def test_any_member_of_any_type_gets_an_answer_not_a_crash(
    emu: EmulatorServer, key: str, inner: str | None, value: Any
) -> None:
    request = json.loads(json.dumps(FULL_REQUEST))
    if inner is None:
        request[key] = value
    else:
        request[key][inner] = value
    status, answer = raw_post(
        emu.endpoint_url, TARGET + "CreateFileSystem", json.dumps(request).encode()
    )
    assert status == 200 or (400 <= status < 500 and answer["Message"]), (status, answer)
