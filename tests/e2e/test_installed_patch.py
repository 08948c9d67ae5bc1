"""`--platform cluster --driver installed --aws emulated`: the installed driver (an upstream
helm chart's objects, server-side applied into the fake API first, as `helm install` would
leave them) live-patched to the in-cluster FSx emulator and Lustre emulation, and restored.

Checked at the wire of the fake Kubernetes API (tests/e2e/fake_kube.py, the real client
models): the exact JSON patches sent, the templates the API server then holds, the restore
giving back the original template exactly, the restore on failure and Ctrl-C, the sweep of a
later run repairing a patch a killed run left, and the refusals before anything starts.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from e2e import leaks
from e2e.platforms import cluster as cluster_platform
from e2e.platforms import manifests
from e2e.platforms.kube import installed_patch as ip
from e2e.platforms.kube.apply import apply_manifests
from e2e.platforms.kube.lustre_helper import (
    CONFIG_MAP,
    HELPER_PATH,
    PatchError,
    patched_node_plugin,
)
from e2e.platforms.kube.objects import KubeRunSettings
from e2e.platforms.kube.sanity_pod import MARKER
from e2e.platforms.kube.sweep import sweep_run
from e2e.platforms.user_manifests import EMULATOR_ENVIRONMENT
from e2e.progress import Progress
from e2e.results import Outcome
from tests.e2e import test_kube_platforms as kube_tests
from tests.e2e.fake_kube import FakeCluster, PodScript
from tests.e2e.test_kube_platforms import (
    RUN_ID,
    RecordingRunner,
    needs_kubectl,
    no_port_forward,
    options,
    scenarios,
)

# The kube platform tests' fixtures (the FSx emulator over HTTP is tests/conftest.py's): a fast
# clock, a fake cluster whose scenario pods answer as a working driver's would.
progress = kube_tests.progress
cluster = kube_tests.cluster

DRIVER_IMAGE = "public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver:v1.2.0"
SIG = "registry.k8s.io/sig-storage"
NS = "kube-system"


def helm_objects(node_strategy: str = "RollingUpdate") -> list[dict[str, Any]]:
    """What the upstream chart installs, as far as the patch cares: the CSIDriver, the node
    DaemonSet, the controller Deployment; beside them another driver's controller (EBS) in
    the same namespace, which must not be touched."""
    socket_dir = "/var/lib/kubelet/plugins/fsx.csi.aws.com/"
    node = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "fsx-csi-node", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "fsx-csi-node"}},
            "updateStrategy": {"type": node_strategy},
            "template": {
                "metadata": {"labels": {"app": "fsx-csi-node"}},
                "spec": {
                    "containers": [
                        {
                            "name": "fsx-plugin",
                            "image": DRIVER_IMAGE,
                            "args": ["--mode=node", "--endpoint=$(CSI_ENDPOINT)"],
                            "volumeMounts": [
                                {
                                    "name": "kubelet-dir",
                                    "mountPath": "/var/lib/kubelet",
                                    "mountPropagation": "Bidirectional",
                                },
                                {"name": "plugin-dir", "mountPath": "/csi"},
                            ],
                        },
                        {
                            "name": "node-driver-registrar",
                            "image": f"{SIG}/csi-node-driver-registrar:v2.10.0",
                            "args": [f"--kubelet-registration-path={socket_dir}csi.sock"],
                        },
                    ],
                    "volumes": [
                        {"name": "kubelet-dir", "hostPath": {"path": "/var/lib/kubelet"}},
                        {"name": "plugin-dir", "hostPath": {"path": socket_dir}},
                    ],
                },
            },
        },
    }

    def controller(name: str, image: str, env: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [
                            {"name": "driver", "image": image, "env": env},
                            {"name": "csi-provisioner", "image": f"{SIG}/csi-provisioner:v5.0"},
                            {"name": "csi-resizer", "image": f"{SIG}/csi-resizer:v1.11"},
                        ]
                    },
                },
            },
        }

    fsx_env = [
        {"name": "CSI_ENDPOINT", "value": "unix:///var/lib/csi/sockets/pluginproxy/csi.sock"},
        {"name": "AWS_REGION", "value": "eu-west-1"},
    ]
    return [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "CSIDriver",
            "metadata": {"name": "fsx.csi.aws.com"},
            "spec": {"attachRequired": False},
        },
        node,
        controller("fsx-csi-controller", DRIVER_IMAGE, fsx_env),
        controller("ebs-csi-controller", "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1", []),
    ]


def installed(fake: FakeCluster, progress: Progress, **kwargs: Any) -> dict[str, Any]:
    """helm install: the objects in the fake cluster, rolled out; their templates as the API
    server holds them, by name."""
    apply_manifests(fake.clients(), helm_objects(**kwargs), progress)
    return {name: template(fake, kind, name) for kind, name in WORKLOADS}


WORKLOADS = (
    ("DaemonSet", "fsx-csi-node"),
    ("Deployment", "fsx-csi-controller"),
    ("Deployment", "ebs-csi-controller"),
)


def stored(fake: FakeCluster, kind: str, name: str) -> dict[str, Any]:
    return fake.applied[(kind, NS, name)]


def template(fake: FakeCluster, kind: str, name: str) -> dict[str, Any]:
    return copy.deepcopy(stored(fake, kind, name)["spec"]["template"])


def json_patches(fake: FakeCluster, dry_run: bool = False) -> list[tuple[str, str, list[Any]]]:
    return [
        (method, args["args"][0], args["args"][2])
        for method, args in fake.calls
        if method.startswith("patch_namespaced_")
        and args.get("_content_type") == ip.JSON_PATCH
        and (args.get("dry_run") == "All") == dry_run
    ]


@pytest.fixture
def fake() -> FakeCluster:
    return FakeCluster(None)


def test_the_patch_sends_these_operations_and_the_api_server_then_holds_these_templates(
    fake: FakeCluster, progress: Progress
) -> None:
    before = installed(fake, progress)
    plan = ip.plan_installed_patch(fake.clients(), "fsx.csi.aws.com", RUN_ID)
    assert [t.describe() for t in plan.targets] == [
        f"node plugin DaemonSet {NS}/fsx-csi-node (container fsx-plugin)",
        f"controller Deployment {NS}/fsx-csi-controller (container driver)",
    ], "the EBS controller in the same namespace is not the FSx driver's"
    fake.calls.clear()

    ip.apply_installed_patch(fake.clients(), plan, progress, 60.0, fake.node_names())

    config_map = fake.applied[("ConfigMap", NS, CONFIG_MAP)]
    assert config_map["metadata"]["labels"] == {manifests.RUN_ID_LABEL: manifests.kube_name(RUN_ID)}
    assert json_patches(fake, dry_run=True) == []
    sent = json_patches(fake)
    node_daemon_set = {
        "kind": "DaemonSet",
        "metadata": {},
        "spec": {"template": before["fsx-csi-node"]},
    }
    expected_node = patched_node_plugin(node_daemon_set)["spec"]["template"]
    original = before["fsx-csi-node"]
    assert sent[0] == (
        "patch_namespaced_daemon_set",
        "fsx-csi-node",
        [
            {"op": "test", "path": "/spec/template", "value": original},
            {"op": "replace", "path": "/spec/template", "value": expected_node},
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": {
                    ip.ORIGINAL_ANNOTATION: json.dumps(
                        original, sort_keys=True, separators=(",", ":")
                    ),
                    ip.RUN_ANNOTATION: RUN_ID,
                },
            },
        ],
    )
    assert [(m, n) for m, n, _ in sent] == [
        ("patch_namespaced_daemon_set", "fsx-csi-node"),
        ("patch_namespaced_deployment", "fsx-csi-controller"),
    ]
    # What the API server now holds: the helper over /sbin/mount.lustre in fsx-plugin only.
    node = template(fake, "DaemonSet", "fsx-csi-node")
    assert node == expected_node
    mounts = {m["mountPath"] for m in node["spec"]["containers"][0]["volumeMounts"]}
    assert HELPER_PATH in mounts and "volumeMounts" not in node["spec"]["containers"][1]
    controller = template(fake, "Deployment", "fsx-csi-controller")
    driver, *sidecars = controller["spec"]["containers"]
    assert driver["env"] == [
        {"name": "CSI_ENDPOINT", "value": "unix:///var/lib/csi/sockets/pluginproxy/csi.sock"},
        *({"name": k, "value": v} for k, v in EMULATOR_ENVIRONMENT.items()),
    ], "the helm value's AWS_REGION is replaced, not doubled"
    assert sidecars == before["fsx-csi-controller"]["spec"]["containers"][1:]
    assert template(fake, "Deployment", "ebs-csi-controller") == before["ebs-csi-controller"]
    assert plan.applied == plan.workloads


def test_restore_gives_back_the_original_templates_exactly_and_removes_the_configmap(
    fake: FakeCluster, progress: Progress
) -> None:
    before = installed(fake, progress)
    plan = ip.plan_installed_patch(fake.clients(), "fsx.csi.aws.com", RUN_ID)
    ip.apply_installed_patch(fake.clients(), plan, progress, 60.0, fake.node_names())
    assert template(fake, "DaemonSet", "fsx-csi-node") != before["fsx-csi-node"]

    problems = ip.restore_installed_patch(fake.clients(), plan, progress, 60.0, fake.node_names())

    assert problems == []
    for kind, name in WORKLOADS:
        after = template(fake, kind, name)
        assert json.dumps(after, sort_keys=True) == json.dumps(before[name], sort_keys=True)
        assert stored(fake, kind, name)["metadata"].get("annotations") in (None, {})
    assert ("ConfigMap", NS, CONFIG_MAP) not in fake.applied
    assert plan.applied == []


def test_an_earlier_runs_leftover_patch_is_adopted_from_its_saved_original(
    fake: FakeCluster, progress: Progress
) -> None:
    before = installed(fake, progress)
    earlier = ip.plan_installed_patch(fake.clients(), "fsx.csi.aws.com", "killed-run")
    ip.apply_installed_patch(fake.clients(), earlier, progress, 60.0, fake.node_names())
    # The earlier run died here. This run patches from the saved original, not the patched one.
    plan = ip.plan_installed_patch(fake.clients(), "fsx.csi.aws.com", RUN_ID)
    assert plan.targets[0].original == before["fsx-csi-node"]
    assert "run killed-run" in plan.notes()[0]
    ip.apply_installed_patch(fake.clients(), plan, progress, 60.0, fake.node_names())
    annotations = stored(fake, "DaemonSet", "fsx-csi-node")["metadata"]["annotations"]
    assert annotations[ip.RUN_ANNOTATION] == RUN_ID
    assert json.loads(annotations[ip.ORIGINAL_ANNOTATION]) == before["fsx-csi-node"]
    controller_env = template(fake, "Deployment", "fsx-csi-controller")["spec"]["containers"][0]
    assert [e["name"] for e in controller_env["env"]].count("AWS_REGION") == 1

    assert ip.restore_installed_patch(fake.clients(), plan, progress, 60.0, fake.node_names()) == []
    assert template(fake, "DaemonSet", "fsx-csi-node") == before["fsx-csi-node"]


def test_a_later_runs_sweep_restores_what_a_killed_run_left_patched(
    fake: FakeCluster, progress: Progress, emulator: Any
) -> None:
    before = installed(fake, progress)
    killed = ip.plan_installed_patch(fake.clients(), "fsx.csi.aws.com", "killed-run")
    ip.apply_installed_patch(fake.clients(), killed, progress, 60.0, fake.node_names())
    settings = KubeRunSettings(
        run_id=RUN_ID, platform="cluster", namespace="fsx-csi-later", pod_image="busybox"
    )
    guard = leaks.FileSystemGuard(emulator, progress)

    found = [
        leak for leak in sweep_run(fake.clients(), guard, settings, set()) if leak.kind != "sweep"
    ]

    assert sorted((leak.kind, leak.id, leak.removed) for leak in found) == [
        ("DaemonSet", f"{NS}/fsx-csi-node", True),
        ("Deployment", f"{NS}/fsx-csi-controller", True),
    ]
    assert all("left patched by run killed-run" in leak.detail for leak in found)
    for kind, name in WORKLOADS:
        assert template(fake, kind, name) == before[name]
    # A run's own sweep leaves its patch to its teardown (throughput may still need it).
    own = ip.plan_installed_patch(fake.clients(), "fsx.csi.aws.com", RUN_ID)
    ip.apply_installed_patch(fake.clients(), own, progress, 60.0, fake.node_names())
    assert [
        leak for leak in sweep_run(fake.clients(), guard, settings, set()) if leak.kind != "sweep"
    ] == []
    assert template(fake, "DaemonSet", "fsx-csi-node") != before["fsx-csi-node"]


# --------------------------------------------------------------------------- the platform


def platform_for(fake: FakeCluster, emulator: Any, runner: RecordingRunner) -> Any:
    return cluster_platform.ClusterPlatform(
        runner=runner,
        connect=lambda path, context: fake.clients(),
        port_forward=no_port_forward,
        fsx_client_factory=lambda url, region: emulator,
        environ={},
    )


def installed_options(tmp_path: Path, **kwargs: Any) -> Any:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("")
    return options(
        tmp_path, kubeconfig=kubeconfig, driver="installed", settings={"aws": "emulated"}, **kwargs
    )


def assert_restored(fake: FakeCluster, before: dict[str, Any]) -> None:
    for kind, name in WORKLOADS:
        assert template(fake, kind, name) == before[name], f"{kind} {name} not restored"
        assert not stored(fake, kind, name)["metadata"].get("annotations")
    left = sorted(
        k
        for k in fake.applied
        if k[0] not in ("CSIDriver", "DaemonSet", "Deployment") or k[1] != NS
    )
    assert left == [("CSIDriver", None, "fsx.csi.aws.com")], "the emulator and ConfigMap are gone"


@needs_kubectl
def test_e2e_on_emulated_aws_patches_the_installed_driver_runs_and_restores_it(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    fake = cluster
    before = installed(fake, progress)
    platform = platform_for(fake, emulator, RecordingRunner())
    run_options = installed_options(tmp_path)
    assert platform.missing_prerequisites(run_options) == []
    assert json_patches(fake) == [], "the prerequisite check changes nothing (dry runs only)"
    assert len(json_patches(fake, dry_run=True)) == 2

    result = platform.run(scenarios("dynamic"), run_options, progress)

    assert result.passed, [s.message for s in result.scenarios]
    assert result.details["aws"] == "emulated"
    assert result.details["installed driver"].startswith(ip.PATCH_NOTE)
    assert "fsx-csi-node" in result.details["installed driver"]
    assert result.details["installed driver restore"].startswith("restored")
    # The emulator was applied with the run's label, then deleted after the restore.
    emulator_apply = [
        a
        for n, a in fake.calls
        if n == "patch_namespaced_deployment" and a.get("name") == "fsx-emulator"
    ]
    assert (
        emulator_apply and emulator_apply[0]["body"]["metadata"]["labels"][manifests.RUN_ID_LABEL]
    )
    mutations = fake.calls.mutations()
    assert mutations.index("delete_namespaced_deployment fsx-emulator") > max(
        i for i, m in enumerate(mutations) if m == "patch_namespaced_daemon_set fsx-csi-node"
    )
    assert_restored(fake, before)


@needs_kubectl
@pytest.mark.parametrize("failure", [ApiException(status=500, reason="boom"), KeyboardInterrupt()])
def test_a_failure_or_ctrl_c_mid_run_still_restores_the_installed_driver(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress, failure: BaseException
) -> None:
    fake = cluster
    before = installed(fake, progress)
    platform = platform_for(fake, emulator, RecordingRunner())

    def fail(method: str, kwargs: dict[str, Any]) -> None:
        # Mid-run: the driver is patched, the scenarios start.
        if method == "create_namespace":
            fake.before_call = None
            raise failure

    fake.before_call = fail
    result = platform.run(scenarios("dynamic"), installed_options(tmp_path), progress)

    assert [s.outcome for s in result.scenarios] == [Outcome.ERROR]
    if isinstance(failure, KeyboardInterrupt):
        assert result.details["interrupted"] == "Ctrl-C"
    assert result.details["installed driver restore"].startswith("restored")
    assert_restored(fake, before)


@needs_kubectl
def test_qualify_style_keep_cluster_restores_at_release(
    tmp_path: Path, cluster: FakeCluster, emulator: Any, progress: Progress
) -> None:
    fake = cluster
    before = installed(fake, progress)
    platform = platform_for(fake, emulator, RecordingRunner())
    result = platform.run(
        scenarios("dynamic"), installed_options(tmp_path, keep_cluster=True), progress
    )
    assert result.passed, [s.message for s in result.scenarios]
    assert template(fake, "DaemonSet", "fsx-csi-node") != before["fsx-csi-node"], "kept patched"
    assert platform.kept is not None and platform.kept.description == "the patched installed driver"

    platform.kept.release(progress)

    assert_restored(fake, before)


def test_refused_without_a_node_plugin_or_with_an_ondelete_daemonset(
    tmp_path: Path, fake: FakeCluster, progress: Progress
) -> None:
    platform = platform_for(fake, None, RecordingRunner())
    apply_manifests(fake.clients(), helm_objects()[:1], progress)  # the CSIDriver alone
    missing = platform.missing_prerequisites(installed_options(tmp_path))
    assert [m.what for m in missing] == ["an installed fsx.csi.aws.com the harness can patch"]
    assert "expected a node plugin DaemonSet of fsx.csi.aws.com" in missing[0].seen
    assert "--aws real" in missing[0].hint

    installed(fake, progress, node_strategy="OnDelete")
    missing = platform.missing_prerequisites(installed_options(tmp_path))
    assert "update strategy OnDelete" in missing[0].seen
    assert json_patches(fake) == []


def test_refused_when_rbac_forbids_the_patch_and_nothing_is_changed(
    tmp_path: Path, fake: FakeCluster, progress: Progress
) -> None:
    before = installed(fake, progress)
    platform = platform_for(fake, None, RecordingRunner())

    def forbid(method: str, kwargs: dict[str, Any]) -> None:
        if method == "patch_namespaced_daemon_set":
            body = json.dumps({"kind": "Status", "message": "daemonsets.apps is forbidden"})
            exc = ApiException(status=403, reason="Forbidden")
            exc.body = body
            raise exc

    fake.before_call = forbid
    missing = platform.missing_prerequisites(installed_options(tmp_path))

    assert len(missing) == 1
    assert (
        f"patching DaemonSet {NS}/fsx-csi-node: HTTP 403 daemonsets.apps is forbidden"
        in missing[0].seen
    )
    assert "kubectl auth can-i patch daemonset -n kube-system" in missing[0].hint
    assert json_patches(fake) == []
    for kind, name in WORKLOADS:
        assert template(fake, kind, name) == before[name]


def test_no_controller_of_the_driver_is_a_patch_error(
    fake: FakeCluster, progress: Progress
) -> None:
    apply_manifests(fake.clients(), helm_objects()[:2], progress)
    with pytest.raises(
        PatchError, match=r"expected the controller of fsx\.csi\.aws\.com in kube-system"
    ):
        ip.plan_installed_patch(fake.clients(), "fsx.csi.aws.com", RUN_ID)


@needs_kubectl
def test_the_emulator_environment_is_what_the_emulated_overlay_gives_the_reference_driver() -> None:
    rendered = manifests.render(RecordingRunner(), "emulated")
    controller = manifests.find(rendered, "Deployment", manifests.CONTROLLER_DEPLOYMENT)
    assert controller is not None
    env: dict[str, str] = {}
    config_maps = {m["metadata"]["name"]: m for m in rendered if m["kind"] == "ConfigMap"}
    secrets = {m["metadata"]["name"]: m for m in rendered if m["kind"] == "Secret"}
    for container in manifests.containers_of(controller):
        for entry in container.get("envFrom") or []:
            if "configMapRef" in entry:
                env.update(config_maps[entry["configMapRef"]["name"]].get("data") or {})
            if "secretRef" in entry:
                secret = secrets[entry["secretRef"]["name"]]
                data = secret.get("data") or {}
                env.update({k: base64.b64decode(v).decode() for k, v in data.items()})
        env.update({e["name"]: e["value"] for e in container.get("env") or [] if "value" in e})
    assert {k: env.get(k) for k in EMULATOR_ENVIRONMENT} == EMULATOR_ENVIRONMENT


@needs_kubectl
def test_qualify_sanity_on_emulated_aws_runs_between_the_patch_and_the_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeCluster, progress: Progress
) -> None:
    from e2e.platforms.kube import clients as kube_clients
    from qualify.run import QualifyOptions, run_qualify
    from tests.e2e import test_sanity_pod as sanity_tests

    before = installed(fake, progress)
    fake.pod_scripts[sanity_tests.POD] = PodScript(
        log=sanity_tests.framed("sanity.json", sanity_tests.sanity_report())
        + f"\n{MARKER} exit 0\n"
    )
    monkeypatch.setattr(kube_clients, "connect", lambda path, context=None: fake.clients())
    # qualify's progress waits in real time: the fake's controllers answer at the first read.
    fake.reads_before_transition = 0
    run_qualify(
        QualifyOptions(
            platform="cluster",
            driver="installed",
            suites=("sanity",),
            report_dir=tmp_path / "reports",
            work_dir=tmp_path / "work",
            run_id=sanity_tests.RUN_ID,
            kubeconfig=tmp_path / "kubeconfig",
            stream=io.StringIO(),
        )
    )

    summary = json.loads((tmp_path / "reports" / sanity_tests.RUN_ID / "summary.json").read_text())
    [suite] = [s for s in summary["suites"] if s["name"] == "sanity"]
    assert suite["outcome"] == "passed", suite
    assert suite["details"]["installed driver"] == ip.PATCH_NOTE
    names = [(name, args.get("args", ())[:1]) for name, args in fake.calls]
    node_patches = [
        i
        for i, call in enumerate(names)
        if call == ("patch_namespaced_daemon_set", ("fsx-csi-node",))
    ]
    pod = [name for name, _ in names].index("create_namespaced_pod")
    assert node_patches[0] < pod < node_patches[-1], "sanity ran on the patched driver only"
    assert_restored(fake, before)
