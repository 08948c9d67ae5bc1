"""The Lustre emulation patched into the node plugin of any driver on kind and cluster:
rendered, validated against the Kubernetes schemas, and part of what a run applies (and so
removes) only on emulated AWS.

Applying and removing through the API is exercised with the fake API server in
test_kube_platforms.py (the ConfigMap is applied before the node plugin and deleted with it).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from e2e.platforms import manifests
from e2e.platforms.commands import SubprocessRunner
from e2e.platforms.kube import lustre_helper
from e2e.platforms.kube.lustre_helper import (
    CONFIG_MAP,
    CONTAINER_ROOT,
    HELPER_PATH,
    PatchError,
    helper_config_map,
    patched_node_plugin,
    with_lustre_emulation,
)
from e2e.platforms.kube.orchestration import plan_driver
from e2e.platforms.manifests import ObjectRef
from fsx_emulator import lustre

KUBERNETES_VERSION = "1.31.0"
runner = SubprocessRunner()
needs_kustomize = pytest.mark.skipif(
    manifests.kustomize_command(runner, manifests.REPO_ROOT) is None,
    reason="kubectl (or kustomize) is not on PATH: cannot render the kustomize overlays",
)

# Shaped like the upstream Go driver's node DaemonSet: the plugin mounts into kubelet's
# directory (Bidirectional), beside a registrar and a liveness probe, its own volumes.
UPSTREAM_NODE = yaml.safe_load("""\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fsx-csi-node, namespace: kube-system}
spec:
  selector: {matchLabels: {app: fsx-csi-node}}
  template:
    metadata: {labels: {app: fsx-csi-node}}
    spec:
      containers:
        - name: node-driver-registrar
          image: registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.11.1
          volumeMounts:
            - {name: plugin-dir, mountPath: /csi}
        - name: driver
          image: public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver:v1.2.0
          securityContext: {privileged: true}
          volumeMounts:
            - {name: kubelet-dir, mountPath: /var/lib/kubelet, mountPropagation: Bidirectional}
            - {name: plugin-dir, mountPath: /csi}
        - name: liveness-probe
          image: registry.k8s.io/sig-storage/livenessprobe:v2.13.1
      volumes:
        - {name: kubelet-dir, hostPath: {path: /var/lib/kubelet, type: Directory}}
        - name: plugin-dir
          hostPath: {path: /var/lib/kubelet/plugins/fsx.csi.aws.com/, type: DirectoryOrCreate}
""")


def validate(manifest: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def container(daemon_set: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        c for c in daemon_set["spec"]["template"]["spec"]["containers"] if c["name"] == name
    )
    return found


def mounts(daemon_set: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container(daemon_set, name).get("volumeMounts") or []}


def volumes(daemon_set: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in daemon_set["spec"]["template"]["spec"]["volumes"]}


def test_the_config_map_holds_the_shipped_helper_and_validates() -> None:
    config_map = helper_config_map("kube-system")
    validate(config_map)
    assert config_map["metadata"] == {"name": CONFIG_MAP, "namespace": "kube-system"}
    script = config_map["data"][lustre.HELPER_NAME]
    assert script == lustre.helper_text()
    # Its fixed root is where the patch mounts the nodes' emulation root.
    assert f"EMULATION_ROOT={CONTAINER_ROOT}\n" in script


def test_another_drivers_node_plugin_gets_helper_and_root_in_its_mounting_container() -> None:
    patched = patched_node_plugin(UPSTREAM_NODE)
    validate(patched)
    driver = mounts(patched, "driver")
    helper = driver[HELPER_PATH]
    assert helper["subPath"] == lustre.HELPER_NAME and helper["readOnly"] is True
    assert volumes(patched)[helper["name"]]["configMap"] == {
        "name": CONFIG_MAP,
        "defaultMode": 0o755,
        "items": [{"key": lustre.HELPER_NAME, "path": lustre.HELPER_NAME}],
    }
    root = driver[CONTAINER_ROOT]
    assert root["mountPropagation"] == "HostToContainer"
    assert volumes(patched)[root["name"]]["hostPath"]["path"] == manifests.NODE_EMULATION_ROOT
    # Only the mounting container changes; what the driver had stays.
    assert mounts(patched, "node-driver-registrar") == mounts(
        UPSTREAM_NODE, "node-driver-registrar"
    )
    assert {"/var/lib/kubelet", "/csi"} <= set(driver)
    assert {"kubelet-dir", "plugin-dir"} <= set(volumes(patched))
    # The input is left alone, and patching twice is patching once.
    assert HELPER_PATH not in mounts(UPSTREAM_NODE, "driver")
    assert patched_node_plugin(patched) == patched


def test_without_a_bidirectional_mount_the_fsx_plugin_container_is_chosen() -> None:
    plain = yaml.safe_load(yaml.safe_dump(UPSTREAM_NODE))
    spec = plain["spec"]["template"]["spec"]
    for c in spec["containers"]:
        c.pop("volumeMounts", None)
        if c["name"] == "driver":
            c["name"] = "fsx-plugin"
    assert lustre_helper.node_plugin_container(plain) == "fsx-plugin"
    assert HELPER_PATH in mounts(patched_node_plugin(plain), "fsx-plugin")
    spec["containers"] = []
    with pytest.raises(PatchError, match="no containers"):
        patched_node_plugin(plain)


def test_the_config_map_comes_just_before_the_node_plugin_it_serves() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
    objects = with_lustre_emulation(
        [namespace, UPSTREAM_NODE], [ObjectRef("DaemonSet", "fsx-csi-node", "kube-system")]
    )
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Namespace", "kube-system"),
        ("ConfigMap", CONFIG_MAP),
        ("DaemonSet", "fsx-csi-node"),
    ]
    assert objects[2] == patched_node_plugin(UPSTREAM_NODE)
    with pytest.raises(PatchError, match="other/fsx-csi-node are not among the objects"):
        with_lustre_emulation([UPSTREAM_NODE], [ObjectRef("DaemonSet", "fsx-csi-node", "other")])


@needs_kustomize
def test_the_reference_driver_on_emulated_aws_is_patched_and_validates() -> None:
    plan = plan_driver(runner, "emulated", None, "fsx-csi-harness:kind-e2e", "Never", "run-1")
    for manifest in plan.objects:
        validate(manifest)
    node = next(
        o
        for o in plan.objects
        if o["kind"] == "DaemonSet" and o["metadata"]["name"] == manifests.NODE_DAEMONSET
    )
    assert HELPER_PATH in mounts(node, "fsx-plugin")
    config_map = next(o for o in plan.objects if o["metadata"]["name"] == CONFIG_MAP)
    assert config_map["metadata"]["namespace"] == manifests.DRIVER_NAMESPACE
    # Labelled with the run, so the run's sweep finds it too.
    assert config_map["metadata"]["labels"][manifests.RUN_ID_LABEL] == "run-1"
    # The emulator writes where the patch mounts the nodes' root from.
    emulator = next(
        o
        for o in plan.objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == manifests.EMULATOR_DEPLOYMENT
    )
    emulator_volumes = volumes(emulator)
    assert any(
        v.get("hostPath", {}).get("path") == manifests.NODE_EMULATION_ROOT
        for v in emulator_volumes.values()
    )


@needs_kustomize
def test_on_real_aws_the_node_plugin_keeps_its_lustre_client() -> None:
    plan = plan_driver(runner, "aws", None, None, None, "run-2")
    assert not [o for o in plan.objects if o["metadata"]["name"] == CONFIG_MAP]
    node = next(o for o in plan.objects if o["kind"] == "DaemonSet")
    assert HELPER_PATH not in mounts(node, "fsx-plugin")
