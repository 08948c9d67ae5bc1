"""The per-process session state and the per-case context the sanity cases use.

`SessionState` holds what one pytest process shares between cases: the frozen config, the
loaded input files, the connections, the name generator and the capability answers.
`SanityContext` is what a case sees (csi-test's TestContext plus its Resources): request
builders with the configured parameters and secrets, capability queries, per-case target and
staging directories, and the Resources proxy that cleans up after the case.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from google.protobuf.message import Message

from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from fsx_csi_harness.results import Leak
from sanity.config import SanityConfig, SanityInputs
from sanity.connection import ConnectError, Connection, connect
from sanity.locks import CaseLock, RunLock
from sanity.names import DefaultIdGenerator, FsxIdGenerator, IdGenerator, NameGenerator
from sanity.paths import PathKind, PathManager
from sanity.resources import Resources, cleanup_leak
from sanity.rpc import DriverHealth, DriverUnavailable, Response, RpcCaller, RpcClock

# The enum value types of the generated bindings (plain ints at run time).
VolumeMode: TypeAlias = csi_pb2.VolumeCapability.AccessMode.Mode.ValueType
ControllerCap: TypeAlias = csi_pb2.ControllerServiceCapability.RPC.Type.ValueType
NodeCap: TypeAlias = csi_pb2.NodeServiceCapability.RPC.Type.ValueType
PluginService: TypeAlias = csi_pb2.PluginCapability.Service.Type.ValueType
GroupCap: TypeAlias = csi_pb2.GroupControllerServiceCapability.RPC.Type.ValueType

SINGLE_NODE_WRITER = csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_WRITER


@dataclass
class SessionState:
    config: SanityConfig
    inputs: SanityInputs
    names: NameGenerator
    lock_dir: Path
    ids: IdGenerator = field(default_factory=DefaultIdGenerator)
    clock: RpcClock = field(default_factory=RpcClock)
    leaks: list[Leak] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.health = DriverHealth(self.config.endpoint)
        self.call = RpcCaller(self.health, self.clock, self.config.rpc_timeout or None)
        if "fsx" in self.config.profiles:
            self.ids = FsxIdGenerator()
        self.paths = PathManager(self.config)
        self.run_lock = RunLock(self.lock_dir)
        self.case_lock = CaseLock(self.run_lock)
        self._lock = threading.Lock()
        self._node_conn: Connection | None = None
        self._controller_conn: Connection | None = None
        self._connect_error: ConnectError | None = None
        self._stubs: DriverStubs | None = None
        self._controller_caps: frozenset[int] | None = None
        self._node_caps: frozenset[int] | None = None
        self._plugin_services: frozenset[int] | None = None
        self._group_caps: frozenset[int] | None = None
        self._case_counter = 0
        # Parent directories this process created, removed again (when empty) at the end.
        self.created_parents: set[str] = set()

    # --- connections -------------------------------------------------------------------------

    def connections(self) -> tuple[Connection, Connection]:
        """(node connection, controller connection); the same one without a controller endpoint.

        A failed connect is remembered so that the remaining cases fail at once with the same
        message instead of each waiting for the connect timeout again.
        """
        with self._lock:
            if self._connect_error is not None:
                raise self._connect_error
            try:
                if self._node_conn is None:
                    self._node_conn = connect(self.config.endpoint, self.config.connect_timeout)
                if self._controller_conn is None:
                    if self.config.controller_endpoint:
                        self._controller_conn = connect(
                            self.config.controller_endpoint, self.config.connect_timeout
                        )
                    else:
                        self._controller_conn = self._node_conn
            except ConnectError as exc:
                self._connect_error = exc
                raise
            return self._node_conn, self._controller_conn

    def stubs(self) -> DriverStubs:
        """The service stubs on the connections, made once rather than once per case."""
        node, controller = self.connections()
        with self._lock:
            if self._stubs is None:
                self._stubs = DriverStubs.on(node, controller)
            return self._stubs

    def check_driver(self) -> None:
        """Raise DriverUnavailable if an earlier case saw the driver go away and it has not
        come back."""
        lost = self.health.lost
        if lost is None:
            return
        node, controller = self.connections()
        if node.is_ready(timeout=1.0) and controller.is_ready(timeout=1.0):
            self.health.recovered()
            return
        raise DriverUnavailable(lost)

    def locked_call(self, rpc: str, method: Callable[..., Response], request: Message) -> Response:
        """`call` holding what the run lock asks for this RPC (see sanity/locks.py).

        The lock wait is not RPC time: the clock inside `call` starts after it.
        """
        with self.case_lock.around_rpc(rpc):
            return self.call(rpc, method, request)

    def close(self) -> None:
        self.case_lock.release_exclusive()
        with self._lock:
            for conn in {id(c): c for c in (self._node_conn, self._controller_conn) if c}.values():
                conn.close()
            self._node_conn = self._controller_conn = None
            self._stubs = None
        for parent in self.created_parents:
            with contextlib.suppress(OSError):  # not empty, or another worker's
                Path(parent).rmdir()

    # --- capabilities (asked once per process, re-asked while the answer is an error) --------

    def controller_capabilities(self, r: Resources) -> frozenset[int]:
        if self._controller_caps is None:
            self._controller_caps = _rpc_types(
                "ControllerGetCapabilities", r.controller_get_capabilities().capabilities
            )
        return self._controller_caps

    def node_capabilities(self, r: Resources) -> frozenset[int]:
        if self._node_caps is None:
            # csi-test's isNodeCapabilitySupported reads entries without rpc as UNKNOWN.
            self._node_caps = frozenset(
                cap.rpc.type for cap in r.node_get_capabilities().capabilities
            )
        return self._node_caps

    def plugin_services(self, identity: csi_pb2_grpc.IdentityStub) -> frozenset[int]:
        if self._plugin_services is None:
            response = self.call(
                "GetPluginCapabilities",
                identity.GetPluginCapabilities,
                csi_pb2.GetPluginCapabilitiesRequest(),
            )
            self._plugin_services = frozenset(
                cap.service.type for cap in response.capabilities if cap.HasField("service")
            )
        return self._plugin_services

    def group_capabilities(self, r: Resources) -> frozenset[int]:
        if self._group_caps is None:
            response = r.group_controller_get_capabilities()
            self._group_caps = frozenset(cap.rpc.type for cap in response.capabilities)
        return self._group_caps

    def next_case_dir_name(self) -> str:
        with self._lock:
            self._case_counter += 1
            return f"{self.names.run_id}-{self.names.worker_id}-{self._case_counter}"

    def new_context(self, case: str) -> SanityContext:
        self.health.current_case = case
        self.check_driver()
        return SanityContext(self, case, self.stubs())


def _rpc_types(
    rpc: str,
    capabilities: Iterable[csi_pb2.ControllerServiceCapability],
) -> frozenset[int]:
    """The RPC types ControllerGetCapabilities advertises; each entry must carry one
    (csi-test's isControllerCapabilitySupported expects it)."""
    types = []
    for cap in capabilities:
        assert cap.HasField("rpc"), f"{rpc} returned {cap} without rpc"
        types.append(cap.rpc.type)
    return frozenset(types)


@dataclass(frozen=True)
class DriverStubs:
    """The service stubs the cases call, on the node and controller connections."""

    # csi-test checks identity on both endpoints when they differ: by service name.
    identities: Mapping[str, csi_pb2_grpc.IdentityStub]
    controller: csi_pb2_grpc.ControllerStub
    node: csi_pb2_grpc.NodeStub
    group_controller: csi_pb2_grpc.GroupControllerStub

    @classmethod
    def on(cls, node: Connection, controller: Connection) -> DriverStubs:
        identities = {"Node Service": csi_pb2_grpc.IdentityStub(node.channel)}
        if controller is not node:
            identities["Controller Service"] = csi_pb2_grpc.IdentityStub(controller.channel)
        return cls(
            identities,
            csi_pb2_grpc.ControllerStub(controller.channel),
            csi_pb2_grpc.NodeStub(node.channel),
            csi_pb2_grpc.GroupControllerStub(controller.channel),
        )


def default_lock_dir(run_id: str) -> Path:
    return Path(tempfile.gettempdir(), f"csi-sanity-{run_id}")


class SanityContext:
    """What one sanity case works with; `close()` undoes everything it created."""

    def __init__(
        self,
        session: SessionState,
        case: str,
        stubs: DriverStubs,
    ) -> None:
        self.session = session
        self.config = session.config
        self.inputs = session.inputs
        self.names = session.names
        self.ids = session.ids
        self.case = case
        self.call = session.locked_call
        self.identities = stubs.identities
        self.identity = stubs.identities["Node Service"]
        self.resources = Resources(
            session.locked_call,
            stubs.controller,
            stubs.node,
            stubs.group_controller,
            session.inputs.secrets,
            case,
        )
        self.target_path = ""
        self.staging_path = ""
        self._closed = False

    # --- directories ---------------------------------------------------------------------------

    def create_directories(self) -> None:
        dir_name = self.session.next_case_dir_name()
        for parent in (self.config.mount_dir, self.config.staging_dir):
            if not Path(parent).exists():
                self.session.created_parents.add(parent)
        paths = self.session.paths
        self.target_path = paths.create_target(str(Path(self.config.mount_dir, dir_name)))
        self.staging_path = paths.create_staging(str(Path(self.config.staging_dir, dir_name)))
        self.resources.case_target = self.target_path + "/target"
        self.resources.case_staging = self.staging_path
        self.resources.node_stages = lambda: self.node_supports(
            csi_pb2.NodeServiceCapability.RPC.STAGE_UNSTAGE_VOLUME
        )

    def close(self) -> list[Leak]:
        """Undo what the case created, then remove its directories; return what leaked.

        Idempotent: after Ctrl-C the interrupt hook closes running cases first, and their
        fixture teardown closes them again at session end.
        """
        if self._closed:
            return []
        self._closed = True
        leaks = self.resources.cleanup()
        leaks += self._check_published_targets()
        strict = "strict" in self.config.profiles
        for path, remove in (
            (self.target_path, self.session.paths.remove_target),
            (self.staging_path, self.session.paths.remove_staging),
        ):
            if not path:
                continue
            try:
                remove(path)
            except Exception as exc:  # noqa: BLE001 - the leak report must survive anything
                reason = f"{exc.strerror}: {path}" if isinstance(exc, OSError) else str(exc)
                if strict:
                    leaks.append(cleanup_leak(self.case, "path", path, "remove directory", reason))
                else:
                    # csi-sanity's Teardown ignores this error and the case passes; say it.
                    warnings.warn(
                        f"csi-sanity: {self.case}: could not remove {path} ({reason}); "
                        "csi-sanity ignores this, the strict profile fails the case",
                        stacklevel=1,
                    )
        return leaks

    def _check_published_targets(self) -> list[Leak]:
        """After cleanup, each target path the case published at must be gone.

        The spec: NodeUnpublishVolume "MUST delete the file or directory it created at this
        path". csi-sanity's cleanup does not look (its Teardown removes the case directory
        and ignores the error), so in the default profile a leftover empty directory is
        removed here and the case passes; the strict profile reports it as a leak.
        """
        leaks: list[Leak] = []
        for target in sorted(self.resources.published_targets):
            try:
                kind = self.check_path(target)
            except Exception as exc:  # noqa: BLE001 - a failed check is reported, not raised
                leaks.append(cleanup_leak(self.case, "path", target, "check target path", str(exc)))
                continue
            if kind is PathKind.NOT_FOUND:
                continue
            if "strict" in self.config.profiles:
                leaks.append(
                    cleanup_leak(
                        self.case,
                        "path",
                        target,
                        "NodeUnpublishVolume",
                        f"the driver left a {kind.value} at the target path after "
                        "NodeUnpublishVolume succeeded; the spec says it MUST delete what it "
                        "created there",
                    )
                )
            if kind is PathKind.DIRECTORY and not self.config.remove_mount_path_cmd:
                # rmdir only: a leftover that is not empty (or still a mount) stays, and the
                # case directory's removal below reports it.
                with contextlib.suppress(OSError):
                    Path(target).rmdir()
        return leaks

    # --- csi-test's helpers ---------------------------------------------------------------------

    @property
    def test_volume_size(self) -> int:
        return self.config.test_volume_size

    @property
    def test_volume_expand_size(self) -> int:
        return self.config.effective_expand_size

    @property
    def volume_parameters(self) -> dict[str, str]:
        return dict(self.inputs.volume_parameters)

    @property
    def mutable_parameters(self) -> dict[str, str]:
        return dict(self.inputs.volume_mutable_parameters)

    def secret(self, name: str) -> dict[str, str]:
        return self.inputs.secrets.get(name)

    def volume_capability(self, mode: VolumeMode = SINGLE_NODE_WRITER) -> csi_pb2.VolumeCapability:
        """TestVolumeCapabilityWithAccessType: mount, or block with --csi.testvolumeaccesstype."""
        access_mode = csi_pb2.VolumeCapability.AccessMode(mode=mode)
        if self.config.access_type == "block":
            return csi_pb2.VolumeCapability(
                block=csi_pb2.VolumeCapability.BlockVolume(), access_mode=access_mode
            )
        return csi_pb2.VolumeCapability(
            mount=csi_pb2.VolumeCapability.MountVolume(), access_mode=access_mode
        )

    def make_create_volume_req(self, name: str) -> csi_pb2.CreateVolumeRequest:
        """csi-test's MakeCreateVolumeReq: only required_bytes, no limit, so that a driver
        that rounds the size up (every FSx driver) may."""
        return csi_pb2.CreateVolumeRequest(
            name=name,
            volume_capabilities=[self.volume_capability()],
            capacity_range=csi_pb2.CapacityRange(required_bytes=self.test_volume_size),
            parameters=self.volume_parameters,
            secrets=self.secret("CreateVolumeSecret"),
        )

    def make_create_snapshot_req(
        self, name: str, source_volume_id: str
    ) -> csi_pb2.CreateSnapshotRequest:
        return csi_pb2.CreateSnapshotRequest(
            name=name,
            source_volume_id=source_volume_id,
            parameters=dict(self.inputs.snapshot_parameters),
            secrets=self.secret("CreateSnapshotSecret"),
        )

    def make_delete_snapshot_req(self, snapshot_id: str) -> csi_pb2.DeleteSnapshotRequest:
        return csi_pb2.DeleteSnapshotRequest(
            snapshot_id=snapshot_id, secrets=self.secret("DeleteSnapshotSecret")
        )

    def make_delete_volume_req(self, volume_id: str) -> csi_pb2.DeleteVolumeRequest:
        return csi_pb2.DeleteVolumeRequest(
            volume_id=volume_id, secrets=self.secret("DeleteVolumeSecret")
        )

    def make_controller_publish_req(
        self, volume_id: str, node_id: str
    ) -> csi_pb2.ControllerPublishVolumeRequest:
        return csi_pb2.ControllerPublishVolumeRequest(
            volume_id=volume_id,
            node_id=node_id,
            volume_capability=self.volume_capability(),
            readonly=False,
            secrets=self.secret("ControllerPublishVolumeSecret"),
        )

    def make_expand_req(self, volume_id: str) -> csi_pb2.ControllerExpandVolumeRequest:
        return csi_pb2.ControllerExpandVolumeRequest(
            volume_id=volume_id,
            capacity_range=csi_pb2.CapacityRange(required_bytes=self.test_volume_expand_size),
            secrets=self.secret("ControllerExpandVolumeSecret"),
            volume_capability=self.volume_capability(),
        )

    def make_modify_req(self, volume_id: str) -> csi_pb2.ControllerModifyVolumeRequest:
        return csi_pb2.ControllerModifyVolumeRequest(
            volume_id=volume_id,
            mutable_parameters=self.mutable_parameters,
            secrets=self.secret("ControllerModifyVolumeSecret"),
        )

    def must_create_snapshot_from_volume_request(
        self, volume_request: csi_pb2.CreateVolumeRequest, snapshot_name: str
    ) -> tuple[csi_pb2.CreateSnapshotResponse, csi_pb2.CreateVolumeResponse]:
        volume = self.resources.must_create_volume(volume_request)
        snapshot = self.resources.must_create_snapshot(
            self.make_create_snapshot_req(snapshot_name, volume.volume.volume_id)
        )
        return snapshot, volume

    # --- capability queries -------------------------------------------------------------------

    def controller_supports(self, capability: ControllerCap) -> bool:
        return capability in self.session.controller_capabilities(self.resources)

    def node_supports(self, capability: NodeCap) -> bool:
        return capability in self.session.node_capabilities(self.resources)

    def plugin_provides(self, service: PluginService) -> bool:
        return service in self.session.plugin_services(self.identity)

    def group_controller_supports(self, capability: GroupCap) -> bool:
        return capability in self.session.group_capabilities(self.resources)

    def check_path(self, path: str) -> PathKind:
        return self.session.paths.check(path)

    def node_id(self) -> str:
        info = self.resources.node_get_info()
        assert info.node_id, "NodeGetInfo returned an empty node_id"
        return info.node_id

    def in_threads(self, count: int, action: Callable[[int], object]) -> list[object]:
        """Run `action(i)` for i in range(count) concurrently; return results or exceptions."""
        results: list[object] = [None] * count

        def run(index: int) -> None:
            try:
                results[index] = action(index)
            except Exception as exc:  # noqa: BLE001 - returned to the caller to assert on
                results[index] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results
