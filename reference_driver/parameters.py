"""StorageClass parameters: one table from each key to the FSx field it sets and its parser.

Keys are spelled exactly as the upstream driver (kubernetes-sigs/aws-fsx-csi-driver,
pkg/driver/controller.go, docs/options.md) spells them (`fsx_csi_harness.fsx.storage_class`),
with upstream's defaults for INTELLIGENT_TIERING, so StorageClasses move between the two
drivers unchanged. The `dataRepository*` keys are this driver's own (data repository
associations, which upstream does not support). Unknown keys are ignored, as upstream does,
but logged as a warning that names the closest known key (a typo such as `deploymentTyp`
would otherwise silently create a file system of the default type); the
`csi.storage.k8s.io/*` keys that external-provisioner adds are ignored silently.

Mutable parameters (ControllerModifyVolume, a Kubernetes VolumeAttributesClass) are the keys
of `MUTABLE_KEYS`: what FSx changes online on a live file system.

What a value may be and which values fit together are FSx rules: they live in
`fsx_csi_harness.fsx`, and problems come back naming the StorageClass key (through this table)
and the allowed values (from the rules). Adding a parameter: its rule in `fsx_csi_harness.fsx`,
its row in `PARAMETERS` below and its row in README.md's parameter table (a test holds the
README to this table).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fsx_csi_harness.fsx import (
    DEFAULT_CAPACITY_GIB,
    GIB,
    MAX_DATA_REPOSITORY_ASSOCIATIONS,
    MAX_STORAGE_CAPACITY_GIB,
    MAX_TAG_KEY_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    MAX_TAGS,
    RESERVED_TAG_PREFIX,
    S3_PATH,
    STORAGE_CLASS_FIELDS,
    CapacityRule,
    Field,
    LustreSettings,
    configuration_problem,
    parse_go_bool,
    paths_overlap,
    value_problem,
    with_storage_class_defaults,
)
from fsx_csi_harness.fsx.storage_class import (
    AUTO_IMPORT_POLICY,
    AUTOMATIC_BACKUP_RETENTION_DAYS,
    COPY_TAGS_TO_BACKUPS,
    DAILY_AUTOMATIC_BACKUP_START_TIME,
    DATA_COMPRESSION_TYPE,
    DATA_READ_CACHE_SIZE_GIB,
    DATA_READ_CACHE_SIZING_MODE,
    DEPLOYMENT_TYPE,
    DRIVE_CACHE_TYPE,
    EFA_ENABLED,
    EXTRA_TAGS,
    FILE_SYSTEM_TYPE_VERSION,
    KMS_KEY_ID,
    METADATA_CONFIGURATION_MODE,
    METADATA_IOPS,
    PER_UNIT_STORAGE_THROUGHPUT,
    S3_EXPORT_PATH,
    S3_IMPORT_PATH,
    SECURITY_GROUP_IDS,
    STORAGE_TYPE,
    SUBNET_ID,
    THROUGHPUT_CAPACITY,
    WEEKLY_MAINTENANCE_START_TIME,
)
from reference_driver.cloud.model import (
    VOLUME_NAME_TAG,
    DataRepositoryAssociationSpec,
    FileSystemOptions,
)
from reference_driver.errors import InvalidArgument, OutOfRange

log = logging.getLogger(__name__)

# Keys external-provisioner adds (--extra-create-metadata): never the user's typo.
PROVISIONER_KEY_PREFIX = "csi.storage.k8s.io/"

# This driver's own keys: data repository associations.
DATA_REPOSITORY_ASSOCIATIONS = "dataRepositoryAssociations"
DATA_REPOSITORY_AUTO_IMPORT_EVENTS = "dataRepositoryAutoImportEvents"
DATA_REPOSITORY_AUTO_EXPORT_EVENTS = "dataRepositoryAutoExportEvents"
DATA_REPOSITORY_IMPORTED_FILE_CHUNK_SIZE = "dataRepositoryImportedFileChunkSize"
DATA_REPOSITORY_BATCH_IMPORT_METADATA_ON_CREATE = "dataRepositoryBatchImportMetaDataOnCreate"

# Volume context keys (CreateVolume's answer; a static PV's volumeAttributes).
CONTEXT_DNS_NAME = "dnsname"
CONTEXT_MOUNT_NAME = "mountname"

# (key, the StorageClass value) -> the field's value in FSx's JSON; None means "not set".
Parser = Callable[[str, str], object]


def parse_bool(key: str, value: str) -> bool:
    """Booleans as upstream reads them (Go's strconv.ParseBool spellings)."""
    parsed = parse_go_bool(value)
    if parsed is None:
        raise InvalidArgument(f"parameter {key}={value!r} is not a boolean: use true or false")
    return parsed


def parse_int(key: str, value: str) -> int:
    try:
        return int(value.strip(), 10)
    except ValueError:
        raise InvalidArgument(f"parameter {key}={value!r} is not an integer") from None


def parse_text(key: str, value: str) -> str:
    return value


def parse_optional_text(key: str, value: str) -> str | None:
    """Blank counts as not set (a templated StorageClass often leaves a key empty)."""
    return value.strip() or None


def parse_s3_path(key: str, value: str) -> str:
    """An S3 path whose bucket can exist (S3's naming rules), before AWS is asked."""
    if not S3_PATH.matches(value):
        raise InvalidArgument(f"parameter {key}={value!r} is not valid: use {S3_PATH.describe()}")
    return value


def parse_list(key: str, value: str) -> tuple[str, ...]:
    """Comma-separated, blanks dropped."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def parse_subnet(key: str, value: str) -> list[str] | None:
    subnet = value.strip()
    return [subnet] if subnet else None


def parse_security_groups(key: str, value: str) -> list[str] | None:
    return list(parse_list(key, value)) or None


def parse_extra_tags(key: str, value: str) -> tuple[tuple[str, str], ...]:
    """`k1=v1,k2=v2` -> ((k1, v1), (k2, v2)); each item needs exactly one `=` and a key."""
    tags: list[tuple[str, str]] = []
    for item in value.split(","):
        if not item:
            continue
        parts = item.split("=")
        if len(parts) != 2 or not parts[0].strip():
            raise InvalidArgument(
                f"parameter {key} has a malformed tag {item!r}: use key=value pairs "
                "separated by commas, for example team=ml,env=dev"
            )
        tag_key, tag_value = parts[0].strip(), parts[1].strip()
        if tag_key == VOLUME_NAME_TAG:
            raise InvalidArgument(
                f"parameter {key} sets {VOLUME_NAME_TAG}, which the driver reserves for "
                "finding the file system of a volume: choose another key"
            )
        if tag_key.lower().startswith(RESERVED_TAG_PREFIX):
            raise InvalidArgument(
                f"parameter {key} has tag {tag_key!r}: AWS reserves the "
                f"{RESERVED_TAG_PREFIX} prefix; choose another key"
            )
        if len(tag_key) > MAX_TAG_KEY_LENGTH or len(tag_value) > MAX_TAG_VALUE_LENGTH:
            raise InvalidArgument(
                f"parameter {key} has tag {tag_key!r} longer than AWS allows "
                f"(keys up to {MAX_TAG_KEY_LENGTH} characters, values up to "
                f"{MAX_TAG_VALUE_LENGTH})"
            )
        tags.append((tag_key, tag_value))
    # AWS allows MAX_TAGS per file system; the driver always adds CSIVolumeName.
    if len(tags) > MAX_TAGS - 1:
        raise InvalidArgument(
            f"parameter {key} has {len(tags)} tags; at most {MAX_TAGS - 1} are allowed "
            f"(AWS's {MAX_TAGS} per file system, one of which is {VOLUME_NAME_TAG})"
        )
    return tuple(tags)


def merge_tags(
    controller_tags: tuple[tuple[str, str], ...], storage_class_tags: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """The controller's --extra-tags, then the StorageClass's extraTags (which win on a key)."""
    merged = dict(controller_tags)
    merged.update(storage_class_tags)
    if len(merged) > MAX_TAGS - 1:
        raise InvalidArgument(
            f"--extra-tags and parameter {EXTRA_TAGS} together set {len(merged)} tags; at most "
            f"{MAX_TAGS - 1} are allowed (AWS's {MAX_TAGS} per file system, one of which is "
            f"{VOLUME_NAME_TAG})"
        )
    return tuple(merged.items())


def parse_association_entries(key: str, value: str) -> tuple[tuple[str, str], ...] | None:
    """`/fs/path=s3://bucket/prefix;/other=s3://...` -> ((fs path, S3 path), ...)."""
    entries = [entry.strip() for entry in value.split(";") if entry.strip()]
    if not entries:
        return None
    if len(entries) > MAX_DATA_REPOSITORY_ASSOCIATIONS:
        raise InvalidArgument(
            f"parameter {key} lists {len(entries)} associations; FSx allows at most "
            f"{MAX_DATA_REPOSITORY_ASSOCIATIONS} per file system"
        )
    pairs: list[tuple[str, str]] = []
    for entry in entries:
        fs_path, sep, s3_path = (part.strip() for part in entry.partition("="))
        if not sep:
            raise InvalidArgument(
                f"parameter {key} has entry {entry!r} without '=': use "
                "/fs/path=s3://bucket/prefix, entries separated by ';'"
            )
        # This driver also refuses '.' and '..' components: a path that names a directory
        # in two ways would defeat the overlap check below.
        parts = fs_path.split("/")
        path_problem = value_problem(Field.ASSOCIATION_FILE_SYSTEM_PATH, fs_path)
        if path_problem or "." in parts or ".." in parts or "//" in fs_path:
            raise InvalidArgument(
                f"parameter {key} has file system path {fs_path!r}: use an absolute path "
                "without '.' or '..' components, for example /data"
            )
        if not S3_PATH.matches(s3_path):
            raise InvalidArgument(
                f"parameter {key} has {s3_path!r}, not an S3 path: use {S3_PATH.describe()}"
            )
        pairs.append((fs_path, s3_path))
    for index, (path, _) in enumerate(pairs):
        for other, _ in pairs[index + 1 :]:
            if paths_overlap(path, other):
                raise InvalidArgument(
                    f"parameter {key} has overlapping file system paths {path!r} and "
                    f"{other!r}: FSx needs each association in its own directory tree"
                )
    return tuple(pairs)


def parse_events(key: str, value: str) -> list[str]:
    return list(parse_list(key, value))


@dataclass(frozen=True)
class Parameter:
    """One StorageClass key: how its string becomes the value of the FSx field it sets.

    Upstream's keys set the field `fsx_csi_harness.fsx.STORAGE_CLASS_FIELDS` names; this
    driver's own keys name theirs.
    """

    key: str
    parse: Parser
    own_field: Field | None = None

    @property
    def field(self) -> Field:
        return self.own_field or STORAGE_CLASS_FIELDS[self.key]


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(SUBNET_ID, parse_subnet),
    Parameter(SECURITY_GROUP_IDS, parse_security_groups),
    Parameter(DEPLOYMENT_TYPE, parse_text),
    Parameter(STORAGE_TYPE, parse_text),
    Parameter(PER_UNIT_STORAGE_THROUGHPUT, parse_int),
    Parameter(DRIVE_CACHE_TYPE, parse_text),
    Parameter(KMS_KEY_ID, parse_optional_text),
    Parameter(S3_IMPORT_PATH, parse_s3_path),
    Parameter(S3_EXPORT_PATH, parse_s3_path),
    Parameter(AUTO_IMPORT_POLICY, parse_text),
    Parameter(AUTOMATIC_BACKUP_RETENTION_DAYS, parse_int),
    Parameter(DAILY_AUTOMATIC_BACKUP_START_TIME, parse_text),
    Parameter(COPY_TAGS_TO_BACKUPS, parse_bool),
    Parameter(DATA_COMPRESSION_TYPE, parse_text),
    Parameter(WEEKLY_MAINTENANCE_START_TIME, parse_text),
    Parameter(FILE_SYSTEM_TYPE_VERSION, parse_text),
    Parameter(EXTRA_TAGS, parse_extra_tags),
    Parameter(EFA_ENABLED, parse_bool),
    Parameter(METADATA_CONFIGURATION_MODE, parse_text),
    Parameter(METADATA_IOPS, parse_int),
    Parameter(THROUGHPUT_CAPACITY, parse_int),
    Parameter(DATA_READ_CACHE_SIZING_MODE, parse_text),
    Parameter(DATA_READ_CACHE_SIZE_GIB, parse_int),
    Parameter(
        DATA_REPOSITORY_ASSOCIATIONS, parse_association_entries, Field.DATA_REPOSITORY_ASSOCIATIONS
    ),
    Parameter(
        DATA_REPOSITORY_AUTO_IMPORT_EVENTS, parse_events, Field.ASSOCIATION_AUTO_IMPORT_EVENTS
    ),
    Parameter(
        DATA_REPOSITORY_AUTO_EXPORT_EVENTS, parse_events, Field.ASSOCIATION_AUTO_EXPORT_EVENTS
    ),
    Parameter(
        DATA_REPOSITORY_IMPORTED_FILE_CHUNK_SIZE,
        parse_int,
        Field.ASSOCIATION_IMPORTED_FILE_CHUNK_SIZE,
    ),
    Parameter(
        DATA_REPOSITORY_BATCH_IMPORT_METADATA_ON_CREATE,
        parse_bool,
        Field.ASSOCIATION_BATCH_IMPORT_METADATA_ON_CREATE,
    ),
)

ALL_KEYS: tuple[str, ...] = tuple(parameter.key for parameter in PARAMETERS)
KEY_OF_FIELD: dict[Field, str] = {parameter.field: parameter.key for parameter in PARAMETERS}

# Fields that are not part of the CreateFileSystem request itself.
_TAGS = (Field.TAGS,)
_ASSOCIATION_OPTIONS = (
    Field.ASSOCIATION_AUTO_IMPORT_EVENTS,
    Field.ASSOCIATION_AUTO_EXPORT_EVENTS,
    Field.ASSOCIATION_IMPORTED_FILE_CHUNK_SIZE,
    Field.ASSOCIATION_BATCH_IMPORT_METADATA_ON_CREATE,
)
_NOT_IN_CREATE_REQUEST = (*_TAGS, Field.DATA_REPOSITORY_ASSOCIATIONS, *_ASSOCIATION_OPTIONS)


def key_name(field: Field) -> str:
    """A field as a StorageClass writes it: its key, or the API name for fields without one."""
    return KEY_OF_FIELD.get(field, field.value)


def warn_unknown_keys(params: Mapping[str, str], known: tuple[str, ...] = ALL_KEYS) -> None:
    """Log each key no FSx driver knows, with the closest known key (difflib)."""
    for key in params:
        if key in known or key.startswith(PROVISIONER_KEY_PREFIX):
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        log.warning(
            "StorageClass parameter %r is not a key this driver knows and is ignored%s",
            key,
            hint,
            extra={"fields": {"parameter": key, "closest_known_key": close[0] if close else None}},
        )


def _parse_values(params: Mapping[str, str]) -> dict[Field, object]:
    """Every known key's value, parsed and checked against its field's own rule."""
    values: dict[Field, object] = {}
    for parameter in PARAMETERS:
        if parameter.key not in params:
            continue
        raw = params[parameter.key]
        value = parameter.parse(parameter.key, raw)
        if value is None:
            continue
        problem = value_problem(parameter.field, value)
        if problem is not None:
            raise InvalidArgument(f"parameter {parameter.key}={raw!r} is not valid: {problem}")
        values[parameter.field] = value
    return values


def _associations(values: Mapping[Field, object]) -> tuple[DataRepositoryAssociationSpec, ...]:
    entries = values.get(Field.DATA_REPOSITORY_ASSOCIATIONS)
    if entries is None:
        options = [field for field in _ASSOCIATION_OPTIONS if field in values]
        if options:
            raise InvalidArgument(
                f"parameter {key_name(options[0])} needs {DATA_REPOSITORY_ASSOCIATIONS} "
                "(for example /data=s3://bucket/prefix)"
            )
        return ()
    assert isinstance(entries, tuple)
    chunk = values.get(Field.ASSOCIATION_IMPORTED_FILE_CHUNK_SIZE)
    import_events = values.get(Field.ASSOCIATION_AUTO_IMPORT_EVENTS, [])
    export_events = values.get(Field.ASSOCIATION_AUTO_EXPORT_EVENTS, [])
    assert isinstance(import_events, list) and isinstance(export_events, list)
    return tuple(
        DataRepositoryAssociationSpec(
            file_system_path=fs_path,
            data_repository_path=s3_path,
            batch_import_metadata_on_create=bool(
                values.get(Field.ASSOCIATION_BATCH_IMPORT_METADATA_ON_CREATE, False)
            ),
            imported_file_chunk_size_mib=chunk if isinstance(chunk, int) else None,
            auto_import_events=tuple(import_events),
            auto_export_events=tuple(export_events),
        )
        for fs_path, s3_path in entries
    )


def parse_create_parameters(
    params: Mapping[str, str], required_bytes: int = 0, limit_bytes: int = 0
) -> FileSystemOptions:
    """Validate StorageClass parameters and a CSI capacity range into a CreateFileSystem request.

    The capacity is rounded up with the rule of the configuration the parameters select.
    Raises InvalidArgument naming the parameter and what is allowed, OutOfRange for capacity.
    """
    warn_unknown_keys(params)
    values = with_storage_class_defaults(_parse_values(params))
    if Field.SUBNET_IDS not in values:
        raise InvalidArgument(f"parameter {SUBNET_ID} is required: the subnet for the file system")
    settings = LustreSettings.from_fields(values)
    problem = configuration_problem(settings)
    if problem is not None:
        raise InvalidArgument("parameter " + problem.render(key_name))
    associations = _associations(values)
    tags = values.get(Field.TAGS, ())
    assert isinstance(tags, tuple)
    # INTELLIGENT_TIERING has no storage capacity: the volume's size is elastic, and the
    # capacity range is ignored, as upstream does.
    capacity = (
        round_capacity(required_bytes, limit_bytes, settings.capacity_rule)
        if settings.storage.has_storage_capacity
        else None
    )
    return FileSystemOptions(
        capacity_gib=capacity,
        fields={f: v for f, v in values.items() if f not in _NOT_IN_CREATE_REQUEST},
        extra_tags=tags,
        data_repository_associations=associations,
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


# What FSx changes online on a live file system (UpdateFileSystem), as StorageClass keys:
# ControllerModifyVolume's mutable parameters.
MUTABLE_KEYS: tuple[str, ...] = (PER_UNIT_STORAGE_THROUGHPUT, METADATA_IOPS)


@dataclass(frozen=True)
class Modification:
    """Validated mutable parameters; None means "leave as it is"."""

    per_unit_storage_throughput: int | None = None
    metadata_iops: int | None = None

    def __bool__(self) -> bool:
        return self.per_unit_storage_throughput is not None or self.metadata_iops is not None


def parse_mutable_parameters(params: Mapping[str, str]) -> Modification:
    """ControllerModifyVolume's (or CreateVolume's) mutable_parameters; InvalidArgument names
    the key and what is allowed. Unlike StorageClass parameters, an unknown key is refused: a
    VolumeAttributesClass asks for a change the driver must not silently skip."""
    values: dict[str, int] = {}
    for key, raw in params.items():
        if key not in MUTABLE_KEYS:
            close = difflib.get_close_matches(key, MUTABLE_KEYS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InvalidArgument(
                f"mutable parameter {key!r} cannot be changed on a live volume{hint}: the "
                f"mutable parameters are {', '.join(MUTABLE_KEYS)}"
            )
        parameter = next(p for p in PARAMETERS if p.key == key)
        value = parse_int(key, raw)
        problem = value_problem(parameter.field, value)
        if problem is not None:
            raise InvalidArgument(f"mutable parameter {key}={raw!r} is not valid: {problem}")
        values[key] = value
    return Modification(
        per_unit_storage_throughput=values.get(PER_UNIT_STORAGE_THROUGHPUT),
        metadata_iops=values.get(METADATA_IOPS),
    )
