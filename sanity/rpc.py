"""Calling the driver: readable failures, a driver-health watch and RPC timing.

Every RPC a sanity case makes goes through `RpcCaller`, which

* turns a failed call into `RpcFailure` (an AssertionError, so pytest reports a failed
  case) whose message names the RPC, the status code, the driver's message and the request;
* notices when the driver stops answering (UNAVAILABLE after it had answered) and remembers
  the first such failure, so the remaining cases error with that cause instead of each
  timing out on its own;
* adds up the time spent inside RPCs, for the harness-overhead figure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf import text_format
from google.protobuf.message import Message

Response = TypeVar("Response")


class RpcFailure(AssertionError):
    """An RPC the case expected to succeed failed; carries the gRPC status."""

    def __init__(self, rpc: str, code: grpc.StatusCode, details: str, request: str) -> None:
        self.rpc = rpc
        self.code = code
        self.details = details
        super().__init__(
            f"{rpc} failed with {code.name}: {details or '(no message)'}"
            + (f"\n  request: {request}" if request else "")
        )


class DriverUnavailable(RuntimeError):
    """The driver stopped answering; raised so that the remaining cases error with the cause."""


def describe_request(request: Message, limit: int = 400) -> str:
    """One-line text form of a request with secret fields masked."""
    text = text_format.MessageToString(request, as_one_line=True)
    if "secrets" in text:
        copy = type(request)()
        copy.CopyFrom(request)
        for field_descriptor in copy.DESCRIPTOR.fields:
            if field_descriptor.name == "secrets":
                getattr(copy, "secrets").clear()  # noqa: B009 - field name from the descriptor
                getattr(copy, "secrets")["<masked>"] = "<masked>"  # noqa: B009
        text = text_format.MessageToString(copy, as_one_line=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DriverHealth:
    """Remembers the first sign that the driver went away, and which case saw it."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._lost: str | None = None
        self.current_case = ""

    @property
    def lost(self) -> str | None:
        with self._lock:
            return self._lost

    def record_unavailable(self, rpc: str, details: str) -> None:
        with self._lock:
            if self._lost is None:
                during = f" during {self.current_case}" if self.current_case else ""
                self._lost = (
                    f"the CSI driver at {self.endpoint} stopped answering{during}: {rpc} "
                    f"returned UNAVAILABLE ({details})"
                )

    def recovered(self) -> None:
        with self._lock:
            self._lost = None


class RpcClock:
    """Thread-safe total of time spent waiting for RPC responses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total_seconds = 0.0
        self.calls = 0

    def add(self, seconds: float) -> None:
        with self._lock:
            self.total_seconds += seconds
            self.calls += 1

    def snapshot(self) -> tuple[float, int]:
        with self._lock:
            return self.total_seconds, self.calls


class Caller(Protocol):
    """What the cases call RPCs through: an `RpcCaller`, or one wrapped with the run lock."""

    def __call__(self, rpc: str, method: Callable[..., Response], request: Message) -> Response: ...


@dataclass
class RpcCaller:
    """Calls unary RPCs with the configured deadline, timing and failure translation."""

    health: DriverHealth
    clock: RpcClock
    timeout: float | None = None

    def __call__(self, rpc: str, method: Callable[..., Response], request: Message) -> Response:
        started = time.monotonic()
        try:
            response = method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            self.clock.add(time.monotonic() - started)
            code = _code_of(exc)
            details = _details_of(exc)
            if code is grpc.StatusCode.UNAVAILABLE:
                self.health.record_unavailable(rpc, details)
            raise RpcFailure(rpc, code, details, describe_request(request)) from None
        self.clock.add(time.monotonic() - started)
        return response


def _code_of(exc: grpc.RpcError) -> grpc.StatusCode:
    code: Any = getattr(exc, "code", None)
    return code() if callable(code) else grpc.StatusCode.UNKNOWN


def _details_of(exc: grpc.RpcError) -> str:
    details: Any = getattr(exc, "details", None)
    return str(details() or "") if callable(details) else str(exc)


def expect_code(code: grpc.StatusCode, call: Callable[[], object], what: str = "") -> RpcFailure:
    """Assert that `call` fails with gRPC status `code` (csi-test's ExpectErrorCode)."""
    try:
        response = call()
    except RpcFailure as failure:
        if failure.code is not code:
            raise AssertionError(
                f"{what or failure.rpc}: expected status {code.name}, got {failure.code.name}: "
                f"{failure.details or '(no message)'}"
            ) from None
        return failure
    shown = (
        text_format.MessageToString(response, as_one_line=True)[:300]
        if isinstance(response, Message)
        else repr(response)
    )
    raise AssertionError(
        f"{what or 'the call'}: expected status {code.name}, but it succeeded"
        + (f" with response {{{shown}}}" if shown else " with an empty response")
    )


def expect_failure(call: Callable[[], object], what: str) -> RpcFailure:
    """Assert that `call` fails with any status (csi-test's Expect(err).To(HaveOccurred()))."""
    try:
        call()
    except RpcFailure as failure:
        return failure
    raise AssertionError(f"{what}: expected an error, but the call succeeded")
