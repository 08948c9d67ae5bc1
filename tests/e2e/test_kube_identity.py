"""The driver identity on kind, k3s and cluster (e2e/platforms/kube/identity.py), read from the
fake API server's CSINodes, CSIDriver and pods, and what a run without one is worth."""

from __future__ import annotations

import io
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from e2e.platforms.kube.apply import apply_manifests
from e2e.platforms.kube.identity import (
    CONTROLLER_IMAGE_DETAIL,
    NotRegistered,
    image_digest,
    read_identity,
    record_run_driver,
)
from e2e.platforms.kube.installed_patch import plan_installed_patch
from e2e.platforms.kube.lustre_helper import PatchError
from e2e.platforms.kube.objects import KubeRunSettings
from e2e.platforms.kube.readiness import wait_workloads_ready
from e2e.platforms.manifests import ObjectRef
from e2e.progress import Progress
from e2e.results import Outcome, RunResult, ScenarioResult, StepError
from fsx_csi_harness.results import DriverInfo
from tests.e2e.fake_kube import DRIVER, UPSTREAM_IMAGE, FakeCluster, image_id
from tests.e2e.test_kube_platforms import FastClock

WORKERS = ("kind-worker", "kind-worker2")
VERSION = f"image {UPSTREAM_IMAGE} ({image_id(UPSTREAM_IMAGE)})"


@pytest.fixture
def cluster() -> FakeCluster:
    fake = FakeCluster(fsx_client=None)
    fake.install_driver()
    return fake


def test_the_identity_is_the_registered_name_and_the_node_plugins_image(
    cluster: FakeCluster,
) -> None:
    identity = read_identity(
        cluster.clients(),
        DRIVER,
        WORKERS,
        node_pods=[("kube-system", "app=fsx-csi-node")],
        controller_pods=[("kube-system", "app=fsx-csi-controller")],
    )
    assert identity.info() == DriverInfo(DRIVER, VERSION)
    assert (identity.registered, identity.unregistered) == (WORKERS, ())
    # The driver container by the patch's rule (Bidirectional), not node-driver-registrar.
    assert {(c.container, c.node) for c in identity.node_plugin} == {
        ("fsx-plugin", "kind-worker"),
        ("fsx-plugin", "kind-worker2"),
    }
    assert identity.node_plugin_source == "pods app=fsx-csi-node in kube-system"
    details = identity.details()
    assert details["driver_controller_image"] == f"fsx-plugin: {VERSION.removeprefix('image ')}"
    assert details["csi_driver"] == (
        f"CSIDriver {DRIVER}: attachRequired=false, podInfoOnMount=false, "
        "fsGroupPolicy=ReadWriteOnceWithFSType; helm.sh/chart=aws-fsx-csi-driver-1.9.0"
    )
    assert details["driver_identity"].endswith(
        "the version is the node plugin's container image, not GetPluginInfo's vendor_version "
        "(the driver's socket is on the nodes)"
    )
    # Only what identifies the driver was read: CSINodes, the CSIDriver, pods; nothing written.
    assert sorted(set(cluster.calls.names())) == [
        "list_namespaced_pod",
        "read_csi_driver",
        "read_csi_node",
    ]


def test_a_node_without_the_registration_is_named_and_its_pods_are_not_counted(
    cluster: FakeCluster,
) -> None:
    registered = cluster.csi_node

    def csi_node(name: str) -> dict[str, Any]:
        answer = registered(name)
        if name == "kind-worker":
            answer["spec"]["drivers"] = None  # the kubelet's record before registration
        return answer

    cluster.csi_node = csi_node  # type: ignore[method-assign]
    identity = read_identity(cluster.clients(), DRIVER, WORKERS)
    assert (identity.registered, identity.unregistered) == (("kind-worker2",), ("kind-worker",))
    assert [c.node for c in identity.node_plugin] == ["kind-worker2"]
    # Not among the run's selectors: found as the in-cluster sanity pod finds it.
    assert identity.node_plugin_source == (
        "the pods of DaemonSet kube-system/fsx-csi-node, found by its socket directory"
    )
    assert "on 1 node(s) (kind-worker2), NOT on kind-worker;" in identity.describe()


def test_a_driver_registered_on_no_node_of_the_run_stops_it_before_anything_is_created() -> None:
    cluster = FakeCluster(fsx_client=None)  # nothing installed: every CSINode drivers null
    settings = KubeRunSettings(run_id="r", platform="cluster", namespace="ns", pod_image="i")
    details: dict[str, str] = {}
    with pytest.raises(StepError, match=f"the provisioner {DRIVER} is registered on none"):
        record_run_driver(
            cluster.clients(), settings, WORKERS, details, Progress(stream=io.StringIO())
        )
    assert details["driver_identity"].startswith(
        f"not read from the cluster: the provisioner {DRIVER} is registered on none of the "
        "run's nodes (kind-worker: drivers none, kind-worker2: drivers none)"
    )
    assert cluster.calls.mutations() == []
    with pytest.raises(NotRegistered):
        read_identity(cluster.clients(), DRIVER, ())


def test_an_unreadable_identity_is_said_and_the_run_does_not_pass(cluster: FakeCluster) -> None:
    del cluster.applied[("CSIDriver", None, DRIVER)]
    settings = KubeRunSettings(run_id="r", platform="kind", namespace="ns", pod_image="i")
    result = RunResult("r", "kind", "reference")
    progress = Progress(stream=io.StringIO())
    assert record_run_driver(cluster.clients(), settings, WORKERS, result.details, progress) is None
    result.scenarios.append(ScenarioResult("dynamic", "kind", Outcome.PASSED))
    suite = result.to_suite()
    assert suite.outcome is Outcome.NOT_RUN and not suite.driver.known
    assert suite.message == (
        "the run did not record which driver it exercised: not read from the cluster: no "
        f"CSIDriver {DRIVER} in the cluster, though the nodes register {DRIVER}"
    )
    # A failure stays a failure, known driver or not.
    result.scenarios.append(ScenarioResult("static", "kind", Outcome.FAILED))
    assert result.to_suite().outcome is Outcome.FAILED


def test_digests_as_the_kubelets_report_them() -> None:
    digest = "sha256:" + "a" * 64
    assert image_digest(f"public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver@{digest}") == digest
    assert image_digest(f"docker-pullable://busybox@{digest}") == digest
    assert image_digest(digest) == digest
    assert image_digest("") is None


def test_an_image_version_is_told_from_a_vendor_version() -> None:
    # qualify holds each suite to the first version of its kind (tests/qualify/
    # test_image_versions.py); the kind is read here.
    assert DriverInfo(DRIVER, VERSION).version_is_image
    assert not DriverInfo(DRIVER, "v1.2.0").version_is_image


# --- the controller of an installed driver (no selector of the run names it) ---------------

NS = "kube-system"
CONTROLLER = f"{UPSTREAM_IMAGE} ({image_id(UPSTREAM_IMAGE)})"
EBS_IMAGE = "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver:v1.30.0"
EKS_CSI = "public.ecr.aws/eks-distro/kubernetes-csi"


def fast_progress() -> Progress:
    clock = FastClock()
    return Progress(stream=io.StringIO(), clock=clock.clock, sleep=clock.sleep)


def controller_deployment(name: str, driver_image: str) -> dict[str, Any]:
    """A controller as a helm chart writes one: the driver container and the sidecars, as
    EKS Distro names their images (the upstream FSx chart's default)."""
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
                        {"name": "driver", "image": driver_image},
                        {"name": "csi-provisioner",
                         "image": f"{EKS_CSI}/external-provisioner:v5.0.1"},
                        {"name": "csi-resizer", "image": f"{EKS_CSI}/external-resizer:v1.11.1"},
                        {"name": "liveness-probe", "image": f"{EKS_CSI}/livenessprobe:v2.13.0"},
                    ]
                },
            },
        },
    }  # fmt: skip


def deploy(cluster: FakeCluster, *bodies: dict[str, Any]) -> None:
    """Server-side applied and rolled out, their pods running (as after `helm install`)."""
    progress = fast_progress()
    apply_manifests(cluster.clients(), list(bodies), progress)
    refs = [ObjectRef("Deployment", b["metadata"]["name"], NS) for b in bodies]
    wait_workloads_ready(cluster.clients(), progress, refs, DRIVER, WORKERS, 60)


def pod_selectors(cluster: FakeCluster) -> list[str | None]:
    return [args.get("label_selector") for name, args in cluster.calls if name.endswith("_pod")]


def test_an_installed_drivers_controller_is_found_as_the_live_patch_finds_it(
    cluster: FakeCluster,
) -> None:
    # --driver installed on real AWS: the run's settings keep the reference driver's
    # selectors (namespace fsx-csi), which the helm chart's objects in kube-system miss.
    settings = KubeRunSettings(run_id="r", platform="cluster", namespace="ns", pod_image="i")
    details: dict[str, str] = {}
    progress = Progress(stream=io.StringIO())
    identity = record_run_driver(cluster.clients(), settings, WORKERS, details, progress)
    assert identity is not None
    assert details[CONTROLLER_IMAGE_DETAIL] == f"fsx-plugin: {CONTROLLER}"
    assert [(c.pod, c.container) for c in identity.controller] == [
        ("fsx-csi-controller-1-0", "fsx-plugin")
    ]
    assert identity.controller_source == (
        "the pods of Deployment kube-system/fsx-csi-controller, which runs the node plugin's "
        "image, found by the installed driver's rule"
    )
    assert (
        "controller image on 1 pod(s) (the pods of Deployment kube-system/fsx-csi-controller"
        in details["driver_identity"]
    )
    # The run's own selector first; then the rule's lists, read only, and that Deployment's pods.
    assert pod_selectors(cluster) == [
        "app=fsx-csi-node",
        "app=fsx-csi-node",
        "app=fsx-csi-controller",
        "app=fsx-csi-controller",
    ]
    assert "list_deployment_for_all_namespaces" in cluster.calls.names()
    assert cluster.calls.mutations() == []
    # The node plugin's identity is what it was.
    assert identity.info() == DriverInfo(DRIVER, VERSION)


def test_the_throughput_suite_and_emulated_aws_record_the_same_controller(
    cluster: FakeCluster,
) -> None:
    # The throughput suite names no pods at all.
    bare = read_identity(cluster.clients(), DRIVER, WORKERS)
    assert bare.details()[CONTROLLER_IMAGE_DETAIL] == f"fsx-plugin: {CONTROLLER}"
    # --driver installed on emulated AWS: the live patch's plan gives the run its selectors.
    plan = plan_installed_patch(cluster.clients(), DRIVER, "r")
    settings = KubeRunSettings(
        run_id="r", platform="cluster", namespace="ns", pod_image="i", **plan.run_settings()
    )
    details: dict[str, str] = {}
    record_run_driver(cluster.clients(), settings, WORKERS, details, Progress(stream=io.StringIO()))
    assert details[CONTROLLER_IMAGE_DETAIL] == f"fsx-plugin: {CONTROLLER}"
    assert "(pods app=fsx-csi-controller in kube-system)" in details["driver_identity"]


def test_an_unrelated_deployment_with_another_image_beside_it_is_not_taken(
    cluster: FakeCluster,
) -> None:
    # Another driver's controller in the same namespace, with a provisioner of its own.
    deploy(cluster, controller_deployment("ebs-csi-controller", EBS_IMAGE))
    cluster.calls.clear()
    identity = read_identity(cluster.clients(), DRIVER, WORKERS)
    assert identity.details()[CONTROLLER_IMAGE_DETAIL] == f"fsx-plugin: {CONTROLLER}"
    assert {c.pod for c in identity.controller} == {"fsx-csi-controller-1-0"}
    # Its pods were not even listed.
    assert "app=ebs-csi-controller" not in pod_selectors(cluster)


def test_a_controller_on_another_image_is_the_only_one_with_a_provisioner(
    cluster: FakeCluster,
) -> None:
    # A controller pulled from a mirror: not the node plugin's repository. EKS Distro's
    # external-provisioner is the csi-provisioner sidecar; it and the other sidecars are not
    # the driver container.
    mirror = "registry.example.com/mirror/aws-fsx-csi-driver:v1.2.0"
    cluster.delete_applied("Deployment", NS, "fsx-csi-controller")
    deploy(cluster, controller_deployment("fsx-csi-controller", mirror))
    identity = read_identity(cluster.clients(), DRIVER, WORKERS)
    assert identity.details()[CONTROLLER_IMAGE_DETAIL] == f"driver: {mirror} ({image_id(mirror)})"
    assert len(identity.controller) == 2  # both replicas
    assert identity.controller_source == (
        "the pods of Deployment kube-system/fsx-csi-controller, which is the only one there with "
        "a csi-provisioner sidecar that runs no other driver's node plugin image (none runs this "
        "node plugin's image), found by the installed driver's rule"
    )
    # Beside another driver's controller that has one too, there is no single one to take.
    deploy(cluster, controller_deployment("ebs-csi-controller", EBS_IMAGE))
    ambiguous = read_identity(cluster.clients(), DRIVER, WORKERS)
    assert ambiguous.controller == ()
    assert ambiguous.details()[CONTROLLER_IMAGE_DETAIL] == (
        "unknown: no controller found (by the installed driver's rule: expected the controller "
        "of fsx.csi.aws.com in kube-system: a Deployment or StatefulSet running the node "
        "plugin's image (public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver), or else the only "
        "one with a csi-provisioner sidecar and no other driver's image; seen Deployment "
        "kube-system/ebs-csi-controller, Deployment kube-system/fsx-csi-controller)"
    )
    # With EBS's node plugin installed, its controller is known for another driver's.
    install_ebs_node_plugin(cluster)
    resolved = read_identity(cluster.clients(), DRIVER, WORKERS)
    assert resolved.details()[CONTROLLER_IMAGE_DETAIL] == f"driver: {mirror} ({image_id(mirror)})"


def install_ebs_node_plugin(cluster: FakeCluster) -> None:
    """EBS's node plugin DaemonSet beside FSx's, in kube-system, as its helm chart writes it."""
    socket_dir = "/var/lib/kubelet/plugins/ebs.csi.aws.com/"
    body = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "ebs-csi-node", "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app": "ebs-csi-node"}},
            "template": {
                "metadata": {"labels": {"app": "ebs-csi-node"}},
                "spec": {
                    "containers": [
                        {"name": "ebs-plugin", "image": EBS_IMAGE, "volumeMounts": [
                            {"name": "kubelet-dir", "mountPath": "/var/lib/kubelet",
                             "mountPropagation": "Bidirectional"}]},
                        {"name": "node-driver-registrar",
                         "image": f"{EKS_CSI}/node-driver-registrar:v2.10.1"},
                    ],
                    "volumes": [
                        {"name": "kubelet-dir", "hostPath": {"path": "/var/lib/kubelet"}},
                        {"name": "plugin-dir", "hostPath": {"path": socket_dir}},
                        # Staging: the kubelet's own directory, which names no driver.
                        {"name": "staging", "hostPath": {
                            "path": "/var/lib/kubelet/plugins/kubernetes.io/csi"}},
                    ],
                },
            },
        },
    }  # fmt: skip
    apply_manifests(cluster.clients(), [body], fast_progress())


def test_another_drivers_controller_is_never_taken_for_a_missing_one(
    cluster: FakeCluster,
) -> None:
    # EKS's kube-system: FSx's controller is gone, EBS's (node plugin and controller) is there.
    cluster.delete_applied("Deployment", NS, "fsx-csi-controller")
    install_ebs_node_plugin(cluster)
    deploy(cluster, controller_deployment("ebs-csi-controller", EBS_IMAGE))
    identity = read_identity(cluster.clients(), DRIVER, WORKERS)
    assert identity.controller == ()
    assert identity.details()[CONTROLLER_IMAGE_DETAIL] == (
        "unknown: no controller found (by the installed driver's rule: expected the controller "
        "of fsx.csi.aws.com in kube-system: a Deployment or StatefulSet running the node "
        "plugin's image (public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver), or else the only "
        "one with a csi-provisioner sidecar and no other driver's image; seen none (not taken: "
        "Deployment kube-system/ebs-csi-controller, which runs the image of the node plugin of "
        "ebs.csi.aws.com (DaemonSet kube-system/ebs-csi-node)))"
    )
    # And the live patch of --driver installed refuses rather than patching EBS's controller.
    with pytest.raises(PatchError, match="not taken: Deployment kube-system/ebs-csi-controller"):
        plan_installed_patch(cluster.clients(), DRIVER, "r")


def test_no_controller_found_is_said_and_the_node_plugin_identity_stands(
    cluster: FakeCluster,
) -> None:
    cluster.delete_applied("Deployment", NS, "fsx-csi-controller")
    settings = KubeRunSettings(run_id="r", platform="cluster", namespace="ns", pod_image="i")
    details: dict[str, str] = {}
    identity = record_run_driver(
        cluster.clients(), settings, WORKERS, details, Progress(stream=io.StringIO())
    )
    assert identity is not None and identity.info() == DriverInfo(DRIVER, VERSION)
    assert details["driver_version"] == VERSION
    assert details[CONTROLLER_IMAGE_DETAIL] == (
        "unknown: no controller found (none among pods app=fsx-csi-controller in fsx-csi; by "
        "the installed driver's rule: expected the controller of fsx.csi.aws.com in "
        "kube-system: a Deployment or StatefulSet running the node plugin's image "
        "(public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver), or else the only one with a "
        "csi-provisioner sidecar and no other driver's image; seen none)"
    )
    assert "; controller image unknown: no controller found (" in details["driver_identity"]
    # Not a failure of the run: a passing run still names its driver.
    result = RunResult("r", "cluster", "installed")
    result.details.update(details)
    result.scenarios.append(ScenarioResult("dynamic", "cluster", Outcome.PASSED))
    assert result.to_suite().outcome is Outcome.PASSED


def test_a_controller_without_a_running_pod_is_named(cluster: FakeCluster) -> None:
    # Its pods gone (evicted, not yet rescheduled): the workload is known, its image is not.
    for key in [k for k in cluster.workload_pods if k[1].startswith("fsx-csi-controller-")]:
        del cluster.workload_pods[key]
    identity = read_identity(cluster.clients(), DRIVER, WORKERS)
    assert identity.details()[CONTROLLER_IMAGE_DETAIL] == (
        "unknown: no running pod of Deployment kube-system/fsx-csi-controller, which runs the "
        "node plugin's image (found by the installed driver's rule)"
    )


def test_a_controller_the_api_will_not_list_is_said_and_the_identity_stands(
    cluster: FakeCluster,
) -> None:
    def forbid(method: str, kwargs: dict[str, Any]) -> None:
        if method == "list_deployment_for_all_namespaces":
            exc = ApiException(status=403, reason="Forbidden")
            exc.body = '{"kind": "Status", "message": "deployments.apps is forbidden"}'
            raise exc

    cluster.before_call = forbid
    identity = read_identity(cluster.clients(), DRIVER, WORKERS)
    assert identity.info() == DriverInfo(DRIVER, VERSION)
    assert identity.details()[CONTROLLER_IMAGE_DETAIL] == (
        "unknown: no controller found (by the installed driver's rule: the API answered HTTP "
        "403: deployments.apps is forbidden)"
    )
