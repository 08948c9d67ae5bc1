"""Is the nodes' Lustre emulation root a file system of its own, and one the nodes share?
Checked on a cluster the harness did not create (`--platform cluster` on emulated AWS).

kind and k3s put a tmpfs on the host directory their nodes share (e2e/platforms/
emulation_root.py). On any other cluster the emulation root is whatever the nodes have at
/var/lib/fsx-csi-emulation (the hostPath lustre_helper patches into the node plugin container
at /run/fsx-emulation), and the harness must not mount over it: that would break the sharing
between nodes that the user arranged (an existing kind cluster whose nodes bind-mount one host
directory, an NFS export). So it checks, after the driver is ready, and says what it found:

* the device: in the node plugin container of each node the scenarios use (the container
  that has the emulation root: mount_options.emulating_node_plugin, the one place that finds
  it), `stat -c %d` of /run/fsx-emulation against kubelet's pods directory as that container
  sees it (its Bidirectional volumeMount, else /var/lib/kubelet). Same device: the emulated
  Lustre mounts (binds of `<root>/<file-system-id>/<mountname>`) have the device of their
  targets' parents, and a driver built on Kubernetes' mount library takes them for not
  mounted (a second mount stacked on republish, mounts left behind on unpublish). POSIX sh
  and coreutils' (or busybox's) `stat` only: node plugin images need not have Python;
  without `stat` the node is NOT checked, saying so;
* the sharing: a marker file the FSx emulator's pod writes into its emulation root (where
  it creates every file system's directory) must be visible in /run/fsx-emulation on each of
  those nodes. A node that does not see it cannot mount the file systems the emulator
  creates, and scenarios that need a second node cannot pass: said up front, and the
  scenarios with pods on a node that does not see it are NOT RUN with that reason
  (KubeOperations.nodes_for, as a scenario the cluster cannot run): a failure there would
  blame the driver for the cluster's set-up. Scenarios without pods (refused parameters)
  mount nothing and still run. A node whose marker could not be looked at is NOT checked,
  and its scenarios run as before.

Same device is a warning, for every driver, not a failed prerequisite: the check can only run
once the driver is deployed, and refusing then would turn every scenario into an error, also
the many a driver gets right on such nodes (a first publish, an unpublish that reads the mount
table); the harness cannot tell from outside which drivers judge mounts by device numbers
(the reference driver reads mountinfo and is not fooled); the fix is on the nodes, often a
new cluster; and kind and k3s make the same call when their tmpfs cannot be mounted. The
warning is in the run's details and on progress, so that a failure it explains is read so.
Whatever cannot be checked (no exec, no `stat`, no emulator pod) is NOT checked, with why;
the check never fails the run.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from kubernetes.client.exceptions import ApiException

from e2e.platforms.emulation_root import DETAILS_KEY, WARNING_KEY, misjudged_mounts_warning
from e2e.platforms.kube.clients import KubeClients
from e2e.platforms.kube.lustre_helper import CONTAINER_ROOT
from e2e.platforms.kube.mount_options import EXEC_TIMEOUT_S, emulating_node_plugin
from e2e.platforms.kube.objects import KubeRunSettings
from e2e.platforms.kube.observe import schedulable_nodes, tail
from e2e.platforms.manifests import (
    DRIVER_NAMESPACE,
    EMULATOR_DEPLOYMENT,
    NODE_EMULATION_ROOT,
    kube_name,
)

if TYPE_CHECKING:
    from e2e.progress import Progress
    from e2e.scenarios import Scenario

NOT_SHARED_KEY: Final = "emulation_root_not_shared"
MARKER_LEFT_KEY: Final = "emulation_root_marker_left"
DEFAULT_KUBELET_DIR: Final = "/var/lib/kubelet"
# Hidden, named after the run: nothing that reads the root (`<root>/<file-system-id>`) takes
# it for a file system, and two runs never remove each other's.
_MARKER_PREFIX: Final = ".fsx-csi-harness-marker-"
_ABSENT: Final = "absent"
_KEYS: Final = ("stat", "root_device", "kubelet_device", "marker")
_FIX: Final = (
    f"fix: give {NODE_EMULATION_ROOT} a file system of its own on every node, shared between "
    "them (kind: a tmpfs mounted on the host directory every node mounts there, before `kind "
    "create cluster`, as the kind platform does; separate machines: one NFS export mounted "
    "there on each node)"
)


def marker_name(run_id: str) -> str:
    return f"{_MARKER_PREFIX}{kube_name(run_id)}"


def marker_token(run_id: str) -> str:
    return f"fsx-csi-harness run {run_id}"


def kubelet_pods_dir(volume_mounts: Sequence[Any]) -> str:
    """kubelet's pods directory as the node plugin container sees it: under its Bidirectional
    volumeMount (the one it mounts targets through), else under /var/lib/kubelet."""
    bidirectional = [
        str(m.mount_path).rstrip("/")
        for m in volume_mounts
        if m.mount_propagation == "Bidirectional" and m.mount_path
    ]
    pods = next((path for path in bidirectional if path.endswith("/pods")), None)
    if pods is not None:
        return pods
    # A mount of the plugins directory alone holds sockets, not the pods' targets.
    kubelet = next((path for path in bidirectional if "/plugins" not in path), DEFAULT_KUBELET_DIR)
    return f"{kubelet}/pods"


def node_script(kubelet_pods: str, marker: str | None) -> str:
    """POSIX sh printing `key=value` lines: the devices of the emulation root and of
    `kubelet_pods` (or stat=missing), and with `marker` what the marker file in the root holds
    (or absent)."""
    quoted_root, quoted_pods = shlex.quote(CONTAINER_ROOT), shlex.quote(kubelet_pods)
    script = (
        "if command -v stat >/dev/null 2>&1; then "
        f'echo "root_device=$(stat -c %d {quoted_root} 2>&1)"; '
        f'echo "kubelet_device=$(stat -c %d {quoted_pods} 2>&1)"; '
        "else echo stat=missing; fi"
    )
    if marker is not None:
        # `read`, a shell builtin: the marker needs no more of the image than sh.
        path = shlex.quote(f"{CONTAINER_ROOT}/{marker}")
        script += (
            f'; if [ -f {path} ]; then seen=; IFS= read -r seen < {path}; echo "marker=$seen"; '
            f"else echo marker={_ABSENT}; fi"
        )
    return script


def parse_node_output(output: str) -> dict[str, str]:
    """The `key=value` lines of node_script's output (the first of each key)."""
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, separator, value = line.partition("=")
        if separator and key in _KEYS and key not in values:
            values[key] = value.strip()
    return values


def scenario_nodes(nodes: Sequence[str], scenarios: Sequence[Scenario]) -> list[str]:
    """The nodes the scenarios' pods land on: the runner gives each scenario the first
    `node_count` of the schedulable nodes (KubeOperations.nodes_for)."""
    needed = max((scenario.node_count for scenario in scenarios), default=1)
    return list(nodes[:needed])


@dataclass
class NodeFinding:
    node: str
    # "namespace/pod (container)" of the node plugin the check ran in.
    where: str = ""
    kubelet_pods: str = ""
    root_device: str | None = None
    kubelet_device: str | None = None
    # Why the devices were not compared.
    not_checked: str | None = None
    # What the node saw at the emulator's marker (its token, "absent"); None: not looked.
    marker: str | None = None

    @property
    def same_device(self) -> bool:
        return self.root_device is not None and self.root_device == self.kubelet_device

    def describe(self) -> str:
        if self.not_checked is not None:
            return f"{self.node}: NOT checked: {self.not_checked}"
        relation = "SAME file system as" if self.same_device else "a file system of its own, not"
        return (
            f"{self.node}: {CONTAINER_ROOT} (device {self.root_device}) {relation} kubelet's "
            f"{self.kubelet_pods} (device {self.kubelet_device}), in {self.where}"
        )


@dataclass(frozen=True)
class NotShared:
    """Nodes that do not see the marker the FSx emulator wrote into its emulation root."""

    nodes: tuple[str, ...]
    # What is wrong and the fix, as details[NOT_SHARED_KEY] and progress say it.
    reason: str


@dataclass
class _Emulator:
    namespace: str
    pod: str
    container: str
    node: str


def _api_error(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def _find_emulator(clients: KubeClients) -> _Emulator:
    """The FSx emulator's running pod and the container that has its emulation root."""
    deployment = clients.apps.read_namespaced_deployment(EMULATOR_DEPLOYMENT, DRIVER_NAMESPACE)
    labels = deployment.spec.selector.match_labels or {}
    selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    pods = clients.core.list_namespaced_pod(DRIVER_NAMESPACE, label_selector=selector).items
    running = [p for p in pods if p.status is not None and p.status.phase == "Running"]
    if not running:
        raise LookupError(
            f"no running pod of Deployment {DRIVER_NAMESPACE}/{EMULATOR_DEPLOYMENT} "
            f"({selector}), seen {len(pods)} pod(s)"
        )
    pod = running[0]
    containers = pod.spec.containers
    container = next(
        (
            c
            for c in containers
            if any(m.mount_path == CONTAINER_ROOT for m in c.volume_mounts or [])
        ),
        containers[0],
    )
    return _Emulator(
        DRIVER_NAMESPACE, str(pod.metadata.name), str(container.name), str(pod.spec.node_name)
    )


def _emulator_exec(clients: KubeClients, emulator: _Emulator, script: str) -> tuple[int, str]:
    return clients.exec.exec(
        emulator.namespace, emulator.pod, emulator.container, ["sh", "-c", script], EXEC_TIMEOUT_S
    )


def _write_marker(clients: KubeClients, run_id: str) -> tuple[_Emulator | None, str]:
    """(the emulator, what was done): the marker written into its emulation root, or None
    and why not."""
    try:
        emulator = _find_emulator(clients)
    except (ApiException, LookupError) as exc:
        return None, f"the FSx emulator's pod was not found: {_api_error(exc)}"
    path = shlex.quote(f"{CONTAINER_ROOT}/{marker_name(run_id)}")
    script = f"printf '%s\\n' {shlex.quote(marker_token(run_id))} > {path}"
    where = f"{emulator.namespace}/{emulator.pod} ({emulator.container}) on {emulator.node}"
    try:
        code, output = _emulator_exec(clients, emulator, script)
    except Exception as exc:  # noqa: BLE001 - an exec refused is NOT checked, not a failure
        return None, f"writing a marker in the FSx emulator {where} failed: {_api_error(exc)}"
    if code != 0:
        return (
            None,
            f"writing a marker in the FSx emulator {where} exited {code}: {tail(output, 3)}",
        )
    return emulator, where


def _remove_marker(clients: KubeClients, emulator: _Emulator, run_id: str) -> str | None:
    path = f"{CONTAINER_ROOT}/{marker_name(run_id)}"
    try:
        code, output = _emulator_exec(clients, emulator, f"rm -f {shlex.quote(path)}")
    except Exception as exc:  # noqa: BLE001 - a leftover marker is said, not raised
        return f"{path} in {emulator.pod}: {_api_error(exc)}"
    return None if code == 0 else f"{path} in {emulator.pod}: rm exited {code}: {tail(output, 3)}"


def _said(output: str) -> str:
    return f"expected a device number, seen {tail(output, 3)!r}" if output.strip() else "no output"


def _check_node(
    clients: KubeClients, settings: KubeRunSettings, node: str, marker: str | None
) -> NodeFinding:
    finding = NodeFinding(node)
    try:
        plugin = emulating_node_plugin(clients, settings, node)
    except ApiException as exc:
        finding.not_checked = f"listing the node plugin pods failed: {_api_error(exc)}"
        return finding
    if plugin is None:
        selectors = ", ".join(f"{ns}/{selector}" for ns, selector in settings.node_pods)
        finding.not_checked = (
            f"no node plugin pod on {node} ({selectors}) has the Lustre emulation's root"
        )
        return finding
    finding.where = f"{plugin.namespace}/{plugin.pod} ({plugin.container})"
    finding.kubelet_pods = kubelet_pods_dir(plugin.volume_mounts)
    argv = ["sh", "-c", node_script(finding.kubelet_pods, marker)]
    try:
        code, output = clients.exec.exec(
            plugin.namespace, plugin.pod, plugin.container, argv, EXEC_TIMEOUT_S
        )
    except Exception as exc:  # noqa: BLE001 - exec refused (RBAC, no sh): NOT checked
        finding.not_checked = f"exec into {finding.where} failed: {_api_error(exc)}"
        return finding
    if code != 0:
        finding.not_checked = f"sh -c in {finding.where} exited {code}: {tail(output, 3)}"
        return finding
    values = parse_node_output(output)
    finding.marker = values.get("marker")
    root, kubelet = values.get("root_device", ""), values.get("kubelet_device", "")
    if values.get("stat") == "missing":
        finding.not_checked = (
            f"no `stat` in {finding.where} (the check runs POSIX sh and coreutils' or "
            "busybox's `stat -c %d`, so that images without Python can answer)"
        )
    elif not root.isdigit():
        finding.not_checked = (
            f"stat -c %d {CONTAINER_ROOT} in {finding.where}: {root or _said(output)}"
        )
    elif not kubelet.isdigit():
        finding.not_checked = (
            f"stat -c %d {finding.kubelet_pods} in {finding.where}: {kubelet or _said(output)}"
        )
    else:
        finding.root_device, finding.kubelet_device = root, kubelet
    return finding


def check_emulation_root(
    clients: KubeClients,
    settings: KubeRunSettings,
    nodes: Sequence[str],
    details: dict[str, Any],
    progress: Progress,
) -> NotShared | None:
    """Check the emulation root on `nodes` (see the module's docstring); the findings go into
    `details` and onto `progress`. Returns the sharing problem, None when there is none or it
    could not be checked."""
    if not nodes:
        return None  # no schedulable node: the scenarios say so themselves
    progress.info(
        f"checking the emulation root {NODE_EMULATION_ROOT} on {', '.join(nodes)}: a file "
        "system of its own, shared by the nodes"
    )
    emulator, wrote = _write_marker(clients, settings.run_id)
    marker = marker_name(settings.run_id) if emulator is not None else None
    try:
        findings = [_check_node(clients, settings, node, marker) for node in nodes]
    finally:
        if emulator is not None:
            left = _remove_marker(clients, emulator, settings.run_id)
            if left is not None:
                details[MARKER_LEFT_KEY] = left
                progress.info(f"warning: could not remove the emulation root's marker {left}")

    summary = [finding.describe() for finding in findings]
    same = [finding for finding in findings if finding.same_device]
    if same:
        first = same[0]
        warning = misjudged_mounts_warning(
            f"on node(s) {', '.join(f.node for f in same)} the emulation root "
            f"{NODE_EMULATION_ROOT} ({CONTAINER_ROOT} in the node plugin container, e.g. "
            f"{first.where}) is on the same file system as kubelet's pods directory "
            f"({first.kubelet_pods}, device {first.kubelet_device}), not on one of its own",
            "the file system of the pods' volume targets",
        )
        details[WARNING_KEY] = f"{warning}; {_FIX}"
        progress.info(f"warning: {details[WARNING_KEY]}")

    not_shared: NotShared | None = None
    if emulator is None:
        summary.append(f"sharing between the nodes NOT checked: {wrote}")
    else:
        token = marker_token(settings.run_id)
        looked = [finding for finding in findings if finding.marker is not None]
        missing = [finding.node for finding in looked if finding.marker != token]
        if missing:
            reason = (
                f"the nodes do not share the emulation root {NODE_EMULATION_ROOT}: a marker the "
                f"FSx emulator {wrote} wrote into it is not in {CONTAINER_ROOT} of the node "
                f"plugin on {', '.join(missing)}; the file systems the emulator creates do "
                "not exist there, so mounts on those nodes fail and scenarios that need a "
                f"second node cannot pass; {_FIX}"
            )
            details[NOT_SHARED_KEY] = reason
            progress.info(f"warning: {reason}")
            not_shared = NotShared(tuple(missing), reason)
        elif looked:
            seen_on = ", ".join(finding.node for finding in looked)
            summary.append(
                f"shared: the marker the FSx emulator {wrote} wrote is seen on {seen_on}"
            )
        else:
            summary.append(
                "sharing between the nodes NOT checked: no node plugin said whether it sees "
                "the FSx emulator's marker"
            )
    details[DETAILS_KEY] = "; ".join(summary)
    progress.info(f"emulation root: {details[DETAILS_KEY]}")
    return not_shared


def checked_settings(
    clients: KubeClients,
    settings: KubeRunSettings,
    scenarios: Sequence[Scenario],
    details: dict[str, Any],
    progress: Progress,
) -> KubeRunSettings:
    """Check the emulation root on the nodes the scenarios use; `settings` with the sharing
    problem, if any, added to what the pods' failure messages note (mount_hint) and naming
    the nodes on which the scenarios with pods are NOT RUN."""
    nodes = scenario_nodes(schedulable_nodes(clients), scenarios)
    not_shared = check_emulation_root(clients, settings, nodes, details, progress)
    if not_shared is None:
        return settings
    # Which scenarios that is: KubeOperations.nodes_for decides, on the nodes it places them.
    progress.info(
        "scenarios with pods that would use "
        f"{', '.join(not_shared.nodes)} will be NOT RUN: the cluster's set-up, not the driver, "
        "keeps them from passing; the others run"
    )
    hint = "; ".join(text for text in (settings.mount_hint, not_shared.reason) if text)
    return dataclasses.replace(
        settings,
        mount_hint=hint,
        unshared_nodes=not_shared.nodes,
        unshared_reason=not_shared.reason,
    )
