"""Clocks, deadlines and the polling schedule for long FSx operations.

A wait is bounded twice: by the driver's own limit (`--create-timeout`) and by the RPC's
deadline (`context.time_remaining()`), whichever comes first, and it stops early when the
caller cancels the RPC. The schedule starts fast, so an emulator that finishes in milliseconds
is noticed in milliseconds, and backs off towards a ceiling so that real AWS, where creation
takes minutes, sees a few calls a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class PollSchedule:
    """Intervals between polls: `floor`, growing by `growth` per poll, capped at `ceiling`."""

    floor: float = 0.05
    ceiling: float = 15.0
    growth: float = 1.5

    def intervals(self) -> Callable[[], float]:
        current = self.floor

        def next_interval() -> float:
            nonlocal current
            interval = current
            current = min(self.ceiling, current * self.growth)
            return interval

        return next_interval


# Stop waiting this long before the RPC deadline, so the answer reaches the caller in time.
RPC_DEADLINE_MARGIN_SECONDS = 0.25


class Deadline:
    """The earliest of several limits on one operation, and whether its caller gave up."""

    def __init__(
        self,
        clock: Clock,
        *,
        limit_seconds: float | None,
        limit_name: str,
        rpc_remaining: float | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        self.clock = clock
        self.started = clock.monotonic()
        self.cancelled = cancelled
        limits: list[tuple[float, str]] = []
        if limit_seconds is not None:
            limits.append((limit_seconds, limit_name))
        if rpc_remaining is not None:
            limits.append(
                (max(0.0, rpc_remaining - RPC_DEADLINE_MARGIN_SECONDS), "the RPC deadline")
            )
        if limits:
            seconds, self.reason = min(limits)
            self.at: float | None = self.started + seconds
        else:
            self.at, self.reason = None, "no limit"

    def remaining(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - self.clock.monotonic())

    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started
