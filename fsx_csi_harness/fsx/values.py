"""FSx for Lustre's kinds, allowed values, limits and defaults (FSx API reference, user guide).

Data only, plus the small functions that state a rule over it. Every other part of the project
reads these names instead of spelling a value list or a limit again.
"""

from __future__ import annotations

from enum import StrEnum

GIB = 1024**3
TIB_IN_GIB = 1024

FILE_SYSTEM_TYPES = ("WINDOWS", "LUSTRE", "ONTAP", "OPENZFS")
LUSTRE = "LUSTRE"


class DeploymentType(StrEnum):
    SCRATCH_1 = "SCRATCH_1"
    SCRATCH_2 = "SCRATCH_2"
    PERSISTENT_1 = "PERSISTENT_1"
    PERSISTENT_2 = "PERSISTENT_2"

    @property
    def is_persistent(self) -> bool:
        return self in (DeploymentType.PERSISTENT_1, DeploymentType.PERSISTENT_2)


class StorageType(StrEnum):
    """The storage types of FSx for Lustre (API reference, CreateFileSystem StorageType)."""

    SSD = "SSD"
    HDD = "HDD"
    # PERSISTENT_2 only: no StorageCapacity (elastic), a ThroughputCapacity instead of a
    # per-unit throughput, an optional SSD read cache.
    INTELLIGENT_TIERING = "INTELLIGENT_TIERING"

    @property
    def has_storage_capacity(self) -> bool:
        return self is not StorageType.INTELLIGENT_TIERING


API_STORAGE_TYPES = tuple(StorageType)


class DriveCacheType(StrEnum):
    NONE = "NONE"
    READ = "READ"


AUTO_IMPORT_POLICIES = ("NONE", "NEW", "NEW_CHANGED", "NEW_CHANGED_DELETED")
DATA_COMPRESSION_TYPES = ("NONE", "LZ4")
METADATA_AUTOMATIC = "AUTOMATIC"
METADATA_USER_PROVISIONED = "USER_PROVISIONED"
METADATA_MODES = (METADATA_AUTOMATIC, METADATA_USER_PROVISIONED)
# Events of a data repository association's S3 AutoImportPolicy and AutoExportPolicy.
REPOSITORY_EVENTS = ("NEW", "CHANGED", "DELETED")
LOG_LEVELS = ("DISABLED", "WARN_ONLY", "ERROR_ONLY", "WARN_ERROR")

# The API's defaults when a field is omitted.
DEFAULT_DEPLOYMENT_TYPE = DeploymentType.SCRATCH_1
DEFAULT_STORAGE_TYPE = StorageType.SSD
DEFAULT_IMPORTED_FILE_CHUNK_SIZE_MIB = 1024
DEFAULT_DAILY_AUTOMATIC_BACKUP_START_TIME = "05:00"
# CSI: no capacity range means the smallest FSx for Lustre file system.
DEFAULT_CAPACITY_GIB = 1200
# Every SCRATCH_1 file system answers MountName "fsx" (API reference,
# LustreFileSystemConfiguration.MountName); the other deployment types get 8 characters.
SCRATCH_1_MOUNT_NAME = "fsx"
MOUNT_NAME_LENGTH = 8

# Limits (API reference "Valid Range" and the service quotas a request meets).
MAX_BACKUP_RETENTION_DAYS = 90
MAX_IMPORTED_FILE_CHUNK_SIZE_MIB = 512_000
MAX_STORAGE_CAPACITY_GIB = 2**31 - 1
MAX_TAGS = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
RESERVED_TAG_PREFIX = "aws:"
MAX_SECURITY_GROUPS = 50
MAX_KMS_KEY_ID_LENGTH = 2048
MAX_DATA_REPOSITORY_ASSOCIATIONS = 8
MAX_FILE_SYSTEM_IDS_PER_DESCRIBE = 50

# Versions of Lustre that FileSystemTypeVersion accepts.
LUSTRE_VERSIONS = ("2.10", "2.12", "2.15")
# Metadata configurations need Lustre 2.15; data repository associations 2.12 or newer.
METADATA_LUSTRE_VERSIONS = ("2.15",)
ASSOCIATION_LUSTRE_VERSIONS = ("2.12", "2.15")


def lustre_versions(deployment: DeploymentType) -> tuple[str, ...]:
    """The Lustre versions a deployment type runs: PERSISTENT_2 starts at 2.12."""
    if deployment is DeploymentType.PERSISTENT_2:
        return tuple(v for v in LUSTRE_VERSIONS if v != "2.10")
    return LUSTRE_VERSIONS


def default_lustre_version(deployment: DeploymentType, has_metadata_configuration: bool) -> str:
    """The API reference's defaults: 2.10, except PERSISTENT_2 (2.12; 2.15 with metadata)."""
    if deployment is DeploymentType.PERSISTENT_2:
        return "2.15" if has_metadata_configuration else "2.12"
    return "2.10"


# Deployment types whose storage capacity UpdateFileSystem can increase (not SCRATCH_1).
GROWABLE_DEPLOYMENT_TYPES = (
    DeploymentType.SCRATCH_2,
    DeploymentType.PERSISTENT_1,
    DeploymentType.PERSISTENT_2,
)

# Deployment and storage types whose PerUnitStorageThroughput UpdateFileSystem changes
# (user guide, "Managing provisioned throughput capacity": persistent SSD file systems).
THROUGHPUT_UPDATABLE = (
    (DeploymentType.PERSISTENT_1, StorageType.SSD),
    (DeploymentType.PERSISTENT_2, StorageType.SSD),
)

# PerUnitStorageThroughput (MB/s per TiB) that each deployment and storage type accepts.
# Scratch file systems take none.
PER_UNIT_THROUGHPUT: dict[tuple[DeploymentType, StorageType], tuple[int, ...]] = {
    (DeploymentType.PERSISTENT_1, StorageType.SSD): (50, 100, 200),
    (DeploymentType.PERSISTENT_1, StorageType.HDD): (12, 40),
    (DeploymentType.PERSISTENT_2, StorageType.SSD): (125, 250, 500, 1000),
}

# PERSISTENT_2 with EFA: capacity increment per per-unit throughput.
EFA_INCREMENT_GIB: dict[int, int] = {125: 38400, 250: 19200, 500: 9600, 1000: 4800}

# USER_PROVISIONED metadata IOPS: 1500, 3000, 6000, then multiples of 12000 up to 192000.
METADATA_IOPS_SMALL = (1500, 3000, 6000)
METADATA_IOPS_STEP = 12000
METADATA_IOPS_MAX = 192000
USER_PROVISIONED_METADATA_IOPS = (
    *METADATA_IOPS_SMALL,
    *range(METADATA_IOPS_STEP, METADATA_IOPS_MAX + 1, METADATA_IOPS_STEP),
)
METADATA_IOPS_DESCRIPTION = (
    f"{', '.join(str(i) for i in METADATA_IOPS_SMALL)}, or a multiple of {METADATA_IOPS_STEP} "
    f"up to {METADATA_IOPS_MAX}"
)


# INTELLIGENT_TIERING (API reference, CreateFileSystemLustreConfiguration.ThroughputCapacity:
# "Valid values are 4000 MBps or multiples of 4000 MBps"; UpdateFileSystemLustreConfiguration:
# "You can only increase your file system's throughput").
THROUGHPUT_CAPACITY_STEP_MBPS = 4000
# LustreReadCacheConfiguration (API reference): SizingMode values; with USER_PROVISIONED,
# SizeGiB "a minimum of 32 GiB and maximum of 131072 GiB ... for every 4,000 MB/s of
# throughput capacity provisioned".
READ_CACHE_NO_CACHE = "NO_CACHE"
READ_CACHE_USER_PROVISIONED = "USER_PROVISIONED"
READ_CACHE_PROPORTIONAL = "PROPORTIONAL_TO_THROUGHPUT_CAPACITY"
READ_CACHE_SIZING_MODES = (
    READ_CACHE_NO_CACHE,
    READ_CACHE_USER_PROVISIONED,
    READ_CACHE_PROPORTIONAL,
)
READ_CACHE_MIN_GIB_PER_STEP = 32
READ_CACHE_MAX_GIB_PER_STEP = 131072
# FileSystemLustreMetadataConfiguration (API reference): "For Intelligent-Tiering file
# systems, valid values are 6000 and 12000"; AUTOMATIC mode is "supported only on SSD file
# systems".
INTELLIGENT_TIERING_METADATA_IOPS = (6000, 12000)

# UpdateFileSystem (user guide, "Managing storage capacity" and "Managing metadata
# performance"): a storage capacity increase, and a metadata IOPS increase, can follow the
# previous one of its kind no sooner than six hours after it was requested.
MIN_SECONDS_BETWEEN_INCREASES = 6 * 3600


def automatic_metadata_iops(capacity_gib: int) -> int:
    """Metadata IOPS AWS provisions in AUTOMATIC mode for a PERSISTENT_2 file system."""
    if capacity_gib <= 1200:
        return 1500
    if capacity_gib <= 2400:
        return 3000
    if capacity_gib <= 9600:
        return 6000
    if capacity_gib <= 45600:
        return 12000
    return min(METADATA_IOPS_MAX, METADATA_IOPS_STEP * -(-capacity_gib // 24000))


# AWS refuses a second storage update while one runs with this message (AWS's wording; the
# upstream driver matches on it, there is no dedicated error code).
STORAGE_UPDATE_IN_PROGRESS_MESSAGE = (
    "Unable to perform the storage capacity update. There is an update already in progress."
)
