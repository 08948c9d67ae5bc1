"""The driver's Kubernetes packaging: every rendered object is valid for Kubernetes 1.31
(strict: unknown fields rejected), and the facts the driver depends on hold.

Rendering uses the real `kubectl kustomize` (skipped, saying so, where kubectl is missing);
validation uses kubernetes-validate's bundled OpenAPI schemas, no cluster needed.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.platforms import manifests
from e2e.platforms.commands import SubprocessRunner
from e2e.platforms.kube.lustre_helper import patched_node_plugin
from fsx_emulator import lustre

KUBERNETES_VERSION = "1.31.0"
REPO = manifests.REPO_ROOT

runner = SubprocessRunner()
needs_kustomize = pytest.mark.skipif(
    manifests.kustomize_command(runner, REPO) is None,
    reason="kubectl (or kustomize) is not on PATH: cannot render the kustomize overlays",
)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    if manifests.kustomize_command(runner, REPO) is None:
        pytest.skip("kubectl (or kustomize) is not on PATH: cannot render the overlays")
    return {overlay: manifests.render(runner, overlay) for overlay in manifests.OVERLAYS}


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = manifests.find(objects, kind, name)
    assert found is not None, (
        f"expected {kind} {name} among {[str(manifests.ref(o)) for o in objects]}"
    )
    return found


def _container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    for container in manifests.containers_of(workload):
        if container["name"] == name:
            return container
    raise AssertionError(f"no container {name} in {manifests.ref(workload)}")


def _flags(args: list[str]) -> set[str]:
    return {arg.split("=", 1)[0] for arg in args if arg.startswith("--")}


@needs_kustomize
@pytest.mark.parametrize("overlay", manifests.OVERLAYS)
def test_every_rendered_object_is_valid_for_kubernetes_1_31_strict(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    import kubernetes_validate

    problems = []
    for manifest in rendered[overlay]:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{manifests.ref(manifest)}: {exc.message} at {list(exc.path)}")
    assert not problems, "\n".join(problems)


def test_validation_rejects_an_unknown_field() -> None:
    """The strict validation above would catch a typo in a manifest."""
    import kubernetes_validate

    typo = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": "fsx.csi.aws.com"},
        "spec": {"attachRequired": False, "attachRequierd": False},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


@needs_kustomize
def test_csidriver_matches_the_upstream_driver(rendered: dict[str, list[dict[str, Any]]]) -> None:
    spec = _one(rendered["base"], "CSIDriver", manifests.DRIVER_NAME)["spec"]
    assert spec == {
        "attachRequired": False,
        "fsGroupPolicy": "ReadWriteOnceWithFSType",
        "podInfoOnMount": False,
        "volumeLifecycleModes": ["Persistent"],
    }


@needs_kustomize
def test_provisioner_has_a_timeout_extra_metadata_and_leader_election(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    controller = _one(rendered["base"], "Deployment", manifests.CONTROLLER_DEPLOYMENT)
    args = _container(controller, "csi-provisioner")["args"]
    assert "--timeout=5m" in args
    assert "--extra-create-metadata" in args
    assert "--leader-election=true" in args
    resizer_args = _container(controller, "csi-resizer")["args"]
    assert "--leader-election=true" in resizer_args
    # Both sidecars and the livenessprobe talk to the driver's socket in the shared emptyDir.
    driver_env = {e["name"]: e.get("value") for e in _container(controller, "fsx-plugin")["env"]}
    assert driver_env["CSI_ENDPOINT"] == "unix:///csi/csi.sock"
    for sidecar in ("csi-provisioner", "csi-resizer", "liveness-probe"):
        mounts = {
            m["name"]: m["mountPath"] for m in _container(controller, sidecar)["volumeMounts"]
        }
        assert mounts["socket-dir"] == "/csi", sidecar


@needs_kustomize
def test_node_plugin_is_privileged_with_bidirectional_kubelet_mounts(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    node = _one(rendered["base"], "DaemonSet", manifests.NODE_DAEMONSET)
    plugin = _container(node, "fsx-plugin")
    assert plugin["securityContext"]["privileged"] is True
    kubelet_mount = next(m for m in plugin["volumeMounts"] if m["mountPath"] == "/var/lib/kubelet")
    assert kubelet_mount["mountPropagation"] == "Bidirectional"
    env = {e["name"]: e for e in plugin["env"]}
    assert env["CSI_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    registrar = _container(node, "node-driver-registrar")
    registrar_env = {e["name"]: e.get("value") for e in registrar["env"]}
    assert registrar_env["DRIVER_REG_SOCK_PATH"] == (
        f"/var/lib/kubelet/plugins/{manifests.DRIVER_NAME}/csi.sock"
    )
    volumes = {v["name"]: v for v in node["spec"]["template"]["spec"]["volumes"]}
    assert volumes["plugin-dir"]["hostPath"]["path"].rstrip("/") == (
        f"/var/lib/kubelet/plugins/{manifests.DRIVER_NAME}"
    )


@needs_kustomize
@pytest.mark.parametrize("overlay", manifests.OVERLAYS)
def test_every_image_is_pinned(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    pinned = re.compile(r"^[^\s:@]+(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$")
    for manifest in rendered[overlay]:
        for container in manifests.containers_of(manifest):
            image = container["image"]
            assert pinned.match(image), image
            tag = image.split("@")[0].rsplit(":", 1)
            assert len(tag) == 2 and tag[1] != "latest", (
                f"{manifests.ref(manifest)} container {container['name']}: expected a pinned "
                f"tag, seen {image}"
            )
            if not manifests.is_driver_image(image):
                assert image.startswith("registry.k8s.io/sig-storage/"), image


@needs_kustomize
def test_emulated_overlay_wires_driver_node_and_emulator_together(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["emulated"]
    node = _one(objects, "DaemonSet", manifests.NODE_DAEMONSET)
    node_args = _container(node, "fsx-plugin")["args"]
    # One mount path in the driver (`mount -t lustre`): the emulation's mount.lustre answers.
    assert not [a for a in node_args if a.startswith(("--mounter", "--emulation-root"))]

    endpoint = _one(objects, "ConfigMap", "fsx-emulator-endpoint")["data"]
    service = _one(objects, "Service", manifests.EMULATOR_SERVICE)
    url = endpoint["AWS_ENDPOINT_URL_FSX"]
    assert url == (
        f"http://{manifests.EMULATOR_SERVICE}.{manifests.DRIVER_NAMESPACE}.svc.cluster.local:"
        f"{service['spec']['ports'][0]['port']}"
    )
    emulator = _one(objects, "Deployment", manifests.EMULATOR_DEPLOYMENT)
    emulator_container = _container(emulator, "emulator")
    assert emulator_container["args"][0] == "emulator"
    assert f"--port={service['spec']['ports'][0]['port']}" in emulator_container["args"]
    assert service["spec"]["selector"] == emulator["spec"]["selector"]["matchLabels"]

    # The emulator creates file systems in the same host directory the node plugin binds from.
    def host_path_at(workload: dict[str, Any], container: dict[str, Any], path: str) -> str:
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == path)
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        return str(volumes[mount["name"]]["hostPath"]["path"])

    # In the containers: the root the helper installed in the image reads (no rendering).
    root = lustre.DEFAULT_EMULATION_ROOT
    assert f"--emulation-root={root}" in emulator_container["args"]
    on_node = manifests.NODE_EMULATION_ROOT
    assert host_path_at(emulator, emulator_container, root) == on_node
    # The node plugin gets the helper and the root through the harness's patch
    # (tests/e2e/test_kube_lustre_helper.py), as any other driver's does.
    patched = patched_node_plugin(node)
    assert host_path_at(patched, _container(patched, "fsx-plugin"), root) == on_node

    controller = _one(objects, "Deployment", manifests.CONTROLLER_DEPLOYMENT)
    for workload in (controller, node):
        sources = _container(workload, "fsx-plugin")["envFrom"]
        assert {"configMapRef": {"name": "fsx-emulator-endpoint"}} in sources
        assert {"secretRef": {"name": "fsx-emulator-credentials"}} in sources


@needs_kustomize
def test_kind_config_shares_the_emulation_root_on_every_node() -> None:
    config = yaml.safe_load(manifests.kind_config(Path("/tmp/run-1/emulation")))
    nodes = config["nodes"]
    assert [n["role"] for n in nodes] == ["control-plane", "worker", "worker"]
    for node in nodes:
        assert node["image"].startswith("kindest/node:v1.31.0@sha256:")
        assert {
            "hostPath": "/tmp/run-1/emulation",
            "containerPath": manifests.NODE_EMULATION_ROOT,
        } in node["extraMounts"]


@needs_kustomize
def test_aws_overlay_uses_a_role_and_no_static_credentials(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["aws"]
    account = _one(objects, "ServiceAccount", "fsx-csi-controller-sa")
    assert "eks.amazonaws.com/role-arn" in account["metadata"]["annotations"]
    assert not [o for o in objects if o["kind"] == "Secret"]
    node = _one(objects, "DaemonSet", manifests.NODE_DAEMONSET)
    assert not any(
        a.startswith("--mounter=emulated") for a in _container(node, "fsx-plugin")["args"]
    )
    region = _one(objects, "ConfigMap", "fsx-csi-aws")["data"]["AWS_REGION"]
    assert re.match(r"^[a-z]{2}(-[a-z]+)+-\d$", region)


@needs_kustomize
def test_controller_rbac_grants_leases_only_in_the_driver_namespace(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["base"]
    cluster_rules = [rule for o in objects if o["kind"] == "ClusterRole" for rule in o["rules"]]
    assert not any("leases" in rule["resources"] for rule in cluster_rules)
    assert not any("*" in rule["verbs"] or "*" in rule["resources"] for rule in cluster_rules)
    assert not any("secrets" in rule["resources"] for rule in cluster_rules)
    role = _one(objects, "Role", "fsx-csi-leader-election")
    assert role["metadata"]["namespace"] == manifests.DRIVER_NAMESPACE
    assert role["rules"][0]["resources"] == ["leases"]
    for binding_kind in ("ClusterRoleBinding", "RoleBinding"):
        for binding in (o for o in objects if o["kind"] == binding_kind):
            assert binding["subjects"] == [
                {
                    "kind": "ServiceAccount",
                    "name": "fsx-csi-controller-sa",
                    "namespace": manifests.DRIVER_NAMESPACE,
                }
            ]


def _dockerfile_stages(text: str) -> dict[str, str]:
    """Each stage's name and its body (the lines after its FROM)."""
    stages: dict[str, str] = {}
    for chunk in re.split(r"^(?=FROM )", text, flags=re.MULTILINE)[1:]:
        header, _, body = chunk.partition("\n")
        stages[header.rsplit(" AS ", 1)[1].strip()] = body
    return stages


def test_dockerfile_runs_fsx_csi_and_copies_every_package() -> None:
    import ast

    text = (REPO / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    stages = _dockerfile_stages(text)
    # kind and K3s build the `emulated` target (driver + emulator); a plain `docker build`
    # (the last stage) produces the driver image.
    builder = (REPO / "e2e/platforms/manifests.py").read_text()
    assert re.search(r'"--target",\s*"emulated"', builder)
    assert list(stages)[-1] == "driver"
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\} AS emulated$", text, re.MULTILINE)
    stages["lustre"] = _dockerfile_stages((REPO / "lustre.Dockerfile").read_text())["lustre"]
    for image in ("driver", "emulated", "lustre"):
        assert re.search(r'^ENTRYPOINT \["fsx-csi"\]$', stages[image], re.MULTILINE), image
    # The driver images install the wheel with no extra (grpcio, protobuf, boto3 only); the
    # emulated image adds the emulator's; none installs the harness extra.
    installs = {name: re.findall(r"pip install (\S+)", body) for name, body in stages.items()}
    assert installs["driver"] == ['"$1"'] and installs["lustre"] == ['"$1"']
    assert installs["emulated"] == ['"$1[emulator]"']
    # No image carries the emulation's mount.lustre: the harness patches it in where needed.
    assert not [name for name, body in stages.items() if "/sbin/mount.lustre" in body]
    # The wheel stage copies every package setup.py ships, and the fixtures the wheel carries.
    setup_tree = ast.parse((REPO / "setup.py").read_text())
    [top_level] = [
        ast.literal_eval(node.value)
        for node in ast.walk(setup_tree)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TOP_LEVEL"
    ]
    for package in (*top_level, "fixtures"):
        assert f"COPY {package} ./{package}" in stages["wheel"], package
    assert "COPY pyproject.toml setup.py" in stages["wheel"]
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["fsx-csi"] == "fsx_csi_harness.cli:main"
    lines = (REPO / ".dockerignore").read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    for package in (*top_level, "fixtures", "setup.py", "pyproject.toml"):
        assert package not in ignored


def _legacy_build(text: str, target: str | None) -> list[tuple[str, str]]:
    """The stages Docker's legacy builder builds for `docker build [--target T]`: every stage
    up to the target in file order (no target: all), as (name, base image)."""
    built = []
    for line in text.splitlines():
        match = re.match(r"^FROM (\S+)(?: AS (\S+))?$", line)
        if match:
            built.append((match.group(2) or "", match.group(1)))
            if match.group(2) == target:
                break
    return built


@pytest.mark.parametrize("target", [None, "driver", "emulated", "fio", "wheel"])
def test_every_target_builds_with_the_legacy_builder_from_the_one_python_base(
    target: str | None,
) -> None:
    # Docker 20.10 without BuildKit: no `# syntax=` frontend (BuildKit fetches it from Docker
    # Hub), no `RUN --mount`, and no stage on another base image among the stages it builds.
    text = (REPO / "Dockerfile").read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    assert "--mount=" not in text
    built = _legacy_build(text, target)
    assert built and all(base == "${PYTHON_IMAGE}" for _, base in built), built
    if target == "emulated":
        # What kind and K3s build: nothing more than it needs.
        assert [name for name, _ in built] == ["wheel", "emulated"]


def test_the_lustre_image_has_its_own_file_and_takes_the_wheel_stage_as_an_image() -> None:
    text = (REPO / "lustre.Dockerfile").read_text()
    assert "--mount=" not in text and "syntax" not in text.split("\n", 1)[0]
    bases = [base for _, base in _legacy_build(text, None)]
    assert bases == ["${WHEEL_IMAGE}", "${AMAZON_LINUX_IMAGE}"]
    assert "ARG WHEEL_IMAGE=fsx-csi-harness:wheel" in text
    # The tag lustre.Dockerfile expects is the one its build instructions make.
    assert "docker build --target wheel --tag fsx-csi-harness:wheel ." in text


def _subcommand_flags(name: str) -> set[str] | None:
    """Option strings of `fsx-csi NAME`, or None while that part is not built yet."""
    from fsx_csi_harness import cli

    module = cli._load(cli.SUBCOMMANDS[name])
    if module is None:
        return None
    parser = argparse.ArgumentParser(prog=f"fsx-csi {name}")
    module.add_arguments(parser)
    return {option for action in parser._actions for option in action.option_strings}


@needs_kustomize
@pytest.mark.parametrize("overlay", manifests.OVERLAYS)
def test_manifest_flags_exist_in_the_real_cli(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    not_built: set[str] = set()
    checked = 0
    for manifest in rendered[overlay]:
        for container in manifests.containers_of(manifest):
            if not manifests.is_driver_image(container["image"]):
                continue
            subcommand, *args = container["args"]
            known = _subcommand_flags(subcommand)
            if known is None:
                not_built.add(subcommand)
                continue
            checked += 1
            unknown = _flags(args) - known
            assert not unknown, (
                f"{manifests.ref(manifest)} container {container['name']} passes "
                f"{sorted(unknown)} to `fsx-csi {subcommand}`, which does not define them"
            )
    if not checked:
        pytest.skip(f"`fsx-csi {'/'.join(sorted(not_built))}` not built yet: no flags to check")


def test_iam_policy_is_least_privilege_json() -> None:
    policy = json.loads((REPO / "fixtures" / "iam-policy.json").read_text())
    assert policy["Version"] == "2012-10-17"
    actions = {
        action
        for statement in policy["Statement"]
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    for needed in (
        "fsx:CreateFileSystem",
        "fsx:DeleteFileSystem",
        "fsx:DescribeFileSystems",
        "fsx:UpdateFileSystem",
        "fsx:TagResource",
        "fsx:CreateDataRepositoryAssociation",
        "fsx:DescribeDataRepositoryAssociations",
        "fsx:DeleteDataRepositoryAssociation",
        "iam:CreateServiceLinkedRole",
        "s3:ListBucket",
    ):
        assert needed in actions
    assert not [a for a in actions if "*" in a], "no wildcard actions"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        if "iam:CreateServiceLinkedRole" in statement["Action"]:
            assert statement["Resource"].startswith("arn:aws:iam::*:role/aws-service-role/")
