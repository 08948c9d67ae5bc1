"""A readers-writer lock across pytest-xdist workers, so parallel runs keep serial verdicts.

A few csi-sanity cases count what the whole driver holds ("ListVolumes shows one volume more
after CreateVolume"); a volume created at the same moment by another worker would break the
count. Those cases take the lock exclusively, every other case takes it shared, so an
exclusive case runs while no other case runs, in any worker. A writer first takes the
turnstile, which stops new readers from entering, so it cannot starve behind them.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunLock:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._turnstile = directory / "turnstile.lock"
        self._main = directory / "cases.lock"

    @contextmanager
    def _flock(self, path: Path, mode: int) -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._flock(self._turnstile, fcntl.LOCK_EX):
            pass  # wait while a writer is queued or running
        with self._flock(self._main, fcntl.LOCK_SH):
            yield

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._flock(self._turnstile, fcntl.LOCK_EX), self._flock(self._main, fcntl.LOCK_EX):
            yield
