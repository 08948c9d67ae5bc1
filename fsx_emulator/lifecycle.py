"""Time-driven state changes: a deadline scheduler and the clocks it reads.

State changes (CREATING -> AVAILABLE, DELETING -> gone, AdministrativeAction phases) are
scheduled as deadlines on a monotonic clock. Every API call first runs the deadlines that
have passed, so what a client reads is exact for the clock it reads; a ticker thread also runs
them in the background, so side effects (the Lustre emulation directories) happen on time even
when nobody calls the API. Callers hold the backend's lock around every method here.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]

_log = logging.getLogger(__name__)


class ManualClock:
    """A clock that moves only when told to: lifecycle tests without sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        with self._lock:
            self._now += seconds


class SkippableClock:
    """A monotonic clock that can also jump forward: the default of a running emulator, so a
    harness in another process can let six hours pass (`POST /_emulator/clock`) without
    waiting them, while every delay still runs in real time otherwise."""

    def __init__(self, base: Clock = time.monotonic) -> None:
        self._base = base
        self._skipped = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._base() + self._skipped

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        with self._lock:
            self._skipped += seconds


@dataclass(order=True)
class ScheduledChange:
    deadline: float
    sequence: int
    action: Callable[[], None] = field(compare=False)
    description: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)

    def cancel(self) -> None:
        # Lazy deletion: the heap entry stays and is skipped when it comes due (O(log n)).
        self.cancelled = True


class DeadlineScheduler:
    """A heap of state changes keyed by deadline; not thread-safe by itself (hold the lock)."""

    def __init__(self, clock: Clock, on_schedule: Callable[[], None] | None = None) -> None:
        self.clock = clock
        self._heap: list[ScheduledChange] = []
        self._sequence = itertools.count()
        self._on_schedule = on_schedule

    def after(
        self, delay: float, action: Callable[[], None], description: str = ""
    ) -> ScheduledChange:
        return self.at(self.clock() + delay, action, description)

    def at(
        self, deadline: float, action: Callable[[], None], description: str = ""
    ) -> ScheduledChange:
        change = ScheduledChange(deadline, next(self._sequence), action, description)
        heapq.heappush(self._heap, change)
        if self._on_schedule is not None:
            self._on_schedule()
        return change

    def run_due(self) -> int:
        """Run every change whose deadline has passed, in deadline order; returns how many."""
        ran = 0
        now = self.clock()
        while self._heap and self._heap[0].deadline <= now:
            change = heapq.heappop(self._heap)
            if change.cancelled:
                continue
            try:
                change.action()
            except Exception:  # noqa: BLE001 - one broken change must not stop the others
                _log.exception("scheduled state change failed: %s", change.description)
            ran += 1
        return ran

    def seconds_to_next(self) -> float | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        if not self._heap:
            return None
        return max(0.0, self._heap[0].deadline - self.clock())

    def clear(self) -> None:
        self._heap.clear()


class LifecycleTicker:
    """A thread that runs due state changes in the background until stopped.

    It waits on the backend's condition (which shares the backend's lock), so a newly
    scheduled change wakes it at once and it never runs concurrently with an API call.
    """

    # With a ManualClock the next deadline says nothing about real time: poll at most this
    # long apart so an advanced manual clock is noticed soon.
    MAX_WAIT = 0.25

    def __init__(self, condition: threading.Condition, scheduler: DeadlineScheduler) -> None:
        self._condition = condition
        self._scheduler = scheduler
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="fsx-emulator-lifecycle", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._condition:
            while not self._stopping:
                self._scheduler.run_due()
                wait = self._scheduler.seconds_to_next()
                timeout = self.MAX_WAIT if wait is None else min(max(wait, 0.001), self.MAX_WAIT)
                self._condition.wait(timeout)


def monotonic() -> float:
    return time.monotonic()
