"""The driver identity on kind, k3s and cluster (e2e/platforms/kube/identity.py), read from the
fake API server's CSINodes, CSIDriver and pods, and what a run without one is worth."""

from __future__ import annotations

import io
from typing import Any

import pytest

from e2e.platforms.kube.identity import (
    NotRegistered,
    image_digest,
    read_identity,
    record_run_driver,
)
from e2e.platforms.kube.objects import KubeRunSettings
from e2e.progress import Progress
from e2e.results import Outcome, RunResult, ScenarioResult, StepError
from fsx_csi_harness.results import DriverInfo
from tests.e2e.fake_kube import DRIVER, UPSTREAM_IMAGE, FakeCluster, image_id

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


def test_an_image_and_a_vendor_version_of_one_name_are_the_same_driver() -> None:
    sanity = DriverInfo(DRIVER, "v1.2.0")
    e2e = DriverInfo(DRIVER, VERSION)
    assert e2e.version_is_image and not sanity.version_is_image
    assert sanity.same_driver(e2e) and e2e.same_driver(sanity)
    assert not e2e.same_driver(DriverInfo(DRIVER, "image other:1"))
    assert not sanity.same_driver(DriverInfo(DRIVER, "v1.3.0"))
    assert not e2e.same_driver(DriverInfo("fsx.example.com", VERSION))
