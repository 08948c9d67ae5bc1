"""Progress on stderr and waits with deadlines, shared by every platform.

Every wait says what it waits for, how long so far, and the last state seen; on timeout it
raises `WaitTimeout` whose message carries the same, plus a hint.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Probe:
    """One look at the thing waited for."""

    done: bool
    state: str  # the last state seen, in words ("Lifecycle CREATING", "Pending: 0/1 ready")


class WaitTimeout(TimeoutError):
    def __init__(self, what: str, waited_s: float, last_state: str, hint: str) -> None:
        super().__init__(
            f"timed out after {waited_s:.1f}s waiting for {what}; last state seen: "
            f"{last_state}; {hint}"
        )
        self.what = what
        self.waited_s = waited_s
        self.last_state = last_state


class Progress:
    """Writes progress lines to a stream (stderr by default); a wait line at most every
    `interval_s` seconds unless the state changes, so long waits stay readable."""

    def __init__(
        self,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        interval_s: float = 2.0,
        quiet: bool = False,
        quiet_start_s: float = 0.5,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.sleep = sleep
        self._interval_s = interval_s
        self._quiet = quiet
        self._quiet_start_s = quiet_start_s

    def info(self, message: str) -> None:
        if not self._quiet:
            print(f"[e2e] {message}", file=self._stream, flush=True)

    def wait(
        self,
        what: str,
        probe: Callable[[], Probe],
        timeout_s: float,
        poll_s: float = 0.1,
        max_poll_s: float = 1.0,
        hint: str = "check the driver and emulator logs",
    ) -> Probe:
        """Poll `probe` with backoff until done or `timeout_s`; returns the final probe."""
        started = self.clock()
        last_reported = started
        last_state = "(not probed yet)"
        delay = poll_s
        while True:
            seen = probe()
            now = self.clock()
            if seen.done:
                if now - started >= self._interval_s:
                    self.info(f"{what}: done after {now - started:.1f}s ({seen.state})")
                return seen
            # Short waits stay silent; longer ones report state changes and a heartbeat.
            elapsed = now - started
            changed = seen.state != last_state and elapsed >= self._quiet_start_s
            if changed or now - last_reported >= self._interval_s:
                self.info(f"waiting for {what}: {now - started:.1f}s so far, last: {seen.state}")
                last_reported = now
            last_state = seen.state
            if now - started >= timeout_s:
                raise WaitTimeout(what, now - started, last_state, hint)
            self.sleep(min(delay, max(0.0, timeout_s - (now - started))))
            delay = min(delay * 1.5, max_poll_s)


class LineProgress(Progress):
    """Progress whose lines go to a callable, for callers that print their own lines (the
    reporter of `fsx-csi qualify` and `throughput`) instead of the e2e "[e2e]" stream."""

    def __init__(
        self,
        emit: Callable[[str], None],
        prefix: str = "",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(clock=clock, sleep=sleep)
        self._emit = emit
        self._prefix = prefix

    def info(self, message: str) -> None:
        self._emit(f"{self._prefix}{message}")
