"""The gRPC server: endpoint handling, wiring of the services, start and graceful stop.

`build_server` is the one factory: the CLI, the tests and the harness all build the driver
through it, injecting only the effects they need to replace (FSx API, mounter, clock).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from reference_driver.cloud.api import Boto3FsxApi, FsxApi, is_aws_endpoint, make_fsx_client
from reference_driver.cloud.domain import FsxCloud
from reference_driver.config import ConfigError, DriverConfig, Endpoint
from reference_driver.controller import ControllerService
from reference_driver.identity import IdentityService
from reference_driver.interceptor import RpcInterceptor
from reference_driver.mounter.base import CommandRunner, Mounter
from reference_driver.mounter.kernel import KernelMounter
from reference_driver.node import NodeService
from reference_driver.waiting import Clock, PollSchedule, SystemClock

log = logging.getLogger(__name__)

# Poll ceilings: an emulator finishes in seconds, AWS in minutes (and meters the API).
EMULATOR_POLL_CEILING = 1.0
AWS_POLL_CEILING = 15.0


def _replace_stale_socket(path: Path) -> None:
    """Remove a socket file nobody listens on; refuse to touch a live socket or a non-socket."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if not stat.S_ISSOCK(mode):
        raise ConfigError(
            f"--endpoint {path} exists and is not a socket; remove it or choose another path"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # stale: left behind by a process that died
        log.info("replaced a stale socket", extra={"fields": {"path": str(path)}})
        return
    finally:
        probe.close()
    raise ConfigError(
        f"--endpoint {path} is served by another running process; stop it or use another path"
    )


class DriverServer:
    """The driver's gRPC server. Use as a context manager, or start() / stop()."""

    def __init__(
        self,
        config: DriverConfig,
        identity: IdentityService,
        controller: ControllerService | None,
        node: NodeService | None,
    ) -> None:
        self.config = config
        self.identity = identity
        self.controller = controller
        self.node = node
        self._server: grpc.Server | None = None
        self._bound_port = 0
        self._stopped = threading.Event()

    @property
    def endpoint(self) -> Endpoint:
        """Where the server listens (a tcp port 0 is replaced by the port chosen)."""
        ep = self.config.endpoint
        if ep.scheme == "tcp" and self._bound_port:
            return Endpoint("tcp", host=ep.host, port=self._bound_port)
        return ep

    @property
    def address(self) -> str:
        """The endpoint in the form grpc.insecure_channel accepts."""
        return self.endpoint.grpc_address

    def start(self) -> DriverServer:
        endpoint = self.config.endpoint
        server = grpc.server(
            ThreadPoolExecutor(max_workers=self.config.max_workers, thread_name_prefix="csi-rpc"),
            interceptors=[RpcInterceptor()],
            options=[("grpc.so_reuseport", 0)],
        )
        csi_pb2_grpc.add_IdentityServicer_to_server(self.identity, server)
        services = [csi_pb2.DESCRIPTOR.services_by_name["Identity"].full_name]
        if self.controller is not None:
            csi_pb2_grpc.add_ControllerServicer_to_server(self.controller, server)
            services.append(csi_pb2.DESCRIPTOR.services_by_name["Controller"].full_name)
        if self.node is not None:
            csi_pb2_grpc.add_NodeServicer_to_server(self.node, server)
            services.append(csi_pb2.DESCRIPTOR.services_by_name["Node"].full_name)
        from grpc_reflection.v1alpha import reflection

        reflection.enable_server_reflection((*services, reflection.SERVICE_NAME), server)

        if endpoint.path is not None:
            _replace_stale_socket(endpoint.path)
            # Create the socket with owner-only permissions from the first instant (umask),
            # then apply the requested mode exactly.
            old_umask = os.umask(0o777 & ~self.config.socket_mode)
            try:
                self._bound_port = server.add_insecure_port(endpoint.grpc_address)
                server.start()
            finally:
                os.umask(old_umask)
            endpoint.path.chmod(self.config.socket_mode)
        else:
            self._bound_port = server.add_insecure_port(endpoint.grpc_address)
            if self._bound_port == 0:
                raise ConfigError(f"--endpoint {endpoint}: could not bind (is the port in use?)")
            server.start()
        self._server = server
        log.info(
            "driver started",
            extra={
                "fields": {
                    "endpoint": str(self.endpoint),
                    "mode": self.config.mode.value,
                    "version": self.config.vendor_version,
                }
            },
        )
        return self

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish (up to `grace` seconds), remove the
        socket. Safe to call more than once."""
        if self._server is None or self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.config.shutdown_grace if grace is None else grace
        log.info("driver stopping", extra={"fields": {"grace_seconds": grace}})
        self._server.stop(grace).wait()
        if self.config.endpoint.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.config.endpoint.path.unlink()
        log.info("driver stopped")

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        assert self._server is not None, "start() the server first"
        return bool(self._server.wait_for_termination(timeout))

    def __enter__(self) -> DriverServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop(grace=1.0)


def build_server(
    config: DriverConfig,
    *,
    fsx_client: FsxApi | None = None,
    probe_client: FsxApi | None = None,
    mounter: Mounter | None = None,
    clock: Clock | None = None,
    runner: CommandRunner | None = None,
) -> DriverServer:
    """Wire the services `config.mode` asks for.

    Omitted effects are built for production: a boto3 FSx client (adaptive retries; a
    no-retry twin for Probe) and the kernel mounter (`mount -t lustre`; `runner` runs its
    commands).
    """
    clock = clock or SystemClock()
    cloud: FsxCloud | None = None
    controller: ControllerService | None = None
    if config.mode.runs_controller:
        if fsx_client is None:
            import boto3

            session = boto3.session.Session()
            user_agent = f"fsx-csi-harness-reference-driver/{config.vendor_version}"
            boto = make_fsx_client(
                config.region,
                config.aws_endpoint_url,
                max_attempts=config.aws_max_attempts,
                user_agent=user_agent,
                session=session,
            )
            fsx_client = Boto3FsxApi(boto)
            if probe_client is None:
                probe_client = Boto3FsxApi(
                    make_fsx_client(
                        config.region,
                        config.aws_endpoint_url,
                        max_attempts=1,
                        connect_timeout=1.0,
                        read_timeout=2.0,
                        user_agent=user_agent,
                        session=session,
                    )
                )
        ceiling = config.poll_interval_max
        if ceiling is None:
            endpoint_url: Any = getattr(fsx_client, "endpoint_url", None)
            against_aws = isinstance(endpoint_url, str) and is_aws_endpoint(endpoint_url)
            ceiling = AWS_POLL_CEILING if against_aws else EMULATOR_POLL_CEILING
        schedule = PollSchedule(
            floor=config.poll_interval_min, ceiling=max(ceiling, config.poll_interval_min)
        )
        cloud = FsxCloud(fsx_client, clock, schedule, probe_api=probe_client)
        controller = ControllerService(config, cloud, clock)
    node: NodeService | None = None
    if config.mode.runs_node:
        node = NodeService(config, mounter or KernelMounter(runner))
    identity = IdentityService(config, clock, cloud)
    return DriverServer(config, identity, controller, node)
