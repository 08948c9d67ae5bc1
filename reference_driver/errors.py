"""Typed errors that handlers raise; the interceptor turns each into one gRPC status.

Handlers never call `context.abort` themselves: they raise one of these, and
`reference_driver.interceptor` maps `code` to the RPC's status and `message` to its details.
"""

from __future__ import annotations

import grpc


class DriverError(Exception):
    """A failure the caller should see with a specific gRPC status code."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidArgument(DriverError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(DriverError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DriverError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Aborted(DriverError):
    """Another operation on the same volume is in progress; the caller should retry later."""

    code = grpc.StatusCode.ABORTED


class OutOfRange(DriverError):
    code = grpc.StatusCode.OUT_OF_RANGE


class FailedPrecondition(DriverError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class DeadlineExceeded(DriverError):
    """A wait ran out of time while the operation was still progressing; retrying resumes it."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Internal(DriverError):
    code = grpc.StatusCode.INTERNAL


class Unimplemented(DriverError):
    """The driver does not offer this RPC (and does not advertise its capability)."""

    code = grpc.StatusCode.UNIMPLEMENTED


def require(value: str, field: str) -> str:
    """`value` when the request set it; InvalidArgument naming `field` when it is empty."""
    if not value:
        raise InvalidArgument(f"{field} is required")
    return value
