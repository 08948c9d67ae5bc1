"""`--platform cluster` on emulated AWS checks the nodes' emulation root instead of mounting
one (e2e/platforms/kube/emulation_check.py), against the fake API (tests/e2e/fake_kube.py):
the node plugin and emulator pods are the fake controllers' pods of really applied, really
patched workloads; exec into them runs the exact script the check sends in sh, on directories
standing in for each node's /run/fsx-emulation (nodes that share it name the same one) and
for kubelet's pods directory (on the same file system as the root, or /proc: another one).
"""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from e2e.platforms import cluster as cluster_platform
from e2e.platforms.emulation_root import DETAILS_KEY, WARNING_KEY
from e2e.platforms.kube import emulation_check as check
from e2e.platforms.kube.apply import apply_manifests
from e2e.platforms.kube.lustre_helper import CONTAINER_ROOT, patched_node_plugin
from e2e.platforms.kube.objects import KubeRunSettings
from e2e.progress import Progress
from e2e.results import Outcome
from e2e.scenarios import load_scenarios, select_scenarios
from tests.e2e.fake_kube import FakeCluster, PodScript
from tests.e2e.test_kube_platforms import (
    RUN_ID,
    FastClock,
    RecordingRunner,
    needs_kubectl,
    no_port_forward,
    options,
)

NS = "fsx-csi"
KUBELET_PODS = "/var/lib/kubelet/pods"
MARKER = f"{CONTAINER_ROOT}/.fsx-csi-harness-marker-{RUN_ID}"
NODES = ("kind-worker", "kind-worker2")


def node_daemon_set() -> dict[str, Any]:
    """A node plugin as drivers ship it (kubelet's directory, Bidirectional), patched with the
    Lustre emulation as every emulated run patches it."""
    return patched_node_plugin(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "fsx-csi-node", "namespace": NS},
            "spec": {
                "selector": {"matchLabels": {"app": "fsx-csi-node"}},
                "template": {
                    "metadata": {"labels": {"app": "fsx-csi-node"}},
                    "spec": {
                        "containers": [
                            {"name": "node-driver-registrar", "image": "registrar"},
                            {
                                "name": "fsx-plugin",
                                "image": "driver",
                                "volumeMounts": [
                                    {
                                        "name": "kubelet-dir",
                                        "mountPath": "/var/lib/kubelet",
                                        "mountPropagation": "Bidirectional",
                                    }
                                ],
                            },
                        ]
                    },
                },
            },
        }
    )


def emulator_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "fsx-emulator", "namespace": NS},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "fsx-emulator"}},
            "template": {
                "metadata": {"labels": {"app": "fsx-emulator"}},
                "spec": {
                    "containers": [
                        {
                            "name": "emulator",
                            "image": "harness",
                            "volumeMounts": [
                                {"name": "emulation-root", "mountPath": CONTAINER_ROOT}
                            ],
                        }
                    ]
                },
            },
        },
    }


@dataclass
class Nodes:
    """exec into the driver's pods: the script runs in sh, each node's emulation root and
    kubelet pods directory mapped to what `roots` and `kubelet` say; `delegate` answers
    every other pod (the fake's own exec)."""

    cluster: FakeCluster
    # node -> the directory that is its /run/fsx-emulation (a shared one: the same path).
    roots: dict[str, Path]
    # node -> its kubelet pods directory (beside the root: the same file system; /proc: not).
    kubelet: dict[str, str]
    delegate: Any = None
    # Pods whose exec the API server refuses (RBAC on pods/exec).
    refused: set[str] = field(default_factory=set)
    # PATH for sh in the node plugin containers (an empty directory: no `stat`).
    path: str | None = None
    calls: list[tuple[str, str, str, list[str]]] = field(default_factory=list)

    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout_s: float
    ) -> tuple[int, str]:
        seen = self.cluster.workload_pods.get((namespace, pod))
        if seen is None:
            code, output = self.delegate.exec(namespace, pod, container, argv, timeout_s)
            return int(code), str(output)
        self.calls.append((namespace, pod, container, list(argv)))
        if pod in self.refused:
            raise ApiException(status=403, reason="Forbidden")
        node = seen["spec"]["nodeName"]
        script = argv[2].replace(CONTAINER_ROOT, str(self.roots[node]))
        env = dict(os.environ)
        if not pod.startswith("fsx-emulator"):
            script = script.replace(KUBELET_PODS, self.kubelet[node])
            if self.path is not None:
                env["PATH"] = self.path
        done = subprocess.run(
            ["/bin/sh", "-c", script], capture_output=True, text=True, check=False, env=env
        )
        return done.returncode, done.stdout + done.stderr

    def plugin_calls(self) -> list[tuple[str, str, list[str]]]:
        return [(pod, c, argv) for _, pod, c, argv in self.calls if pod.startswith("fsx-csi-node")]

    def emulator_calls(self) -> list[list[str]]:
        return [argv for _, pod, _, argv in self.calls if pod.startswith("fsx-emulator")]


def deployed(tmp_path: Path, shared: bool = True, same_device: bool = False) -> Nodes:
    """Two workers with the patched node plugin and the emulator (on kind-worker) running."""
    cluster = FakeCluster(None, nodes=NODES, control_plane=())
    cluster.reads_before_transition = 0
    apply_manifests(cluster.clients(), [node_daemon_set(), emulator_deployment()], quiet_progress())
    for _ in range(3):  # the fake's controllers roll out on reads
        cluster.workload("DaemonSet", NS, "fsx-csi-node")
        cluster.workload("Deployment", NS, "fsx-emulator")
    roots = {}
    for node in NODES:
        root = tmp_path / ("shared" if shared else node) / "root"
        root.mkdir(parents=True, exist_ok=True)
        roots[node] = root
    (tmp_path / "pods").mkdir()
    kubelet = {node: str(tmp_path / "pods") if same_device else "/proc" for node in NODES}
    return Nodes(cluster, roots, kubelet)


def quiet_progress() -> Progress:
    return Progress(stream=io.StringIO())


def settings() -> KubeRunSettings:
    return KubeRunSettings(
        run_id=RUN_ID, platform="cluster", namespace="fsx-csi-e2e", pod_image="i"
    )


def run_check(
    nodes: Nodes, names: Sequence[str] = NODES
) -> tuple[check.NotShared | None, dict[str, Any], str]:
    clients = nodes.cluster.clients()
    nodes.delegate, clients.exec = clients.exec, nodes
    stream = io.StringIO()
    details: dict[str, Any] = {}
    problem = check.check_emulation_root(
        clients, settings(), names, details, Progress(stream=stream)
    )
    return problem, details, stream.getvalue()


def test_same_device_records_the_warning_naming_the_node_and_the_fix(tmp_path: Path) -> None:
    nodes = deployed(tmp_path, same_device=True)

    problem, details, said = run_check(nodes)

    assert problem is None
    warning = details[WARNING_KEY]
    device = str(os.stat(tmp_path / "pods").st_dev)
    assert warning.startswith(
        "on node(s) kind-worker, kind-worker2 the emulation root /var/lib/fsx-csi-emulation "
        "(/run/fsx-emulation in the node plugin container, e.g. fsx-csi/fsx-csi-node-1-0 "
        f"(fsx-plugin)) is on the same file system as kubelet's pods directory "
        f"(/var/lib/kubelet/pods, device {device}), not on one of its own: the emulated file "
        "systems share the file system of the pods' volume targets, so a driver built on "
        "Kubernetes' mount library (device numbers) may judge its emulated Lustre mounts as "
        "not mounted; the reference driver reads mountinfo and is not affected; fix: give "
        "/var/lib/fsx-csi-emulation a file system of its own on every node, shared between them"
    ), warning
    assert f"warning: {warning}\n" in said
    assert (
        f"kind-worker: /run/fsx-emulation (device {device}) SAME file system as"
        in (details[DETAILS_KEY])
    )
    # The exact script, in the container that has the emulation root, on each node.
    script = check.node_script(KUBELET_PODS, f".fsx-csi-harness-marker-{RUN_ID}")
    assert nodes.plugin_calls() == [
        ("fsx-csi-node-1-0", "fsx-plugin", ["sh", "-c", script]),
        ("fsx-csi-node-1-1", "fsx-plugin", ["sh", "-c", script]),
    ]
    assert script == (
        'if command -v stat >/dev/null 2>&1; then echo "root_device=$(stat -c %d '
        '/run/fsx-emulation 2>&1)"; echo "kubelet_device=$(stat -c %d /var/lib/kubelet/pods '
        '2>&1)"; else echo stat=missing; fi; if [ -f '
        f"{MARKER} ]; then seen=; IFS= read -r seen < {MARKER}; "
        'echo "marker=$seen"; else echo marker=absent; fi'
    )


def test_a_file_system_of_its_own_shared_by_the_nodes_gives_no_warning(tmp_path: Path) -> None:
    nodes = deployed(tmp_path)

    problem, details, said = run_check(nodes)

    assert problem is None
    assert WARNING_KEY not in details and check.NOT_SHARED_KEY not in details
    summary = details[DETAILS_KEY]
    root_device = os.stat(tmp_path / "shared" / "root").st_dev
    proc_device = os.stat("/proc").st_dev
    assert summary == (
        f"kind-worker: /run/fsx-emulation (device {root_device}) a file system of its own, not "
        f"kubelet's /var/lib/kubelet/pods (device {proc_device}), in fsx-csi/fsx-csi-node-1-0 "
        f"(fsx-plugin); kind-worker2: /run/fsx-emulation (device {root_device}) a file system "
        f"of its own, not kubelet's /var/lib/kubelet/pods (device {proc_device}), in "
        "fsx-csi/fsx-csi-node-1-1 (fsx-plugin); shared: the marker the FSx emulator "
        "fsx-csi/fsx-emulator-1-0 (emulator) on kind-worker wrote is seen on kind-worker, "
        "kind-worker2"
    )
    assert "warning" not in said
    # Written by the emulator into its root, removed after: nothing left in the nodes' root.
    assert nodes.emulator_calls() == [
        ["sh", "-c", f"printf '%s\\n' 'fsx-csi-harness run {RUN_ID}' > {MARKER}"],
        ["sh", "-c", f"rm -f {MARKER}"],
    ]
    assert list((tmp_path / "shared" / "root").iterdir()) == []


def test_nodes_that_do_not_share_the_root_are_said_up_front(tmp_path: Path) -> None:
    nodes = deployed(tmp_path, shared=False)

    problem, details, said = run_check(nodes)

    assert problem is not None and problem.reason == details[check.NOT_SHARED_KEY]
    assert problem.nodes == ("kind-worker2",)  # kind-worker runs the emulator: it sees it
    assert problem.reason.startswith(
        "the nodes do not share the emulation root /var/lib/fsx-csi-emulation: a marker the "
        "FSx emulator fsx-csi/fsx-emulator-1-0 (emulator) on kind-worker wrote into it is not "
        "in /run/fsx-emulation of the node plugin on kind-worker2; the file systems the "
        "emulator creates do not exist there, so mounts on those nodes fail and scenarios "
        "that need a second node cannot pass; fix:"
    ), problem
    assert f"warning: {problem.reason}\n" in said
    assert WARNING_KEY not in details  # the devices differ: only the sharing is wrong


def test_checked_settings_add_the_sharing_problem_to_the_pods_failure_notes(
    tmp_path: Path,
) -> None:
    nodes = deployed(tmp_path, shared=False)
    clients = nodes.cluster.clients()
    nodes.delegate, clients.exec = clients.exec, nodes
    (scenario,) = select_scenarios(load_scenarios(), ["dynamic"])
    assert scenario.node_count == 2
    before = KubeRunSettings(
        run_id=RUN_ID, platform="cluster", namespace="n", pod_image="i", mount_hint="earlier"
    )
    details: dict[str, Any] = {}

    stream = io.StringIO()

    after = check.checked_settings(clients, before, [scenario], details, Progress(stream=stream))

    assert after.mount_hint == f"earlier; {details[check.NOT_SHARED_KEY]}"
    # What KubeOperations.nodes_for marks NOT RUN by: the node, with the reason.
    assert (after.unshared_nodes, after.unshared_reason) == (
        ("kind-worker2",),
        details[check.NOT_SHARED_KEY],
    )
    assert (
        "scenarios with pods that would use kind-worker2 will be NOT RUN: the "
        "cluster's set-up, not the driver, keeps them from passing; the others run\n"
    ) in stream.getvalue()
    assert [pod for pod, _, _ in nodes.plugin_calls()] == ["fsx-csi-node-1-0", "fsx-csi-node-1-1"]
    # A scenario on one node checks that node alone (the runner's first node).
    nodes.calls.clear()
    (single,) = select_scenarios(load_scenarios(), ["invalid-parameters"])
    same = check.checked_settings(clients, before, [single], {}, quiet_progress())
    assert [pod for pod, _, _ in nodes.plugin_calls()] == ["fsx-csi-node-1-0"]
    assert same is before  # kind-worker sees the emulator's marker: nothing to add


def test_sharing_not_checked_keeps_the_cross_node_scenarios_running(tmp_path: Path) -> None:
    """No marker written (exec into the emulator refused): nothing is known of the sharing,
    so the settings, and with them today's run of every scenario, stay as they were."""
    nodes = deployed(tmp_path, shared=False)
    nodes.refused = {"fsx-emulator-1-0"}
    clients = nodes.cluster.clients()
    nodes.delegate, clients.exec = clients.exec, nodes
    (scenario,) = select_scenarios(load_scenarios(), ["dynamic"])
    before = settings()
    details: dict[str, Any] = {}

    after = check.checked_settings(clients, before, [scenario], details, quiet_progress())

    assert after is before and after.unshared_nodes == ()
    assert check.NOT_SHARED_KEY not in details
    assert "sharing between the nodes NOT checked: writing a marker" in details[DETAILS_KEY]


def test_exec_refused_is_not_checked_with_the_reason(tmp_path: Path) -> None:
    nodes = deployed(tmp_path, same_device=True)
    nodes.refused = {"fsx-csi-node-1-1", "fsx-emulator-1-0"}

    problem, details, _ = run_check(nodes)

    summary = details[DETAILS_KEY]
    assert (
        "kind-worker2: NOT checked: exec into fsx-csi/fsx-csi-node-1-1 (fsx-plugin) failed: "
        "HTTP 403 Forbidden"
    ) in summary
    assert summary.endswith(
        "sharing between the nodes NOT checked: writing a marker in the FSx emulator "
        "fsx-csi/fsx-emulator-1-0 (emulator) on kind-worker failed: HTTP 403 Forbidden"
    )
    # What could be checked still is: kind-worker's devices, without the marker part.
    assert details[WARNING_KEY].startswith("on node(s) kind-worker the emulation root")
    assert problem is None
    assert nodes.plugin_calls()[0][2] == ["sh", "-c", check.node_script(KUBELET_PODS, None)]


def test_no_stat_in_the_image_is_not_checked_and_the_marker_still_is(tmp_path: Path) -> None:
    nodes = deployed(tmp_path, same_device=True)
    nodes.path = str(tmp_path / "empty-bin")  # sh finds no `stat`; its builtins still work

    problem, details, _ = run_check(nodes, ["kind-worker"])

    assert WARNING_KEY not in details and problem is None
    assert details[DETAILS_KEY] == (
        "kind-worker: NOT checked: no `stat` in fsx-csi/fsx-csi-node-1-0 (fsx-plugin) (the "
        "check runs POSIX sh and coreutils' or busybox's `stat -c %d`, so that images without "
        "Python can answer); shared: the marker the FSx emulator fsx-csi/fsx-emulator-1-0 "
        "(emulator) on kind-worker wrote is seen on kind-worker"
    )


def test_a_container_without_the_emulation_root_or_a_failing_sh_is_not_checked(
    tmp_path: Path,
) -> None:
    nodes = deployed(tmp_path)
    nodes.kubelet["kind-worker2"] = str(tmp_path / "no-such-kubelet" / "pods")

    _, details, _ = run_check(nodes, ["kind-worker2", "kind-worker3"])

    summary = details[DETAILS_KEY]
    assert (
        f"kind-worker2: NOT checked: stat -c %d /var/lib/kubelet/pods in fsx-csi/fsx-csi-node-1-1 "
        f"(fsx-plugin): stat: cannot statx '{tmp_path}/no-such-kubelet/pods'"
    ) in summary
    assert (
        "kind-worker3: NOT checked: no node plugin pod on kind-worker3 (fsx-csi/app=fsx-csi-node) "
        "has the Lustre emulation's root"
    ) in summary


@pytest.mark.parametrize(
    ("mounts", "expected"),
    [
        ([("/var/lib/kubelet", "Bidirectional")], "/var/lib/kubelet/pods"),
        ([("/var/lib/k0s/kubelet/", "Bidirectional")], "/var/lib/k0s/kubelet/pods"),
        (
            [
                ("/var/lib/kubelet/plugins", "Bidirectional"),
                ("/var/lib/kubelet/pods", "Bidirectional"),
            ],
            "/var/lib/kubelet/pods",
        ),
        ([("/var/lib/kubelet/plugins", "Bidirectional"), ("/host", None)], KUBELET_PODS),
        ([], KUBELET_PODS),
    ],
)
def test_kubelet_pods_directory_from_the_bidirectional_mount(
    mounts: list[tuple[str, str | None]], expected: str
) -> None:
    from kubernetes import client as k8s

    models = [k8s.V1VolumeMount(name="m", mount_path=p, mount_propagation=m) for p, m in mounts]
    assert check.kubelet_pods_dir(models) == expected


def run_cluster(
    tmp_path: Path, emulator: Any, names: Sequence[str], own_root: Sequence[str] = ()
) -> tuple[Any, str, Nodes]:
    """`--platform cluster` on emulated AWS, the reference driver deployed on the fake
    cluster, kubelet's pods directory beside the root (the same file system). The nodes share
    one emulation root (the FSx emulator runs on kind-control-plane), but those in `own_root`
    have one of their own."""
    cluster = FakeCluster(emulator)
    # What the pods of `dynamic` say (the fake runs no pod): both writes read on each node.
    two_lines = "a hello from FSx\nb hello from FSx\n"
    cluster.pod_scripts["fsx-app"] = PodScript(exec_results=[(0, two_lines)])
    cluster.pod_scripts["fsx-app-other-node"] = PodScript(log=two_lines)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("")
    (tmp_path / "pods").mkdir()
    roots = {}
    for name in cluster.node_names():
        roots[name] = tmp_path / (name if name in own_root else "shared")
        roots[name].mkdir(exist_ok=True)
    nodes = Nodes(
        cluster, roots=roots, kubelet={n: str(tmp_path / "pods") for n in cluster.node_names()}
    )

    def connect(path: Path | None, context: str | None) -> Any:
        clients = cluster.clients()
        nodes.delegate, clients.exec = clients.exec, nodes
        return clients

    platform = cluster_platform.ClusterPlatform(
        runner=RecordingRunner(),
        connect=connect,
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: emulator,
        environ={},
    )
    stream, clock = io.StringIO(), FastClock()
    result = platform.run(
        select_scenarios(load_scenarios(), list(names)),
        options(tmp_path, kubeconfig=kubeconfig),
        Progress(stream=stream, clock=clock.clock, sleep=clock.sleep),
    )
    return result, stream.getvalue(), nodes


def scenario_mutations(nodes: Nodes, scenario: str) -> list[str]:
    """The create/patch/delete calls of a scenario's objects (its claim, StorageClass, PV and
    pods carry its name)."""
    return [call for call in nodes.cluster.calls.mutations() if scenario in call]


@needs_kubectl
def test_cluster_on_emulated_aws_records_what_it_found_before_the_scenarios(
    tmp_path: Path, emulator: Any
) -> None:
    result, said, nodes = run_cluster(tmp_path, emulator, ["dynamic", "invalid-parameters"])

    # Shared: every scenario runs, the cross-node one too.
    assert [(s.name, s.outcome) for s in result.scenarios] == [
        ("dynamic", Outcome.PASSED),
        ("invalid-parameters", Outcome.PASSED),
    ], [s.message for s in result.scenarios]
    assert result.passed
    # The reference driver's node plugin, as the emulated overlay deploys and patches it.
    assert result.details[WARNING_KEY].startswith(
        "on node(s) kind-worker, kind-worker2 the emulation root"
    )
    assert "shared: the marker the FSx emulator" in result.details[DETAILS_KEY]
    assert check.NOT_SHARED_KEY not in result.details and "will be NOT RUN" not in said
    assert said.index("warning: on node(s) kind-worker") < said.index("running the scenarios")
    # Both nodes were checked: the cross-node scenario uses both.
    summary = result.details[DETAILS_KEY]
    assert summary.startswith("kind-worker: ") and "; kind-worker2: " in summary, summary
    assert summary.endswith("on kind-control-plane wrote is seen on kind-worker, kind-worker2")
    assert len(nodes.plugin_calls()) == 2


@needs_kubectl
def test_nodes_not_sharing_the_root_leave_the_scenarios_with_pods_there_not_run(
    tmp_path: Path, emulator: Any
) -> None:
    result, said, nodes = run_cluster(
        tmp_path, emulator, ["dynamic", "invalid-parameters", "static"], own_root=["kind-worker2"]
    )

    reason = result.details[check.NOT_SHARED_KEY]
    assert "is not in /run/fsx-emulation of the node plugin on kind-worker2;" in reason
    not_run = (
        "its pods would run on kind-worker2, and the cluster's set-up keeps it from passing "
        f"there: {reason}"
    )
    outcomes = [(s.name, s.outcome, s.message) for s in result.scenarios]
    assert outcomes == [
        ("dynamic", Outcome.NOT_RUN, not_run),
        ("invalid-parameters", Outcome.PASSED, ""),
        ("static", Outcome.NOT_RUN, not_run),
    ], outcomes
    # Not run at all: no step, no object of theirs created; the single-node one was.
    assert [s.steps for s in result.scenarios if s.outcome is Outcome.NOT_RUN] == [[], []]
    assert scenario_mutations(nodes, "dynamic") == []
    assert scenario_mutations(nodes, "static") == []
    assert scenario_mutations(nodes, "invalid-parameters")
    # No failure is put on the driver: the suite is not FAILED.
    suite = result.to_suite()
    assert suite.outcome is Outcome.PASSED and not suite.failed
    # Said before the scenarios, then for each of them.
    ahead = (
        "scenarios with pods that would use kind-worker2 will be NOT RUN: the "
        "cluster's set-up, not the driver, keeps them from passing; the others run"
    )
    assert (
        said.index(f"warning: {reason}") < said.index(ahead) < said.index("running the scenarios")
    )
    assert f"scenario dynamic: not_run ({not_run})\n" in said
    assert "scenario invalid-parameters: passed" in said


def test_kube_operations_leave_a_scenario_to_run_whose_nodes_all_see_the_root() -> None:
    """nodes_for decides by the nodes the scenario's pods land on: one with two nodes that
    both see the emulator's root runs on a larger cluster whose third node does not."""
    from e2e import leaks
    from e2e.platforms.kube.operations import KubeOperations
    from e2e.results import ScenarioRecorder

    cluster = FakeCluster(None, nodes=("w1", "w2", "w3"), control_plane=())
    progress = quiet_progress()
    # nodes_for calls no FSx API: nothing answers it here.
    no_fsx: Any = None

    def placed(nodes: Sequence[str], unshared: tuple[str, ...], name: str) -> Any:
        runs = dataclasses.replace(settings(), unshared_nodes=unshared, unshared_reason="why")
        operations = KubeOperations(
            cluster.clients(),
            leaks.FileSystemGuard(no_fsx, progress),
            no_fsx,
            progress,
            runs,
            nodes,
        )
        (scenario,) = select_scenarios(load_scenarios(), [name])
        recorder = ScenarioRecorder(scenario.name, "cluster")
        return operations.nodes_for(scenario, recorder), recorder.result

    assert placed(["w1", "w2", "w3"], ("w3",), "dynamic")[0] == ["w1", "w2"]
    chosen, result = placed(["w1", "w2", "w3"], ("w2", "w3"), "dynamic")
    assert chosen is None and result.outcome is Outcome.NOT_RUN
    assert result.message == (
        "its pods would run on w2, and the cluster's set-up keeps it from passing there: why"
    )
    # One node: its pods share it, and they cannot see the emulator's root there either.
    chosen, result = placed(["w3"], ("w3",), "dynamic")
    assert chosen is None and result.outcome is Outcome.NOT_RUN
    # A scenario without pods mounts nothing: it runs wherever it lands.
    assert placed(["w2"], ("w2",), "invalid-parameters")[0] == ["w2"]
