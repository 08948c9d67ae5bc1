"""Fixtures for the reference driver: in-process drivers over real gRPC on Unix sockets.

`driver` runs the driver built by `build_server` (the production factory) with the in-memory
FSx fake and the recording mounter; integration tests use `emulator` and real mounts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from e2e.platforms.local.lustre_helper import LustreEmulation
from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from fsx_csi_harness.fsx import GIB
from reference_driver.config import DriverConfig, Endpoint
from reference_driver.mounter.base import CommandResult, SubprocessRunner
from reference_driver.server import DriverServer, build_server
from tests.reference_driver.fakes import FakeFsxApi, RecordingMounter

SUBNET = "subnet-0123456789abcdef0"
PERSISTENT_2 = {
    "subnetId": SUBNET,
    "deploymentType": "PERSISTENT_2",
    "perUnitStorageThroughput": "125",
}


def mount_capability(
    mode: csi_pb2.VolumeCapability.AccessMode.Mode.ValueType = (
        csi_pb2.VolumeCapability.AccessMode.MULTI_NODE_MULTI_WRITER
    ),
    flags: tuple[str, ...] = (),
) -> csi_pb2.VolumeCapability:
    return csi_pb2.VolumeCapability(
        mount=csi_pb2.VolumeCapability.MountVolume(mount_flags=list(flags)),
        access_mode=csi_pb2.VolumeCapability.AccessMode(mode=mode),
    )


def create_request(
    name: str, parameters: dict[str, str] | None = None, required_gib: int = 0, **kwargs: Any
) -> csi_pb2.CreateVolumeRequest:
    return csi_pb2.CreateVolumeRequest(
        name=name,
        capacity_range=csi_pb2.CapacityRange(required_bytes=required_gib * GIB),
        volume_capabilities=[mount_capability()],
        parameters=PERSISTENT_2 if parameters is None else parameters,
        **kwargs,
    )


@dataclass
class Csi:
    """Stubs for one driver endpoint."""

    channel: grpc.Channel
    identity: csi_pb2_grpc.IdentityStub = field(init=False)
    controller: csi_pb2_grpc.ControllerStub = field(init=False)
    node: csi_pb2_grpc.NodeStub = field(init=False)

    def __post_init__(self) -> None:
        self.identity = csi_pb2_grpc.IdentityStub(self.channel)
        self.controller = csi_pb2_grpc.ControllerStub(self.channel)
        self.node = csi_pb2_grpc.NodeStub(self.channel)


@dataclass(frozen=True)
class RpcFailure:
    """The status a failed call ended with (what clients read: code() and details())."""

    status: grpc.StatusCode
    text: str

    def code(self) -> grpc.StatusCode:
        return self.status

    def details(self) -> str:
        return self.text


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> RpcFailure:
    """Call and return the status of the RpcError it raises (fails the test if it succeeds)."""
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    failed: Any = caught.value  # a grpc.Call as well as an RpcError
    return RpcFailure(failed.code(), failed.details() or "")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short temporary directory (Unix socket paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="rd-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class InProcessDriver:
    server: DriverServer
    csi: Csi
    fsx: FakeFsxApi
    mounter: RecordingMounter
    config: DriverConfig


def driver_config(socket_dir: Path, **overrides: Any) -> DriverConfig:
    settings: dict[str, Any] = {
        "endpoint": Endpoint.parse(f"unix://{socket_dir}/csi.sock"),
        "node_id": "node-1",
        "poll_interval_min": 0.01,
        "poll_interval_max": 0.05,
        "create_timeout": 5.0,
    }
    settings.update(overrides)
    return DriverConfig(**settings)


@pytest.fixture
def fake_fsx() -> FakeFsxApi:
    return FakeFsxApi()


@pytest.fixture
def driver(short_dir: Path, fake_fsx: FakeFsxApi) -> Iterator[InProcessDriver]:
    mounter = RecordingMounter()
    config = driver_config(short_dir)
    server = build_server(config, fsx_client=fake_fsx, mounter=mounter)
    with server, grpc.insecure_channel(server.address) as channel:
        yield InProcessDriver(server, Csi(channel), fake_fsx, mounter, config)


# Integration: the FSx emulator over HTTP, real boto3, real bind mounts ---------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="real bind mounts need root (run the suite as root)"
)
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
}


# Real mounts (the Lustre emulation installed) need root; without it only the controller
# side of these fixtures is used.
MOUNTS = os.geteuid() == 0


@pytest.fixture(scope="module")
def lustre_emulation() -> Iterator[LustreEmulation]:
    """The Lustre emulation as the local platform installs it: a tmpfs root, a tmpfs per
    file system, mount.lustre in the mount namespaces of the driver's commands."""
    run_dir = Path(tempfile.mkdtemp(prefix="rd-emu-", dir="/tmp"))
    emulation = LustreEmulation(run_dir)
    try:
        if MOUNTS:
            emulation.prepare()
        else:
            emulation.emulation_root.mkdir()
        yield emulation
    finally:
        leaks = emulation.release()
        shutil.rmtree(run_dir, ignore_errors=True)
        assert not leaks, leaks


@pytest.fixture(scope="module")
def emulation_root(lustre_emulation: LustreEmulation) -> Path:
    return lustre_emulation.emulation_root


class EmulationRunner:
    """The driver's commands (mount, umount) run where mount(8) finds the emulation's
    mount.lustre: a mount namespace of their own, as the local platform starts drivers."""

    def __init__(self, emulation: LustreEmulation) -> None:
        self.emulation = emulation
        self.inner = SubprocessRunner()

    def run(self, argv: Sequence[str]) -> CommandResult:
        return self.inner.run(self.emulation.wrap(argv))


@pytest.fixture(scope="module")
def emulator_server(emulation_root: Path) -> Iterator[Any]:
    from fsx_emulator import EmulatorConfig, EmulatorServer

    config = EmulatorConfig(
        creation_delay=0.2,
        deletion_delay=0.1,
        update_delay=0.05,
        emulation_root=emulation_root,
        emulation_tmpfs=MOUNTS,
    )
    with EmulatorServer(config, host="127.0.0.1", port=0) as emu:
        yield emu


@pytest.fixture
def emulator(emulator_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The module's emulator, reset (no file systems, no faults, default delays)."""
    for key, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    emulator_server.control.reset()
    emulator_server.control.set_creation_delay(0.2)
    return emulator_server


def emulated_config(socket_dir: Path, emulator: Any, root: Path, **overrides: Any) -> DriverConfig:
    settings: dict[str, Any] = {
        "region": "us-east-1",
        "aws_endpoint_url": emulator.endpoint_url,
        "create_timeout": 10.0,
    }
    settings.update(overrides)
    return driver_config(socket_dir, **settings)


@dataclass
class EmulatedDriver:
    server: DriverServer
    csi: Csi
    emulator: Any
    root: Path
    # Where this test's target paths go: under the emulation's run directory, whose mounts
    # the driver's mount namespaces share with this process.
    targets: Path


@pytest.fixture
def emulated_driver(
    short_dir: Path,
    emulator: Any,
    emulation_root: Path,
    lustre_emulation: LustreEmulation,
) -> Iterator[EmulatedDriver]:
    runner = EmulationRunner(lustre_emulation) if MOUNTS else None
    server = build_server(emulated_config(short_dir, emulator, emulation_root), runner=runner)
    targets = Path(tempfile.mkdtemp(prefix="targets-", dir=emulation_root.parent))
    try:
        with server, grpc.insecure_channel(server.address) as channel:
            yield EmulatedDriver(server, Csi(channel), emulator, emulation_root, targets)
    finally:
        shutil.rmtree(targets, ignore_errors=True)


def live_file_systems(emulator: Any) -> list[dict[str, Any]]:
    return [fs for fs in emulator.control.file_systems() if fs["Lifecycle"] != "DELETING"]
