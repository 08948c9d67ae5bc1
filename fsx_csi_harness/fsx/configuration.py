"""Which fields of a Lustre CreateFileSystem request fit together.

`configuration_problem` holds every rule that relates one field to another (deployment and
storage types, throughput, drive cache, backups, the legacy S3 link, EFA, metadata, Lustre
versions, data repository associations). A problem names fields as `{FIELD}` placeholders, so
the emulator can print API field names and the driver its StorageClass keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from fsx_csi_harness.fsx.capacity import CapacityRule, capacity_rule
from fsx_csi_harness.fsx.fields import Field
from fsx_csi_harness.fsx.patterns import s3_bucket
from fsx_csi_harness.fsx.values import (
    ASSOCIATION_LUSTRE_VERSIONS,
    DEFAULT_DEPLOYMENT_TYPE,
    DEFAULT_STORAGE_TYPE,
    EFA_INCREMENT_GIB,
    INTELLIGENT_TIERING_METADATA_IOPS,
    METADATA_AUTOMATIC,
    METADATA_LUSTRE_VERSIONS,
    METADATA_USER_PROVISIONED,
    PER_UNIT_THROUGHPUT,
    READ_CACHE_MAX_GIB_PER_STEP,
    READ_CACHE_MIN_GIB_PER_STEP,
    READ_CACHE_SIZING_MODES,
    READ_CACHE_USER_PROVISIONED,
    THROUGHPUT_CAPACITY_STEP_MBPS,
    THROUGHPUT_UPDATABLE,
    DeploymentType,
    StorageType,
    default_lustre_version,
    lustre_versions,
)

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(" + "|".join(f.name for f in Field) + r")\}")


@dataclass(frozen=True)
class Problem:
    """A broken rule: the field at fault and a message with `{FIELD_NAME}` placeholders.

    `missing` marks a problem that is a configuration the request lacks (AWS answers those
    with MissingFileSystemConfiguration rather than a generic BadRequest).
    """

    field: Field
    template: str
    missing: bool = False

    def render(self, name: Callable[[Field], str]) -> str:
        """The message with each `{FIELD}` replaced by `name(field)`; `{{` and `}}` are braces."""

        def replace(match: re.Match[str]) -> str:
            token = match.group(0)
            if token in ("{{", "}}"):
                return token[0]
            return name(Field[match.group(1)])

        return _PLACEHOLDER.sub(replace, self.template)


def _literal(value: object) -> str:
    """A value quoted into a problem template: its braces are not placeholders."""
    return str(value).replace("{", "{{").replace("}", "}}")


def api_name(field: Field) -> str:
    """A field as the FSx API names it (LustreConfiguration.DeploymentType)."""
    return field.value


@dataclass(frozen=True)
class LustreSettings:
    """The fields of a CreateFileSystem request that rules relate; None means "not set"."""

    deployment_type: DeploymentType | None = None
    storage_type: StorageType | None = None
    storage_capacity: int | None = None
    per_unit_storage_throughput: int | None = None
    drive_cache_type: str | None = None
    kms_key_id: str | None = None
    import_path: str | None = None
    export_path: str | None = None
    imported_file_chunk_size: int | None = None
    auto_import_policy: str | None = None
    automatic_backup_retention_days: int | None = None
    daily_automatic_backup_start_time: str | None = None
    copy_tags_to_backups: bool | None = None
    file_system_type_version: str | None = None
    efa_enabled: bool | None = None
    metadata_configuration_mode: str | None = None
    metadata_iops: int | None = None
    throughput_capacity: int | None = None
    read_cache_sizing_mode: str | None = None
    read_cache_size: int | None = None
    # Data repository associations requested together with the file system (the driver's).
    data_repository_associations: int = 0

    @classmethod
    def from_fields(cls, values: Mapping[Field, object]) -> LustreSettings:
        """Settings from request values by field; each attribute is named after its Field."""
        known = {attribute.name for attribute in fields(cls)}
        chosen: dict[str, Any] = {}
        for field, value in values.items():
            attribute = field.name.lower()
            if attribute in known and value is not None:
                chosen[attribute] = value
        if "deployment_type" in chosen:
            chosen["deployment_type"] = DeploymentType(chosen["deployment_type"])
        if "storage_type" in chosen:
            chosen["storage_type"] = StorageType(chosen["storage_type"])
        if "data_repository_associations" in chosen:
            chosen["data_repository_associations"] = len(chosen["data_repository_associations"])
        return cls(**chosen)

    @property
    def deployment(self) -> DeploymentType:
        return self.deployment_type or DEFAULT_DEPLOYMENT_TYPE

    @property
    def storage(self) -> StorageType:
        return self.storage_type or DEFAULT_STORAGE_TYPE

    @property
    def version(self) -> str:
        """The Lustre version the file system gets (the API's default when not set)."""
        return self.file_system_type_version or default_lustre_version(
            self.deployment, self.metadata_configuration_mode is not None
        )

    @property
    def capacity_rule(self) -> CapacityRule:
        """Valid sizes for these settings; only for settings without a configuration problem
        and a storage type that has a capacity (INTELLIGENT_TIERING has none: ValueError)."""
        return capacity_rule(
            self.deployment, self.storage, self.per_unit_storage_throughput, bool(self.efa_enabled)
        )


def _join(values: tuple[object, ...]) -> str:
    return ", ".join(str(v) for v in values)


def configuration_problem(settings: LustreSettings) -> Problem | None:
    """The first rule the settings break, or None. Single values are `value_problem`'s."""
    deployment, storage = settings.deployment, settings.storage
    for check in _CHECKS:
        problem = check(settings, deployment, storage)
        if problem is not None:
            return problem
    return None


Check = Callable[[LustreSettings, DeploymentType, StorageType], Problem | None]


def _storage(s: LustreSettings, deployment: DeploymentType, storage: StorageType) -> Problem | None:
    if storage is StorageType.HDD and deployment is not DeploymentType.PERSISTENT_1:
        return Problem(
            Field.STORAGE_TYPE,
            f"{{STORAGE_TYPE}}=HDD needs {{DEPLOYMENT_TYPE}}=PERSISTENT_1 (got {deployment}); "
            "other deployment types use SSD",
        )
    if storage is StorageType.INTELLIGENT_TIERING and deployment is not DeploymentType.PERSISTENT_2:
        return Problem(
            Field.STORAGE_TYPE,
            f"{{STORAGE_TYPE}}=INTELLIGENT_TIERING needs {{DEPLOYMENT_TYPE}}=PERSISTENT_2 (got "
            f"{deployment})",
        )
    return None


def _throughput(
    s: LustreSettings, deployment: DeploymentType, storage: StorageType
) -> Problem | None:
    allowed = PER_UNIT_THROUGHPUT.get((deployment, storage), ())
    throughput = s.per_unit_storage_throughput
    if storage is StorageType.INTELLIGENT_TIERING:
        if throughput is None:
            return None
        return Problem(
            Field.PER_UNIT_STORAGE_THROUGHPUT,
            "{PER_UNIT_STORAGE_THROUGHPUT} does not apply to {STORAGE_TYPE}=INTELLIGENT_TIERING, "
            "whose throughput is the whole file system's: use {THROUGHPUT_CAPACITY}",
        )
    if throughput is not None and not allowed:
        return Problem(
            Field.PER_UNIT_STORAGE_THROUGHPUT,
            f"{{PER_UNIT_STORAGE_THROUGHPUT}} is not supported for {deployment}: scratch file "
            "systems have a fixed throughput; leave it out",
        )
    if throughput is not None and throughput not in allowed:
        return Problem(
            Field.PER_UNIT_STORAGE_THROUGHPUT,
            f"{{PER_UNIT_STORAGE_THROUGHPUT}}={throughput} is not valid for {deployment} "
            f"{storage}: use one of {_join(allowed)}",
        )
    if throughput is None and allowed:
        return Problem(
            Field.PER_UNIT_STORAGE_THROUGHPUT,
            f"{{PER_UNIT_STORAGE_THROUGHPUT}} is required for {deployment} {storage}: use one "
            f"of {_join(allowed)}",
        )
    return None


def _drive_cache(
    s: LustreSettings, deployment: DeploymentType, storage: StorageType
) -> Problem | None:
    if storage is StorageType.HDD and s.drive_cache_type is None:
        return Problem(
            Field.DRIVE_CACHE_TYPE,
            "{DRIVE_CACHE_TYPE} is required with {STORAGE_TYPE}=HDD: use NONE or READ",
        )
    if storage is not StorageType.HDD and s.drive_cache_type is not None:
        return Problem(
            Field.DRIVE_CACHE_TYPE,
            "{DRIVE_CACHE_TYPE} applies to {STORAGE_TYPE}=HDD only; leave it out",
        )
    return None


# Scratch file systems have no backups and are encrypted with keys FSx manages.
PERSISTENT_ONLY_FIELDS = (
    Field.KMS_KEY_ID,
    Field.AUTOMATIC_BACKUP_RETENTION_DAYS,
    Field.DAILY_AUTOMATIC_BACKUP_START_TIME,
    Field.COPY_TAGS_TO_BACKUPS,
)


def _persistent_only(
    s: LustreSettings, deployment: DeploymentType, storage: StorageType
) -> Problem | None:
    if deployment.is_persistent:
        return None
    for field in PERSISTENT_ONLY_FIELDS:
        if getattr(s, field.name.lower()) is not None:
            return Problem(
                field,
                f"{{{field.name}}} needs a persistent {{DEPLOYMENT_TYPE}} (PERSISTENT_1 or "
                f"PERSISTENT_2), got {deployment}: scratch file systems have no backups and "
                "are encrypted with keys FSx manages",
            )
    return None


def _backups(s: LustreSettings, deployment: DeploymentType, storage: StorageType) -> Problem | None:
    # Retention 0 (the default) disables automatic backups: a start time would mean nothing.
    if s.daily_automatic_backup_start_time is not None and not s.automatic_backup_retention_days:
        return Problem(
            Field.DAILY_AUTOMATIC_BACKUP_START_TIME,
            "{DAILY_AUTOMATIC_BACKUP_START_TIME} needs {AUTOMATIC_BACKUP_RETENTION_DAYS} "
            "greater than 0 (0, the default, disables automatic backups)",
        )
    return None


def _legacy_s3_link(
    s: LustreSettings, deployment: DeploymentType, storage: StorageType
) -> Problem | None:
    linked = (
        (Field.IMPORT_PATH, s.import_path),
        (Field.EXPORT_PATH, s.export_path),
        (Field.IMPORTED_FILE_CHUNK_SIZE, s.imported_file_chunk_size),
        (Field.AUTO_IMPORT_POLICY, s.auto_import_policy),
    )
    if deployment is DeploymentType.PERSISTENT_2:
        for field, value in linked:
            if value is not None:
                return Problem(
                    field,
                    f"{{{field.name}}} is not available for PERSISTENT_2, which links to S3 "
                    "through data repository associations: use {DATA_REPOSITORY_ASSOCIATIONS}",
                )
    if s.import_path is None:
        for field, value in linked[1:]:
            if value is not None:
                return Problem(field, f"{{{field.name}}} needs {{IMPORT_PATH}} as well")
        return None
    if s.export_path is not None and s3_bucket(s.export_path) != s3_bucket(s.import_path):
        return Problem(
            Field.EXPORT_PATH,
            f"{{EXPORT_PATH}}={_literal(repr(s.export_path))} must be in the bucket of "
            f"{{IMPORT_PATH}} ({_literal(s3_bucket(s.import_path))})",
        )
    return None


def _persistent_2_features(
    s: LustreSettings, deployment: DeploymentType, storage: StorageType
) -> Problem | None:
    if deployment is DeploymentType.PERSISTENT_2:
        return None
    # EfaEnabled=false is the default everywhere; only turning EFA on needs PERSISTENT_2.
    for field, is_set in (
        (Field.EFA_ENABLED, bool(s.efa_enabled)),
        (Field.METADATA_CONFIGURATION_MODE, s.metadata_configuration_mode is not None),
        (Field.METADATA_IOPS, s.metadata_iops is not None),
    ):
        if is_set:
            return Problem(
                field, f"{{{field.name}}} needs {{DEPLOYMENT_TYPE}}=PERSISTENT_2, got {deployment}"
            )
    return None


def _intelligent_tiering(
    s: LustreSettings, deployment: DeploymentType, storage: StorageType
) -> Problem | None:
    """INTELLIGENT_TIERING's own fields (API reference: CreateFileSystem StorageCapacity,
    CreateFileSystemLustreConfiguration ThroughputCapacity and DataReadCacheConfiguration,
    LustreReadCacheConfiguration, CreateFileSystemLustreMetadataConfiguration)."""
    tiering_only = (
        (Field.THROUGHPUT_CAPACITY, s.throughput_capacity),
        (Field.READ_CACHE_SIZING_MODE, s.read_cache_sizing_mode),
        (Field.READ_CACHE_SIZE, s.read_cache_size),
    )
    if storage is not StorageType.INTELLIGENT_TIERING:
        for field, value in tiering_only:
            if value is not None:
                return Problem(
                    field,
                    f"{{{field.name}}} needs {{STORAGE_TYPE}}=INTELLIGENT_TIERING (got {storage})",
                )
        return None
    if s.storage_capacity is not None:
        return Problem(
            Field.STORAGE_CAPACITY,
            "{STORAGE_CAPACITY} does not apply to {STORAGE_TYPE}=INTELLIGENT_TIERING, whose "
            "storage grows and shrinks with the data: leave it out",
        )
    if s.throughput_capacity is None:
        return Problem(
            Field.THROUGHPUT_CAPACITY,
            "{STORAGE_TYPE}=INTELLIGENT_TIERING needs {THROUGHPUT_CAPACITY}: "
            f"{THROUGHPUT_CAPACITY_STEP_MBPS} MBps or a multiple of it",
            missing=True,
        )
    if s.read_cache_sizing_mode is None:
        return Problem(
            Field.READ_CACHE_SIZING_MODE,
            "{STORAGE_TYPE}=INTELLIGENT_TIERING needs {READ_CACHE_SIZING_MODE} (the SSD read "
            f"cache; NO_CACHE for none): use one of {_join(READ_CACHE_SIZING_MODES)}",
            missing=True,
        )
    size = s.read_cache_size
    if s.read_cache_sizing_mode == READ_CACHE_USER_PROVISIONED:
        steps = max(1, s.throughput_capacity // THROUGHPUT_CAPACITY_STEP_MBPS)
        low, high = READ_CACHE_MIN_GIB_PER_STEP * steps, READ_CACHE_MAX_GIB_PER_STEP * steps
        if size is None:
            return Problem(
                Field.READ_CACHE_SIZE,
                "{READ_CACHE_SIZING_MODE}=USER_PROVISIONED needs {READ_CACHE_SIZE}: "
                f"{low} to {high} GiB at {{THROUGHPUT_CAPACITY}}={s.throughput_capacity}",
            )
        if not low <= size <= high:
            return Problem(
                Field.READ_CACHE_SIZE,
                f"{{READ_CACHE_SIZE}}={size} is out of range at {{THROUGHPUT_CAPACITY}}="
                f"{s.throughput_capacity}: use {low} to {high} GiB "
                f"({READ_CACHE_MIN_GIB_PER_STEP} to {READ_CACHE_MAX_GIB_PER_STEP} GiB per "
                f"{THROUGHPUT_CAPACITY_STEP_MBPS} MBps)",
            )
    elif size is not None:
        return Problem(
            Field.READ_CACHE_SIZE,
            "{READ_CACHE_SIZE} needs {READ_CACHE_SIZING_MODE}=USER_PROVISIONED (got "
            f"{_literal(s.read_cache_sizing_mode)})",
        )
    if s.metadata_configuration_mode is None:
        return Problem(
            Field.METADATA_CONFIGURATION_MODE,
            "{STORAGE_TYPE}=INTELLIGENT_TIERING needs {METADATA_CONFIGURATION_MODE}="
            "USER_PROVISIONED with {METADATA_IOPS} "
            f"{' or '.join(str(i) for i in INTELLIGENT_TIERING_METADATA_IOPS)}",
            missing=True,
        )
    if s.metadata_configuration_mode == METADATA_AUTOMATIC:
        return Problem(
            Field.METADATA_CONFIGURATION_MODE,
            "{METADATA_CONFIGURATION_MODE}=AUTOMATIC is for SSD file systems only: "
            "{STORAGE_TYPE}=INTELLIGENT_TIERING needs USER_PROVISIONED",
        )
    if s.metadata_iops is not None and s.metadata_iops not in INTELLIGENT_TIERING_METADATA_IOPS:
        return Problem(
            Field.METADATA_IOPS,
            f"{{METADATA_IOPS}}={s.metadata_iops} is not valid for "
            "{STORAGE_TYPE}=INTELLIGENT_TIERING: use "
            f"{' or '.join(str(i) for i in INTELLIGENT_TIERING_METADATA_IOPS)}",
        )
    return None


def _efa(s: LustreSettings, deployment: DeploymentType, storage: StorageType) -> Problem | None:
    if s.efa_enabled and s.metadata_configuration_mode is None:
        # EFA needs Lustre 2.15 with a metadata configuration (FSx for Lustre user guide,
        # "EFA-enabled file systems").
        return Problem(
            Field.EFA_ENABLED,
            "{EFA_ENABLED}=true needs a metadata configuration ({METADATA_CONFIGURATION_MODE} "
            "AUTOMATIC or USER_PROVISIONED, hence Lustre 2.15)",
            missing=True,
        )
    if s.efa_enabled and s.per_unit_storage_throughput not in EFA_INCREMENT_GIB:
        return Problem(
            Field.EFA_ENABLED,
            "{EFA_ENABLED}=true needs {PER_UNIT_STORAGE_THROUGHPUT} of "
            f"{_join(tuple(EFA_INCREMENT_GIB))}",
        )
    return None


def _metadata(
    s: LustreSettings, deployment: DeploymentType, storage: StorageType
) -> Problem | None:
    mode, iops = s.metadata_configuration_mode, s.metadata_iops
    if iops is not None and mode != METADATA_USER_PROVISIONED:
        return Problem(
            Field.METADATA_IOPS,
            "{METADATA_IOPS} needs {METADATA_CONFIGURATION_MODE}=USER_PROVISIONED (AUTOMATIC "
            "mode sets the IOPS itself)",
        )
    if mode == METADATA_USER_PROVISIONED and iops is None:
        return Problem(
            Field.METADATA_CONFIGURATION_MODE,
            "{METADATA_CONFIGURATION_MODE}=USER_PROVISIONED needs {METADATA_IOPS}",
        )
    return None


def _version(s: LustreSettings, deployment: DeploymentType, storage: StorageType) -> Problem | None:
    given = s.file_system_type_version
    if given is None:
        return None
    available = lustre_versions(deployment)
    if given not in available:
        return Problem(
            Field.FILE_SYSTEM_TYPE_VERSION,
            f"{{FILE_SYSTEM_TYPE_VERSION}}={_literal(given)} is not available for {deployment}: "
            f"use {' or '.join(available)}",
        )
    if s.metadata_configuration_mode is not None and given not in METADATA_LUSTRE_VERSIONS:
        return Problem(
            Field.FILE_SYSTEM_TYPE_VERSION,
            f"{{FILE_SYSTEM_TYPE_VERSION}}={_literal(given)} does not support "
            f"{{METADATA_CONFIGURATION_MODE}}: use {' or '.join(METADATA_LUSTRE_VERSIONS)}",
        )
    return None


def _associations(
    s: LustreSettings, deployment: DeploymentType, storage: StorageType
) -> Problem | None:
    if not s.data_repository_associations:
        return None
    reason = association_refusal(deployment, s.version, s.import_path is not None, storage)
    if reason is None:
        return None
    return Problem(Field.DATA_REPOSITORY_ASSOCIATIONS, "{DATA_REPOSITORY_ASSOCIATIONS} " + reason)


def association_refusal(
    deployment: DeploymentType,
    version: str,
    has_import_path: bool,
    storage: StorageType = StorageType.SSD,
) -> str | None:
    """Why a file system cannot have data repository associations, or None when it can.

    They work on every deployment type but SCRATCH_1, with Lustre 2.12 or newer, not on
    INTELLIGENT_TIERING and not beside a legacy ImportPath (user guide, "Linking your file
    system to an S3 bucket"). The text uses `{FIELD}` placeholders and reads after the name of
    what is refused.
    """
    if storage is StorageType.INTELLIGENT_TIERING:
        return (
            "is not available with {STORAGE_TYPE}=INTELLIGENT_TIERING, whose data lives in "
            "FSx's own tiers"
        )
    if deployment is DeploymentType.SCRATCH_1 or version not in ASSOCIATION_LUSTRE_VERSIONS:
        return (
            f"needs a {{DEPLOYMENT_TYPE}} other than SCRATCH_1 with {{FILE_SYSTEM_TYPE_VERSION}} "
            f"{' or '.join(ASSOCIATION_LUSTRE_VERSIONS)} (got {deployment}, Lustre "
            f"{_literal(version)}; "
            "PERSISTENT_2 runs 2.12 or newer by default)"
        )
    if has_import_path:
        return (
            "cannot be combined with {IMPORT_PATH}: a file system links to S3 either through "
            "its import path or through associations"
        )
    return None


_CHECKS: tuple[Check, ...] = (
    _storage,
    _throughput,
    _drive_cache,
    _persistent_only,
    _backups,
    _legacy_s3_link,
    _persistent_2_features,
    _intelligent_tiering,
    _efa,
    _metadata,
    _version,
    _associations,
)


# -- Changes a file system takes online (UpdateFileSystem API reference) --------


def throughput_change_problem(
    current: LustreSettings, throughput: int, capacity_gib: int | None = None
) -> Problem | None:
    """Why `current` (of `capacity_gib`) cannot change to PerUnitStorageThroughput
    `throughput`, or None.

    Persistent SSD file systems change it online (up or down, within their deployment type's
    list; user guide, "Managing provisioned throughput capacity"); where the capacity steps
    depend on the throughput (EFA), the current capacity must be a step of the new one."""
    deployment, storage = current.deployment, current.storage
    if (deployment, storage) not in THROUGHPUT_UPDATABLE:
        return Problem(
            Field.PER_UNIT_STORAGE_THROUGHPUT,
            f"{{PER_UNIT_STORAGE_THROUGHPUT}} cannot change on a {deployment} {storage} file "
            "system: only persistent SSD file systems (PERSISTENT_1 or PERSISTENT_2 with "
            "SSD storage) change their throughput online",
        )
    after = replace(current, per_unit_storage_throughput=throughput)
    problem = configuration_problem(after)
    if problem is not None or capacity_gib is None:
        return problem
    rule = after.capacity_rule
    if not rule.is_valid(capacity_gib):
        return Problem(
            Field.PER_UNIT_STORAGE_THROUGHPUT,
            f"{{PER_UNIT_STORAGE_THROUGHPUT}}={throughput} does not fit the storage capacity "
            f"{capacity_gib} GiB (valid sizes at that throughput: {rule.describe()})",
        )
    return None


def metadata_iops_change_problem(
    current: LustreSettings, iops: int, current_iops: int | None
) -> Problem | None:
    """Why `current` cannot move to USER_PROVISIONED metadata with `iops`, or None.

    Only a file system with a metadata configuration (PERSISTENT_2, Lustre 2.15) has one to
    change, and metadata IOPS only increase (API reference,
    UpdateFileSystemLustreMetadataConfiguration: "greater than or equal to the current")."""
    if current.metadata_configuration_mode is None:
        return Problem(
            Field.METADATA_IOPS,
            f"{{METADATA_IOPS}} can change only on a file system created with a metadata "
            f"configuration (PERSISTENT_2, Lustre 2.15); this one is {current.deployment}, "
            f"Lustre {_literal(current.version)}",
        )
    if current_iops is not None and iops < current_iops:
        return Problem(
            Field.METADATA_IOPS,
            f"{{METADATA_IOPS}}={iops} is below the current {current_iops}: metadata IOPS can "
            "only increase",
        )
    return configuration_problem(
        replace(current, metadata_configuration_mode=METADATA_USER_PROVISIONED, metadata_iops=iops)
    )
