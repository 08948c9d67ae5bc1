"""Connecting to the driver: one channel per endpoint, ready within a deadline or a clear error.

A wait reports progress when asked to; a listener that is not a CSI driver (an HTTP server on
the socket, another protocol on the port, a gRPC server without the Identity service) is
named as such instead of timing out.
"""

from __future__ import annotations

import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from fsx_csi_harness.channels import close_channel
from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc

# csi-test dials with the authority "localhost" so that drivers behind Unix sockets see a
# well-formed :authority header; do the same.
_CHANNEL_OPTIONS = (("grpc.default_authority", "localhost"),)


class ConnectError(ConnectionError):
    """The driver's endpoint did not accept a connection in time."""


class NotCsiError(ConnectError):
    """Something answers at the endpoint, but it is not a CSI driver."""


def grpc_target(endpoint: str) -> str:
    """The gRPC target string for a CSI endpoint as csi-sanity accepts it."""
    if endpoint.startswith("unix://"):
        return endpoint
    if endpoint.startswith("unix:"):
        return "unix://" + endpoint.removeprefix("unix:")
    if endpoint.startswith("/"):
        return "unix://" + endpoint
    if endpoint.startswith("tcp://"):
        return endpoint.removeprefix("tcp://")
    return endpoint


def unix_socket_path(endpoint: str) -> str | None:
    target = grpc_target(endpoint)
    return target.removeprefix("unix://") if target.startswith("unix://") else None


def _socket_hint(endpoint: str) -> str:
    path = unix_socket_path(endpoint)
    if path is None:
        return "Check that the driver listens on that address and port."
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError:
        return (
            f"The socket file {path} does not exist: is the driver running, with this --endpoint?"
        )
    except OSError as exc:
        return f"The socket file {path} cannot be inspected: {exc}."
    if not stat.S_ISSOCK(mode):
        return f"{path} exists but is not a socket."
    return (
        f"{path} is a socket but nobody accepts connections on it: the driver may have "
        "exited and left it behind."
    )


@dataclass
class Connection:
    endpoint: str
    channel: grpc.Channel

    def close(self) -> None:
        close_channel(self.channel)

    def is_ready(self, timeout: float) -> bool:
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            return False
        return True


ProgressSink = Callable[[str], None]

# What a gRPC client sends first (RFC 9113 section 3.4): the connection preface and an empty
# SETTINGS frame. An HTTP/2 server answers with a SETTINGS frame; anything else is not gRPC.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_HTTP2_SETTINGS_FRAME_TYPE = 0x04


def _open_stream(endpoint: str, timeout: float) -> socket.socket:
    path = unix_socket_path(endpoint)
    if path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        return sock
    host, _, port = grpc_target(endpoint).removeprefix("dns:///").rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)


def describe_foreign_listener(endpoint: str, timeout: float = 1.0) -> str | None:
    """What answers at `endpoint` when it is not a gRPC server, or None when nothing
    listens there or the listener speaks HTTP/2 (as gRPC does)."""
    try:
        sock = _open_stream(endpoint, timeout)
    except (OSError, ValueError):
        return None  # nobody listens: the socket hint says why
    with sock:
        try:
            sock.sendall(_HTTP2_PREFACE)
            reply = sock.recv(512)
        except TimeoutError:
            return "it accepts connections but does not answer an HTTP/2 greeting"
        except OSError as exc:
            return f"it accepts connections but then fails them ({exc.strerror or exc})"
    if not reply:
        return "it accepts connections and closes them without a word"
    if reply.startswith(b"HTTP/"):
        status = reply.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        return f"an HTTP/1 server answers there ({status!r})"
    if reply.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        # A server that took the greeting for HTTP/0.9 answers with a bare error page.
        return "an HTTP server answers there (an HTML error page to the HTTP/2 greeting)"
    if len(reply) >= 9 and reply[3] == _HTTP2_SETTINGS_FRAME_TYPE:
        return None
    return f"it answers something else than HTTP/2: {reply[:40]!r}"


def connect(
    endpoint: str,
    timeout: float,
    progress: ProgressSink | None = None,
    interval: float = 2.0,
) -> Connection:
    """Open a channel to `endpoint` and wait until it is ready, at most `timeout` seconds.

    `progress` (when given) hears what the wait is at every `interval` seconds. A listener
    that is not a gRPC server (an HTTP/1 server, some other protocol) fails at once with
    NotCsiError naming what answers, instead of after the whole timeout.
    """
    started = time.monotonic()
    channel = grpc.insecure_channel(grpc_target(endpoint), options=_CHANNEL_OPTIONS)
    states: list[grpc.ChannelConnectivity] = []
    channel.subscribe(states.append, try_to_connect=True)
    ready = grpc.channel_ready_future(channel)
    next_report = started + interval
    probed = False
    while True:
        now = time.monotonic()
        remaining = timeout - (now - started)
        if remaining <= 0:
            break
        try:
            ready.result(timeout=min(remaining, max(0.05, next_report - now), 0.25))
        except grpc.FutureTimeoutError:
            pass
        else:
            return Connection(endpoint, channel)
        last = states[-1] if states else grpc.ChannelConnectivity.IDLE
        if last is grpc.ChannelConnectivity.TRANSIENT_FAILURE and not probed:
            # The connection was refused or the handshake failed. Say so now when someone
            # answers who is not gRPC: waiting longer cannot change that.
            probed = True
            foreign = describe_foreign_listener(endpoint)
            if foreign is not None:
                channel.close()
                raise NotCsiError(
                    f"{endpoint} is not a CSI driver: {foreign}. Point --csi.endpoint at the "
                    "driver's own socket or port (its --endpoint flag), not at another service."
                )
        now = time.monotonic()
        if progress is not None and now >= next_report:
            progress(
                f"waiting for the CSI driver at {endpoint}: {now - started:.1f}s of "
                f"{timeout:g}s, channel {last.name}; {_socket_hint(endpoint)}"
            )
            next_report = now + interval
    channel.close()
    last_name = states[-1].name if states else "IDLE"
    raise ConnectError(
        f"could not connect to the CSI driver at {endpoint} within {timeout:g}s "
        f"(waited {time.monotonic() - started:.1f}s; last channel state {last_name}). "
        f"{_socket_hint(endpoint)} Raise --csi.connecttimeout if the driver starts slowly."
    )


def identify(connection: Connection, timeout: float) -> csi_pb2.GetPluginInfoResponse:
    """GetPluginInfo on the connection: every CSI endpoint serves the Identity service, so a
    gRPC server that does not is named as not being a CSI driver."""
    try:
        return csi_pb2_grpc.IdentityStub(connection.channel).GetPluginInfo(
            csi_pb2.GetPluginInfoRequest(), timeout=timeout
        )
    except grpc.RpcError as exc:
        code = exc.code() if callable(getattr(exc, "code", None)) else None
        details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
        if code is grpc.StatusCode.UNIMPLEMENTED:
            raise NotCsiError(
                f"{connection.endpoint} answers gRPC but not the CSI Identity service "
                f"(GetPluginInfo: UNIMPLEMENTED: {details}). Point --csi.endpoint at the "
                "CSI driver's socket."
            ) from None
        raise ConnectError(
            f"the CSI driver at {connection.endpoint} did not answer GetPluginInfo: "
            f"{code.name if code else 'error'}: {details}"
        ) from None
