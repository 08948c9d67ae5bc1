"""Test doubles of the driver's two effects: an in-memory FSx API and a recording mounter.

`FakeFsxApi` keeps state and enforces what AWS enforces for the driver's calls, with the rules
of `fsx_csi_harness.fsx` (the same ones the emulator applies): ClientRequestToken idempotency
(same token and request: same file system; same token, other request:
IncompatibleParameterError), request validation, the lifecycle (CREATING -> AVAILABLE after
`creation_delay`, UPDATING with an administrative action during growth, DELETING then gone),
valid capacities, one storage update at a time, and FileSystemNotFound. Faults are injected
per operation. It raises botocore's ClientError exactly as a boto3 client does, so the domain
layer and the error table are exercised unchanged. Tests that need the wire format use the
FSx emulator instead.

`RecordingMounter` behaves like a mounter whose kernel always agrees, and records its calls.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from fsx_csi_harness.fsx import (
    GROWABLE_DEPLOYMENT_TYPES,
    ISSUED_ID_HEX_DIGITS,
    MOUNT_NAME_LENGTH,
    SCRATCH_1_MOUNT_NAME,
    STORAGE_UPDATE_IN_PROGRESS_MESSAGE,
    DeploymentType,
    Field,
    LustreSettings,
    Problem,
    api_name,
    association_refusal,
    configuration_problem,
    dns_name,
    metadata_iops_change_problem,
    request_values,
    throughput_change_problem,
    value_problem,
)
from reference_driver.mounter.base import (
    LustreSource,
    MountedFileSystem,
    MountError,
    check_mount_flags,
)
from reference_driver.waiting import Clock, SystemClock


@dataclass
class Fault:
    """Fail calls of one operation with `code` (HTTP `http_status`) `remaining` more times;
    `every` > 1 fails only every n-th call."""

    code: str
    http_status: int = 400
    message: str = "injected fault"
    remaining: int | None = 1
    every: int = 1
    calls_seen: int = 0


def _error(operation: str, code: str, message: str, http_status: int = 400) -> ClientError:
    # The shape botocore parses from an error response (only the fields it always fills).
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": http_status},
    }
    return ClientError(response, operation)


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(ISSUED_ID_HEX_DIGITS)[:ISSUED_ID_HEX_DIGITS]


def _create_problem(request: Mapping[str, Any]) -> str | None:
    """What the FSx rules refuse in a CreateFileSystem request, named as the API names it."""
    values = request_values(request)
    for field, value in values.items():
        problem = value_problem(field, value)
        if problem is not None:
            return f"{api_name(field)} {value!r} is not valid: {problem}"
    settings = LustreSettings.from_fields(values)
    problem_found = configuration_problem(settings)
    if problem_found is not None:
        return problem_found.render(api_name)
    if not settings.storage.has_storage_capacity:
        return None
    rule = settings.capacity_rule
    capacity = int(request["StorageCapacity"])
    if not rule.is_valid(capacity):
        return f"Invalid storage capacity {capacity} GiB: use {rule.describe()}"
    return None


@dataclass
class _FakeFileSystem:
    record: dict[str, Any]
    created_at: float
    fail_with: str | None = None
    deleting_since: float | None = None
    update_started: float | None = None


class FakeFsxApi:
    """The FSx operations of `FsxApi`, in memory. Thread-safe."""

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        creation_delay: float = 0.0,
        update_delay: float = 0.0,
        deletion_delay: float = 0.0,
        clock: Clock | None = None,
    ) -> None:
        self.region = region
        self.creation_delay = creation_delay
        self.update_delay = update_delay
        self.deletion_delay = deletion_delay
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._file_systems: dict[str, _FakeFileSystem] = {}
        self._tokens: dict[str, tuple[str, str]] = {}
        self._associations: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._fail_next_creation: str | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []

    # Test controls -------------------------------------------------------------------------

    def inject_fault(self, operation: str, fault: Fault) -> None:
        with self._lock:
            self._faults.setdefault(operation, []).append(fault)

    def fail_next_creation(self, message: str) -> None:
        """The next file system created goes CREATING -> FAILED with this FailureDetails."""
        with self._lock:
            self._fail_next_creation = message

    def file_system_ids(self) -> list[str]:
        with self._lock:
            self._advance()
            return sorted(self._file_systems)

    def calls_of(self, operation: str) -> list[dict[str, Any]]:
        with self._lock:
            return [kwargs for op, kwargs in self.calls if op == operation]

    # Internals -----------------------------------------------------------------------------

    def _enter(self, operation: str, kwargs: Mapping[str, Any]) -> None:
        self.calls.append((operation, dict(kwargs)))
        for fault in self._faults.get(operation, []):
            if fault.remaining == 0:
                continue
            fault.calls_seen += 1
            if fault.calls_seen % fault.every:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
            raise _error(operation, fault.code, fault.message, fault.http_status)

    def _advance(self) -> None:
        now = self.clock.monotonic()
        for fs_id, fs in list(self._file_systems.items()):
            record = fs.record
            if fs.deleting_since is not None:
                if now - fs.deleting_since >= self.deletion_delay:
                    del self._file_systems[fs_id]
                    for key in [
                        k for k, a in self._associations.items() if a["FileSystemId"] == fs_id
                    ]:
                        del self._associations[key]
                continue
            if record["Lifecycle"] == "CREATING" and now - fs.created_at >= self.creation_delay:
                if fs.fail_with is not None:
                    record["Lifecycle"] = "FAILED"
                    record["FailureDetails"] = {"Message": fs.fail_with}
                else:
                    record["Lifecycle"] = "AVAILABLE"
            if fs.update_started is not None and now - fs.update_started >= self.update_delay:
                for action in record.get("AdministrativeActions", []):
                    if action["Status"] in ("PENDING", "IN_PROGRESS"):
                        action["Status"] = "UPDATED_OPTIMIZING"
                        record["StorageCapacity"] = action["TargetFileSystemValues"][
                            "StorageCapacity"
                        ]
                record["Lifecycle"] = "AVAILABLE"
                fs.update_started = None
        for association in self._associations.values():
            if association["Lifecycle"] == "CREATING":
                association["Lifecycle"] = "AVAILABLE"

    def _get(self, operation: str, fs_id: str) -> _FakeFileSystem:
        fs = self._file_systems.get(fs_id)
        if fs is None:
            raise _error(operation, "FileSystemNotFound", f"File system '{fs_id}' does not exist.")
        return fs

    # FsxApi --------------------------------------------------------------------------------

    def create_file_system(self, **kwargs: Any) -> Mapping[str, Any]:
        with self._lock:
            self._enter("CreateFileSystem", kwargs)
            self._advance()
            token = kwargs.get("ClientRequestToken")
            fingerprint = json.dumps(
                {k: v for k, v in kwargs.items() if k != "ClientRequestToken"}, sort_keys=True
            )
            if token and token in self._tokens:
                seen_fingerprint, fs_id = self._tokens[token]
                if seen_fingerprint != fingerprint:
                    raise _error(
                        "CreateFileSystem",
                        "IncompatibleParameterError",
                        "The request uses the same client request token as a previous, but "
                        "non-identical request.",
                    )
                if fs_id in self._file_systems:
                    return {"FileSystem": copy.deepcopy(self._file_systems[fs_id].record)}
            problem = _create_problem(kwargs)
            if problem is not None:
                raise _error("CreateFileSystem", "BadRequest", problem)
            lustre = dict(kwargs.get("LustreConfiguration") or {})
            settings = LustreSettings.from_fields(request_values(kwargs))
            deployment, storage = settings.deployment, settings.storage
            capacity = kwargs.get("StorageCapacity")
            fs_id = _new_id("fs-")
            mount_name = (
                SCRATCH_1_MOUNT_NAME
                if deployment is DeploymentType.SCRATCH_1
                else "".join(
                    secrets.choice(string.ascii_lowercase) for _ in range(MOUNT_NAME_LENGTH)
                )
            )
            lustre["MountName"] = mount_name
            lustre.setdefault("DeploymentType", deployment.value)
            record: dict[str, Any] = {
                "FileSystemId": fs_id,
                "FileSystemType": "LUSTRE",
                "Lifecycle": "CREATING",
                "StorageType": storage.value,
                "FileSystemTypeVersion": settings.version,
                "DNSName": dns_name(fs_id, self.region),
                "SubnetIds": list(kwargs.get("SubnetIds", [])),
                "Tags": list(kwargs.get("Tags", [])),
                "LustreConfiguration": lustre,
            }
            if capacity is not None:
                record["StorageCapacity"] = int(capacity)
            self._file_systems[fs_id] = _FakeFileSystem(
                record, self.clock.monotonic(), fail_with=self._fail_next_creation
            )
            self._fail_next_creation = None
            if token:
                self._tokens[token] = (fingerprint, fs_id)
            return {"FileSystem": copy.deepcopy(record)}

    def describe_file_systems(self, **kwargs: Any) -> Mapping[str, Any]:
        with self._lock:
            self._enter("DescribeFileSystems", kwargs)
            self._advance()
            ids = kwargs.get("FileSystemIds")
            if ids:
                records = [self._get("DescribeFileSystems", i).record for i in ids]
                return {"FileSystems": copy.deepcopy(records)}
            ordered = [self._file_systems[i].record for i in sorted(self._file_systems)]
            page_size = int(kwargs.get("MaxResults", 2))
            start = int(kwargs.get("NextToken") or 0)
            page: dict[str, Any] = {
                "FileSystems": copy.deepcopy(ordered[start : start + page_size])
            }
            if start + page_size < len(ordered):
                page["NextToken"] = str(start + page_size)
            return page

    def delete_file_system(self, **kwargs: Any) -> Mapping[str, Any]:
        with self._lock:
            self._enter("DeleteFileSystem", kwargs)
            self._advance()
            fs_id = str(kwargs["FileSystemId"])
            fs = self._get("DeleteFileSystem", fs_id)
            if fs.record["Lifecycle"] == "CREATING":
                raise _error(
                    "DeleteFileSystem",
                    "BadRequest",
                    f"Unable to delete file system {fs_id} while it is CREATING.",
                )
            if fs.deleting_since is None:
                fs.deleting_since = self.clock.monotonic()
                fs.record["Lifecycle"] = "DELETING"
            self._advance()
            return {"FileSystemId": fs_id, "Lifecycle": "DELETING"}

    def update_file_system(self, **kwargs: Any) -> Mapping[str, Any]:
        with self._lock:
            self._enter("UpdateFileSystem", kwargs)
            self._advance()
            fs_id = str(kwargs["FileSystemId"])
            fs = self._get("UpdateFileSystem", fs_id)
            record = fs.record
            if "StorageCapacity" not in kwargs:
                return self._update_lustre(fs, kwargs.get("LustreConfiguration") or {})
            target = int(kwargs["StorageCapacity"])
            if fs.update_started is not None:
                raise _error("UpdateFileSystem", "BadRequest", STORAGE_UPDATE_IN_PROGRESS_MESSAGE)
            if record["Lifecycle"] != "AVAILABLE":
                raise _error(
                    "UpdateFileSystem", "BadRequest", f"File system is {record['Lifecycle']}."
                )
            settings = LustreSettings.from_fields(request_values(record))
            if settings.deployment not in GROWABLE_DEPLOYMENT_TYPES:
                raise _error(
                    "UpdateFileSystem",
                    "BadRequest",
                    f"StorageCapacity cannot be increased for {settings.deployment} file systems.",
                )
            rule = settings.capacity_rule
            if target <= record["StorageCapacity"] or not rule.is_valid(target):
                raise _error(
                    "UpdateFileSystem",
                    "BadRequest",
                    f"Invalid storage capacity {target} GiB: grow in {rule.describe()}",
                )
            record["Lifecycle"] = "UPDATING"
            record.setdefault("AdministrativeActions", []).insert(
                0,
                {
                    "AdministrativeActionType": "FILE_SYSTEM_UPDATE",
                    "Status": "IN_PROGRESS",
                    "TargetFileSystemValues": {"StorageCapacity": target},
                },
            )
            fs.update_started = self.clock.monotonic()
            self._advance()
            return {"FileSystem": copy.deepcopy(record)}

    def _update_lustre(self, fs: _FakeFileSystem, changes: Mapping[str, Any]) -> Mapping[str, Any]:
        """Online LustreConfiguration changes, checked with the shared rules and applied at
        once (the emulator runs them through an administrative action)."""
        record = fs.record
        if fs.update_started is not None:
            raise _error("UpdateFileSystem", "BadRequest", STORAGE_UPDATE_IN_PROGRESS_MESSAGE)
        lustre = record["LustreConfiguration"]
        settings = LustreSettings.from_fields(request_values(record))
        problem = None
        if "PerUnitStorageThroughput" in changes:
            problem = throughput_change_problem(settings, int(changes["PerUnitStorageThroughput"]))
        metadata = changes.get("MetadataConfiguration")
        if problem is None and metadata is not None:
            current = (lustre.get("MetadataConfiguration") or {}).get("Iops")
            problem = metadata_iops_change_problem(settings, int(metadata["Iops"]), current)
        if problem is not None:
            raise _error("UpdateFileSystem", "BadRequest", problem.render(api_name))
        lustre.update(copy.deepcopy(dict(changes)))
        return {"FileSystem": copy.deepcopy(record)}

    def create_data_repository_association(self, **kwargs: Any) -> Mapping[str, Any]:
        with self._lock:
            self._enter("CreateDataRepositoryAssociation", kwargs)
            self._advance()
            fs_id = str(kwargs["FileSystemId"])
            fs = self._get("CreateDataRepositoryAssociation", fs_id)
            settings = LustreSettings.from_fields(request_values(fs.record))
            refusal = association_refusal(
                settings.deployment,
                settings.version,
                settings.import_path is not None,
                settings.storage,
            )
            if refusal is not None:
                raise _error(
                    "CreateDataRepositoryAssociation",
                    "BadRequest",
                    f"{fs_id}: a data repository association "
                    + Problem(Field.DATA_REPOSITORY_ASSOCIATIONS, refusal).render(api_name),
                )
            association_id = _new_id("dra-")
            association = {
                "AssociationId": association_id,
                "FileSystemId": fs_id,
                "FileSystemPath": kwargs["FileSystemPath"],
                "DataRepositoryPath": kwargs["DataRepositoryPath"],
                "Lifecycle": "CREATING",
            }
            self._associations[association_id] = association
            return {"Association": copy.deepcopy(association)}

    def describe_data_repository_associations(self, **kwargs: Any) -> Mapping[str, Any]:
        with self._lock:
            self._enter("DescribeDataRepositoryAssociations", kwargs)
            self._advance()
            wanted: set[str] = set()
            for filter_ in kwargs.get("Filters", []):
                if filter_["Name"] == "file-system-id":
                    wanted.update(filter_["Values"])
            found = [
                copy.deepcopy(a)
                for a in self._associations.values()
                if not wanted or a["FileSystemId"] in wanted
            ]
            return {"Associations": found}


@dataclass(frozen=True)
class RecordedMount:
    source: LustreSource
    target: Path
    flags: tuple[str, ...]


class RecordingMounter:
    """Behaves like a mounter whose kernel always agrees; `fail_next` makes one call fail."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.mounts: dict[Path, RecordedMount] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_next: str | None = None
        self.foreign: dict[Path, str] = {}

    def mount(self, source: LustreSource, target: Path, flags: Sequence[str]) -> None:
        checked = check_mount_flags(flags)
        with self._lock:
            self.calls.append(("mount", f"{source} {target} {','.join(checked)}"))
            if self.fail_next is not None:
                message, self.fail_next = self.fail_next, None
                raise MountError(f"mounting {source} on {target} failed: {message}")
            if not target.is_dir():
                raise MountError(f"mount point {target} does not exist")
            self.mounts[target] = RecordedMount(source, target, checked)

    def unmount(self, target: Path) -> None:
        with self._lock:
            self.calls.append(("unmount", str(target)))
            if self.mounts.pop(target, None) is None and self.foreign.pop(target, None) is None:
                raise MountError(f"umount: {target}: not mounted")

    def mounted_at(self, target: Path) -> MountedFileSystem | None:
        with self._lock:
            if target in self.foreign:
                return MountedFileSystem(self.foreign[target], False, None, None, False)
            recorded = self.mounts.get(target)
            if recorded is None:
                return None
            return MountedFileSystem(
                description=f"lustre {recorded.source}",
                is_lustre=True,
                mount_name=recorded.source.mount_name,
                file_system_id=recorded.source.file_system_id,
                read_only="ro" in recorded.flags,
            )

    def targets_of(self, source: LustreSource) -> list[Path]:
        with self._lock:
            return [target for target, mount in self.mounts.items() if mount.source == source]
