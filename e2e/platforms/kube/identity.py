"""Which driver a kind, k3s or cluster run exercised, read from the cluster itself.

The harness cannot ask GetPluginInfo there: the driver's socket is on the nodes. What the
cluster shows instead:

- the name: `CSINode.spec.drivers[].name` on the nodes the run uses. node-driver-registrar
  registers the name the driver's own GetPluginInfo answered, so the name comes from the
  driver, not from its manifests; it must be the provisioner of the run's StorageClasses,
  registered on those nodes (registered on none of them, the run cannot exercise it);
- the CSIDriver object of that name (how the cluster treats the driver);
- the version: the node plugin's container image, as the pod spec names it, with the digest
  the kubelet reported (`status.containerStatuses[].imageID`), written
  "image REF (sha256:...)" (fsx_csi_harness.results.IMAGE_VERSION_PREFIX) so that no reader
  takes it for GetPluginInfo's vendor_version; the controller's image, with its digest from
  a running controller pod, goes into the details (no controller found: the details say so,
  and the node plugin's identity stands).

The node plugin pods are the ones the run knows (its settings' label selectors); failing
that (an installed driver labelled otherwise, the throughput suite), the DaemonSet found by its
socket directory under the kubelet's plugins directory, as the in-cluster sanity pod finds it.
The driver container of a pod is the one the Lustre emulation is given (the one mounting with
Bidirectional propagation). The controller likewise: the run's selectors; failing that (none
given, as in the throughput suite, or the reference driver's defaults, which an installed
driver does not match), the controller the live patch of an installed driver finds
(`driver_workloads.find_controllers`: beside the node plugin, running its image).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from e2e.platforms.kube.clients import KubeClients, api_message
from e2e.platforms.kube.driver_workloads import (
    driver_containers,
    find_controllers,
    image_repository,
    node_plugin_daemon_sets,
    workload_selector,
)
from e2e.platforms.kube.lustre_helper import PatchError, node_plugin_container
from e2e.platforms.kube.objects import KubeRunSettings
from e2e.platforms.kube.wire import field, items, read_json
from e2e.progress import Progress
from e2e.results import StepError
from fsx_csi_harness.results import IMAGE_VERSION_PREFIX, UNKNOWN, DriverInfo

# The details keys a run's result carries (e2e's RunResult.to_suite reads the first two).
NAME_DETAIL: Final = "driver_name"
VERSION_DETAIL: Final = "driver_version"
IDENTITY_DETAIL: Final = "driver_identity"
CSI_DRIVER_DETAIL: Final = "csi_driver"
CONTROLLER_IMAGE_DETAIL: Final = "driver_controller_image"
# CSIDriver spec fields worth a report line, and labels that say who installed it.
_CSI_DRIVER_FIELDS: Final = ("attachRequired", "podInfoOnMount", "fsGroupPolicy")
_INSTALLER_LABELS: Final = ("helm.sh/chart", "app.kubernetes.io/version")


class IdentityUnknown(Exception):
    """The driver's identity cannot be read from the cluster; the message says why."""


class NotRegistered(IdentityUnknown):
    """The provisioner is registered on none of the run's nodes: the run cannot exercise it."""


@dataclass(frozen=True)
class ContainerImage:
    """One running container of the driver: where, and the image it runs."""

    pod: str
    node: str
    container: str
    image: str
    # The digest the kubelet reported (None before the container started, or not reported).
    digest: str | None

    @property
    def reference(self) -> str:
        return f"{self.image} ({self.digest})" if self.digest else self.image


@dataclass(frozen=True)
class DriverIdentity:
    name: str
    registered: tuple[str, ...]
    # Nodes of the run on which the driver is not registered.
    unregistered: tuple[str, ...]
    csi_driver: str
    node_plugin: tuple[ContainerImage, ...]
    # How the node plugin pods were found (or why none were).
    node_plugin_source: str
    controller: tuple[ContainerImage, ...]
    # How the controller pods were found (or why none were).
    controller_source: str

    @property
    def version(self) -> str:
        """The node plugin's image; several where its pods disagree (a rollout under way)."""
        references = sorted({c.reference for c in self.node_plugin})
        return IMAGE_VERSION_PREFIX + ", ".join(references) if references else UNKNOWN

    def info(self) -> DriverInfo:
        return DriverInfo(self.name, self.version)

    def describe(self) -> str:
        """The sentence for the report: what was read, from where."""
        registration = (
            f"CSINode registration {self.name} on {len(self.registered)} node(s) "
            f"({', '.join(self.registered)})"
        )
        if self.unregistered:
            registration += f", NOT on {', '.join(self.unregistered)}"
        if self.node_plugin:
            containers = sorted({f"{c.container}: {c.reference}" for c in self.node_plugin})
            image = (
                f"node plugin image {'; '.join(containers)} on {len(self.node_plugin)} pod(s) "
                f"({self.node_plugin_source})"
            )
        else:
            image = f"node plugin image unknown: {self.node_plugin_source}"
        if self.controller:
            controller = (
                f"controller image on {len(self.controller)} pod(s) ({self.controller_source})"
            )
        else:
            controller = f"controller image unknown: {self.controller_source}"
        return (
            f"{registration}; {image}; {controller}; the version is the node plugin's container "
            "image, not GetPluginInfo's vendor_version (the driver's socket is on the nodes)"
        )

    def details(self) -> dict[str, str]:
        details = {
            NAME_DETAIL: self.name,
            VERSION_DETAIL: self.version,
            IDENTITY_DETAIL: self.describe(),
            CSI_DRIVER_DETAIL: self.csi_driver,
        }
        details[CONTROLLER_IMAGE_DETAIL] = (
            ", ".join(sorted({f"{c.container}: {c.reference}" for c in self.controller}))
            if self.controller
            else f"{UNKNOWN}: {self.controller_source}"
        )
        return details


def unknown_details(reason: str) -> dict[str, str]:
    """The details of a run whose driver could not be identified: why, for the report."""
    return {IDENTITY_DETAIL: f"not read from the cluster: {reason}"}


def read_identity(
    clients: KubeClients,
    provisioner: str,
    nodes: Sequence[str],
    node_pods: Sequence[tuple[str, str]] = (),
    node_containers: Sequence[str] | None = None,
    controller_pods: Sequence[tuple[str, str]] = (),
    controller_containers: Sequence[str] | None = None,
) -> DriverIdentity:
    """The identity of `provisioner` on `nodes` (the nodes the run's pods may use). Pods are
    given as (namespace, label selector), containers by name (None: found by the rule of the
    module docstring). Raises NotRegistered when no node of `nodes` has it registered,
    IdentityUnknown when there is no CSIDriver of that name; ApiException passes through."""
    registered, unregistered, seen = _registrations(clients, provisioner, nodes)
    if not registered:
        raise NotRegistered(
            f"the provisioner {provisioner} is registered on none of the run's nodes "
            f"({', '.join(f'{node}: {seen[node]}' for node in nodes) or 'no nodes'}): its "
            "node plugin does not run there, so no scenario can exercise it; try `kubectl get "
            "csinode -o yaml` and the node plugin DaemonSet's pods"
        )
    csi_driver = _csi_driver(clients, provisioner)
    on_nodes = set(registered)
    daemon_sets = _DaemonSets(clients, provisioner)
    node_plugin, source = _node_plugin(
        clients, provisioner, on_nodes, node_pods, node_containers, daemon_sets
    )
    controller, controller_source = _controller(
        clients, provisioner, node_plugin, controller_pods, controller_containers, daemon_sets
    )
    return DriverIdentity(
        name=provisioner,
        registered=tuple(registered),
        unregistered=tuple(unregistered),
        csi_driver=csi_driver,
        node_plugin=node_plugin,
        node_plugin_source=source,
        controller=controller,
        controller_source=controller_source,
    )


class _DaemonSets:
    """The driver's node plugin DaemonSets, listed once and only when a fallback needs them."""

    def __init__(self, clients: KubeClients, provisioner: str) -> None:
        self._clients = clients
        self._provisioner = provisioner
        self._listed: list[dict[str, Any]] | None = None

    def __call__(self) -> list[dict[str, Any]]:
        if self._listed is None:
            self._listed = node_plugin_daemon_sets(self._clients, self._provisioner)
        return self._listed


def _registrations(
    clients: KubeClients, provisioner: str, nodes: Sequence[str]
) -> tuple[list[str], list[str], dict[str, str]]:
    registered: list[str] = []
    unregistered: list[str] = []
    seen: dict[str, str] = {}
    for node in nodes:
        try:
            # Raw JSON: a CSINode without drivers reads `"drivers": null`.
            csi_node = read_json(clients.storage.read_csi_node, node)
        except ApiException as exc:
            if exc.status != 404:
                raise
            csi_node = None
        names = [str(d.get("name")) for d in items(csi_node, "spec", "drivers")]
        seen[node] = "no CSINode" if csi_node is None else f"drivers {names or 'none'}"
        (registered if provisioner in names else unregistered).append(node)
    return registered, unregistered, seen


def _csi_driver(clients: KubeClients, name: str) -> str:
    try:
        csi_driver = read_json(clients.storage.read_csi_driver, name)
    except ApiException as exc:
        if exc.status != 404:
            raise
        raise IdentityUnknown(
            f"no CSIDriver {name} in the cluster, though the nodes register {name}"
        ) from exc
    # As the API writes them (false, not Python's False).
    spec = ", ".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value)}"
        for key in _CSI_DRIVER_FIELDS
        if (value := field(csi_driver, "spec", key)) is not None
    )
    labels = field(csi_driver, "metadata", "labels") or {}
    installed = ", ".join(f"{key}={labels[key]}" for key in _INSTALLER_LABELS if key in labels)
    return (
        f"CSIDriver {name}"
        + (f": {spec}" if spec else "")
        + (f"; {installed}" if installed else "")
    )


def _node_plugin(
    clients: KubeClients,
    provisioner: str,
    nodes: set[str],
    node_pods: Sequence[tuple[str, str]],
    containers: Sequence[str] | None,
    daemon_sets: _DaemonSets,
) -> tuple[tuple[ContainerImage, ...], str]:
    def on_nodes(pods: Iterable[dict[str, Any]]) -> tuple[ContainerImage, ...]:
        return tuple(
            image
            for pod in pods
            if field(pod, "spec", "nodeName") in nodes
            and (image := _image(pod, _node_container(pod, containers)))
        )

    for namespace, selector in node_pods:
        found = on_nodes(_pods(clients, namespace, selector))
        if found:
            return found, f"pods {selector} in {namespace}"
    looked = [f"{selector} in {namespace}" for namespace, selector in node_pods]
    for daemon_set in daemon_sets():
        namespace = str(field(daemon_set, "metadata", "namespace") or "default")
        selector = workload_selector(daemon_set)
        where = f"DaemonSet {namespace}/{field(daemon_set, 'metadata', 'name')}"
        found = on_nodes(_pods(clients, namespace, selector)) if selector else ()
        if found:
            return found, f"the pods of {where}, found by its socket directory"
        looked.append(where)
    return (), (
        f"no running node plugin pod of {provisioner} on {', '.join(sorted(nodes))} "
        f"(looked at: {', '.join(looked) or 'no DaemonSet with its socket directory'})"
    )


def _controller(
    clients: KubeClients,
    provisioner: str,
    node_plugin: Sequence[ContainerImage],
    controller_pods: Sequence[tuple[str, str]],
    containers: Sequence[str] | None,
    daemon_sets: _DaemonSets,
) -> tuple[tuple[ContainerImage, ...], str]:
    """The controller's driver container(s) in running pods, and where they were found (or
    why none were): the run's selectors first, else the installed driver's rule."""
    repositories = {image_repository(c.image) for c in node_plugin}
    found = tuple(
        image
        for namespace, selector in controller_pods
        for pod in _pods(clients, namespace, selector)
        for name in _controller_containers(pod, containers, repositories)
        if (image := _image(pod, name))
    )
    looked = ", ".join(f"{selector} in {namespace}" for namespace, selector in controller_pods)
    if found:
        return found, f"pods {looked}"
    # The run's selectors found none (or it gave none): the installed driver's rule.
    before = f"none among pods {looked}; " if looked else ""
    try:
        controllers = find_controllers(clients, provisioner, daemon_sets())
        found = tuple(
            image
            for controller in controllers
            # No matchLabels: an empty selector would take every pod of the namespace.
            if controller.selector
            for pod in _pods(clients, controller.ref.namespace or "default", controller.selector)
            for name in controller.containers
            if (image := _image(pod, name))
        )
    except (PatchError, ApiException) as exc:
        # Not the run's failure: the node plugin's identity stands without it (who may not
        # list Deployments cluster-wide still gets the driver's name and version).
        problem = identity_problem(exc)
        return (), f"no controller found ({before}by the installed driver's rule: {problem})"
    where = "; ".join(f"{c.ref}, which {c.found_by}" for c in controllers)
    if found:
        return found, f"the pods of {where}, found by the installed driver's rule"
    return (), f"no running pod of {where} ({before}found by the installed driver's rule)"


def _pods(clients: KubeClients, namespace: str, selector: str) -> list[dict[str, Any]]:
    # Raw JSON: the container rule reads the pod spec as the manifests write it.
    listed = read_json(clients.core.list_namespaced_pod, namespace, label_selector=selector)
    return [pod for pod in items(listed, "items") if field(pod, "status", "phase") == "Running"]


def _node_container(pod: Mapping[str, Any], containers: Sequence[str] | None) -> str | None:
    names = [str(c.get("name")) for c in items(pod, "spec", "containers")]
    if containers:
        return next((name for name in containers if name in names), None)
    # The rule the Lustre emulation's patch uses, on the pod's own spec.
    shaped = {
        "kind": "Pod",
        "metadata": field(pod, "metadata") or {},
        "spec": {"template": {"spec": field(pod, "spec") or {}}},
    }
    try:
        return node_plugin_container(shaped)
    except PatchError:
        return None


def _controller_containers(
    pod: Mapping[str, Any], containers: Sequence[str] | None, repositories: set[str]
) -> list[str]:
    """The controller's driver container(s): the first named one present, else those running
    the node plugin's image (sidecars such as csi-provisioner run images of their own)."""
    specs = [c for c in items(pod, "spec", "containers") if isinstance(c, dict)]
    if containers:
        names = [str(c.get("name")) for c in specs]
        return [name for name in containers if name in names][:1]
    return driver_containers(specs, repositories)


def _image(pod: Mapping[str, Any], container: str | None) -> ContainerImage | None:
    if container is None:
        return None
    spec = next((c for c in items(pod, "spec", "containers") if c.get("name") == container), None)
    if spec is None or not spec.get("image"):
        return None
    status: dict[str, Any] = next(
        (s for s in items(pod, "status", "containerStatuses") if s.get("name") == container), {}
    )
    return ContainerImage(
        pod=str(field(pod, "metadata", "name")),
        node=str(field(pod, "spec", "nodeName")),
        container=container,
        image=str(spec["image"]),
        digest=image_digest(str(status.get("imageID") or "")),
    )


def image_digest(image_id: str) -> str | None:
    """The digest in a container status's imageID: `repo@sha256:...` (containerd, a pulled
    image), `sha256:...` (an image loaded into the node), `docker-pullable://repo@sha256:...`
    (dockershim); None when the kubelet reported none."""
    if not image_id:
        return None
    if "@" in image_id:
        return image_id.rsplit("@", 1)[1]
    return image_id.removeprefix("docker-pullable://").removeprefix("docker://")


def identity_problem(exc: Exception) -> str:
    """Why the identity could not be read, in words (an API error: its status and message)."""
    if isinstance(exc, ApiException):
        return f"the API answered HTTP {exc.status}: {api_message(exc)}"
    return str(exc)


def record_run_driver(
    clients: KubeClients,
    settings: KubeRunSettings,
    nodes: Sequence[str],
    details: dict[str, str],
    progress: Progress,
) -> DriverIdentity | None:
    """Read the identity of the driver the run's StorageClasses provision with, into
    `details` (the run result's: e2e's suite takes its driver from them); when it cannot be
    read, `details` says why and the suite cannot pass. Raises StepError when the driver is
    registered on none of `nodes`: nothing the run does could exercise it."""
    try:
        identity = read_identity(
            clients,
            settings.provisioner,
            nodes,
            settings.node_pods,
            settings.node_containers,
            settings.controller_pods,
            settings.controller_containers,
        )
    except NotRegistered as exc:
        details.update(unknown_details(str(exc)))
        raise StepError(str(exc)) from exc
    except (IdentityUnknown, ApiException) as exc:
        details.update(unknown_details(identity_problem(exc)))
        progress.info(f"driver identity: {details[IDENTITY_DETAIL]}")
        return None
    details.update(identity.details())
    progress.info(f"driver under test: {identity.name} {identity.version}")
    return identity
