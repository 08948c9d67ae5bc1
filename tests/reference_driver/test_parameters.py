"""StorageClass parameters: spelling, validation messages, capacity rounding, tokens."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fsx_csi_harness.fsx import GIB, DeploymentType, Field, StorageType
from reference_driver import parameters as p
from reference_driver.cloud.domain import client_request_token, create_file_system_request
from reference_driver.errors import InvalidArgument, OutOfRange

SUBNET = {"subnetId": "subnet-0123456789abcdef0"}


def parse(extra: dict[str, str], required_gib: int = 0, limit_gib: int = 0) -> object:
    return p.parse_create_parameters({**SUBNET, **extra}, required_gib * GIB, limit_gib * GIB)


def invalid(extra: dict[str, str]) -> str:
    with pytest.raises(InvalidArgument) as caught:
        parse(extra)
    return caught.value.message


def test_keys_are_spelled_as_upstream_spells_them() -> None:
    upstream = {
        "subnetId", "securityGroupIds", "deploymentType", "storageType",
        "perUnitStorageThroughput", "driveCacheType", "kmsKeyId", "s3ImportPath", "s3ExportPath",
        "autoImportPolicy", "automaticBackupRetentionDays", "dailyAutomaticBackupStartTime",
        "copyTagsToBackups", "dataCompressionType", "weeklyMaintenanceStartTime",
        "fileSystemTypeVersion", "extraTags", "efaEnabled", "metadataConfigurationMode",
        "metadataIops",
    }  # fmt: skip
    assert upstream <= set(p.ALL_KEYS)
    assert len(set(p.ALL_KEYS)) == len(p.ALL_KEYS)


def test_defaults_give_scratch_1_at_1200_gib_and_leave_unset_fields_out() -> None:
    options = p.parse_create_parameters(SUBNET)
    assert options.capacity_gib == 1200
    assert Field.DEPLOYMENT_TYPE not in options.fields
    request = create_file_system_request("pvc-1", options)
    assert request["LustreConfiguration"] == {}
    assert "StorageType" not in request
    assert request["SubnetIds"] == ["subnet-0123456789abcdef0"]
    assert request["Tags"][0] == {"Key": "CSIVolumeName", "Value": "pvc-1"}


def test_every_parameter_reaches_the_create_request() -> None:
    options = p.parse_create_parameters(
        {
            "subnetId": "subnet-0123456789abcdef0",
            "securityGroupIds": "sg-0123456789abcdef0, sg-12345678,",
            "deploymentType": "PERSISTENT_1",
            "storageType": "HDD",
            "perUnitStorageThroughput": "40",
            "driveCacheType": "READ",
            "kmsKeyId": "arn:aws:kms:us-east-1:1:key/k",
            "s3ImportPath": "s3://bucket/in",
            "s3ExportPath": "s3://bucket/out",
            "autoImportPolicy": "NEW_CHANGED",
            "automaticBackupRetentionDays": "7",
            "dailyAutomaticBackupStartTime": "05:00",
            "copyTagsToBackups": "true",
            "dataCompressionType": "LZ4",
            "weeklyMaintenanceStartTime": "7:09:00",
            "fileSystemTypeVersion": "2.12",
            "extraTags": "team=ml,env=dev",
            "csi.storage.k8s.io/pvc/name": "ignored",
            "somethingUnknown": "ignored",
        },
        2000 * GIB,
    )
    request = create_file_system_request("pvc-2", options)
    assert request["StorageCapacity"] == 3600  # HDD at 40 MB/s/TiB: multiples of 1800
    assert request["SecurityGroupIds"] == ["sg-0123456789abcdef0", "sg-12345678"]
    assert request["StorageType"] == "HDD"
    assert request["KmsKeyId"] == "arn:aws:kms:us-east-1:1:key/k"
    assert request["FileSystemTypeVersion"] == "2.12"
    assert request["LustreConfiguration"] == {
        "DeploymentType": "PERSISTENT_1",
        "PerUnitStorageThroughput": 40,
        "DriveCacheType": "READ",
        "ImportPath": "s3://bucket/in",
        "ExportPath": "s3://bucket/out",
        "AutoImportPolicy": "NEW_CHANGED",
        "AutomaticBackupRetentionDays": 7,
        "DailyAutomaticBackupStartTime": "05:00",
        "CopyTagsToBackups": True,
        "DataCompressionType": "LZ4",
        "WeeklyMaintenanceStartTime": "7:09:00",
    }
    assert request["Tags"][1:] == [
        {"Key": "team", "Value": "ml"},
        {"Key": "env", "Value": "dev"},
    ]


def test_persistent_2_metadata_and_efa_reach_the_request() -> None:
    options = parse(
        {
            "deploymentType": "PERSISTENT_2",
            "perUnitStorageThroughput": "1000",
            "efaEnabled": "True",
            "metadataConfigurationMode": "USER_PROVISIONED",
            "metadataIops": "24000",
        },
        required_gib=5000,
    )
    request = create_file_system_request("pvc-3", options)  # type: ignore[arg-type]
    assert request["StorageCapacity"] == 9600  # EFA at 1000: multiples of 4800
    assert request["LustreConfiguration"]["EfaEnabled"] is True
    assert request["LustreConfiguration"]["MetadataConfiguration"] == {
        "Mode": "USER_PROVISIONED",
        "Iops": 24000,
    }


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"deploymentType": "SCRATCH_3"}, ["deploymentType", "SCRATCH_1", "PERSISTENT_2"]),
        ({"storageType": "NVME"}, ["storageType", "SSD", "HDD"]),
        ({"storageType": "HDD", "deploymentType": "PERSISTENT_2"}, ["PERSISTENT_1"]),
        (
            {"deploymentType": "PERSISTENT_1", "perUnitStorageThroughput": "125"},
            ["perUnitStorageThroughput", "50, 100, 200"],
        ),
        ({"deploymentType": "PERSISTENT_1", "perUnitStorageThroughput": "fast"}, ["integer"]),
        ({"deploymentType": "PERSISTENT_2"}, ["perUnitStorageThroughput", "required"]),
        ({"deploymentType": "SCRATCH_2", "perUnitStorageThroughput": "200"}, ["scratch"]),
        (
            {
                "deploymentType": "PERSISTENT_1",
                "storageType": "HDD",
                "perUnitStorageThroughput": "12",
            },
            ["driveCacheType", "required"],
        ),
        ({"driveCacheType": "READ"}, ["driveCacheType", "HDD"]),
        (
            {
                "copyTagsToBackups": "yes",
                "deploymentType": "PERSISTENT_1",
                "perUnitStorageThroughput": "50",
            },
            ["copyTagsToBackups", "boolean"],
        ),
        ({"kmsKeyId": "k"}, ["kmsKeyId", "persistent"]),
        ({"automaticBackupRetentionDays": "3"}, ["automaticBackupRetentionDays", "persistent"]),
        ({"extraTags": "team"}, ["extraTags", "key=value"]),
        ({"extraTags": "a=b=c"}, ["extraTags"]),
        ({"extraTags": "CSIVolumeName=x"}, ["reserves"]),
        ({"s3ImportPath": "bucket/prefix"}, ["s3ImportPath", "s3://"]),
        ({"s3ImportPath": "s3://UPPER"}, ["s3ImportPath"]),
        ({"s3ExportPath": "s3://bucket/out"}, ["s3ExportPath", "s3ImportPath"]),
        ({"autoImportPolicy": "NEW"}, ["autoImportPolicy", "s3ImportPath"]),
        ({"dataCompressionType": "GZIP"}, ["dataCompressionType", "LZ4"]),
        ({"weeklyMaintenanceStartTime": "8:00:00"}, ["weeklyMaintenanceStartTime", "d:HH:MM"]),
        ({"fileSystemTypeVersion": "2.9"}, ["fileSystemTypeVersion", "2.15"]),
        ({"efaEnabled": "true"}, ["efaEnabled", "PERSISTENT_2"]),
        ({"subnetId": ""}, ["subnetId", "required"]),
        ({"subnetId": "not-a-subnet"}, ["subnetId", "subnet id"]),
        ({"securityGroupIds": "sg-1"}, ["securityGroupIds", "sg-"]),
    ],
)
def test_invalid_parameters_name_the_parameter_and_what_is_allowed(
    extra: dict[str, str], names: list[str]
) -> None:
    message = invalid(extra)
    for name in names:
        assert name in message


def test_persistent_2_refuses_legacy_s3_link_and_points_to_associations() -> None:
    message = invalid(
        {
            "deploymentType": "PERSISTENT_2",
            "perUnitStorageThroughput": "125",
            "s3ImportPath": "s3://bucket",
        }
    )
    assert "dataRepositoryAssociations" in message


def test_metadata_iops_rules() -> None:
    base = {"deploymentType": "PERSISTENT_2", "perUnitStorageThroughput": "125"}
    assert "USER_PROVISIONED" in invalid({**base, "metadataIops": "1500"})
    assert "metadataIops" in invalid({**base, "metadataConfigurationMode": "USER_PROVISIONED"})
    assert "12000" in invalid(
        {**base, "metadataConfigurationMode": "USER_PROVISIONED", "metadataIops": "5000"}
    )


def test_data_repository_associations_parse_with_shared_options() -> None:
    options = parse(
        {
            "deploymentType": "PERSISTENT_2",
            "perUnitStorageThroughput": "250",
            "dataRepositoryAssociations": "/data=s3://bucket/data; /logs=s3://bucket/logs",
            "dataRepositoryAutoImportEvents": "NEW,CHANGED",
            "dataRepositoryAutoExportEvents": "NEW",
            "dataRepositoryImportedFileChunkSize": "1024",
            "dataRepositoryBatchImportMetaDataOnCreate": "true",
        }
    )
    associations = options.data_repository_associations  # type: ignore[attr-defined]
    assert [(a.file_system_path, a.data_repository_path) for a in associations] == [
        ("/data", "s3://bucket/data"),
        ("/logs", "s3://bucket/logs"),
    ]
    assert associations[0].auto_import_events == ("NEW", "CHANGED")
    assert associations[1].imported_file_chunk_size_mib == 1024
    assert associations[1].batch_import_metadata_on_create is True


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("data=s3://bucket/x", "absolute"),
        ("/a/../b=s3://bucket/x", "'..'"),
        ("/data", "without '='"),
        ("/data=http://bucket", "S3 path"),
        ("/data=s3://bkt/x;/data/sub=s3://bkt/y", "overlapping"),
    ],
)
def test_malformed_data_repository_associations_are_refused(value: str, fragment: str) -> None:
    message = invalid(
        {
            "deploymentType": "PERSISTENT_2",
            "perUnitStorageThroughput": "125",
            "dataRepositoryAssociations": value,
        }
    )
    assert fragment in message


def test_associations_need_a_deployment_other_than_scratch_1_on_lustre_2_12_or_newer() -> None:
    message = invalid({"dataRepositoryAssociations": "/d=s3://bucket/d"})
    assert "SCRATCH_1" in message and "fileSystemTypeVersion" in message
    # SCRATCH_2 defaults to Lustre 2.10, which has no associations; 2.12 has them.
    scratch_2 = {"deploymentType": "SCRATCH_2", "dataRepositoryAssociations": "/d=s3://bucket/d"}
    assert "2.10" in invalid(scratch_2)
    assert parse({**scratch_2, "fileSystemTypeVersion": "2.12"}).data_repository_associations  # type: ignore[attr-defined]
    assert "dataRepositoryAssociations" in invalid({"dataRepositoryAutoImportEvents": "NEW"})


@pytest.mark.parametrize(
    ("extra", "required_gib", "expected"),
    [
        ({}, 0, 1200),
        ({}, 1, 1200),
        ({}, 1201, 2400),
        ({}, 2401, 3600),  # SCRATCH_1: 1200, 2400, then multiples of 3600
        ({}, 3601, 7200),
        ({"deploymentType": "SCRATCH_2"}, 1201, 2400),
        ({"deploymentType": "SCRATCH_2"}, 2401, 4800),
        ({"deploymentType": "PERSISTENT_2", "perUnitStorageThroughput": "125"}, 5000, 7200),
        (
            {"deploymentType": "PERSISTENT_1", "storageType": "HDD",
             "perUnitStorageThroughput": "12", "driveCacheType": "NONE"},
            1, 6000,
        ),
    ],
)  # fmt: skip
def test_capacity_rounds_up_to_the_next_valid_size(
    extra: dict[str, str], required_gib: int, expected: int
) -> None:
    assert parse(extra, required_gib).capacity_gib == expected  # type: ignore[attr-defined]


def test_limit_below_the_rounded_size_is_out_of_range() -> None:
    with pytest.raises(OutOfRange) as caught:
        parse({}, required_gib=1300, limit_gib=2000)
    assert "2400 GiB" in caught.value.message
    assert parse({}, required_gib=1300, limit_gib=2400).capacity_gib == 2400  # type: ignore[attr-defined]


def test_rounding_uses_the_rule_of_the_file_system_configuration() -> None:
    from fsx_csi_harness.fsx import capacity_rule

    rule = capacity_rule(DeploymentType.PERSISTENT_1, StorageType.SSD, 50)
    assert p.round_capacity(1300 * GIB, 0, rule) == 2400


@pytest.mark.parametrize("length", [1, 40, 63, 64, 128, 300])
def test_client_request_token_is_deterministic_and_fits_aws_limit(length: int) -> None:
    name = ("pvc-" + "x" * length)[:length]
    token = client_request_token(name)
    assert token == client_request_token(name)
    assert len(token) <= 63
    assert token.isascii()
    assert all(c.isalnum() or c in "_.-" for c in token)


def test_distinct_names_get_distinct_tokens_even_with_a_shared_prefix() -> None:
    a = client_request_token("pvc-" + "a" * 120 + "1")
    b = client_request_token("pvc-" + "a" * 120 + "2")
    assert a != b
    assert client_request_token("pvc-12").startswith("csi-pvc-12-")


# -- drift with the emulator, reconciled on the FSx rules table -------------------------------

P2 = {"deploymentType": "PERSISTENT_2", "perUnitStorageThroughput": "125"}
P1 = {"deploymentType": "PERSISTENT_1", "perUnitStorageThroughput": "50"}


@pytest.mark.parametrize(
    "extra",
    [
        # The API allows 8 to 17 hex digits; the driver once took only 8 or 17.
        {"subnetId": "subnet-0123456789"},
        {"securityGroupIds": "sg-0123456789ab"},
        # EfaEnabled=false is the default; only turning EFA on needs PERSISTENT_2.
        {"deploymentType": "SCRATCH_2", "efaEnabled": "false"},
        # Associations on SCRATCH_2 with Lustre 2.12.
        {"deploymentType": "SCRATCH_2", "fileSystemTypeVersion": "2.12",
         "dataRepositoryAssociations": "/d=s3://bucket/d"},
    ],
)  # fmt: skip
def test_values_aws_accepts_are_accepted(extra: dict[str, str]) -> None:
    parse(extra)


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"subnetId": "subnet-0123456789abcdef01"}, ["subnetId", "8 to 17 hex digits"]),
        # A metadata configuration needs Lustre 2.15 (the emulator refused, the driver did not).
        ({**P2, "fileSystemTypeVersion": "2.12", "metadataConfigurationMode": "AUTOMATIC"},
         ["fileSystemTypeVersion", "metadataConfigurationMode", "2.15"]),
        # A backup start time with automatic backups disabled (retention 0, the default).
        ({**P1, "dailyAutomaticBackupStartTime": "05:00"},
         ["dailyAutomaticBackupStartTime", "automaticBackupRetentionDays"]),
        ({**P1, "automaticBackupRetentionDays": "0", "dailyAutomaticBackupStartTime": "05:00"},
         ["dailyAutomaticBackupStartTime"]),
        # AWS reserves the aws: tag prefix.
        ({"extraTags": "aws:team=ml"}, ["extraTags", "aws:"]),
        # Colon-less times match the pattern but not the fixed length.
        ({"weeklyMaintenanceStartTime": "1:0500"}, ["weeklyMaintenanceStartTime", "d:HH:MM"]),
        ({**P1, "automaticBackupRetentionDays": "1", "dailyAutomaticBackupStartTime": "0500"},
         ["dailyAutomaticBackupStartTime", "HH:MM"]),
        # Associations beside a legacy import path.
        ({"deploymentType": "SCRATCH_2", "fileSystemTypeVersion": "2.15",
          "s3ImportPath": "s3://bucket/in", "dataRepositoryAssociations": "/d=s3://bucket/d"},
         ["dataRepositoryAssociations", "s3ImportPath"]),
    ],
)  # fmt: skip
def test_values_aws_refuses_are_refused_naming_the_parameter(
    extra: dict[str, str], names: list[str]
) -> None:
    message = invalid(extra)
    for name in names:
        assert name in message, message


def test_every_parameter_sets_the_request_field_its_table_row_names() -> None:
    # Each key's value lands at its field's JSON path in the CreateFileSystem request.
    options = parse({**P2, "metadataConfigurationMode": "USER_PROVISIONED", "metadataIops": "3000"})
    request = create_file_system_request("pvc-4", options)  # type: ignore[arg-type]
    assert request["LustreConfiguration"]["MetadataConfiguration"] == {
        "Mode": "USER_PROVISIONED",
        "Iops": 3000,
    }
    keys_with_fields = {parameter.key: parameter.field for parameter in p.PARAMETERS}
    assert keys_with_fields["s3ImportPath"] is Field.IMPORT_PATH
    assert keys_with_fields["dataRepositoryAssociations"] is Field.DATA_REPOSITORY_ASSOCIATIONS


def test_the_driver_recognises_aws_update_in_progress_text() -> None:
    from fsx_csi_harness.fsx import STORAGE_UPDATE_IN_PROGRESS_MESSAGE
    from reference_driver.cloud.domain import UPDATE_IN_PROGRESS_TEXT

    assert UPDATE_IN_PROGRESS_TEXT in STORAGE_UPDATE_IN_PROGRESS_MESSAGE.lower()


# -- the README documents exactly the table's keys --------------------------------------------

README = Path(__file__).resolve().parents[2] / "reference_driver" / "README.md"


def readme_parameter_keys() -> list[str]:
    """The keys in the first column of every table under "## StorageClass parameters"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## StorageClass parameters\n", 1)[1].split("\n## ", 1)[0]
    keys: list[str] = []
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) < 3 or set(cells[1].strip()) <= {"-"}:
            continue
        keys.extend(re.findall(r"`([^`]+)`", cells[1]))
    return keys


def test_readme_parameter_tables_list_exactly_the_drivers_keys() -> None:
    documented = readme_parameter_keys()
    assert sorted(documented) == sorted(p.ALL_KEYS), (
        f"reference_driver/README.md documents {sorted(set(documented) - set(p.ALL_KEYS))} "
        f"that the driver does not read, and misses {sorted(set(p.ALL_KEYS) - set(documented))}"
    )


def test_the_sanity_mutable_parameter_fixture_is_a_change_its_volumes_take() -> None:
    import yaml

    from fsx_csi_harness.fsx import LustreSettings, throughput_change_problem

    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "sanity"
    volume = yaml.safe_load((fixtures / "fsx-persistent2-parameters.yaml").read_text())
    mutable = yaml.safe_load((fixtures / "mutable" / "fsx-persistent2.yaml").read_text())
    modification = p.parse_mutable_parameters(mutable)
    assert modification.per_unit_storage_throughput is not None
    options = p.parse_create_parameters(volume)
    settings = LustreSettings.from_fields(options.fields)
    assert throughput_change_problem(settings, modification.per_unit_storage_throughput) is None
