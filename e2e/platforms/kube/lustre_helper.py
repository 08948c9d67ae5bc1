"""The Lustre emulation in the node plugin of any driver on kind and cluster platforms.

A node plugin runs `mount -t lustre ...` inside its own
container, so that is where mount(8) must find the emulation's `mount.lustre`: the harness
puts it there with a patch of the node plugin's DaemonSet, whatever driver it is (ours, or
another driver's `--manifests`), and no image change:

* a ConfigMap holding the helper script as shipped (fsx_emulator/lustre/mount.lustre, whose
  fixed root is /run/fsx-emulation);
* in the DaemonSet's pod template, that ConfigMap mounted with subPath at /sbin/mount.lustre
  (over the image's own, if it has a Lustre client: inside this container only) and the
  nodes' shared emulation root (a hostPath, NODE_EMULATION_ROOT, which kind shares across its
  nodes) at /run/fsx-emulation, HostToContainer so that file systems the emulator adds later
  show up.

The patch goes into the objects the run applies (so the run's teardown removes it with them),
only on emulated AWS: a driver on real FSx keeps its real Lustre client.

The node plugin container is the one that mounts into kubelet's directory (Bidirectional
propagation); failing that, the one named fsx-plugin (the upstream driver's and ours), else the
first.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Final

from e2e.platforms.manifests import NODE_EMULATION_ROOT, Manifest, ObjectRef, ref
from fsx_emulator import lustre

CONFIG_MAP: Final = "fsx-csi-lustre-emulation"
HELPER_VOLUME: Final = "fsx-csi-lustre-helper"
ROOT_VOLUME: Final = "fsx-csi-emulation-root"
# Where mount(8) looks for helpers; on merged-/usr images /sbin is a symlink and the runtime
# resolves the path inside the container.
HELPER_PATH: Final = f"/sbin/{lustre.HELPER_NAME}"
CONTAINER_ROOT: Final = lustre.DEFAULT_EMULATION_ROOT
_EXECUTABLE: Final = 0o755
_PREFERRED_CONTAINER: Final = "fsx-plugin"


class PatchError(ValueError):
    """The node plugin cannot be patched; the message says what was expected and seen."""


def helper_config_map(namespace: str) -> Manifest:
    """The ConfigMap holding the helper, in the node plugin's namespace."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "namespace": namespace},
        "data": {lustre.HELPER_NAME: lustre.helper_text()},
    }


def node_plugin_container(daemon_set: Manifest) -> str:
    """The name of the container that runs the driver's mounts."""
    containers: list[dict[str, Any]] = daemon_set["spec"]["template"]["spec"].get("containers")
    if not containers:
        raise PatchError(f"{ref(daemon_set)} has no containers to give the Lustre emulation")
    mounting = [
        c["name"]
        for c in containers
        if any(m.get("mountPropagation") == "Bidirectional" for m in c.get("volumeMounts") or [])
    ]
    if len(mounting) == 1:
        return str(mounting[0])
    names = [str(c["name"]) for c in containers]
    if _PREFERRED_CONTAINER in (mounting or names):
        return _PREFERRED_CONTAINER
    return (mounting or names)[0]


def patched_node_plugin(daemon_set: Manifest) -> Manifest:
    """`daemon_set` with the helper and the emulation root in its node plugin container
    (replacing whatever it had at those paths, and any earlier patch: applying twice is once)."""
    patched = copy.deepcopy(daemon_set)
    pod = patched["spec"]["template"]["spec"]
    container_name = node_plugin_container(patched)
    ours = {HELPER_VOLUME, ROOT_VOLUME}
    pod["volumes"] = [v for v in pod.get("volumes") or [] if v.get("name") not in ours] + [
        {
            "name": HELPER_VOLUME,
            "configMap": {
                "name": CONFIG_MAP,
                "defaultMode": _EXECUTABLE,
                "items": [{"key": lustre.HELPER_NAME, "path": lustre.HELPER_NAME}],
            },
        },
        {
            "name": ROOT_VOLUME,
            "hostPath": {"path": NODE_EMULATION_ROOT, "type": "DirectoryOrCreate"},
        },
    ]
    container = next(c for c in pod["containers"] if c["name"] == container_name)
    replaced = {HELPER_PATH, CONTAINER_ROOT}
    mounts = [
        m
        for m in container.get("volumeMounts") or []
        if m.get("name") not in ours and m.get("mountPath") not in replaced
    ]
    container["volumeMounts"] = [
        *mounts,
        {
            "name": HELPER_VOLUME,
            "mountPath": HELPER_PATH,
            "subPath": lustre.HELPER_NAME,
            "readOnly": True,
        },
        {"name": ROOT_VOLUME, "mountPath": CONTAINER_ROOT, "mountPropagation": "HostToContainer"},
    ]
    return patched


def with_lustre_emulation(
    objects: Sequence[Manifest], node_plugins: Sequence[ObjectRef]
) -> list[Manifest]:
    """The run's objects with every node plugin DaemonSet patched and the helper's ConfigMap
    in each of their namespaces, applied just before the first of them."""
    wanted = {(r.name, r.namespace or "default") for r in node_plugins if r.kind == "DaemonSet"}

    def is_node_plugin(manifest: Manifest) -> bool:
        metadata = manifest.get("metadata") or {}
        key = (metadata.get("name"), metadata.get("namespace") or "default")
        return manifest.get("kind") == "DaemonSet" and key in wanted

    found = [m for m in objects if is_node_plugin(m)]
    if len(found) != len(wanted):
        missing = sorted(
            f"{namespace}/{name}"
            for name, namespace in wanted
            if not any(
                (m["metadata"]["name"], m["metadata"].get("namespace") or "default")
                == (name, namespace)
                for m in found
            )
        )
        raise PatchError(
            f"node plugin DaemonSet(s) {', '.join(missing)} are not among the objects to apply; "
            "expected every node plugin there to give it the Lustre emulation"
        )
    namespaces = sorted({m["metadata"].get("namespace") or "default" for m in found})
    result: list[Manifest] = []
    for manifest in objects:
        if is_node_plugin(manifest):
            if namespaces:
                result += [helper_config_map(namespace) for namespace in namespaces]
                namespaces = []
            result.append(patched_node_plugin(manifest))
        else:
            result.append(manifest)
    return result
