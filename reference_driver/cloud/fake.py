"""An in-memory FSx API for unit tests, with the rules the driver depends on.

It keeps state and enforces what AWS enforces for the driver's calls: ClientRequestToken
idempotency (same token and request: same file system; same token, other request:
IncompatibleParameterError), the lifecycle (CREATING -> AVAILABLE after `creation_delay`,
UPDATING with an administrative action during growth, DELETING then gone), valid capacities,
one storage update at a time, and FileSystemNotFound. Faults are injected per operation.
It raises botocore's ClientError exactly as a boto3 client does, so the domain layer and the
error table are exercised unchanged.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from fsx_csi_harness.fsx import DeploymentType, StorageType, capacity_rule
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
            lustre = dict(kwargs.get("LustreConfiguration") or {})
            deployment = DeploymentType(lustre.get("DeploymentType", "SCRATCH_1"))
            storage = StorageType(kwargs.get("StorageType", "SSD"))
            capacity = int(kwargs["StorageCapacity"])
            try:
                rule = capacity_rule(
                    deployment,
                    storage,
                    lustre.get("PerUnitStorageThroughput"),
                    bool(lustre.get("EfaEnabled")),
                )
            except ValueError as exc:
                raise _error("CreateFileSystem", "BadRequest", str(exc)) from None
            if not rule.is_valid(capacity):
                raise _error(
                    "CreateFileSystem",
                    "BadRequest",
                    f"Invalid storage capacity {capacity} GiB: use {rule.describe()}",
                )
            fs_id = "fs-" + secrets.token_hex(9)[:17]
            mount_name = "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))
            lustre["MountName"] = mount_name
            lustre.setdefault("DeploymentType", deployment.value)
            record = {
                "FileSystemId": fs_id,
                "FileSystemType": "LUSTRE",
                "Lifecycle": "CREATING",
                "StorageCapacity": capacity,
                "StorageType": storage.value,
                "DNSName": f"{fs_id}.fsx.{self.region}.amazonaws.com",
                "SubnetIds": list(kwargs.get("SubnetIds", [])),
                "Tags": list(kwargs.get("Tags", [])),
                "LustreConfiguration": lustre,
            }
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
            target = int(kwargs["StorageCapacity"])
            if fs.update_started is not None:
                raise _error(
                    "UpdateFileSystem",
                    "BadRequest",
                    "Unable to perform the storage capacity update. There is an update "
                    "already in progress.",
                )
            if record["Lifecycle"] != "AVAILABLE":
                raise _error(
                    "UpdateFileSystem", "BadRequest", f"File system is {record['Lifecycle']}."
                )
            lustre = record["LustreConfiguration"]
            rule = capacity_rule(
                DeploymentType(lustre["DeploymentType"]),
                StorageType(record["StorageType"]),
                lustre.get("PerUnitStorageThroughput"),
                bool(lustre.get("EfaEnabled")),
            )
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

    def create_data_repository_association(self, **kwargs: Any) -> Mapping[str, Any]:
        with self._lock:
            self._enter("CreateDataRepositoryAssociation", kwargs)
            self._advance()
            fs_id = str(kwargs["FileSystemId"])
            fs = self._get("CreateDataRepositoryAssociation", fs_id)
            if fs.record["LustreConfiguration"].get("DeploymentType") != "PERSISTENT_2":
                raise _error(
                    "CreateDataRepositoryAssociation",
                    "BadRequest",
                    "Data repository associations need a PERSISTENT_2 file system.",
                )
            association_id = "dra-" + secrets.token_hex(9)[:17]
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
