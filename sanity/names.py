"""Unique resource names and test ids.

Every name a run gives the driver carries the run id and the pytest-xdist worker id, so
parallel workers (and two runs against one driver) never collide, and a leaked volume can be
traced back to the run that made it. The id generators mirror csi-test's IDGenerator: ids
that the driver should consider well-formed but that name nothing, and ids it may consider
invalid.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import uuid
from typing import Protocol

from fsx_csi_harness.fsx import BACKUP_ID, FILE_SYSTEM_ID, ISSUED_ID_HEX_DIGITS, issued_id_pattern


def new_run_id() -> str:
    """Eight hex digits: short enough for names, unique enough for concurrent runs."""
    return secrets.token_hex(4)


class NameGenerator:
    """`unique("sanity-controller-create")` -> "sanity-controller-create-1a2b3c4d-gw0-7"."""

    def __init__(self, run_id: str, worker_id: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9]+", run_id):
            raise ValueError(f"run id {run_id!r} must be alphanumeric")
        if not re.fullmatch(r"[A-Za-z0-9]+", worker_id):
            raise ValueError(f"worker id {worker_id!r} must be alphanumeric")
        self.run_id = run_id
        self.worker_id = worker_id
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def _suffix(self) -> str:
        with self._lock:
            number = next(self._counter)
        return f"{self.run_id}-{self.worker_id}-{number}"

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{self._suffix()}"

    def unique_with_length(self, prefix: str, length: int) -> str:
        """A unique name of exactly `length` characters (csi-test's UniqueStringWithLength).

        The unique suffix is kept whole; the prefix is cut or padded with "x" to fit.
        """
        suffix = "-" + self._suffix()
        if length <= len(suffix):
            raise ValueError(f"length {length} leaves no room for the unique suffix {suffix!r}")
        room = length - len(suffix)
        head = prefix[:room].ljust(room, "x")
        return head + suffix


class IdGenerator(Protocol):
    """Volume, snapshot and node ids for the negative cases (csi-test's IDGenerator)."""

    def unique_valid_volume_id(self) -> str: ...

    def invalid_volume_id(self) -> str: ...

    def unique_valid_snapshot_id(self) -> str: ...

    def invalid_snapshot_id(self) -> str: ...

    def unique_valid_node_id(self) -> str: ...

    def invalid_node_id(self) -> str: ...


class DefaultIdGenerator:
    """csi-test's DefaultIDGenerator: "fake-vol-id-<10 hex>" and friends."""

    def unique_valid_volume_id(self) -> str:
        return f"fake-vol-id-{uuid.uuid4().hex[:10]}"

    def invalid_volume_id(self) -> str:
        return "fake-vol-id"

    def unique_valid_snapshot_id(self) -> str:
        return f"fake-snap-id-{uuid.uuid4().hex[:10]}"

    def invalid_snapshot_id(self) -> str:
        return "fake-snap-id"

    def unique_valid_node_id(self) -> str:
        return f"fake-node-id-{uuid.uuid4().hex[:10]}"

    def invalid_node_id(self) -> str:
        return "fake-node-id"


# The forms of ids FSx issues today (fsx_csi_harness.fsx): "fs-" or "backup-" and 17 hex digits.
FSX_FILE_SYSTEM_ID = issued_id_pattern(FILE_SYSTEM_ID.prefix)
FSX_BACKUP_ID = issued_id_pattern(BACKUP_ID.prefix)


class FsxIdGenerator(DefaultIdGenerator):
    """Ids in FSx's own forms, so that an FSx driver answers NOT_FOUND rather than rejecting
    the form: file systems are volumes ("fs-" + 17 hex digits), backups are snapshots."""

    def unique_valid_volume_id(self) -> str:
        return (
            FILE_SYSTEM_ID.prefix + secrets.token_hex(ISSUED_ID_HEX_DIGITS)[:ISSUED_ID_HEX_DIGITS]
        )

    def unique_valid_snapshot_id(self) -> str:
        return BACKUP_ID.prefix + secrets.token_hex(ISSUED_ID_HEX_DIGITS)[:ISSUED_ID_HEX_DIGITS]
