"""The fields of FSx requests, and the rule each single value must meet.

`Field` names a request field by its path in the API's JSON (what the emulator reports).
The driver maps its StorageClass keys to these fields, so both name a problem after the field
the user wrote, with the allowed values from the one table below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fsx_csi_harness.fsx.patterns import (
    ARCHIVE_PATH,
    DAILY_TIME,
    DATA_REPOSITORY_PATH,
    FILE_SYSTEM_PATH,
    KMS_KEY_ID,
    SECURITY_GROUP_ID,
    SUBNET_ID,
    WEEKLY_TIME,
    TextRule,
)
from fsx_csi_harness.fsx.values import (
    AUTO_IMPORT_POLICIES,
    DATA_COMPRESSION_TYPES,
    FILE_SYSTEM_TYPES,
    LUSTRE_VERSIONS,
    MAX_BACKUP_RETENTION_DAYS,
    MAX_IMPORTED_FILE_CHUNK_SIZE_MIB,
    MAX_STORAGE_CAPACITY_GIB,
    METADATA_IOPS_DESCRIPTION,
    METADATA_MODES,
    READ_CACHE_SIZING_MODES,
    REPOSITORY_EVENTS,
    THROUGHPUT_CAPACITY_STEP_MBPS,
    USER_PROVISIONED_METADATA_IOPS,
    DeploymentType,
    DriveCacheType,
    StorageType,
)


class Field(StrEnum):
    """A field of CreateFileSystem (or of CreateDataRepositoryAssociation), by JSON path."""

    FILE_SYSTEM_TYPE = "FileSystemType"
    STORAGE_CAPACITY = "StorageCapacity"
    STORAGE_TYPE = "StorageType"
    SUBNET_IDS = "SubnetIds"
    SECURITY_GROUP_IDS = "SecurityGroupIds"
    KMS_KEY_ID = "KmsKeyId"
    FILE_SYSTEM_TYPE_VERSION = "FileSystemTypeVersion"
    TAGS = "Tags"
    DEPLOYMENT_TYPE = "LustreConfiguration.DeploymentType"
    PER_UNIT_STORAGE_THROUGHPUT = "LustreConfiguration.PerUnitStorageThroughput"
    DRIVE_CACHE_TYPE = "LustreConfiguration.DriveCacheType"
    IMPORT_PATH = "LustreConfiguration.ImportPath"
    EXPORT_PATH = "LustreConfiguration.ExportPath"
    IMPORTED_FILE_CHUNK_SIZE = "LustreConfiguration.ImportedFileChunkSize"
    AUTO_IMPORT_POLICY = "LustreConfiguration.AutoImportPolicy"
    AUTOMATIC_BACKUP_RETENTION_DAYS = "LustreConfiguration.AutomaticBackupRetentionDays"
    DAILY_AUTOMATIC_BACKUP_START_TIME = "LustreConfiguration.DailyAutomaticBackupStartTime"
    COPY_TAGS_TO_BACKUPS = "LustreConfiguration.CopyTagsToBackups"
    DATA_COMPRESSION_TYPE = "LustreConfiguration.DataCompressionType"
    WEEKLY_MAINTENANCE_START_TIME = "LustreConfiguration.WeeklyMaintenanceStartTime"
    EFA_ENABLED = "LustreConfiguration.EfaEnabled"
    METADATA_CONFIGURATION_MODE = "LustreConfiguration.MetadataConfiguration.Mode"
    METADATA_IOPS = "LustreConfiguration.MetadataConfiguration.Iops"
    # INTELLIGENT_TIERING: throughput of the whole file system, and the SSD read cache.
    THROUGHPUT_CAPACITY = "LustreConfiguration.ThroughputCapacity"
    READ_CACHE_SIZING_MODE = "LustreConfiguration.DataReadCacheConfiguration.SizingMode"
    READ_CACHE_SIZE = "LustreConfiguration.DataReadCacheConfiguration.SizeGiB"
    # Data repository associations: created by their own operation, linked to S3.
    DATA_REPOSITORY_ASSOCIATIONS = "DataRepositoryAssociations"
    ASSOCIATION_FILE_SYSTEM_PATH = "FileSystemPath"
    ASSOCIATION_DATA_REPOSITORY_PATH = "DataRepositoryPath"
    ASSOCIATION_IMPORTED_FILE_CHUNK_SIZE = "ImportedFileChunkSize"
    ASSOCIATION_BATCH_IMPORT_METADATA_ON_CREATE = "BatchImportMetaDataOnCreate"
    ASSOCIATION_AUTO_IMPORT_EVENTS = "S3.AutoImportPolicy.Events"
    ASSOCIATION_AUTO_EXPORT_EVENTS = "S3.AutoExportPolicy.Events"

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.value.split("."))

    @property
    def key(self) -> str:
        """The field's own name inside its JSON object."""
        return self.path[-1]


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]

    def problem(self, value: object) -> str | None:
        return None if value in self.values else f"use one of {', '.join(self.values)}"


@dataclass(frozen=True)
class Text:
    rule: TextRule

    def problem(self, value: object) -> str | None:
        if isinstance(value, str) and self.rule.matches(value):
            return None
        return f"use {self.rule.describe()}"


@dataclass(frozen=True)
class IntRange:
    minimum: int
    maximum: int
    unit: str = ""

    def problem(self, value: object) -> str | None:
        if isinstance(value, int) and self.minimum <= value <= self.maximum:
            return None
        unit = f" ({self.unit})" if self.unit else ""
        return f"use {self.minimum} to {self.maximum}{unit}"


@dataclass(frozen=True)
class IntChoices:
    values: tuple[int, ...]
    description: str

    def problem(self, value: object) -> str | None:
        return None if value in self.values else f"use {self.description}"


@dataclass(frozen=True)
class Multiple:
    """A positive multiple of `step`."""

    step: int
    unit: str

    def problem(self, value: object) -> str | None:
        if isinstance(value, int) and value > 0 and value % self.step == 0:
            return None
        return f"use {self.step} {self.unit} or a multiple of it"


@dataclass(frozen=True)
class Each:
    """A list whose every item meets `item`."""

    item: Choice | Text

    def problem(self, value: object) -> str | None:
        items: Sequence[object] = value if isinstance(value, list | tuple) else [value]
        for entry in items:
            problem = self.item.problem(entry)
            if problem is not None:
                return f"{problem} (seen {entry!r})"
        return None


ValueRule = Choice | Text | IntRange | IntChoices | Multiple | Each

VALUE_RULES: dict[Field, ValueRule] = {
    Field.FILE_SYSTEM_TYPE: Choice(FILE_SYSTEM_TYPES),
    Field.STORAGE_CAPACITY: IntRange(1, MAX_STORAGE_CAPACITY_GIB, "GiB"),
    Field.STORAGE_TYPE: Choice(tuple(StorageType)),
    Field.SUBNET_IDS: Each(Text(SUBNET_ID)),
    Field.SECURITY_GROUP_IDS: Each(Text(SECURITY_GROUP_ID)),
    Field.KMS_KEY_ID: Text(KMS_KEY_ID),
    Field.FILE_SYSTEM_TYPE_VERSION: Choice(LUSTRE_VERSIONS),
    Field.DEPLOYMENT_TYPE: Choice(tuple(DeploymentType)),
    Field.DRIVE_CACHE_TYPE: Choice(tuple(DriveCacheType)),
    Field.IMPORT_PATH: Text(ARCHIVE_PATH),
    Field.EXPORT_PATH: Text(ARCHIVE_PATH),
    Field.IMPORTED_FILE_CHUNK_SIZE: IntRange(1, MAX_IMPORTED_FILE_CHUNK_SIZE_MIB, "MiB"),
    Field.AUTO_IMPORT_POLICY: Choice(AUTO_IMPORT_POLICIES),
    Field.AUTOMATIC_BACKUP_RETENTION_DAYS: IntRange(0, MAX_BACKUP_RETENTION_DAYS, "days"),
    Field.DAILY_AUTOMATIC_BACKUP_START_TIME: Text(DAILY_TIME),
    Field.DATA_COMPRESSION_TYPE: Choice(DATA_COMPRESSION_TYPES),
    Field.WEEKLY_MAINTENANCE_START_TIME: Text(WEEKLY_TIME),
    Field.METADATA_CONFIGURATION_MODE: Choice(METADATA_MODES),
    Field.METADATA_IOPS: IntChoices(USER_PROVISIONED_METADATA_IOPS, METADATA_IOPS_DESCRIPTION),
    Field.THROUGHPUT_CAPACITY: Multiple(THROUGHPUT_CAPACITY_STEP_MBPS, "MBps"),
    Field.READ_CACHE_SIZING_MODE: Choice(READ_CACHE_SIZING_MODES),
    Field.READ_CACHE_SIZE: IntRange(0, MAX_STORAGE_CAPACITY_GIB, "GiB"),
    Field.ASSOCIATION_FILE_SYSTEM_PATH: Text(FILE_SYSTEM_PATH),
    Field.ASSOCIATION_DATA_REPOSITORY_PATH: Text(DATA_REPOSITORY_PATH),
    Field.ASSOCIATION_IMPORTED_FILE_CHUNK_SIZE: IntRange(
        1, MAX_IMPORTED_FILE_CHUNK_SIZE_MIB, "MiB"
    ),
    Field.ASSOCIATION_AUTO_IMPORT_EVENTS: Each(Choice(REPOSITORY_EVENTS)),
    Field.ASSOCIATION_AUTO_EXPORT_EVENTS: Each(Choice(REPOSITORY_EVENTS)),
}


def request_values(request: Mapping[str, Any]) -> dict[Field, object]:
    """The values a request (FSx's JSON, or boto3's keyword arguments) sets, by field."""
    values: dict[Field, object] = {}
    for field in Field:
        node: object = request
        for part in field.path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            values[field] = node
    return values


def value_problem(field: Field, value: object) -> str | None:
    """What is wrong with one value of `field` ("use one of ..."), or None when it is valid.

    Only the value's own rule: whether the field fits the rest of the request is
    `configuration_problem`'s question.
    """
    rule = VALUE_RULES.get(field)
    return None if rule is None else rule.problem(value)
