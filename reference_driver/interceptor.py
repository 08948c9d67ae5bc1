"""The one place where handler outcomes become gRPC statuses and RPC log lines.

Every unary RPC goes through `RpcInterceptor`: it times the call, maps a raised `DriverError`
to its status code (anything else is INTERNAL, logged with its traceback), and logs one line
with the method, the volume id or name, the duration and the code. Request fields marked
`csi_secret` in the CSI proto never reach a log line; Probe is logged at debug level because
the livenessprobe sidecar calls it every few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from fsx_csi_harness.csi import csi_pb2
from reference_driver.errors import DriverError

log = logging.getLogger("reference_driver.rpc")

REDACTED = "***stripped***"
QUIET_METHODS = frozenset({"Probe"})


def _is_secret(field: Any) -> bool:
    # Any: the descriptor may be the pure-Python or the upb implementation's class.
    return bool(field.GetOptions().Extensions[csi_pb2.csi_secret])


def sanitize(message: Message) -> dict[str, Any]:
    """The message as a dict, with every csi_secret field (at any depth) replaced."""
    result: dict[str, Any] = {}
    for field, value in message.ListFields():
        if _is_secret(field):
            result[field.name] = REDACTED
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is not None:
                result[field.name] = {k: sanitize(v) for k, v in value.items()}
            else:
                result[field.name] = dict(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.is_repeated:
                result[field.name] = [sanitize(item) for item in value]
            else:
                result[field.name] = sanitize(value)
        elif field.is_repeated:
            result[field.name] = list(value)
        else:
            result[field.name] = value
    return result


def _subject(request: Message) -> dict[str, str]:
    """The volume a request is about, for the log line."""
    subject: dict[str, str] = {}
    for name in ("volume_id", "name", "target_path", "volume_path"):
        descriptor = request.DESCRIPTOR.fields_by_name.get(name)
        if descriptor is not None and not _is_secret(descriptor):
            value = getattr(request, name)
            if value:
                subject["volume_name" if name == "name" else name] = str(value)
    return subject


if TYPE_CHECKING:
    # grpc-stubs makes the interceptor generic; the runtime class is not subscriptable.
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.ServerInterceptor


class RpcInterceptor(_ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        full_method = str(handler_call_details.method)
        method = full_method.rsplit("/", 1)[-1]
        behavior = handler.unary_unary

        def logged(request: Message, context: grpc.ServicerContext) -> Any:
            started = time.monotonic()
            code = grpc.StatusCode.OK
            details = ""
            level = logging.DEBUG if method in QUIET_METHODS else logging.INFO
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "request",
                    extra={"fields": {"method": method, "request": sanitize(request)}},
                )
            try:
                return behavior(request, context)
            except DriverError as exc:
                code, details = exc.code, exc.message
            except NotImplementedError:
                code, details = grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented"
            except Exception as exc:
                code, details = grpc.StatusCode.INTERNAL, f"unexpected error in {method}: {exc!r}"
                log.exception("unexpected error", extra={"fields": {"method": method}})
            finally:
                fields: dict[str, Any] = {"method": method, **_subject(request)}
                fields["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
                fields["code"] = code.name
                if details:
                    fields["error"] = details
                if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                    level = logging.WARNING
                elif code != grpc.StatusCode.OK:
                    level = logging.INFO
                log.log(
                    level,
                    "rpc",
                    extra={"fields": fields},
                )
            context.abort(code, details)

        return grpc.unary_unary_rpc_method_handler(
            logged,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
