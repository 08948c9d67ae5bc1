"""What the driver knows about FSx for Lustre file systems, independent of boto3's dict shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from fsx_csi_harness.fsx import (
    CapacityRule,
    DeploymentType,
    StorageType,
    capacity_rule,
)

# The tag that ties a file system to the CSI volume name it was created for; the driver finds
# file systems by it after a restart, so its spelling is shared with the upstream driver.
VOLUME_NAME_TAG = "CSIVolumeName"


class Lifecycle(StrEnum):
    AVAILABLE = "AVAILABLE"
    CREATING = "CREATING"
    FAILED = "FAILED"
    DELETING = "DELETING"
    MISCONFIGURED = "MISCONFIGURED"
    UPDATING = "UPDATING"
    MISCONFIGURED_UNAVAILABLE = "MISCONFIGURED_UNAVAILABLE"


class UpdateStatus(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    UPDATED_OPTIMIZING = "UPDATED_OPTIMIZING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def usable(self) -> bool:
        """The new capacity is usable (AWS keeps optimizing in the background)."""
        return self in (UpdateStatus.UPDATED_OPTIMIZING, UpdateStatus.COMPLETED)


@dataclass(frozen=True)
class StorageUpdate:
    """A FILE_SYSTEM_UPDATE administrative action that changes storage capacity."""

    target_capacity_gib: int
    status: UpdateStatus
    failure_message: str | None = None


@dataclass(frozen=True)
class FileSystem:
    file_system_id: str
    lifecycle: Lifecycle
    capacity_gib: int
    dns_name: str
    mount_name: str
    deployment_type: DeploymentType
    storage_type: StorageType
    per_unit_throughput: int | None
    efa_enabled: bool
    volume_name: str | None
    failure_message: str | None = None
    storage_updates: tuple[StorageUpdate, ...] = ()

    @property
    def capacity_rule(self) -> CapacityRule:
        """The file system's own capacity increments (growth must follow them)."""
        return capacity_rule(
            self.deployment_type, self.storage_type, self.per_unit_throughput, self.efa_enabled
        )


@dataclass(frozen=True)
class DataRepositoryAssociationSpec:
    """One link between a directory of the file system and an S3 prefix (PERSISTENT_2)."""

    file_system_path: str
    data_repository_path: str
    batch_import_metadata_on_create: bool = False
    imported_file_chunk_size_mib: int | None = None
    auto_import_events: tuple[str, ...] = ()
    auto_export_events: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataRepositoryAssociation:
    association_id: str
    file_system_path: str
    data_repository_path: str
    lifecycle: str
    failure_message: str | None = None


@dataclass(frozen=True)
class FileSystemOptions:
    """A validated CreateFileSystem request, as StorageClass parameters describe it.

    `None` means "not set": the driver leaves the field out and AWS applies its default.
    """

    capacity_gib: int
    subnet_id: str
    security_group_ids: tuple[str, ...] = ()
    deployment_type: DeploymentType | None = None
    storage_type: StorageType | None = None
    per_unit_throughput: int | None = None
    drive_cache_type: str | None = None
    kms_key_id: str | None = None
    s3_import_path: str | None = None
    s3_export_path: str | None = None
    auto_import_policy: str | None = None
    automatic_backup_retention_days: int | None = None
    daily_automatic_backup_start_time: str | None = None
    copy_tags_to_backups: bool | None = None
    data_compression_type: str | None = None
    weekly_maintenance_start_time: str | None = None
    file_system_type_version: str | None = None
    extra_tags: tuple[tuple[str, str], ...] = ()
    efa_enabled: bool | None = None
    metadata_configuration_mode: str | None = None
    metadata_iops: int | None = None
    data_repository_associations: tuple[DataRepositoryAssociationSpec, ...] = field(default=())
