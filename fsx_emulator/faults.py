"""Fault injection: rules that tests switch on per operation, in process or over HTTP.

A rule names an operation (or "*"), a kind, and when it fires: on the next `count` matching
calls, on every `every`-th call, and/or with a `probability`. Request-level kinds (throttle,
server_error, latency) act before the backend sees the request; creation kinds (stuck_creating,
fail_creation) change what CreateFileSystem's file system does next.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class FaultKind(StrEnum):
    THROTTLE = "throttle"  # 400 ThrottlingException: botocore retries it
    SERVER_ERROR = "server_error"  # 500 InternalServerError: botocore retries it
    LATENCY = "latency"  # the call succeeds `latency` seconds later
    STUCK_CREATING = "stuck_creating"  # the new file system stays CREATING
    FAIL_CREATION = "fail_creation"  # the new file system goes CREATING -> FAILED

    @property
    def is_creation_outcome(self) -> bool:
        return self in (FaultKind.STUCK_CREATING, FaultKind.FAIL_CREATION)


ANY_OPERATION = "*"
CREATION_OPERATION = "CreateFileSystem"


@dataclass
class FaultRule:
    operation: str
    kind: FaultKind
    count: int | None = None
    every: int | None = None
    probability: float | None = None
    latency: float = 0.0
    message: str | None = None
    id: int = 0
    seen: int = field(default=0)
    fired: int = field(default=0)

    def validate(self) -> None:
        if not self.operation:
            raise ValueError("fault operation must be an FSx operation name or '*'")
        if self.count is not None and self.count < 1:
            raise ValueError(f"fault count must be >= 1, got {self.count}")
        if self.every is not None and self.every < 1:
            raise ValueError(f"fault every must be >= 1, got {self.every}")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be within 0..1, got {self.probability}")
        if self.latency < 0:
            raise ValueError(f"fault latency must be >= 0 seconds, got {self.latency}")
        if self.kind is FaultKind.LATENCY and self.latency <= 0:
            raise ValueError("a latency fault needs latency > 0 seconds")
        if self.kind.is_creation_outcome and self.operation not in (
            CREATION_OPERATION,
            ANY_OPERATION,
        ):
            raise ValueError(
                f"fault kind {self.kind} applies to {CREATION_OPERATION}, not {self.operation}"
            )

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = str(self.kind)
        return data


@dataclass(frozen=True)
class FaultDecision:
    """What the faults that fired on one request ask for."""

    latency: float = 0.0
    error: FaultKind | None = None  # THROTTLE or SERVER_ERROR
    creation: FaultKind | None = None  # STUCK_CREATING or FAIL_CREATION
    message: str | None = None


class FaultInjector:
    """Thread-safe store of fault rules; `decide` is called once per API request."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._rng = rng or random.Random()  # noqa: S311 - fault sampling, not security

    def add(self, rule: FaultRule) -> FaultRule:
        rule.validate()
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_dict() for rule in self._rules]

    def decide(self, operation: str) -> FaultDecision:
        # Fast path for the common case: no fault configured, no lock contention.
        if not self._rules:
            return FaultDecision()
        latency = 0.0
        error: FaultKind | None = None
        creation: FaultKind | None = None
        message: str | None = None
        with self._lock:
            for rule in self._rules:
                if rule.operation not in (operation, ANY_OPERATION):
                    continue
                if rule.kind.is_creation_outcome and operation != CREATION_OPERATION:
                    continue
                if not self._fires(rule):
                    continue
                if rule.kind is FaultKind.LATENCY:
                    latency += rule.latency
                elif rule.kind.is_creation_outcome:
                    if creation is None:
                        creation, message = rule.kind, rule.message
                elif error is None:
                    error, message = rule.kind, rule.message
            self._rules = [rule for rule in self._rules if not rule.exhausted]
        return FaultDecision(latency=latency, error=error, creation=creation, message=message)

    def _fires(self, rule: FaultRule) -> bool:
        rule.seen += 1
        if rule.every is not None and rule.seen % rule.every != 0:
            return False
        if rule.probability is not None and self._rng.random() >= rule.probability:
            return False
        rule.fired += 1
        return True
