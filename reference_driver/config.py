"""The driver's configuration: one frozen object, built from flags by cli.py (or by tests)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from fsx_csi_harness import __version__
from reference_driver import DRIVER_NAME


class Mode(StrEnum):
    ALL = "all"
    CONTROLLER = "controller"
    NODE = "node"

    @property
    def runs_controller(self) -> bool:
        return self in (Mode.ALL, Mode.CONTROLLER)

    @property
    def runs_node(self) -> bool:
        return self in (Mode.ALL, Mode.NODE)


class ConfigError(ValueError):
    """The configuration cannot work; the message says which setting and what to use."""


@dataclass(frozen=True)
class Endpoint:
    """A CSI endpoint: `unix:///abs/path.sock` or `tcp://host:port`."""

    scheme: str
    path: Path | None = None
    host: str = ""
    port: int = 0

    @classmethod
    def parse(cls, value: str) -> Endpoint:
        parts = urlsplit(value)
        if parts.scheme == "unix":
            # unix:///a/b.sock (RFC form) and unix:/a/b.sock are both common in CSI deployments.
            path = parts.path if not parts.netloc else f"/{parts.netloc}{parts.path}"
            if not path.startswith("/"):
                raise ConfigError(
                    f"--endpoint {value!r}: a unix endpoint needs an absolute path, "
                    "for example unix:///csi/csi.sock"
                )
            return cls("unix", path=Path(path))
        if parts.scheme == "tcp":
            if not parts.hostname or parts.port is None:
                raise ConfigError(
                    f"--endpoint {value!r}: a tcp endpoint needs host and port, for example "
                    "tcp://127.0.0.1:10000 (port 0 picks a free one)"
                )
            return cls("tcp", host=parts.hostname, port=parts.port)
        raise ConfigError(f"--endpoint {value!r}: use unix:///path/to/csi.sock or tcp://host:port")

    @property
    def grpc_address(self) -> str:
        if self.scheme == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        return f"tcp://{self.host}:{self.port}"


@dataclass(frozen=True)
class DriverConfig:
    endpoint: Endpoint
    mode: Mode = Mode.ALL
    node_id: str = ""
    region: str | None = None
    aws_endpoint_url: str | None = None
    # Bound on one CreateVolume's wait for AVAILABLE (the RPC deadline bounds it too); the
    # same bound applies to waits for storage updates and data repository associations.
    create_timeout: float = 600.0
    # Poll interval floor and ceiling; a ceiling of None picks 1 s against an emulator and
    # 15 s against AWS's own endpoints.
    poll_interval_min: float = 0.05
    poll_interval_max: float | None = None
    aws_max_attempts: int = 8
    socket_mode: int = 0o600
    shutdown_grace: float = 30.0
    # Upstream's --extra-tags: tags on every file system this controller creates.
    extra_tags: tuple[tuple[str, str], ...] = ()
    # How long Probe trusts its last check of the FSx API.
    probe_cache_seconds: float = 10.0
    max_workers: int = 64
    driver_name: str = DRIVER_NAME
    vendor_version: str = __version__

    def __post_init__(self) -> None:
        if self.mode.runs_node and not self.node_id:
            raise ConfigError(
                f"--mode {self.mode.value} runs the node service, which needs --node-id "
                "(or CSI_NODE_NAME in the environment)"
            )
        if self.create_timeout <= 0:
            raise ConfigError(f"--create-timeout must be positive, got {self.create_timeout}")
        if self.poll_interval_min <= 0 or (
            self.poll_interval_max is not None and self.poll_interval_max < self.poll_interval_min
        ):
            raise ConfigError(
                "--poll-interval-min must be positive and at most --poll-interval-max "
                f"(got {self.poll_interval_min} and {self.poll_interval_max})"
            )
        if self.aws_max_attempts < 1:
            raise ConfigError(f"--aws-max-attempts must be at least 1, got {self.aws_max_attempts}")
