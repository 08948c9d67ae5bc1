"""FSx fidelity over moto's FSx backend: lifecycle, validation, idempotency, associations.

`FidelityFSxBackend` subclasses moto's `FSxBackend` and keeps moto's tagging service and
file-system dictionary, adding what AWS documents and moto does not model (see README.md). It
holds no global state: each emulator owns one backend, so tests can run several side by side.
Every public method takes the backend's one lock and first applies the state changes whose
time has come, so concurrent clients see a consistent, exact state.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import shutil
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, NamedTuple, ParamSpec, TypeVar

from moto.fsx.models import FileSystem, FSxBackend

from fsx_csi_harness.fsx import (
    DEFAULT_DAILY_AUTOMATIC_BACKUP_START_TIME,
    DEFAULT_IMPORTED_FILE_CHUNK_SIZE_MIB,
    GROWABLE_DEPLOYMENT_TYPES,
    MAX_FILE_SYSTEM_IDS_PER_DESCRIBE,
    MIN_SECONDS_BETWEEN_INCREASES,
    MOUNT_NAME_LENGTH,
    PERSISTENT_ONLY_FIELDS,
    SCRATCH_1_MOUNT_NAME,
    STORAGE_UPDATE_IN_PROGRESS_MESSAGE,
    DeploymentType,
    Field,
    Problem,
    StorageType,
    api_name,
    association_refusal,
    automatic_metadata_iops,
    capacity_rule,
    dns_name,
    paths_overlap,
    s3_bucket,
)
from fsx_emulator import lustre, rules
from fsx_emulator.config import EmulatorConfig, check_page_size, check_token_ttl
from fsx_emulator.errors import (
    FSxApiError,
    association_not_found,
    bad_request,
    file_system_not_found,
    incompatible_parameter,
    not_service_resource,
    resource_not_found,
)
from fsx_emulator.lifecycle import Clock, DeadlineScheduler, ScheduledChange
from fsx_emulator.updates import update_targets

_log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# The phases of a FILE_SYSTEM_UPDATE administrative action, in order: storage
# growth passes UPDATED_OPTIMIZING (usable, STORAGE_OPTIMIZATION running); other changes not.
STORAGE_UPDATE_PHASES = ("PENDING", "IN_PROGRESS", "UPDATED_OPTIMIZING", "COMPLETED")
UPDATE_PHASES = ("PENDING", "IN_PROGRESS", "COMPLETED")
UPDATE_IN_PROGRESS_MESSAGE = "Unable to perform the update. There is an update already in progress."
MOUNT_NAME_ALPHABET = string.ascii_lowercase + string.digits


class TokenUse(NamedTuple):
    """What a CreateFileSystem ClientRequestToken stands for while its window lasts."""

    fingerprint: str  # the request's other parameters
    file_system_id: str
    used_at: float  # the scheduler clock when the token created the file system


class CreationOutcome:
    """What a new file system does after CREATING (set by fault injection)."""

    AVAILABLE = "available"
    STUCK = "stuck"
    FAILED = "failed"


def locked(
    method: Callable[Concatenate[FidelityFSxBackend, P], R],
) -> Callable[Concatenate[FidelityFSxBackend, P], R]:
    """Run a backend method under the state lock, after applying due state changes."""

    def wrapper(self: FidelityFSxBackend, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.lock:
            self.scheduler.run_due()
            return method(self, *args, **kwargs)

    wrapper.__doc__ = method.__doc__
    wrapper.__name__ = method.__name__
    return wrapper


class EmulatedFileSystem(FileSystem):
    """moto's FileSystem with the fields and state AWS returns for a Lustre file system."""

    def __init__(
        self,
        backend: FidelityFSxBackend,
        spec: rules.LustreSpec,
        file_system_id: str,
        mount_name: str,
        sequence: int,
    ) -> None:
        super().__init__(
            account_id=backend.account_id,
            region_name=backend.region_name,
            file_system_type="LUSTRE",
            storage_capacity=spec.storage_capacity or 0,
            storage_type=str(spec.storage_type),
            subnet_ids=spec.subnet_ids,
            security_group_ids=spec.security_group_ids,
            tags=None,
            kms_key_id=spec.kms_key_id,
            windows_configuration=None,
            lustre_configuration=None,
            ontap_configuration=None,
            open_zfs_configuration=None,
            backend=backend,
        )
        # moto draws an 8-hex-digit id; AWS ids have 17 hex digits.
        self.file_system_id = file_system_id
        self.dns_name = dns_name(file_system_id, backend.region_name)
        self.resource_arn = (
            f"arn:aws:fsx:{backend.region_name}:{backend.account_id}:file-system/{file_system_id}"
        )
        self.emulator = backend
        self.spec = spec
        self.sequence = sequence
        self.mount_name = mount_name
        self.lifecycle = "CREATING"
        self.failure_message: str | None = None
        self.creation_time = backend.wall_clock()
        self.created_at = backend.scheduler.clock()
        self.network_interface_ids = [backend.new_id("eni-"), backend.new_id("eni-")]
        self.administrative_actions: list[dict[str, Any]] = []
        # The scheduler clock at the last StorageCapacity / metadata IOPS increase request.
        self.last_increase: dict[str, float] = {}
        self.pending_change: ScheduledChange | None = None
        self.lustre = self._lustre_configuration(backend)
        if spec.kms_key_id is None and spec.deployment.is_persistent:
            # Persistent file systems are encrypted at rest with the account's aws/fsx key.
            self.kms_key_id = (
                f"arn:aws:kms:{backend.region_name}:{backend.account_id}:key/{backend.new_uuid()}"
            )

    def _lustre_configuration(self, backend: FidelityFSxBackend) -> dict[str, Any]:
        spec, given = self.spec, self.spec.lustre
        out: dict[str, Any] = {
            "WeeklyMaintenanceStartTime": given.get("WeeklyMaintenanceStartTime")
            or backend.maintenance_window(),
            "DeploymentType": str(spec.deployment),
            "MountName": self.mount_name,
            "DataCompressionType": given.get("DataCompressionType", "NONE"),
            "LogConfiguration": given.get("LogConfiguration", {"Level": "DISABLED"}),
        }
        if spec.deployment.is_persistent:
            retention = given.get("AutomaticBackupRetentionDays", 0)
            if spec.per_unit_throughput is not None:
                out["PerUnitStorageThroughput"] = spec.per_unit_throughput
            out["AutomaticBackupRetentionDays"] = retention
            out["CopyTagsToBackups"] = given.get("CopyTagsToBackups", False)
            if retention > 0:
                out["DailyAutomaticBackupStartTime"] = given.get(
                    "DailyAutomaticBackupStartTime", DEFAULT_DAILY_AUTOMATIC_BACKUP_START_TIME
                )
        if spec.storage_type is StorageType.HDD:
            out["DriveCacheType"] = given["DriveCacheType"]
        if "ImportPath" in given:
            import_path = given["ImportPath"]
            bucket = s3_bucket(import_path)
            stamp = datetime.fromtimestamp(self.creation_time, UTC).strftime("%Y%m%dT%H%M%SZ")
            out["DataRepositoryConfiguration"] = {
                "ImportPath": import_path,
                # AWS's default export prefix: FSxLustre<creation timestamp> in the bucket.
                "ExportPath": given.get("ExportPath", f"s3://{bucket}/FSxLustre{stamp}"),
                "ImportedFileChunkSize": given.get(
                    "ImportedFileChunkSize", DEFAULT_IMPORTED_FILE_CHUNK_SIZE_MIB
                ),
                "AutoImportPolicy": given.get("AutoImportPolicy", "NONE"),
            }
        if spec.deployment is DeploymentType.PERSISTENT_2:
            out["EfaEnabled"] = spec.efa_enabled
            metadata = given.get("MetadataConfiguration")
            if metadata is not None:
                iops = metadata.get("Iops") or automatic_metadata_iops(spec.storage_capacity or 0)
                out["MetadataConfiguration"] = {"Mode": metadata["Mode"], "Iops": iops}
        if spec.storage_type is StorageType.INTELLIGENT_TIERING:
            out["ThroughputCapacity"] = spec.throughput_capacity
            out["DataReadCacheConfiguration"] = dict(given["DataReadCacheConfiguration"])
        if "RootSquashConfiguration" in given:
            out["RootSquashConfiguration"] = given["RootSquashConfiguration"]
        return out

    @property
    def emulation_directory(self) -> Path | None:
        root = self.emulator.config.emulation_root
        return None if root is None else root / self.file_system_id / self.mount_name

    def to_dict(self) -> dict[str, Any]:
        lustre = dict(self.lustre)
        repository = lustre.get("DataRepositoryConfiguration")
        if repository is not None:
            repository = dict(repository)
            repository["Lifecycle"] = (
                self.lifecycle
                if self.lifecycle in ("CREATING", "DELETING", "FAILED")
                else "AVAILABLE"
            )
            lustre["DataRepositoryConfiguration"] = repository
        result: dict[str, Any] = {
            "OwnerId": self.emulator.account_id,
            "CreationTime": self.creation_time,
            "FileSystemId": self.file_system_id,
            "FileSystemType": "LUSTRE",
            "Lifecycle": self.lifecycle,
            "StorageType": self.storage_type,
            "VpcId": self.emulator.config.vpc_id,
            "SubnetIds": list(self.subnet_ids),
            "NetworkInterfaceIds": list(self.network_interface_ids),
            "DNSName": self.dns_name,
            "ResourceARN": self.resource_arn,
            "Tags": self.emulator.tags_of(self.resource_arn),
            "LustreConfiguration": lustre,
            "FileSystemTypeVersion": self.spec.version,
            "NetworkType": "IPV4",
        }
        if self.spec.storage_type.has_storage_capacity:
            # INTELLIGENT_TIERING answers no StorageCapacity: its storage is elastic.
            result["StorageCapacity"] = self.storage_capacity
        if self.kms_key_id is not None:
            result["KmsKeyId"] = self.kms_key_id
        if self.failure_message is not None:
            result["FailureDetails"] = {"Message": self.failure_message}
        if self.administrative_actions:
            result["AdministrativeActions"] = [dict(a) for a in self.administrative_actions]
        return result


class Association:
    """A data repository association (DRA) linking a file system path to an S3 prefix."""

    def __init__(
        self, backend: FidelityFSxBackend, spec: rules.AssociationSpec, sequence: int
    ) -> None:
        self.backend = backend
        self.spec = spec
        self.sequence = sequence
        self.association_id = backend.new_id("dra-")
        self.resource_arn = (
            f"arn:aws:fsx:{backend.region_name}:{backend.account_id}:association/"
            f"{spec.file_system_id}/{self.association_id}"
        )
        self.lifecycle = "CREATING"
        self.creation_time = backend.wall_clock()
        self.pending_change: ScheduledChange | None = None

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "AssociationId": self.association_id,
            "ResourceARN": self.resource_arn,
            "FileSystemId": self.spec.file_system_id,
            "Lifecycle": self.lifecycle,
            "FileSystemPath": self.spec.file_system_path,
            "DataRepositoryPath": self.spec.data_repository_path,
            "BatchImportMetaDataOnCreate": self.spec.batch_import_metadata_on_create,
            "ImportedFileChunkSize": self.spec.imported_file_chunk_size,
            "Tags": self.backend.tags_of(self.resource_arn),
            "CreationTime": self.creation_time,
        }
        if self.spec.s3 is not None:
            result["S3"] = json.loads(json.dumps(self.spec.s3))
        return result


class FidelityFSxBackend(FSxBackend):
    """moto's FSx backend with AWS's documented FSx for Lustre behaviour layered on top."""

    def __init__(
        self,
        config: EmulatorConfig,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(config.region, config.account_id)
        self.config = config
        self.wall_clock = wall_clock
        self._rng = rng or random.Random()  # noqa: S311 - ids, not secrets
        self.lock = threading.RLock()
        # The lifecycle ticker waits on this; scheduling a change wakes it.
        self.wakeup = threading.Condition(self.lock)
        self.scheduler = DeadlineScheduler(clock, on_schedule=self.wakeup.notify_all)
        self._init_state()

    def _init_state(self) -> None:
        self.file_systems: dict[str, EmulatedFileSystem] = {}  # type: ignore[assignment]
        self.associations: dict[str, Association] = {}
        self._by_arn: dict[str, EmulatedFileSystem | Association] = {}
        # Insertion order is creation order, so expired tokens are always at the front.
        self._create_tokens: dict[str, TokenUse] = {}
        self._sequence = 0
        self.creation_delay = self.config.creation_delay
        self.token_ttl = self.config.token_ttl
        self.describe_page_size = self.config.describe_page_size
        self.scheduler.clear()

    # -- ids and small helpers -------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{self._rng.getrandbits(68):017x}"

    def new_uuid(self) -> str:
        h = f"{self._rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def maintenance_window(self) -> str:
        # AWS picks a weekly window when none is given; any valid d:HH:MM will do.
        return f"{self._rng.randint(1, 7)}:{self._rng.randint(0, 23):02d}:00"

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def tags_of(self, arn: str) -> list[dict[str, str]]:
        if not self.tagger.has_tags(arn):
            return []
        tags: list[dict[str, str]] = self.tagger.list_tags_for_resource(arn)["Tags"]
        return [dict(tag) for tag in tags]

    def _live_token(self, token: str) -> TokenUse | None:
        """The token's use if its window is still open; forgets every token whose has closed."""
        if self.token_ttl is not None:
            oldest_live = self.scheduler.clock() - self.token_ttl
            while self._create_tokens:
                first_token, first_use = next(iter(self._create_tokens.items()))
                if first_use.used_at > oldest_live:
                    break
                del self._create_tokens[first_token]
        return self._create_tokens.get(token)

    def _file_system(self, file_system_id: str) -> EmulatedFileSystem:
        file_system = self.file_systems.get(file_system_id)
        if file_system is None:
            raise file_system_not_found(file_system_id)
        return file_system

    # -- CreateFileSystem ----------------------------------------------------------------

    @locked
    def create_lustre_file_system(
        self,
        params: Mapping[str, Any],
        outcome: str = CreationOutcome.AVAILABLE,
        failure_message: str | None = None,
    ) -> EmulatedFileSystem:
        """Create a Lustre file system from a CreateFileSystem request (validated here).

        Within the token window (`token_ttl`): same ClientRequestToken and same parameters,
        the existing file system; same token, other parameters: IncompatibleParameterError.
        After the window the token is new again, as on AWS: the call creates another file system.
        """
        fields = rules.Fields(params)
        token = rules.client_request_token(fields)
        fingerprint = json.dumps(
            {k: v for k, v in params.items() if k != "ClientRequestToken"}, sort_keys=True
        )
        seen = None if token is None else self._live_token(token)
        if seen is not None:
            existing = self.file_systems.get(seen.file_system_id)
            if existing is not None:
                if seen.fingerprint != fingerprint:
                    raise incompatible_parameter(
                        "ClientRequestToken",
                        f"ClientRequestToken {token!r} was already used to create "
                        f"{seen.file_system_id} with other parameters; use a new token for a new "
                        "file system, or repeat the original parameters.",
                    )
                return existing
        spec = rules.create_lustre_file_system(params)
        file_system_id = self.new_id("fs-")
        while file_system_id in self.file_systems:
            file_system_id = self.new_id("fs-")
        mount_name = (
            SCRATCH_1_MOUNT_NAME
            if spec.deployment is DeploymentType.SCRATCH_1
            else "".join(self._rng.choices(MOUNT_NAME_ALPHABET, k=MOUNT_NAME_LENGTH))
        )
        file_system = EmulatedFileSystem(
            self, spec, file_system_id, mount_name, self._next_sequence()
        )
        self.file_systems[file_system_id] = file_system
        self._by_arn[file_system.resource_arn] = file_system
        if spec.tags:
            self.tagger.tag_resource(file_system.resource_arn, spec.tags)
        if token is not None:
            # Re-inserted at the end: the dictionary stays ordered by use.
            self._create_tokens.pop(token, None)
            self._create_tokens[token] = TokenUse(
                fingerprint, file_system_id, self.scheduler.clock()
            )
        if outcome == CreationOutcome.FAILED:
            message = (
                failure_message or "Amazon FSx failed to create the file system (injected fault)."
            )
            self._schedule_creation(file_system, self.creation_delay, failure=message)
        elif outcome == CreationOutcome.AVAILABLE:
            self._schedule_creation(file_system, self.creation_delay)
        return file_system

    def _schedule_creation(
        self, file_system: EmulatedFileSystem, delay: float, failure: str | None = None
    ) -> None:
        if file_system.pending_change is not None:
            file_system.pending_change.cancel()

        def finish() -> None:
            file_system.pending_change = None
            if file_system.lifecycle != "CREATING":
                return
            if failure is not None:
                file_system.lifecycle = "FAILED"
                file_system.failure_message = failure
            else:
                self._become_available(file_system)

        file_system.pending_change = self.scheduler.at(
            file_system.created_at + delay, finish, f"{file_system.file_system_id} created"
        )

    def _become_available(self, file_system: EmulatedFileSystem) -> None:
        file_system.lifecycle = "AVAILABLE"
        directory = file_system.emulation_directory
        if directory is None:
            return
        directory.parent.mkdir(parents=True, exist_ok=True)
        if self.config.emulation_tmpfs:
            # A file system of its own: mount-library drivers compare st_dev with the
            # parent's, statvfs answers its capacity, and mountinfo names it by its NID.
            try:
                lustre.mount_file_system(
                    directory.parent, file_system.dns_name, file_system.spec.storage_capacity
                )
            except lustre.EmulationMountError as exc:
                _log.warning(
                    "%s stays a plain directory (%s): drivers that compare device numbers "
                    "will not see its mounts",
                    file_system.file_system_id,
                    exc,
                )
        directory.mkdir(exist_ok=True)

    @locked
    def set_creation_delay(self, seconds: float, file_system_id: str | None = None) -> None:
        """Whole emulator: file systems created from now on. One file system: counted from its
        creation, so 0 makes a CREATING (even stuck) file system AVAILABLE at once."""
        if seconds < 0:
            raise ValueError(f"creation delay must be >= 0 seconds, got {seconds}")
        if file_system_id is None:
            self.creation_delay = seconds
            return
        file_system = self._file_system(file_system_id)
        if file_system.lifecycle == "CREATING":
            self._schedule_creation(file_system, seconds)
            self.scheduler.run_due()

    @locked
    def advance_clock(self, seconds: float) -> None:
        """Let `seconds` pass at once (a clock that can jump: ManualClock, SkippableClock):
        deadlines that come due run, token windows close, six-hour spacings end."""
        advance = getattr(self.scheduler.clock, "advance", None)
        if advance is None:
            raise ValueError("this emulator's clock cannot be advanced (it was given a plain one)")
        advance(seconds)
        self.scheduler.run_due()
        self.wakeup.notify_all()

    @locked
    def set_token_ttl(self, seconds: float | None) -> None:
        """The ClientRequestToken window from now on (None: tokens never expire). It applies
        to tokens already used too: a token's age is measured when it is looked up."""
        check_token_ttl(seconds)
        self.token_ttl = None if seconds is None else float(seconds)

    @locked
    def set_describe_page_size(self, size: int) -> None:
        check_page_size(size)
        self.describe_page_size = size

    @locked
    def strictness(self) -> dict[str, Any]:
        return {"token_ttl": self.token_ttl, "describe_page_size": self.describe_page_size}

    # -- DescribeFileSystems ---------------------------------------------------------------

    @locked
    def describe_lustre_file_systems(
        self, file_system_ids: list[str] | None, max_results: int | None, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        if file_system_ids:
            if len(file_system_ids) > MAX_FILE_SYSTEM_IDS_PER_DESCRIBE:
                raise bad_request(
                    f"FileSystemIds: at most {MAX_FILE_SYSTEM_IDS_PER_DESCRIBE} ids, got "
                    f"{len(file_system_ids)}."
                )
            selected = [self._file_system(fs_id) for fs_id in file_system_ids]
        else:
            selected = list(self.file_systems.values())
        # AWS answers at most its internal page size, whatever MaxResults asks for (the API
        # reference: "the minimum of the MaxResults parameter ... and the service's internal
        # maximum number of items per page").
        page_size = self.describe_page_size
        if max_results is not None:
            page_size = min(page_size, max_results)
        page, token = _page(selected, page_size, next_token, "FileSystems")
        return [fs.to_dict() for fs in page], token

    # -- DeleteFileSystem ------------------------------------------------------------------

    @locked
    def delete_lustre_file_system(self, file_system_id: str) -> EmulatedFileSystem:
        file_system = self._file_system(file_system_id)
        if file_system.lifecycle == "DELETING":
            return file_system
        if file_system.pending_change is not None:
            file_system.pending_change.cancel()
        file_system.lifecycle = "DELETING"
        # Lustre emulation: a deleting file system can no longer be mounted.
        self._remove_emulation_directory(file_system)
        for association in list(self.associations.values()):
            if association.spec.file_system_id == file_system_id:
                self._start_association_deletion(association)

        def gone() -> None:
            self._forget(file_system)

        file_system.pending_change = self.scheduler.after(
            self.config.deletion_delay, gone, f"{file_system_id} deleted"
        )
        return file_system

    def _remove_emulation_directory(self, file_system: EmulatedFileSystem) -> None:
        directory = file_system.emulation_directory
        if directory is None:
            return
        if self.config.emulation_tmpfs and os.path.ismount(directory.parent):
            try:
                lustre.unmount_file_system(directory.parent)
            except lustre.EmulationMountError as exc:
                _log.warning("%s: %s", file_system.file_system_id, exc)
        shutil.rmtree(directory.parent, ignore_errors=True)

    def _forget(self, resource: EmulatedFileSystem | Association) -> None:
        if isinstance(resource, EmulatedFileSystem):
            self.file_systems.pop(resource.file_system_id, None)
        else:
            self.associations.pop(resource.association_id, None)
        self._by_arn.pop(resource.resource_arn, None)
        self.tagger.delete_all_tags_for_resource(resource.resource_arn)

    # -- UpdateFileSystem ------------------------------------------------------------------

    @locked
    def update_lustre_file_system(self, params: Mapping[str, Any]) -> EmulatedFileSystem:
        """Settings that apply at once (windows, retention, compression, logging, root squash)
        and the changes AWS makes online with an administrative action: StorageCapacity,
        PerUnitStorageThroughput, MetadataConfiguration, ThroughputCapacity and
        DataReadCacheConfiguration. Nothing changes when any part of the request is refused."""
        fields = rules.Fields(params)
        rules.client_request_token(fields)
        file_system = self._file_system(rules.file_system_id(fields))
        capacity = fields.integer("StorageCapacity", minimum=1)
        lustre = fields.obj("LustreConfiguration")
        changes: dict[str, Any] = {}
        targets: dict[str, Any] = {}
        if lustre is not None:
            changes, targets = self._validate_lustre_update(file_system, lustre)
        if capacity is None and not changes and not targets:
            raise bad_request(
                "UpdateFileSystem needs StorageCapacity or a LustreConfiguration change; got "
                "neither."
            )
        if file_system.lifecycle not in ("AVAILABLE", "UPDATING"):
            raise bad_request(
                f"File system '{file_system.file_system_id}' is {file_system.lifecycle}; it can "
                "be updated only when AVAILABLE."
            )
        if capacity is not None or targets:
            self._check_no_update_running(file_system, capacity is not None)
        if capacity is not None:
            self._check_capacity_update(file_system, capacity)
            self._check_increase_interval(file_system, "StorageCapacity")
        if "Iops" in targets.get("MetadataConfiguration", {}) and targets["MetadataConfiguration"][
            "Iops"
        ] > (file_system.lustre.get("MetadataConfiguration") or {}).get("Iops", 0):
            self._check_increase_interval(file_system, "MetadataConfiguration.Iops")
            file_system.last_increase["MetadataConfiguration.Iops"] = self.scheduler.clock()
        file_system.lustre.update(changes)
        if capacity is not None:
            file_system.last_increase["StorageCapacity"] = self.scheduler.clock()
        if capacity is not None or targets:
            self._start_update(file_system, capacity, targets)
        return file_system

    def _validate_lustre_update(
        self, file_system: EmulatedFileSystem, lustre: rules.Fields
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(settings that apply at once, LustreConfiguration targets of an online update)."""
        immediate = {
            "WeeklyMaintenanceStartTime",
            "DailyAutomaticBackupStartTime",
            "AutomaticBackupRetentionDays",
            "DataCompressionType",
            "AutoImportPolicy",
            "LogConfiguration",
            "RootSquashConfiguration",
        }
        online = {
            "PerUnitStorageThroughput",
            "MetadataConfiguration",
            "ThroughputCapacity",
            "DataReadCacheConfiguration",
        }
        for key in lustre.data:
            if key not in immediate | online and lustre.data[key] is not None:
                raise bad_request(
                    "fsx-csi emulator does not implement UpdateFileSystem "
                    f"LustreConfiguration.{key}"
                )
        persistent = file_system.spec.deployment.is_persistent
        lustre.checked(Field.WEEKLY_MAINTENANCE_START_TIME, str, "a string")
        lustre.checked(Field.DAILY_AUTOMATIC_BACKUP_START_TIME, str, "a string")
        lustre.checked(Field.AUTOMATIC_BACKUP_RETENTION_DAYS, int, "an integer")
        lustre.checked(Field.DATA_COMPRESSION_TYPE, str, "a string")
        lustre.checked(Field.AUTO_IMPORT_POLICY, str, "a string")
        lustre.obj("LogConfiguration")
        lustre.obj("RootSquashConfiguration")
        for field in PERSISTENT_ONLY_FIELDS:
            if lustre.has(field.key) and not persistent:
                raise bad_request(
                    f"{field} is not supported for {file_system.spec.deployment}; scratch file "
                    "systems have no backups."
                )
        changes = {k: v for k, v in lustre.data.items() if v is not None and k in immediate}
        auto_import = changes.pop("AutoImportPolicy", None)
        targets = update_targets(file_system, lustre)
        if auto_import is not None:
            repository = file_system.lustre.get("DataRepositoryConfiguration")
            if repository is None:
                raise bad_request(
                    "LustreConfiguration.AutoImportPolicy needs a file system created with "
                    "an ImportPath."
                )
            changes["DataRepositoryConfiguration"] = {
                **repository,
                "AutoImportPolicy": auto_import,
            }
        return changes, targets

    def _check_no_update_running(self, file_system: EmulatedFileSystem, storage: bool) -> None:
        running = [
            a
            for a in file_system.administrative_actions
            if a["AdministrativeActionType"] in ("FILE_SYSTEM_UPDATE", "STORAGE_OPTIMIZATION")
            and a["Status"] not in ("COMPLETED", "FAILED")
        ]
        if running:
            # AWS's own words for storage: drivers match on them (the upstream driver does).
            raise bad_request(
                STORAGE_UPDATE_IN_PROGRESS_MESSAGE if storage else UPDATE_IN_PROGRESS_MESSAGE
            )

    def _check_increase_interval(self, file_system: EmulatedFileSystem, what: str) -> None:
        last = file_system.last_increase.get(what)
        if last is None:
            return
        waited = self.scheduler.clock() - last
        if waited < MIN_SECONDS_BETWEEN_INCREASES:
            left = MIN_SECONDS_BETWEEN_INCREASES - waited
            raise bad_request(
                f"{what} of {file_system.file_system_id} was increased {waited:.0f} s ago; "
                f"increases must be at least {MIN_SECONDS_BETWEEN_INCREASES // 3600} hours "
                f"apart: try again in {left:.0f} s."
            )

    def _check_capacity_update(self, file_system: EmulatedFileSystem, capacity: int) -> None:
        spec = file_system.spec
        if not spec.storage_type.has_storage_capacity:
            raise bad_request(
                f"StorageCapacity does not apply to {spec.storage_type} file systems, whose "
                "storage grows with the data."
            )
        if spec.deployment not in GROWABLE_DEPLOYMENT_TYPES:
            raise bad_request(
                f"StorageCapacity cannot be increased for {spec.deployment} file systems; use "
                f"{', '.join(GROWABLE_DEPLOYMENT_TYPES)}."
            )
        current = file_system.storage_capacity
        if capacity <= current:
            raise bad_request(
                f"StorageCapacity {capacity} GiB must be greater than the current storage "
                f"capacity ({current} GiB); storage capacity can only grow."
            )
        rule = capacity_rule(
            spec.deployment, spec.storage_type, spec.per_unit_throughput, spec.efa_enabled
        )
        if not rule.is_valid(capacity):
            raise bad_request(
                f"StorageCapacity {capacity} GiB is not a valid size for {spec.deployment} "
                f"{spec.storage_type}; storage grows in the same increments as at creation: "
                f"{rule.describe()} (next valid above {current} GiB: "
                f"{rule.round_up(current + 1)})."
            )

    def _start_update(
        self, file_system: EmulatedFileSystem, capacity: int | None, targets: dict[str, Any]
    ) -> None:
        """A FILE_SYSTEM_UPDATE action PENDING -> IN_PROGRESS -> (storage: UPDATED_OPTIMIZING,
        with a STORAGE_OPTIMIZATION action that runs until both are) COMPLETED, one
        `update_delay` per phase; the file system is UPDATING until the change is usable."""
        target_values: dict[str, Any] = {}
        if capacity is not None:
            target_values["StorageCapacity"] = capacity
        if targets:
            target_values["LustreConfiguration"] = json.loads(json.dumps(targets))
        action: dict[str, Any] = {
            "AdministrativeActionType": "FILE_SYSTEM_UPDATE",
            "ProgressPercent": 0,
            "RequestTime": self.wall_clock(),
            "Status": "PENDING",
            "TargetFileSystemValues": target_values,
        }
        file_system.administrative_actions.append(action)
        file_system.lifecycle = "UPDATING"
        phases = STORAGE_UPDATE_PHASES if capacity is not None else UPDATE_PHASES
        step = self.config.update_delay
        optimization: dict[str, Any] = {}

        def apply_targets() -> None:
            for key, value in targets.items():
                if isinstance(value, dict):
                    file_system.lustre[key] = {**file_system.lustre.get(key, {}), **value}
                else:
                    file_system.lustre[key] = value
            if "MetadataConfiguration" in targets:
                metadata = file_system.lustre["MetadataConfiguration"]
                if (
                    metadata.get("Mode") == "AUTOMATIC"
                    and "Iops" not in targets["MetadataConfiguration"]
                ):
                    metadata["Iops"] = automatic_metadata_iops(file_system.storage_capacity)
            spec_changes: dict[str, Any] = {}
            if "PerUnitStorageThroughput" in targets:
                spec_changes["per_unit_throughput"] = targets["PerUnitStorageThroughput"]
            if "ThroughputCapacity" in targets:
                spec_changes["throughput_capacity"] = targets["ThroughputCapacity"]
            if spec_changes:
                file_system.spec = replace(file_system.spec, **spec_changes)

        def advance(phase_index: int) -> Callable[[], None]:
            def run() -> None:
                if file_system.lifecycle == "DELETING":
                    return
                status = phases[phase_index]
                action["Status"] = status
                if status == "UPDATED_OPTIMIZING":
                    # The new storage is usable; AWS now rebalances data in the background.
                    assert capacity is not None
                    file_system.storage_capacity = capacity
                    file_system.lifecycle = "AVAILABLE"
                    action["ProgressPercent"] = 50
                    optimization.update(
                        {
                            "AdministrativeActionType": "STORAGE_OPTIMIZATION",
                            "ProgressPercent": 0,
                            "RequestTime": self.wall_clock(),
                            "Status": "IN_PROGRESS",
                        }
                    )
                    file_system.administrative_actions.append(optimization)
                elif status == "COMPLETED":
                    action["ProgressPercent"] = 100
                    apply_targets()
                    if optimization:
                        optimization.update({"Status": "COMPLETED", "ProgressPercent": 100})
                    if capacity is not None:
                        metadata = file_system.lustre.get("MetadataConfiguration")
                        if metadata is not None and metadata.get("Mode") == "AUTOMATIC":
                            metadata["Iops"] = automatic_metadata_iops(capacity)
                        file_system.spec = replace(file_system.spec, storage_capacity=capacity)
                    file_system.lifecycle = "AVAILABLE"

            return run

        for index in range(1, len(phases)):
            self.scheduler.after(
                step * index,
                advance(index),
                f"{file_system.file_system_id} update {phases[index]}",
            )

    # -- Data repository associations --------------------------------------------------------

    @locked
    def create_association(self, params: Mapping[str, Any]) -> Association:
        rules.client_request_token(rules.Fields(params))
        spec = rules.create_association(params)
        file_system = self._file_system(spec.file_system_id)
        fs_spec = file_system.spec
        refusal = association_refusal(
            fs_spec.deployment,
            fs_spec.version,
            "DataRepositoryConfiguration" in file_system.lustre,
            fs_spec.storage_type,
        )
        if refusal is not None:
            problem = Problem(Field.DATA_REPOSITORY_ASSOCIATIONS, refusal)
            raise bad_request(
                f"Data repository associations are not supported on {file_system.file_system_id}"
                f": a data repository association {problem.render(api_name)}."
            )
        if file_system.lifecycle not in ("AVAILABLE", "UPDATING"):
            raise bad_request(
                f"File system '{file_system.file_system_id}' is {file_system.lifecycle}; "
                "associations can be created only when it is AVAILABLE."
            )
        existing = [
            a
            for a in self.associations.values()
            if a.spec.file_system_id == spec.file_system_id and a.lifecycle != "DELETING"
        ]
        if len(existing) >= rules.MAX_ASSOCIATIONS_PER_FILE_SYSTEM:
            raise FSxApiError(
                "ServiceLimitExceeded",
                f"{spec.file_system_id} already has {len(existing)} data repository "
                f"associations, the most a file system can have.",
                Limit="DATA_REPOSITORY_ASSOCIATIONS_PER_FILE_SYSTEM",
            )
        for other in existing:
            if paths_overlap(other.spec.file_system_path, spec.file_system_path):
                raise bad_request(
                    f"FileSystemPath {spec.file_system_path!r} overlaps "
                    f"{other.spec.file_system_path!r} of association {other.association_id}."
                )
        association = Association(self, spec, self._next_sequence())
        self.associations[association.association_id] = association
        self._by_arn[association.resource_arn] = association
        if spec.tags:
            self.tagger.tag_resource(association.resource_arn, spec.tags)

        def available() -> None:
            association.pending_change = None
            if association.lifecycle == "CREATING":
                association.lifecycle = "AVAILABLE"

        association.pending_change = self.scheduler.after(
            self.creation_delay, available, f"{association.association_id} created"
        )
        return association

    @locked
    def describe_associations(
        self,
        association_ids: list[str] | None,
        filters: list[dict[str, Any]] | None,
        max_results: int | None,
        next_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        if association_ids:
            selected = []
            for association_id in association_ids:
                association = self.associations.get(association_id)
                if association is None:
                    raise association_not_found(association_id)
                selected.append(association)
        else:
            selected = list(self.associations.values())
        for index, condition in enumerate(filters or []):
            if not isinstance(condition, dict) or not isinstance(
                condition.get("Values") or [], list
            ):
                raise bad_request(
                    f"Filters[{index}] must be an object with Name and a list of Values, "
                    f"got {condition!r}."
                )
            name, values = condition.get("Name"), condition.get("Values") or []
            if name == "file-system-id":
                selected = [a for a in selected if a.spec.file_system_id in values]
            elif name == "data-repository-type":
                selected = [
                    a
                    for a in selected
                    if ("S3" if a.spec.data_repository_path.startswith("s3://") else "NFS")
                    in values
                ]
            elif name == "file-cache-id":
                selected = []  # no file caches here
            else:
                raise bad_request(
                    f"Filters[{index}].Name must be file-system-id, file-cache-id or "
                    f"data-repository-type, got {name!r}."
                )
        page, token = _page(selected, max_results, next_token, "Associations")
        return [a.to_dict() for a in page], token

    @locked
    def delete_association(self, association_id: str) -> Association:
        association = self.associations.get(association_id)
        if association is None:
            raise association_not_found(association_id)
        self._start_association_deletion(association)
        return association

    def _start_association_deletion(self, association: Association) -> None:
        if association.lifecycle == "DELETING":
            return
        if association.pending_change is not None:
            association.pending_change.cancel()
        association.lifecycle = "DELETING"

        def gone() -> None:
            self._forget(association)

        association.pending_change = self.scheduler.after(
            self.config.deletion_delay, gone, f"{association.association_id} deleted"
        )

    # -- Tags ------------------------------------------------------------------------------

    def _tagged_resource(self, arn: str) -> EmulatedFileSystem | Association:
        if not arn.startswith("arn:aws:fsx:"):
            raise not_service_resource(arn)
        resource = self._by_arn.get(arn)
        if resource is None:
            raise resource_not_found(arn)
        return resource

    @locked
    def tag_fsx_resource(self, arn: str, tags: list[dict[str, str]]) -> None:
        self._tagged_resource(arn)
        current = {tag["Key"] for tag in self.tags_of(arn)}
        total = len(current | {tag["Key"] for tag in tags})
        if total > rules.MAX_TAGS:
            raise bad_request(
                f"Tags: {arn} would have {total} tags; a resource can have at most "
                f"{rules.MAX_TAGS}."
            )
        self.tagger.tag_resource(arn, tags)

    @locked
    def untag_fsx_resource(self, arn: str, keys: list[str]) -> None:
        self._tagged_resource(arn)
        self.tagger.untag_resource_using_names(arn, keys)

    @locked
    def list_fsx_tags(
        self, arn: str, max_results: int | None, next_token: str | None
    ) -> tuple[list[dict[str, str]], str | None]:
        self._tagged_resource(arn)
        tags = self.tags_of(arn)
        start = 0 if next_token is None else _token_position(next_token, "Tags")
        end = len(tags) if max_results is None else start + max_results
        token = _encode_token("Tags", str(end)) if end < len(tags) else None
        return tags[start:end], token

    # -- Emulator control ----------------------------------------------------------------------

    @locked
    def all_file_systems(self) -> list[dict[str, Any]]:
        return [fs.to_dict() for fs in self.file_systems.values()]

    @locked
    def reset(self) -> None:
        """Forget every resource, token, tag and scheduled change; remove emulation dirs."""
        for file_system in list(self.file_systems.values()):
            self._remove_emulation_directory(file_system)
        for arn in list(self._by_arn):
            self.tagger.delete_all_tags_for_resource(arn)
        self._init_state()


def _encode_token(kind: str, position: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode()


def _decode_token(token: str, kind: str) -> str:
    try:
        decoded = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(token) from exc
    prefix, _, position = decoded.partition(":")
    if prefix != kind:
        raise ValueError(token)
    return position


def _token_position(token: str, kind: str) -> int:
    """The position a NextToken of `kind` names; a request error when it is not one."""
    try:
        return int(_decode_token(token, kind))
    except ValueError:
        raise bad_request(f"NextToken {token!r} is not a token this API returned.") from None


def _page(
    items: Iterable[EmulatedFileSystem | Association],
    max_results: int | None,
    next_token: str | None,
    kind: str,
) -> tuple[list[Any], str | None]:
    """One page of `items` (in creation order); the token names the next item's sequence."""
    ordered = list(items)
    if next_token is not None:
        start = _token_position(next_token, kind)
        ordered = [item for item in ordered if item.sequence >= start]
    if max_results is None or len(ordered) <= max_results:
        return ordered, None
    return ordered[:max_results], _encode_token(kind, str(ordered[max_results].sequence))
