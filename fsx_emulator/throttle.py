"""Request throttling: one token bucket per operation, as AWS throttles its APIs.

A call takes one token from its operation's bucket; an empty bucket answers ThrottlingException
and takes nothing (AWS's token-bucket scheme, as the EC2 API reference describes it). Buckets
refill continuously on the emulator's clock, so a ManualClock makes throttling exact in tests.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from fsx_emulator.config import ANY_OPERATION, RateLimit
from fsx_emulator.lifecycle import Clock


@dataclass
class _Bucket:
    limit: RateLimit
    tokens: float
    refilled_at: float

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self.refilled_at)
        self.tokens = min(float(self.limit.burst), self.tokens + elapsed * self.limit.rate)
        self.refilled_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RequestThrottle:
    """Thread-safe per-operation rate limits; `admit` is called once per API request."""

    def __init__(self, limits: Mapping[str, RateLimit], clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limits: dict[str, RateLimit] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._throttled: dict[str, int] = {}
        self.set_limits(limits)

    def set_limits(self, limits: Mapping[str, RateLimit]) -> None:
        """Replace every limit; buckets start full, throttle counts start at zero."""
        with self._lock:
            self._limits = dict(limits)
            self._buckets.clear()
            self._throttled.clear()

    def limits(self) -> dict[str, RateLimit]:
        with self._lock:
            return dict(self._limits)

    def throttled(self) -> dict[str, int]:
        """How many calls of each operation were refused since the limits were set."""
        with self._lock:
            return dict(self._throttled)

    def admit(self, operation: str) -> bool:
        """True when `operation` may run now; False: answer ThrottlingException."""
        if not self._limits:  # the default: no throttling, no lock
            return True
        with self._lock:
            bucket = self._buckets.get(operation)
            if bucket is None:
                limit = self._limits.get(operation) or self._limits.get(ANY_OPERATION)
                if limit is None:
                    return True
                bucket = _Bucket(limit, float(limit.burst), self._clock())
                self._buckets[operation] = bucket
            if bucket.take(self._clock()):
                return True
            self._throttled[operation] = self._throttled.get(operation, 0) + 1
            return False
