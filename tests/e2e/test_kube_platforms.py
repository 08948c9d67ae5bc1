"""The kind, cluster and k3s platforms, checked without a cluster: the exact kind/docker command
lines (recording runner), the exact Kubernetes API calls (fake_kube.FakeCluster, real
kubernetes client models), the FSx side through the project's emulator over HTTP. The real
paths run at the end only where Docker, kind, a kubeconfig or AWS credentials exist; here
they skip, naming what is missing.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from kubernetes.client.exceptions import ApiException

from e2e import leaks
from e2e.platforms import RunOptions, manifests
from e2e.platforms import cluster as cluster_platform
from e2e.platforms import k3s as k3s_platform
from e2e.platforms import kind as kind_platform
from e2e.platforms.commands import CommandFailed, CommandResult, SubprocessRunner
from e2e.platforms.kube import apply as kube_apply
from e2e.platforms.kube import readiness
from e2e.platforms.kube.clients import KubeClients
from e2e.platforms.kube.objects import KubeRunSettings
from e2e.platforms.kube.observe import schedulable_nodes
from e2e.platforms.kube.operations import KubeScenarioRunner
from e2e.platforms.kube.orchestration import run_scenarios
from e2e.progress import Progress
from e2e.results import Outcome, RunResult
from e2e.scenarios import Scenario, load_scenarios, select_scenarios
from fsx_csi_harness.results import DriverInfo
from fsx_emulator.config import EmulatorConfig
from fsx_emulator.server import EmulatorServer
from tests.e2e import fake_kube
from tests.e2e.fake_kube import DRIVER, ContainerHealth, FakeCluster, PodScript, image_id

REPO = manifests.REPO_ROOT
RUN_ID = "e2e-20250101-120000-abc123"
HAVE_KUBECTL = SubprocessRunner().which("kubectl") is not None
needs_kubectl = pytest.mark.skipif(
    not HAVE_KUBECTL, reason="kubectl is not on PATH: the platforms render manifests with it"
)


class RecordingRunner:
    """Records every command line; `kubectl kustomize` really runs (the manifests are data we
    want rendered for real); other tools answer from `answers` (default: success)."""

    def __init__(self, tools: Sequence[str] = ("kind", "docker", "kubectl")) -> None:
        self.tools = set(tools)
        self.commands: list[list[str]] = []
        self.answers: dict[tuple[str, ...], CommandResult] = {}
        self._real = SubprocessRunner()

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}" if name in self.tools else None

    def run(
        self,
        argv: Sequence[str],
        *,
        what: str,
        timeout_s: float,
        hint: str = "",
        check: bool = True,
        stdin_path: Path | None = None,
        env: Any = None,
    ) -> CommandResult:
        self.commands.append(list(argv))
        if list(argv[:2]) == ["kubectl", "kustomize"]:
            return self._real.run(argv, what=what, timeout_s=timeout_s)
        for prefix, answer in self.answers.items():
            if tuple(argv[: len(prefix)]) == prefix:
                result = CommandResult(
                    tuple(argv), answer.returncode, answer.stdout, answer.stderr, 0.0
                )
                if check and result.returncode != 0:
                    raise CommandFailed(result, what, hint)
                return result
        return CommandResult(tuple(argv), 0, "", "", 0.0)

    def without_kustomize(self) -> list[list[str]]:
        return [c for c in self.commands if c[:2] != ["kubectl", "kustomize"]]


class FastClock:
    """Progress clock/sleep: sleeps advance a virtual clock (and yield a little real time so
    the emulator's background lifecycle can move)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        time.sleep(0.002)


@pytest.fixture
def progress() -> Progress:
    fast = FastClock()
    return Progress(stream=io.StringIO(), clock=fast.clock, sleep=fast.sleep)


@pytest.fixture
def cluster(emulator: Any) -> FakeCluster:
    fake = FakeCluster(emulator)
    fake.pod_scripts["fsx-app"] = PodScript(
        exec_results=[(0, "Mon hello from FSx\n"), (0, "Mon hello from FSx\nMon hello from FSx\n")]
    )
    fake.pod_scripts["fsx-app-other-node"] = PodScript(log="a hello from FSx\nb hello from FSx\n")
    fake.pod_scripts["static-writer"] = PodScript(log="hello from FSx (static)\n")
    fake.pod_scripts["static-reader"] = PodScript(log="hello from FSx (static)\n")
    fake.pod_scripts["after-expansion"] = PodScript(log="hello from FSx before expansion\n")
    return fake


def clients_of(fake: FakeCluster) -> KubeClients:
    return fake.clients()


@contextmanager
def no_port_forward(
    kubeconfig: Path | None, namespace: str, service: str, port: int
) -> Iterator[str]:
    assert (namespace, service, port) == ("fsx-csi", "fsx-emulator", 8080)
    yield "http://127.0.0.1:18080"


def scenarios(*names: str) -> list[Scenario]:
    return select_scenarios(load_scenarios(), list(names))


def options(tmp_path: Path, **kwargs: Any) -> RunOptions:
    return RunOptions(run_id=RUN_ID, work_dir=tmp_path, report_dir=tmp_path / "report", **kwargs)


def kind_with(
    fake: FakeCluster, runner: RecordingRunner, emulator: Any
) -> kind_platform.KindPlatform:
    return kind_platform.KindPlatform(
        runner=runner,
        connect=lambda path: clients_of(fake),
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: emulator,
    )


# --------------------------------------------------------------------------- kind


@needs_kubectl
def test_kind_runs_cluster_image_deploy_scenarios_and_deletes_the_cluster(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    runner = RecordingRunner()
    platform = kind_with(cluster, runner, emulator)
    chosen = scenarios("dynamic", "static", "expansion", "invalid-parameters")

    result = platform.run(chosen, options(tmp_path), progress)

    assert [s.outcome for s in result.scenarios] == [Outcome.PASSED] * 4, [
        s.message for s in result.scenarios
    ]
    assert result.leaks == [] and result.passed
    # The suite names the driver it exercised, read from the cluster: the name registered on
    # the workers and the node plugin's image with the digest the kubelet reported.
    loaded = "fsx-csi-harness:kind-e2e"
    assert result.to_suite().driver == DriverInfo(DRIVER, f"image {loaded} ({image_id(loaded)})")
    assert result.details["driver_controller_image"] == f"fsx-plugin: {loaded} ({image_id(loaded)})"
    assert "on 2 node(s) (kind-worker, kind-worker2)" in result.details["driver_identity"]
    assert "(pods app=fsx-csi-node in fsx-csi)" in result.details["driver_identity"]
    name = "fsx-e2e-20250101-120000-abc123"
    commands = runner.without_kustomize()
    work = Path(commands[1][commands[1].index("--config") + 1]).parent
    root = str(work / "emulation-root")
    # The tmpfs is on the shared directory before the nodes exist, and off it once they are gone.
    assert commands == [
        ["mount", "-t", "tmpfs", "-o", "mode=0755", "fsx-emulation", root],
        [
            "kind",
            "create",
            "cluster",
            "--name",
            name,
            "--config",
            str(work / "kind-config.yaml"),
            "--kubeconfig",
            str(work / "kubeconfig"),
            "--wait",
            "180s",
        ],
        [
            "docker",
            "build",
            "--file",
            str(REPO / "Dockerfile"),
            "--target",
            "emulated",
            "--tag",
            "fsx-csi-harness:kind-e2e",
            str(REPO),
        ],
        ["kind", "load", "docker-image", "fsx-csi-harness:kind-e2e", "--name", name],
        ["kind", "delete", "cluster", "--name", name, "--kubeconfig", str(work / "kubeconfig")],
        ["umount", "--recursive", "--lazy", root],
    ]
    assert result.details["emulation_root"] == f"a tmpfs of its own on {root}, shared by every node"
    assert "emulation_root_warning" not in result.details
    assert [
        "kubectl",
        "kustomize",
        str(REPO / "fixtures/manifests/overlays/emulated"),
    ] in runner.commands
    assert not work.exists(), "the run's work directory is removed with the cluster"
    for step in (
        "creating kind cluster",
        "building image",
        "loading image",
        "deploying",
        "running the scenarios",
    ):
        assert any(key.startswith(f"step: {step}") for key in result.details), step

    # Every object applied carries the run id and runs the loaded image without pulling.
    deployment = cluster.applied[("Deployment", "fsx-csi", "fsx-csi-controller")]
    assert deployment["metadata"]["labels"][manifests.RUN_ID_LABEL] == manifests.kube_name(RUN_ID)
    plugin = deployment["spec"]["template"]["spec"]["containers"][0]
    assert (plugin["image"], plugin["imagePullPolicy"]) == ("fsx-csi-harness:kind-e2e", "Never")
    assert all(
        body["metadata"]["labels"][manifests.RUN_ID_LABEL] == manifests.kube_name(RUN_ID)
        for body in cluster.applied.values()
    )
    # Nothing of the run is left in the fake cluster or the FSx API.
    assert not cluster.pods and not cluster.claims and not cluster.volumes
    assert not cluster.storage_classes and not cluster.namespaces
    assert emulator.describe_file_systems()["FileSystems"] == []


def test_dynamic_scenario_makes_these_api_calls_in_this_order(
    cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    clients = clients_of(cluster)
    settings = KubeRunSettings(
        run_id=RUN_ID, platform="kind", namespace="fsx-csi-e2e", pod_image="img:1"
    )
    runner = KubeScenarioRunner(
        clients,
        leaks.FileSystemGuard(emulator, progress),
        emulator,
        progress,
        settings,
        schedulable_nodes(clients),
    )
    runner.ensure_namespace()

    result = runner.run(scenarios("dynamic")[0])

    assert result.outcome is Outcome.PASSED, result.message
    storage_class = f"{RUN_ID}-dynamic"
    assert cluster.calls.mutations() == [
        "create_namespace fsx-csi-e2e",
        f"create_storage_class {storage_class}",
        "create_namespaced_persistent_volume_claim dynamic",
        "create_namespaced_pod fsx-app",
        "create_namespaced_pod fsx-app-other-node",
        "delete_namespaced_pod fsx-app-other-node",
        "delete_namespaced_pod fsx-app",
        "delete_namespaced_persistent_volume_claim dynamic",
        f"delete_storage_class {storage_class}",
    ]
    sc_body = next(a["args"][0] for n, a in cluster.calls if n == "create_storage_class")
    assert sc_body.provisioner == "fsx.csi.aws.com"
    assert sc_body.parameters["deploymentType"] == "SCRATCH_2"
    assert f"fsx-csi-harness/run-id={RUN_ID}" in sc_body.parameters["extraTags"]
    pods = [a["args"][1] for n, a in cluster.calls if n == "create_namespaced_pod"]
    nodes = [
        p.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms[
            0
        ]
        .match_expressions[0]
        .values
        for p in pods
    ]
    assert nodes == [["kind-worker"], ["kind-worker2"]], "two pods on two different workers"
    writer = pods[0].spec.containers[0]
    assert writer.command[:2] == ["sh", "-c"] and "hello from FSx" in writer.command[2]
    assert writer.volume_mounts[0].mount_path == "/data"
    assert {e.name: e.value for e in writer.env} == {"WRITE_PERIOD": "5"}
    # The check was retried until two lines were there.
    assert cluster.exec_calls == [("fsx-app", ["sh", "-c", "cat /data/out.txt"])] * 2
    fs_id = result.details["file_system_id"]
    assert fs_id.startswith("fs-")
    with pytest.raises(emulator.exceptions.FileSystemNotFound):
        emulator.describe_file_systems(FileSystemIds=[fs_id])


def test_rejected_storage_class_passes_only_with_the_named_parameter_and_no_file_system(
    cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    clients = clients_of(cluster)
    settings = KubeRunSettings(run_id=RUN_ID, platform="kind", namespace="ns", pod_image="i")
    runner = KubeScenarioRunner(
        clients,
        leaks.FileSystemGuard(emulator, progress),
        emulator,
        progress,
        settings,
        ["kind-worker", "kind-worker2"],
    )
    runner.ensure_namespace()

    result = runner.run(scenarios("invalid-parameters")[0])

    assert result.outcome is Outcome.PASSED, result.message
    assert "perUnitStorageThroughput 300" in result.details["provisioning_error"]
    assert emulator.describe_file_systems()["FileSystems"] == []
    assert "create_namespaced_pod" not in cluster.calls.names()


def test_a_failing_pod_reports_expected_seen_events_and_logs_and_still_cleans_up(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    cluster.pod_scripts["static-reader"] = PodScript(
        exit_code=1, log="cat: can't open '/data/static.txt'\n"
    )
    cluster.event(
        "fsx-csi-e2e-20250101-120000-abc123",
        "Pod",
        "static-reader",
        "FailedMount",
        'MountVolume.SetUp failed for volume "pv": mount failed',
    )
    cluster.install_driver()  # the scenarios run on a driver registered on the nodes
    clients = clients_of(cluster)
    result = RunResult(RUN_ID, "kind", "reference")
    settings = KubeRunSettings(
        run_id=RUN_ID,
        platform="kind",
        namespace=manifests.kube_name(f"fsx-csi-{RUN_ID}"),
        pod_image="i",
    )

    run_scenarios(
        clients,
        emulator,
        scenarios("static"),
        settings,
        progress,
        result,
        tmp_path / "diag",
        ["fsx-csi"],
    )

    failed = result.scenarios[0]
    assert failed.outcome is Outcome.FAILED
    step = next(s for s in failed.steps if s.name == "pod static-reader")
    assert "expected exit code 0, seen 1" in step.message
    assert "can't open '/data/static.txt'" in step.message
    assert "FailedMount" in step.message
    # Teardown ran (pods, claim, PV, the static file system), nothing for the sweep.
    assert result.leaks == []
    assert not cluster.pods and not cluster.volumes
    assert emulator.describe_file_systems()["FileSystems"] == []
    saved = {
        p.relative_to(tmp_path / "diag").as_posix()
        for p in (tmp_path / "diag").rglob("*")
        if p.is_file()
    }
    assert "cluster-objects.yaml" in saved
    assert f"{settings.namespace}/events.txt" in saved


def test_the_sweep_deletes_and_lists_what_a_failed_teardown_left(
    cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    failures = {"delete_namespaced_pod": 1, "delete_namespaced_persistent_volume_claim": 1}

    def flaky(method: str, kwargs: dict[str, Any]) -> None:
        if failures.get(method):
            failures[method] -= 1
            raise ApiException(status=500, reason="etcdserver: request timed out")

    cluster.before_call = flaky
    cluster.install_driver()
    clients = clients_of(cluster)
    result = RunResult(RUN_ID, "kind", "reference")
    settings = KubeRunSettings(run_id=RUN_ID, platform="kind", namespace="ns", pod_image="i")

    run_scenarios(clients, emulator, scenarios("expansion"), settings, progress, result, None, [])

    assert result.scenarios[0].outcome is Outcome.ERROR
    assert any(s.name.startswith("teardown Pod") for s in result.scenarios[0].steps)
    kinds = {leak.kind for leak in result.leaks}
    # The claim the sweep deletes takes its volume and file system with it (reclaim Delete);
    # the file system may still be DELETING when the FSx part of the sweep looks.
    assert (
        {"Pod", "PersistentVolumeClaim"} <= kinds <= {"Pod", "PersistentVolumeClaim", "file-system"}
    )
    assert "after-expansion" in next(x.id for x in result.leaks if x.kind == "Pod")
    assert all(leak.removed for leak in result.leaks)
    assert not result.passed
    assert emulator.describe_file_systems()["FileSystems"] == []
    assert not cluster.pods and not cluster.claims and not cluster.volumes


def test_kind_names_what_is_missing(tmp_path: Path) -> None:
    runner = RecordingRunner(tools=("docker",))
    runner.answers[("docker", "info")] = CommandResult(
        (), 1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.", 0.0
    )
    missing = kind_platform.KindPlatform(runner=runner).missing_prerequisites(options(tmp_path))

    assert [m.what for m in missing] == ["kind", "a Docker engine", "kubectl"]
    assert "never downloads" in missing[0].hint
    assert "Cannot connect to the Docker daemon" in missing[1].seen
    assert runner.commands == [["docker", "info", "--format", "{{.ServerVersion}}"]]


def test_kind_setup_failure_marks_every_scenario_and_still_deletes_the_cluster(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    runner = RecordingRunner()
    runner.answers[("docker", "build")] = CommandResult((), 1, "", "ERROR: failed to solve", 0.0)

    result = kind_with(cluster, runner, emulator).run(
        scenarios("dynamic", "static"), options(tmp_path), progress
    )

    assert [s.outcome for s in result.scenarios] == [Outcome.ERROR, Outcome.ERROR]
    assert "building image fsx-csi-harness:kind-e2e failed" in result.scenarios[0].message
    assert "ERROR: failed to solve" in result.scenarios[0].message
    assert [c[:3] for c in runner.commands][-3:] == [
        ["kind", "export", "logs"],
        ["kind", "delete", "cluster"],
        ["umount", "--recursive", "--lazy"],
    ]
    assert not any(tmp_path.glob("fsx-*")), "the run directory is removed after the unmount"


@needs_kubectl
def test_keep_cluster_leaves_cluster_and_kubeconfig(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    runner = RecordingRunner()
    platform = kind_with(cluster, runner, emulator)
    result = platform.run(
        scenarios("invalid-parameters"),
        options(tmp_path, keep_cluster=True, settings={"image": "my/fsx:1"}),
        progress,
    )
    assert result.passed
    name = "fsx-e2e-20250101-120000-abc123"
    commands = runner.without_kustomize()
    assert [c[:2] for c in commands[:2]] == [["mount", "-t"], ["kind", "create"]]
    # The kept cluster is what a throughput run uses: its fio image is built and loaded too.
    # Its emulation root stays mounted: its release unmounts it.
    assert commands[2:] == [
        ["kind", "load", "docker-image", "my/fsx:1", "--name", name],
        [
            "docker",
            "build",
            "--file",
            str(REPO / "Dockerfile"),
            "--target",
            "fio",
            "--tag",
            "fsx-csi-harness:fio",
            str(REPO),
        ],
        ["kind", "load", "docker-image", "fsx-csi-harness:fio", "--name", name],
    ]
    work = Path(result.details["kubeconfig"]).parent
    assert work.exists()
    assert platform.kept is not None
    platform.kept.release(progress)
    assert runner.without_kustomize()[-2:] == [
        ["kind", "delete", "cluster", "--name", name, "--kubeconfig", str(work / "kubeconfig")],
        ["umount", "--recursive", "--lazy", str(work / "emulation-root")],
    ], "the release deletes the kept cluster, then unmounts its emulation root"
    assert not work.exists()


@needs_kubectl
def test_a_kept_kind_cluster_loads_a_named_fio_image_only_when_docker_has_it(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    name = "fsx-e2e-20250101-120000-abc123"
    settings = {"image": "my/fsx:1", "fio-image": "registry.example/fio:3"}
    local = RecordingRunner()
    kind_with(cluster, local, emulator).run(
        scenarios("invalid-parameters"), options(tmp_path, keep_cluster=True, settings=settings),
        progress,
    )  # fmt: skip
    assert local.without_kustomize()[3:] == [
        ["docker", "image", "inspect", "--format", "{{.Id}}", "registry.example/fio:3"],
        ["kind", "load", "docker-image", "registry.example/fio:3", "--name", name],
    ]

    remote = RecordingRunner()
    remote.answers[("docker", "image", "inspect")] = CommandResult((), 1, "", "No such image", 0)
    kind_with(FakeCluster(emulator), remote, emulator).run(
        scenarios("invalid-parameters"), options(tmp_path, keep_cluster=True, settings=settings),
        progress,
    )  # fmt: skip
    assert remote.without_kustomize()[3:] == [
        ["docker", "image", "inspect", "--format", "{{.Id}}", "registry.example/fio:3"]
    ], "an image the local docker does not have is the nodes' to pull"

    unkept = RecordingRunner()
    kind_with(FakeCluster(emulator), unkept, emulator).run(
        scenarios("invalid-parameters"), options(tmp_path, settings={"image": "my/fsx:1"}),
        progress,
    )  # fmt: skip
    assert not any("fio" in " ".join(c) for c in unkept.commands), "no throughput follows"


MOUNT_REFUSED = CommandResult((), 32, "", 'mount: only root can use "--types" option', 0.0)


@needs_kubectl
def test_kind_without_root_runs_on_a_plain_directory_and_says_what_that_means(
    tmp_path: Path, cluster: FakeCluster, emulator: Any
) -> None:
    runner = RecordingRunner()
    runner.answers[("mount",)] = MOUNT_REFUSED
    said = io.StringIO()
    fast = FastClock()

    result = kind_with(cluster, runner, emulator).run(
        scenarios("invalid-parameters"),
        options(tmp_path, settings={"image": "my/fsx:1"}),
        Progress(stream=said, clock=fast.clock, sleep=fast.sleep),
    )

    assert result.passed, [s.message for s in result.scenarios]
    warning = result.details["emulation_root_warning"]
    assert "is a plain directory on the host's file system, not a tmpfs of its own" in warning
    assert 'exit 32): mount: only root can use "--types" option' in warning
    assert "Kubernetes' mount library (device numbers) may judge" in warning
    assert f"warning: {warning}" in said.getvalue()
    assert "emulation_root" not in result.details
    commands = [c[:3] for c in runner.without_kustomize()]
    assert commands[:2] == [["mount", "-t", "tmpfs"], ["kind", "create", "cluster"]]
    assert commands[-1] == ["kind", "delete", "cluster"], "nothing to unmount"
    assert not any(tmp_path.glob("fsx-*"))


@needs_kubectl
def test_an_emulation_root_umount_refuses_is_a_leak_that_fails_the_run(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    runner = RecordingRunner()
    runner.answers[("umount",)] = CommandResult((), 32, "", "umount: target is busy.", 0.0)

    result = kind_with(cluster, runner, emulator).run(
        scenarios("invalid-parameters"), options(tmp_path, settings={"image": "my/fsx:1"}),
        progress,
    )  # fmt: skip

    assert [s.outcome for s in result.scenarios] == [Outcome.PASSED]
    [leak] = result.leaks
    assert (leak.kind, Path(leak.id).name, leak.removed) == ("mount", "emulation-root", False)
    assert leak.detail == "umount: umount: target is busy."
    assert not result.passed


# --------------------------------------------------------------------------- cluster


def test_cluster_without_kubeconfig_says_how_to_get_one(tmp_path: Path) -> None:
    platform = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(), environ={"HOME": str(tmp_path)}
    )
    missing = platform.missing_prerequisites(options(tmp_path))
    assert [m.what for m in missing] == ["a kubeconfig"]
    assert "aws eks update-kubeconfig" in missing[0].hint


def test_an_unreachable_cluster_is_named_with_what_to_try(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")

    class Refusing:
        def list_node(self, **_: Any) -> Any:
            raise ConnectionRefusedError("[Errno 111] Connection refused")

    platform = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(),
        connect=lambda path, context: KubeClients(Refusing(), None, None, None, None),  # type: ignore[arg-type]
        environ={"HOME": str(tmp_path)},
    )
    missing = platform.missing_prerequisites(options(tmp_path, kubeconfig=kubeconfig))
    assert [m.what for m in missing] == ["a reachable cluster"]
    assert "Connection refused" in missing[0].seen and "kubectl get nodes" in missing[0].seen


def test_real_aws_without_credentials_or_installed_driver_is_refused(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("")
    platform = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(),
        connect=lambda path, context: clients_of(cluster),
        credentials_present=lambda: False,
        environ={},
    )
    aws_settings = REPO / "fixtures/aws-settings/example.yaml"
    missing = platform.missing_prerequisites(
        options(tmp_path, kubeconfig=kubeconfig, aws_settings=aws_settings, driver="installed")
    )
    assert [m.what for m in missing] == ["AWS credentials"]
    platform = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(),
        connect=lambda path, context: clients_of(cluster),
        credentials_present=lambda: True,
        environ={},
    )
    missing = platform.missing_prerequisites(
        options(tmp_path, kubeconfig=kubeconfig, aws_settings=aws_settings, driver="installed")
    )
    assert [m.what for m in missing] == ["an installed FSx CSI driver"]
    assert "no CSIDriver fsx.csi.aws.com" in missing[0].seen


def test_installed_driver_on_real_aws_uses_the_aws_settings_and_deploys_nothing(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    # The "installed" driver, as helm installs it; the fake provisioner plays the driver.
    cluster.install_driver()
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("")
    runner = RecordingRunner()
    platform = cluster_platform.ClusterPlatform(
        runner=runner,
        connect=lambda path, context: clients_of(cluster),
        fsx_client_factory=lambda url, region: emulator,  # stands in for real AWS here
        credentials_present=lambda: True,
        environ={},
    )
    run_options = options(
        tmp_path,
        kubeconfig=kubeconfig,
        driver="installed",
        aws_settings=REPO / "fixtures/aws-settings/example.yaml",
    )
    assert platform.missing_prerequisites(run_options) == []

    result = platform.run(scenarios("dynamic"), run_options, progress)

    assert result.passed, [s.message for s in result.scenarios]
    assert result.details["aws"] == "real"
    # The driver exercised, as the cluster shows it: the name its node plugin registered and
    # the node plugin's image, found through the DaemonSet's socket directory.
    image = fake_kube.UPSTREAM_IMAGE
    suite = result.to_suite()
    assert suite.outcome is Outcome.PASSED
    assert suite.driver == DriverInfo("fsx.csi.aws.com", f"image {image} ({image_id(image)})")
    assert result.details["driver_identity"].startswith(
        "CSINode registration fsx.csi.aws.com on 2 node(s) (kind-worker, kind-worker2); node "
        f"plugin image fsx-plugin: {image} ({image_id(image)}) on 2 pod(s) (the pods of "
        "DaemonSet kube-system/fsx-csi-node, found by its socket directory)"
    )
    assert runner.commands == [], "nothing rendered or deployed for an installed driver"
    assert not [
        n for n in cluster.calls.names("patch_") if n != "patch_namespaced_persistent_volume_claim"
    ]
    sc = next(a["args"][0] for n, a in cluster.calls if n == "create_storage_class")
    assert "owner=fsx-csi-harness" in sc.parameters["extraTags"]
    pod = next(a["args"][1] for n, a in cluster.calls if n == "create_namespaced_pod")
    assert pod.spec.containers[0].image == cluster_platform.DEFAULT_POD_IMAGE


@needs_kubectl
def test_cluster_deploys_the_emulated_overlay_and_removes_it(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("")
    platform = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(),
        connect=lambda path, context: clients_of(cluster),
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: emulator,
        environ={},
    )
    result = platform.run(
        scenarios("invalid-parameters"),
        options(tmp_path, kubeconfig=kubeconfig, settings={"image": "registry.example/fsx:1"}),
        progress,
    )
    assert result.passed, [s.message for s in result.scenarios]
    assert result.details["aws"] == "emulated"
    assert cluster.applied == {}, "every applied object was deleted again"
    applied = cluster.calls.names("patch_")
    deleted = [
        n
        for n in cluster.calls.names("delete_")
        if n.removeprefix("delete_") in {a.removeprefix("patch_") for a in applied}
    ]
    assert [n.removeprefix("delete_") for n in deleted[-len(applied) :]] == [
        n.removeprefix("patch_") for n in reversed(applied)
    ]


# --------------------------------------------------------------------------- k3s


START, STOP = ["(the K3s container starts)"], ["(the K3s container stops)"]


class FakeK3sNode:
    def __init__(self, image: str, log: list[list[str]] | None = None) -> None:
        self.image = image
        # Where start and stop are noted (a runner's commands: their order against the mounts).
        self.log = log if log is not None else []
        self.mappings: list[tuple[str, str, str]] = []
        self.execs: list[list[str]] = []
        self.started = self.stopped = False

    def with_volume_mapping(self, host: str, container: str, mode: str = "ro") -> FakeK3sNode:
        self.mappings.append((host, container, mode))
        return self

    def start(self) -> FakeK3sNode:
        self.started = True
        self.log.append(START)
        return self

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        self.stopped = True
        self.log.append(STOP)

    def config_yaml(self) -> str:
        return "apiVersion: v1\nkind: Config\n"

    def get_wrapped_container(self) -> Any:
        node = self

        class Container:
            def exec_run(self, argv: list[str]) -> tuple[int, bytes]:
                node.execs.append(argv)
                return 0, b""

        return Container()


@needs_kubectl
def test_k3s_builds_saves_imports_and_shares_one_node(
    tmp_path: Path, emulator: Any, progress: Progress
) -> None:
    fake = FakeCluster(emulator, nodes=("k3s-server",), control_plane=())
    fake.pod_scripts["static-writer"] = PodScript(log="hello from FSx (static)\n")
    fake.pod_scripts["static-reader"] = PodScript(log="hello from FSx (static)\n")
    nodes: list[FakeK3sNode] = []
    runner = RecordingRunner()
    platform = k3s_platform.K3sPlatform(
        runner=runner,
        node_factory=lambda image: nodes.append(FakeK3sNode(image, runner.commands)) or nodes[-1],  # type: ignore[func-returns-value]
        connect=lambda path: clients_of(fake),
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: emulator,
        testcontainers_available=lambda: True,
    )

    result = platform.run(scenarios("static"), options(tmp_path), progress)

    assert result.passed, [s.message for s in result.scenarios]
    assert "share nodes" in result.scenarios[0].details["nodes"]
    node = nodes[0]
    assert node.image == k3s_platform.DEFAULT_K3S_IMAGE and node.started and node.stopped
    assert [m[1:] for m in node.mappings] == [
        ("/var/lib/fsx-csi-emulation", "rw"),
        ("/var/lib/fsx-csi-images", "ro"),
    ]
    assert node.execs == [
        ["mount", "--make-rshared", "/"],
        ["k3s", "ctr", "images", "import", "/var/lib/fsx-csi-images/image.tar"],
    ]
    commands = runner.without_kustomize()
    assert commands[0][:2] == ["docker", "build"]
    assert commands[1][:3] == ["docker", "save", "--output"]
    assert commands[1][-1] == k3s_platform.DEFAULT_IMAGE
    root = node.mappings[0][0]
    assert Path(root).name == "emulation-root"
    # The tmpfs is on the mapped directory before the container exists, off it once it is gone.
    assert commands[2:] == [
        ["mount", "-t", "tmpfs", "-o", "mode=0755", "fsx-emulation", root],
        START,
        STOP,
        ["umount", "--recursive", "--lazy", root],
    ]
    assert result.details["emulation_root"] == f"a tmpfs of its own on {root}, shared by every node"
    assert not Path(root).parent.exists(), "the run directory is removed after the unmount"


@needs_kubectl
def test_a_kept_k3s_container_is_recorded_with_its_fio_image_and_released_after(
    tmp_path: Path, emulator: Any, progress: Progress
) -> None:
    fake = FakeCluster(emulator, nodes=("k3s-server",), control_plane=())
    nodes: list[FakeK3sNode] = []
    runner = RecordingRunner()
    platform = k3s_platform.K3sPlatform(
        runner=runner,
        node_factory=lambda image: nodes.append(FakeK3sNode(image, runner.commands)) or nodes[-1],  # type: ignore[func-returns-value]
        connect=lambda path: clients_of(fake),
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: emulator,
        testcontainers_available=lambda: True,
    )

    result = platform.run(
        scenarios("invalid-parameters"), options(tmp_path, keep_cluster=True), progress
    )

    assert result.passed, [s.message for s in result.scenarios]
    node = nodes[0]
    assert node.started and not node.stopped
    assert node.execs[1:] == [
        ["k3s", "ctr", "images", "import", "/var/lib/fsx-csi-images/image.tar"],
        ["k3s", "ctr", "images", "import", "/var/lib/fsx-csi-images/fio.tar"],
    ]
    images = Path(runner.without_kustomize()[1][3]).parent
    root = str(images.parent / "emulation-root")
    assert runner.without_kustomize()[2:] == [
        [
            "docker",
            "build",
            "--file",
            str(REPO / "Dockerfile"),
            "--target",
            "fio",
            "--tag",
            "fsx-csi-harness:fio",
            str(REPO),
        ],
        ["docker", "save", "--output", str(images / "fio.tar"), "fsx-csi-harness:fio"],
        ["mount", "-t", "tmpfs", "-o", "mode=0755", "fsx-emulation", root],
        START,
    ], "the kept container's emulation root stays mounted until its release"
    kept = platform.kept
    assert kept is not None and kept.kubeconfig == Path(result.details["kubeconfig"])
    assert kept.kubeconfig.read_text().startswith("apiVersion: v1")
    kept.release(progress)
    assert node.stopped and not kept.kubeconfig.parent.exists()
    assert runner.without_kustomize()[-2:] == [STOP, ["umount", "--recursive", "--lazy", root]]


@needs_kubectl
def test_k3s_without_root_runs_on_a_plain_directory_and_says_so(
    tmp_path: Path, emulator: Any, progress: Progress
) -> None:
    fake = FakeCluster(emulator, nodes=("k3s-server",), control_plane=())
    runner = RecordingRunner()
    runner.answers[("mount",)] = MOUNT_REFUSED
    nodes: list[FakeK3sNode] = []
    platform = k3s_platform.K3sPlatform(
        runner=runner,
        node_factory=lambda image: nodes.append(FakeK3sNode(image, runner.commands)) or nodes[-1],  # type: ignore[func-returns-value]
        connect=lambda path: clients_of(fake),
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: emulator,
        testcontainers_available=lambda: True,
    )

    result = platform.run(
        scenarios("invalid-parameters"), options(tmp_path, settings={"image": "my/fsx:1"}),
        progress,
    )  # fmt: skip

    assert result.passed, [s.message for s in result.scenarios]
    assert "not a tmpfs of its own" in result.details["emulation_root_warning"]
    assert [c[:1] for c in runner.without_kustomize()] == [["docker"], ["mount"], START, STOP]
    assert not any(tmp_path.glob("k3s-*"))


def test_k3s_names_missing_testcontainers_and_docker(tmp_path: Path) -> None:
    platform = k3s_platform.K3sPlatform(
        runner=RecordingRunner(tools=("kubectl",)), testcontainers_available=lambda: False
    )
    missing = platform.missing_prerequisites(options(tmp_path))
    assert [m.what for m in missing] == ["testcontainers' K3s module", "docker"]


# --------------------------------------------------------------------------- the real things


def _skip_unless_ready(platform: Any, run_options: RunOptions) -> None:
    missing = platform.missing_prerequisites(run_options)
    if missing:
        pytest.skip("; ".join(str(m) for m in missing))


@pytest.mark.slow
def test_real_kind_run_of_the_headline_scenario(tmp_path: Path) -> None:
    platform = kind_platform.create_platform()
    run_options = options(tmp_path)
    _skip_unless_ready(platform, run_options)
    result = platform.run(scenarios("dynamic"), run_options, Progress())
    assert result.passed, [s.message for s in result.scenarios]


@pytest.mark.slow
def test_real_cluster_run_of_the_headline_scenario(tmp_path: Path) -> None:
    aws_settings = os.environ.get("FSX_CSI_E2E_AWS_SETTINGS")
    platform = cluster_platform.create_platform()
    run_options = options(tmp_path, aws_settings=Path(aws_settings) if aws_settings else None)
    _skip_unless_ready(platform, run_options)
    result = platform.run(scenarios("dynamic"), run_options, Progress())
    assert result.passed, [s.message for s in result.scenarios]


@pytest.mark.slow
def test_real_k3s_run_of_the_static_scenario(tmp_path: Path) -> None:
    platform = k3s_platform.create_platform()
    run_options = options(tmp_path)
    _skip_unless_ready(platform, run_options)
    result = platform.run(scenarios("static"), run_options, Progress())
    assert result.passed, [s.message for s in result.scenarios]


# --------------------------------------------------------------------------- --manifests

# Another FSx CSI driver, shaped like the upstream Go driver's rendered manifests: kube-system,
# no Namespace object, its own images, pointed at the harness's FSx emulator.
OTHER_CONTROLLER = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: fsx-csi-controller
  namespace: kube-system
spec:
  replicas: 2
  selector:
    matchLabels: {app: fsx-csi-controller}
  template:
    metadata:
      labels: {app: fsx-csi-controller}
    spec:
      serviceAccountName: fsx-csi-controller-sa
      containers:
        - name: fsx-plugin
          image: public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver:v1.2.0
          args: [--mode=controller, --endpoint=$(CSI_ENDPOINT)]
          env:
            - {name: CSI_ENDPOINT, value: unix:///var/lib/csi/sockets/pluginproxy/csi.sock}
            - {name: AWS_ENDPOINT_URL_FSX, value: "http://fsx-emulator.fsx-csi.svc.cluster.local:8080"}
        - name: csi-provisioner
          image: registry.k8s.io/sig-storage/csi-provisioner:v5.0.1
"""
OTHER_NODE = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fsx-csi-node
  namespace: kube-system
spec:
  selector:
    matchLabels: {app: fsx-csi-node}
  template:
    metadata:
      labels: {app: fsx-csi-node}
    spec:
      containers:
        - name: fsx-plugin
          image: public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver:v1.2.0
          args: [--mode=node]
        - name: node-driver-registrar
          image: registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.11.1
"""
OTHER_IDENTITY = """\
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata:
  name: fsx.csi.aws.com
spec:
  attachRequired: false
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: fsx-csi-controller-sa
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: fsx-csi-external-provisioner-role
rules:
  - {apiGroups: [""], resources: [persistentvolumes], verbs: [get, list, watch, create, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: fsx-csi-external-provisioner-binding
subjects:
  - {kind: ServiceAccount, name: fsx-csi-controller-sa, namespace: kube-system}
roleRef:
  {kind: ClusterRole, name: fsx-csi-external-provisioner-role, apiGroup: rbac.authorization.k8s.io}
"""
OTHER_PDB = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: fsx-csi-controller
  namespace: kube-system
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: fsx-csi-controller}
"""
# The user objects in the order the harness applies them (kinds first, then file order).
OTHER_APPLIED = [
    ("ServiceAccount", "kube-system", "fsx-csi-controller-sa"),
    ("ClusterRole", None, "fsx-csi-external-provisioner-role"),
    ("ClusterRoleBinding", None, "fsx-csi-external-provisioner-binding"),
    ("CSIDriver", None, "fsx.csi.aws.com"),
    ("Deployment", "kube-system", "fsx-csi-controller"),
    # On emulated AWS the node plugin gets the Lustre emulation (kube/lustre_helper.py).
    ("ConfigMap", "kube-system", "fsx-csi-lustre-emulation"),
    ("DaemonSet", "kube-system", "fsx-csi-node"),
    ("PodDisruptionBudget", "kube-system", "fsx-csi-controller"),
]
EMULATOR_APPLIED = [
    ("Namespace", None, "fsx-csi"),
    ("Service", "fsx-csi", "fsx-emulator"),
    ("Deployment", "fsx-csi", "fsx-emulator"),
]
_APPLY_VERBS = {
    "patch_namespace": "Namespace",
    "patch_namespaced_service_account": "ServiceAccount",
    "patch_namespaced_service": "Service",
    "patch_namespaced_config_map": "ConfigMap",
    "patch_cluster_role": "ClusterRole",
    "patch_cluster_role_binding": "ClusterRoleBinding",
    "patch_csi_driver": "CSIDriver",
    "patch_namespaced_deployment": "Deployment",
    "patch_namespaced_stateful_set": "StatefulSet",
    "patch_namespaced_daemon_set": "DaemonSet",
    "patch_namespaced_pod_disruption_budget": "PodDisruptionBudget",
}


def plain_yaml_driver(root: Path) -> Path:
    """A directory of plain manifests: files in any order, one in a subdirectory (as
    `helm template --output-dir` writes), a README and a kustomize directory that are not read."""
    root.mkdir()
    (root / "node.yaml").write_text(OTHER_NODE)
    (root / "controller.yml").write_text(OTHER_CONTROLLER)
    (root / "identity.yaml").write_text(OTHER_IDENTITY)
    (root / "templates").mkdir()
    (root / "templates" / "pdb.yaml").write_text(OTHER_PDB)
    (root / "README.md").write_text("not a manifest")
    (root / "overlay").mkdir()
    (root / "overlay" / "kustomization.yaml").write_text("resources: [../node.yaml]\n")
    return root


def applied_in_order(fake: FakeCluster) -> list[tuple[str, str | None, str]]:
    return [
        (_APPLY_VERBS[name], call.get("namespace"), call["name"])
        for name, call in fake.calls
        if name in _APPLY_VERBS
    ]


def reads(fake: FakeCluster, method: str) -> list[tuple[Any, ...]]:
    return [call["args"] for name, call in fake.calls if name == method]


@needs_kubectl
def test_kind_deploys_a_plain_yaml_directory_beside_the_emulator_and_waits_for_its_workloads(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    driver = plain_yaml_driver(tmp_path / "other-driver")
    runner = RecordingRunner()
    platform = kind_with(cluster, runner, emulator)
    run_options = options(tmp_path, manifests=driver)
    assert [m for m in platform.missing_prerequisites(run_options) if "manifests" in m.what] == []

    result = platform.run(scenarios("dynamic", "invalid-parameters"), run_options, progress)

    assert result.passed, [s.message for s in result.scenarios]
    # Exactly the emulator's objects, then the driver's, and none of the reference driver's.
    assert applied_in_order(cluster) == EMULATOR_APPLIED + OTHER_APPLIED
    assert set(cluster.applied) == set(EMULATOR_APPLIED + OTHER_APPLIED)
    label = manifests.kube_name(RUN_ID)
    for body in cluster.applied.values():
        assert body["metadata"]["labels"][manifests.RUN_ID_LABEL] == label
    controller = cluster.applied[("Deployment", "kube-system", "fsx-csi-controller")]
    # Not on the pod template: a per-run label there makes every redeploy a rollout.
    assert manifests.RUN_ID_LABEL not in controller["spec"]["template"]["metadata"]["labels"]
    assert controller["spec"]["selector"]["matchLabels"] == {"app": "fsx-csi-controller"}
    # The driver's own images are left alone; the emulator runs the loaded harness image.
    images = [(c["image"], c.get("imagePullPolicy")) for c in manifests.containers_of(controller)]
    assert images == [
        ("public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver:v1.2.0", None),
        ("registry.k8s.io/sig-storage/csi-provisioner:v5.0.1", None),
    ]
    emulator_pod = manifests.containers_of(
        cluster.applied[("Deployment", "fsx-csi", "fsx-emulator")]
    )
    assert (emulator_pod[0]["image"], emulator_pod[0]["imagePullPolicy"]) == (
        "fsx-csi-harness:kind-e2e",
        "Never",
    )
    # The overlay was rendered for the emulator only; the directory was read, not rendered.
    kustomized = [c for c in runner.commands if c[:2] == ["kubectl", "kustomize"]]
    assert kustomized == [
        ["kubectl", "kustomize", str(REPO / "fixtures/manifests/overlays/emulated")]
    ]
    # Readiness: its CSIDriver, the emulator, its controller (polled until the rollout is
    # observed) and node plugin in kube-system, its registration on the two workers.
    assert reads(cluster, "read_csi_driver")[0] == ("fsx.csi.aws.com",)
    deployments = reads(cluster, "read_namespaced_deployment")
    assert ("fsx-csi-controller", "fsx-csi") not in deployments
    assert deployments.count(("fsx-csi-controller", "kube-system")) >= 2
    assert ("fsx-emulator", "fsx-csi") in deployments
    assert ("fsx-csi-node", "kube-system") in reads(cluster, "read_namespaced_daemon_set")
    assert {a[0] for a in reads(cluster, "read_csi_node")} == {"kind-worker", "kind-worker2"}
    storage_class = next(a["args"][0] for n, a in cluster.calls if n == "create_storage_class")
    assert storage_class.provisioner == "fsx.csi.aws.com"
    assert result.details["driver"].startswith(f"--manifests 7 objects from 4 files under {driver}")
    assert "manifests_warning" not in result.details, "the controller points at the emulator"
    assert [c[:3] for c in runner.without_kustomize()][-2:] == [
        ["kind", "delete", "cluster"],
        ["umount", "--recursive", "--lazy"],
    ]


def kustomize_driver(root: Path, controller_kind: str = "StatefulSet") -> Path:
    """A kustomize directory: its own namespace, a StatefulSet controller, another driver
    name, and a generated ConfigMap; nothing pointing at the emulator."""
    root.mkdir()
    controller = OTHER_CONTROLLER.replace("kind: Deployment", f"kind: {controller_kind}")
    controller = controller.replace("  replicas: 2\n", "  replicas: 1\n  serviceName: fsx\n")
    controller = "\n".join(
        line for line in controller.splitlines() if "AWS_ENDPOINT_URL_FSX" not in line
    )
    (root / "controller.yaml").write_text(controller + "\n")
    (root / "node.yaml").write_text(OTHER_NODE)
    (root / "identity.yaml").write_text(
        OTHER_IDENTITY.replace("fsx.csi.aws.com", "fsx.example.com")
    )
    (root / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "namespace: other-fsx\n"
        "resources: [identity.yaml, controller.yaml, node.yaml]\n"
        "configMapGenerator:\n"
        "  - name: fsx-csi-controller\n"
        "    literals: [AWS_REGION=us-east-1]\n"
        "    options: {disableNameSuffixHash: true}\n"
    )
    return root


@needs_kubectl
def test_cluster_deploys_a_kustomize_directory_and_removes_exactly_it(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    driver = kustomize_driver(tmp_path / "other")
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("")
    runner = RecordingRunner()
    platform = cluster_platform.ClusterPlatform(
        runner=runner,
        connect=lambda path, context: clients_of(cluster),
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: emulator,
        environ={},
    )
    run_options = options(
        tmp_path,
        kubeconfig=kubeconfig,
        manifests=driver,
        settings={"driver-name": "fsx.example.com"},
    )
    assert platform.missing_prerequisites(run_options) == []

    result = platform.run(scenarios("invalid-parameters"), run_options, progress)

    assert result.passed, [s.message for s in result.scenarios]
    assert ["kubectl", "kustomize", str(driver)] in runner.commands
    user = [
        ("ServiceAccount", "other-fsx", "fsx-csi-controller-sa"),
        ("ConfigMap", "other-fsx", "fsx-csi-controller"),
        ("ClusterRole", None, "fsx-csi-external-provisioner-role"),
        ("ClusterRoleBinding", None, "fsx-csi-external-provisioner-binding"),
        ("CSIDriver", None, "fsx.example.com"),
        ("StatefulSet", "other-fsx", "fsx-csi-controller"),
        ("ConfigMap", "other-fsx", "fsx-csi-lustre-emulation"),
        ("DaemonSet", "other-fsx", "fsx-csi-node"),
    ]
    assert applied_in_order(cluster) == EMULATOR_APPLIED + user
    # Teardown: every applied object deleted again, in reverse order.
    assert cluster.applied == {}
    patches = [n for n in cluster.calls.names("patch_") if n in _APPLY_VERBS]
    deletes = [n for n in cluster.calls.names("delete_") if "patch_" + n[7:] in _APPLY_VERBS]
    assert [n[7:] for n in deletes[-len(patches) :]] == [n[6:] for n in reversed(patches)]
    # The other driver's name reaches readiness, registration and the StorageClasses.
    assert ("fsx.example.com",) in reads(cluster, "read_csi_driver")
    assert ("fsx-csi-controller", "other-fsx") in reads(cluster, "read_namespaced_stateful_set")
    storage_class = next(a["args"][0] for n, a in cluster.calls if n == "create_storage_class")
    assert storage_class.provisioner == "fsx.example.com"
    # Nothing points the driver at the emulator: said in the progress and the details.
    assert (
        "AWS_ENDPOINT_URL_FSX=http://fsx-emulator.fsx-csi.svc.cluster.local:8080"
        in (result.details["manifests_warning"])
    )


@needs_kubectl
def test_another_driver_failing_to_mount_on_emulated_lustre_is_told_why(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    cluster.pod_scripts["static-writer"] = PodScript(
        exit_code=1, log="sh: can't create /data/static.txt: No such file or directory\n"
    )
    cluster.event(
        manifests.kube_name(f"fsx-csi-{RUN_ID}"),
        "Pod",
        "static-writer",
        "FailedMount",
        "mount failed: exit status 32: mount: unknown filesystem type 'lustre'",
    )
    driver = plain_yaml_driver(tmp_path / "other-driver")

    result = kind_with(cluster, RecordingRunner(), emulator).run(
        scenarios("static"), options(tmp_path, manifests=driver), progress
    )

    message = result.scenarios[0].message
    assert result.scenarios[0].outcome is Outcome.FAILED
    assert "unknown filesystem type 'lustre'" in message
    assert "mount.lustre" in message and "/var/lib/fsx-csi-emulation" in message
    # The node plugin's logs are looked up by the other driver's own labels and namespace.
    lookups = [
        (call["args"][0], call.get("label_selector"))
        for name, call in cluster.calls
        if name == "list_namespaced_pod" and call.get("field_selector")
    ]
    assert lookups and set(lookups) == {("kube-system", "app=fsx-csi-node")}


@needs_kubectl
def test_a_node_plugin_that_never_rolls_out_fails_setup_naming_it(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    cluster.stall("daemonset", "fsx-csi-node")
    cluster.event("kube-system", "DaemonSet", "fsx-csi-node", "FailedCreate", "quota exceeded")
    driver = plain_yaml_driver(tmp_path / "other-driver")

    result = kind_with(cluster, RecordingRunner(), emulator).run(
        scenarios("dynamic"), options(tmp_path, manifests=driver, settings={"wait": "30"}), progress
    )

    message = result.scenarios[0].message
    assert result.scenarios[0].outcome is Outcome.ERROR
    assert "DaemonSet kube-system/fsx-csi-node to be ready on every node" in message
    assert "0/3 available" in message and "FailedCreate: quota exceeded" in message
    assert "kubectl -n kube-system describe daemonset fsx-csi-node" in message


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


BAD_MANIFESTS: list[tuple[str, Any, list[str]]] = [
    ("missing", lambda root: root / "nowhere", ["no such file or directory", "check the path"]),
    (
        "empty directory",
        lambda root: (root / "empty").mkdir() or root / "empty",
        ["seen a directory with nothing in it: nothing renderable"],
    ),
    (
        "only a kustomize subdirectory",
        lambda root: (
            _write(root / "deploy" / "base" / "kustomization.yaml", "resources: []\n")
            and _write(root / "deploy" / "NOTES.txt", "x").parent
        ),
        ["seen a directory with NOTES.txt, base/", "pass one of its kustomize directories"],
    ),
    (
        "helm values",
        lambda root: _write(root / "values.yaml", "image:\n  tag: v1\n"),
        ["expected Kubernetes objects", "document 1: {'image'"],
    ),
    (
        "no CSIDriver",
        lambda root: _write(root / "d.yaml", OTHER_CONTROLLER + "---\n" + OTHER_NODE),
        ["expected a CSIDriver object named fsx.csi.aws.com", "1 Deployment, 1 DaemonSet"],
    ),
    (
        "another CSIDriver",
        lambda root: _write(
            root / "d.yaml",
            OTHER_IDENTITY.replace("fsx.csi.aws.com", "lustre.example.com")
            + "---\n"
            + OTHER_CONTROLLER
            + "---\n"
            + OTHER_NODE,
        ),
        ["seen CSIDriver lustre.example.com", "--set driver-name=lustre.example.com"],
    ),
    (
        "no workloads",
        lambda root: _write(root / "d.yaml", OTHER_IDENTITY),
        ["expected a controller workload (Deployment or StatefulSet", "expected a node workload"],
    ),
    (
        "an unsupported kind",
        lambda root: _write(
            root / "d.yaml",
            OTHER_IDENTITY
            + "---\n"
            + OTHER_CONTROLLER
            + "---\n"
            + OTHER_NODE
            + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: stray}\n",
        ),
        ["seen Pod stray", "apply them yourself beforehand"],
    ),
    (
        "a broken kustomization",
        lambda root: (
            _write(root / "k" / "kustomization.yaml", "resources: [missing.yaml]\n").parent
        ),
        ["expected it to render", "kubectl kustomize"],
    ),
]


@needs_kubectl
@pytest.mark.parametrize(
    ("make", "expected"), [case[1:] for case in BAD_MANIFESTS], ids=[c[0] for c in BAD_MANIFESTS]
)
def test_unusable_manifests_are_refused_before_anything_is_applied(
    tmp_path: Path,
    cluster: FakeCluster,
    emulator: Any,
    progress: Progress,
    make: Any,
    expected: list[str],
) -> None:
    path = make(tmp_path)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("")
    platform = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(),
        connect=lambda p, context: clients_of(cluster),
        environ={},
    )
    run_options = options(tmp_path, kubeconfig=kubeconfig, manifests=path)

    missing = platform.missing_prerequisites(run_options)

    text = "; ".join(str(m) for m in missing)
    assert missing and all(m.what == f"driver manifests {path}" for m in missing), text
    for part in expected:
        assert part in text
    assert "try: " in text
    # The run itself refuses them too, before any call to the cluster.
    result = platform.run(scenarios("dynamic"), run_options, progress)
    assert result.scenarios[0].outcome is Outcome.ERROR
    assert not cluster.calls.mutations()


def test_manifests_with_an_installed_driver_or_a_foreign_csidriver_are_refused(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    driver = plain_yaml_driver(tmp_path / "other-driver")
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("")
    platform = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(), connect=lambda p, context: clients_of(cluster), environ={}
    )
    both = platform.missing_prerequisites(
        options(tmp_path, kubeconfig=kubeconfig, manifests=driver, driver="installed")
    )
    assert any("expected one of them, seen both" in str(m) for m in both), both

    # A driver installed by someone else (helm): taking it over would delete it at the end.
    cluster.applied[("CSIDriver", None, "fsx.csi.aws.com")] = {"metadata": {"labels": {}}}
    foreign = platform.missing_prerequisites(
        options(tmp_path, kubeconfig=kubeconfig, manifests=driver)
    )
    assert [m.what for m in foreign] == ["a cluster without another fsx.csi.aws.com driver"]
    assert "--driver installed" in foreign[0].hint
    # One an earlier harness run left (run-id label) is not in the way.
    cluster.applied[("CSIDriver", None, "fsx.csi.aws.com")] = {
        "metadata": {"labels": {manifests.RUN_ID_LABEL: "e2e-old"}}
    }
    assert (
        platform.missing_prerequisites(options(tmp_path, kubeconfig=kubeconfig, manifests=driver))
        == []
    )


def test_the_local_platform_refuses_manifests(tmp_path: Path) -> None:
    from e2e.platforms import local

    missing = local.create_platform().missing_prerequisites(options(tmp_path, manifests=tmp_path))
    assert "a cluster for --manifests" in [m.what for m in missing]


def test_e2e_cli_exits_2_naming_the_manifests_problem(tmp_path: Path) -> None:
    import subprocess
    import sys

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("")
    empty = tmp_path / "empty"
    empty.mkdir()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "fsx_csi_harness",
            "e2e",
            "--platform",
            "cluster",
            "--kubeconfig",
            str(kubeconfig),
            "--manifests",
            str(empty),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert completed.returncode == 2, completed.stderr
    assert f"driver manifests {empty}: expected a kustomize directory" in completed.stderr
    assert "nothing renderable; try: " in completed.stderr


@needs_kubectl
def test_the_other_drivers_used_here_are_valid_kubernetes_and_every_checked_kind_is_applied(
    tmp_path: Path,
) -> None:
    import kubernetes_validate

    from e2e.platforms import user_manifests

    runner = RecordingRunner()
    drivers = [
        user_manifests.load_driver_manifests(runner, plain_yaml_driver(tmp_path / "plain")),
        user_manifests.load_driver_manifests(
            runner, kustomize_driver(tmp_path / "kustomize"), "fsx.example.com"
        ),
    ]
    for driver in drivers:
        for manifest in driver.objects:
            kubernetes_validate.validate(manifest, "1.31.0", strict=True)
    # What the check lets through is exactly what apply_manifests can apply.
    assert {
        kind: namespaced for kind, (_, _, namespaced) in kube_apply._METHODS.items()
    } == user_manifests.APPLIED_KINDS


# --------------------------------------------------------------------------- what broke on a real
# cluster (issue 10): each test failed before its fix, against this fake API server.


class DyingFsx:
    """The harness's FSx client whose endpoint goes away once `die()` is called (the
    port-forward to an emulator pod that a rollout replaced)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.dead = False
        # (operation, FileSystemIds asked for, the error's name or "ok"), in order.
        self.calls: list[tuple[str, tuple[str, ...], str]] = []

    def die(self) -> None:
        self.dead = True

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name in ("exceptions", "meta"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.dead:
                from botocore.exceptions import EndpointConnectionError

                raise EndpointConnectionError(endpoint_url="http://127.0.0.1:18080/")
            ids = tuple(kwargs.get("FileSystemIds", ()))
            try:
                answer = attribute(*args, **kwargs)
            except Exception as exc:
                self.calls.append((name, ids, type(exc).__name__))
                raise
            self.calls.append((name, ids, "ok"))
            return answer

        return call


def reference_plan(run_id: str) -> Any:
    from e2e.platforms.kube.orchestration import plan_driver

    return plan_driver(
        SubprocessRunner(), "emulated", None, "fsx-csi-harness:kind-e2e", "Never", run_id
    )


def test_a_node_whose_csinode_has_drivers_null_is_waited_for_not_a_crash(
    cluster: FakeCluster,
) -> None:
    # What the kubelet writes before node-driver-registrar registered anything.
    assert cluster.csi_node("kind-worker")["spec"] == {"drivers": None}
    probe = readiness._registration_probe(cluster.clients(), ["kind-worker"])

    seen = probe()

    assert not seen.done
    assert "fsx.csi.aws.com not registered on kind-worker (drivers: none)" in seen.state


@needs_kubectl
def test_a_rollout_is_ready_only_once_its_new_pods_are_available(
    cluster: FakeCluster, progress: Progress
) -> None:
    clients = cluster.clients()
    plan = reference_plan(RUN_ID)
    nodes = schedulable_nodes(clients)
    kube_apply.apply_manifests(clients, plan.objects, progress)
    readiness.wait_workloads_ready(clients, progress, plan.workloads, DRIVER, nodes, 60.0)
    replaced: list[str] = []
    cluster.on_pods_replaced.append(replaced.append)
    # A new image is a new pod template: every workload rolls.
    changed = manifests.with_driver_image(plan.objects, "fsx-csi-harness:v2", "Never")
    kube_apply.apply_manifests(clients, changed, progress)

    readiness.wait_workloads_ready(clients, progress, plan.workloads, DRIVER, nodes, 60.0)

    # Ready means every workload replaced its pods, the emulator's included: the wait must
    # not stop at `observedGeneration == generation` with updatedReplicas omitted (0).
    assert sorted(replaced) == ["fsx-csi-controller", "fsx-csi-node", "fsx-emulator"]
    key = ("Deployment", "fsx-csi", "fsx-emulator")
    assert cluster.rollouts[key].generation == cluster.rollouts[key].observed == 2


@pytest.mark.parametrize(
    ("status", "ready"),
    [
        # Right after the apply: the controller observed the new generation, no new pod yet
        # (updatedReplicas omitted), the old pod still available.
        ({"observedGeneration": 2, "replicas": 1, "availableReplicas": 1}, False),
        ({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1}, False),
        ({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1}, False),
        (
            {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
            True,
        ),
    ],
)
def test_deployment_rollouts_are_judged_as_kubectl_rollout_status_does(
    status: dict[str, int], ready: bool
) -> None:
    deployment = {"metadata": {"name": "c", "generation": 2}, "spec": {"replicas": 1}}
    done, words = readiness.rollout_status("Deployment", {**deployment, "status": status})
    assert done is ready, words


@needs_kubectl
def test_a_second_run_over_a_kept_driver_does_not_replace_its_pods(
    cluster: FakeCluster, progress: Progress
) -> None:
    clients = cluster.clients()
    nodes = schedulable_nodes(clients)
    first = reference_plan("e2e-20250101-120000-first1")
    kube_apply.apply_manifests(clients, first.objects, progress)
    readiness.wait_workloads_ready(clients, progress, first.workloads, DRIVER, nodes, 60.0)
    replaced: list[str] = []
    cluster.on_pods_replaced.append(replaced.append)
    second = reference_plan("e2e-20250101-130000-second")

    kube_apply.apply_manifests(clients, second.objects, progress)
    readiness.wait_workloads_ready(clients, progress, second.workloads, DRIVER, nodes, 60.0)

    # The run id labels the objects, not the pod templates: no rollout, the in-memory
    # emulator (and its file systems) survives.
    assert replaced == []
    assert {key: r.generation for key, r in cluster.rollouts.items()} == {
        key: 1 for key in cluster.rollouts
    }
    emulator = cluster.applied[("Deployment", "fsx-csi", "fsx-emulator")]
    assert (
        emulator["metadata"]["labels"][manifests.RUN_ID_LABEL]
        == second.objects[0]["metadata"]["labels"][manifests.RUN_ID_LABEL]
    )


@needs_kubectl
def test_an_fsx_endpoint_that_dies_mid_run_fails_the_step_and_the_sweep_still_cleans_up(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    dying = DyingFsx(emulator)

    def die_on_expansion(method: str, kwargs: dict[str, Any]) -> None:
        if method == "patch_namespaced_persistent_volume_claim":
            dying.die()

    cluster.before_call = die_on_expansion
    platform = kind_platform.KindPlatform(
        runner=RecordingRunner(),
        connect=lambda path: clients_of(cluster),
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: dying,
    )

    result = platform.run(scenarios("expansion"), options(tmp_path), progress)

    scenario = result.scenarios[0]
    expand = next(step for step in scenario.steps if step.name == "expand")
    assert (scenario.outcome, expand.outcome) == (Outcome.FAILED, Outcome.FAILED)
    assert "the FSx API failed: EndpointConnectionError" in expand.message
    assert "port-forward" in expand.message
    # The sweep could not check the file systems, says so, and still removed the rest.
    assert any(
        leak.kind == "sweep" and "EndpointConnectionError" in leak.detail and not leak.removed
        for leak in result.leaks
    )
    assert not cluster.namespaces and not cluster.claims and not cluster.pods


@pytest.fixture
def slow_deleting_emulator() -> Iterator[Any]:
    """FSx deletes take a while (DELETING first), as on AWS."""
    config = EmulatorConfig(creation_delay=0.0, deletion_delay=0.05, update_delay=0.0)
    with EmulatorServer(config) as server:
        yield boto3.client(
            "fsx",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="emulated",
            aws_secret_access_key="emulated",
        )


@needs_kubectl
def test_teardown_waits_until_the_file_system_is_gone_and_the_run_has_a_duration(
    tmp_path: Path, slow_deleting_emulator: Any, progress: Progress
) -> None:
    cluster = FakeCluster(slow_deleting_emulator)
    observed = DyingFsx(slow_deleting_emulator)
    two_lines = "a hello from FSx\nb hello from FSx\n"
    cluster.pod_scripts["fsx-app"] = PodScript(exec_results=[(0, two_lines)])
    cluster.pod_scripts["fsx-app-other-node"] = PodScript(log=two_lines)
    platform = kind_with(cluster, RecordingRunner(), observed)

    result = platform.run(scenarios("dynamic"), options(tmp_path), progress)

    assert result.passed, ([s.message for s in result.scenarios], result.leaks)
    fs_id = result.scenarios[0].details["file_system_id"]
    # The teardown asked for the file system until the FSx API said it was gone (before,
    # it read the handle from a PV already deleted and skipped the wait: the sweep then
    # found the file system still DELETING and reported a leak).
    asked = [outcome for name, ids, outcome in observed.calls if ids == (fs_id,)]
    assert asked[-1] == "FileSystemNotFound"
    assert result.leaks == []
    # On the fake API's timeline (virtual seconds): the run took time, and says so.
    assert result.duration_s > 0
    assert result.to_suite().duration_s == result.duration_s


@needs_kubectl
def test_a_one_node_cluster_runs_the_two_node_scenarios_on_that_node_and_says_so(
    tmp_path: Path, emulator: Any, progress: Progress
) -> None:
    cluster = FakeCluster(emulator, nodes=("dev-node",), control_plane=())
    two_lines = "a hello from FSx\nb hello from FSx\n"
    cluster.pod_scripts["fsx-app"] = PodScript(exec_results=[(0, two_lines)])
    cluster.pod_scripts["fsx-app-other-node"] = PodScript(log=two_lines)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("")
    platform = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(),
        connect=lambda path, context: clients_of(cluster),
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: emulator,
        environ={},
    )

    result = platform.run(scenarios("dynamic"), options(tmp_path, kubeconfig=kubeconfig), progress)

    assert result.passed, [s.message for s in result.scenarios]
    assert "does not prove cross-node sharing" in result.scenarios[0].details["nodes"]
    pods = [a["args"][1] for n, a in cluster.calls if n == "create_namespaced_pod"]
    assert {p.metadata.name for p in pods} == {"fsx-app", "fsx-app-other-node"}


@needs_kubectl
def test_a_controller_that_fails_its_health_check_is_not_ready_and_the_message_says_why(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:

    # livenessprobe restarts a driver whose Probe fails (it cannot reach the FSx endpoint).
    cluster.unhealthy[("fsx-csi-controller", "fsx-plugin")] = ContainerHealth(
        restarts=4, last_reason="Error", last_exit_code=1
    )

    result = kind_with(cluster, RecordingRunner(), emulator).run(
        scenarios("dynamic"), options(tmp_path, settings={"wait": "30"}), progress
    )

    message = result.scenarios[0].message
    assert result.scenarios[0].outcome is Outcome.ERROR
    assert "Deployment fsx-csi/fsx-csi-controller to be available" in message
    assert "fsx-plugin running (not ready)" in message
    assert "fsx-plugin restarted 4 times, last ended Error (exit code 1)" in message
    assert not cluster.claims, "no claim waited its provisioning timeout"


@needs_kubectl
def test_the_creation_delay_reaches_the_in_cluster_emulator(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    kind_with(cluster, RecordingRunner(), emulator).run(
        scenarios("invalid-parameters"), options(tmp_path, creation_delay_s=0.5), progress
    )
    emulator_pod = manifests.containers_of(
        cluster.applied[("Deployment", "fsx-csi", "fsx-emulator")]
    )
    args = emulator_pod[0]["args"]
    assert [a for a in args if a.startswith("--creation-delay")] == ["--creation-delay=0.5"]


@needs_kubectl
def test_ctrl_c_keeps_the_results_and_still_deletes_the_cluster(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    def interrupt(method: str, kwargs: dict[str, Any]) -> None:
        if method == "create_namespaced_pod":
            raise KeyboardInterrupt

    cluster.before_call = interrupt
    runner = RecordingRunner()

    result = kind_with(cluster, runner, emulator).run(
        scenarios("dynamic", "static"), options(tmp_path), progress
    )

    assert [(s.name, s.outcome) for s in result.scenarios] == [
        ("dynamic", Outcome.ERROR),
        ("static", Outcome.ERROR),
    ]
    assert "interrupted (Ctrl-C)" in result.scenarios[0].message
    assert result.details["interrupted"] == "Ctrl-C"
    assert [c[:3] for c in runner.without_kustomize()][-2:] == [
        ["kind", "delete", "cluster"],
        ["umount", "--recursive", "--lazy"],
    ]
    assert not any(tmp_path.glob("fsx-*")), "the run directory is removed after the unmount"
    assert not cluster.claims, "the interrupted scenario's claim was removed"


@needs_kubectl
def test_a_kept_driver_is_reused_by_a_second_run_and_released_after(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("")
    platform = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(),
        connect=lambda path, context: clients_of(cluster),
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: emulator,
        environ={},
    )
    replaced: list[str] = []
    cluster.on_pods_replaced.append(replaced.append)
    keep = options(tmp_path, kubeconfig=kubeconfig, keep_cluster=True)

    # `fsx-csi e2e --platform cluster --scenario dynamic --keep-cluster`, twice.
    first = platform.run(scenarios("dynamic"), keep, progress)
    second = platform.run(
        scenarios("dynamic"),
        RunOptions(
            run_id="e2e-20250101-130000-second",
            work_dir=tmp_path,
            kubeconfig=kubeconfig,
            keep_cluster=True,
        ),
        progress,
    )

    assert first.passed and second.passed, [
        s.message for s in (*first.scenarios, *second.scenarios)
    ]
    assert replaced == [], "the second apply rolled no pod (the emulator kept its state)"
    assert ("Deployment", "fsx-csi", "fsx-csi-controller") in cluster.applied
    assert platform.kept is not None and platform.kept.kubeconfig == kubeconfig
    platform.kept.release(progress)
    assert cluster.applied == {}, "releasing the kept driver deleted every object"


# --------------------------------------------------------------------------- modify-volume


def modify_cluster(fake: FakeCluster, versions: tuple[str, ...]) -> FakeCluster:
    fake.attributes_class_versions = versions
    fake.pod_scripts["before-modification"] = PodScript()
    fake.pod_scripts["after-modification"] = PodScript(
        log="hello from FSx before the modification\nhello from FSx at 500 MB/s/TiB\n"
    )
    return fake


@needs_kubectl
@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_modify_volume_runs_where_the_cluster_serves_volume_attributes_classes(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress, version: str
) -> None:
    fake = modify_cluster(cluster, (version,))
    runner = RecordingRunner()

    result = kind_with(fake, runner, emulator).run(
        scenarios("modify-volume"), options(tmp_path), progress
    )

    [scenario] = result.scenarios
    assert scenario.outcome is Outcome.PASSED, scenario.message
    assert scenario.details["modified"] == "PerUnitStorageThroughput=500"
    path = f"/apis/storage.k8s.io/{version}/volumeattributesclasses"
    assert ("POST", path) in fake.requests
    assert fake.attributes_classes == {}, "the class went with its claim (vac-protection)"
    assert result.leaks == [] and emulator.describe_file_systems()["FileSystems"] == []


@needs_kubectl
def test_modify_volume_is_not_run_with_the_reason_where_the_api_is_absent(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    fake = modify_cluster(cluster, ())

    result = kind_with(fake, RecordingRunner(), emulator).run(
        scenarios("modify-volume", "dynamic"), options(tmp_path), progress
    )

    outcomes = {s.name: s for s in result.scenarios}
    assert outcomes["modify-volume"].outcome is Outcome.NOT_RUN
    assert "serves no VolumeAttributesClass API" in (outcomes["modify-volume"].message or "")
    assert outcomes["dynamic"].outcome is Outcome.PASSED, outcomes["dynamic"].message
    assert ("GET", "/apis/storage.k8s.io/v1beta1/volumeattributesclasses") in fake.requests
    assert not fake.claims and emulator.describe_file_systems()["FileSystems"] == []


@needs_kubectl
@pytest.mark.parametrize("overlay", manifests.OVERLAYS)
def test_the_deployed_resizer_modifies_volumes_and_may_read_their_classes(
    overlay: manifests.Overlay,
) -> None:
    objects = manifests.render(SubprocessRunner(), overlay)
    controller = manifests.find(objects, "Deployment", manifests.CONTROLLER_DEPLOYMENT)
    assert controller is not None
    [resizer] = [c for c in manifests.containers_of(controller) if c["name"] == "csi-resizer"]
    # csi-resizer v1.12 ships its modifier beta and off: the scenario needs it on.
    assert resizer["image"].endswith(":v1.12.0")
    assert "--feature-gates=VolumeAttributesClass=true" in resizer["args"]
    role = manifests.find(objects, "ClusterRole", "fsx-csi-external-resizer")
    assert role is not None
    assert {
        "apiGroups": ["storage.k8s.io"],
        "resources": ["volumeattributesclasses"],
        "verbs": ["get", "list", "watch"],
    } in role["rules"]
