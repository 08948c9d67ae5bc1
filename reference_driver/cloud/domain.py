"""The driver's view of FSx: file systems by CSI volume name, waits with deadlines, resizes.

`FsxCloud` is the only code that builds FSx requests or reads FSx responses. Every method
states its contract; failures are `CloudError`s (mapped through cloud/errors.py) or the
`DriverError`s named in each docstring.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from fsx_csi_harness.fsx import (
    CLIENT_REQUEST_TOKEN,
    CLIENT_REQUEST_TOKEN_UNSAFE,
    DEFAULT_DEPLOYMENT_TYPE,
    DEFAULT_STORAGE_TYPE,
    FILE_SYSTEM_ID,
    LUSTRE,
    SCRATCH_1_MOUNT_NAME,
    DeploymentType,
    StorageType,
)
from reference_driver.cloud.api import FsxApi
from reference_driver.cloud.errors import AWS_ERRORS, CloudError, translate
from reference_driver.cloud.model import (
    VOLUME_NAME_TAG,
    DataRepositoryAssociation,
    DataRepositoryAssociationSpec,
    FileSystem,
    FileSystemOptions,
    Lifecycle,
    LustreUpdate,
    StorageUpdate,
    UpdateStatus,
)
from reference_driver.errors import Aborted, DeadlineExceeded, FailedPrecondition, Internal
from reference_driver.waiting import Clock, Deadline, PollSchedule

log = logging.getLogger(__name__)

# One poll: (the result when done, else None; a description of the state seen).
PollStep = Callable[[], tuple[FileSystem | None, str]]

TOKEN_MAX_LENGTH = CLIENT_REQUEST_TOKEN.max_length
_IDEMPOTENCY_PREFIX = "csi-"
_TOKEN_HASH_LENGTH = 16
# The words of fsx.STORAGE_UPDATE_IN_PROGRESS_MESSAGE the driver matches, as upstream does
# (the API has no error code for a second storage update while one runs).
UPDATE_IN_PROGRESS_TEXT = "already in progress"


def _is_throttling(exc: ClientError) -> bool:
    """Whether AWS refused the call for its rate (botocore's own list of throttling codes)."""
    context = RetryContext(attempt_number=1, parsed_response=dict(exc.response))
    return bool(ThrottledRetryableChecker().is_retryable(context))


def client_request_token(volume_name: str, purpose: str = "") -> str:
    """A deterministic idempotency token for `volume_name`: at most 63 ASCII characters.

    A readable prefix of the name plus a hash of the whole name (and `purpose`), so retries of
    the same CreateVolume reuse the token and distinct names never share one.
    """
    digest = hashlib.sha256(f"{purpose}\0{volume_name}".encode()).hexdigest()[:_TOKEN_HASH_LENGTH]
    room = TOKEN_MAX_LENGTH - len(_IDEMPOTENCY_PREFIX) - len(digest) - 1
    readable = CLIENT_REQUEST_TOKEN_UNSAFE.sub("_", volume_name)[:room]
    return f"{_IDEMPOTENCY_PREFIX}{readable}-{digest}"


def is_file_system_id(value: str) -> bool:
    return FILE_SYSTEM_ID.matches(value)


def _tags(raw: Any) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in raw or ()}


def _parse_file_system(raw: Mapping[str, Any]) -> FileSystem:
    lustre = raw.get("LustreConfiguration") or {}
    updates: list[StorageUpdate] = []
    lustre_updates: list[LustreUpdate] = []
    for action in raw.get("AdministrativeActions") or ():
        if action.get("AdministrativeActionType") != "FILE_SYSTEM_UPDATE":
            continue
        values = action.get("TargetFileSystemValues") or {}
        if values.get("LustreConfiguration"):
            lustre_updates.append(
                LustreUpdate(
                    target=dict(values["LustreConfiguration"]),
                    status=UpdateStatus(action.get("Status", "PENDING")),
                    failure_message=(action.get("FailureDetails") or {}).get("Message"),
                )
            )
        target = values.get("StorageCapacity")
        if target is None:
            continue
        updates.append(
            StorageUpdate(
                target_capacity_gib=int(target),
                status=UpdateStatus(action.get("Status", "PENDING")),
                failure_message=(action.get("FailureDetails") or {}).get("Message"),
            )
        )
    throughput = lustre.get("PerUnitStorageThroughput")
    metadata = lustre.get("MetadataConfiguration") or {}
    throughput_capacity = lustre.get("ThroughputCapacity")
    return FileSystem(
        file_system_id=str(raw["FileSystemId"]),
        lifecycle=Lifecycle(raw.get("Lifecycle", "CREATING")),
        capacity_gib=int(raw.get("StorageCapacity", 0)),
        dns_name=str(raw.get("DNSName", "")),
        # Lustre 2.10 scratch file systems created long ago report no MountName; AWS documents
        # "fsx" as their mount name, as the upstream driver assumes too.
        mount_name=str(lustre.get("MountName") or SCRATCH_1_MOUNT_NAME),
        deployment_type=DeploymentType(lustre.get("DeploymentType", DEFAULT_DEPLOYMENT_TYPE)),
        storage_type=StorageType(raw.get("StorageType", DEFAULT_STORAGE_TYPE)),
        per_unit_throughput=int(throughput) if throughput is not None else None,
        efa_enabled=bool(lustre.get("EfaEnabled", False)),
        volume_name=_tags(raw.get("Tags")).get(VOLUME_NAME_TAG),
        failure_message=(raw.get("FailureDetails") or {}).get("Message"),
        storage_updates=tuple(updates),
        file_system_type_version=raw.get("FileSystemTypeVersion"),
        metadata_mode=metadata.get("Mode"),
        metadata_iops=int(metadata["Iops"]) if metadata.get("Iops") is not None else None,
        throughput_capacity=int(throughput_capacity) if throughput_capacity is not None else None,
        lustre_updates=tuple(lustre_updates),
    )


def create_file_system_request(volume_name: str, options: FileSystemOptions) -> dict[str, Any]:
    """The CreateFileSystem keyword arguments for a volume (fields left unset stay out)."""
    request: dict[str, Any] = {
        "ClientRequestToken": client_request_token(volume_name),
        "FileSystemType": LUSTRE,
        "Tags": [{"Key": VOLUME_NAME_TAG, "Value": volume_name}]
        + [{"Key": k, "Value": v} for k, v in options.extra_tags],
        "LustreConfiguration": {},
    }
    if options.capacity_gib is not None:
        request["StorageCapacity"] = options.capacity_gib
    for field, value in options.fields.items():
        *parents, leaf = field.path
        target = request
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return request


class FsxCloud:
    """FSx for Lustre operations the controller needs, over an `FsxApi`."""

    def __init__(
        self,
        api: FsxApi,
        clock: Clock,
        schedule: PollSchedule,
        *,
        probe_api: FsxApi | None = None,
    ) -> None:
        self.api = api
        # Probe needs a quick yes or no, so it may use a client that does not retry.
        self.probe_api = probe_api or api
        self.clock = clock
        self.schedule = schedule

    def _call(self, operation: str, subject: str, method: Any, **kwargs: Any) -> Mapping[str, Any]:
        try:
            result: Mapping[str, Any] = method(**kwargs)
        except AWS_ERRORS as exc:
            raise translate(exc, operation, subject) from exc
        return result

    def create_file_system(self, volume_name: str, options: FileSystemOptions) -> FileSystem:
        """Create the file system for `volume_name` (idempotent through ClientRequestToken).

        The answer is usually CREATING. Raises CloudError with ALREADY_EXISTS when the token
        was used with other parameters (same name, different request).
        """
        request = create_file_system_request(volume_name, options)
        response = self._call(
            "CreateFileSystem", volume_name, self.api.create_file_system, **request
        )
        return _parse_file_system(response["FileSystem"])

    def _paged(
        self, operation: str, subject: str, method: Any, items_key: str, **kwargs: Any
    ) -> Iterator[Mapping[str, Any]]:
        """Every item under `items_key` across the pages of a NextToken-paginated call."""
        token: str | None = None
        while True:
            page_kwargs = {**kwargs, "NextToken": token} if token else kwargs
            page = self._call(operation, subject, method, **page_kwargs)
            yield from page.get(items_key) or ()
            token = page.get("NextToken")
            if not token:
                return

    def _all_file_systems(self) -> Iterator[Mapping[str, Any]]:
        return self._paged(
            "DescribeFileSystems",
            "all file systems",
            self.api.describe_file_systems,
            "FileSystems",
        )

    def find_by_volume_name(self, volume_name: str) -> FileSystem | None:
        """The file system tagged CSIVolumeName=`volume_name`, ignoring ones being deleted.

        Lists every file system in the region (FSx cannot filter by tag). When several match
        (created outside this driver), the oldest answer of the API wins.
        """
        for raw in self._all_file_systems():
            if raw.get("Lifecycle") == Lifecycle.DELETING:
                continue
            if _tags(raw.get("Tags")).get(VOLUME_NAME_TAG) == volume_name:
                return _parse_file_system(raw)
        return None

    def describe(self, file_system_id: str) -> FileSystem:
        """The file system `file_system_id`; CloudError NOT_FOUND when it does not exist."""
        response = self._call(
            "DescribeFileSystems",
            file_system_id,
            self.api.describe_file_systems,
            FileSystemIds=[file_system_id],
        )
        systems = response.get("FileSystems") or []
        if not systems:
            raise CloudError(
                f"FSx DescribeFileSystems returned no file system {file_system_id}",
                code=Internal.code,
                aws_code="FileSystemNotFound",
            )
        return _parse_file_system(systems[0])

    def _poll(self, what: str, deadline: Deadline, step: PollStep) -> FileSystem:
        """Call `step()` until it returns a FileSystem; it returns None to keep waiting.

        Raises DeadlineExceeded naming what it waited for and the last state seen, or Aborted
        when the caller cancelled the RPC.
        """
        next_interval = self.schedule.intervals()
        last_seen = "nothing yet"
        while True:
            done, last_seen = step()
            if done is not None:
                return done
            if deadline.cancelled():
                raise Aborted(f"the caller cancelled while waiting for {what} ({last_seen})")
            remaining = deadline.remaining()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(
                    f"timed out after {deadline.elapsed():.1f}s waiting for {what} "
                    f"(limit: {deadline.reason}); last seen: {last_seen}. The operation goes "
                    "on in FSx: retry the call with the same arguments to resume waiting"
                )
            interval = next_interval()
            if remaining is not None:
                interval = min(interval, remaining)
            self.clock.sleep(interval)

    def wait_until_available(self, file_system_id: str, deadline: Deadline) -> FileSystem:
        """Poll until AVAILABLE. FAILED raises FailedPrecondition with AWS's FailureDetails;
        DELETING or a vanished file system raise too (nothing left to wait for)."""

        def step() -> tuple[FileSystem | None, str]:
            fs = self.describe(file_system_id)
            if fs.lifecycle is Lifecycle.AVAILABLE or fs.lifecycle is Lifecycle.UPDATING:
                return fs, fs.lifecycle.value
            if fs.lifecycle is Lifecycle.FAILED:
                raise FailedPrecondition(
                    f"file system {file_system_id} failed to create: "
                    f"{fs.failure_message or 'AWS gave no FailureDetails'}. Delete it (or the "
                    "PVC) and fix the cause before retrying"
                )
            if fs.lifecycle in (Lifecycle.DELETING, Lifecycle.MISCONFIGURED_UNAVAILABLE):
                raise FailedPrecondition(
                    f"file system {file_system_id} is {fs.lifecycle.value}, not becoming AVAILABLE"
                )
            return None, f"Lifecycle={fs.lifecycle.value}"

        return self._poll(f"file system {file_system_id} to become AVAILABLE", deadline, step)

    def wait_until_settled(self, file_system_id: str, deadline: Deadline) -> FileSystem:
        """Poll until the file system is neither CREATING nor UPDATING (FSx deletes only
        settled file systems)."""

        def step() -> tuple[FileSystem | None, str]:
            fs = self.describe(file_system_id)
            if fs.lifecycle in (Lifecycle.CREATING, Lifecycle.UPDATING):
                return None, f"Lifecycle={fs.lifecycle.value}"
            return fs, fs.lifecycle.value

        return self._poll(
            f"file system {file_system_id} to leave CREATING/UPDATING", deadline, step
        )

    def delete(self, file_system_id: str) -> None:
        """Start deleting. CloudError NOT_FOUND when it is already gone."""
        self._call(
            "DeleteFileSystem",
            file_system_id,
            self.api.delete_file_system,
            FileSystemId=file_system_id,
            ClientRequestToken=client_request_token(file_system_id, "delete"),
        )

    def resize(self, file_system: FileSystem, new_capacity_gib: int) -> None:
        """Ask for `new_capacity_gib`. An update to the same size already running is fine;
        one to another size raises Aborted (retry once it finishes)."""
        fs_id = file_system.file_system_id
        try:
            self._call(
                "UpdateFileSystem",
                fs_id,
                self.api.update_file_system,
                FileSystemId=fs_id,
                StorageCapacity=new_capacity_gib,
                ClientRequestToken=client_request_token(fs_id, f"resize-{new_capacity_gib}"),
            )
        except CloudError as exc:
            if exc.aws_code != "BadRequest" or UPDATE_IN_PROGRESS_TEXT not in exc.message.lower():
                raise
            current = self.describe(fs_id)
            if any(u.target_capacity_gib == new_capacity_gib for u in current.storage_updates):
                return
            running = ", ".join(
                f"{u.target_capacity_gib} GiB ({u.status.value})" for u in current.storage_updates
            )
            raise Aborted(
                f"file system {fs_id} is already being resized (to {running or 'unknown'}); "
                f"retry the expansion to {new_capacity_gib} GiB after it finishes"
            ) from exc

    def wait_for_update(
        self, file_system_id: str, target_capacity_gib: int, deadline: Deadline
    ) -> FileSystem:
        """Poll until the storage update to `target_capacity_gib` is UPDATED_OPTIMIZING or
        COMPLETED (the new size is usable). A FAILED update raises FailedPrecondition."""

        def step() -> tuple[FileSystem | None, str]:
            fs = self.describe(file_system_id)
            matching = [
                u for u in fs.storage_updates if u.target_capacity_gib == target_capacity_gib
            ]
            if not matching:
                if fs.capacity_gib >= target_capacity_gib:
                    return fs, f"StorageCapacity={fs.capacity_gib}"
                return None, f"no update to {target_capacity_gib} GiB listed yet"
            update = matching[0]
            if update.status.usable:
                return fs, update.status.value
            if update.status is UpdateStatus.FAILED:
                raise FailedPrecondition(
                    f"resizing file system {file_system_id} to {target_capacity_gib} GiB "
                    f"failed: {update.failure_message or 'AWS gave no FailureDetails'}"
                )
            return None, f"update to {target_capacity_gib} GiB is {update.status.value}"

        return self._poll(
            f"file system {file_system_id} to grow to {target_capacity_gib} GiB", deadline, step
        )

    def modify(self, file_system: FileSystem, lustre_changes: Mapping[str, Any]) -> None:
        """Ask FSx to change `lustre_changes` (UpdateFileSystem LustreConfiguration) online.
        An update with the same targets already running is fine; any other running update
        raises Aborted (retry once it finishes)."""
        fs_id = file_system.file_system_id
        digest = hashlib.sha256(repr(sorted(lustre_changes.items())).encode()).hexdigest()[:12]
        try:
            self._call(
                "UpdateFileSystem",
                fs_id,
                self.api.update_file_system,
                FileSystemId=fs_id,
                LustreConfiguration=dict(lustre_changes),
                ClientRequestToken=client_request_token(fs_id, f"modify-{digest}"),
            )
        except CloudError as exc:
            if exc.aws_code != "BadRequest" or UPDATE_IN_PROGRESS_TEXT not in exc.message.lower():
                raise
            current = self.describe(fs_id)
            if any(dict(u.target) == dict(lustre_changes) for u in current.lustre_updates):
                return
            raise Aborted(
                f"file system {fs_id} has another update in progress; retry the modification "
                "after it finishes"
            ) from exc

    def wait_for_modification(
        self, file_system_id: str, done: Callable[[FileSystem], bool], what: str, deadline: Deadline
    ) -> FileSystem:
        """Poll until `done(file_system)` and the file system is AVAILABLE again; a FAILED
        LustreConfiguration update raises FailedPrecondition with AWS's FailureDetails."""

        def step() -> tuple[FileSystem | None, str]:
            fs = self.describe(file_system_id)
            failed = [u for u in fs.lustre_updates if u.status is UpdateStatus.FAILED]
            if failed and not done(fs):
                raise FailedPrecondition(
                    f"changing {what} on file system {file_system_id} failed: "
                    f"{failed[-1].failure_message or 'AWS gave no FailureDetails'}"
                )
            if done(fs) and fs.lifecycle is Lifecycle.AVAILABLE:
                return fs, fs.lifecycle.value
            return None, f"Lifecycle={fs.lifecycle.value}"

        return self._poll(f"file system {file_system_id} to apply {what}", deadline, step)

    def data_repository_associations(self, file_system_id: str) -> list[DataRepositoryAssociation]:
        pages = self._paged(
            "DescribeDataRepositoryAssociations",
            file_system_id,
            self.api.describe_data_repository_associations,
            "Associations",
            Filters=[{"Name": "file-system-id", "Values": [file_system_id]}],
        )
        return [
            DataRepositoryAssociation(
                association_id=str(raw.get("AssociationId", "")),
                file_system_path=str(raw.get("FileSystemPath", "")),
                data_repository_path=str(raw.get("DataRepositoryPath", "")),
                lifecycle=str(raw.get("Lifecycle", "CREATING")),
                failure_message=(raw.get("FailureDetails") or {}).get("Message"),
            )
            for raw in pages
        ]

    def ensure_data_repository_associations(
        self,
        file_system_id: str,
        volume_name: str,
        specs: tuple[DataRepositoryAssociationSpec, ...],
        deadline: Deadline,
    ) -> None:
        """Create the associations that are missing, then wait until all are AVAILABLE.

        Idempotent: existing associations are matched by file system path, and each creation
        carries a token derived from the volume name and path.
        """
        if not specs:
            return
        existing = {
            a.file_system_path: a for a in self.data_repository_associations(file_system_id)
        }
        for spec in specs:
            if spec.file_system_path in existing:
                continue
            request: dict[str, Any] = {
                "FileSystemId": file_system_id,
                "FileSystemPath": spec.file_system_path,
                "DataRepositoryPath": spec.data_repository_path,
                "BatchImportMetaDataOnCreate": spec.batch_import_metadata_on_create,
                "ClientRequestToken": client_request_token(
                    volume_name, f"dra:{spec.file_system_path}"
                ),
                "Tags": [{"Key": VOLUME_NAME_TAG, "Value": volume_name}],
            }
            if spec.imported_file_chunk_size_mib is not None:
                request["ImportedFileChunkSize"] = spec.imported_file_chunk_size_mib
            s3: dict[str, Any] = {}
            if spec.auto_import_events:
                s3["AutoImportPolicy"] = {"Events": list(spec.auto_import_events)}
            if spec.auto_export_events:
                s3["AutoExportPolicy"] = {"Events": list(spec.auto_export_events)}
            if s3:
                request["S3"] = s3
            self._call(
                "CreateDataRepositoryAssociation",
                f"{file_system_id}:{spec.file_system_path}",
                self.api.create_data_repository_association,
                **request,
            )

        wanted = {spec.file_system_path for spec in specs}

        def step() -> tuple[FileSystem | None, str]:
            associations = [
                a
                for a in self.data_repository_associations(file_system_id)
                if a.file_system_path in wanted
            ]
            for association in associations:
                if association.lifecycle == "FAILED":
                    raise FailedPrecondition(
                        f"data repository association {association.association_id} "
                        f"({association.file_system_path} -> {association.data_repository_path}) "
                        f"of {file_system_id} failed: "
                        f"{association.failure_message or 'AWS gave no FailureDetails'}"
                    )
            states = ", ".join(f"{a.file_system_path}={a.lifecycle}" for a in associations)
            if len(associations) == len(wanted) and all(
                a.lifecycle == "AVAILABLE" for a in associations
            ):
                return self.describe(file_system_id), states
            return None, states or "no associations listed yet"

        self._poll(f"data repository associations of {file_system_id}", deadline, step)

    def check_reachable(self) -> str | None:
        """None when the FSx API answers, else why not (for Probe).

        Throttling is an answer too: the API is reachable and the credentials work, it is only
        busy (a not-ready Probe would have the livenessprobe restart a healthy controller).
        """
        try:
            self.probe_api.describe_file_systems(MaxResults=1)
        except ClientError as exc:
            if _is_throttling(exc):
                return None
            return translate(exc, "DescribeFileSystems", "Probe").message
        except AWS_ERRORS as exc:
            return translate(exc, "DescribeFileSystems", "Probe").message
        return None
