"""A readers-writer lock across pytest-xdist workers, so parallel runs keep serial verdicts.

A few csi-sanity cases count what the whole driver holds ("ListVolumes shows one volume more
after CreateVolume"); a volume created or deleted at the same moment by another worker would
break the count. Those cases hold the lock exclusively, from their first RPC until their
cleanup is done. Every other case holds it shared only around each RPC that can change those
counts (create, delete, publish, stage, expand, ...); read-only RPCs and cases that are
skipped never touch it. So a counting case waits only for the count-changing RPCs in flight,
and while it runs the other workers go on with everything that does not change the counts.
A writer first takes the turnstile, which stops new readers from entering, so it cannot
starve behind them.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

# RPCs that cannot change what the driver holds; every other RPC (including ones this list
# does not know) is treated as count-changing and takes the lock shared.
READ_ONLY_RPCS = frozenset(
    {
        "GetPluginInfo",
        "GetPluginCapabilities",
        "Probe",
        "ControllerGetCapabilities",
        "ControllerGetVolume",
        "ValidateVolumeCapabilities",
        "ListVolumes",
        "GetCapacity",
        "ListSnapshots",
        "GetSnapshot",
        "NodeGetCapabilities",
        "NodeGetInfo",
        "NodeGetVolumeStats",
        "GroupControllerGetCapabilities",
        "GetVolumeGroupSnapshot",
    }
)


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

    def try_exclusive(self) -> ExitStack | None:
        """The exclusive lock if nobody holds or awaits any part of it right now, else None.

        Closing the returned stack releases it.
        """
        stack = ExitStack()
        try:
            stack.enter_context(self._flock(self._turnstile, fcntl.LOCK_EX | fcntl.LOCK_NB))
            stack.enter_context(self._flock(self._main, fcntl.LOCK_EX | fcntl.LOCK_NB))
        except BlockingIOError:
            stack.close()
            return None
        return stack


class CaseLock:
    """This process's use of the RunLock (one per pytest process; its cases run one by one).

    A counting case takes the lock exclusively before its capability gates when that needs
    no waiting (`try_exclusive_now`); otherwise the plugin arms it while the case's body runs
    (`armed`) and the first RPC after that waits for it, so that a case skipped by its gates
    never stops the other workers. Once taken it stays held through the case's cleanup until
    the plugin releases it, or hands it on to the next case when that one counts too, so that
    consecutive counting cases in one worker wait for the other workers only once.
    """

    def __init__(self, run_lock: RunLock) -> None:
        self._run_lock = run_lock
        self._mutex = threading.Lock()
        self._exclusive: ExitStack | None = None
        self.armed = False

    @property
    def holds_exclusive(self) -> bool:
        with self._mutex:
            return self._exclusive is not None

    def _take_exclusive(self) -> None:
        # Under the mutex: the threads of a concurrent-retry case wait here for the one
        # that is taking the lock instead of taking it shared themselves (which would
        # deadlock behind their own case's turnstile).
        with self._mutex:
            if self._exclusive is None:
                stack = ExitStack()
                stack.enter_context(self._run_lock.exclusive())
                self._exclusive = stack

    def try_exclusive_now(self) -> bool:
        """Take the exclusive lock if that needs no waiting (nothing changing in any worker).

        A counting case tries this before its capability gates: at the start of a run it
        wins before the other workers begin changing things, and holding it a moment longer
        costs nobody anything; when it is contended, the case waits only at its first RPC.
        """
        with self._mutex:
            if self._exclusive is None:
                self._exclusive = self._run_lock.try_exclusive()
            return self._exclusive is not None

    def release_exclusive(self) -> None:
        with self._mutex:
            stack, self._exclusive = self._exclusive, None
        if stack is not None:
            stack.close()

    @contextmanager
    def around_rpc(self, rpc: str) -> Iterator[None]:
        """Hold what one RPC needs: nothing, the shared lock, or the exclusive one."""
        if self.armed:
            self._take_exclusive()
        if rpc in READ_ONLY_RPCS or self.holds_exclusive:
            yield
            return
        with self._run_lock.shared():
            yield
