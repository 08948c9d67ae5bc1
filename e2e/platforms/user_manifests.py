"""Another driver's manifests (`--manifests PATH`): load, check and describe them.

PATH is one of

- a kustomize directory (it holds `kustomization.yaml`): rendered with `kubectl kustomize`
  (or `kustomize build`), the same path as the reference driver's overlays;
- a directory of plain manifests (for example `helm template --output-dir` output): every
  `*.yaml`, `*.yml` and `*.json` below it, in path order; subdirectories that are kustomize
  directories themselves are not read (they are meant to be rendered, not applied file by file);
- one YAML file (for example the upstream driver's rendered manifest, or `helm template` output).

The objects are checked before anything is applied: every one must be a kind the harness
applies, and among them there must be the CSIDriver the StorageClasses name as provisioner, at
least one controller workload (Deployment or StatefulSet) and at least one node workload
(DaemonSet). These are the objects the platforms wait for before the scenarios start.
A problem is a `ManifestsError` whose problems each say what was expected, what was seen and
what to try; the platforms turn them into missing prerequisites (exit code 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from e2e.platforms.commands import CommandFailed, CommandRunner
from e2e.platforms.manifests import (
    DRIVER_NAME,
    DRIVER_NAMESPACE,
    EMULATOR_DEPLOYMENT,
    EMULATOR_PORT,
    EMULATOR_SERVICE,
    Manifest,
    ObjectRef,
    containers_of,
    kustomize_command,
    ref,
)

if TYPE_CHECKING:
    from e2e.platforms import Prerequisite, RunOptions

KUSTOMIZATION_FILES: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")
PLAIN_SUFFIXES: Final = (".yaml", ".yml", ".json")

# Every kind `kube.apply_manifests` knows how to apply (server-side apply through the typed
# client), and whether it lives in a namespace.
APPLIED_KINDS: Final[dict[str, bool]] = {
    "Namespace": False,
    "ServiceAccount": True,
    "ConfigMap": True,
    "Secret": True,
    "Service": True,
    "ClusterRole": False,
    "ClusterRoleBinding": False,
    "Role": True,
    "RoleBinding": True,
    "CSIDriver": False,
    "StorageClass": False,
    "Deployment": True,
    "StatefulSet": True,
    "DaemonSet": True,
    "PodDisruptionBudget": True,
}
CONTROLLER_KINDS: Final = ("Deployment", "StatefulSet")
NODE_KINDS: Final = ("DaemonSet",)
# Namespaces every cluster has: applying them is pointless and deleting them at the end is
# refused (kube-system) or destructive (default).
SYSTEM_NAMESPACES: Final = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
# Namespaced objects without a namespace land here, as with `kubectl apply`.
DEFAULT_NAMESPACE: Final = "default"
# Where the in-cluster FSx emulator answers (emulated AWS on kind, k3s, cluster).
EMULATOR_IN_CLUSTER_URL: Final = (
    f"http://{EMULATOR_SERVICE}.{DRIVER_NAMESPACE}.svc.cluster.local:{EMULATOR_PORT}"
)
# The emulated Lustre root every node and the emulator see (fixtures/kind/cluster.yaml).
EMULATION_ROOT_ON_NODES: Final = "/var/lib/fsx-csi-emulation"
# Said wherever a third-party driver meets emulated Lustre (docs, warnings, failure hints).
EMULATED_MOUNT_HINT: Final = (
    "on emulated AWS there is no Lustre server: the harness patches the emulation's "
    "mount.lustre into the node plugin container (/sbin/mount.lustre from the ConfigMap "
    "fsx-csi-lustre-emulation, with the nodes' "
    f"{EMULATION_ROOT_ON_NODES} at /run/fsx-emulation); it answers `mount -t lustre "
    "<dnsname>@tcp:/<mountname> TARGET` run through mount(8); a node plugin that mounts "
    "otherwise (its own mount call, another path) fails here; run the mount steps against real "
    "FSx (--platform cluster --aws-settings FILE)"
)
# What a driver's controller container needs in its environment to talk to the in-cluster
# FSx emulator (the emulated overlay sets the same for the reference driver; `--driver
# installed` on emulated AWS patches it into the installed controller).
EMULATOR_ENVIRONMENT: Final = {
    "AWS_ENDPOINT_URL_FSX": EMULATOR_IN_CLUSTER_URL,
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "emulated",
    "AWS_SECRET_ACCESS_KEY": "emulated",
}
ENDPOINT_HINT: Final = (
    f"set AWS_ENDPOINT_URL_FSX={EMULATOR_IN_CLUSTER_URL} (and dummy AWS_ACCESS_KEY_ID / "
    f"AWS_SECRET_ACCESS_KEY, AWS_REGION={EMULATOR_ENVIRONMENT['AWS_REGION']}) in the driver's "
    "controller container so it talks to the harness's FSx emulator"
)


class ManifestsError(Exception):
    """The manifests cannot be used. `problems` are (seen, try) pairs: each seen text says
    what was expected and what was found."""

    def __init__(self, path: Path, problems: Sequence[tuple[str, str]]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(
            "; ".join(f"--manifests {path}: {seen}; try: {hint}" for seen, hint in self.problems)
        )


@dataclass(frozen=True)
class DriverManifests:
    """Another driver's objects, checked, in the order they are applied."""

    source: Path
    # How they were read ("kubectl kustomize DIR", "3 files under DIR", "FILE").
    rendered_by: str
    objects: list[Manifest]
    driver_name: str
    # The workloads the platforms wait for, each with its namespace resolved.
    controllers: list[ObjectRef]
    node_plugins: list[ObjectRef]
    # What was read but is not applied, in words (system namespaces, skipped directories).
    notes: list[str] = field(default_factory=list)

    @property
    def workloads(self) -> list[ObjectRef]:
        return [*self.controllers, *self.node_plugins]

    @property
    def namespaces(self) -> list[str]:
        """Namespaces the driver's namespaced objects live in (for diagnostics and logs)."""
        return sorted({namespace_of(m) for m in self.objects if APPLIED_KINDS.get(m["kind"])})

    def describe(self) -> str:
        names = ", ".join(str(w) for w in self.workloads)
        return (
            f"{len(self.objects)} objects from {self.rendered_by}: CSIDriver {self.driver_name}, "
            f"{names}"
        )


def namespace_of(manifest: Manifest) -> str:
    return str(manifest.get("metadata", {}).get("namespace") or DEFAULT_NAMESPACE)


def workload_ref(manifest: Manifest) -> ObjectRef:
    """The object with its namespace resolved (None for cluster-scoped kinds)."""
    namespaced = APPLIED_KINDS.get(str(manifest["kind"]), True)
    return ObjectRef(
        str(manifest["kind"]), ref(manifest).name, namespace_of(manifest) if namespaced else None
    )


def load_driver_manifests(
    runner: CommandRunner, path: Path, driver_name: str = DRIVER_NAME
) -> DriverManifests:
    """Read and check the manifests at `path`; raises ManifestsError before anything is
    applied."""
    objects, rendered_by, notes = _read(runner, path)
    return check(path, objects, rendered_by, driver_name, notes)


def _read(runner: CommandRunner, path: Path) -> tuple[list[Manifest], str, list[str]]:
    expected = (
        "expected a kustomize directory (with kustomization.yaml), a directory of YAML "
        "manifests, or one YAML file (for example `helm template` output)"
    )
    if not path.exists():
        raise ManifestsError(
            path,
            [
                (
                    f"{expected}; seen no such file or directory",
                    f"check the path (a relative path is taken from {Path.cwd()})",
                )
            ],
        )
    if path.is_file():
        return _parse_files([path], path), str(path), []
    kustomization = next((path / n for n in KUSTOMIZATION_FILES if (path / n).is_file()), None)
    if kustomization is not None:
        return _render_kustomization(runner, path), f"`kubectl kustomize {path}`", []
    files, skipped = _plain_files(path)
    notes = [f"not read: {d} (a kustomize directory; pass it as --manifests)" for d in skipped]
    if not files:
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        seen = f"seen a directory with {', '.join(entries[:10]) or 'nothing in it'}"
        if len(entries) > 10:
            seen += f" and {len(entries) - 10} more"
        hint = "pass a directory or file that holds the rendered manifests"
        if skipped:
            hint = f"pass one of its kustomize directories ({', '.join(map(str, skipped))})"
        raise ManifestsError(path, [(f"{expected}; {seen}: nothing renderable", hint)])
    return _parse_files(files, path), f"{len(files)} files under {path}", notes


def _plain_files(directory: Path) -> tuple[list[Path], list[Path]]:
    """YAML/JSON files below `directory` in path order, and the kustomize directories left out."""
    files: list[Path] = []
    skipped: list[Path] = []
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if any((entry / n).is_file() for n in KUSTOMIZATION_FILES):
                skipped.append(entry)
                continue
            more, more_skipped = _plain_files(entry)
            files += more
            skipped += more_skipped
        elif entry.suffix in PLAIN_SUFFIXES:
            files.append(entry)
    return files, skipped


def _render_kustomization(runner: CommandRunner, directory: Path) -> list[Manifest]:
    argv = kustomize_command(runner, directory)
    if argv is None:
        raise ManifestsError(
            directory,
            [
                (
                    "a kustomize directory needs `kubectl` or `kustomize` on PATH to render; "
                    "seen neither",
                    "install kubectl (it has kustomize built in), or render the manifests "
                    "yourself and pass the YAML file",
                )
            ],
        )
    try:
        result = runner.run(
            argv,
            what=f"rendering the driver manifests in {directory}",
            timeout_s=60.0,
            hint=f"run `{' '.join(argv)}` by hand and fix the kustomization",
        )
    except CommandFailed as exc:
        raise ManifestsError(
            directory, [(f"expected it to render; {exc}", "fix the kustomization")]
        ) from exc
    return _documents(result.stdout, f"`{' '.join(argv)}`", directory)


def _parse_files(files: Sequence[Path], path: Path) -> list[Manifest]:
    objects: list[Manifest] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestsError(
                path, [(f"expected a readable text file, seen {file}: {exc}", "check the file")]
            ) from exc
        objects += _documents(text, str(file), path)
    return objects


def _documents(text: str, source: str, path: Path) -> list[Manifest]:
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestsError(
            path,
            [(f"expected YAML, seen a syntax error in {source}: {exc}", "fix the YAML")],
        ) from exc
    objects: list[Manifest] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        if isinstance(document, dict) and str(document.get("kind", "")).endswith("List"):
            # `kubectl get -o yaml` output: a List whose items are the objects.
            items = document.get("items") or []
            objects += [item for item in items if isinstance(item, dict)]
            continue
        if (
            not isinstance(document, dict)
            or "kind" not in document
            or not isinstance(document.get("metadata"), dict)
            or not document["metadata"].get("name")
        ):
            shown = str(document)[:120]
            raise ManifestsError(
                path,
                [
                    (
                        f"expected Kubernetes objects (apiVersion, kind, metadata.name) in "
                        f"{source}, seen document {index + 1}: {shown}",
                        "leave out files that are not manifests (helm values, docs), or pass "
                        "only the rendered manifests",
                    )
                ],
            )
        objects.append(document)
    return objects


def check(
    path: Path,
    objects: Sequence[Manifest],
    rendered_by: str,
    driver_name: str = DRIVER_NAME,
    notes: Iterable[str] = (),
) -> DriverManifests:
    """The objects as a driver the platforms can deploy and wait for, or ManifestsError with
    every problem found."""
    notes = list(notes)
    if not objects:
        raise ManifestsError(
            path,
            [
                (
                    f"expected the driver's objects, seen {rendered_by} render no objects",
                    "pass the directory or file that holds the manifests",
                )
            ],
        )
    problems: list[tuple[str, str]] = []
    unsupported = [ref(m) for m in objects if m["kind"] not in APPLIED_KINDS]
    if unsupported:
        problems.append(
            (
                f"expected only kinds the harness applies ({', '.join(APPLIED_KINDS)}), seen "
                f"{', '.join(map(str, unsupported))}",
                "leave them out (apply them yourself beforehand if the driver needs them)",
            )
        )
    applied: list[Manifest] = []
    for manifest in objects:
        if manifest["kind"] == "Namespace" and ref(manifest).name in SYSTEM_NAMESPACES:
            notes.append(f"not applied: Namespace {ref(manifest).name} (every cluster has it)")
        else:
            applied.append(manifest)
    drivers = [ref(m).name for m in applied if m["kind"] == "CSIDriver"]
    controllers = [workload_ref(m) for m in applied if m["kind"] in CONTROLLER_KINDS]
    nodes = [workload_ref(m) for m in applied if m["kind"] in NODE_KINDS]
    seen_kinds = f"seen {len(applied)} objects: {_kind_counts(applied)}"
    if not drivers:
        problems.append(
            (
                f"expected a CSIDriver object named {driver_name} (the provisioner of the "
                f"scenarios' StorageClasses), {seen_kinds} and no CSIDriver",
                "include the driver's CSIDriver manifest (helm charts render it with the rest)",
            )
        )
    elif driver_name not in drivers:
        problems.append(
            (
                f"expected the CSIDriver {driver_name} (the scenarios' StorageClass "
                f"provisioner), seen CSIDriver {', '.join(drivers)}",
                f"--set driver-name={drivers[0]} if that is the driver's name",
            )
        )
    if not controllers:
        problems.append(
            (
                f"expected a controller workload (Deployment or StatefulSet running the "
                f"controller service and external-provisioner), {seen_kinds}",
                "include the controller's manifest",
            )
        )
    if not nodes:
        problems.append(
            (
                f"expected a node workload (a DaemonSet running the node service and "
                f"node-driver-registrar), {seen_kinds}",
                "include the node plugin's DaemonSet",
            )
        )
    if problems:
        raise ManifestsError(path, problems)
    return DriverManifests(
        source=path,
        rendered_by=rendered_by,
        objects=_apply_order(applied),
        driver_name=driver_name,
        controllers=controllers,
        node_plugins=nodes,
        notes=notes,
    )


def _kind_counts(objects: Sequence[Manifest]) -> str:
    counts: dict[str, int] = {}
    for manifest in objects:
        counts[manifest["kind"]] = counts.get(manifest["kind"], 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "none"


def _apply_order(objects: Sequence[Manifest]) -> list[Manifest]:
    """Namespaces, then identities and RBAC, configuration, the CSIDriver, then workloads (a
    stable sort: the manifests' own order within a kind), as `helm install` orders them.
    Deleting in reverse removes the workloads before what they use."""
    order = list(APPLIED_KINDS)
    first = ["Namespace", "ServiceAccount", "Secret", "ConfigMap", "ClusterRole"]
    first += ["ClusterRoleBinding", "Role", "RoleBinding", "CSIDriver", "StorageClass", "Service"]
    rank = {kind: i for i, kind in enumerate(first + [k for k in order if k not in first])}
    return sorted(objects, key=lambda m: rank.get(m["kind"], len(rank)))


def emulator_endpoint_warning(driver: DriverManifests) -> str | None:
    """A warning when no container of the driver mentions the in-cluster emulator: on
    emulated AWS such a driver would call real AWS (and fail, or cost money)."""
    host = f"{EMULATOR_SERVICE}.{DRIVER_NAMESPACE}"
    for manifest in driver.objects:
        if manifest["kind"] == "ConfigMap" and host in yaml.safe_dump(manifest.get("data", {})):
            return None
        for container in containers_of(manifest):
            if host in yaml.safe_dump(_endpoint_settings(container)):
                return None
    return (
        f"no container of the driver's manifests refers to the FSx emulator ({host}); "
        f"{ENDPOINT_HINT}, or the controller will call real AWS"
    )


def _endpoint_settings(container: dict[str, Any]) -> dict[str, Any]:
    return {"env": container.get("env"), "args": container.get("args")}


def emulator_objects(objects: Sequence[Manifest]) -> list[Manifest]:
    """From the rendered `emulated` overlay: only what the FSx emulator needs (its namespace,
    Deployment and Service), to run beside another driver."""
    wanted = {
        ("Namespace", DRIVER_NAMESPACE),
        ("Deployment", EMULATOR_DEPLOYMENT),
        ("Service", EMULATOR_SERVICE),
    }
    return [m for m in objects if (m["kind"], ref(m).name) in wanted]


def merged(first: Sequence[Manifest], second: Sequence[Manifest]) -> list[Manifest]:
    """`first` then `second`, without objects of `second` that `first` already has."""
    seen = {workload_ref(m) for m in first}
    return [*first, *(m for m in second if workload_ref(m) not in seen)]


def manifests_problems(runner: CommandRunner, options: RunOptions) -> list[Prerequisite]:
    """What keeps `--manifests` from being used on a kind, cluster or k3s run (empty when it
    is unset or usable)."""
    from e2e.platforms import Prerequisite

    if options.manifests is None:
        return []
    what = f"driver manifests {options.manifests}"
    if options.driver == "installed":
        return [
            Prerequisite(
                what,
                "--manifests deploys a driver, --driver installed uses the one already in "
                "the cluster: expected one of them, seen both",
                "drop --driver installed to deploy the manifests, or --manifests to test the "
                "installed driver",
            )
        ]
    try:
        load_driver_manifests(
            runner, options.manifests, options.settings.get("driver-name", DRIVER_NAME)
        )
    except ManifestsError as exc:
        return [Prerequisite(what, seen, hint) for seen, hint in exc.problems]
    return []
