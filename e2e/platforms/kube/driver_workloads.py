"""Which Deployment or StatefulSet is an installed driver's controller, found from the cluster
alone (a driver that someone else installed, labelled as its installer chose).

The node plugin: the DaemonSets with a hostPath volume in the driver's directory under the
kubelet's plugins directory (`node_plugin_daemon_sets`), where it keeps its socket and
node-driver-registrar tells the kubelet to look.

The controller: in the namespace(s) of the node plugin DaemonSets, the Deployments and
StatefulSets whose pod template runs the node plugin's driver image (same repository, any tag:
a controller and a node plugin mid-upgrade are still one driver); failing that, the only one
there with a csi-provisioner sidecar that runs no other driver's node plugin image (kube-system
often holds the controllers of several drivers: EBS, EFS, FSx). The driver container(s) of a
controller are the ones running that image, or (found by the sidecar) every container that is
not one of Kubernetes' CSI sidecars.

Two readers use it: the live patch of `--driver installed` on emulated AWS
(`installed_patch`, which judges the driver's own template saved on a patched workload) and
the driver identity (`identity`, which records the controller's image where the run's own
selectors name no controller). It lives apart from both so that neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from e2e.platforms.kube.clients import KubeClients
from e2e.platforms.kube.lustre_helper import PatchError, node_plugin_container
from e2e.platforms.kube.wire import field, items, read_json
from e2e.platforms.manifests import ObjectRef

CONTROLLER_KINDS: Final = ("Deployment", "StatefulSet")
KUBELET_PLUGINS_DIR: Final = "/var/lib/kubelet/plugins"
# The kubelet's own directory under it (where drivers stage volumes), named after no driver.
_KUBELET_OWN: Final = frozenset({"kubernetes.io"})
# Kubernetes' CSI sidecars, never the driver container, by image name as
# registry.k8s.io/sig-storage names them and as EKS Distro (public.ecr.aws/eks-distro/
# kubernetes-csi/, the upstream FSx helm chart's default) names the same programs.
SIDECARS: Final = frozenset(
    {
        "csi-provisioner",
        "csi-attacher",
        "csi-resizer",
        "csi-snapshotter",
        "livenessprobe",
        "csi-node-driver-registrar",
        "csi-external-health-monitor-controller",
        "external-provisioner",
        "external-attacher",
        "external-resizer",
        "external-snapshotter",
        "node-driver-registrar",
        "external-health-monitor-controller",
    }
)
PROVISIONER_SIDECAR: Final = "csi-provisioner"
_PROVISIONER_IMAGES: Final = frozenset({PROVISIONER_SIDECAR, "external-provisioner"})
LIST_FOR_ALL_NAMESPACES: Final = {
    "DaemonSet": "list_daemon_set_for_all_namespaces",
    "Deployment": "list_deployment_for_all_namespaces",
    "StatefulSet": "list_stateful_set_for_all_namespaces",
}

# Which pod template of a workload the rule judges (the live one unless told otherwise).
TemplateOf = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def live_template(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    return field(workload, "spec", "template") or {}


def image_repository(image: str) -> str:
    """`registry/path/name` of an image reference, without tag or digest."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _image_name(image: str) -> str:
    return image_repository(image).rsplit("/", 1)[-1]


def is_sidecar(image: str) -> bool:
    return _image_name(image) in SIDECARS


def template_containers(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [c for c in items(template, "spec", "containers") if isinstance(c, dict)]


def workload_ref(kind: str, workload: Mapping[str, Any]) -> ObjectRef:
    return ObjectRef(
        kind,
        str(field(workload, "metadata", "name")),
        str(field(workload, "metadata", "namespace") or "default"),
    )


def workload_selector(workload: Mapping[str, Any]) -> str:
    """The workload's pod selector (its matchLabels as `k=v,...`; empty when it has none)."""
    labels = field(workload, "spec", "selector", "matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def driver_containers(
    containers: Sequence[Mapping[str, Any]], repositories: set[str] | None
) -> list[str]:
    """The names of the driver containers among `containers`: those running an image of
    `repositories`, or with None every one that is not a CSI sidecar."""
    return [
        str(c.get("name"))
        for c in containers
        if (
            image_repository(str(c.get("image", ""))) in repositories
            if repositories is not None
            else not is_sidecar(str(c.get("image", "")))
        )
    ]


@dataclass(frozen=True)
class Controller:
    """One controller workload of the driver, and its driver container(s)."""

    kind: str
    workload: dict[str, Any]
    containers: tuple[str, ...]
    # How it was found, as a clause ("Deployment ns/x, which ..."): the node plugin's image,
    # or the only one with a provisioner.
    found_by: str

    @property
    def ref(self) -> ObjectRef:
        return workload_ref(self.kind, self.workload)

    @property
    def selector(self) -> str:
        return workload_selector(self.workload)


def served_drivers(daemon_set: Mapping[str, Any]) -> set[str]:
    """The CSI drivers a DaemonSet serves on the nodes: the directories its hostPath volumes
    reach under the kubelet's plugins directory, each named after one driver."""
    spec = field(daemon_set, "spec", "template", "spec") or {}
    drivers = set()
    for volume in items(spec, "volumes"):
        path = str(field(volume, "hostPath", "path") or "").rstrip("/")
        below = path.removeprefix(f"{KUBELET_PLUGINS_DIR}/")
        if below != path and (name := below.split("/", 1)[0]) not in _KUBELET_OWN:
            drivers.add(name)
    return drivers


def node_plugin_daemon_sets(clients: KubeClients, driver: str) -> list[dict[str, Any]]:
    """The DaemonSets (as JSON) that serve `driver` on the nodes, whoever installed them."""
    listed = read_json(clients.apps.list_daemon_set_for_all_namespaces)
    return [d for d in items(listed, "items") if driver in served_drivers(d)]


def _other_drivers_images(clients: KubeClients, driver: str) -> dict[str, str]:
    """Image repository -> the node plugin DaemonSet of another driver that runs it (the
    driver container, as node_plugin_repositories finds it)."""
    listed = read_json(clients.apps.list_daemon_set_for_all_namespaces)
    owners: dict[str, str] = {}
    for daemon_set in items(listed, "items"):
        served = served_drivers(daemon_set)
        if not served or driver in served:
            continue
        try:
            repositories = node_plugin_repositories([daemon_set])
        except PatchError:
            continue  # no driver container to tell: it excludes nothing
        owner = f"{', '.join(sorted(served))} ({workload_ref('DaemonSet', daemon_set)})"
        owners.update({repository: owner for repository in repositories})
    return owners


def node_plugin_repositories(
    node_plugins: Sequence[Mapping[str, Any]], template_of: TemplateOf = live_template
) -> set[str]:
    """The image repositories of the node plugins' driver containers (the one mounting with
    Bidirectional propagation). Raises PatchError when a DaemonSet has no such container."""
    repositories: set[str] = set()
    for daemon_set in node_plugins:
        template = template_of(daemon_set)
        shell = {
            "kind": "DaemonSet",
            "metadata": {"name": field(daemon_set, "metadata", "name")},
            "spec": {"template": template},
        }
        name = node_plugin_container(shell)
        repositories.update(
            image_repository(str(c.get("image", "")))
            for c in template_containers(template)
            if c.get("name") == name
        )
    return repositories


def find_controllers(
    clients: KubeClients,
    driver_name: str,
    node_plugins: Sequence[Mapping[str, Any]],
    template_of: TemplateOf = live_template,
) -> list[Controller]:
    """The controller(s) of `driver_name`, whose node plugin DaemonSets are `node_plugins`,
    by the rule of the module docstring. Raises PatchError (what was expected, what was seen)
    when there is none, or no single one to take."""
    if not node_plugins:
        raise PatchError(
            f"expected a node plugin DaemonSet of {driver_name} (a hostPath volume under "
            f"/var/lib/kubelet/plugins/{driver_name}), seen none in any namespace"
        )
    namespaces = sorted({workload_ref("DaemonSet", d).namespace or "default" for d in node_plugins})
    repositories = node_plugin_repositories(node_plugins, template_of)
    candidates: list[tuple[str, dict[str, Any]]] = []
    for kind in CONTROLLER_KINDS:
        listed = read_json(getattr(clients.apps, LIST_FOR_ALL_NAMESPACES[kind]))
        candidates += [
            (kind, w)
            for w in items(listed, "items")
            if (field(w, "metadata", "namespace") or "default") in namespaces
        ]

    def containers(workload: Mapping[str, Any]) -> list[dict[str, Any]]:
        return template_containers(template_of(workload))

    same_image = [
        Controller(kind, w, tuple(names), "runs the node plugin's image")
        for kind, w in candidates
        if (names := driver_containers(containers(w), repositories))
    ]
    if same_image:
        return same_image
    provisioning = [
        (kind, w)
        for kind, w in candidates
        if any(_image_name(str(c.get("image", ""))) in _PROVISIONER_IMAGES for c in containers(w))
    ]
    others = _other_drivers_images(clients, driver_name) if provisioning else {}
    with_provisioner, not_taken = [], []
    for kind, w in provisioning:
        owner = next(
            (
                others[repository]
                for c in containers(w)
                if (repository := image_repository(str(c.get("image", "")))) in others
            ),
            None,
        )
        if owner is None:
            with_provisioner.append((kind, w))
        else:
            not_taken.append(
                f"{workload_ref(kind, w)}, which runs the image of the node plugin of {owner}"
            )
    if len(with_provisioner) != 1:
        seen = ", ".join(sorted(str(workload_ref(k, w)) for k, w in with_provisioner)) or "none"
        raise PatchError(
            f"expected the controller of {driver_name} in {', '.join(namespaces)}: a "
            f"Deployment or StatefulSet running the node plugin's image "
            f"({', '.join(sorted(repositories))}), or else the only one with a "
            f"{PROVISIONER_SIDECAR} sidecar and no other driver's image; seen {seen}"
            + (f" (not taken: {'; '.join(sorted(not_taken))})" if not_taken else "")
        )
    kind, workload = with_provisioner[0]
    names = driver_containers(containers(workload), None)
    if not names:
        raise PatchError(
            f"{workload_ref(kind, workload)}: expected a driver container (not one of "
            "Kubernetes' CSI sidecars), seen containers "
            + ", ".join(f"{c.get('name')} ({c.get('image')})" for c in containers(workload))
        )
    return [
        Controller(
            kind,
            workload,
            tuple(names),
            f"is the only one there with a {PROVISIONER_SIDECAR} sidecar that runs no other "
            "driver's node plugin image (none runs this node plugin's image)",
        )
    ]
