"""Connecting to the driver: one channel per endpoint, ready within a deadline or a clear error."""

from __future__ import annotations

import stat
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

# csi-test dials with the authority "localhost" so that drivers behind Unix sockets see a
# well-formed :authority header; do the same.
_CHANNEL_OPTIONS = (("grpc.default_authority", "localhost"),)


class ConnectError(ConnectionError):
    """The driver's endpoint did not accept a connection in time."""


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
        self.channel.close()

    def is_ready(self, timeout: float) -> bool:
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            return False
        return True


def connect(endpoint: str, timeout: float) -> Connection:
    """Open a channel to `endpoint` and wait until it is ready, at most `timeout` seconds."""
    started = time.monotonic()
    channel = grpc.insecure_channel(grpc_target(endpoint), options=_CHANNEL_OPTIONS)
    states: list[grpc.ChannelConnectivity] = []
    channel.subscribe(states.append, try_to_connect=True)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        channel.close()
        last = states[-1].name if states else "IDLE"
        raise ConnectError(
            f"could not connect to the CSI driver at {endpoint} within {timeout:g}s "
            f"(waited {time.monotonic() - started:.1f}s; last channel state {last}). "
            f"{_socket_hint(endpoint)} Raise --csi.connecttimeout if the driver starts slowly."
        ) from None
    return Connection(endpoint, channel)
