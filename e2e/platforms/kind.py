"""Platform `kind`: a throwaway kind cluster with the reference driver and the FSx emulator.

Steps (each timed into the run's details; expected budgets in e2e/README.md):

1. mount a tmpfs on the run's emulation root (`<work dir>/emulation-root`), then create the
   cluster from fixtures/kind/cluster.yaml (one control plane, two workers, that host
   directory shared by every node as the Lustre emulation root), named after the run. The
   tmpfs gives the emulated file systems a device of their own, which drivers built on
   Kubernetes' mount library need to see their bind mounts as mounts; it is mounted before
   `kind create cluster` because the nodes' bind mounts copy what is mounted there when their
   containers are created. Without root (or where the mount fails) the run goes on with the
   plain directory and says so in its details (`emulation_root_warning`); see
   e2e/platforms/emulation_root.py;
2. build the image (`docker build`, target `emulated`) and `kind load docker-image` it;
3. render fixtures/manifests/overlays/emulated, apply it, wait until the emulator, controller
   and node plugins run and the driver is registered on every node;
4. run the scenarios (e2e.platforms.kube), reaching the emulator through a port-forward to
   prove that file systems are gone;
5. on failure save events, object dumps, pod logs and `kind export logs` into the report
   directory; sweep leftovers; delete the cluster unless `--keep-cluster`, then unmount the
   emulation root (the pods' root-owned files go with it) and remove the work directory, on
   success, failure and Ctrl-C/SIGTERM alike; a kept cluster's release does the same after
   deleting it.

kind and docker are detected on PATH and never downloaded.

With `--manifests PATH` (another driver's kustomize directory, YAML directory or file; see
e2e/platforms/user_manifests.py) step 3 applies those objects instead of the reference driver,
beside the FSx emulator's Deployment and Service only, and waits for that driver's CSIDriver,
controller and node workloads and its registration on every node. The harness image is still
built: it runs the emulator and the scenario pods.

A kept cluster (`--keep-cluster`, and `fsx-csi qualify`, whose throughput suite runs on the e2e
suite's cluster) also gets the fio image (the Dockerfile's `fio` target, tagged
fsx-csi-harness:fio) built and loaded, so that the throughput suite's pods find fio without a
registry or internet; `--set fio-image=IMAGE` names another image instead (not built; loaded
when the local docker has it, else the nodes pull it).

Settings (`--set KEY=VALUE`): `image` (skip the build and load this image, which must exist in
the local docker), `fio-image`, `kind-config` (another cluster config with the same placeholder),
`cluster-name`, `wait` (seconds for the driver to become ready, default 300), `driver-name`
(the CSIDriver of `--manifests`, default fsx.csi.aws.com).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from e2e.platforms import Prerequisite, RunOptions

if TYPE_CHECKING:
    from e2e.platforms.commands import CommandRunner
    from e2e.platforms.emulation_root import HostEmulationRoot
    from e2e.platforms.kube.clients import KubeClients
    from e2e.platforms.kube.fsx_access import FsxClientFactory, PortForward
    from e2e.platforms.kube.orchestration import KeptCluster
    from e2e.platforms.user_manifests import DriverManifests
    from e2e.progress import Progress
    from e2e.results import RunResult
    from e2e.scenarios import Scenario

DEFAULT_IMAGE = "fsx-csi-harness:kind-e2e"
# The throughput suite's fio pods run this image (the Dockerfile's `fio` target: fio
# preinstalled, so pods need no internet); `--set fio-image=IMAGE` names another.
DEFAULT_FIO_IMAGE = "fsx-csi-harness:fio"
FIO_IMAGE_SETTING = "fio-image"
FIO_TARGET = "fio"
CREATE_TIMEOUT_S = 600.0
LOAD_TIMEOUT_S = 600.0


def cluster_name_for(run_id: str) -> str:
    """kind cluster names become container names (`<name>-control-plane`): keep them short."""
    from e2e.platforms.manifests import kube_name

    return kube_name(f"fsx-{run_id}", 40)


def fio_image_to_load(runner: CommandRunner, options: RunOptions) -> tuple[str, bool] | None:
    """The fio image a kept cluster's nodes need, and whether to build it first; None when the
    cluster is not kept (no throughput suite runs on it) or a named image is not in the local
    docker (a registry image the nodes pull themselves)."""
    if not options.keep_cluster:
        return None
    named = options.settings.get(FIO_IMAGE_SETTING)
    if named is None:
        return DEFAULT_FIO_IMAGE, True
    inspected = runner.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", named],
        what=f"looking for the fio image {named} in the local docker",
        timeout_s=30.0,
        check=False,
    )
    return (named, False) if inspected.returncode == 0 else None


def build_fio_image(runner: CommandRunner, image: str) -> None:
    """Build the throughput suite's fio image (the Dockerfile's `fio` target) as `image`."""
    from e2e.platforms import manifests

    runner.run(
        [
            "docker",
            "build",
            "--file",
            str(manifests.DOCKERFILE),
            "--target",
            FIO_TARGET,
            "--tag",
            image,
            str(manifests.REPO_ROOT),
        ],
        what=f"building the fio image {image}",
        timeout_s=manifests.IMAGE_BUILD_TIMEOUT_S,
        hint="run the same `docker build` by hand; the fio target installs fio from the "
        "distribution's package index",
    )


def docker_missing(runner: CommandRunner) -> list[Prerequisite]:
    """What keeps docker from working here: the CLI on PATH, then a daemon that answers."""
    from e2e.platforms.commands import CommandFailed

    if runner.which("docker") is None:
        return [
            Prerequisite(
                "docker",
                "not on PATH",
                "install Docker (Engine or Desktop) and make sure `docker info` works",
            )
        ]
    try:
        runner.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            what="asking the docker daemon for its version",
            timeout_s=30.0,
        )
    except CommandFailed as exc:
        tail = exc.result.output_tail.splitlines()[-1] if exc.result.output_tail else ""
        return [
            Prerequisite(
                "a Docker engine",
                f"`docker info` failed: {tail}",
                "start the Docker daemon (or Docker Desktop), or point DOCKER_HOST at one",
            )
        ]
    return []


def manifests_problems(runner: CommandRunner, options: RunOptions) -> list[Prerequisite]:
    """What is wrong with `--manifests` (nothing when unset): checked before anything starts."""
    from e2e.platforms.user_manifests import manifests_problems as problems

    return problems(runner, options)


def load_user_driver(
    runner: CommandRunner,
    options: RunOptions,
    progress: Progress,
    details: dict[str, str],
    emulated: bool,
) -> DriverManifests | None:
    """Another driver's manifests (`--manifests`), checked; None for the reference driver.
    On emulated AWS, warns (progress and the run's details) when the driver does not seem to
    be pointed at the in-cluster FSx emulator."""
    if options.manifests is None:
        return None
    from e2e.platforms.manifests import DRIVER_NAME
    from e2e.platforms.user_manifests import emulator_endpoint_warning, load_driver_manifests

    user = load_driver_manifests(
        runner, options.manifests, options.settings.get("driver-name", DRIVER_NAME)
    )
    progress.info(f"driver manifests: {user.describe()}")
    details["manifests"] = str(options.manifests)
    warning = emulator_endpoint_warning(user) if emulated else None
    if warning is not None:
        progress.info(f"warning: {warning}")
        details["manifests_warning"] = warning
    return user


def kustomize_missing(runner: CommandRunner) -> list[Prerequisite]:
    if runner.which("kubectl") or runner.which("kustomize"):
        return []
    return [
        Prerequisite(
            "kubectl",
            "neither kubectl nor kustomize is on PATH (the driver manifests are rendered with "
            "`kubectl kustomize`, the emulator is reached with `kubectl port-forward`)",
            "install kubectl 1.27 or newer",
        )
    ]


class KindPlatform:
    name = "kind"

    def __init__(
        self,
        runner: CommandRunner | None = None,
        connect: Callable[[Path], KubeClients] | None = None,
        port_forward: PortForward | None = None,
        fsx_client_factory: FsxClientFactory | None = None,
    ) -> None:
        self._runner = runner
        self._connect = connect
        self._port_forward = port_forward
        self._fsx_client_factory = fsx_client_factory
        # What the last run with --keep-cluster left standing (qualify runs throughput on it).
        self.kept: KeptCluster | None = None

    # Effects are built lazily so that loading the platform imports only the stdlib.
    def _commands(self, progress: Progress | None = None) -> CommandRunner:
        if self._runner is None:
            from e2e.platforms.commands import SubprocessRunner

            self._runner = SubprocessRunner(progress.info if progress else None)
        return self._runner

    def missing_prerequisites(self, options: RunOptions) -> list[Prerequisite]:
        runner = self._commands()
        missing: list[Prerequisite] = []
        if options.driver == "installed":
            missing.append(
                Prerequisite(
                    "a cluster with an installed driver",
                    "--driver installed asks for a driver already in the cluster, but kind "
                    "creates a new, empty cluster",
                    "use --platform cluster with the kubeconfig of that cluster",
                )
            )
        if runner.which("kind") is None:
            missing.append(
                Prerequisite(
                    "kind",
                    "not on PATH",
                    "install kind v0.24.0 or newer (https://kind.sigs.k8s.io/docs/user/quick-start/"
                    "#installation); the harness never downloads it",
                )
            )
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
        connect = self._connect or (lambda path: kube_clients.connect(path))
        fsx_factory = self._fsx_client_factory or boto3_fsx_client
        result = new_run_result(options, self.name)
        started = progress.clock()
        timings: dict[str, str] = {}
        name = options.settings.get("cluster-name") or cluster_name_for(options.run_id)
        work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=options.work_dir))
        kubeconfig = work / "kubeconfig"
        emulation_root = work / "emulation-root"
        emulation_root.mkdir()
        root = HostEmulationRoot(emulation_root, runner)
        created = False
        clients: KubeClients | None = None
        diagnostics = [manifests.DRIVER_NAMESPACE]
        try:
            # Another driver's manifests are read and checked before the cluster exists.
            user = load_user_driver(runner, options, progress, result.details, emulated=True)
            # Before `kind create cluster`: the nodes' bind mounts copy what is mounted on the
            # directory when their containers are created (e2e/platforms/emulation_root.py).
            warning = root.mount(result.details)
            if warning is not None:
                progress.info(f"warning: {warning}")
            config_path = work / "kind-config.yaml"
            template = Path(options.settings.get("kind-config", str(manifests.KIND_CONFIG)))
            config_path.write_text(manifests.kind_config(emulation_root, template))
            with timed(progress, f"creating kind cluster {name}", timings):
                created = True  # a failed create can leave containers behind: always delete
                runner.run(
                    [
                        "kind",
                        "create",
                        "cluster",
                        "--name",
                        name,
                        "--config",
                        str(config_path),
                        "--kubeconfig",
                        str(kubeconfig),
                        "--wait",
                        "180s",
                    ],
                    what=f"creating kind cluster {name}",
                    timeout_s=CREATE_TIMEOUT_S,
                    hint="check `docker ps -a` and free disk space; `kind create cluster` alone "
                    "should work on this machine",
                )
            image = self._image(runner, options, progress, timings, name)
            clients = connect(kubeconfig)
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
            with (
                timed(progress, "running the scenarios", timings),
                in_cluster_emulator(kubeconfig, self._port_forward) as emulator_url,
            ):
                result.details["emulator"] = f"in-cluster, reached via {emulator_url}"
                run_scenarios(
                    clients,
                    fsx_factory(emulator_url, options.region),
                    scenarios,
                    settings,
                    progress,
                    result,
                    options.report_dir,
                    diagnostics,
                )
        except (CommandFailed, RenderError, ManifestsError, *SETUP_ERRORS) as exc:
            record_setup_failure(
                result, scenarios, exc, progress, clients, options.report_dir, diagnostics
            )
        except KeyboardInterrupt:
            # The teardown below still runs; the caller writes the results of what ran.
            record_interrupted(result, scenarios, progress)
        finally:
            kept = created and options.keep_cluster
            try:
                if options.report_dir is not None and created and not result.passed:
                    self._export_logs(runner, name, options.report_dir / "kind-logs")
                if created and not options.keep_cluster:
                    with timed(progress, f"deleting kind cluster {name}", timings):
                        self._delete_cluster(runner, name, kubeconfig)
                elif created:
                    progress.info(
                        f"kept kind cluster {name}: `kubectl --kubeconfig {kubeconfig} get pods "
                        f"-A`; delete it with `kind delete cluster --name {name}`"
                    )
                    self.kept = KeptCluster(
                        kubeconfig,
                        f"kind cluster {name}",
                        self._releaser(runner, name, kubeconfig, root, work),
                    )
            finally:
                # After the delete (the nodes' bind mounts are gone with their containers), and
                # also when a second Ctrl-C cut the delete short: nothing of the run stays
                # mounted. A kept cluster still uses the root: its release unmounts it.
                if not kept:
                    tear_down_work_dir(root, work, result.leaks, result.details)
            result.details.update(timings)
            result.details["cluster"] = name
            if kept:
                result.details["kubeconfig"] = str(kubeconfig)
            result.duration_s = round(progress.clock() - started, 3)
        return result

    def _releaser(
        self,
        runner: CommandRunner,
        name: str,
        kubeconfig: Path,
        root: HostEmulationRoot,
        work: Path,
    ) -> Callable[[Progress], None]:
        """The kept cluster's release: delete it, then unmount its emulation root and remove
        the run directory (also when the delete is interrupted)."""
        from e2e.platforms.emulation_root import release_work_dir

        def release(progress: Progress) -> None:
            progress.info(f"deleting kind cluster {name}")
            try:
                self._delete_cluster(runner, name, kubeconfig)
            finally:
                release_work_dir(root, work, progress)

        return release

    def _image(
        self,
        runner: CommandRunner,
        options: RunOptions,
        progress: Progress,
        timings: dict[str, str],
        cluster: str,
    ) -> str:
        from e2e.platforms import manifests
        from e2e.platforms.kube.orchestration import timed

        image = options.settings.get("image")
        if image is None:
            image = DEFAULT_IMAGE
            with timed(progress, f"building image {image}", timings):
                manifests.build_image(runner, image)
        self._load(runner, image, cluster, progress, timings)
        fio = fio_image_to_load(runner, options)
        if fio is not None:
            fio_image, build = fio
            if build:
                with timed(progress, f"building the fio image {fio_image}", timings):
                    build_fio_image(runner, fio_image)
            self._load(runner, fio_image, cluster, progress, timings)
        return image

    @staticmethod
    def _load(
        runner: CommandRunner,
        image: str,
        cluster: str,
        progress: Progress,
        timings: dict[str, str],
    ) -> None:
        from e2e.platforms.kube.orchestration import timed

        with timed(progress, f"loading image {image} into {cluster}", timings):
            runner.run(
                ["kind", "load", "docker-image", image, "--name", cluster],
                what=f"loading image {image} into the kind nodes",
                timeout_s=LOAD_TIMEOUT_S,
                hint=f"check that `docker image inspect {image}` finds the image",
            )

    @staticmethod
    def _export_logs(runner: CommandRunner, cluster: str, directory: Path) -> None:
        runner.run(
            ["kind", "export", "logs", str(directory), "--name", cluster],
            what=f"exporting kind logs of {cluster}",
            timeout_s=300.0,
            check=False,
        )

    @staticmethod
    def _delete_cluster(runner: CommandRunner, name: str, kubeconfig: Path) -> None:
        runner.run(
            ["kind", "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)],
            what=f"deleting kind cluster {name}",
            timeout_s=300.0,
            check=False,
        )


def create_platform() -> KindPlatform:
    return KindPlatform()
