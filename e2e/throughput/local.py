"""Local platform for throughput: one volume, published on every node of a local cluster.

The stack is the e2e local platform's (`DriverStack` in e2e/platforms/local/: the FSx emulator
embedded, or the user's AWS endpoint, one controller process and one node process per node,
sharing one emulation root), and the harness plays external-provisioner and kubelet over CSI
the same way (its `csi_roles`). What is throughput's own: the volume is created once,
published on every node, and its clients are the published targets plus the raw emulation
directory behind them (<root>/<file-system-id>/<mountname>), measured in the same run for the
overhead ratio. Alternatively `csi_endpoint` points at a driver someone else runs (mode all);
then there is one node and no raw directory unless `emulation_root` says where that driver
keeps it.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from e2e.throughput.runner import Client, directory_check, mount_points
from fsx_csi_harness.fsx import DEFAULT_CAPACITY_GIB, GIB
from fsx_csi_harness.results import Leak

if TYPE_CHECKING:
    import grpc

    from e2e.platforms.local.csi_roles import ExternalProvisioner, Kubelet, PersistentVolume
    from e2e.platforms.local.driver_stack import DriverStack
    from fsx_csi_harness.results import Expected

DEFAULT_PARAMETERS = {
    "subnetId": "subnet-0123456789abcdef0",
    "securityGroupIds": "sg-0123456789abcdef0",
    "deploymentType": "SCRATCH_2",
}
# The suite that reports the leaks, and the scenario tag on the file system (tagged like an
# e2e scenario's, so that the cluster's leak sweep finds it).
SUITE = "throughput"


class LocalSetupError(Exception):
    """The harness could not bring up the local volume (not a verdict on throughput)."""


@dataclass
class LocalVolumeConfig:
    run_id: str
    work_dir: Path
    nodes: int = 2
    capacity_gib: int = DEFAULT_CAPACITY_GIB
    parameters: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PARAMETERS))
    creation_delay_s: float = 0.2
    # An external driver (mode all) instead of spawning the reference driver.
    csi_endpoint: str | None = None
    # The driver to start in place of the reference driver (--driver-command template).
    driver_command: str | None = None
    # The emulation root of the external driver, or of the emulator at `aws_endpoint_url`
    # (that one needs it: the emulated mounts bind its directories).
    emulation_root: Path | None = None
    aws_endpoint_url: str | None = None
    region: str = "us-east-1"
    rpc_timeout_s: float = 120.0
    start_timeout_s: float = 30.0
    # Where the driver logs are copied when the volume is torn down (the report bundle).
    log_dir: Path | None = None


@dataclass
class _Node:
    name: str  # the client's name in the report: node-1, node-2, ...
    kubelet: Kubelet
    pod_uid: str
    target: Path | None = None


class LocalVolume:
    """Context manager: the local cluster (or an external driver), one volume published on
    every node.

    `clients()` gives the published targets and `raw_client()` the raw directory when known;
    on exit everything is unpublished, deleted and stopped, and what could not be is in
    `leaks`.
    """

    def __init__(self, config: LocalVolumeConfig, progress: Callable[[str], None]) -> None:
        from e2e.progress import LineProgress

        self.config = config
        self._progress = LineProgress(progress, prefix="throughput: ")
        self._stack = contextlib.ExitStack()
        self.leaks: list[Leak] = []
        self.emulation_root: Path | None = config.emulation_root
        self.driver_name: str | None = None
        self.driver_version: str | None = None
        self._cluster: DriverStack | None = None
        self._provisioner: ExternalProvisioner | None = None
        self._nodes: list[_Node] = []
        self._volume: PersistentVolume | None = None

    @property
    def volume_id(self) -> str | None:
        return self._volume.volume_id if self._volume is not None else None

    @property
    def targets(self) -> dict[str, Path]:
        return {node.name: node.target for node in self._nodes if node.target is not None}

    # -- setup ---------------------------------------------------------------------------
    def __enter__(self) -> LocalVolume:
        try:
            self._start()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _start(self) -> None:
        from e2e.platforms.local.csi_roles import ExternalProvisioner, Kubelet

        config = self.config
        config.work_dir.mkdir(parents=True, exist_ok=True)
        if config.csi_endpoint is None:
            controller, nodes = self._start_cluster()
        else:
            controller = self._connect(config.csi_endpoint)
            nodes = [(config.csi_endpoint, controller, config.work_dir / "node-1")]
        self._provisioner = ExternalProvisioner(controller, self._progress)
        self._create_volume()
        assert self._volume is not None
        for index, (plugin_name, channel, root) in enumerate(nodes):
            # Clients keep the report's names (node-1, ...) whatever the plugins are called.
            name = f"node-{index + 1}"
            kubelet = Kubelet(plugin_name, channel, root, self.driver_name or "", self._progress)
            node = _Node(name, kubelet, pod_uid=str(uuid.uuid4()))
            self._nodes.append(node)
            node.target = kubelet.publish(
                node.pod_uid, self._volume, read_only=False, timeout_s=config.rpc_timeout_s
            )
            self._progress.info(
                f"published {self.volume_id} on {name} ({kubelet.node_name}) at {node.target}"
            )

    def _start_cluster(self) -> tuple[grpc.Channel, list[tuple[str, grpc.Channel, Path]]]:
        """The driver stack (the reference driver, or `driver_command`'s); its controller
        channel and (plugin name, channel, kubelet root) per node."""
        from e2e.platforms.local.driver_stack import DriverFailed, DriverStack, DriverStackConfig
        from e2e.progress import WaitTimeout

        config = self.config
        if config.aws_endpoint_url is not None and config.emulation_root is None:
            raise LocalSetupError(
                f"--aws-endpoint-url {config.aws_endpoint_url} needs the emulation root that "
                "endpoint's emulator serves (its --emulation-root): the emulated Lustre mounts "
                "bind its directories; pass --emulation-root DIR"
            )
        cluster = DriverStack(
            DriverStackConfig(
                run_id=config.run_id,
                region=config.region,
                aws_endpoint_url=config.aws_endpoint_url,
                emulation_root=config.emulation_root,
                creation_delay_s=config.creation_delay_s,
                deletion_delay_s=0.1,
                work_dir=config.work_dir,
                driver_start_timeout_s=config.start_timeout_s,
                log_dir=config.log_dir,
                node_count=config.nodes,
                driver_command=config.driver_command,
            ),
            self._progress,
        )
        self._cluster = cluster
        try:
            self._stack.enter_context(cluster)
        except (DriverFailed, WaitTimeout) as exc:
            raise LocalSetupError(str(exc)) from exc
        assert cluster.controller is not None
        self.emulation_root = cluster.emulation_root
        self.driver_name, self.driver_version = cluster.driver_name, cluster.driver_version
        nodes = [
            (f"driver {plugin.name}", plugin.channel, cluster.node_root(i))
            for i, plugin in enumerate(cluster.nodes)
        ]
        return cluster.controller.channel, nodes

    def _connect(self, endpoint: str) -> grpc.Channel:
        """A channel to a driver someone else runs, once it answers Probe."""
        import grpc

        from e2e.platforms.local.driver_stack import plugin_info, probe_identity
        from e2e.progress import WaitTimeout

        channel = grpc.insecure_channel(endpoint)
        self._stack.callback(channel.close)
        try:
            self._progress.wait(
                f"the CSI endpoint {endpoint} to serve",
                lambda: probe_identity(channel),
                self.config.start_timeout_s,
                poll_s=0.05,
                max_poll_s=0.5,
                hint="check that the driver runs and listens there",
            )
        except WaitTimeout as exc:
            raise LocalSetupError(str(exc)) from exc
        self.driver_name, self.driver_version = plugin_info(channel)
        return channel

    def _create_volume(self) -> None:
        from e2e.leaks import with_run_tags

        assert self._provisioner is not None
        config = self.config
        self._progress.info(f"CreateVolume throughput-{config.run_id} ({config.capacity_gib} GiB)")
        self._volume = self._provisioner.create_volume(
            pv_name=f"throughput-{config.run_id}",
            claim_name=SUITE,
            namespace="default",
            parameters=with_run_tags(config.parameters, config.run_id, SUITE),
            size_bytes=config.capacity_gib * GIB,
            access_modes=("ReadWriteMany",),
            mount_options=(),
            timeout_s=config.rpc_timeout_s,
        )

    def expected(self) -> tuple[Expected | None, str | None]:
        """What real FSx would give the volume's file system, from DescribeFileSystems of the
        FSx API the driver talks to (the stack's emulator, or `aws_endpoint_url`); a note
        instead when that API is not known here (an external driver's own)."""
        from e2e.throughput.expected import describe_expected

        if self.volume_id is None:
            return None, "no expected FSx figures: no volume was created"
        if self._cluster is not None:
            return describe_expected(self._cluster.fsx, self.volume_id)
        if self.config.aws_endpoint_url is not None:
            from e2e.platforms.kube.fsx_access import boto3_fsx_client

            client = boto3_fsx_client(self.config.aws_endpoint_url, self.config.region)
            return describe_expected(client, self.volume_id)
        return None, (
            "no expected FSx figures: the FSx API of the driver at "
            f"{self.config.csi_endpoint} is not known here (pass --aws-endpoint-url)"
        )

    # -- what the workloads run on ---------------------------------------------------------
    @property
    def raw_directory(self) -> Path | None:
        if self._volume is None or self.emulation_root is None:
            return None
        mount_name = self._volume.volume_context.get("mountname")
        if not mount_name:
            return None
        directory = self.emulation_root / self._volume.volume_id / mount_name
        return directory if directory.is_dir() else None

    def clients(self) -> list[Client]:
        return [
            Client(name, "published", target, directory_check(target, must_be_mount=True))
            for name, target in self.targets.items()
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
        volume = self._volume
        for node in self._nodes:
            if volume is None or node.target is None:
                continue
            try:
                node.kubelet.unpublish(node.pod_uid, volume, timeout_s=30)
            except Exception as failure:  # noqa: BLE001 - every failure is a leak to report
                self.leaks.append(
                    Leak("publication", str(node.target), f"NodeUnpublish: {failure}")
                )
            if str(node.target.resolve()) in mount_points():
                self.leaks.append(Leak("mount", str(node.target), "still mounted after unpublish"))
        if volume is not None and self._provisioner is not None:
            try:
                self._provisioner.delete_volume(volume.volume_id, timeout_s=60)
                # DeleteVolume returns while the file system is DELETING; the cluster's leak
                # sweep would count it, so wait for it to be gone, as e2e's teardown does.
                if self._cluster is not None:
                    self._cluster.guard.wait_gone(volume.volume_id, timeout_s=60)
            except Exception as failure:  # noqa: BLE001
                self.leaks.append(Leak("file-system", volume.volume_id, f"DeleteVolume: {failure}"))
        self._stack.close()
        if self._cluster is not None:
            self.leaks.extend(self._cluster.leaks)
