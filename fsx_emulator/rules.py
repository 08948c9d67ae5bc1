"""Request validation for the FSx operations the emulator implements.

Every rule comes from `fsx_csi_harness.fsx`, the project's one table of FSx rules (the driver
and its test fake read the same one): value lists, patterns, limits, which fields fit together
and the capacity increments. This module adds the request shape (JSON types, required
fields) and AWS's error codes. Every failure is an FSxApiError whose message names the field
as the API does, the value seen and what is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fsx_csi_harness.fsx import (
    API_STORAGE_TYPES,
    AUTO_IMPORT_POLICIES,
    CLIENT_REQUEST_TOKEN,
    DATA_COMPRESSION_TYPES,
    DEFAULT_IMPORTED_FILE_CHUNK_SIZE_MIB,
    FILE_SYSTEM_ID,
    LOG_LEVELS,
    LUSTRE,
    MAX_BACKUP_RETENTION_DAYS,
    MAX_DATA_REPOSITORY_ASSOCIATIONS,
    MAX_KMS_KEY_ID_LENGTH,
    MAX_SECURITY_GROUPS,
    MAX_TAG_KEY_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    MAX_TAGS,
    METADATA_MODES,
    RESERVED_TAG_PREFIX,
    SECURITY_GROUP_ID,
    SUBNET_ID,
    DeploymentType,
    Field,
    LustreSettings,
    Problem,
    StorageType,
    api_name,
    configuration_problem,
    request_values,
    value_problem,
)
from fsx_emulator.errors import FSxApiError, bad_request

# Older names of table entries that the rest of the emulator reads through this module.
MAX_ASSOCIATIONS_PER_FILE_SYSTEM = MAX_DATA_REPOSITORY_ASSOCIATIONS
__all__ = [
    "AUTO_IMPORT_POLICIES",
    "DATA_COMPRESSION_TYPES",
    "DEFAULT_IMPORTED_FILE_CHUNK_SIZE_MIB",
    "MAX_ASSOCIATIONS_PER_FILE_SYSTEM",
    "MAX_BACKUP_RETENTION_DAYS",
    "MAX_TAGS",
    "AssociationSpec",
    "Fields",
    "LustreSpec",
    "client_request_token",
    "create_association",
    "create_lustre_file_system",
    "file_system_id",
    "max_results",
    "tag_keys",
    "tags",
]


# AWS's own error codes for CreateFileSystem problems with these fields (API reference,
# CreateFileSystem "Errors"); any other problem is a generic BadRequest.
_FIELD_ERROR_CODES: dict[Field, str] = {
    Field.PER_UNIT_STORAGE_THROUGHPUT: "InvalidPerUnitStorageThroughput",
    Field.IMPORT_PATH: "InvalidImportPath",
    Field.EXPORT_PATH: "InvalidExportPath",
    Field.SUBNET_IDS: "InvalidNetworkSettings",
    Field.SECURITY_GROUP_IDS: "InvalidNetworkSettings",
}
MISSING_CONFIGURATION = "MissingFileSystemConfiguration"


def field_error(field: Field, message: str, missing: bool = False) -> FSxApiError:
    """The error AWS answers for a problem with `field`: a configuration the request lacks is
    MissingFileSystemConfiguration, some fields have their own code, the rest BadRequest."""
    if missing:
        return FSxApiError(MISSING_CONFIGURATION, message)
    return FSxApiError(_FIELD_ERROR_CODES.get(field, "BadRequest"), message)


def problem_error(problem: Problem) -> FSxApiError:
    return field_error(problem.field, problem.render(_emulator_name) + ".", problem.missing)


def _emulator_name(field: Field) -> str:
    if field is Field.DATA_REPOSITORY_ASSOCIATIONS:
        return "a data repository association (CreateDataRepositoryAssociation)"
    return api_name(field)


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

    def checked(self, field: Field, kind: type, label: str) -> Any:
        """The value of `field` (a key of this object), of JSON type `kind`, meeting its rule."""
        value = self._typed(field.key, kind, label, False)
        if value is not None:
            problem = value_problem(field, value)
            if problem is not None:
                raise field_error(
                    field, f"{self.name(field.key)} {value!r} is not valid: {problem}."
                )
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
    token = fields.string("ClientRequestToken", max_length=CLIENT_REQUEST_TOKEN.max_length)
    if token is not None and not CLIENT_REQUEST_TOKEN.matches(token):
        raise bad_request(f"ClientRequestToken must be {CLIENT_REQUEST_TOKEN.form}; got {token!r}.")
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
        tag_key = tag.string("Key", required=True, max_length=MAX_TAG_KEY_LENGTH)
        assert tag_key is not None
        value = item.get("Value", "")
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LENGTH:
            raise bad_request(
                f"{tag.name('Value')} must be a string of at most {MAX_TAG_VALUE_LENGTH} "
                "characters."
            )
        if tag_key.lower().startswith(RESERVED_TAG_PREFIX):
            raise bad_request(
                f"{tag.name('Key')} {tag_key!r}: the {RESERVED_TAG_PREFIX} prefix is reserved."
            )
        result.append({"Key": tag_key, "Value": value})
    return result


def tag_keys(fields: Fields) -> list[str]:
    keys = fields.strings("TagKeys", required=True)
    assert keys is not None
    if not 1 <= len(keys) <= MAX_TAGS:
        raise bad_request(f"TagKeys must hold 1 to {MAX_TAGS} keys, got {len(keys)}.")
    for index, key in enumerate(keys):
        if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            raise bad_request(f"TagKeys[{index}] must be 1 to {MAX_TAG_KEY_LENGTH} characters.")
    return keys


@dataclass(frozen=True)
class LustreSpec:
    """A validated CreateFileSystem request for a Lustre file system, defaults applied."""

    deployment: DeploymentType
    storage_type: StorageType
    storage_capacity: int | None  # None: INTELLIGENT_TIERING, which has no capacity to set
    subnet_ids: list[str]
    security_group_ids: list[str]
    tags: list[dict[str, str]]
    kms_key_id: str | None
    version: str
    lustre: dict[str, Any]  # LustreConfiguration inputs, validated, as given (no defaults)
    per_unit_throughput: int | None
    efa_enabled: bool
    throughput_capacity: int | None = None


def _network(fields: Fields) -> tuple[list[str], list[str]]:
    subnets = fields.strings("SubnetIds", required=True)
    assert subnets is not None
    if len(subnets) != 1:
        raise FSxApiError(
            "InvalidNetworkSettings",
            f"SubnetIds: Lustre file systems take exactly one subnet, got {len(subnets)}.",
        )
    for subnet in subnets:
        if not SUBNET_ID.matches(subnet):
            raise FSxApiError(
                "InvalidNetworkSettings",
                f"SubnetIds: {subnet!r} is not {SUBNET_ID.describe()}.",
                InvalidSubnetId=subnet,
            )
    groups = fields.strings("SecurityGroupIds") or []
    if len(groups) > MAX_SECURITY_GROUPS:
        raise bad_request(f"SecurityGroupIds: at most {MAX_SECURITY_GROUPS}, got {len(groups)}.")
    for group in groups:
        if not SECURITY_GROUP_ID.matches(group):
            raise FSxApiError(
                "InvalidNetworkSettings",
                f"SecurityGroupIds: {group!r} is not {SECURITY_GROUP_ID.describe()}.",
                InvalidSecurityGroupId=group,
            )
    return subnets, groups


# LustreConfiguration members: their JSON type, and how a type error names it.
_LUSTRE_MEMBERS: tuple[tuple[Field, type, str], ...] = (
    (Field.DEPLOYMENT_TYPE, str, "a string"),
    (Field.PER_UNIT_STORAGE_THROUGHPUT, int, "an integer"),
    (Field.DRIVE_CACHE_TYPE, str, "a string"),
    (Field.IMPORT_PATH, str, "a string"),
    (Field.EXPORT_PATH, str, "a string"),
    (Field.IMPORTED_FILE_CHUNK_SIZE, int, "an integer"),
    (Field.AUTO_IMPORT_POLICY, str, "a string"),
    (Field.AUTOMATIC_BACKUP_RETENTION_DAYS, int, "an integer"),
    (Field.DAILY_AUTOMATIC_BACKUP_START_TIME, str, "a string"),
    (Field.COPY_TAGS_TO_BACKUPS, bool, "true or false"),
    (Field.DATA_COMPRESSION_TYPE, str, "a string"),
    (Field.WEEKLY_MAINTENANCE_START_TIME, str, "a string"),
    (Field.EFA_ENABLED, bool, "true or false"),
)


def create_lustre_file_system(params: Mapping[str, Any]) -> LustreSpec:
    """Validate a CreateFileSystem request; raises FSxApiError naming the offending field."""
    fields = Fields(params)
    fs_type = fields.checked(Field.FILE_SYSTEM_TYPE, str, "a string")
    if fs_type is None:
        raise bad_request("FileSystemType is required.")
    if fs_type != LUSTRE:
        raise bad_request(
            f"fsx-csi emulator does not implement CreateFileSystem for FileSystemType {fs_type}"
        )
    storage_name = fields.choice("StorageType", API_STORAGE_TYPES)
    # INTELLIGENT_TIERING has no StorageCapacity (configuration_problem refuses one); every
    # other storage type needs it.
    has_capacity = storage_name is None or StorageType(storage_name).has_storage_capacity
    capacity = fields.integer("StorageCapacity", required=has_capacity)
    fields.checked(Field.STORAGE_CAPACITY, int, "an integer")
    subnets, groups = _network(fields)
    tag_list = tags(fields)
    kms_key_id = fields.string("KmsKeyId", max_length=MAX_KMS_KEY_ID_LENGTH)
    fields.checked(Field.FILE_SYSTEM_TYPE_VERSION, str, "a string")
    lustre_fields = fields.obj("LustreConfiguration") or Fields({}, "LustreConfiguration.")
    for field, kind, label in _LUSTRE_MEMBERS:
        lustre_fields.checked(field, kind, label)
    log = lustre_fields.obj("LogConfiguration")
    if log is not None:
        log.choice("Level", LOG_LEVELS, required=True)
        log.string("Destination", max_length=1024)
    lustre_fields.obj("RootSquashConfiguration")
    lustre_fields.checked(Field.THROUGHPUT_CAPACITY, int, "an integer")
    read_cache = lustre_fields.obj("DataReadCacheConfiguration")
    if read_cache is not None:
        read_cache.checked(Field.READ_CACHE_SIZING_MODE, str, "a string")
        read_cache.checked(Field.READ_CACHE_SIZE, int, "an integer")
    metadata = lustre_fields.obj("MetadataConfiguration")
    if metadata is not None:
        metadata.choice("Mode", METADATA_MODES, required=True)
        metadata.checked(Field.METADATA_IOPS, int, "an integer")

    # Every value has its JSON type and meets its own rule; now, do they fit together?
    settings = LustreSettings.from_fields(request_values(params))
    problem = configuration_problem(settings)
    if problem is not None:
        raise problem_error(problem)
    deployment, storage = settings.deployment, settings.storage
    throughput, efa = settings.per_unit_storage_throughput, bool(settings.efa_enabled)
    if capacity is not None and not (rule := settings.capacity_rule).is_valid(capacity):
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
        version=settings.version,
        lustre=dict(lustre_fields.data),
        per_unit_throughput=throughput,
        efa_enabled=efa,
        throughput_capacity=settings.throughput_capacity,
    )


def file_system_id(fields: Fields, key: str = "FileSystemId") -> str:
    value = fields.string(key, required=True)
    assert value is not None
    if not FILE_SYSTEM_ID.matches(value):
        raise bad_request(f"{fields.name(key)} must be {FILE_SYSTEM_ID.describe()}; got {value!r}.")
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
    fs_path = fields.checked(Field.ASSOCIATION_FILE_SYSTEM_PATH, str, "a string") or "/"
    if fields.data.get("DataRepositoryPath") is None:
        raise bad_request("DataRepositoryPath is required.")
    repo_path = fields.checked(Field.ASSOCIATION_DATA_REPOSITORY_PATH, str, "a string")
    batch = fields.boolean("BatchImportMetaDataOnCreate") or False
    chunk = fields.checked(Field.ASSOCIATION_IMPORTED_FILE_CHUNK_SIZE, int, "an integer")
    s3 = fields.obj("S3")
    s3_data: dict[str, Any] | None = None
    if s3 is not None:
        s3_data = {}
        for policy, field in (
            ("AutoImportPolicy", Field.ASSOCIATION_AUTO_IMPORT_EVENTS),
            ("AutoExportPolicy", Field.ASSOCIATION_AUTO_EXPORT_EVENTS),
        ):
            policy_fields = s3.obj(policy)
            if policy_fields is None:
                continue
            events = policy_fields.strings("Events") or []
            problem = value_problem(field, events)
            if problem is not None:
                raise bad_request(f"{policy_fields.name('Events')} is not valid: {problem}.")
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
