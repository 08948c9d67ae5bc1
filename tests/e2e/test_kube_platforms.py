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
from e2e.emulator.config import EmulatorConfig
from e2e.emulator.server import EmulatorServer
from e2e.platforms import RunOptions, kube, manifests
from e2e.platforms import cluster as cluster_platform
from e2e.platforms import k3s as k3s_platform
from e2e.platforms import kind as kind_platform
from e2e.platforms.commands import CommandFailed, CommandResult, SubprocessRunner
from e2e.progress import Progress
from e2e.results import Outcome, RunResult
from e2e.scenarios import Scenario, load_scenarios, select_scenarios
from tests.e2e.fake_kube import FakeCluster, FakeExec, PodScript

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
def emulator() -> Iterator[Any]:
    config = EmulatorConfig(creation_delay=0.0, deletion_delay=0.0, update_delay=0.0)
    with EmulatorServer(config) as server:
        yield boto3.client(
            "fsx",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="emulated",
            aws_secret_access_key="emulated",
        )


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


def clients_of(fake: FakeCluster) -> kube.KubeClients:
    return kube.KubeClients(fake.core, fake.storage, fake.apps, fake.rbac, FakeExec(fake))


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
    name = "fsx-e2e-20250101-120000-abc123"
    commands = runner.without_kustomize()
    work = Path(commands[0][commands[0].index("--config") + 1]).parent
    assert commands == [
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
    ]
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
    assert deployment["metadata"]["labels"][manifests.RUN_ID_LABEL] == kube.kube_name(RUN_ID)
    plugin = deployment["spec"]["template"]["spec"]["containers"][0]
    assert (plugin["image"], plugin["imagePullPolicy"]) == ("fsx-csi-harness:kind-e2e", "Never")
    assert all(
        body["metadata"]["labels"][manifests.RUN_ID_LABEL] == kube.kube_name(RUN_ID)
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
    settings = kube.KubeRunSettings(
        run_id=RUN_ID, platform="kind", namespace="fsx-csi-e2e", pod_image="img:1"
    )
    runner = kube.KubeScenarioRunner(
        clients,
        leaks.FileSystemGuard(emulator, progress),
        emulator,
        progress,
        settings,
        kube.schedulable_nodes(clients),
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
    settings = kube.KubeRunSettings(run_id=RUN_ID, platform="kind", namespace="ns", pod_image="i")
    runner = kube.KubeScenarioRunner(
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
    clients = clients_of(cluster)
    result = RunResult(RUN_ID, "kind", "reference")
    settings = kube.KubeRunSettings(
        run_id=RUN_ID,
        platform="kind",
        namespace=kube.kube_name(f"fsx-csi-{RUN_ID}"),
        pod_image="i",
    )

    kube.run_scenarios(
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
    clients = clients_of(cluster)
    result = RunResult(RUN_ID, "kind", "reference")
    settings = kube.KubeRunSettings(run_id=RUN_ID, platform="kind", namespace="ns", pod_image="i")

    kube.run_scenarios(
        clients, emulator, scenarios("expansion"), settings, progress, result, None, []
    )

    assert result.scenarios[0].outcome is Outcome.ERROR
    assert any(s.name.startswith("teardown Pod") for s in result.scenarios[0].steps)
    kinds = {leak.kind for leak in result.leaks}
    # The claim the sweep deletes takes its volume and file system with it (reclaim Delete);
    # the file system may still be DELETING when the FSx part of the sweep looks.
    assert (
        {"Pod", "PersistentVolumeClaim"} <= kinds <= {"Pod", "PersistentVolumeClaim", "file-system"}
    )
    assert "after-expansion" in next(x.identifier for x in result.leaks if x.kind == "Pod")
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
    assert [c[:3] for c in runner.commands][-2:] == [
        ["kind", "export", "logs"],
        ["kind", "delete", "cluster"],
    ]


@needs_kubectl
def test_keep_cluster_leaves_cluster_and_kubeconfig(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    runner = RecordingRunner()
    result = kind_with(cluster, runner, emulator).run(
        scenarios("invalid-parameters"),
        options(tmp_path, keep_cluster=True, settings={"image": "my/fsx:1"}),
        progress,
    )
    assert result.passed
    assert [c[:2] for c in runner.without_kustomize()] == [["kind", "create"], ["kind", "load"]]
    assert Path(result.details["kubeconfig"]).parent.exists()


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
        connect=lambda path, context: kube.KubeClients(Refusing(), None, None, None, None),  # type: ignore[arg-type]
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
    profile = REPO / "fixtures/profiles/aws-example.yaml"
    missing = platform.missing_prerequisites(
        options(tmp_path, kubeconfig=kubeconfig, profile=profile, driver="installed")
    )
    assert [m.what for m in missing] == ["AWS credentials"]
    platform = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(),
        connect=lambda path, context: clients_of(cluster),
        credentials_present=lambda: True,
        environ={},
    )
    missing = platform.missing_prerequisites(
        options(tmp_path, kubeconfig=kubeconfig, profile=profile, driver="installed")
    )
    assert [m.what for m in missing] == ["an installed FSx CSI driver"]
    assert "no CSIDriver fsx.csi.aws.com" in missing[0].seen


def test_installed_driver_on_real_aws_uses_the_profile_and_deploys_nothing(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    # The "installed" driver: a CSIDriver object exists; the fake provisioner plays the driver.
    cluster.applied[("CSIDriver", None, "fsx.csi.aws.com")] = {"kind": "CSIDriver"}
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
        profile=REPO / "fixtures/profiles/aws-example.yaml",
    )
    assert platform.missing_prerequisites(run_options) == []

    result = platform.run(scenarios("dynamic"), run_options, progress)

    assert result.passed, [s.message for s in result.scenarios]
    assert result.details["aws"] == "real"
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


def test_profile_errors_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("region: us-east-1\nstorageClassParameters: {deploymentType: SCRATCH_2}\n")
    with pytest.raises(cluster_platform.ProfileError, match="subnetId"):
        cluster_platform.load_profile(bad)
    profile = cluster_platform.load_profile(REPO / "fixtures/profiles/aws-example.yaml")
    assert profile.subnet_id and profile.security_group_ids


# --------------------------------------------------------------------------- k3s


class FakeK3sNode:
    def __init__(self, image: str) -> None:
        self.image = image
        self.mappings: list[tuple[str, str, str]] = []
        self.execs: list[list[str]] = []
        self.started = self.stopped = False

    def with_volume_mapping(self, host: str, container: str, mode: str = "ro") -> FakeK3sNode:
        self.mappings.append((host, container, mode))
        return self

    def start(self) -> FakeK3sNode:
        self.started = True
        return self

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        self.stopped = True

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
        node_factory=lambda image: nodes.append(FakeK3sNode(image)) or nodes[-1],  # type: ignore[func-returns-value]
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
    profile = os.environ.get("FSX_CSI_E2E_PROFILE")
    platform = cluster_platform.create_platform()
    run_options = options(tmp_path, profile=Path(profile) if profile else None)
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
