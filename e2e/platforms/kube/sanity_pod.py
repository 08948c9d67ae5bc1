"""Sanity against a driver installed in a cluster, from inside the cluster (`fsx-csi qualify
--platform cluster --driver installed`).

A driver's CSI socket is a Unix socket on each node, under the kubelet's plugins directory:
nothing outside the node can reach it. So one pod runs `fsx-csi sanity` on a node where the
driver is registered, with the socket's directory mounted from the host:

1. find the socket: the node plugin DaemonSet of the driver (a pod template with a hostPath
   volume under `/var/lib/kubelet/plugins/<driver>`) names it in node-driver-registrar's
   `--kubelet-registration-path`; without one, `/var/lib/kubelet/plugins/<driver>/csi.sock`;
2. pick a node whose CSINode lists the driver (it is registered there, so its socket serves);
3. create the pod on that node (the harness image, privileged as a node plugin is, the socket
   directory and a per-run directory under the kubelet's pods directory mounted from the host
   at the same paths, so the target paths sanity asks for are where the driver mounts them);
   the pod first checks the socket exists and exits with a message if not;
4. wait for it to end, read its log: the JSON report and the JUnit XML come back framed by
   markers (no `kubectl cp` needed); the pod is deleted whatever happened.

A cluster with no node where the driver is registered, or no DaemonSet of it, gives
`SanityNotRun` with the reason; a missing socket or a pod that fails gives `SanityPodFailed`
with the pod's last words.
"""

from __future__ import annotations

import base64
import json
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from e2e.platforms.kube.clients import KubeClients, api_message
from e2e.platforms.kube.driver_workloads import KUBELET_PLUGINS_DIR, node_plugin_daemon_sets
from e2e.platforms.kube.wire import delete, field, items, read_json

# Where the pod's target and staging directories live on the host: under the kubelet's
# directory, which node plugins mount with Bidirectional propagation.
SANITY_WORK_DIR: Final = "/var/lib/kubelet/plugins/fsx-csi-harness-sanity"
REGISTRATION_FLAG: Final = "--kubelet-registration-path="
# The harness image with the `harness` extra (fsx-csi sanity needs pytest);
# `--set sanity-image=IMAGE` names another.
DEFAULT_SANITY_IMAGE: Final = "fsx-csi-harness:harness"
SANITY_IMAGE_SETTING: Final = "sanity-image"
MARKER: Final = "FSX-CSI-SANITY"
# The pod's own scratch directory (an emptyDir): parameters in, reports out.
POD_RESULTS_DIR: Final = "/results"
# The pod's exit code when the socket is not there.
NO_SOCKET_EXIT: Final = 3
POD_TIMEOUT_S: Final = 3600.0


class SanityNotRun(Exception):
    """Sanity cannot be run against the installed driver here; says why."""


class SanityPodFailed(Exception):
    """The sanity pod could not run sanity (no socket, pod failed); says what was seen."""


@dataclass(frozen=True)
class DriverSocket:
    """Where the installed driver serves CSI on a node: the host path of its socket."""

    node: str
    host_path: str
    # How the path was found: the DaemonSet's registration flag, or the default.
    source: str

    @property
    def directory(self) -> str:
        return self.host_path.rsplit("/", 1)[0]


@dataclass(frozen=True)
class SanityResults:
    """What the pod brought back: sanity's JSON report and JUnit XML (None when absent), its
    exit code and its log without the framed files."""

    report_json: str | None
    junit_xml: str | None
    exit_code: int
    log: str


def find_driver_socket(clients: KubeClients, driver: str) -> DriverSocket:
    """The socket of `driver` on a node where it is registered (CSINode), from its node plugin
    DaemonSet's registration path. Raises SanityNotRun when no node has it registered."""
    nodes = [
        name
        for name in _node_names(clients)
        if driver in (d.get("name") for d in items(_csi_node(clients, name), "spec", "drivers"))
    ]
    if not nodes:
        raise SanityNotRun(
            f"no node has the CSI driver {driver} registered (no CSINode lists it): the "
            "installed driver's node plugin is not running; check `kubectl get csinode -o yaml` "
            "and its DaemonSet"
        )
    host_path, source = _registration_path(clients, driver)
    return DriverSocket(sorted(nodes)[0], host_path, source)


def _node_names(clients: KubeClients) -> list[str]:
    return [str(node.metadata.name) for node in clients.core.list_node().items]


def _csi_node(clients: KubeClients, name: str) -> dict[str, Any]:
    # Raw JSON: a CSINode with no driver yet has `drivers: null`, which the models refuse.
    try:
        return read_json(clients.storage.read_csi_node, name)
    except ApiException as exc:
        if exc.status == 404:
            return {}
        raise


def _registration_path(clients: KubeClients, driver: str) -> tuple[str, str]:
    default = f"{KUBELET_PLUGINS_DIR}/{driver}/csi.sock"
    for daemon_set in node_plugin_daemon_sets(clients, driver):
        spec = field(daemon_set, "spec", "template", "spec") or {}
        where = f"DaemonSet {field(daemon_set, 'metadata', 'namespace')}/" + str(
            field(daemon_set, "metadata", "name")
        )
        for container in items(spec, "containers"):
            for arg in [*items(container, "args"), *items(container, "command")]:
                if isinstance(arg, str) and arg.startswith(REGISTRATION_FLAG):
                    return arg.removeprefix(REGISTRATION_FLAG), f"{where}, {REGISTRATION_FLAG}"
        return default, f"{where} (no {REGISTRATION_FLAG}: the default path)"
    return default, f"no node plugin DaemonSet of {driver} found: the default path"


def pod_script(
    socket: DriverSocket,
    sanity_args: list[str],
    run_dir: str,
    results_dir: str = POD_RESULTS_DIR,
) -> str:
    """The pod's shell script: check the socket, run sanity, print the result files framed by
    markers (base64, so no line of them can look like a marker)."""
    sanity = shlex.join(
        [
            "fsx-csi", "sanity",
            "--csi.endpoint", f"unix://{socket.host_path}",
            "--csi.mountdir", f"{run_dir}/mount",
            "--csi.stagingdir", f"{run_dir}/staging",
            "--junit-xml", f"{results_dir}/sanity-junit.xml",
            "--json-report", f"{results_dir}/sanity.json",
            *sanity_args,
        ]
    )  # fmt: skip
    socket_path = shlex.quote(socket.host_path)
    parameters = f"{results_dir}/sanity-volume-parameters.yaml"
    return "\n".join(
        [
            "set -u",
            f"if [ ! -S {socket_path} ]; then",
            f'  echo "no CSI socket at {socket.host_path} on node $NODE_NAME '
            f'({socket.source})"; ls -la {shlex.quote(socket.directory)} 2>&1 | head -20; '
            f"exit {NO_SOCKET_EXIT}",
            "fi",
            f'printf "%s" "$FSX_CSI_SANITY_PARAMETERS" > {parameters}',
            f"mkdir -p {shlex.quote(run_dir)}",
            f"{sanity} --csi.testvolumeparameters {parameters}",
            "code=$?",
            "for file in sanity.json sanity-junit.xml; do",
            f'  if [ -f "{results_dir}/$file" ]; then',
            f'    echo "{MARKER} begin $file"; base64 "{results_dir}/$file"; '
            f'echo "{MARKER} end $file"',
            "  fi",
            "done",
            f"rm -rf {shlex.quote(run_dir)}",
            f'echo "{MARKER} exit $code"',
            'exit "$code"',
        ]
    )


def render_sanity_pod(
    name: str,
    namespace: str,
    socket: DriverSocket,
    image: str,
    sanity_args: list[str],
    volume_parameters: Mapping[str, str],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """The pod that runs sanity on the socket's node (validated against the Kubernetes
    schemas in the tests)."""
    run_dir = f"{SANITY_WORK_DIR}/{name}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "restartPolicy": "Never",
            # On that node: its socket is the one found registered there.
            "nodeName": socket.node,
            # Node plugins tolerate everything so that they run on every node; so does this.
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "sanity",
                    "image": image,
                    "command": ["sh", "-c", pod_script(socket, sanity_args, run_dir)],
                    "env": [
                        {
                            "name": "NODE_NAME",
                            "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                        },
                        # JSON is YAML: sanity reads it as its test-volume parameters file.
                        {
                            "name": "FSX_CSI_SANITY_PARAMETERS",
                            "value": json.dumps(dict(volume_parameters), sort_keys=True),
                        },
                    ],
                    # The socket belongs to root on the host; sanity creates target paths.
                    "securityContext": {"privileged": True},
                    "volumeMounts": [
                        {"name": "results", "mountPath": POD_RESULTS_DIR},
                        {"name": "plugin-dir", "mountPath": socket.directory},
                        {
                            "name": "sanity-dir",
                            "mountPath": SANITY_WORK_DIR,
                            # The driver's mounts on the host show up inside (sanity checks
                            # target paths).
                            "mountPropagation": "HostToContainer",
                        },
                    ],
                }
            ],
            "volumes": [
                {"name": "results", "emptyDir": {}},
                {
                    "name": "plugin-dir",
                    "hostPath": {"path": socket.directory, "type": "Directory"},
                },
                {
                    "name": "sanity-dir",
                    "hostPath": {"path": SANITY_WORK_DIR, "type": "DirectoryOrCreate"},
                },
            ],
        },
    }


def parse_pod_log(log: str, exit_code: int) -> SanityResults:
    """The framed result files out of the pod's log; the rest is the log."""
    files: dict[str, list[str]] = {}
    rest: list[str] = []
    current: str | None = None
    for line in log.splitlines():
        if line.startswith(f"{MARKER} begin "):
            current = line.removeprefix(f"{MARKER} begin ")
            files[current] = []
        elif line.startswith(f"{MARKER} end ") and current is not None:
            current = None
        elif current is not None:
            files[current].append(line)
        elif not line.startswith(f"{MARKER} exit "):
            rest.append(line)

    def decoded(name: str) -> str | None:
        if name not in files:
            return None
        return base64.b64decode("".join(files[name])).decode("utf-8", errors="replace")

    return SanityResults(
        decoded("sanity.json"), decoded("sanity-junit.xml"), exit_code, "\n".join(rest)
    )


def run_sanity_pod(
    clients: KubeClients,
    pod: dict[str, Any],
    progress: Callable[[str], None],
    timeout_s: float = POD_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SanityResults:
    """Create the pod, wait for it to end, read its results; the pod is deleted whatever
    happens. Raises SanityPodFailed when the socket is missing or the pod brought nothing."""
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    core = clients.core
    core.create_namespaced_pod(namespace, pod)
    progress(f"sanity: pod {namespace}/{name} on node {pod['spec']['nodeName']}")
    try:
        deadline = clock() + timeout_s
        while True:
            seen = read_json(core.read_namespaced_pod, name, namespace)
            phase = field(seen, "status", "phase")
            if phase in ("Succeeded", "Failed"):
                break
            if clock() > deadline:
                raise SanityPodFailed(
                    f"pod {namespace}/{name} did not finish in {timeout_s:.0f}s (phase {phase}, "
                    f"{_waiting(seen)}); check its image ({pod['spec']['containers'][0]['image']}, "
                    f"--set {SANITY_IMAGE_SETTING}=IMAGE) and `kubectl describe pod`"
                )
            sleep(2.0)
        statuses = items(seen, "status", "containerStatuses")
        exit_code = (
            int(field(statuses[0], "state", "terminated", "exitCode") or 0) if statuses else 1
        )
        log = str(core.read_namespaced_pod_log(name, namespace))
    finally:
        try:
            delete(core.delete_namespaced_pod, name, namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                progress(f"sanity: could not delete pod {namespace}/{name}: {api_message(exc)}")
    results = parse_pod_log(log, exit_code)
    if exit_code == NO_SOCKET_EXIT and results.report_json is None:
        raise SanityPodFailed(f"{results.log.strip()[-800:]} (pod {namespace}/{name})")
    if results.report_json is None:
        raise SanityPodFailed(
            f"pod {namespace}/{name} exited {exit_code} without a sanity report; its log ends: "
            f"{results.log.strip()[-800:]}"
        )
    return results


def _waiting(pod: Mapping[str, Any]) -> str:
    for status in items(pod, "status", "containerStatuses"):
        reason = field(status, "state", "waiting", "reason")
        if reason:
            return f"waiting: {reason}"
    return "no container waiting"
