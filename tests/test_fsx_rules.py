"""The FSx for Lustre rules every part shares (the FSx API reference and user guide)."""

from __future__ import annotations

import ast
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from fsx_csi_harness import fsx
from fsx_csi_harness.fsx import (
    DAILY_TIME,
    FILE_SYSTEM_ID,
    MOUNT_NAME,
    S3_PATH,
    SECURITY_GROUP_ID,
    SUBNET_ID,
    WEEKLY_TIME,
    DeploymentType,
    Field,
    LustreSettings,
    StorageType,
    TextRule,
    api_name,
    association_refusal,
    burst_throughput_mbps,
    capacity_rule,
    configuration_problem,
    dns_name,
    expected_throughput_mbps,
    file_system_id_of_dns_name,
    issued_id_pattern,
    request_values,
    storage_class_capacity_rule,
    value_problem,
)

SSD = StorageType.SSD


@pytest.mark.parametrize(
    ("deployment", "requested", "rounded"),
    [
        (DeploymentType.SCRATCH_1, 1, 1200),
        (DeploymentType.SCRATCH_1, 1200, 1200),
        (DeploymentType.SCRATCH_1, 1201, 2400),
        (DeploymentType.SCRATCH_1, 2401, 3600),
        (DeploymentType.SCRATCH_1, 3601, 7200),
        (DeploymentType.SCRATCH_2, 1201, 2400),
        (DeploymentType.SCRATCH_2, 2401, 4800),
        (DeploymentType.PERSISTENT_1, 4800, 4800),
        (DeploymentType.PERSISTENT_2, 4801, 7200),
    ],
)
def test_capacity_rounds_up_to_the_next_valid_size(
    deployment: DeploymentType, requested: int, rounded: int
) -> None:
    assert capacity_rule(deployment, SSD, 125).round_up(requested) == rounded


@pytest.mark.parametrize(
    ("throughput", "step"),
    [(12, 6000), (40, 1800)],
)
def test_hdd_capacity_is_a_multiple_of_its_throughput_step(throughput: int, step: int) -> None:
    rule = capacity_rule(DeploymentType.PERSISTENT_1, StorageType.HDD, throughput)
    assert rule.round_up(1) == step
    assert rule.round_up(step + 1) == 2 * step
    assert not rule.is_valid(1200)


@pytest.mark.parametrize(("throughput", "step"), [(125, 38400), (250, 19200), (1000, 4800)])
def test_efa_capacity_steps_depend_on_throughput(throughput: int, step: int) -> None:
    rule = capacity_rule(DeploymentType.PERSISTENT_2, SSD, throughput, efa_enabled=True)
    assert rule.round_up(1200) == step
    assert rule.is_valid(2 * step)
    assert not rule.is_valid(step + 2400)


def test_scratch_1_accepts_only_its_listed_small_sizes() -> None:
    rule = capacity_rule(DeploymentType.SCRATCH_1)
    assert [s for s in range(1200, 7201, 1200) if rule.is_valid(s)] == [1200, 2400, 3600, 7200]


def test_hdd_without_a_throughput_has_no_rule() -> None:
    with pytest.raises(ValueError, match="12 or 40"):
        capacity_rule(DeploymentType.PERSISTENT_1, StorageType.HDD, None)


def test_expected_throughput_is_tib_times_per_unit_rate() -> None:
    assert expected_throughput_mbps(DeploymentType.PERSISTENT_2, 2048, 250) == 500
    assert expected_throughput_mbps(DeploymentType.SCRATCH_2, 1024, None) == 200


# -- patterns as the API reference gives them (pattern plus length) -------------------------


@pytest.mark.parametrize(
    ("rule", "valid", "invalid"),
    [
        # subnet- and 8 to 17 hex digits (length 15-24): the driver once took only 8 or 17,
        # the emulator any number from 8 up.
        (SUBNET_ID, ["subnet-01234567", "subnet-0123456789", "subnet-0123456789abcdef0"],
         ["subnet-0123456", "subnet-0123456789abcdef01", "subnet-0123456789ABCDEF0"]),
        (SECURITY_GROUP_ID, ["sg-01234567", "sg-0123456789a", "sg-0123456789abcdef0"],
         ["sg-1", "sg-0123456789abcdef01"]),
        (FILE_SYSTEM_ID, ["fs-01234567", "fs-0123456789abcdef0"], ["fs-0123456", "fs-" + "0" * 19]),
        # The colon is optional in the pattern, but the fixed lengths (7 and 5) require it:
        # the emulator once accepted 1:0500 and 0500.
        (WEEKLY_TIME, ["1:05:00", "7:23:59"], ["1:0500", "8:05:00", "0:05:00", "1:24:00"]),
        (DAILY_TIME, ["05:00", "23:59"], ["0500", "24:00", "5:00"]),
        # LustreFileSystemMountName: 1-8 of [A-Za-z0-9_-]; the driver once allowed 64, no '-'.
        (MOUNT_NAME, ["fsx", "abcdefgh", "ab-c_d"], ["abcdefghi", "", "a.b"]),
        (S3_PATH, ["s3://bucket", "s3://ml-data/a b/c"], ["s3://b", "s3://UPPER", "bucket/x"]),
    ],
)  # fmt: skip
def test_text_rules_follow_the_api_reference(
    rule: TextRule, valid: list[str], invalid: list[str]
) -> None:
    assert [v for v in valid if not rule.matches(v)] == []
    assert [v for v in invalid if rule.matches(v)] == []


def test_ids_aws_issues_today_have_17_hex_digits() -> None:
    pattern = issued_id_pattern("fs-")
    assert pattern.match("fs-0123456789abcdef0")
    assert not pattern.match("fs-01234567")


def test_dns_names_carry_the_file_system_id() -> None:
    name = dns_name("fs-0123456789abcdef0", "us-east-1")
    assert name == "fs-0123456789abcdef0.fsx.us-east-1.amazonaws.com"
    assert file_system_id_of_dns_name(name) == "fs-0123456789abcdef0"
    assert file_system_id_of_dns_name(dns_name("fs-0123456789abcdef0", "cn-north-1")) == (
        "fs-0123456789abcdef0"
    )
    assert file_system_id_of_dns_name("lustre.example.com") is None


# -- which fields fit together ---------------------------------------------------------------


def test_problems_name_fields_in_the_callers_words() -> None:
    problem = configuration_problem(LustreSettings(storage_type=StorageType.HDD))
    assert problem is not None and problem.field is Field.STORAGE_TYPE
    assert problem.render(api_name) == (
        "StorageType=HDD needs LustreConfiguration.DeploymentType=PERSISTENT_1 (got SCRATCH_1); "
        "other deployment types use SSD"
    )
    assert problem.render(lambda f: f.name.lower()).startswith("storage_type=HDD needs")


def test_quoted_values_with_braces_survive_rendering() -> None:
    problem = configuration_problem(
        LustreSettings(
            deployment_type=DeploymentType.SCRATCH_2,
            import_path="s3://bucket-a/in",
            export_path="s3://other/{EXPORT_PATH}{x}",
        )
    )
    assert problem is not None
    assert "'s3://other/{EXPORT_PATH}{x}'" in problem.render(api_name)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        # Metadata configurations need Lustre 2.15 (user guide, "Metadata performance").
        (LustreSettings(deployment_type=DeploymentType.PERSISTENT_2,
                        per_unit_storage_throughput=125, file_system_type_version="2.12",
                        metadata_configuration_mode="AUTOMATIC"),
         Field.FILE_SYSTEM_TYPE_VERSION),
        # Retention 0 (the default) disables automatic backups: no start time then.
        (LustreSettings(deployment_type=DeploymentType.PERSISTENT_1,
                        per_unit_storage_throughput=50,
                        daily_automatic_backup_start_time="05:00"),
         Field.DAILY_AUTOMATIC_BACKUP_START_TIME),
        (LustreSettings(deployment_type=DeploymentType.SCRATCH_2, efa_enabled=True),
         Field.EFA_ENABLED),
        (LustreSettings(deployment_type=DeploymentType.SCRATCH_2,
                        data_repository_associations=1),
         Field.DATA_REPOSITORY_ASSOCIATIONS),
    ],
)  # fmt: skip
def test_combinations_aws_refuses_are_problems(settings: LustreSettings, field: Field) -> None:
    problem = configuration_problem(settings)
    assert problem is not None and problem.field is field


@pytest.mark.parametrize(
    "settings",
    [
        LustreSettings(),
        # EfaEnabled=false is the default: any deployment type may say so.
        LustreSettings(deployment_type=DeploymentType.SCRATCH_2, efa_enabled=False),
        LustreSettings(deployment_type=DeploymentType.PERSISTENT_2,
                       per_unit_storage_throughput=1000, efa_enabled=True,
                       metadata_configuration_mode="USER_PROVISIONED", metadata_iops=12000),
        # Associations: every type but SCRATCH_1, on 2.12 or newer.
        LustreSettings(deployment_type=DeploymentType.SCRATCH_2,
                       file_system_type_version="2.12", data_repository_associations=2),
        LustreSettings(deployment_type=DeploymentType.PERSISTENT_2,
                       per_unit_storage_throughput=250, data_repository_associations=1),
    ],
)  # fmt: skip
def test_combinations_aws_accepts_have_no_problem(settings: LustreSettings) -> None:
    assert configuration_problem(settings) is None


def test_associations_are_refused_beside_a_legacy_import_path() -> None:
    refusal = association_refusal(DeploymentType.SCRATCH_2, "2.15", has_import_path=True)
    assert refusal is not None and "{IMPORT_PATH}" in refusal
    assert association_refusal(DeploymentType.SCRATCH_1, "2.15", has_import_path=False)
    assert association_refusal(DeploymentType.PERSISTENT_1, "2.10", has_import_path=False)


def test_request_values_read_fields_at_their_json_paths() -> None:
    values = request_values(
        {
            "StorageType": "HDD",
            "SubnetIds": ["subnet-01234567"],
            "LustreConfiguration": {
                "DeploymentType": "PERSISTENT_1",
                "MetadataConfiguration": {"Mode": "AUTOMATIC"},
            },
        }
    )
    assert values == {
        Field.STORAGE_TYPE: "HDD",
        Field.SUBNET_IDS: ["subnet-01234567"],
        Field.DEPLOYMENT_TYPE: "PERSISTENT_1",
        Field.METADATA_CONFIGURATION_MODE: "AUTOMATIC",
    }


def test_value_problems_carry_the_allowed_values_from_the_table() -> None:
    assert value_problem(Field.DEPLOYMENT_TYPE, "SCRATCH_3") == (
        "use one of SCRATCH_1, SCRATCH_2, PERSISTENT_1, PERSISTENT_2"
    )
    assert value_problem(Field.AUTOMATIC_BACKUP_RETENTION_DAYS, 91) == "use 0 to 90 (days)"
    assert value_problem(Field.METADATA_IOPS, 24000) is None
    assert "12000" in (value_problem(Field.METADATA_IOPS, 5000) or "")
    assert value_problem(Field.SUBNET_IDS, ["subnet-01234567", "subnet-x"]) is not None


# -- a StorageClass's capacity (what scenarios and the sanity profile predict) ----------------


@pytest.mark.parametrize("spelling", ["true", "1", "t", "T", "TRUE", "True"])
def test_storage_class_efa_reads_go_booleans(spelling: str) -> None:
    # The scenario and sanity predictions once took only true/TRUE/True as true.
    rule = storage_class_capacity_rule(
        {"deploymentType": "PERSISTENT_2", "perUnitStorageThroughput": "1000",
         "efaEnabled": spelling}
    )  # fmt: skip
    assert rule.round_up(1200) == 4800


def test_storage_class_without_a_valid_configuration_has_no_rule() -> None:
    with pytest.raises(ValueError):
        storage_class_capacity_rule({"deploymentType": "PERSISTENT_2", "efaEnabled": "perhaps"})
    with pytest.raises(ValueError):
        storage_class_capacity_rule({"deploymentType": "SCRATCH_9"})
    assert storage_class_capacity_rule({}).round_up(1300) == 2400  # SCRATCH_1 by default


def test_burst_is_documented_only_for_some_configurations() -> None:
    assert burst_throughput_mbps(DeploymentType.SCRATCH_2, 1024, None) == 1300
    assert burst_throughput_mbps(DeploymentType.PERSISTENT_2, 2048, 250) == 2600
    assert burst_throughput_mbps(DeploymentType.PERSISTENT_2, 2048, 1000) is None


def test_the_rules_import_only_the_standard_library() -> None:
    # The driver, the emulator and every suite import the rules: they must stay a ground floor.
    package = Path(fsx.__file__).parent
    imported: set[str] = set()
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
    outside = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names
        and not name.startswith("fsx_csi_harness.fsx")
    }
    assert outside == set()


# -- INTELLIGENT_TIERING, EFA and online changes (FSx API reference) ------------------------------

TIERING = LustreSettings(
    deployment_type=DeploymentType.PERSISTENT_2,
    storage_type=StorageType.INTELLIGENT_TIERING,
    throughput_capacity=4000,
    read_cache_sizing_mode="NO_CACHE",
    metadata_configuration_mode="USER_PROVISIONED",
    metadata_iops=6000,
)


def test_intelligent_tiering_is_valid_without_a_capacity_and_has_no_capacity_rule() -> None:
    assert configuration_problem(TIERING) is None
    assert TIERING.version == "2.15"
    with pytest.raises(ValueError, match="no storage capacity"):
        capacity_rule(DeploymentType.PERSISTENT_2, StorageType.INTELLIGENT_TIERING)


@pytest.mark.parametrize(
    ("changes", "field", "missing"),
    [
        ({"storage_capacity": 1200}, Field.STORAGE_CAPACITY, False),
        ({"throughput_capacity": None}, Field.THROUGHPUT_CAPACITY, True),
        ({"throughput_capacity": 6000}, None, False),  # a value rule: Multiple(4000)
        ({"read_cache_sizing_mode": None}, Field.READ_CACHE_SIZING_MODE, True),
        ({"metadata_configuration_mode": None, "metadata_iops": None},
         Field.METADATA_CONFIGURATION_MODE, True),
        ({"metadata_configuration_mode": "AUTOMATIC", "metadata_iops": None},
         Field.METADATA_CONFIGURATION_MODE, False),
        ({"metadata_iops": 3000}, Field.METADATA_IOPS, False),
        ({"per_unit_storage_throughput": 125}, Field.PER_UNIT_STORAGE_THROUGHPUT, False),
        ({"deployment_type": DeploymentType.PERSISTENT_1}, Field.STORAGE_TYPE, False),
        ({"data_repository_associations": 1}, Field.DATA_REPOSITORY_ASSOCIATIONS, False),
    ],
)  # fmt: skip
def test_intelligent_tiering_rules(
    changes: dict[str, object], field: Field | None, missing: bool
) -> None:
    problem = configuration_problem(replace(TIERING, **changes))  # type: ignore[arg-type]
    if field is None:
        assert problem is None
        assert value_problem(Field.THROUGHPUT_CAPACITY, 6000) == "use 4000 MBps or a multiple of it"
        return
    assert problem is not None and problem.field is field
    assert problem.missing is missing


@pytest.mark.parametrize(
    ("throughput", "size", "ok"),
    [(4000, 32, True), (4000, 131072, True), (4000, 31, False), (8000, 63, False),
     (8000, 262144, True), (8000, 262145, False)],
)  # fmt: skip
def test_read_cache_size_scales_with_throughput_capacity(
    throughput: int, size: int, ok: bool
) -> None:
    settings = replace(
        TIERING,
        throughput_capacity=throughput,
        read_cache_sizing_mode="USER_PROVISIONED",
        read_cache_size=size,
    )
    problem = configuration_problem(settings)
    assert (problem is None) is ok, problem


def test_efa_needs_a_metadata_configuration() -> None:
    efa = LustreSettings(
        deployment_type=DeploymentType.PERSISTENT_2,
        per_unit_storage_throughput=1000,
        efa_enabled=True,
    )
    problem = configuration_problem(efa)
    assert problem is not None and problem.field is Field.EFA_ENABLED and problem.missing
    assert configuration_problem(replace(efa, metadata_configuration_mode="AUTOMATIC")) is None


def test_online_changes() -> None:
    p2 = LustreSettings(
        deployment_type=DeploymentType.PERSISTENT_2, per_unit_storage_throughput=125
    )
    assert fsx.throughput_change_problem(p2, 1000) is None
    bad = fsx.throughput_change_problem(p2, 200)
    assert bad is not None and "125, 250, 500, 1000" in bad.render(api_name)
    scratch = LustreSettings(deployment_type=DeploymentType.SCRATCH_2)
    refused = fsx.throughput_change_problem(scratch, 125)
    assert refused is not None and "persistent SSD" in refused.render(api_name)
    no_metadata = fsx.metadata_iops_change_problem(p2, 3000, None)
    assert no_metadata is not None and "2.12" in no_metadata.render(api_name)
    automatic = replace(p2, metadata_configuration_mode="AUTOMATIC")
    assert fsx.metadata_iops_change_problem(automatic, 3000, 1500) is None
    lower = fsx.metadata_iops_change_problem(automatic, 1500, 3000)
    assert lower is not None and "only increase" in lower.render(api_name)


def test_upstreams_intelligent_tiering_defaults_fill_only_what_is_left_out() -> None:
    values = fsx.with_storage_class_defaults(
        {Field.STORAGE_TYPE: "INTELLIGENT_TIERING", Field.METADATA_IOPS: 12000}
    )
    assert values[Field.DEPLOYMENT_TYPE] == "PERSISTENT_2"
    assert values[Field.METADATA_IOPS] == 12000
    assert values[Field.READ_CACHE_SIZING_MODE] == "PROPORTIONAL_TO_THROUGHPUT_CAPACITY"
    assert fsx.with_storage_class_defaults({Field.STORAGE_TYPE: "SSD"}) == {
        Field.STORAGE_TYPE: "SSD"
    }
