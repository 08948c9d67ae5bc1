"""The reference driver's Kubernetes manifests: render the kustomize overlays, adapt them to a
run (image, run-id label), and name the objects the platforms wait for.

The manifests are data under `fixtures/manifests/` (base + overlays `emulated` and `aws`). They
are rendered with `kubectl kustomize` (or a standalone `kustomize build`), never re-implemented
here, so what the tests validate is what a user applies by hand.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from e2e.platforms.commands import CommandRunner
from fsx_csi_harness.data import fixture_path

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
MANIFEST_DIR: Final = fixture_path("manifests")
KIND_CONFIG: Final = fixture_path("kind", "cluster.yaml")
DOCKERFILE: Final = REPO_ROOT / "Dockerfile"

Overlay = Literal["base", "emulated", "aws"]
OVERLAYS: Final[tuple[Overlay, ...]] = ("base", "emulated", "aws")

DRIVER_NAME: Final = "fsx.csi.aws.com"
# The image name the manifests use for the driver and the emulator; the run replaces it.
DRIVER_IMAGE_NAME: Final = "fsx-csi-harness"
DRIVER_NAMESPACE: Final = "fsx-csi"
CONTROLLER_DEPLOYMENT: Final = "fsx-csi-controller"
NODE_DAEMONSET: Final = "fsx-csi-node"
EMULATOR_DEPLOYMENT: Final = "fsx-emulator"
EMULATOR_SERVICE: Final = "fsx-emulator"
EMULATOR_PORT: Final = 8080
# The path every node (and the emulator pod) sees as the Lustre emulation root.
NODE_EMULATION_ROOT: Final = "/var/lib/fsx-csi-emulation"
# Placeholder in fixtures/kind/cluster.yaml for the host directory shared by all kind nodes.
HOST_EMULATION_ROOT_PLACEHOLDER: Final = "HOST_EMULATION_ROOT"

# Every object a run creates carries this label with the run id (the leak guard's handle).
RUN_ID_LABEL: Final = "fsx-csi-harness/run-id"

Manifest = dict[str, Any]


class RenderError(Exception):
    """The manifests could not be rendered; says with what, what it printed, what to try."""


# `docker build` of the driver image downloads the project's dependencies: minutes, not seconds.
IMAGE_BUILD_TIMEOUT_S: Final = 1200.0


def build_image(runner: CommandRunner, image: str) -> None:
    """Build the driver image (the `emulated` target: driver and FSx emulator) as `image`."""
    runner.run(
        [
            "docker",
            "build",
            "--file",
            str(DOCKERFILE),
            "--target",
            "emulated",
            "--tag",
            image,
            str(REPO_ROOT),
        ],
        what=f"building image {image}",
        timeout_s=IMAGE_BUILD_TIMEOUT_S,
        hint="run the same `docker build` by hand; behind a proxy, pass build args for pip "
        "(HTTPS_PROXY)",
    )


def overlay_path(overlay: Overlay) -> Path:
    if overlay == "base":
        return MANIFEST_DIR / "base"
    return MANIFEST_DIR / "overlays" / overlay


def kustomize_command(runner: CommandRunner, directory: Path) -> list[str] | None:
    """The command that renders `directory`: kubectl's built-in kustomize, else `kustomize`."""
    if runner.which("kubectl"):
        return ["kubectl", "kustomize", str(directory)]
    if runner.which("kustomize"):
        return ["kustomize", "build", str(directory)]
    return None


def render(runner: CommandRunner, overlay: Overlay, timeout_s: float = 60.0) -> list[Manifest]:
    """Every object of an overlay, in the order kustomize emits them."""
    directory = overlay_path(overlay)
    argv = kustomize_command(runner, directory)
    if argv is None:
        raise RenderError(
            f"cannot render {directory}: expected `kubectl` or `kustomize` on PATH, seen "
            "neither; try installing kubectl (it has kustomize built in)"
        )
    result = runner.run(
        argv,
        what=f"rendering the {overlay} manifests",
        timeout_s=timeout_s,
        hint=f"check the kustomization files under {directory}",
    )
    return parse_documents(result.stdout, source=" ".join(argv))


def parse_documents(text: str, source: str) -> list[Manifest]:
    objects: list[Manifest] = []
    for document in yaml.safe_load_all(text):
        if document is None:
            continue
        if not isinstance(document, dict) or "kind" not in document:
            raise RenderError(
                f"{source}: expected Kubernetes objects (mappings with a kind), seen "
                f"{type(document).__name__}: {str(document)[:200]}"
            )
        objects.append(document)
    if not objects:
        raise RenderError(f"{source}: rendered no objects")
    return objects


def containers_of(manifest: Manifest) -> list[dict[str, Any]]:
    """Containers (init containers included) of a workload or a pod; empty for other kinds."""
    spec = manifest.get("spec", {})
    if manifest.get("kind") != "Pod":
        spec = spec.get("template", {}).get("spec", {})
    containers = list(spec.get("initContainers", [])) + list(spec.get("containers", []))
    return [c for c in containers if isinstance(c, dict)]


def is_driver_image(image: str) -> bool:
    """Whether `image` is the harness image, in any registry and with any tag or digest."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0] == DRIVER_IMAGE_NAME


def with_driver_image(
    objects: Sequence[Manifest], image: str, pull_policy: str | None = None
) -> list[Manifest]:
    """Copies of `objects` whose harness containers (driver, emulator) run `image`.

    `pull_policy` "Never" suits images loaded into the nodes (kind, k3s), where a pull would
    only fail with a misleading ErrImagePull.
    """
    result = copy.deepcopy(list(objects))
    for manifest in result:
        for container in containers_of(manifest):
            if is_driver_image(str(container.get("image", ""))):
                container["image"] = image
                if pull_policy is not None:
                    container["imagePullPolicy"] = pull_policy
    return result


def with_emulator_creation_delay(objects: Sequence[Manifest], seconds: float) -> list[Manifest]:
    """Copies of `objects` whose FSx emulator (`--creation-delay=` in its arguments) keeps a
    file system CREATING for `seconds`, as `--creation-delay` asks."""
    result = copy.deepcopy(list(objects))
    for manifest in result:
        if (
            manifest.get("kind") != "Deployment"
            or manifest["metadata"]["name"] != EMULATOR_DEPLOYMENT
        ):
            continue
        for container in containers_of(manifest):
            args = [str(a) for a in container.get("args", [])]
            if args[:1] == ["emulator"]:
                kept = [a for a in args if not a.startswith("--creation-delay")]
                container["args"] = [*kept, f"--creation-delay={seconds:g}"]
    return result


def with_labels(objects: Sequence[Manifest], labels: Mapping[str, str]) -> list[Manifest]:
    """Copies of `objects` with `labels` on every object. Pod templates are left alone: a
    label that changes per run there would make every apply a rollout that replaces every
    pod (the in-memory FSx emulator included) under a run that reuses a kept driver. The
    workloads' pods go with their workloads; selectors are immutable anyway."""
    result = copy.deepcopy(list(objects))
    for manifest in result:
        metadata = manifest.setdefault("metadata", {})
        metadata.setdefault("labels", {}).update(labels)
    return result


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    name: str
    namespace: str | None

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def ref(manifest: Manifest) -> ObjectRef:
    metadata = manifest.get("metadata", {})
    return ObjectRef(str(manifest["kind"]), str(metadata["name"]), metadata.get("namespace"))


def find(objects: Iterable[Manifest], kind: str, name: str) -> Manifest | None:
    for manifest in objects:
        if manifest.get("kind") == kind and manifest.get("metadata", {}).get("name") == name:
            return manifest
    return None


def kind_config(host_emulation_root: Path, template: Path = KIND_CONFIG) -> str:
    """The kind cluster config with the run's host directory as the shared emulation root."""
    if not host_emulation_root.is_absolute():
        raise ValueError(
            f"kind needs an absolute host path for extraMounts, seen {host_emulation_root}"
        )
    text = template.read_text(encoding="utf-8")
    if HOST_EMULATION_ROOT_PLACEHOLDER not in text:
        raise RenderError(
            f"{template}: expected the placeholder {HOST_EMULATION_ROOT_PLACEHOLDER} for the "
            "emulation root's host path, seen none"
        )
    return text.replace(HOST_EMULATION_ROOT_PLACEHOLDER, str(host_emulation_root))


def kube_name(text: str, limit: int = 63) -> str:
    """`text` as a DNS-1123 label: lower case, [a-z0-9-], at most `limit` characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:limit].rstrip("-") or "x"
