"""The in-flight guard: at most one operation per key (volume name or id) at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from reference_driver.errors import Aborted


class InFlight:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[str] = set()

    @contextmanager
    def hold(self, key: str, operation: str) -> Iterator[None]:
        """Hold `key` for the block; raise Aborted if another call holds it already.

        CSI callers (external-provisioner, kubelet) retry ABORTED with backoff, which is the
        answer the spec asks for when "an operation is pending for the volume".
        """
        with self._lock:
            if key in self._keys:
                raise Aborted(
                    f"{operation} for {key!r} is already in progress in this driver; "
                    "retry after it finishes"
                )
            self._keys.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._keys.discard(key)
