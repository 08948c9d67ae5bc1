"""The options a scenario pod's volume was mounted with, on a cluster (a pod's `mounted_with`).

Two sources, chosen by what is mounted at /data in the pod (its own /proc/self/mountinfo,
read by exec):

* real Lustre (`lustre` in the mount table): a Lustre client lists the options it runs with
  (flock, localflock, user_xattr, lazystatfs, ...) among the mount's options, so the pod's
  mount table is the answer (a mount without -o flock lists none);
* anything else is the Lustre emulation (a bind of a directory of the emulation root), which
  takes flock locks whatever the options: there the helper's record of the mount (one per
  target, fsx_emulator.lustre) is read where it was written, in the node plugin container on
  the pod's node, which has the emulation root mounted (e2e/platforms/kube/lustre_helper.py
  puts it there on kind, k3s and a cluster on emulated AWS alike). The record counts only
  when it is of this volume's file system and its target is still mounted in that container
  (a record outlives its mount).

Where neither can be read (no exec, a node plugin without the emulation that the run's
selectors do not find), the options are NOT checked, with the reason.
"""

from __future__ import annotations

import shlex
from typing import Any, Final, NamedTuple

from kubernetes.client.exceptions import ApiException

from e2e.platforms.kube.clients import KubeClients
from e2e.platforms.kube.lustre_helper import CONTAINER_ROOT, ROOT_VOLUME
from e2e.platforms.kube.objects import APP_CONTAINER, KubeRunSettings
from e2e.platforms.kube.observe import tail
from e2e.runner import MountOptions
from e2e.scenarios import VOLUME_MOUNT_PATH
from fsx_csi_harness import mountinfo
from fsx_emulator import lustre

EXEC_TIMEOUT_S: Final = 30.0
# Where the helper in the node plugin container writes its records.
RECORDS_DIR: Final = f"{CONTAINER_ROOT}/{lustre.MOUNT_RECORDS}"
# Printed between the records and after them, before the container's own mount table.
_RECORD_END: Final = "--- end of record"
_MOUNT_TABLE: Final = "=== mountinfo"
# kubelet's name for a CSI volume's staging directory, for drivers that stage
# (<kubelet>/plugins/kubernetes.io/csi/<driver>/<hash>/globalmount).
_STAGING_LEAF: Final = "/globalmount"


def pod_target_suffix(pod_uid: str, pv_name: str) -> str:
    """The end of kubelet's target path for a pod's CSI volume (whatever kubelet's root)."""
    return f"/pods/{pod_uid}/volumes/kubernetes.io~csi/{pv_name}/mount"


def read_records_script(pod_uid: str, pv_name: str, records_dir: str = RECORDS_DIR) -> str:
    """sh that prints the records of this pod's target and of any staging directory, each
    followed by _RECORD_END, then the container's mount table (after _MOUNT_TABLE)."""
    target = shlex.quote(lustre.record_name(pod_target_suffix(pod_uid, pv_name)))
    staging = shlex.quote(lustre.record_name(_STAGING_LEAF))
    return (
        f"cd {shlex.quote(records_dir)} 2>/dev/null && "
        f'for f in *{target} *{staging}; do [ -f "$f" ] || continue; '
        f'cat "$f"; echo; echo {shlex.quote(_RECORD_END)}; done; '
        f"echo {shlex.quote(_MOUNT_TABLE)}; cat /proc/self/mountinfo"
    )


def _volume_of(clients: KubeClients, pod: Any, namespace: str) -> tuple[str, str]:
    """(PV name, volume handle) of the pod's claim."""
    claims = [
        volume.persistent_volume_claim.claim_name
        for volume in pod.spec.volumes or []
        if volume.persistent_volume_claim is not None
    ]
    if not claims:
        raise LookupError(f"pod {pod.metadata.name} has no claim")
    claim = clients.core.read_namespaced_persistent_volume_claim(claims[0], namespace)
    pv = clients.core.read_persistent_volume(claim.spec.volume_name)
    return str(pv.metadata.name), str(pv.spec.csi.volume_handle)


class NodePluginContainer(NamedTuple):
    """The node plugin container on a node that has the Lustre emulation's root mounted."""

    namespace: str
    pod: str
    container: str
    # Its volumeMounts (kubernetes client models): where it sees kubelet's directory.
    volume_mounts: list[Any]


def emulating_node_plugin(
    clients: KubeClients, settings: KubeRunSettings, node: str
) -> NodePluginContainer | None:
    """The node plugin container on `node` that has the emulation root (the one that runs the
    driver's mounts there: lustre_helper patches the root into that container only)."""
    for namespace, selector in settings.node_pods:
        pods = clients.core.list_namespaced_pod(
            namespace, label_selector=selector, field_selector=f"spec.nodeName={node}"
        ).items
        for pod in pods:
            if pod.spec.node_name != node:
                continue
            for container in pod.spec.containers:
                mounts = list(container.volume_mounts or [])
                if any(m.name == ROOT_VOLUME for m in mounts):
                    return NodePluginContainer(
                        namespace, str(pod.metadata.name), str(container.name), mounts
                    )
    return None


def read_mount_options(
    clients: KubeClients, settings: KubeRunSettings, pod_name: str, node: str
) -> MountOptions:
    namespace = settings.namespace
    code, output = clients.exec.exec(
        namespace, pod_name, APP_CONTAINER, ["cat", "/proc/self/mountinfo"], EXEC_TIMEOUT_S
    )
    if code != 0:
        return MountOptions(
            None, f"cat /proc/self/mountinfo in pod {pod_name} exited {code}: {tail(output, 3)}"
        )
    try:
        at_data = mountinfo.mount_at(mountinfo.parse(output), VOLUME_MOUNT_PATH)
    except ValueError as exc:
        return MountOptions(None, f"pod {pod_name}'s /proc/self/mountinfo: {exc}")
    if at_data is None:
        return MountOptions((), f"nothing is mounted at {VOLUME_MOUNT_PATH} in pod {pod_name}")
    if at_data.fs_type == "lustre":
        return MountOptions(
            (*at_data.mount_options, *at_data.super_options),
            f"pod {pod_name}'s /proc/self/mountinfo: lustre {at_data.source} at "
            f"{VOLUME_MOUNT_PATH}",
        )
    mounted = f"{at_data.fs_type} {at_data.source} (root {at_data.root})"
    try:
        return _from_emulation_record(clients, settings, pod_name, node, mounted)
    except (ApiException, LookupError) as exc:
        said = f"HTTP {exc.status} {exc.reason}" if isinstance(exc, ApiException) else str(exc)
        return MountOptions(
            None,
            f"{VOLUME_MOUNT_PATH} in pod {pod_name} is {mounted}, not Lustre, and the Lustre "
            f"emulation's record of it could not be read: {said}",
        )


def _from_emulation_record(
    clients: KubeClients, settings: KubeRunSettings, pod_name: str, node: str, mounted: str
) -> MountOptions:
    pod = clients.core.read_namespaced_pod(pod_name, settings.namespace)
    pv_name, volume_handle = _volume_of(clients, pod, settings.namespace)
    plugin = emulating_node_plugin(clients, settings, node)
    if plugin is None:
        selectors = ", ".join(f"{ns}/{selector}" for ns, selector in settings.node_pods)
        return MountOptions(
            None,
            f"{VOLUME_MOUNT_PATH} in pod {pod_name} is {mounted}, not Lustre, and no node "
            f"plugin pod on {node} ({selectors}) has the Lustre emulation's root, where its "
            "mount.lustre records the options of each mount",
        )
    namespace, plugin_pod, container, _ = plugin
    script = read_records_script(str(pod.metadata.uid), pv_name)
    code, output = clients.exec.exec(
        namespace, plugin_pod, container, ["sh", "-c", script], EXEC_TIMEOUT_S
    )
    records_text, separator, table = output.partition(f"{_MOUNT_TABLE}\n")
    if code != 0 or not separator:
        return MountOptions(
            None,
            f"reading the Lustre emulation's records in {namespace}/{plugin_pod} "
            f"({container}) exited {code}: {tail(output, 3)}",
        )
    try:
        mount_points = {entry.mount_point for entry in mountinfo.parse(table)}
    except ValueError as exc:
        return MountOptions(None, f"{namespace}/{plugin_pod} ({container}) mountinfo: {exc}")
    records = [
        lustre.parse_mount_record(text)
        for text in records_text.split(f"{_RECORD_END}\n")
        if text.strip()
    ]
    current = [r for r in records if r.file_system_id == volume_handle and r.target in mount_points]
    # The pod's own target first; a staging directory only for a driver that stages.
    suffix = pod_target_suffix(str(pod.metadata.uid), pv_name)
    current.sort(key=lambda record: not record.target.endswith(suffix))
    where = f"in {namespace}/{plugin_pod} ({container}) on {node}"
    if not current:
        return MountOptions(
            (),
            f"no mount -t lustre of {volume_handle} for pod {pod_name} in the Lustre "
            f"emulation's records {where}; {VOLUME_MOUNT_PATH} in the pod is {mounted}",
        )
    record = current[0]
    return MountOptions(
        record.options,
        f"the Lustre emulation's record of mount -t lustre {record.source} {record.target} {where}",
    )
