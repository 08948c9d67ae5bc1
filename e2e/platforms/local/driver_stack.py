"""`DriverStack`: an FSx endpoint, one controller plugin and node plugins, on this machine.

Not a cluster (no Kubernetes): what the local platform drives in place of one. The one place
that brings up a driver (the reference driver by default) this way, for the e2e local
platform, the throughput suite, qualify's sanity target and the sanity benchmark. Two
layouts: a controller process and `node_count` node processes (what e2e and throughput
publish on), or one process in mode all that is the controller and the only node (what
csi-sanity talks to: identity, controller and node on one endpoint).

Everything lives in one run-scoped directory:

    <work dir>/fsx-csi-<run id>-XXXX/
        sockets/{controller,node-0,node-1}.sock   the CSI endpoints (Unix sockets; all.sock
                                                   for the all-in-one layout)
        emulation/                                 the shared Lustre emulation root (a
                                                   tmpfs; a tmpfs per file system in it)
        lustre-helper/                             mount.lustre for the drivers' namespaces
                                                   (lustre_helper.py)
        nodes/node-N/                              node N's kubelet root (/var/lib/kubelet)
        pods/<pod>/                                a pod's output and chroot
        logs/<process>.log                         driver logs

The drivers are real subprocesses (children that die with the harness); two node plugins
sharing one emulation root are two nodes seeing one file system. `DriverStack` is a
context manager: leaving it (normally, on an exception or on Ctrl-C) stops the processes,
unmounts what is left under the run directory, deletes the run's file systems and removes
the directory; what it had to clean up is listed in `leaks`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc

from e2e.leaks import VOLUME_NAME_TAG, FileSystemGuard, ProcessTracker, sweep_mounts
from e2e.platforms.local.lustre_helper import HelperUnavailable, LustreEmulation
from e2e.progress import Probe, Progress
from fsx_csi_harness.channels import close_channel
from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from fsx_csi_harness.results import Leak
from fsx_emulator.config import EmulatorConfig

if TYPE_CHECKING:
    from mypy_boto3_fsx import FSxClient

    from fsx_emulator import EmulatorServer

PROJECT_ROOT = Path(__file__).resolve().parents[3]
NODE_COUNT = 2
_MAX_SOCKET_PATH = 100

# The driver under test is started from a command template (--driver-command), one process
# per plugin; the reference driver is only the default template, so there is one start path.
# Placeholders: {endpoint} {mode} {node_id} (what every CSI driver takes), and for drivers that
# take them as flags rather than from the environment, {aws_endpoint_url} {region}
# {emulation_root} {python}. The environment carries AWS_ENDPOINT_URL_FSX, AWS_REGION, dummy
# credentials (emulated AWS) and CSI_NODE_NAME, as a node plugin's pod spec would.
DRIVER_COMMAND_PLACEHOLDERS = (
    "endpoint", "mode", "node_id", "aws_endpoint_url", "region", "emulation_root", "python",
)  # fmt: skip
REFERENCE_DRIVER_COMMAND = (
    "{python} -m fsx_csi_harness driver --endpoint {endpoint} --mode {mode} "
    "--node-id {node_id} --aws-endpoint-url {aws_endpoint_url} --region {region}"
)


@dataclass(frozen=True)
class DriverStackConfig:
    run_id: str
    region: str = "us-east-1"
    # None: start an embedded emulator; otherwise an FSx endpoint that shares `emulation_root`.
    aws_endpoint_url: str | None = None
    emulation_root: Path | None = None
    creation_delay_s: float = 1.0
    deletion_delay_s: float = EmulatorConfig.deletion_delay
    work_dir: Path | None = None
    # The --driver-command template; None: the reference driver's.
    driver_command: str | None = None
    driver_start_timeout_s: float = 30.0
    # Where to copy driver logs when the run ends (the report bundle).
    log_dir: Path | None = None
    keep_work_dir: bool = False
    extra_env: Mapping[str, str] = field(default_factory=dict)
    node_count: int = NODE_COUNT
    # One process in mode all, the controller and the only node (node_count is then unused).
    all_in_one: bool = False
    # Drivers someone else runs (--csi.endpoint, repeatable): nothing is started; the first is
    # the controller and node-0, each further one another node. Empty: start `driver_command`.
    csi_endpoints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.node_count < 1:
            raise ValueError(f"node_count must be at least 1, got {self.node_count}")


@dataclass
class Plugin:
    name: str  # controller, node-0, node-1; all for the all-in-one layout
    socket: Path
    channel: grpc.Channel
    log: Path
    # None: a driver someone else runs (--csi.endpoint); the harness never started it.
    process: subprocess.Popen[bytes] | None
    # The command line it was started with, for messages ("what was started").
    argv: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    def describe(self) -> str:
        """What this plugin is, for a failure message: the command started, or the endpoint."""
        if self.process is None:
            return f"the driver at {self.endpoint}"
        return f"driver {self.name} ({shlex.join(self.argv)})"

    def exit_problem(self) -> str | None:
        """Why this plugin is gone (its exit code and last log lines); None while it runs or
        when the harness does not own its process."""
        if self.process is None or self.process.poll() is None:
            return None
        return (
            f"{self.describe()} exited with code {self.process.returncode}; last log lines "
            f"({self.log}):\n{log_tail(self.log)}"
        )


class DriverFailed(Exception):
    """A driver process would not start or died; the message carries its log tail."""


def log_tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:]) or "(empty log)"


def probe_identity(channel: grpc.Channel) -> Probe:
    """One Identity.Probe: done when the driver answers and does not say ready=false."""
    try:
        response = csi_pb2_grpc.IdentityStub(channel).Probe(csi_pb2.ProbeRequest(), timeout=1.0)
    except grpc.RpcError as exc:
        return Probe(False, f"Probe: {exc.code().name}")
    ready = not response.HasField("ready") or response.ready.value
    return Probe(ready, "ready" if ready else "Probe answered ready=false")


def plugin_info(channel: grpc.Channel) -> tuple[str, str]:
    """The driver's (name, vendor_version) from GetPluginInfo."""
    info = csi_pb2_grpc.IdentityStub(channel).GetPluginInfo(
        csi_pb2.GetPluginInfoRequest(), timeout=10
    )
    return info.name, info.vendor_version


def render_driver_command(template: str, values: Mapping[str, str]) -> list[str]:
    """The argv of one plugin from the --driver-command template; DriverFailed says what is
    wrong with the template (an unknown placeholder, unbalanced quotes, nothing to run)."""
    try:
        argv = shlex.split(template.format(**values))
    except KeyError as exc:
        raise DriverFailed(
            f"the driver command uses an unknown placeholder {{{exc.args[0]}}}; known: "
            + " ".join(f"{{{name}}}" for name in DRIVER_COMMAND_PLACEHOLDERS)
        ) from exc
    except (ValueError, IndexError) as exc:
        raise DriverFailed(f"the driver command {template!r} cannot be read: {exc}") from exc
    if not argv:
        raise DriverFailed(f"the driver command {template!r} names no program")
    return argv


def check_driver_command(template: str) -> None:
    """Raise DriverFailed now, before anything starts, if `template` cannot be rendered."""
    render_driver_command(template, {name: name for name in DRIVER_COMMAND_PLACEHOLDERS})


class DriverStack:
    def __init__(self, config: DriverStackConfig, progress: Progress) -> None:
        self.config = config
        self.progress = progress
        self.tracker = ProcessTracker()
        self.leaks: list[Leak] = []
        self.run_dir: Path | None = None
        self.sockets_dir: Path | None = None
        self.emulation_root: Path | None = None
        self.endpoint_url: str | None = None
        self.controller: Plugin | None = None
        self.nodes: list[Plugin] = []
        self.driver_name = ""
        self.driver_version = ""
        self._emulator: EmulatorServer | None = None
        self._lustre: LustreEmulation | None = None
        self._fsx: FSxClient | None = None
        self._guard: FileSystemGuard | None = None

    # ----------------------------------------------------------------- accessors

    @property
    def fsx(self) -> FSxClient:
        if self._fsx is None:
            raise DriverFailed(
                "the FSx API of the driver under test is not known here: pass "
                "--aws-endpoint-url (the FSx endpoint that driver talks to)"
            )
        return self._fsx

    @property
    def guard(self) -> FileSystemGuard:
        if self._guard is None:
            self.fsx  # noqa: B018 - raises the error that says why there is no FSx client
            raise AssertionError("DriverStack used outside its with-block")
        return self._guard

    def node_root(self, index: int) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "nodes" / f"node-{index}"

    @property
    def pods_dir(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "pods"

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> DriverStack:
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    def _aws_environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.config.extra_env)
        env["AWS_DEFAULT_REGION"] = self.config.region
        env["AWS_REGION"] = self.config.region
        if self.endpoint_url:
            # The service-specific variable the AWS SDKs (Go v2, boto3) read for FSx.
            env["AWS_ENDPOINT_URL_FSX"] = self.endpoint_url
        if self.config.aws_endpoint_url is None or "AWS_ACCESS_KEY_ID" not in env:
            # The emulator accepts any credentials; never hand real ones to it.
            env["AWS_ACCESS_KEY_ID"] = "testing"
            env["AWS_SECRET_ACCESS_KEY"] = "testing"  # noqa: S105 - emulator credentials
            env.pop("AWS_SESSION_TOKEN", None)
            env.pop("AWS_PROFILE", None)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _start(self) -> None:
        import boto3

        parent = self.config.work_dir or Path(tempfile.gettempdir())
        parent.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"fsx-csi-{self.config.run_id}-", dir=parent))
        for sub in ("logs", "pods", "nodes"):
            (self.run_dir / sub).mkdir()
        # Unix socket paths are limited to 107 bytes; a deep --work-dir gets its sockets in
        # a short directory of its own.
        self.sockets_dir = self.run_dir / "sockets"
        if len(str(self.sockets_dir / "controller.sock")) > _MAX_SOCKET_PATH:
            self.sockets_dir = Path(tempfile.mkdtemp(prefix=f"fsx-csi-{self.config.run_id[-6:]}-"))
        else:
            self.sockets_dir.mkdir()
        self.progress.info(f"run directory {self.run_dir}")

        if self.config.csi_endpoints and self.config.aws_endpoint_url is None:
            # The harness cannot know which FSx API a driver it did not start talks to.
            self.endpoint_url = None
            self.emulation_root = self.config.emulation_root
        elif self.config.aws_endpoint_url is None:
            from fsx_emulator import EmulatorServer

            self.emulation_root = self._install_lustre_emulation(None)
            self._emulator = EmulatorServer(
                EmulatorConfig(
                    region=self.config.region,
                    creation_delay=self.config.creation_delay_s,
                    deletion_delay=self.config.deletion_delay_s,
                    emulation_root=self.emulation_root,
                    emulation_tmpfs=True,
                ),
                host="127.0.0.1",
                port=0,
            ).start()
            self.endpoint_url = self._emulator.endpoint_url
            self.progress.info(f"embedded FSx emulator at {self.endpoint_url}")
        else:
            self.endpoint_url = self.config.aws_endpoint_url
            if self.config.emulation_root is None and not self.config.csi_endpoints:
                raise DriverFailed(
                    "an external FSx endpoint needs the emulation root it serves: pass "
                    "--set emulation-root=DIR (the emulator's --emulation-root)"
                )
            self.emulation_root = self.config.emulation_root
            if self.emulation_root is not None and not self.config.csi_endpoints:
                self._install_lustre_emulation(self.emulation_root)

        env = self._aws_environment()
        if self.endpoint_url is not None:
            self._fsx = boto3.client(
                "fsx",
                endpoint_url=self.endpoint_url,
                region_name=self.config.region,
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=env.get("AWS_SESSION_TOKEN"),
            )
            self._guard = FileSystemGuard(self._fsx, self.progress)

        # Start every process first, then wait: their start-up (imports) overlaps.
        if self.config.csi_endpoints:
            self.controller = self._connect("node-0", self.config.csi_endpoints[0])
            self.nodes = [self.controller] + [
                self._connect(f"node-{i}", endpoint)
                for i, endpoint in enumerate(self.config.csi_endpoints[1:], start=1)
            ]
            layout = f"{len(self.nodes)} endpoint(s) the harness did not start"
        elif self.config.all_in_one:
            self.controller = self._launch("all", "all", "node-0", env)
            self.nodes = [self.controller]
            layout = "one process in mode all"
        else:
            self.controller = self._launch("controller", "controller", "controller", env)
            self.nodes = [
                self._launch(f"node-{i}", "node", f"node-{i}", env)
                for i in range(self.config.node_count)
            ]
            layout = f"controller and {len(self.nodes)} nodes"
        for plugin in self.plugins:
            self._wait_ready(plugin)
        self.driver_name, self.driver_version = plugin_info(self.controller.channel)
        self.progress.info(f"driver {self.driver_name} {self.driver_version}: {layout} ready")

    @property
    def plugins(self) -> list[Plugin]:
        """Every driver process once (the all-in-one process is controller and node)."""
        started = [p for p in (self.controller, *self.nodes) if p is not None]
        return list({id(p): p for p in started}.values())

    def _connect(self, name: str, endpoint: str) -> Plugin:
        """A plugin someone else runs: a channel to it, no process."""
        assert self.run_dir is not None
        socket = Path(endpoint.removeprefix("unix://"))
        channel = grpc.insecure_channel(endpoint)
        return Plugin(name, socket, channel, self.run_dir / "logs" / f"{name}.log", None)

    def _install_lustre_emulation(self, external_root: Path | None) -> Path:
        """Before any driver starts: the emulation root (the run's own tmpfs unless an
        external emulator serves one) and the mount.lustre helper the drivers' namespaces
        get; says why when it cannot be installed here. Returns the emulation root."""
        assert self.run_dir is not None
        self._lustre = LustreEmulation(self.run_dir, external_root)
        try:
            self._lustre.prepare()
        except HelperUnavailable as exc:
            raise DriverFailed(f"the Lustre emulation cannot be installed here: {exc}") from exc
        self.progress.info(
            f"Lustre emulation: mount.lustre over {self._lustre.sbin} in each driver's own "
            f"mount namespace, file systems under {self._lustre.emulation_root}"
        )
        return self._lustre.emulation_root

    def _in_lustre_emulation(self, argv: list[str]) -> list[str]:
        return argv if self._lustre is None else self._lustre.wrap(argv)

    def _launch(self, name: str, mode: str, node_id: str, env: dict[str, str]) -> Plugin:
        assert self.run_dir is not None and self.emulation_root is not None
        assert self.sockets_dir is not None
        socket = self.sockets_dir / f"{name}.sock"
        values = {
            "python": shlex.quote(sys.executable),
            "endpoint": f"unix://{socket}",
            "mode": mode,
            "node_id": node_id,
            "aws_endpoint_url": shlex.quote(self.endpoint_url or ""),
            "region": self.config.region,
            "emulation_root": shlex.quote(str(self.emulation_root)),
        }
        argv = render_driver_command(self.config.driver_command or REFERENCE_DRIVER_COMMAND, values)
        log = self.run_dir / "logs" / f"{name}.log"
        node_env = {**env, "CSI_NODE_NAME": node_id}
        with log.open("wb") as output:
            try:
                process = self.tracker.start(
                    f"driver/{name}", self._in_lustre_emulation(argv), stdout=output,
                    stderr=output, env=node_env,
                    stdin=subprocess.DEVNULL, cwd=str(PROJECT_ROOT),
                )  # fmt: skip
            except OSError as exc:
                raise DriverFailed(
                    f"could not start driver {name} ({shlex.join(argv)}): {exc}"
                ) from exc
        channel = grpc.insecure_channel(f"unix://{socket}")
        return Plugin(name, socket, channel, log, process, tuple(argv))

    def _wait_ready(self, plugin: Plugin) -> None:
        from e2e.progress import WaitTimeout

        def probe() -> Probe:
            problem = plugin.exit_problem()
            if problem is not None:
                raise DriverFailed(
                    f"{problem}\n(it exited during start-up; expected it to serve CSI on "
                    f"{plugin.socket})"
                )
            if not plugin.socket.exists():
                return Probe(False, "socket not created yet")
            return probe_identity(plugin.channel)

        try:
            self.progress.wait(
                f"{plugin.describe()} to serve CSI on {plugin.endpoint}",
                probe,
                self.config.driver_start_timeout_s,
                poll_s=0.05,
                max_poll_s=0.3,
                hint=f"read {plugin.log}" if plugin.process is not None
                else "check that the driver runs and listens there",
            )  # fmt: skip
        except WaitTimeout as exc:
            tail = f"; last log lines:\n{log_tail(plugin.log)}" if plugin.process else ""
            raise DriverFailed(f"{exc}{tail}") from exc

    def exited_plugins(self) -> list[str]:
        """Why each driver process the harness started is gone (crashed mid-run)."""
        return [p for p in (plugin.exit_problem() for plugin in self.plugins) if p is not None]

    def _stop(self) -> None:
        """Stop everything; never raises (cleanup runs after failures and Ctrl-C too)."""
        plugins = self.plugins
        # Pods first, then node plugins, then the controller: as a cluster drains.
        pods = [n for n in self.tracker.running() if n.startswith("pod/")]
        self.leaks.extend(
            Leak("process", name, "pod still running at teardown", True) for name in pods
        )
        self.tracker.stop_all(pods)
        # Delete file systems while the emulator still runs.
        if self._guard is not None:
            try:
                self.leaks.extend(self._guard.sweep(self.config.run_id, timeout_s=60.0))
            except Exception as exc:  # noqa: BLE001 - report, keep cleaning up
                self.leaks.append(Leak("file-system", "?", f"sweep failed: {exc}", False))
        for plugin in plugins:
            close_channel(plugin.channel)
        self.tracker.stop_all([f"driver/{n.name}" for n in self.nodes])
        self.tracker.stop_all()
        self.leaks.extend(self.tracker.sweep())
        if self.run_dir is not None:
            if self._lustre is not None:
                self.leaks.extend(self._lustre.release())
            else:
                self.leaks.extend(sweep_mounts(self.run_dir))
            if self.config.log_dir is not None:
                self.config.log_dir.mkdir(parents=True, exist_ok=True)
                for log in (self.run_dir / "logs").glob("*.log"):
                    shutil.copy2(log, self.config.log_dir / f"driver-{log.name}")
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
        if self.sockets_dir is not None and self.run_dir not in self.sockets_dir.parents:
            shutil.rmtree(self.sockets_dir, ignore_errors=True)
        if self.run_dir is not None and not self.config.keep_work_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            if self.run_dir.exists():
                self.leaks.append(
                    Leak("directory", str(self.run_dir), "could not be removed", False)
                )

    def describe_state(self, volume_name: str) -> str:
        """The lifecycle of the file system being created for `volume_name`, for progress."""
        try:
            found = self.guard.matching({VOLUME_NAME_TAG: volume_name})
        except Exception as exc:  # noqa: BLE001 - progress text only
            return f"DescribeFileSystems failed: {exc}"
        if not found:
            return "no file system yet"
        fs: dict[str, Any] = found[0]
        return f"file system {fs['FileSystemId']} {fs.get('Lifecycle')}"
