"""Request validation for the FSx operations the emulator implements.

Capacity and throughput rules come from `fsx_csi_harness.fsx` (the project's one table of FSx
facts); this module adds the request-shape checks AWS's API reference documents for
CreateFileSystem, UpdateFileSystem and data repository associations. Every failure is an
FSxApiError whose message names the field, the value seen and what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fsx_csi_harness.fsx import (
    DEFAULT_DEPLOYMENT_TYPE,
    DEFAULT_STORAGE_TYPE,
    LUSTRE_VERSIONS,
    PER_UNIT_THROUGHPUT,
    DeploymentType,
    DriveCacheType,
    StorageType,
    capacity_rule,
)
from fsx_emulator.errors import FSxApiError, bad_request

FILE_SYSTEM_TYPES = ("WINDOWS", "LUSTRE", "ONTAP", "OPENZFS")
AUTO_IMPORT_POLICIES = ("NONE", "NEW", "NEW_CHANGED", "NEW_CHANGED_DELETED")
DATA_COMPRESSION_TYPES = ("NONE", "LZ4")
METADATA_MODES = ("AUTOMATIC", "USER_PROVISIONED")
LOG_LEVELS = ("DISABLED", "WARN_ONLY", "ERROR_ONLY", "WARN_ERROR")
S3_EVENTS = ("NEW", "CHANGED", "DELETED")
MAX_TAGS = 50
MAX_SECURITY_GROUPS = 50
MAX_IMPORTED_FILE_CHUNK_SIZE_MIB = 512_000
DEFAULT_IMPORTED_FILE_CHUNK_SIZE_MIB = 1024
MAX_BACKUP_RETENTION_DAYS = 90
MAX_ASSOCIATIONS_PER_FILE_SYSTEM = 8
# USER_PROVISIONED metadata IOPS: 1500, 3000, 6000, then multiples of 12000 up to 192000.
USER_PROVISIONED_METADATA_IOPS = (1500, 3000, 6000, *range(12000, 192001, 12000))

CLIENT_REQUEST_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,63}")
SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,}")
SECURITY_GROUP_ID = re.compile(r"sg-[0-9a-f]{8,}")
FILE_SYSTEM_ID = re.compile(r"fs-[0-9a-f]{8,}")
WEEKLY_TIME = re.compile(r"[1-7]:([01]\d|2[0-3]):?[0-5]\d")
DAILY_TIME = re.compile(r"([01]\d|2[0-3]):?[0-5]\d")


class Fields:
    """Typed access to one JSON object of a request; errors name the field by its full path."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _typed(self, key: str, kind: type | tuple[type, ...], label: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                raise bad_request(f"{self.name(key)} is required.")
            return None
        # bool is an int in Python; JSON true is not an integer to AWS.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise bad_request(f"{self.name(key)} must be {label}, got {value!r}.")
        return value

    def string(self, key: str, required: bool = False, max_length: int = 4096) -> str | None:
        value: str | None = self._typed(key, str, "a string", required)
        if value is not None and not 1 <= len(value) <= max_length:
            raise bad_request(
                f"{self.name(key)} must be 1 to {max_length} characters, got {len(value)}."
            )
        return value

    def integer(
        self,
        key: str,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        value: int | None = self._typed(key, int, "an integer", required)
        if value is not None:
            if minimum is not None and value < minimum:
                raise bad_request(f"{self.name(key)} must be at least {minimum}, got {value}.")
            if maximum is not None and value > maximum:
                raise bad_request(f"{self.name(key)} must be at most {maximum}, got {value}.")
        return value

    def boolean(self, key: str) -> bool | None:
        value: bool | None = self._typed(key, bool, "true or false", False)
        return value

    def choice(self, key: str, allowed: tuple[str, ...], required: bool = False) -> str | None:
        value = self.string(key, required)
        if value is not None and value not in allowed:
            raise bad_request(
                f"{self.name(key)} must be one of {', '.join(allowed)}; got {value!r}."
            )
        return value

    def pattern(self, key: str, regex: re.Pattern[str], example: str) -> str | None:
        value = self.string(key)
        if value is not None and not regex.fullmatch(value):
            raise bad_request(f"{self.name(key)} must look like {example}, got {value!r}.")
        return value

    def obj(self, key: str) -> Fields | None:
        value = self._typed(key, dict, "an object", False)
        return None if value is None else Fields(value, f"{self.name(key)}.")

    def strings(self, key: str, required: bool = False) -> list[str] | None:
        value: list[Any] | None = self._typed(key, list, "a list of strings", required)
        if value is not None and not all(isinstance(item, str) for item in value):
            raise bad_request(f"{self.name(key)} must be a list of strings, got {value!r}.")
        return value


def client_request_token(fields: Fields) -> str | None:
    token = fields.string("ClientRequestToken", max_length=63)
    if token is not None and not CLIENT_REQUEST_TOKEN.fullmatch(token):
        raise bad_request(
            "ClientRequestToken must be 1 to 63 characters of letters, digits, '_', '.' "
            f"or '-'; got {token!r}."
        )
    return token


def tags(fields: Fields, key: str = "Tags", required: bool = False) -> list[dict[str, str]]:
    raw = fields._typed(key, list, "a list of {Key, Value} objects", required)
    if raw is None:
        return []
    if len(raw) > MAX_TAGS:
        raise bad_request(f"{fields.name(key)} has {len(raw)} tags; at most {MAX_TAGS} allowed.")
    result = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise bad_request(f"{fields.name(key)}[{index}] must be a {{Key, Value}} object.")
        tag = Fields(item, f"{fields.name(key)}[{index}].")
        tag_key = tag.string("Key", required=True, max_length=128)
        assert tag_key is not None
        value = item.get("Value", "")
        if not isinstance(value, str) or len(value) > 256:
            raise bad_request(f"{tag.name('Value')} must be a string of at most 256 characters.")
        if tag_key.lower().startswith("aws:"):
            raise bad_request(f"{tag.name('Key')} {tag_key!r}: the aws: prefix is reserved.")
        result.append({"Key": tag_key, "Value": value})
    return result


def tag_keys(fields: Fields) -> list[str]:
    keys = fields.strings("TagKeys", required=True)
    assert keys is not None
    if not 1 <= len(keys) <= MAX_TAGS:
        raise bad_request(f"TagKeys must hold 1 to {MAX_TAGS} keys, got {len(keys)}.")
    for index, key in enumerate(keys):
        if not 1 <= len(key) <= 128:
            raise bad_request(f"TagKeys[{index}] must be 1 to 128 characters.")
    return keys


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
    return min(192000, 12000 * -(-capacity_gib // 24000))


@dataclass(frozen=True)
class LustreSpec:
    """A validated CreateFileSystem request for a Lustre file system, defaults applied."""

    deployment: DeploymentType
    storage_type: StorageType
    storage_capacity: int
    subnet_ids: list[str]
    security_group_ids: list[str]
    tags: list[dict[str, str]]
    kms_key_id: str | None
    version: str
    lustre: dict[str, Any]  # LustreConfiguration inputs, validated, as given (no defaults)
    per_unit_throughput: int | None
    efa_enabled: bool


def _network(fields: Fields) -> tuple[list[str], list[str]]:
    subnets = fields.strings("SubnetIds", required=True)
    assert subnets is not None
    if len(subnets) != 1:
        raise bad_request(
            f"SubnetIds: Lustre file systems take exactly one subnet, got {len(subnets)}."
        )
    for subnet in subnets:
        if not SUBNET_ID.fullmatch(subnet):
            raise FSxApiError(
                "InvalidNetworkSettings",
                f"SubnetIds: {subnet!r} is not a subnet id (subnet-0123456789abcdef0).",
                InvalidSubnetId=subnet,
            )
    groups = fields.strings("SecurityGroupIds") or []
    if len(groups) > MAX_SECURITY_GROUPS:
        raise bad_request(f"SecurityGroupIds: at most {MAX_SECURITY_GROUPS}, got {len(groups)}.")
    for group in groups:
        if not SECURITY_GROUP_ID.fullmatch(group):
            raise FSxApiError(
                "InvalidNetworkSettings",
                f"SecurityGroupIds: {group!r} is not a security group id (sg-0123456789abcdef0).",
                InvalidSecurityGroupId=group,
            )
    return subnets, groups


def _s3_path(fields: Fields, key: str) -> str | None:
    path = fields.string(key, max_length=4357)
    if path is not None and not path.startswith("s3://"):
        raise bad_request(
            f"{fields.name(key)} must be an S3 URI (s3://bucket/prefix), got {path!r}."
        )
    return path


def _bucket(s3_uri: str) -> str:
    return s3_uri[len("s3://") :].split("/", 1)[0]


def create_lustre_file_system(params: Mapping[str, Any]) -> LustreSpec:
    """Validate a CreateFileSystem request; raises FSxApiError naming the offending field."""
    fields = Fields(params)
    fs_type = fields.choice("FileSystemType", FILE_SYSTEM_TYPES, required=True)
    if fs_type != "LUSTRE":
        raise bad_request(
            f"fsx-csi emulator does not implement CreateFileSystem for FileSystemType {fs_type}"
        )
    capacity = fields.integer("StorageCapacity", required=True, minimum=1)
    assert capacity is not None
    storage_name = fields.choice("StorageType", ("SSD", "HDD", "INTELLIGENT_TIERING"))
    if storage_name == "INTELLIGENT_TIERING":
        raise bad_request("fsx-csi emulator does not implement StorageType INTELLIGENT_TIERING")
    storage = StorageType(storage_name or DEFAULT_STORAGE_TYPE)
    subnets, groups = _network(fields)
    tag_list = tags(fields)
    kms_key_id = fields.string("KmsKeyId", max_length=2048)
    version_given = fields.choice("FileSystemTypeVersion", LUSTRE_VERSIONS)
    lustre_fields = fields.obj("LustreConfiguration") or Fields({}, "LustreConfiguration.")
    lustre = dict(lustre_fields.data)

    deployment = DeploymentType(
        lustre_fields.choice("DeploymentType", tuple(DeploymentType)) or DEFAULT_DEPLOYMENT_TYPE
    )
    persistent = deployment.is_persistent
    lustre_fields.pattern("WeeklyMaintenanceStartTime", WEEKLY_TIME, "d:HH:MM (1:05:00)")

    # Per-unit throughput: persistent types need it, scratch types take none.
    throughput = lustre_fields.integer("PerUnitStorageThroughput")
    allowed = PER_UNIT_THROUGHPUT.get((deployment, storage))
    if not persistent and throughput is not None:
        raise bad_request(
            f"LustreConfiguration.PerUnitStorageThroughput is not supported for {deployment}; "
            "only PERSISTENT_1 and PERSISTENT_2 file systems take it."
        )
    if storage is StorageType.HDD and deployment is not DeploymentType.PERSISTENT_1:
        raise bad_request(f"StorageType HDD is supported only with PERSISTENT_1, not {deployment}.")
    if persistent:
        if throughput is None:
            raise bad_request(
                f"LustreConfiguration.PerUnitStorageThroughput is required for {deployment}."
            )
        if allowed is None or throughput not in allowed:
            accepted = ", ".join(str(v) for v in allowed or ())
            raise bad_request(
                f"LustreConfiguration.PerUnitStorageThroughput {throughput} is not valid for "
                f"{deployment} {storage}; valid values: {accepted}."
            )

    drive_cache = lustre_fields.choice("DriveCacheType", tuple(DriveCacheType))
    if storage is StorageType.HDD and drive_cache is None:
        raise bad_request("LustreConfiguration.DriveCacheType (NONE or READ) is required with HDD.")
    if storage is StorageType.SSD and drive_cache is not None:
        raise bad_request("LustreConfiguration.DriveCacheType is supported only with HDD storage.")

    # Backups: persistent file systems only.
    for key in (
        "AutomaticBackupRetentionDays",
        "DailyAutomaticBackupStartTime",
        "CopyTagsToBackups",
    ):
        if lustre_fields.has(key) and not persistent:
            raise bad_request(
                f"LustreConfiguration.{key} is not supported for {deployment}; scratch file "
                "systems have no backups."
            )
    retention = lustre_fields.integer(
        "AutomaticBackupRetentionDays", minimum=0, maximum=MAX_BACKUP_RETENTION_DAYS
    )
    lustre_fields.pattern("DailyAutomaticBackupStartTime", DAILY_TIME, "HH:MM (05:00)")
    lustre_fields.boolean("CopyTagsToBackups")
    if lustre_fields.has("DailyAutomaticBackupStartTime") and not retention:
        raise bad_request(
            "LustreConfiguration.DailyAutomaticBackupStartTime needs "
            "AutomaticBackupRetentionDays greater than 0."
        )
    if kms_key_id is not None and not persistent:
        raise bad_request(
            f"KmsKeyId is not supported for {deployment}; scratch file systems are encrypted "
            "with keys that Amazon FSx manages."
        )

    # Legacy S3 link (ImportPath/ExportPath): not on PERSISTENT_2, which uses associations.
    import_path = _s3_path(lustre_fields, "ImportPath")
    export_path = _s3_path(lustre_fields, "ExportPath")
    chunk = lustre_fields.integer(
        "ImportedFileChunkSize", minimum=1, maximum=MAX_IMPORTED_FILE_CHUNK_SIZE_MIB
    )
    auto_import = lustre_fields.choice("AutoImportPolicy", AUTO_IMPORT_POLICIES)
    if import_path is None:
        for key, value in (
            ("ExportPath", export_path),
            ("ImportedFileChunkSize", chunk),
            ("AutoImportPolicy", auto_import),
        ):
            if value is not None:
                raise bad_request(
                    f"LustreConfiguration.{key} needs LustreConfiguration.ImportPath."
                )
    else:
        if deployment is DeploymentType.PERSISTENT_2:
            raise bad_request(
                "LustreConfiguration.ImportPath is not supported for PERSISTENT_2; link S3 with "
                "a data repository association (CreateDataRepositoryAssociation)."
            )
        if export_path is not None and _bucket(export_path) != _bucket(import_path):
            raise bad_request(
                "LustreConfiguration.ExportPath must be in the ImportPath's bucket "
                f"({_bucket(import_path)}), got {export_path!r}."
            )

    lustre_fields.choice("DataCompressionType", DATA_COMPRESSION_TYPES)
    log = lustre_fields.obj("LogConfiguration")
    if log is not None:
        log.choice("Level", LOG_LEVELS, required=True)
        log.string("Destination", max_length=1024)
    lustre_fields.obj("RootSquashConfiguration")
    for key in ("ThroughputCapacity", "DataReadCacheConfiguration"):
        if lustre_fields.has(key):
            raise bad_request(f"fsx-csi emulator does not implement LustreConfiguration.{key}")

    efa = lustre_fields.boolean("EfaEnabled") or False
    metadata = lustre_fields.obj("MetadataConfiguration")
    if (efa or metadata is not None) and deployment is not DeploymentType.PERSISTENT_2:
        key = "EfaEnabled" if efa else "MetadataConfiguration"
        raise bad_request(f"LustreConfiguration.{key} is supported only for PERSISTENT_2.")
    if metadata is not None:
        mode = metadata.choice("Mode", METADATA_MODES, required=True)
        iops = metadata.integer("Iops")
        if mode == "AUTOMATIC" and iops is not None:
            raise bad_request(
                "LustreConfiguration.MetadataConfiguration.Iops cannot be set in AUTOMATIC mode."
            )
        if mode == "USER_PROVISIONED" and iops not in USER_PROVISIONED_METADATA_IOPS:
            raise bad_request(
                "LustreConfiguration.MetadataConfiguration.Iops must be 1500, 3000, 6000 or a "
                f"multiple of 12000 up to 192000 in USER_PROVISIONED mode, got {iops}."
            )

    version = version_given or _default_version(deployment, metadata is not None)
    if deployment is DeploymentType.PERSISTENT_2 and version == "2.10":
        raise bad_request("FileSystemTypeVersion 2.10 is not supported for PERSISTENT_2.")
    if deployment is DeploymentType.PERSISTENT_2 and metadata is not None and version == "2.12":
        raise bad_request(
            "FileSystemTypeVersion 2.12 does not support "
            "LustreConfiguration.MetadataConfiguration; use 2.15."
        )

    rule = capacity_rule(deployment, storage, throughput, efa)
    if not rule.is_valid(capacity):
        raise bad_request(
            f"StorageCapacity {capacity} GiB is not valid for {deployment} {storage}"
            + (f" at {throughput} MB/s/TiB" if throughput else "")
            + (" with EFA" if efa else "")
            + f"; valid values: {rule.describe()} (next valid: {rule.round_up(capacity)})."
        )

    return LustreSpec(
        deployment=deployment,
        storage_type=storage,
        storage_capacity=capacity,
        subnet_ids=list(subnets),
        security_group_ids=list(groups),
        tags=tag_list,
        kms_key_id=kms_key_id,
        version=version,
        lustre=lustre,
        per_unit_throughput=throughput,
        efa_enabled=efa,
    )


def _default_version(deployment: DeploymentType, has_metadata_configuration: bool) -> str:
    # The API reference's defaults: 2.10, except PERSISTENT_2 (2.12; 2.15 with metadata mode).
    if deployment is DeploymentType.PERSISTENT_2:
        return "2.15" if has_metadata_configuration else "2.12"
    return "2.10"


def file_system_id(fields: Fields, key: str = "FileSystemId") -> str:
    value = fields.string(key, required=True)
    assert value is not None
    if not FILE_SYSTEM_ID.fullmatch(value):
        raise bad_request(f"{fields.name(key)} must look like fs-0123456789abcdef0, got {value!r}.")
    return value


@dataclass(frozen=True)
class AssociationSpec:
    file_system_id: str
    file_system_path: str
    data_repository_path: str
    batch_import_metadata_on_create: bool
    imported_file_chunk_size: int
    s3: dict[str, Any] | None
    tags: list[dict[str, str]]


def create_association(params: Mapping[str, Any]) -> AssociationSpec:
    fields = Fields(params)
    fs_id = file_system_id(fields)
    fs_path = fields.string("FileSystemPath", max_length=4096) or "/"
    if not fs_path.startswith("/"):
        raise bad_request(f"FileSystemPath must start with '/', got {fs_path!r}.")
    repo_path = fields.string("DataRepositoryPath", required=True, max_length=4357)
    assert repo_path is not None
    if not (repo_path.startswith("s3://") or repo_path.startswith("nfs://")):
        raise bad_request(
            f"DataRepositoryPath must be an S3 URI (s3://bucket/prefix), got {repo_path!r}."
        )
    batch = fields.boolean("BatchImportMetaDataOnCreate") or False
    chunk = fields.integer(
        "ImportedFileChunkSize", minimum=1, maximum=MAX_IMPORTED_FILE_CHUNK_SIZE_MIB
    )
    s3 = fields.obj("S3")
    s3_data: dict[str, Any] | None = None
    if s3 is not None:
        s3_data = {}
        for policy in ("AutoImportPolicy", "AutoExportPolicy"):
            policy_fields = s3.obj(policy)
            if policy_fields is None:
                continue
            events = policy_fields.strings("Events") or []
            for event in events:
                if event not in S3_EVENTS:
                    raise bad_request(
                        f"{policy_fields.name('Events')} must hold NEW, CHANGED or DELETED, "
                        f"got {event!r}."
                    )
            s3_data[policy] = {"Events": list(events)}
    return AssociationSpec(
        file_system_id=fs_id,
        file_system_path=fs_path,
        data_repository_path=repo_path,
        batch_import_metadata_on_create=batch,
        imported_file_chunk_size=chunk or DEFAULT_IMPORTED_FILE_CHUNK_SIZE_MIB,
        s3=s3_data,
        tags=tags(fields),
    )


def max_results(fields: Fields) -> int | None:
    return fields.integer("MaxResults", minimum=1, maximum=2147483647)
