"""Local platform for throughput: one volume, published on N node-plugin processes.

The harness plays external-provisioner and kubelet over CSI gRPC, as the e2e local platform
does: the FSx emulator runs embedded (or the user gives an AWS endpoint), the reference
driver runs as one controller process and one node process per node, all started through
the same `fsx-csi driver` command line that ships, and sharing one emulation root. The
volume is created once, published on every node, and the raw emulation directory behind it
(<root>/<file-system-id>/<mountname>) is measured in the same run for the overhead ratio.
Alternatively `csi_endpoint` points at a driver someone else runs (mode all); then there is
one node and no raw directory unless `emulation_root` says where that driver keeps it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from e2e.report.model import Leak
from e2e.throughput.runner import Client, directory_check, mount_points
from fsx_csi_harness.processes import die_with_parent

GIB = 1024**3
DEFAULT_PARAMETERS = {
    "subnetId": "subnet-0123456789abcdef0",
    "securityGroupIds": "sg-0123456789abcdef0",
    "deploymentType": "SCRATCH_2",
}


class LocalSetupError(Exception):
    """The harness could not bring up the local volume (not a verdict on throughput)."""


@dataclass
class LocalVolumeConfig:
    run_id: str
    work_dir: Path
    nodes: int = 2
    capacity_gib: int = 1200
    parameters: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PARAMETERS))
    creation_delay_s: float = 0.2
    # An external driver (mode all) instead of spawning the reference driver.
    csi_endpoint: str | None = None
    # The emulation root the external driver uses, if any (enables the raw comparison).
    emulation_root: Path | None = None
    aws_endpoint_url: str | None = None
    region: str = "us-east-1"
    rpc_timeout_s: float = 120.0
    start_timeout_s: float = 30.0


class DriverProcess:
    """One `fsx-csi driver` process on a Unix socket; its output goes to a log file."""

    def __init__(self, name: str, args: list[str], socket_path: Path, log_path: Path) -> None:
        self.name = name
        self.socket_path = socket_path
        self.log_path = log_path
        self._args = args
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, env: dict[str, str]) -> None:
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "fsx_csi_harness", "driver", *self._args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            preexec_fn=die_with_parent(),
        )

    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class ReferenceDriverSet:
    """Context manager: the FSx emulator (unless an AWS endpoint is given) and reference
    driver processes on Unix sockets in `work_dir`, all sharing one emulation root.

    `all_in_one`: one process in mode all (what sanity talks to); otherwise one controller
    and `node_count` node processes (what the throughput volume is published on).
    """

    def __init__(
        self,
        work_dir: Path,
        run_id: str,
        node_count: int,
        progress: Callable[[str], None],
        all_in_one: bool = False,
        aws_endpoint_url: str | None = None,
        creation_delay_s: float = 0.2,
        region: str = "us-east-1",
        start_timeout_s: float = 30.0,
    ) -> None:
        self.work_dir = work_dir
        self.run_id = run_id
        self.emulation_root = work_dir / "emulation-root"
        self.endpoints: dict[str, str] = {}
        self.processes: list[DriverProcess] = []
        self.driver_name: str | None = None
        self.driver_version: str | None = None
        self._node_count = node_count
        self._all_in_one = all_in_one
        self._aws_endpoint_url = aws_endpoint_url
        self._creation_delay_s = creation_delay_s
        self._region = region
        self._start_timeout_s = start_timeout_s
        self._progress = progress
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> ReferenceDriverSet:
        try:
            self._start()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _start(self) -> None:
        from e2e.emulator.config import EmulatorConfig
        from e2e.emulator.server import EmulatorServer

        self.emulation_root.mkdir(parents=True, exist_ok=True)
        endpoint_url = self._aws_endpoint_url
        if endpoint_url is None:
            server = EmulatorServer(
                EmulatorConfig(
                    creation_delay=self._creation_delay_s,
                    deletion_delay=0.1,
                    emulation_root=self.emulation_root,
                ),
                host="127.0.0.1",
                port=0,
            )
            self._stack.enter_context(server)
            endpoint_url = server.endpoint_url
            self._progress(f"FSx emulator at {endpoint_url}, emulation root {self.emulation_root}")
        env = dict(os.environ)
        env.setdefault("AWS_ACCESS_KEY_ID", "emulated")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "emulated")
        env["AWS_DEFAULT_REGION"] = self._region
        env["AWS_REGION"] = self._region
        if self._all_in_one:
            roles = {"all": "all"}
        else:
            roles = {"controller": "controller"}
            roles.update({f"node-{i + 1}": "node" for i in range(self._node_count)})
        for role, mode in roles.items():
            socket_path = self.work_dir / f"{role}.sock"
            process = DriverProcess(
                role,
                [
                    "--endpoint", f"unix://{socket_path}",
                    "--mode", mode,
                    "--node-id", f"{self.run_id}-{role}",
                    "--aws-endpoint-url", endpoint_url,
                    "--mounter", "emulated",
                    "--emulation-root", str(self.emulation_root),
                ],
                socket_path,
                self.work_dir / f"{role}.log",
            )  # fmt: skip
            process.start(env)
            self.processes.append(process)
            self.endpoints[role] = process.endpoint
        for process in self.processes:
            wait_ready(process.endpoint, self._start_timeout_s, process)
        self._identify(self.endpoints.get("all") or self.endpoints["controller"])
        self._progress(
            f"reference driver {self.driver_name} {self.driver_version}: "
            + ", ".join(f"{role} on {endpoint}" for role, endpoint in self.endpoints.items())
        )

    def _identify(self, endpoint: str) -> None:
        import grpc

        from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc

        with grpc.insecure_channel(endpoint) as channel:
            info = csi_pb2_grpc.IdentityStub(channel).GetPluginInfo(
                csi_pb2.GetPluginInfoRequest(), timeout=10
            )
        self.driver_name = info.name
        self.driver_version = info.vendor_version

    def logs(self) -> Iterator[tuple[str, Path]]:
        for process in self.processes:
            if process.log_path.exists():
                yield process.name, process.log_path

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for process in self.processes:
            process.stop()
        self._stack.close()


def wait_ready(endpoint: str, timeout_s: float, process: DriverProcess | None = None) -> None:
    """Wait until a CSI endpoint accepts connections; a dead process fails at once."""
    import grpc

    deadline = time.monotonic() + timeout_s
    last = "not connected yet"
    with grpc.insecure_channel(endpoint) as channel:
        while time.monotonic() < deadline:
            if process is not None and process.exit_code() is not None:
                raise LocalSetupError(
                    f"the {process.name} driver process exited with code "
                    f"{process.exit_code()} before serving CSI on {endpoint}; its log "
                    f"({process.log_path}) ends with:\n{process.log_tail()}"
                )
            try:
                grpc.channel_ready_future(channel).result(timeout=0.5)
                return
            except grpc.FutureTimeoutError:
                last = "socket not accepting connections"
    where = f"; log {process.log_path}:\n{process.log_tail()}" if process else ""
    raise LocalSetupError(
        f"the CSI endpoint {endpoint} was not ready within {timeout_s:g} s (last seen: "
        f"{last}){where}; check that the driver runs and listens there"
    )


class LocalVolume:
    """Context manager: emulator, driver processes, one volume published on every node.

    `clients()` gives the published targets (and the raw directory when known); on exit
    everything is unpublished, deleted and stopped, and what could not be is in `leaks`.
    """

    def __init__(self, config: LocalVolumeConfig, progress: Callable[[str], None]) -> None:
        self.config = config
        self._progress = progress
        self._stack = contextlib.ExitStack()
        self.leaks: list[Leak] = []
        self.volume_id: str | None = None
        self.volume_context: dict[str, str] = {}
        self.emulation_root: Path | None = config.emulation_root
        self.targets: dict[str, Path] = {}
        self.driver_name: str | None = None
        self.driver_version: str | None = None
        self._channels: list[Any] = []
        self._drivers: ReferenceDriverSet | None = None
        self._controller: Any = None
        self._nodes: dict[str, Any] = {}

    # -- setup ---------------------------------------------------------------------------
    def __enter__(self) -> LocalVolume:
        try:
            self._start()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _start(self) -> None:
        import grpc

        from fsx_csi_harness.csi import csi_pb2_grpc

        config = self.config
        config.work_dir.mkdir(parents=True, exist_ok=True)
        if config.csi_endpoint is None:
            drivers = ReferenceDriverSet(
                config.work_dir,
                config.run_id,
                node_count=config.nodes,
                progress=self._progress,
                aws_endpoint_url=config.aws_endpoint_url,
                creation_delay_s=config.creation_delay_s,
                region=config.region,
                start_timeout_s=config.start_timeout_s,
            )
            self._drivers = self._stack.enter_context(drivers)
            self.emulation_root = drivers.emulation_root
            endpoints = dict(drivers.endpoints)
        else:
            wait_ready(config.csi_endpoint, config.start_timeout_s)
            endpoints = {"controller": config.csi_endpoint, "node-1": config.csi_endpoint}
        for role, endpoint in endpoints.items():
            channel = grpc.insecure_channel(endpoint)
            self._channels.append(channel)
            if role == "controller":
                self._controller = csi_pb2_grpc.ControllerStub(channel)
                self._identify(channel)
            else:
                self._nodes[role] = csi_pb2_grpc.NodeStub(channel)
        self._create_volume()
        for node, stub in self._nodes.items():
            self._publish(node, stub)

    def _identify(self, channel: Any) -> None:
        from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc

        info = csi_pb2_grpc.IdentityStub(channel).GetPluginInfo(
            csi_pb2.GetPluginInfoRequest(), timeout=10
        )
        self.driver_name = info.name
        self.driver_version = info.vendor_version

    def _capability(self) -> Any:
        from fsx_csi_harness.csi import csi_pb2

        return csi_pb2.VolumeCapability(
            mount=csi_pb2.VolumeCapability.MountVolume(),
            access_mode=csi_pb2.VolumeCapability.AccessMode(
                mode=csi_pb2.VolumeCapability.AccessMode.MULTI_NODE_MULTI_WRITER
            ),
        )

    def _create_volume(self) -> None:
        from fsx_csi_harness.csi import csi_pb2

        name = f"throughput-{self.config.run_id}"
        self._progress(f"throughput: CreateVolume {name} ({self.config.capacity_gib} GiB)")
        response = self._controller.CreateVolume(
            csi_pb2.CreateVolumeRequest(
                name=name,
                capacity_range=csi_pb2.CapacityRange(required_bytes=self.config.capacity_gib * GIB),
                volume_capabilities=[self._capability()],
                parameters=self.config.parameters,
            ),
            timeout=self.config.rpc_timeout_s,
        )
        self.volume_id = response.volume.volume_id
        self.volume_context = dict(response.volume.volume_context)

    def _publish(self, node: str, stub: Any) -> None:
        from fsx_csi_harness.csi import csi_pb2

        target = self.config.work_dir / node / "target"
        target.parent.mkdir(parents=True, exist_ok=True)
        stub.NodePublishVolume(
            csi_pb2.NodePublishVolumeRequest(
                volume_id=self.volume_id or "",
                target_path=str(target),
                volume_capability=self._capability(),
                volume_context=self.volume_context,
                readonly=False,
            ),
            timeout=self.config.rpc_timeout_s,
        )
        self.targets[node] = target
        self._progress(f"throughput: published {self.volume_id} on {node} at {target}")

    # -- what the workloads run on ---------------------------------------------------------
    @property
    def raw_directory(self) -> Path | None:
        mount_name = self.volume_context.get("mountname")
        if self.emulation_root is None or self.volume_id is None or not mount_name:
            return None
        directory = self.emulation_root / self.volume_id / mount_name
        return directory if directory.is_dir() else None

    def clients(self) -> list[Client]:
        return [
            Client(node, "published", target, directory_check(target, must_be_mount=True))
            for node, target in self.targets.items()
        ]

    def raw_client(self) -> Client | None:
        raw = self.raw_directory
        if raw is None:
            return None
        return Client("emulation-root", "raw", raw, directory_check(raw, must_be_mount=False))

    # -- teardown --------------------------------------------------------------------------
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from fsx_csi_harness.csi import csi_pb2

        for node, target in list(self.targets.items()):
            try:
                self._nodes[node].NodeUnpublishVolume(
                    csi_pb2.NodeUnpublishVolumeRequest(
                        volume_id=self.volume_id or "", target_path=str(target)
                    ),
                    timeout=30,
                )
            except Exception as failure:  # noqa: BLE001 - every failure is a leak to report
                self.leaks.append(
                    Leak("publication", str(target), "throughput", f"NodeUnpublish: {failure}")
                )
            if str(target.resolve()) in mount_points():
                self.leaks.append(
                    Leak("mount", str(target), "throughput", "still mounted after unpublish")
                )
        if self.volume_id is not None and self._controller is not None:
            try:
                self._controller.DeleteVolume(
                    csi_pb2.DeleteVolumeRequest(volume_id=self.volume_id), timeout=60
                )
            except Exception as failure:  # noqa: BLE001
                self.leaks.append(
                    Leak("file-system", self.volume_id, "throughput", f"DeleteVolume: {failure}")
                )
        for channel in self._channels:
            channel.close()
        self._stack.close()

    def logs(self) -> Iterator[tuple[str, Path]]:
        if self._drivers is not None:
            yield from self._drivers.logs()
