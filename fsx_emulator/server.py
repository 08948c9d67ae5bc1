"""The emulator as an HTTP endpoint: a threaded werkzeug server in a background thread.

One WSGI application serves two things:

- the FSx API (JSON 1.1, `X-Amz-Target: AWSSimbaAPIService_v20180301.<Operation>`), which goes
  through the rate limits, fault injection, then moto's request parsing and the fidelity
  backend;
- the control API under `/_emulator/` (a path AWS never uses), for tests and harnesses that
  drive an emulator in another process (see control.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from moto.core.request import Request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from fsx_emulator.backend import CreationOutcome, FidelityFSxBackend
from fsx_emulator.config import EmulatorConfig, RateLimit, check_page_size, check_token_ttl
from fsx_emulator.control import CONTROL_PREFIX, EmulatorControl
from fsx_emulator.errors import JSON_CONTENT_TYPE, FSxApiError
from fsx_emulator.faults import FaultInjector, FaultKind, FaultRule
from fsx_emulator.lifecycle import Clock, LifecycleTicker, SkippableClock
from fsx_emulator.responses import CREATION_OUTCOME_KEY, TARGET_PREFIX, FidelityFSxResponse
from fsx_emulator.throttle import RequestThrottle

_log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]

# Credentials a client must sign with; any value works (moto documents "testing").
DUMMY_ACCESS_KEY_ID = "testing"
DUMMY_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - not a secret: the emulator checks none

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}


class _ServerRequest(Request):
    """moto's normalized request, marked as coming from a real WSGI server."""

    from_wsgi_server = True


class EmulatorApp:
    """The WSGI application: control API, rate limits, fault injection, then the FSx API."""

    def __init__(
        self, backend: FidelityFSxBackend, faults: FaultInjector, throttle: RequestThrottle
    ) -> None:
        self.backend = backend
        self.faults = faults
        self.throttle = throttle

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path.startswith(CONTROL_PREFIX):
            status, body = self._control(environ, path[len(CONTROL_PREFIX) :])
            return _respond(start_response, status, {"Content-Type": "application/json"}, body)
        if environ.get("REQUEST_METHOD") != "POST":
            error = FSxApiError(
                "UnknownOperationException",
                "The FSx API takes POST requests to / with an X-Amz-Target header.",
                status=405 if path == "/" else 404,
            )
            return _respond_error(start_response, error)
        target = environ.get("HTTP_X_AMZ_TARGET") or ""
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        if operation and not self.throttle.admit(operation):
            # AWS's answer to a call over its rate; botocore retries it as throttling.
            return _respond_error(
                start_response, FSxApiError("ThrottlingException", "Rate exceeded")
            )
        decision = self.faults.decide(operation) if operation else None
        if decision is not None:
            if decision.latency > 0:
                time.sleep(decision.latency)  # outside the state lock: other calls go on
            if decision.error is FaultKind.THROTTLE:
                return _respond_error(
                    start_response,
                    FSxApiError("ThrottlingException", decision.message or "Rate exceeded"),
                )
            if decision.error is FaultKind.SERVER_ERROR:
                return _respond_error(
                    start_response,
                    FSxApiError(
                        "InternalServerError",
                        decision.message or "Injected fault: internal server error.",
                        status=500,
                    ),
                )
            if decision.creation is FaultKind.STUCK_CREATING:
                environ[CREATION_OUTCOME_KEY] = (CreationOutcome.STUCK, None)
            elif decision.creation is FaultKind.FAIL_CREATION:
                environ[CREATION_OUTCOME_KEY] = (CreationOutcome.FAILED, decision.message)
        try:
            response = FidelityFSxResponse(self.backend)
            status, headers, body = response._dispatch(_ServerRequest(environ))
        except UnicodeDecodeError as exc:
            return _respond_error(
                start_response,
                FSxApiError("SerializationException", f"The request body is not UTF-8: {exc}."),
            )
        except Exception:  # noqa: BLE001 - a bug must answer 500 JSON, not kill the thread
            _log.exception("FSx emulator failed on %s", operation or target)
            return _respond_error(
                start_response,
                FSxApiError(
                    "InternalServerError",
                    f"fsx-csi emulator failed on {operation or target}; see its log.",
                    status=500,
                ),
            )
        return _respond(start_response, int(status), dict(headers), body)

    # -- control API ---------------------------------------------------------------------

    def _control(self, environ: Environ, route: str) -> tuple[int, Any]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            payload = _read_json(environ) if method == "POST" else {}
            if route == "health" and method == "GET":
                return 200, {"status": "ok"}
            if route == "faults" and method == "POST":
                rule = FaultRule(
                    operation=str(payload.get("operation", "")),
                    kind=FaultKind(str(payload.get("kind"))),
                    count=payload.get("count"),
                    every=payload.get("every"),
                    probability=payload.get("probability"),
                    latency=float(payload.get("latency") or 0.0),
                    message=payload.get("message"),
                )
                return 200, self.faults.add(rule).to_dict()
            if route == "faults" and method == "GET":
                return 200, {"faults": self.faults.rules()}
            if route == "faults" and method == "DELETE":
                self.faults.clear()
                return 200, {}
            if route == "creation-delay" and method == "POST":
                self.backend.set_creation_delay(
                    float(payload["seconds"]), payload.get("file_system_id")
                )
                return 200, {}
            if route == "reset" and method == "POST":
                self.faults.clear()
                self.backend.reset()
                self.throttle.set_limits(self.backend.config.rate_limits)
                return 200, {}
            if route == "strictness" and method == "POST":
                self._set_strictness(payload)
                return 200, self._strictness()
            if route == "strictness" and method == "GET":
                return 200, self._strictness()
            if route == "clock" and method == "POST":
                self.backend.advance_clock(float(payload["advance"]))
                return 200, {}
            if route == "file-systems" and method == "GET":
                return 200, {"FileSystems": self.backend.all_file_systems()}
        except FSxApiError as error:
            return error.code, {"error": error.error_code, "message": error.error_message}
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": "BadControlRequest", "message": f"{route}: {exc}"}
        return 404, {
            "error": "UnknownControlRoute",
            "message": f"{method} {CONTROL_PREFIX}{route} is not a control API route",
        }

    def _set_strictness(self, payload: dict[str, Any]) -> None:
        # Validate everything before changing anything: a bad request changes nothing.
        limits = None
        if "rate_limits" in payload:
            limits = {
                str(operation): RateLimit(float(limit["rate"]), int(limit["burst"]))
                for operation, limit in (payload["rate_limits"] or {}).items()
            }
        ttl = payload.get("token_ttl")
        ttl = None if ttl is None else float(ttl)
        page_size = payload.get("describe_page_size")
        page_size = None if page_size is None else int(page_size)
        check_token_ttl(ttl)
        if page_size is not None:
            check_page_size(page_size)
        if "token_ttl" in payload:
            self.backend.set_token_ttl(ttl)
        if page_size is not None:
            self.backend.set_describe_page_size(page_size)
        if limits is not None:
            self.throttle.set_limits(limits)

    def _strictness(self) -> dict[str, Any]:
        return {
            **self.backend.strictness(),
            "rate_limits": {op: limit.to_dict() for op, limit in self.throttle.limits().items()},
            "throttled": self.throttle.throttled(),
        }


def _read_json(environ: Environ) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    data = json.loads(raw or b"{}")
    if not isinstance(data, dict):
        raise ValueError("the control request body must be a JSON object")
    return data


def _respond(
    start_response: StartResponse, status: int, headers: dict[str, Any], body: Any
) -> list[bytes]:
    if isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    header_list = [
        (str(k), str(v))
        for k, v in headers.items()
        if k.lower() not in ("status", "content-length")
    ]
    header_list.append(("Content-Length", str(len(data))))
    header_list.append(("x-amzn-RequestId", str(uuid.uuid4())))
    start_response(f"{status} {_REASONS.get(status, 'Error')}", header_list)
    return [data]


def _respond_error(start_response: StartResponse, error: FSxApiError) -> list[bytes]:
    headers = {"Content-Type": JSON_CONTENT_TYPE, "X-Amzn-ErrorType": error.error_code}
    return _respond(start_response, error.code, headers, error.description)


class _QuietHandler(WSGIRequestHandler):
    """Request handler that logs through `logging` and tracks open connections."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        _log.debug("%s %s %s", self.command, self.path, code)

    def setup(self) -> None:
        super().setup()
        server: Any = self.server
        with server.connections_lock:
            server.open_connections.add(self.connection)

    def finish(self) -> None:
        server: Any = self.server
        with server.connections_lock:
            server.open_connections.discard(self.connection)
        super().finish()


class EmulatorServer:
    """The FSx emulator as an in-process HTTP server; a context manager.

    with EmulatorServer(EmulatorConfig(creation_delay=0.1)) as emu:
        fsx = boto3.client("fsx", endpoint_url=emu.endpoint_url, ...)
        emu.control.inject_fault("CreateFileSystem", "throttle", count=1)
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.backend = FidelityFSxBackend(self.config, clock=clock or SkippableClock())
        self.faults = FaultInjector()
        self.throttle = RequestThrottle(self.config.rate_limits, self.backend.scheduler.clock)
        self.app = EmulatorApp(self.backend, self.faults, self.throttle)
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._ticker = LifecycleTicker(self.backend.wakeup, self.backend.scheduler)

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("EmulatorServer is not started; use it as a context manager")
        port = self._server.server_address[1]
        return f"http://{self._host}:{port}"

    @property
    def client_environment(self) -> dict[str, str]:
        """The variables an AWS SDK client needs to reach this emulator: the endpoint, the
        region (boto3 reads AWS_DEFAULT_REGION, the Go SDK AWS_REGION), and dummy credentials
        (SDKs sign every request; the emulator accepts any key, as moto does)."""
        return {
            "AWS_ENDPOINT_URL_FSX": self.endpoint_url,
            "AWS_REGION": self.config.region,
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
        }

    @property
    def control(self) -> EmulatorControl:
        return EmulatorControl(self.endpoint_url)

    def start(self) -> EmulatorServer:
        server = make_server(
            self._host, self._port, self.app, threaded=True, request_handler=_QuietHandler
        )
        # Track request threads so stop() can join them (werkzeug makes them daemons).
        server.daemon_threads = False  # type: ignore[attr-defined]
        server.block_on_close = True  # type: ignore[attr-defined]
        server.open_connections = set()  # type: ignore[attr-defined]
        server.connections_lock = threading.Lock()  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="fsx-emulator-http",
            daemon=True,
        )
        self._thread.start()
        self._ticker.start()
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        server.shutdown()
        # Keep-alive connections park a request thread in a read; end them so it returns.
        with server.connections_lock:  # type: ignore[attr-defined]
            connections = list(server.open_connections)  # type: ignore[attr-defined]
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the request threads
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._ticker.stop()
        self._server = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
