"""`--driver installed` on emulated AWS: the installed driver, temporarily pointed at the
harness's FSx emulator and Lustre emulation by a live patch the run applies and removes.

A driver installed in a cluster (for example with the upstream helm chart) talks to real AWS
and mounts with a real Lustre client. To test it on emulated AWS the run

1. deploys the in-cluster FSx emulator (its Deployment and Service, labelled with the run id,
   removed at the end like any deployed object; the caller does that part);
2. finds the driver's workloads from its CSIDriver name: the node plugin DaemonSet(s) (a
   hostPath under the kubelet's plugins directory named after the driver, the rule sanity's pod
   uses) and, in the same namespace, the controller Deployment or StatefulSet that runs the
   same driver image (failing that, the only one there with a csi-provisioner sidecar; the
   rule is `driver_workloads.find_controllers`, which the driver identity uses too);
3. patches their pod templates in place: the node plugin gets the Lustre emulation
   (`lustre_helper.patched_node_plugin`, with the helper's ConfigMap in its namespace), the
   controller's driver container(s) the environment that points them at the emulator
   (`user_manifests.EMULATOR_ENVIRONMENT`), and waits for the rollouts;
4. at the end (success, failure, Ctrl-C, SIGTERM) restores each pod template and waits again.

The original pod template is saved on the workload itself, in the same JSON patch that
changes it (an `ORIGINAL_ANNOTATION` holding `spec.template` as the API server sent it, and a
`RUN_ANNOTATION` with the run id), so the restore puts back exactly what was there, and a run
killed before its teardown (SIGKILL, a lost connection) leaves a workload that says how to
repair it: a later run's sweep restores any workload annotated by another run
(`restore_leftovers`), and a later installed run patches from the saved original instead of
saving the patched template as if it were the driver's own.

JSON patches (RFC 6902) rather than server-side apply: `replace /spec/template` is exact
(no list merging, no field ownership moved from helm to the harness), and a `test` operation
on the template read just before makes a concurrent change (a `helm upgrade` in between) fail
the patch instead of being overwritten.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from e2e.platforms.commands import CommandRunner
from e2e.platforms.kube.apply import apply_manifests, delete_manifests
from e2e.platforms.kube.clients import KubeClients, api_message
from e2e.platforms.kube.driver_workloads import (
    LIST_FOR_ALL_NAMESPACES,
    Controller,
    find_controllers,
    node_plugin_daemon_sets,
    template_containers,
    workload_ref,
    workload_selector,
)
from e2e.platforms.kube.lustre_helper import (
    PatchError,
    helper_config_map,
    node_plugin_container,
    patched_node_plugin,
)
from e2e.platforms.kube.readiness import wait_workloads_ready
from e2e.platforms.kube.wire import field as json_field
from e2e.platforms.kube.wire import items, read_json
from e2e.platforms.manifests import (
    RUN_ID_LABEL,
    Manifest,
    ObjectRef,
    kube_name,
    render,
    with_driver_image,
    with_emulator_creation_delay,
    with_labels,
)
from e2e.platforms.user_manifests import EMULATOR_ENVIRONMENT
from e2e.progress import Progress
from fsx_csi_harness.results import Leak

ORIGINAL_ANNOTATION: Final = "fsx-csi-harness/original-template"
RUN_ANNOTATION: Final = "fsx-csi-harness/patched-by-run"
JSON_PATCH: Final = "application/json-patch+json"
# Said in progress, in result.details and in failure hints: the report must tell it.
PATCH_NOTE: Final = (
    "the installed driver was temporarily pointed at the harness's FSx emulator and Lustre "
    "emulation (a live patch of its pod templates, restored at the end)"
)

_READ: Final = {
    "DaemonSet": "read_namespaced_daemon_set",
    "Deployment": "read_namespaced_deployment",
    "StatefulSet": "read_namespaced_stateful_set",
}
_PATCH: Final = {
    "DaemonSet": "patch_namespaced_daemon_set",
    "Deployment": "patch_namespaced_deployment",
    "StatefulSet": "patch_namespaced_stateful_set",
}


@dataclass(frozen=True)
class PatchTarget:
    """One workload of the installed driver and what the run sets in its pod template."""

    ref: ObjectRef
    role: str  # "node plugin" or "controller"
    containers: tuple[str, ...]
    # The template as the API server has it now, and the driver's own (the same, unless an
    # earlier run killed mid-way left its patch and saved the original on the object).
    live: dict[str, Any]
    original: dict[str, Any]
    patched: dict[str, Any]
    earlier_run: str | None = None
    # The workload's pod selector (matchLabels as `k=v,...`), where failures read its logs.
    selector: str = ""

    def describe(self) -> str:
        return f"{self.role} {self.ref} (container {', '.join(self.containers)})"


@dataclass
class InstalledPatch:
    """The patch of one installed driver: its workloads and the helper ConfigMaps."""

    driver_name: str
    run_id: str
    targets: list[PatchTarget]
    config_maps: list[Manifest]
    # Workloads this run has patched so far (the teardown restores exactly these).
    applied: list[ObjectRef] = field(default_factory=list)

    @property
    def workloads(self) -> list[ObjectRef]:
        return [t.ref for t in self.targets]

    def describe(self) -> str:
        return "; ".join(t.describe() for t in self.targets)

    def run_settings(self) -> dict[str, Any]:
        """KubeRunSettings fields for the patched driver: its provisioner name, where its
        logs are, and what to say when provisioning or a mount fails."""
        from e2e.platforms.user_manifests import EMULATED_MOUNT_HINT

        def pods(role: str) -> list[tuple[str, str]]:
            targets = [t for t in self.targets if t.role == role]
            return [(t.ref.namespace or "default", t.selector) for t in targets]

        return {
            "provisioner": self.driver_name,
            "controller_pods": pods("controller"),
            "controller_containers": None,
            "node_pods": pods("node plugin"),
            "node_containers": None,
            "provisioning_hint": f"{PATCH_NOTE}: does its controller read AWS_ENDPOINT_URL_FSX?",
            "mount_hint": EMULATED_MOUNT_HINT,
        }

    def notes(self) -> list[str]:
        return [
            f"{t.ref} still carried the patch of run {t.earlier_run} (killed before its "
            "teardown): its saved original is what this run restores"
            for t in self.targets
            if t.earlier_run is not None
        ]


def _saved(workload: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The original template an earlier patch saved on the workload, and that run's id."""
    annotations = json_field(workload, "metadata", "annotations") or {}
    text = annotations.get(ORIGINAL_ANNOTATION)
    if not text:
        return None, None
    original = json.loads(text)
    if not isinstance(original, dict):
        raise PatchError(f"annotation {ORIGINAL_ANNOTATION} does not hold a pod template")
    return original, annotations.get(RUN_ANNOTATION)


def _original(workload: Mapping[str, Any]) -> dict[str, Any]:
    """The driver's own pod template: the one an earlier patch saved, else the live one."""
    saved, _ = _saved(workload)
    return saved if saved is not None else json_field(workload, "spec", "template") or {}


def with_emulator_environment(
    template: Mapping[str, Any], containers: Sequence[str]
) -> dict[str, Any]:
    """`template` with EMULATOR_ENVIRONMENT in `containers`, replacing any setting of the
    same names (a helm value's AWS_REGION, credentials from a Secret)."""
    patched = copy.deepcopy(dict(template))
    for container in template_containers(patched):
        if container.get("name") not in containers:
            continue
        kept = [e for e in container.get("env") or [] if e.get("name") not in EMULATOR_ENVIRONMENT]
        container["env"] = [
            *kept,
            *({"name": name, "value": value} for name, value in EMULATOR_ENVIRONMENT.items()),
        ]
    return patched


def _node_target(daemon_set: dict[str, Any]) -> PatchTarget:
    ref = workload_ref("DaemonSet", daemon_set)
    strategy = json_field(daemon_set, "spec", "updateStrategy", "type") or "RollingUpdate"
    if strategy != "RollingUpdate":
        raise PatchError(
            f"{ref} has update strategy {strategy}: a patch of its pod template would not "
            "reach its pods; expected RollingUpdate (the helm chart's default)"
        )
    live = json_field(daemon_set, "spec", "template") or {}
    _, earlier = _saved(daemon_set)
    original = _original(daemon_set)
    # patched_node_plugin works on a whole DaemonSet; only its pod template is ours to set.
    shell = {"kind": "DaemonSet", "metadata": {"name": ref.name}, "spec": {"template": original}}
    container = node_plugin_container(shell)
    patched = patched_node_plugin(shell)["spec"]["template"]
    return PatchTarget(
        ref,
        "node plugin",
        (container,),
        live,
        original,
        patched,
        earlier,
        workload_selector(daemon_set),
    )


def _controller_target(controller: Controller) -> PatchTarget:
    live = json_field(controller.workload, "spec", "template") or {}
    _, earlier = _saved(controller.workload)
    original = _original(controller.workload)
    return PatchTarget(
        controller.ref,
        "controller",
        controller.containers,
        live,
        original,
        with_emulator_environment(original, controller.containers),
        earlier,
        controller.selector,
    )


def plan_installed_patch(clients: KubeClients, driver_name: str, run_id: str) -> InstalledPatch:
    """What the run patches in the installed driver `driver_name`. Raises PatchError (what was
    expected, what was seen) when its workloads cannot be found or patched."""
    node_plugins = node_plugin_daemon_sets(clients, driver_name)
    targets = [_node_target(d) for d in node_plugins]
    # The rule judges the driver's own templates (an earlier run's leftover patch aside).
    controllers = [
        _controller_target(c)
        for c in find_controllers(clients, driver_name, node_plugins, template_of=_original)
    ]
    namespaces = sorted({t.ref.namespace or "default" for t in targets})
    config_maps = with_labels(
        [helper_config_map(namespace) for namespace in namespaces],
        {RUN_ID_LABEL: kube_name(run_id)},
    )
    return InstalledPatch(driver_name, run_id, [*targets, *controllers], config_maps)


def _pointer(key: str) -> str:
    """An annotation key as a JSON pointer segment (RFC 6901: ~ and / escaped)."""
    return key.replace("~", "~0").replace("/", "~1")


def patch_operations(target: PatchTarget, run_id: str, annotated: bool) -> list[dict[str, Any]]:
    """The JSON patch that sets the target's patched template and saves the original: one
    request, so no state has the change without the way back. `annotated`: the workload
    already has metadata.annotations (an `add` of the whole map would replace it)."""
    saved = {
        ORIGINAL_ANNOTATION: json.dumps(target.original, sort_keys=True, separators=(",", ":")),
        RUN_ANNOTATION: run_id,
    }
    operations: list[dict[str, Any]] = [
        {"op": "test", "path": "/spec/template", "value": target.live},
        {"op": "replace", "path": "/spec/template", "value": target.patched},
    ]
    if annotated:
        operations += [
            {"op": "add", "path": f"/metadata/annotations/{_pointer(k)}", "value": v}
            for k, v in saved.items()
        ]
    else:
        operations.append({"op": "add", "path": "/metadata/annotations", "value": saved})
    return operations


def _patch(clients: KubeClients, ref: ObjectRef, operations: list[Any], dry_run: bool) -> None:
    extra = {"dry_run": "All"} if dry_run else {}
    getattr(clients.apps, _PATCH[ref.kind])(
        ref.name,
        ref.namespace or "default",
        operations,
        _content_type=JSON_PATCH,
        _preload_content=False,
        **extra,
    )


def _read(clients: KubeClients, ref: ObjectRef) -> dict[str, Any]:
    return read_json(getattr(clients.apps, _READ[ref.kind]), ref.name, ref.namespace or "default")


def _has_annotations(workload: Mapping[str, Any]) -> bool:
    return isinstance(json_field(workload, "metadata", "annotations"), dict)


def patch_problems(clients: KubeClients, plan: InstalledPatch) -> list[str]:
    """Whether the API server would take every patch and the helper ConfigMaps: each sent as
    a server-side dry run (RBAC, admission, validation all answer; nothing changes). Returns
    what it refused, in words."""
    problems = []
    for target in plan.targets:
        try:
            workload = _read(clients, target.ref)
            operations = patch_operations(target, plan.run_id, _has_annotations(workload))
            _patch(clients, target.ref, operations, dry_run=True)
        except ApiException as exc:
            problems.append(f"patching {target.ref}: HTTP {exc.status} {api_message(exc)}")
    for config_map in plan.config_maps:
        namespace = config_map["metadata"]["namespace"]
        try:
            clients.core.patch_namespaced_config_map(
                name=config_map["metadata"]["name"],
                namespace=namespace,
                body=config_map,
                field_manager="fsx-csi-harness",
                force=True,
                dry_run="All",
                _content_type="application/apply-patch+yaml",
                _preload_content=False,
            )
        except ApiException as exc:
            problems.append(
                f"creating ConfigMap {namespace}/{config_map['metadata']['name']}: "
                f"HTTP {exc.status} {api_message(exc)}"
            )
    return problems


def apply_installed_patch(
    clients: KubeClients,
    plan: InstalledPatch,
    progress: Progress,
    timeout_s: float,
    nodes: Sequence[str],
    also_wait: Sequence[ObjectRef] = (),
) -> None:
    """Patch the installed driver and wait for its rollouts (and for `also_wait`: the
    emulator). Each workload is recorded in `plan.applied` as soon as its patch went through,
    so a failure halfway restores what was patched."""
    progress.info(f"{PATCH_NOTE}: {plan.describe()}")
    for note in plan.notes():
        progress.info(note)
    apply_manifests(clients, plan.config_maps, progress)
    for target in plan.targets:
        workload = _read(clients, target.ref)
        _patch(
            clients,
            target.ref,
            patch_operations(target, plan.run_id, _has_annotations(workload)),
            dry_run=False,
        )
        plan.applied.append(target.ref)
    waited = [*also_wait, *plan.workloads]
    wait_workloads_ready(clients, progress, waited, plan.driver_name, nodes, timeout_s)


def restore_workload(clients: KubeClients, ref: ObjectRef) -> str | None:
    """Put back the original template saved on the workload and drop the annotations; the
    run that patched it (None when it carries no patch: nothing to do)."""
    workload = _read(clients, ref)
    annotations = json_field(workload, "metadata", "annotations") or {}
    text = annotations.get(ORIGINAL_ANNOTATION)
    if not text:
        return None
    run = str(annotations.get(RUN_ANNOTATION) or "an unknown run")
    operations: list[dict[str, Any]] = [
        # The annotation read is the one removed: a concurrent restore fails, not doubles.
        {"op": "test", "path": f"/metadata/annotations/{_pointer(ORIGINAL_ANNOTATION)}",
         "value": text},
        {"op": "replace", "path": "/spec/template", "value": json.loads(text)},
        {"op": "remove", "path": f"/metadata/annotations/{_pointer(ORIGINAL_ANNOTATION)}"},
    ]  # fmt: skip
    if RUN_ANNOTATION in annotations:
        operations.append(
            {"op": "remove", "path": f"/metadata/annotations/{_pointer(RUN_ANNOTATION)}"}
        )
    _patch(clients, ref, operations, dry_run=False)
    return run


def restore_installed_patch(
    clients: KubeClients,
    plan: InstalledPatch,
    progress: Progress,
    timeout_s: float,
    nodes: Sequence[str],
) -> list[str]:
    """Restore every workload the run patched, wait for the rollouts back, then remove the
    helper ConfigMaps. Returns what could not be done, in words (the annotations stay where a
    restore failed, for a later run's sweep)."""
    problems = []
    restored = []
    for ref in list(plan.applied):
        try:
            restore_workload(clients, ref)
        except ApiException as exc:
            problems.append(
                f"restoring {ref}: HTTP {exc.status} {api_message(exc)} (its original pod "
                f"template is still in its annotation {ORIGINAL_ANNOTATION}: a later run's "
                "sweep restores it)"
            )
            continue
        plan.applied.remove(ref)
        restored.append(ref)
    if restored:
        progress.info(
            f"restored the installed driver's pod templates: {', '.join(map(str, restored))}"
        )
        try:
            wait_workloads_ready(clients, progress, restored, plan.driver_name, nodes, timeout_s)
        except Exception as exc:  # noqa: BLE001 - the teardown goes on; the report says it
            problems.append(f"the restored driver did not roll out again: {exc}")
    if not problems:
        problems += delete_manifests(clients, plan.config_maps, progress)
    return problems


def restore_leftovers(
    clients: KubeClients, run_id: str, on_restored: Callable[[str], None] | None = None
) -> list[Leak]:
    """The sweep's hook: every workload in the cluster still carrying the patch of another
    run than `run_id` (a run killed before its teardown) gets its original template back.
    Each is a leak of that earlier run, listed with what became of it; the run's own patch
    is left to its teardown."""
    found = []
    for kind in _READ:
        try:
            listed = read_json(getattr(clients.apps, LIST_FOR_ALL_NAMESPACES[kind]))
        except ApiException as exc:
            if exc.status == 403:
                # Who may not list them cannot have patched them either.
                continue
            raise
        for workload in items(listed, "items"):
            saved, run = _saved(workload)
            if saved is None or run == run_id:
                continue
            ref = workload_ref(kind, workload)
            name = f"{ref.namespace}/{ref.name}"
            try:
                restore_workload(clients, ref)
            except ApiException as exc:
                found.append(
                    Leak(
                        kind,
                        name,
                        f"left patched by run {run}; restoring its original pod template "
                        f"failed: HTTP {exc.status} {api_message(exc)}",
                        False,
                    )
                )
                continue
            if on_restored is not None:
                on_restored(f"{ref}: restored the original pod template run {run} left patched")
            found.append(
                Leak(
                    kind,
                    name,
                    f"left patched by run {run} (killed before its teardown): the sweep "
                    "restored its original pod template",
                    True,
                )
            )
    return found


def emulator_manifests(
    runner: CommandRunner, image: str | None, run_id: str, creation_delay_s: float | None
) -> list[Manifest]:
    """The in-cluster FSx emulator's objects (from the `emulated` overlay, as beside another
    driver's `--manifests`), labelled with the run id; `image` is the harness image."""
    from e2e.platforms.user_manifests import emulator_objects

    objects = emulator_objects(render(runner, "emulated"))
    if image is not None:
        objects = with_driver_image(objects, image)
    if creation_delay_s is not None:
        objects = with_emulator_creation_delay(objects, creation_delay_s)
    return with_labels(objects, {RUN_ID_LABEL: kube_name(run_id)})


@contextmanager
def installed_on_emulator(
    clients: KubeClients,
    runner: CommandRunner,
    driver_name: str,
    run_id: str,
    progress: Progress,
    timeout_s: float,
    image: str | None = None,
) -> Iterator[InstalledPatch]:
    """The emulator deployed and the installed driver patched for the `with` block, both
    undone after it whatever happens (qualify's sanity pod talks to the driver in between).
    Raises PatchError, StepError or ApiException when the setup fails (after undoing it)."""
    from e2e.platforms.kube.observe import schedulable_nodes
    from e2e.platforms.manifests import DRIVER_NAMESPACE, EMULATOR_DEPLOYMENT

    patch = plan_installed_patch(clients, driver_name, run_id)
    objects = emulator_manifests(runner, image, run_id, None)
    nodes = schedulable_nodes(clients)
    try:
        apply_manifests(clients, objects, progress)
        emulator = ObjectRef("Deployment", EMULATOR_DEPLOYMENT, DRIVER_NAMESPACE)
        apply_installed_patch(clients, patch, progress, timeout_s, nodes, also_wait=[emulator])
        yield patch
    finally:
        problems = restore_installed_patch(clients, patch, progress, timeout_s, nodes)
        problems += delete_manifests(clients, objects, progress)
        progress.info(
            "the installed driver is restored and the emulator removed"
            if not problems
            else f"NOT fully restored: {'; '.join(problems)}"
        )
