"""What the driver knows about FSx for Lustre file systems, independent of boto3's dict shapes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from fsx_csi_harness.fsx import (
    CapacityRule,
    DeploymentType,
    Field,
    LustreSettings,
    StorageType,
    capacity_rule,
    storage_class,
)

# The tag that ties a file system to the CSI volume name it was created for (the driver finds
# file systems by it after a restart): upstream's spelling, from the rules table.
VOLUME_NAME_TAG = storage_class.VOLUME_NAME_TAG


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
class LustreUpdate:
    """A FILE_SYSTEM_UPDATE administrative action's LustreConfiguration target values."""

    target: Mapping[str, object]
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
    file_system_type_version: str | None = None
    metadata_mode: str | None = None
    metadata_iops: int | None = None
    throughput_capacity: int | None = None
    # FILE_SYSTEM_UPDATE actions that change LustreConfiguration (ModifyVolume's changes).
    lustre_updates: tuple[LustreUpdate, ...] = ()

    @property
    def settings(self) -> LustreSettings:
        """The file system's rule-relevant settings, as the FSx rules table reads them."""
        return LustreSettings(
            deployment_type=self.deployment_type,
            storage_type=self.storage_type,
            per_unit_storage_throughput=self.per_unit_throughput,
            file_system_type_version=self.file_system_type_version,
            efa_enabled=self.efa_enabled or None,
            metadata_configuration_mode=self.metadata_mode,
            metadata_iops=self.metadata_iops if self.metadata_mode == "USER_PROVISIONED" else None,
            throughput_capacity=self.throughput_capacity,
        )

    @property
    def capacity_rule(self) -> CapacityRule:
        """The file system's own capacity increments (growth must follow them)."""
        return capacity_rule(
            self.deployment_type, self.storage_type, self.per_unit_throughput, self.efa_enabled
        )


@dataclass(frozen=True)
class DataRepositoryAssociationSpec:
    """One link between a directory of the file system and an S3 prefix (any deployment type
    but SCRATCH_1, on Lustre 2.12 or 2.15: `fsx_csi_harness.fsx.association_refusal`)."""

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

    `fields` holds the request fields the parameters set, as FSx's JSON values; a field left
    out is not sent, and AWS applies its default.
    """

    capacity_gib: int | None  # None: INTELLIGENT_TIERING (no StorageCapacity)
    fields: Mapping[Field, object] = field(default_factory=dict)
    extra_tags: tuple[tuple[str, str], ...] = ()
    data_repository_associations: tuple[DataRepositoryAssociationSpec, ...] = ()
