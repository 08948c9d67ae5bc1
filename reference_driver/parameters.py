"""StorageClass parameters: every key the driver reads, and their validation.

Keys are spelled exactly as the upstream driver (kubernetes-sigs/aws-fsx-csi-driver,
pkg/driver/controller.go) spells them, so StorageClasses move between the two drivers
unchanged. The `dataRepository*` keys are this driver's own (PERSISTENT_2 data repository
associations, which upstream does not support). Unknown keys, including the
`csi.storage.k8s.io/*` keys that external-provisioner adds, are ignored, as upstream does.
README.md documents every key, its allowed values and the differences from upstream.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TypeVar

from fsx_csi_harness.fsx import (
    DEFAULT_CAPACITY_GIB,
    DEFAULT_DEPLOYMENT_TYPE,
    EFA_INCREMENT_GIB,
    GIB,
    LUSTRE_VERSIONS,
    PER_UNIT_THROUGHPUT,
    CapacityRule,
    DeploymentType,
    DriveCacheType,
    StorageType,
    capacity_rule,
)
from reference_driver.cloud.model import (
    VOLUME_NAME_TAG,
    DataRepositoryAssociationSpec,
    FileSystemOptions,
)
from reference_driver.errors import InvalidArgument, OutOfRange

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

# This driver's own keys: data repository associations (PERSISTENT_2 only).
DATA_REPOSITORY_ASSOCIATIONS = "dataRepositoryAssociations"
DATA_REPOSITORY_AUTO_IMPORT_EVENTS = "dataRepositoryAutoImportEvents"
DATA_REPOSITORY_AUTO_EXPORT_EVENTS = "dataRepositoryAutoExportEvents"
DATA_REPOSITORY_IMPORTED_FILE_CHUNK_SIZE = "dataRepositoryImportedFileChunkSize"
DATA_REPOSITORY_BATCH_IMPORT_METADATA_ON_CREATE = "dataRepositoryBatchImportMetaDataOnCreate"

ALL_KEYS: tuple[str, ...] = (
    SUBNET_ID,
    SECURITY_GROUP_IDS,
    DEPLOYMENT_TYPE,
    STORAGE_TYPE,
    PER_UNIT_STORAGE_THROUGHPUT,
    DRIVE_CACHE_TYPE,
    KMS_KEY_ID,
    S3_IMPORT_PATH,
    S3_EXPORT_PATH,
    AUTO_IMPORT_POLICY,
    AUTOMATIC_BACKUP_RETENTION_DAYS,
    DAILY_AUTOMATIC_BACKUP_START_TIME,
    COPY_TAGS_TO_BACKUPS,
    DATA_COMPRESSION_TYPE,
    WEEKLY_MAINTENANCE_START_TIME,
    FILE_SYSTEM_TYPE_VERSION,
    EXTRA_TAGS,
    EFA_ENABLED,
    METADATA_CONFIGURATION_MODE,
    METADATA_IOPS,
    DATA_REPOSITORY_ASSOCIATIONS,
    DATA_REPOSITORY_AUTO_IMPORT_EVENTS,
    DATA_REPOSITORY_AUTO_EXPORT_EVENTS,
    DATA_REPOSITORY_IMPORTED_FILE_CHUNK_SIZE,
    DATA_REPOSITORY_BATCH_IMPORT_METADATA_ON_CREATE,
)

# Volume context keys (CreateVolume's answer; a static PV's volumeAttributes).
CONTEXT_DNS_NAME = "dnsname"
CONTEXT_MOUNT_NAME = "mountname"

AUTO_IMPORT_POLICIES = ("NONE", "NEW", "NEW_CHANGED", "NEW_CHANGED_DELETED")
DATA_COMPRESSION_TYPES = ("NONE", "LZ4")
METADATA_MODES = ("AUTOMATIC", "USER_PROVISIONED")
# USER_PROVISIONED metadata IOPS: 1500, 3000, 6000, then multiples of 12000 up to 192000.
METADATA_IOPS_SMALL = (1500, 3000, 6000)
METADATA_IOPS_STEP = 12000
METADATA_IOPS_MAX = 192000
REPOSITORY_EVENTS = ("NEW", "CHANGED", "DELETED")
MAX_BACKUP_RETENTION_DAYS = 90
MAX_IMPORTED_FILE_CHUNK_SIZE_MIB = 512000
MAX_DATA_REPOSITORY_ASSOCIATIONS = 8
# AWS allows 50 tags per resource; the driver always adds CSIVolumeName.
MAX_EXTRA_TAGS = 49
MAX_STORAGE_CAPACITY_GIB = 2**31 - 1

_SUBNET_ID = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
_SECURITY_GROUP_ID = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
_S3_PATH = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[^\s]*)?$")
_DAILY_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_WEEKLY_TIME = re.compile(r"^[1-7]:([01]\d|2[0-3]):[0-5]\d$")
# Go's strconv.ParseBool, which upstream uses, accepts exactly these spellings.
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}

T = TypeVar("T")


def parse_bool(key: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(f"parameter {key}={value!r} is not a boolean: use true or false")


def parse_int(key: str, value: str) -> int:
    try:
        return int(value.strip(), 10)
    except ValueError:
        raise InvalidArgument(f"parameter {key}={value!r} is not an integer") from None


def parse_choice(key: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidArgument(
            f"parameter {key}={value!r} is not allowed: use one of {', '.join(allowed)}"
        )
    return value


def _parse_enum(key: str, value: str, enum: Callable[[str], T], allowed: tuple[str, ...]) -> T:
    return enum(parse_choice(key, value, allowed))


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _check_s3_path(key: str, value: str) -> str:
    if not _S3_PATH.match(value):
        raise InvalidArgument(
            f"parameter {key}={value!r} is not an S3 path: use s3://bucket or s3://bucket/prefix "
            "(bucket names are 3-63 lowercase letters, digits, dots and hyphens)"
        )
    return value


def parse_extra_tags(value: str) -> tuple[tuple[str, str], ...]:
    """`k1=v1,k2=v2` -> ((k1, v1), (k2, v2)); each item needs exactly one `=` and a key."""
    tags: list[tuple[str, str]] = []
    for item in value.split(","):
        if not item:
            continue
        parts = item.split("=")
        if len(parts) != 2 or not parts[0].strip():
            raise InvalidArgument(
                f"parameter {EXTRA_TAGS} has a malformed tag {item!r}: use key=value pairs "
                "separated by commas, for example team=ml,env=dev"
            )
        key, tag_value = parts[0].strip(), parts[1].strip()
        if key == VOLUME_NAME_TAG:
            raise InvalidArgument(
                f"parameter {EXTRA_TAGS} sets {VOLUME_NAME_TAG}, which the driver reserves for "
                "finding the file system of a volume: choose another key"
            )
        if len(key) > 128 or len(tag_value) > 256:
            raise InvalidArgument(
                f"parameter {EXTRA_TAGS} has tag {key!r} longer than AWS allows "
                "(keys up to 128 characters, values up to 256)"
            )
        tags.append((key, tag_value))
    if len(tags) > MAX_EXTRA_TAGS:
        raise InvalidArgument(
            f"parameter {EXTRA_TAGS} has {len(tags)} tags; at most {MAX_EXTRA_TAGS} are allowed "
            "(AWS's 50 per file system, one of which is CSIVolumeName)"
        )
    return tuple(tags)


def _check_file_system_path(path: str) -> str:
    parts = path.split("/")
    if not path.startswith("/") or ".." in parts or "." in parts or "//" in path:
        raise InvalidArgument(
            f"parameter {DATA_REPOSITORY_ASSOCIATIONS} has file system path {path!r}: use an "
            "absolute path without '.' or '..' components, for example /data"
        )
    return path


def _parse_events(key: str, value: str) -> tuple[str, ...]:
    events = _split_list(value)
    for event in events:
        parse_choice(key, event, REPOSITORY_EVENTS)
    return events


def parse_data_repository_associations(
    params: Mapping[str, str],
) -> tuple[DataRepositoryAssociationSpec, ...]:
    """`/fs/path=s3://bucket/prefix;/other=s3://...` plus shared options -> association specs."""
    raw = params.get(DATA_REPOSITORY_ASSOCIATIONS, "")
    entries = [entry.strip() for entry in raw.split(";") if entry.strip()]
    options_set = [
        key
        for key in (
            DATA_REPOSITORY_AUTO_IMPORT_EVENTS,
            DATA_REPOSITORY_AUTO_EXPORT_EVENTS,
            DATA_REPOSITORY_IMPORTED_FILE_CHUNK_SIZE,
            DATA_REPOSITORY_BATCH_IMPORT_METADATA_ON_CREATE,
        )
        if key in params
    ]
    if not entries:
        if options_set:
            raise InvalidArgument(
                f"parameter {options_set[0]} needs {DATA_REPOSITORY_ASSOCIATIONS} "
                "(for example /data=s3://bucket/prefix)"
            )
        return ()
    if len(entries) > MAX_DATA_REPOSITORY_ASSOCIATIONS:
        raise InvalidArgument(
            f"parameter {DATA_REPOSITORY_ASSOCIATIONS} lists {len(entries)} associations; "
            f"FSx allows at most {MAX_DATA_REPOSITORY_ASSOCIATIONS} per file system"
        )
    import_events = _parse_events(
        DATA_REPOSITORY_AUTO_IMPORT_EVENTS, params.get(DATA_REPOSITORY_AUTO_IMPORT_EVENTS, "")
    )
    export_events = _parse_events(
        DATA_REPOSITORY_AUTO_EXPORT_EVENTS, params.get(DATA_REPOSITORY_AUTO_EXPORT_EVENTS, "")
    )
    chunk: int | None = None
    if DATA_REPOSITORY_IMPORTED_FILE_CHUNK_SIZE in params:
        chunk = parse_int(
            DATA_REPOSITORY_IMPORTED_FILE_CHUNK_SIZE,
            params[DATA_REPOSITORY_IMPORTED_FILE_CHUNK_SIZE],
        )
        if not 1 <= chunk <= MAX_IMPORTED_FILE_CHUNK_SIZE_MIB:
            raise InvalidArgument(
                f"parameter {DATA_REPOSITORY_IMPORTED_FILE_CHUNK_SIZE}={chunk} is out of range: "
                f"use 1 to {MAX_IMPORTED_FILE_CHUNK_SIZE_MIB} (MiB)"
            )
    batch = False
    if DATA_REPOSITORY_BATCH_IMPORT_METADATA_ON_CREATE in params:
        batch = parse_bool(
            DATA_REPOSITORY_BATCH_IMPORT_METADATA_ON_CREATE,
            params[DATA_REPOSITORY_BATCH_IMPORT_METADATA_ON_CREATE],
        )
    specs: list[DataRepositoryAssociationSpec] = []
    for entry in entries:
        fs_path, sep, s3_path = entry.partition("=")
        if not sep:
            raise InvalidArgument(
                f"parameter {DATA_REPOSITORY_ASSOCIATIONS} has entry {entry!r} without '=': use "
                "/fs/path=s3://bucket/prefix, entries separated by ';'"
            )
        fs_path = _check_file_system_path(fs_path.strip())
        s3_path = _check_s3_path(DATA_REPOSITORY_ASSOCIATIONS, s3_path.strip())
        specs.append(
            DataRepositoryAssociationSpec(
                file_system_path=fs_path,
                data_repository_path=s3_path,
                batch_import_metadata_on_create=batch,
                imported_file_chunk_size_mib=chunk,
                auto_import_events=import_events,
                auto_export_events=export_events,
            )
        )
    paths = [spec.file_system_path for spec in specs]
    for index, path in enumerate(paths):
        for other in paths[index + 1 :]:
            if _overlaps(path, other):
                raise InvalidArgument(
                    f"parameter {DATA_REPOSITORY_ASSOCIATIONS} has overlapping file system paths "
                    f"{path!r} and {other!r}: FSx needs each association in its own directory tree"
                )
    return tuple(specs)


def _overlaps(a: str, b: str) -> bool:
    a_dir, b_dir = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a_dir.startswith(b_dir) or b_dir.startswith(a_dir)


def parse_create_parameters(
    params: Mapping[str, str], required_bytes: int = 0, limit_bytes: int = 0
) -> FileSystemOptions:
    """Validate StorageClass parameters and a CSI capacity range into a CreateFileSystem request.

    The capacity is rounded up with the rule of the configuration the parameters select.
    Raises InvalidArgument naming the parameter and what is allowed, OutOfRange for capacity.
    """
    subnet = params.get(SUBNET_ID, "").strip()
    if not subnet:
        raise InvalidArgument(f"parameter {SUBNET_ID} is required: the subnet for the file system")
    if not _SUBNET_ID.match(subnet):
        raise InvalidArgument(
            f"parameter {SUBNET_ID}={subnet!r} is not a subnet id: use subnet- followed by 8 or "
            "17 hex digits, for example subnet-0123456789abcdef0"
        )
    security_groups = _split_list(params.get(SECURITY_GROUP_IDS, ""))
    for group in security_groups:
        if not _SECURITY_GROUP_ID.match(group):
            raise InvalidArgument(
                f"parameter {SECURITY_GROUP_IDS} has {group!r}, which is not a security group id: "
                "use sg- followed by 8 or 17 hex digits, comma-separated"
            )

    deployment = None
    if DEPLOYMENT_TYPE in params:
        deployment = _parse_enum(
            DEPLOYMENT_TYPE,
            params[DEPLOYMENT_TYPE],
            DeploymentType,
            tuple(d.value for d in DeploymentType),
        )
    effective = deployment or DEFAULT_DEPLOYMENT_TYPE

    storage = None
    if STORAGE_TYPE in params:
        storage = _parse_enum(
            STORAGE_TYPE, params[STORAGE_TYPE], StorageType, tuple(s.value for s in StorageType)
        )
    if storage is StorageType.HDD and effective is not DeploymentType.PERSISTENT_1:
        raise InvalidArgument(
            f"parameter {STORAGE_TYPE}=HDD needs {DEPLOYMENT_TYPE}=PERSISTENT_1 "
            f"(got {effective.value}); other deployment types use SSD"
        )
    effective_storage = storage or StorageType.SSD

    throughput = None
    allowed_throughput = PER_UNIT_THROUGHPUT.get((effective, effective_storage), ())
    if PER_UNIT_STORAGE_THROUGHPUT in params:
        throughput = parse_int(PER_UNIT_STORAGE_THROUGHPUT, params[PER_UNIT_STORAGE_THROUGHPUT])
        if not allowed_throughput:
            raise InvalidArgument(
                f"parameter {PER_UNIT_STORAGE_THROUGHPUT} is not allowed for {effective.value}: "
                "scratch file systems have a fixed throughput; remove it"
            )
        if throughput not in allowed_throughput:
            raise InvalidArgument(
                f"parameter {PER_UNIT_STORAGE_THROUGHPUT}={throughput} is not allowed for "
                f"{effective.value} {effective_storage.value}: use one of "
                f"{', '.join(str(t) for t in allowed_throughput)}"
            )
    elif allowed_throughput:
        raise InvalidArgument(
            f"parameter {PER_UNIT_STORAGE_THROUGHPUT} is required for {effective.value} "
            f"{effective_storage.value}: use one of {', '.join(str(t) for t in allowed_throughput)}"
        )

    drive_cache = None
    if DRIVE_CACHE_TYPE in params:
        if effective_storage is not StorageType.HDD:
            raise InvalidArgument(
                f"parameter {DRIVE_CACHE_TYPE} applies to {STORAGE_TYPE}=HDD only; remove it"
            )
        drive_cache = parse_choice(
            DRIVE_CACHE_TYPE, params[DRIVE_CACHE_TYPE], tuple(d.value for d in DriveCacheType)
        )
    elif effective_storage is StorageType.HDD:
        raise InvalidArgument(
            f"parameter {DRIVE_CACHE_TYPE} is required with {STORAGE_TYPE}=HDD: use NONE or READ"
        )

    def persistent_only(key: str) -> None:
        if key in params and not effective.is_persistent:
            raise InvalidArgument(
                f"parameter {key} needs a persistent {DEPLOYMENT_TYPE} (PERSISTENT_1 or "
                f"PERSISTENT_2), got {effective.value}"
            )

    def persistent_2_only(key: str) -> None:
        if key in params and effective is not DeploymentType.PERSISTENT_2:
            raise InvalidArgument(
                f"parameter {key} needs {DEPLOYMENT_TYPE}=PERSISTENT_2, got {effective.value}"
            )

    for key in (
        KMS_KEY_ID,
        AUTOMATIC_BACKUP_RETENTION_DAYS,
        DAILY_AUTOMATIC_BACKUP_START_TIME,
        COPY_TAGS_TO_BACKUPS,
    ):
        persistent_only(key)
    for key in (EFA_ENABLED, METADATA_CONFIGURATION_MODE, METADATA_IOPS):
        persistent_2_only(key)
    if params.get(DATA_REPOSITORY_ASSOCIATIONS, "").strip():
        persistent_2_only(DATA_REPOSITORY_ASSOCIATIONS)

    import_path = export_path = auto_import = None
    for key in (S3_IMPORT_PATH, S3_EXPORT_PATH, AUTO_IMPORT_POLICY):
        if key in params and effective is DeploymentType.PERSISTENT_2:
            raise InvalidArgument(
                f"parameter {key} is not available for PERSISTENT_2, which links to S3 through "
                f"data repository associations: use {DATA_REPOSITORY_ASSOCIATIONS} instead"
            )
    if S3_IMPORT_PATH in params:
        import_path = _check_s3_path(S3_IMPORT_PATH, params[S3_IMPORT_PATH])
    if S3_EXPORT_PATH in params:
        export_path = _check_s3_path(S3_EXPORT_PATH, params[S3_EXPORT_PATH])
        if import_path is None:
            raise InvalidArgument(f"parameter {S3_EXPORT_PATH} needs {S3_IMPORT_PATH} as well")
        bucket = import_path.removeprefix("s3://").split("/")[0]
        if export_path.removeprefix("s3://").split("/")[0] != bucket:
            raise InvalidArgument(
                f"parameter {S3_EXPORT_PATH}={export_path!r} must be in the same bucket as "
                f"{S3_IMPORT_PATH} ({bucket})"
            )
    if AUTO_IMPORT_POLICY in params:
        auto_import = parse_choice(
            AUTO_IMPORT_POLICY, params[AUTO_IMPORT_POLICY], AUTO_IMPORT_POLICIES
        )
        if import_path is None:
            raise InvalidArgument(f"parameter {AUTO_IMPORT_POLICY} needs {S3_IMPORT_PATH} as well")

    retention = None
    if AUTOMATIC_BACKUP_RETENTION_DAYS in params:
        retention = parse_int(
            AUTOMATIC_BACKUP_RETENTION_DAYS, params[AUTOMATIC_BACKUP_RETENTION_DAYS]
        )
        if not 0 <= retention <= MAX_BACKUP_RETENTION_DAYS:
            raise InvalidArgument(
                f"parameter {AUTOMATIC_BACKUP_RETENTION_DAYS}={retention} is out of range: "
                f"use 0 to {MAX_BACKUP_RETENTION_DAYS}"
            )
    backup_time = None
    if DAILY_AUTOMATIC_BACKUP_START_TIME in params:
        backup_time = params[DAILY_AUTOMATIC_BACKUP_START_TIME]
        if not _DAILY_TIME.match(backup_time):
            raise InvalidArgument(
                f"parameter {DAILY_AUTOMATIC_BACKUP_START_TIME}={backup_time!r} is not a time: "
                "use HH:MM in UTC, for example 05:00"
            )
    copy_tags = None
    if COPY_TAGS_TO_BACKUPS in params:
        copy_tags = parse_bool(COPY_TAGS_TO_BACKUPS, params[COPY_TAGS_TO_BACKUPS])

    compression = None
    if DATA_COMPRESSION_TYPE in params:
        compression = parse_choice(
            DATA_COMPRESSION_TYPE, params[DATA_COMPRESSION_TYPE], DATA_COMPRESSION_TYPES
        )
    maintenance = None
    if WEEKLY_MAINTENANCE_START_TIME in params:
        maintenance = params[WEEKLY_MAINTENANCE_START_TIME]
        if not _WEEKLY_TIME.match(maintenance):
            raise InvalidArgument(
                f"parameter {WEEKLY_MAINTENANCE_START_TIME}={maintenance!r} is not a weekly time: "
                "use d:HH:MM in UTC with d from 1 (Monday) to 7 (Sunday), for example 7:09:00"
            )
    version = None
    if FILE_SYSTEM_TYPE_VERSION in params:
        version = parse_choice(
            FILE_SYSTEM_TYPE_VERSION, params[FILE_SYSTEM_TYPE_VERSION], LUSTRE_VERSIONS
        )
        if effective is DeploymentType.PERSISTENT_2 and version == "2.10":
            raise InvalidArgument(
                f"parameter {FILE_SYSTEM_TYPE_VERSION}=2.10 is not available for PERSISTENT_2: "
                "use 2.12 or 2.15"
            )

    efa = None
    if EFA_ENABLED in params:
        efa = parse_bool(EFA_ENABLED, params[EFA_ENABLED])
        if efa and throughput not in EFA_INCREMENT_GIB:
            raise InvalidArgument(
                f"parameter {EFA_ENABLED}=true needs {PER_UNIT_STORAGE_THROUGHPUT} of "
                f"{', '.join(str(t) for t in EFA_INCREMENT_GIB)}"
            )
    metadata_mode = None
    if METADATA_CONFIGURATION_MODE in params:
        metadata_mode = parse_choice(
            METADATA_CONFIGURATION_MODE, params[METADATA_CONFIGURATION_MODE], METADATA_MODES
        )
    metadata_iops = None
    if METADATA_IOPS in params:
        metadata_iops = parse_int(METADATA_IOPS, params[METADATA_IOPS])
        if metadata_mode != "USER_PROVISIONED":
            raise InvalidArgument(
                f"parameter {METADATA_IOPS} needs {METADATA_CONFIGURATION_MODE}=USER_PROVISIONED"
            )
        valid_iops = metadata_iops in METADATA_IOPS_SMALL or (
            0 < metadata_iops <= METADATA_IOPS_MAX and metadata_iops % METADATA_IOPS_STEP == 0
        )
        if not valid_iops:
            raise InvalidArgument(
                f"parameter {METADATA_IOPS}={metadata_iops} is not allowed: use 1500, 3000, "
                f"6000, or a multiple of {METADATA_IOPS_STEP} up to {METADATA_IOPS_MAX}"
            )
    elif metadata_mode == "USER_PROVISIONED":
        raise InvalidArgument(
            f"parameter {METADATA_CONFIGURATION_MODE}=USER_PROVISIONED needs {METADATA_IOPS}"
        )

    rule = capacity_rule(effective, effective_storage, throughput, bool(efa))
    return FileSystemOptions(
        capacity_gib=round_capacity(required_bytes, limit_bytes, rule),
        subnet_id=subnet,
        security_group_ids=security_groups,
        deployment_type=deployment,
        storage_type=storage,
        per_unit_throughput=throughput,
        drive_cache_type=drive_cache,
        kms_key_id=params.get(KMS_KEY_ID) or None,
        s3_import_path=import_path,
        s3_export_path=export_path,
        auto_import_policy=auto_import,
        automatic_backup_retention_days=retention,
        daily_automatic_backup_start_time=backup_time,
        copy_tags_to_backups=copy_tags,
        data_compression_type=compression,
        weekly_maintenance_start_time=maintenance,
        file_system_type_version=version,
        extra_tags=parse_extra_tags(params.get(EXTRA_TAGS, "")),
        efa_enabled=efa,
        metadata_configuration_mode=metadata_mode,
        metadata_iops=metadata_iops,
        data_repository_associations=parse_data_repository_associations(params),
    )


def round_capacity(required_bytes: int, limit_bytes: int, rule: CapacityRule) -> int:
    """The capacity (GiB) to create for a CSI capacity range, rounded up to a valid FSx size.

    No range (both 0) means 1200 GiB, rounded up to the rule. Raises OutOfRange when the
    rounded size exceeds `limit_bytes` or what the API accepts.
    """
    if required_bytes < 0 or limit_bytes < 0:
        raise InvalidArgument(
            f"capacity_range has a negative value (required_bytes={required_bytes}, "
            f"limit_bytes={limit_bytes})"
        )
    wanted_gib = -(-required_bytes // GIB) if required_bytes else DEFAULT_CAPACITY_GIB
    rounded = rule.round_up(wanted_gib)
    if limit_bytes and rounded * GIB > limit_bytes:
        raise OutOfRange(
            f"capacity_range.limit_bytes={limit_bytes} is below the smallest valid FSx size for "
            f"the request, {rounded} GiB ({rounded * GIB} bytes; valid sizes: "
            f"{rule.describe()} GiB): raise the limit or lower required_bytes"
        )
    if rounded > MAX_STORAGE_CAPACITY_GIB:
        raise OutOfRange(f"requested capacity {rounded} GiB is larger than FSx accepts")
    return rounded
