"""StorageClass parameters of FSx for Lustre CSI drivers, as the upstream driver spells them.

kubernetes-sigs/aws-fsx-csi-driver (pkg/driver/controller.go) set the keys; the reference
driver accepts the same ones (and adds its own), and the suites that test any FSx driver
(sanity's FSx profile, the e2e scenarios) read StorageClasses with them. Each key sets one
FSx request field; booleans are spelled as Go's strconv.ParseBool accepts them, because
upstream parses them with it.
"""

from __future__ import annotations

from collections.abc import Mapping

from fsx_csi_harness.fsx.capacity import CapacityRule
from fsx_csi_harness.fsx.configuration import LustreSettings
from fsx_csi_harness.fsx.fields import Field

# The tag the upstream driver (and ours) puts on every file system it creates: the CSI volume
# name. A driver finds its file system by it after a restart or a retry; the harness's leak
# guard finds what a claim created by it.
VOLUME_NAME_TAG = "CSIVolumeName"

SUBNET_ID = "subnetId"
SECURITY_GROUP_IDS = "securityGroupIds"
DEPLOYMENT_TYPE = "deploymentType"
STORAGE_TYPE = "storageType"
PER_UNIT_STORAGE_THROUGHPUT = "perUnitStorageThroughput"
DRIVE_CACHE_TYPE = "driveCacheType"
KMS_KEY_ID = "kmsKeyId"
S3_IMPORT_PATH = "s3ImportPath"
S3_EXPORT_PATH = "s3ExportPath"
AUTO_IMPORT_POLICY = "autoImportPolicy"
AUTOMATIC_BACKUP_RETENTION_DAYS = "automaticBackupRetentionDays"
DAILY_AUTOMATIC_BACKUP_START_TIME = "dailyAutomaticBackupStartTime"
COPY_TAGS_TO_BACKUPS = "copyTagsToBackups"
DATA_COMPRESSION_TYPE = "dataCompressionType"
WEEKLY_MAINTENANCE_START_TIME = "weeklyMaintenanceStartTime"
FILE_SYSTEM_TYPE_VERSION = "fileSystemTypeVersion"
EXTRA_TAGS = "extraTags"
EFA_ENABLED = "efaEnabled"
METADATA_CONFIGURATION_MODE = "metadataConfigurationMode"
METADATA_IOPS = "metadataIops"
# INTELLIGENT_TIERING (upstream docs/options.md, "INTELLIGENT_TIERING Parameters").
THROUGHPUT_CAPACITY = "throughputCapacity"
DATA_READ_CACHE_SIZING_MODE = "dataReadCacheSizingMode"
DATA_READ_CACHE_SIZE_GIB = "dataReadCacheSizeGiB"

# Upstream's keys and the FSx field each one sets.
STORAGE_CLASS_FIELDS: dict[str, Field] = {
    SUBNET_ID: Field.SUBNET_IDS,
    SECURITY_GROUP_IDS: Field.SECURITY_GROUP_IDS,
    DEPLOYMENT_TYPE: Field.DEPLOYMENT_TYPE,
    STORAGE_TYPE: Field.STORAGE_TYPE,
    PER_UNIT_STORAGE_THROUGHPUT: Field.PER_UNIT_STORAGE_THROUGHPUT,
    DRIVE_CACHE_TYPE: Field.DRIVE_CACHE_TYPE,
    KMS_KEY_ID: Field.KMS_KEY_ID,
    S3_IMPORT_PATH: Field.IMPORT_PATH,
    S3_EXPORT_PATH: Field.EXPORT_PATH,
    AUTO_IMPORT_POLICY: Field.AUTO_IMPORT_POLICY,
    AUTOMATIC_BACKUP_RETENTION_DAYS: Field.AUTOMATIC_BACKUP_RETENTION_DAYS,
    DAILY_AUTOMATIC_BACKUP_START_TIME: Field.DAILY_AUTOMATIC_BACKUP_START_TIME,
    COPY_TAGS_TO_BACKUPS: Field.COPY_TAGS_TO_BACKUPS,
    DATA_COMPRESSION_TYPE: Field.DATA_COMPRESSION_TYPE,
    WEEKLY_MAINTENANCE_START_TIME: Field.WEEKLY_MAINTENANCE_START_TIME,
    FILE_SYSTEM_TYPE_VERSION: Field.FILE_SYSTEM_TYPE_VERSION,
    EXTRA_TAGS: Field.TAGS,
    EFA_ENABLED: Field.EFA_ENABLED,
    METADATA_CONFIGURATION_MODE: Field.METADATA_CONFIGURATION_MODE,
    METADATA_IOPS: Field.METADATA_IOPS,
    THROUGHPUT_CAPACITY: Field.THROUGHPUT_CAPACITY,
    DATA_READ_CACHE_SIZING_MODE: Field.READ_CACHE_SIZING_MODE,
    DATA_READ_CACHE_SIZE_GIB: Field.READ_CACHE_SIZE,
}

# What upstream fills in for a StorageClass with storageType INTELLIGENT_TIERING that leaves
# these keys out (docs/options.md): PERSISTENT_2, USER_PROVISIONED metadata at 6000 IOPS, and
# a read cache proportional to the throughput capacity. A StorageClass written for upstream
# must select the same file system here.
INTELLIGENT_TIERING_DEFAULTS: dict[Field, object] = {
    Field.DEPLOYMENT_TYPE: "PERSISTENT_2",
    Field.METADATA_CONFIGURATION_MODE: "USER_PROVISIONED",
    Field.METADATA_IOPS: 6000,
    Field.READ_CACHE_SIZING_MODE: "PROPORTIONAL_TO_THROUGHPUT_CAPACITY",
}


def with_storage_class_defaults(values: Mapping[Field, object]) -> dict[Field, object]:
    """Request values with upstream's StorageClass defaults added where a key was left out."""
    chosen = dict(values)
    if chosen.get(Field.STORAGE_TYPE) == "INTELLIGENT_TIERING":
        for field, default in INTELLIGENT_TIERING_DEFAULTS.items():
            chosen.setdefault(field, default)
    return chosen


# Go's strconv.ParseBool accepts exactly these spellings.
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_go_bool(value: str) -> bool | None:
    """A StorageClass boolean as upstream reads it; None when it is not one."""
    if value in GO_TRUE:
        return True
    if value in GO_FALSE:
        return False
    return None


def storage_class_capacity_rule(parameters: Mapping[str, str]) -> CapacityRule:
    """The capacity rule of the file system a StorageClass's parameters select.

    Raises ValueError when the parameters select no valid configuration (a value that does
    not parse, or a combination without a rule such as HDD without a per-unit throughput).
    """
    throughput = parameters.get(PER_UNIT_STORAGE_THROUGHPUT)
    efa = parse_go_bool(parameters.get(EFA_ENABLED, "false"))
    if efa is None:
        raise ValueError(f"{EFA_ENABLED}={parameters[EFA_ENABLED]!r} is not a boolean")
    settings = LustreSettings.from_fields(
        {
            Field.DEPLOYMENT_TYPE: parameters.get(DEPLOYMENT_TYPE),
            Field.STORAGE_TYPE: parameters.get(STORAGE_TYPE),
            Field.PER_UNIT_STORAGE_THROUGHPUT: int(throughput) if throughput else None,
            Field.EFA_ENABLED: efa,
        }
    )
    return settings.capacity_rule
