"""Platform `k3s`: a throwaway single-node K3s cluster through testcontainers, for users who
have Docker but not the kind binary (install the `k3s` extra: `pip install
fsx-csi-harness[k3s]`).

Steps: build the driver image with docker and save it as a tarball into a run directory;
mount a tmpfs on the run's emulation root (as on kind, and before the container starts: see
e2e/platforms/emulation_root.py; without root the run goes on with the plain directory and
says so); start testcontainers' K3sContainer with that directory and the emulation root
mounted; make the container's root mount shared (the node plugin's Bidirectional mount
propagation needs it, as kind's entrypoint arranges for kind nodes); import the image with
`k3s ctr`; then the same deploy / scenarios / sweep as kind; stop the container, unmount the
emulation root and remove the run directory (a kept container: by its release). K3s runs one
node, so the "other node" pods share it (the scenario's details say so): cross-node sharing
is proven on kind, not here.

`--manifests PATH` deploys another driver's manifests beside the emulator, as on kind.

With `--keep-cluster` (and under `fsx-csi qualify`, whose throughput suite runs on the e2e
suite's cluster) the container is left running, recorded in `kept` with how to stop it, and the
fio image of the throughput pods is built, saved and imported too (as on kind).

Settings (`--set KEY=VALUE`): `image` (skip the build; must exist in the local docker),
`fio-image`, `k3s-image` (default rancher/k3s:v1.31.0-k3s1), `wait`, `driver-name` (with
`--manifests`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from e2e.platforms import Prerequisite, RunOptions

if TYPE_CHECKING:
    from e2e.platforms.commands import CommandRunner
    from e2e.platforms.emulation_root import HostEmulationRoot
    from e2e.platforms.kube.clients import KubeClients
    from e2e.platforms.kube.fsx_access import FsxClientFactory, PortForward
    from e2e.platforms.kube.orchestration import KeptCluster
    from e2e.progress import Progress
    from e2e.results import RunResult
    from e2e.scenarios import Scenario

DEFAULT_K3S_IMAGE = "rancher/k3s:v1.31.0-k3s1"
DEFAULT_IMAGE = "fsx-csi-harness:k3s-e2e"
IMAGES_DIR_IN_NODE = "/var/lib/fsx-csi-images"


class K3sNode(Protocol):
    """What the platform uses of testcontainers' K3SContainer (the tests pass a fake)."""

    def with_volume_mapping(self, host: str, container: str, mode: str = ...) -> Any: ...

    def start(self) -> Any: ...

    def stop(self, force: bool = ..., delete_volume: bool = ...) -> None: ...

    def config_yaml(self) -> str: ...

    def get_wrapped_container(self) -> Any: ...


def testcontainers_k3s(image: str) -> K3sNode:
    from testcontainers.k3s import K3SContainer

    node: K3sNode = K3SContainer(image=image)
    return node


class K3sPlatform:
    name = "k3s"

    def __init__(
        self,
        runner: CommandRunner | None = None,
        node_factory: Callable[[str], K3sNode] | None = None,
        connect: Callable[[Path], KubeClients] | None = None,
        port_forward: PortForward | None = None,
        fsx_client_factory: FsxClientFactory | None = None,
        testcontainers_available: Callable[[], bool] | None = None,
    ) -> None:
        self._runner = runner
        self._node_factory = node_factory or testcontainers_k3s
        self._connect = connect
        self._port_forward = port_forward
        self._fsx_client_factory = fsx_client_factory
        self._testcontainers_available = testcontainers_available or _testcontainers_installed
        # What the last run with --keep-cluster left standing (qualify runs throughput on it).
        self.kept: KeptCluster | None = None

    def _commands(self, progress: Progress | None = None) -> CommandRunner:
        if self._runner is None:
            from e2e.platforms.commands import SubprocessRunner

            self._runner = SubprocessRunner(progress.info if progress else None)
        return self._runner

    def missing_prerequisites(self, options: RunOptions) -> list[Prerequisite]:
        from e2e.platforms.kind import docker_missing, kustomize_missing, manifests_problems

        missing: list[Prerequisite] = []
        if options.driver == "installed":
            missing.append(
                Prerequisite(
                    "a cluster with an installed driver",
                    "--driver installed, but k3s starts a new, empty cluster",
                    "use --platform cluster with the kubeconfig of that cluster",
                )
            )
        if not self._testcontainers_available():
            missing.append(
                Prerequisite(
                    "testcontainers' K3s module",
                    "the Python package testcontainers (with its k3s extra) is not installed",
                    "pip install 'fsx-csi-harness[k3s]'",
                )
            )
        runner = self._commands()
        missing += docker_missing(runner)
        missing += kustomize_missing(runner)
        missing += manifests_problems(runner, options)
        return missing

    def run(
        self, scenarios: Sequence[Scenario], options: RunOptions, progress: Progress
    ) -> RunResult:
        from e2e.platforms import manifests
        from e2e.platforms.commands import CommandFailed
        from e2e.platforms.emulation_root import HostEmulationRoot, tear_down_work_dir
        from e2e.platforms.kind import load_user_driver
        from e2e.platforms.kube import clients as kube_clients
        from e2e.platforms.kube.fsx_access import boto3_fsx_client, in_cluster_emulator
        from e2e.platforms.kube.orchestration import (
            SETUP_ERRORS,
            KeptCluster,
            deploy_emulated_driver,
            new_run_result,
            record_interrupted,
            record_setup_failure,
            run_scenarios,
            timed,
        )
        from e2e.platforms.manifests import RenderError
        from e2e.platforms.user_manifests import ManifestsError

        runner = self._commands(progress)
        result = new_run_result(options, self.name)
        started = progress.clock()
        timings: dict[str, str] = {}
        work = Path(tempfile.mkdtemp(prefix=f"k3s-{options.run_id}-", dir=options.work_dir))
        emulation_root = work / "emulation-root"
        images = work / "images"
        emulation_root.mkdir()
        images.mkdir()
        root = HostEmulationRoot(emulation_root, runner)
        node: K3sNode | None = None
        clients: KubeClients | None = None
        diagnostics = [manifests.DRIVER_NAMESPACE]
        try:
            user = load_user_driver(runner, options, progress, result.details, emulated=True)
            image = self._image(runner, options, progress, timings, images)
            saved = [
                ("image.tar", image),
                *self._fio_image(runner, options, progress, timings, images),
            ]
            # Before the container starts: its bind mount copies what is mounted on the
            # directory when docker creates it (e2e/platforms/emulation_root.py).
            warning = root.mount(result.details)
            if warning is not None:
                progress.info(f"warning: {warning}")
            node = self._node_factory(options.settings.get("k3s-image", DEFAULT_K3S_IMAGE))
            node.with_volume_mapping(str(emulation_root), manifests.NODE_EMULATION_ROOT, "rw")
            node.with_volume_mapping(str(images), IMAGES_DIR_IN_NODE, "ro")
            with timed(progress, "starting the K3s container", timings):
                node.start()
            with timed(progress, f"importing image {image} into K3s", timings):
                self._exec(node, ["mount", "--make-rshared", "/"], "sharing the root mount")
                for tarball, what in saved:
                    self._exec(
                        node,
                        ["k3s", "ctr", "images", "import", f"{IMAGES_DIR_IN_NODE}/{tarball}"],
                        f"importing {what}",
                    )
            kubeconfig = work / "kubeconfig"
            kubeconfig.write_text(node.config_yaml(), encoding="utf-8")
            kubeconfig.chmod(0o600)
            clients = (self._connect or (lambda path: kube_clients.connect(path)))(kubeconfig)
            settings = deploy_emulated_driver(
                clients,
                runner,
                user,
                image,
                options,
                self.name,
                progress,
                result,
                timings,
                diagnostics,
            )
            fsx_factory = self._fsx_client_factory or boto3_fsx_client
            with (
                timed(progress, "running the scenarios", timings),
                in_cluster_emulator(kubeconfig, self._port_forward) as url,
            ):
                run_scenarios(
                    clients,
                    fsx_factory(url, options.region),
                    scenarios,
                    settings,
                    progress,
                    result,
                    options.report_dir,
                    diagnostics,
                )
        except (
            CommandFailed,
            RenderError,
            ManifestsError,
            K3sExecFailed,
            *SETUP_ERRORS,
        ) as exc:
            record_setup_failure(
                result, scenarios, exc, progress, clients, options.report_dir, diagnostics
            )
        except KeyboardInterrupt:
            # The teardown below still runs; the caller writes the results of what ran.
            record_interrupted(result, scenarios, progress)
        finally:
            kept = node is not None and options.keep_cluster
            try:
                if node is not None and not options.keep_cluster:
                    with timed(progress, "stopping the K3s container", timings):
                        node.stop()
                elif node is not None:
                    kubeconfig = work / "kubeconfig"
                    progress.info(
                        f"kept the K3s container: `kubectl --kubeconfig {kubeconfig} get pods -A`"
                    )
                    self.kept = KeptCluster(
                        kubeconfig, "the K3s container", self._releaser(node, root, work)
                    )
                    result.details["kubeconfig"] = str(kubeconfig)
            finally:
                # After the container is gone (its bind mount with it), also when the stop was
                # cut short; a kept container still uses the root: its release unmounts it.
                if not kept:
                    tear_down_work_dir(root, work, result.leaks, result.details)
            result.details.update(timings)
            result.duration_s = round(progress.clock() - started, 3)
        return result

    def _image(
        self,
        runner: CommandRunner,
        options: RunOptions,
        progress: Progress,
        timings: dict[str, str],
        images: Path,
    ) -> str:
        from e2e.platforms import manifests
        from e2e.platforms.kind import LOAD_TIMEOUT_S
        from e2e.platforms.kube.orchestration import timed

        image = options.settings.get("image")
        if image is None:
            image = DEFAULT_IMAGE
            with timed(progress, f"building image {image}", timings):
                manifests.build_image(runner, image)
        with timed(progress, f"saving image {image}", timings):
            runner.run(
                ["docker", "save", "--output", str(images / "image.tar"), image],
                what=f"saving image {image} for K3s",
                timeout_s=LOAD_TIMEOUT_S,
                hint=f"check that `docker image inspect {image}` finds the image",
            )
        return image

    @staticmethod
    def _fio_image(
        runner: CommandRunner,
        options: RunOptions,
        progress: Progress,
        timings: dict[str, str],
        images: Path,
    ) -> list[tuple[str, str]]:
        """The fio image a kept cluster's throughput pods run, saved for import (as on kind)."""
        from e2e.platforms.kind import LOAD_TIMEOUT_S, build_fio_image, fio_image_to_load
        from e2e.platforms.kube.orchestration import timed

        fio = fio_image_to_load(runner, options)
        if fio is None:
            return []
        image, build = fio
        if build:
            with timed(progress, f"building the fio image {image}", timings):
                build_fio_image(runner, image)
        with timed(progress, f"saving image {image}", timings):
            runner.run(
                ["docker", "save", "--output", str(images / "fio.tar"), image],
                what=f"saving image {image} for K3s",
                timeout_s=LOAD_TIMEOUT_S,
                hint=f"check that `docker image inspect {image}` finds the image",
            )
        return [("fio.tar", image)]

    @staticmethod
    def _releaser(node: K3sNode, root: HostEmulationRoot, work: Path) -> Callable[[Progress], None]:
        """The kept container's release: stop it, then unmount its emulation root and remove
        the run directory (also when the stop is interrupted)."""
        from e2e.platforms.emulation_root import release_work_dir

        def release(progress: Progress) -> None:
            progress.info("stopping the K3s container")
            try:
                node.stop()
            finally:
                release_work_dir(root, work, progress)

        return release

    @staticmethod
    def _exec(node: K3sNode, argv: list[str], what: str) -> None:
        exit_code, output = node.get_wrapped_container().exec_run(argv)
        if exit_code != 0:
            text = output.decode("utf-8", errors="replace") if isinstance(output, bytes) else output
            raise K3sExecFailed(
                f"{what} in the K3s container failed: `{' '.join(argv)}` expected exit code 0, "
                f"seen {exit_code}: {str(text).strip()[-500:]}; try another --set "
                "k3s-image=... (K3s 1.27 or newer)"
            )


class K3sExecFailed(Exception):
    """A command inside the K3s container failed."""


def _testcontainers_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("testcontainers") is not None


def create_platform() -> K3sPlatform:
    return K3sPlatform()
