"""A fake Kubernetes API server for the kind/cluster/k3s platforms, spoken to over HTTP.

There is no cluster on these machines, so this stands in for one, at the wire: the code under
test gets real `kubernetes.client` API objects (CoreV1Api, StorageV1Api, AppsV1Api, ...) on a
real `ApiClient` whose urllib3 pool manager is `FakeApiServer`. Every request is routed by
method and path, answered with JSON the way the API server writes it, and deserialized by the
real client models, so the harness meets what real clusters send:

- Go's encoding: `omitempty` zero values are left out (a Deployment's `updatedReplicas`,
  `observedGeneration` before the controller saw it), and nil lists without omitempty are
  `null` (a CSINode with no driver registered yet: `{"spec": {"drivers": null}}`);
- `metadata.generation` bumped on every spec change, `status.observedGeneration` catching up
  later, and rollouts that replace the workload's pods (new names, the old ones gone);
- `Status` bodies for errors (404 NotFound, 409 AlreadyExists), as `kubectl` shows them.

A small simulation plays the cluster's controllers, each transition on a later read so that
waits really poll: the external-provisioner + driver (a claim of a StorageClass of a known
driver gets a file system through the FSx API, the project's emulator over HTTP, and a PV;
or a ProvisioningFailed event when the parameters break the FSx rules), the resizer, the
kubelet (pods Running, then Succeeded/Failed with the exit code and log the test scripts;
readiness from the containers' readinessProbes), the Deployment/StatefulSet/DaemonSet
controllers and node-driver-registrar.

Calls are recorded at the API-object level (`calls`: method name and arguments, as the harness
made them) and at the wire (`requests`: HTTP method and path).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from kubernetes import client as k8s

from e2e.platforms.kube.clients import KubeClients
from fsx_csi_harness import fsx

DRIVER = "fsx.csi.aws.com"
# The driver image `install_driver` installs (the upstream chart's).
UPSTREAM_IMAGE: Final = "public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver:v1.2.0"
HOST: Final = "https://fake-kube.invalid:6443"
TIMESTAMP: Final = "2026-01-01T00:00:00Z"

# Resource (URL plural) -> kind of the objects the harness server-side applies.
APPLIED_RESOURCES: Final = {
    "namespaces": "Namespace",
    "serviceaccounts": "ServiceAccount",
    "configmaps": "ConfigMap",
    "secrets": "Secret",
    "services": "Service",
    "clusterroles": "ClusterRole",
    "clusterrolebindings": "ClusterRoleBinding",
    "roles": "Role",
    "rolebindings": "RoleBinding",
    "csidrivers": "CSIDriver",
    "storageclasses": "StorageClass",
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "daemonsets": "DaemonSet",
    "poddisruptionbudgets": "PodDisruptionBudget",
}
WORKLOAD_KINDS: Final = ("Deployment", "StatefulSet", "DaemonSet")


class HttpError(Exception):
    """An API error answered as a `Status` body."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


def not_found(resource: str, name: str) -> HttpError:
    return HttpError(404, "NotFound", f'{resource} "{name}" not found')


@dataclass
class PodScript:
    """What a scenario pod does in the fake kubelet: exit code and log (exit pods), exec
    answers (running pods)."""

    exit_code: int = 0
    log: str = ""
    exec_results: list[tuple[int, str]] = field(default_factory=list)
    # The kubelet cannot get the image (ErrImageNeverPull, ImagePullBackOff): stays Pending.
    waiting_reason: str | None = None


@dataclass
class ContainerHealth:
    """A driver container that fails its health checks: the kubelet restarts it (the
    livenessProbe) and, where the container has a readinessProbe, it is not ready."""

    restarts: int
    last_reason: str = "Error"
    last_exit_code: int = 1


class Calls(list[tuple[str, dict[str, Any]]]):
    def names(self, prefix: str = "") -> list[str]:
        return [name for name, _ in self if name.startswith(prefix)]

    def mutations(self) -> list[str]:
        """Create/patch/delete calls as 'method name', in order."""
        verbs = ("create_", "patch_", "delete_")
        return [f"{name} {_object_name(args)}" for name, args in self if name.startswith(verbs)]


def _object_name(call: dict[str, Any]) -> str:
    if "name" in call:
        return str(call["name"])
    values = [*call.get("args", ()), call.get("body")]
    for value in values:
        metadata = getattr(value, "metadata", None)
        if metadata is not None:
            return str(metadata.name)
    return next((value for value in values if isinstance(value, str)), "")


@dataclass
class _Rollout:
    """A workload controller's view: what the spec asks, what it has observed and done."""

    generation: int = 1
    observed: int = 0
    # Pods of the current template that are up; the others are the previous template's.
    updated: int = 0
    previous: int = 0
    # Bumped on every rollout: the pods' names carry it (a rollout replaces pods).
    revision: int = 0


def _drop_empty(value: Any) -> Any:
    """What Go's JSON encoding leaves of a struct whose fields are all omitempty."""
    if isinstance(value, dict):
        cleaned = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, 0, "", [], {}, False)}
    return value


class FakeCluster:
    def __init__(
        self,
        fsx_client: Any,
        nodes: tuple[str, ...] = ("kind-control-plane", "kind-worker", "kind-worker2"),
        control_plane: tuple[str, ...] = ("kind-control-plane",),
    ) -> None:
        self.fsx = fsx_client
        self.calls = Calls()
        self.requests: list[tuple[str, str]] = []
        # Server-side applied objects (as sent), by (kind, namespace, name).
        self.applied: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.storage_classes: dict[str, dict[str, Any]] = {}
        self.claims: dict[tuple[str, str], dict[str, Any]] = {}
        self.volumes: dict[str, dict[str, Any]] = {}
        # The scenarios' pods (the workloads' pods are in `workload_pods`).
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.workload_pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.pod_scripts: dict[str, PodScript] = {}
        # batch/v1 Jobs by (namespace, name), and what their pods do (by Job name).
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.job_scripts: dict[str, PodScript] = {}
        # The storage.k8s.io versions serving VolumeAttributesClass (v1beta1: Kubernetes
        # 1.31-1.33 with the feature on; v1: 1.34+); none, as on 1.31 by default: 404.
        self.attributes_class_versions: tuple[str, ...] = ()
        self.attributes_classes: dict[str, dict[str, Any]] = {}
        # Drivers installed before the harness came (helm), by name: the nodes they are
        # registered on (their CSINode entries).
        self.installed_drivers: dict[str, tuple[str, ...]] = {}
        self.exec_calls: list[tuple[str, list[str]]] = []
        self.nodes = [self._node(n, n in control_plane) for n in nodes]
        self.rollouts: dict[tuple[str, str | None, str], _Rollout] = {}
        # Containers failing their health checks, by (workload name, container name).
        self.unhealthy: dict[tuple[str, str], ContainerHealth] = {}
        # Called with the workload's name whenever a rollout replaced its pods.
        self.on_pods_replaced: list[Callable[[str], None]] = []
        # Reads before a pending transition happens (a real cluster takes a while).
        self.reads_before_transition = 1
        self._countdowns: dict[tuple[str, ...], int] = {}
        self._resource_version = itertools.count(1)
        # Failure injection for tests: called with (method, kwargs) before each API call.
        self.before_call: Callable[[str, dict[str, Any]], None] | None = None
        self.server = FakeApiServer(self)
        api_client = self._api_client()
        self.core = _Recording(self, k8s.CoreV1Api(api_client))
        self.storage = _Recording(self, k8s.StorageV1Api(api_client))
        self.apps = _Recording(self, k8s.AppsV1Api(api_client))
        self.rbac = _Recording(self, k8s.RbacAuthorizationV1Api(api_client))
        self.policy = _Recording(self, k8s.PolicyV1Api(api_client))

    def _api_client(self) -> k8s.ApiClient:
        configuration = k8s.Configuration(host=HOST)
        api_client = k8s.ApiClient(configuration)
        # The seam the real RESTClientObject sends through (urllib3's pool manager): every
        # layer above it, serialization and the models included, is the real client's.
        rest_client: Any = api_client.rest_client
        rest_client.pool_manager = self.server
        return api_client

    def clients(self) -> KubeClients:
        return KubeClients(
            self.core, self.storage, self.apps, self.rbac, FakeExec(self), policy=self.policy
        )

    # ------------------------------------------------------------------ helpers

    def _node(self, name: str, control_plane: bool) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        if control_plane:
            spec["taints"] = [
                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
            ]
        return {
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }

    def node_names(self) -> list[str]:
        return [n["metadata"]["name"] for n in self.nodes]

    def stall(self, *key: str) -> None:
        """Keep a transition from ever happening (a workload that never becomes ready)."""
        self._countdowns[key] = 10**9

    def csi_driver_names(self) -> list[str]:
        """The drivers the cluster knows: the applied CSIDriver objects, else the default."""
        return sorted(name for kind, _, name in self.applied if kind == "CSIDriver") or [DRIVER]

    def _ready(self, *key: str) -> bool:
        """True once `key` has been read `reads_before_transition` times."""
        left = self._countdowns.setdefault(key, self.reads_before_transition)
        if left <= 0:
            return True
        self._countdowns[key] = left - 1
        return False

    def _restart_countdown(self, *key: str) -> None:
        if self._countdowns.get(key, 0) < 10**9:
            self._countdowns[key] = self.reads_before_transition

    def _metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        """What the API server adds to an object it stores."""
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", TIMESTAMP)
        metadata["resourceVersion"] = str(next(self._resource_version))
        return metadata

    def event(
        self,
        namespace: str,
        kind: str,
        name: str,
        reason: str,
        message: str,
        type_: str = "Warning",
    ) -> None:
        self.events.append(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": self._metadata(
                    {"name": f"{name}.{uuid.uuid4().hex[:8]}", "namespace": namespace}
                ),
                "involvedObject": {"kind": kind, "name": name, "namespace": namespace},
                "reason": reason,
                "message": message,
                "type": type_,
                # The API server writes null for an unset MicroTime.
                "eventTime": None,
                "lastTimestamp": TIMESTAMP,
            }
        )

    # ------------------------------------------------------------------ workloads

    def apply_workload(self, kind: str, namespace: str, name: str, body: dict[str, Any]) -> None:
        """A Deployment/StatefulSet/DaemonSet applied: a new spec is a new generation, and a
        new pod template starts a rollout that replaces the pods."""
        key = (kind, namespace, name)
        previous = self.applied.get(key)
        rollout = self.rollouts.get(key)
        if rollout is None or previous is None:
            self.rollouts[key] = _Rollout(revision=1)
            self._restart_countdown(kind.lower(), name)
            return
        if previous.get("spec") == body.get("spec"):
            return
        rollout.generation += 1
        if previous["spec"].get("template") != body["spec"].get("template"):
            rollout.previous = max(rollout.previous, rollout.updated)
            rollout.updated = 0
            rollout.revision += 1
        self._restart_countdown(kind.lower(), name)

    def _wanted(self, kind: str, body: dict[str, Any]) -> int:
        if kind == "DaemonSet":
            return len(self.nodes)
        return int(body["spec"].get("replicas", 1))

    def _advance_rollout(self, kind: str, namespace: str, name: str) -> _Rollout:
        """One step of the workload's controller per transition: observe the new
        generation first (old pods still serving, none updated), then replace the pods."""
        key = (kind, namespace, name)
        rollout = self.rollouts[key]
        body = self.applied[key]
        if not self._ready(kind.lower(), name):
            return rollout
        if rollout.observed < rollout.generation:
            rollout.observed = rollout.generation
            self._restart_countdown(kind.lower(), name)
            return rollout
        wanted = self._wanted(kind, body)
        if rollout.updated < wanted:
            replaced = rollout.previous > 0
            rollout.updated, rollout.previous = wanted, 0
            self._replace_pods(kind, namespace, name, body, rollout)
            if replaced:
                for hook in self.on_pods_replaced:
                    hook(name)
        return rollout

    def _replace_pods(
        self, kind: str, namespace: str, name: str, body: dict[str, Any], rollout: _Rollout
    ) -> None:
        for key in [k for k, p in self.workload_pods.items() if _owner(p) == (kind, name)]:
            del self.workload_pods[key]
        template = body["spec"]["template"]
        nodes = self.node_names()
        for index in range(self._wanted(kind, body)):
            pod_name = f"{name}-{rollout.revision}-{index}"
            node = nodes[index % len(nodes)]
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": self._metadata(
                    {
                        "name": pod_name,
                        "namespace": namespace,
                        "labels": dict(template.get("metadata", {}).get("labels", {})),
                        "ownerReferences": [
                            {
                                "apiVersion": "apps/v1",
                                "kind": kind,
                                "name": name,
                                "uid": body["metadata"].get("uid", name),
                                "controller": True,
                            }
                        ],
                    }
                ),
                "spec": {**copy.deepcopy(template.get("spec", {})), "nodeName": node},
                "status": {"phase": "Running"},
            }
            self.workload_pods[(namespace, pod_name)] = pod

    def _workload_pod_status(self, pod: dict[str, Any]) -> dict[str, Any]:
        """The kubelet's view of a driver pod: each container running (restarted and, with a
        readinessProbe, not ready where it fails its health checks)."""
        _, workload = _owner(pod) or ("", "")
        statuses = []
        for container in pod["spec"].get("containers", []):
            health = self.unhealthy.get((workload, container["name"]))
            status: dict[str, Any] = {
                "name": container["name"],
                "image": container.get("image", ""),
                # What containerd reports for an image loaded into the node: its digest.
                "imageID": image_id(container.get("image", "")),
                "ready": True,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": TIMESTAMP}},
            }
            if health is not None:
                status["restartCount"] = health.restarts
                status["lastState"] = {
                    "terminated": {
                        "exitCode": health.last_exit_code,
                        "reason": health.last_reason,
                        "finishedAt": TIMESTAMP,
                    }
                }
                if "readinessProbe" in container:
                    status["ready"] = False
            statuses.append(status)
        ready = all(s["ready"] for s in statuses)
        return {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": statuses,
        }

    def _ready_pods(self, kind: str, name: str) -> int:
        return sum(
            1
            for pod in self.workload_pods.values()
            if _owner(pod) == (kind, name)
            and all(s["ready"] for s in self._workload_pod_status(pod)["containerStatuses"])
        )

    def workload(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        """The live object: the applied spec, generation and the controller's status, with
        Go's omitempty applied to the status."""
        key = (kind, namespace, name)
        body = self.applied.get(key)
        if body is None:
            raise not_found(f"{kind.lower()}s", name)
        rollout = self._advance_rollout(kind, namespace, name)
        wanted = self._wanted(kind, body)
        ready = self._ready_pods(kind, name) if rollout.updated else 0
        # The previous template's pods keep serving until they are replaced.
        serving = ready if rollout.updated else rollout.previous
        metadata = copy.deepcopy(body["metadata"])
        metadata["generation"] = rollout.generation
        self._metadata(metadata)
        status: dict[str, Any]
        if kind == "DaemonSet":
            status = _drop_empty(
                {
                    "observedGeneration": rollout.observed,
                    "updatedNumberScheduled": rollout.updated,
                    "numberAvailable": serving,
                }
            )
            # Not omitempty in the API's Go types: always written.
            status.update(
                desiredNumberScheduled=wanted,
                currentNumberScheduled=wanted,
                numberMisscheduled=0,
                numberReady=serving,
            )
        else:
            status = _drop_empty(
                {
                    "observedGeneration": rollout.observed,
                    "replicas": rollout.updated + rollout.previous,
                    "updatedReplicas": rollout.updated,
                    "readyReplicas": serving,
                    "availableReplicas": serving,
                    "currentRevision": f"{name}-{rollout.revision}" if rollout.updated else "",
                    "updateRevision": f"{name}-{rollout.revision}",
                }
            )
            if kind == "StatefulSet":
                status.setdefault("replicas", 0)
        return {**copy.deepcopy(body), "metadata": metadata, "status": status}

    def delete_applied(self, kind: str, namespace: str | None, name: str) -> None:
        if self.applied.pop((kind, namespace, name), None) is None:
            raise not_found(f"{kind.lower()}s", name)
        self.rollouts.pop((kind, namespace, name), None)
        for key in [k for k, p in self.workload_pods.items() if _owner(p) == (kind, name)]:
            del self.workload_pods[key]

    def install_driver(
        self,
        image: str = UPSTREAM_IMAGE,
        namespace: str = "kube-system",
        name: str = DRIVER,
    ) -> None:
        """A driver installed before the harness came, as the upstream helm chart installs
        it: its CSIDriver, a controller Deployment and a node plugin DaemonSet (the driver
        container with node-driver-registrar beside it), rolled out with their pods running,
        and registered in every node's CSINode."""
        app = {"app.kubernetes.io/name": "aws-fsx-csi-driver"}
        self.applied[("CSIDriver", None, name)] = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "CSIDriver",
            "metadata": {
                "name": name,
                "labels": {**app, "helm.sh/chart": "aws-fsx-csi-driver-1.9.0"},
            },
            "spec": {"attachRequired": False, "fsGroupPolicy": "ReadWriteOnceWithFSType"},
        }
        socket_dir = f"/var/lib/kubelet/plugins/{name}/"
        sidecars = "public.ecr.aws/eks-distro/kubernetes-csi"
        node_spec = {
            "containers": [
                {
                    "name": "fsx-plugin",
                    "image": image,
                    "volumeMounts": [
                        {"name": "kubelet-dir", "mountPath": "/var/lib/kubelet",
                         "mountPropagation": "Bidirectional"},
                        {"name": "plugin-dir", "mountPath": "/csi"},
                    ],
                },
                {
                    "name": "node-driver-registrar",
                    "image": f"{sidecars}/node-driver-registrar:v2.10.1",
                    "args": [f"--kubelet-registration-path={socket_dir}csi.sock"],
                    "volumeMounts": [{"name": "plugin-dir", "mountPath": "/csi"}],
                },
            ],
            "volumes": [
                {"name": "kubelet-dir", "hostPath": {"path": "/var/lib/kubelet"}},
                {"name": "plugin-dir",
                 "hostPath": {"path": socket_dir, "type": "DirectoryOrCreate"}},
            ],
        }  # fmt: skip
        controller_spec = {
            "containers": [
                {"name": "fsx-plugin", "image": image},
                {"name": "csi-provisioner",
                 "image": f"{sidecars}/external-provisioner:v5.0.1"},
            ]
        }  # fmt: skip
        for kind, workload, spec in (
            ("Deployment", "fsx-csi-controller", controller_spec),
            ("DaemonSet", "fsx-csi-node", node_spec),
        ):
            labels = {"app": workload}
            body = {
                "apiVersion": "apps/v1",
                "kind": kind,
                "metadata": {"name": workload, "namespace": namespace, "labels": app},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": spec},
                },
            }
            key = (kind, namespace, workload)
            self.applied[key] = body
            wanted = self._wanted(kind, body)
            self.rollouts[key] = _Rollout(observed=1, updated=wanted, revision=1)
            self._replace_pods(kind, namespace, workload, body, self.rollouts[key])
        self.installed_drivers[name] = tuple(self.node_names())

    def csi_node(self, name: str) -> dict[str, Any]:
        """node-driver-registrar's record: the drivers whose node plugin runs on the node.
        Before any registered, the kubelet writes `drivers: null`."""
        if name not in self.node_names():
            raise not_found("csinodes", name)
        node_plugins = [
            key for key in self.applied if key[0] == "DaemonSet" and key in self.rollouts
        ]
        registered = any(self.rollouts[key].updated for key in node_plugins)
        names = [*(self.csi_driver_names() if registered else [])]
        names += [d for d, nodes in self.installed_drivers.items() if name in nodes]
        drivers = (
            [{"name": d, "nodeID": name, "topologyKeys": None} for d in names] if names else None
        )
        return {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "CSINode",
            "metadata": {"name": name, "creationTimestamp": TIMESTAMP},
            "spec": {"drivers": drivers},
        }

    # ------------------------------------------------------------------ scenario objects

    def provision(self, claim: dict[str, Any]) -> None:
        """external-provisioner + driver: CreateVolume for a Pending claim."""
        metadata, spec = claim["metadata"], claim["spec"]
        namespace, name = metadata["namespace"], metadata["name"]
        storage_class = self.storage_classes.get(spec.get("storageClassName") or "")
        if storage_class is None or storage_class["provisioner"] not in self.csi_driver_names():
            return
        params = dict(storage_class.get("parameters") or {})
        deployment = fsx.DeploymentType(params.get("deploymentType", "SCRATCH_1"))
        throughput = params.get("perUnitStorageThroughput")
        if throughput is not None:
            allowed = fsx.PER_UNIT_THROUGHPUT.get((deployment, fsx.StorageType.SSD), ())
            if int(throughput) not in allowed:
                self.event(
                    namespace,
                    "PersistentVolumeClaim",
                    name,
                    "ProvisioningFailed",
                    f"failed to provision volume with StorageClass "
                    f'"{storage_class["metadata"]["name"]}": rpc error: code = InvalidArgument '
                    f"desc = perUnitStorageThroughput {throughput} is not allowed for "
                    f"{deployment}: expected one of {list(allowed)}",
                )
                return
        requested = int(spec["resources"]["requests"]["storage"].removesuffix("Gi"))
        capacity = fsx.capacity_rule(deployment).round_up(requested)
        volume_name = f"pvc-{metadata['uid']}"
        tags = [{"Key": "CSIVolumeName", "Value": volume_name}]
        for pair in filter(None, params.get("extraTags", "").split(",")):
            key, _, value = pair.partition("=")
            tags.append({"Key": key, "Value": value})
        created = self.fsx.create_file_system(
            FileSystemType="LUSTRE",
            StorageCapacity=capacity,
            SubnetIds=[params["subnetId"]],
            LustreConfiguration={
                "DeploymentType": deployment.value,
                **({"PerUnitStorageThroughput": int(throughput)} if throughput else {}),
            },
            Tags=tags,
        )["FileSystem"]
        self.volumes[volume_name] = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": self._metadata({"name": volume_name}),
            "spec": {
                "capacity": {"storage": f"{capacity}Gi"},
                "accessModes": spec.get("accessModes"),
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
                "storageClassName": storage_class["metadata"]["name"],
                "claimRef": {"namespace": namespace, "name": name, "uid": metadata["uid"]},
                "csi": {
                    "driver": storage_class["provisioner"],
                    "volumeHandle": created["FileSystemId"],
                    "volumeAttributes": {
                        "dnsname": created["DNSName"],
                        "mountname": created["LustreConfiguration"].get("MountName", ""),
                    },
                },
            },
            "status": {"phase": "Bound"},
        }
        spec["volumeName"] = volume_name
        self.event(
            namespace,
            "PersistentVolumeClaim",
            name,
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {volume_name}",
            "Normal",
        )

    def advance_claim(self, claim: dict[str, Any]) -> None:
        if claim["status"].get("modifyVolumeStatus"):
            self.modify(claim)
        if claim["status"].get("phase") != "Pending":
            return
        if not self._ready("claim", claim["metadata"]["name"]):
            return
        if not claim["spec"].get("volumeName"):
            self.provision(claim)
        volume = self.volumes.get(claim["spec"].get("volumeName") or "")
        if volume is not None:
            claim["status"] = {
                "phase": "Bound",
                "accessModes": claim["spec"].get("accessModes"),
                "capacity": dict(volume["spec"]["capacity"]),
            }
            volume["status"] = {"phase": "Bound"}

    def advance_pod(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        key = ("pod", name)
        if not self._ready(*key):
            return
        script = self.pod_scripts.get(name, PodScript())
        container = pod["spec"]["containers"][0]
        phase = pod["status"].get("phase")
        if not pod["spec"].get("nodeName"):
            return  # unschedulable: the scheduler's condition says why
        if phase == "Pending" and script.waiting_reason is not None:
            pod["status"]["containerStatuses"] = [
                {
                    "name": container["name"],
                    "ready": False,
                    "restartCount": 0,
                    "image": container["image"],
                    "imageID": "",
                    "state": {
                        "waiting": {
                            "reason": script.waiting_reason,
                            "message": f'Container image "{container["image"]}" is not '
                            "present with pull policy of Never"
                            if script.waiting_reason == "ErrImageNeverPull"
                            else f'Back-off pulling image "{container["image"]}"',
                        }
                    },
                }
            ]
            return
        if phase == "Pending":
            pod["status"] = {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": container["name"],
                        "ready": True,
                        "restartCount": 0,
                        "image": container["image"],
                        "imageID": "",
                        "state": {"running": {"startedAt": TIMESTAMP}},
                    }
                ],
            }
            self._countdowns[key] = self.reads_before_transition
        elif phase == "Running" and not script.exec_results:
            pod["status"]["phase"] = "Succeeded" if script.exit_code == 0 else "Failed"
            pod["status"]["containerStatuses"][0]["ready"] = False
            pod["status"]["containerStatuses"][0]["state"] = {
                # exitCode is not omitempty in the API's Go types: a 0 is written.
                "terminated": {
                    "exitCode": script.exit_code,
                    "reason": "Completed" if script.exit_code == 0 else "Error",
                    "finishedAt": TIMESTAMP,
                }
            }

    def schedulable_nodes(self) -> list[str]:
        return [n["metadata"]["name"] for n in self.nodes if not n["spec"].get("taints")]

    def advance_job(self, job: dict[str, Any]) -> None:
        """The Job controller: `parallelism` pods at once (Indexed), one per node under the
        template's required pod anti-affinity; then the status as the controller writes it."""
        metadata, spec = job["metadata"], job["spec"]
        namespace, name = metadata["namespace"], metadata["name"]
        pods = [p for p in self.pods.values() if _owner(p) == ("Job", name)]
        if not pods:
            if not self._ready("job", name):
                return
            nodes = self.schedulable_nodes()
            anti = (spec["template"]["spec"].get("affinity") or {}).get("podAntiAffinity")
            for index in range(int(spec.get("parallelism", 1))):
                pod_name = f"{name}-{index}-{uuid.uuid4().hex[:5]}"
                template = copy.deepcopy(spec["template"])
                labels = {
                    **template["metadata"].get("labels", {}),
                    "batch.kubernetes.io/job-completion-index": str(index),
                }
                pod_spec = template["spec"]
                if anti is None:
                    pod_spec["nodeName"] = nodes[index % len(nodes)]
                elif index < len(nodes):
                    pod_spec["nodeName"] = nodes[index]
                pod = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": self._metadata(
                        {
                            "name": pod_name,
                            "namespace": namespace,
                            "labels": labels,
                            "ownerReferences": [
                                {
                                    "apiVersion": "batch/v1",
                                    "kind": "Job",
                                    "name": name,
                                    "uid": metadata["uid"],
                                    "controller": True,
                                    "blockOwnerDeletion": True,
                                }
                            ],
                        }
                    ),
                    "spec": pod_spec,
                    "status": {"phase": "Pending"},
                }
                if "nodeName" not in pod_spec:
                    pod["status"]["conditions"] = [
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": f"0/{len(self.nodes)} nodes are available: "
                            "didn't match pod anti-affinity rules",
                        }
                    ]
                self.pod_scripts[pod_name] = self.job_scripts.get(name, PodScript())
                self.pods[(namespace, pod_name)] = pod
            job["status"] = {"startTime": TIMESTAMP, "uncountedTerminatedPods": {}}
            pods = [p for p in self.pods.values() if _owner(p) == ("Job", name)]
        for pod in pods:
            self.advance_pod(pod)
        phases = [p["status"].get("phase") for p in pods]
        status = job["status"]
        counts = {
            "active": sum(phase in ("Pending", "Running") for phase in phases),
            "succeeded": phases.count("Succeeded"),
            "failed": phases.count("Failed"),
        }
        for key, value in counts.items():
            if value:
                status[key] = value
            else:
                status.pop(key, None)  # omitempty
        status["ready"] = sum(  # a pointer in the Go type: a 0 is written
            bool((p["status"].get("containerStatuses") or [{}])[0].get("ready")) for p in pods
        )
        completions = int(spec.get("completions", 1))
        if counts["failed"] > int(spec.get("backoffLimit", 6)) and not counts["active"]:
            status["conditions"] = [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastProbeTime": TIMESTAMP,
                    "lastTransitionTime": TIMESTAMP,
                }
            ]
        elif counts["succeeded"] >= completions:
            status["conditions"] = [
                {
                    "type": condition,
                    "status": "True",
                    "reason": "CompletionsReached",
                    "message": "Reached expected number of succeeded pods",
                    "lastProbeTime": TIMESTAMP,
                    "lastTransitionTime": TIMESTAMP,
                }
                for condition in ("SuccessCriteriaMet", "Complete")
            ]
            status["completionTime"] = TIMESTAMP
            status["completedIndexes"] = f"0-{completions - 1}" if completions > 1 else "0"

    def modify(self, claim: dict[str, Any]) -> None:
        """external-resizer's modifier + the driver's ControllerModifyVolume: the class's
        perUnitStorageThroughput through UpdateFileSystem, then the claim's current class."""
        name = claim["metadata"]["name"]
        if not self._ready("modify", name):
            return
        target = claim["status"]["modifyVolumeStatus"]["targetVolumeAttributesClassName"]
        parameters = self.attributes_classes[target].get("parameters") or {}
        volume = self.volumes[claim["spec"]["volumeName"]]
        self.fsx.update_file_system(
            FileSystemId=volume["spec"]["csi"]["volumeHandle"],
            LustreConfiguration={
                "PerUnitStorageThroughput": int(parameters["perUnitStorageThroughput"])
            },
        )
        del claim["status"]["modifyVolumeStatus"]
        claim["status"]["currentVolumeAttributesClassName"] = target
        volume["spec"]["volumeAttributesClassName"] = target
        self.event(
            claim["metadata"]["namespace"],
            "PersistentVolumeClaim",
            name,
            "VolumeModifySuccessful",
            f"external resizer modified volume {name} with vac {target} successfully",
            "Normal",
        )

    def resize(self, claim: dict[str, Any], size: str) -> None:
        """external-resizer + driver: ControllerExpandVolume, then the PV's capacity."""
        volume = self.volumes[claim["spec"]["volumeName"]]
        fs_id = volume["spec"]["csi"]["volumeHandle"]
        requested = int(size.removesuffix("Gi"))
        described = self.fsx.describe_file_systems(FileSystemIds=[fs_id])["FileSystems"][0]
        deployment = fsx.DeploymentType(described["LustreConfiguration"]["DeploymentType"])
        capacity = fsx.capacity_rule(deployment).round_up(requested)
        self.fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=capacity)
        volume["spec"]["capacity"] = {"storage": f"{capacity}Gi"}

    def delete_claim(self, namespace: str, name: str) -> dict[str, Any]:
        claim = self.claims.pop((namespace, name))
        used = {c["spec"].get("volumeAttributesClassName") for c in self.claims.values()}
        for class_name, found in list(self.attributes_classes.items()):
            if found["metadata"].get("deletionTimestamp") and class_name not in used:
                del self.attributes_classes[class_name]  # vac-protection lets it go
        volume = self.volumes.get(claim["spec"].get("volumeName") or "")
        if volume is not None and volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete":
            # external-provisioner: DeleteVolume, then the PV goes.
            self.fsx.delete_file_system(FileSystemId=volume["spec"]["csi"]["volumeHandle"])
            del self.volumes[volume["metadata"]["name"]]
        elif volume is not None:
            volume["status"] = {"phase": "Released"}
        return claim


def image_id(image: str) -> str:
    """The fake kubelet's imageID of an image: a digest that depends on the image alone."""
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest() if image else ""


def _owner(pod: dict[str, Any]) -> tuple[str, str] | None:
    owners = pod["metadata"].get("ownerReferences") or []
    return (owners[0]["kind"], owners[0]["name"]) if owners else None


def _matches(obj: dict[str, Any], label_selector: str | None) -> bool:
    if not label_selector:
        return True
    labels = obj["metadata"].get("labels") or {}
    wanted = dict(part.split("=", 1) for part in label_selector.split(","))
    return all(labels.get(k) == v for k, v in wanted.items())


def _fields_match(event: dict[str, Any], field_selector: str | None) -> bool:
    if not field_selector:
        return True
    wanted = dict(part.split("=", 1) for part in field_selector.split(","))
    involved = event["involvedObject"]
    return all(
        involved.get(key.removeprefix("involvedObject.")) == value for key, value in wanted.items()
    )


def _list(kind: str, items: Iterable[dict[str, Any]], api_version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": f"{kind}List",
        "metadata": {"resourceVersion": "1"},
        "items": list(items),
    }


# /api/v1/... and /apis/GROUP/VERSION/...: [namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]
_PATH: Final = re.compile(
    r"^/(?:api/v1|apis/[^/]+/(?P<version>v1(?:beta1)?))"
    r"(?:/namespaces/(?P<namespace>[^/]+)(?=/))?"
    r"/(?P<resource>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[a-z]+))?$"
)


@dataclass
class FakeResponse:
    """What urllib3's pool manager returns, as far as the kubernetes client reads it."""

    status: int
    data: bytes
    headers: dict[str, str]

    @property
    def reason(self) -> str:
        return {200: "OK", 201: "Created", 404: "Not Found", 409: "Conflict"}.get(
            self.status, "Error"
        )

    def release_conn(self) -> None:
        """Nothing to release."""


class FakeApiServer:
    """The pool manager the real `RESTClientObject` sends its requests to: routes each by
    method and path to the cluster and answers with the API server's JSON."""

    def __init__(self, cluster: FakeCluster) -> None:
        self._c = cluster

    def clear(self) -> None:
        """RESTClientObject.close() clears the pool."""

    def request(
        self,
        method: str,
        url: str,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        **_: Any,
    ) -> FakeResponse:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self._c.requests.append((method, parts.path))
        payload = json.loads(body) if body else None
        content_type = (headers or {}).get("Content-Type", "")
        try:
            match = _PATH.match(parts.path)
            if match is None:
                raise HttpError(404, "NotFound", f"the server could not find {parts.path}")
            answer = self._route(method, match.groupdict(), query, payload, content_type)
        except HttpError as exc:
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": exc.message,
                "reason": exc.reason,
                "code": exc.code,
            }
            return FakeResponse(exc.code, json.dumps(status).encode(), _JSON)
        if isinstance(answer, str):
            return FakeResponse(200, answer.encode(), {"content-type": "text/plain"})
        return FakeResponse(201 if method == "POST" else 200, json.dumps(answer).encode(), _JSON)

    def _route(
        self,
        method: str,
        where: dict[str, str | None],
        query: dict[str, str],
        body: Any,
        content_type: str,
    ) -> Any:
        c = self._c
        namespace, resource, name, sub = (
            where["namespace"],
            str(where["resource"]),
            where["name"],
            where["sub"],
        )
        version = where.get("version") or "v1"
        if resource == "volumeattributesclasses":
            if version not in c.attributes_class_versions:
                # What an API server answers for a group version it does not serve.
                raise HttpError(404, "NotFound", "the server could not find the requested resource")
        elif version != "v1":
            raise HttpError(404, "NotFound", "the server could not find the requested resource")
        if resource == "namespaces" and name is None and namespace is None and method == "POST":
            return self._create_namespace(body)
        if method == "PATCH" and content_type == "application/apply-patch+yaml":
            return self._apply(resource, namespace, str(name), body, query)
        if method == "PATCH" and content_type == "application/json-patch+json":
            return self._json_patch(resource, namespace, str(name), body, query)
        if resource == "namespaces" and method == "DELETE" and name in c.namespaces:
            c.namespaces.pop(str(name))
            return _STATUS_SUCCESS
        if resource in APPLIED_RESOURCES and not (
            resource == "storageclasses" and self._created(resource, name)
        ):
            kind = APPLIED_RESOURCES[resource]
            if method == "DELETE" and name is not None:
                c.delete_applied(kind, namespace, name)
                return _STATUS_SUCCESS
            if method == "GET" and name is not None:
                if kind in WORKLOAD_KINDS:
                    return c.workload(kind, str(namespace), name)
                found = c.applied.get((kind, namespace, name))
                if found is None:
                    raise not_found(resource, name)
                metadata = c._metadata({**found.get("metadata", {}), "name": name})
                answer = {**found, "kind": kind, "metadata": metadata}
                if kind == "CSIDriver":
                    # The API server's defaults for a CSIDriver spec.
                    answer["spec"] = {
                        "attachRequired": True,
                        "podInfoOnMount": False,
                        "requiresRepublish": False,
                        "storageCapacity": False,
                        "fsGroupPolicy": "ReadWriteOnceWithFSType",
                        "volumeLifecycleModes": ["Persistent"],
                        **found.get("spec", {}),
                    }
                return answer
        handler = getattr(self, f"_{method.lower()}_{resource}", None)
        if handler is None:
            raise HttpError(405, "MethodNotAllowed", f"{method} {resource} is not modelled")
        args: dict[str, Any] = {"query": query}
        if namespace is not None:
            args["namespace"] = namespace
        if name is not None:
            args["name"] = name
        if sub is not None:
            args["sub"] = sub
        if body is not None:
            args["body"] = body
        if resource == "volumeattributesclasses":
            args["version"] = version
        return handler(**args)

    def _created(self, resource: str, name: str | None) -> bool:
        """Whether a StorageClass request is about the scenarios' (created) classes."""
        return name is None or name in self._c.storage_classes

    def _apply(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        body: dict[str, Any],
        query: dict[str, str],
    ) -> dict[str, Any]:
        c = self._c
        kind = APPLIED_RESOURCES[resource]
        assert query.get("fieldManager") == "fsx-csi-harness" and query.get("force") == "true"
        assert body["kind"] == kind and body["metadata"]["name"] == name
        if query.get("dryRun") == "All":
            return body
        if kind in WORKLOAD_KINDS:
            c.apply_workload(kind, str(namespace), name, body)
        c.applied[(kind, namespace, name)] = body
        return body

    def _json_patch(
        self,
        resource: str,
        namespace: str | None,
        name: str,
        operations: list[dict[str, Any]],
        query: dict[str, str],
    ) -> dict[str, Any]:
        """An RFC 6902 JSON patch of an applied object (add, remove, replace, test), as the
        API server applies it: all or nothing; a failed test is 422 Invalid."""
        c = self._c
        kind = APPLIED_RESOURCES[resource]
        key = (kind, namespace, name)
        if key not in c.applied:
            raise not_found(resource, name)
        patched = copy.deepcopy(c.applied[key])
        for operation in operations:
            *parents, last = [
                p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]
            ]
            container = patched
            for part in parents:
                if part not in container:
                    raise HttpError(422, "Invalid", f"path {operation['path']}: missing {part}")
                container = container[part]
            op = operation["op"]
            if op == "test":
                if container.get(last) != operation["value"]:
                    raise HttpError(422, "Invalid", f"test failed at {operation['path']}")
            elif op in ("add", "replace"):
                if op == "replace" and last not in container:
                    raise HttpError(422, "Invalid", f"replace: no {operation['path']}")
                container[last] = copy.deepcopy(operation["value"])
            elif op == "remove":
                if last not in container:
                    raise HttpError(422, "Invalid", f"remove: no {operation['path']}")
                del container[last]
            else:
                raise HttpError(422, "Invalid", f"JSON patch op {op} is not modelled")
        if query.get("dryRun") == "All":
            return patched
        if kind in WORKLOAD_KINDS:
            c.apply_workload(kind, str(namespace), name, patched)
        c.applied[key] = patched
        return patched

    # ------------------------------------------------------------- nodes, drivers, events

    def _get_nodes(self, query: dict[str, str]) -> dict[str, Any]:
        return _list("Node", self._c.nodes)

    def _list_applied(self, kind: str) -> dict[str, Any]:
        """Objects of `kind` in every namespace (the applied ones, as the API server stores
        them)."""
        found = [
            {
                "apiVersion": "apps/v1",
                "kind": kind,
                **body,
                "metadata": self._c._metadata({**body.get("metadata", {}), "namespace": ns}),
            }
            for (applied_kind, ns, _), body in self._c.applied.items()
            if applied_kind == kind
        ]
        return _list(kind, found, "apps/v1")

    def _get_daemonsets(self, query: dict[str, str]) -> dict[str, Any]:
        return self._list_applied("DaemonSet")

    def _get_deployments(self, query: dict[str, str]) -> dict[str, Any]:
        return self._list_applied("Deployment")

    def _get_statefulsets(self, query: dict[str, str]) -> dict[str, Any]:
        return self._list_applied("StatefulSet")

    def _get_csinodes(self, query: dict[str, str], name: str | None = None) -> dict[str, Any]:
        if name is not None:
            return self._c.csi_node(name)
        return _list(
            "CSINode", (self._c.csi_node(n) for n in self._c.node_names()), "storage.k8s.io/v1"
        )

    def _get_events(self, query: dict[str, str], namespace: str | None = None) -> dict[str, Any]:
        items = [
            e
            for e in self._c.events
            if (namespace is None or e["metadata"]["namespace"] == namespace)
            and _fields_match(e, query.get("fieldSelector"))
        ]
        return _list("Event", items)

    # ------------------------------------------------------------- namespaces, classes

    def _create_namespace(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if name in self._c.namespaces:
            raise HttpError(409, "AlreadyExists", f'namespaces "{name}" already exists')
        body["metadata"] = self._c._metadata(body["metadata"])
        body["status"] = {"phase": "Active"}
        self._c.namespaces[name] = body
        return body

    def _post_storageclasses(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if name in self._c.storage_classes:
            raise HttpError(409, "AlreadyExists", f'storageclasses "{name}" already exists')
        body["metadata"] = self._c._metadata(body["metadata"])
        body.setdefault("reclaimPolicy", "Delete")
        body.setdefault("volumeBindingMode", "Immediate")
        self._c.storage_classes[name] = body
        return body

    def _get_storageclasses(self, query: dict[str, str], name: str | None = None) -> Any:
        if name is not None:
            if name not in self._c.storage_classes:
                raise not_found("storageclasses", name)
            return self._c.storage_classes[name]
        items = self._c.storage_classes.values()
        selector = query.get("labelSelector")
        return _list("StorageClass", (s for s in items if _matches(s, selector)))

    def _delete_storageclasses(self, query: dict[str, str], name: str) -> dict[str, Any]:
        if self._c.storage_classes.pop(name, None) is None:
            raise not_found("storageclasses", name)
        # Deleted at once (no finalizer): the API server answers a Status, not the object.
        return _STATUS_SUCCESS

    # ------------------------------------------------------------- claims and volumes

    def _post_persistentvolumeclaims(
        self, query: dict[str, str], namespace: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if (namespace, name) in self._c.claims:
            raise HttpError(409, "AlreadyExists", f'persistentvolumeclaims "{name}" already exists')
        body["metadata"] = self._c._metadata({**body["metadata"], "namespace": namespace})
        body["status"] = {"phase": "Pending"}
        self._c.claims[(namespace, name)] = body
        return body

    def _get_persistentvolumeclaims(
        self, query: dict[str, str], namespace: str, name: str | None = None
    ) -> dict[str, Any]:
        if name is None:
            items = [c for (ns, _), c in self._c.claims.items() if ns == namespace]
            selector = query.get("labelSelector")
            return _list("PersistentVolumeClaim", (c for c in items if _matches(c, selector)))
        claim = self._c.claims.get((namespace, name))
        if claim is None:
            raise not_found("persistentvolumeclaims", name)
        self._c.advance_claim(claim)
        return claim

    def _patch_persistentvolumeclaims(
        self, query: dict[str, str], namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        claim = self._c.claims.get((namespace, name))
        if claim is None:
            raise not_found("persistentvolumeclaims", name)
        spec = body["spec"]
        if "volumeAttributesClassName" in spec:
            target = spec["volumeAttributesClassName"]
            if target not in self._c.attributes_classes:
                # The API server admits it; the resizer waits for the class to exist.
                raise HttpError(422, "Invalid", f'volumeattributesclass "{target}" not found')
            claim["spec"]["volumeAttributesClassName"] = target
            claim["status"]["modifyVolumeStatus"] = {
                "targetVolumeAttributesClassName": target,
                "status": "InProgress",
            }
        if "resources" in spec:
            size = spec["resources"]["requests"]["storage"]
            claim["spec"]["resources"]["requests"] = {"storage": size}
            self._c.resize(claim, size)
        return claim

    # ------------------------------------------------------------- VolumeAttributesClass

    def _post_volumeattributesclasses(
        self, query: dict[str, str], body: dict[str, Any], version: str
    ) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if name in self._c.attributes_classes:
            raise HttpError(
                409,
                "AlreadyExists",
                f'volumeattributesclasses.storage.k8s.io "{name}" already exists',
            )
        assert body["apiVersion"] == f"storage.k8s.io/{version}" and body["driverName"]
        body["metadata"] = self._c._metadata(body["metadata"])
        self._c.attributes_classes[name] = body
        return body

    def _get_volumeattributesclasses(
        self, query: dict[str, str], version: str, name: str | None = None
    ) -> dict[str, Any]:
        if name is None:
            items = list(self._c.attributes_classes.values())
            limit = int(query.get("limit", len(items)) or len(items))
            return _list("VolumeAttributesClass", items[:limit], f"storage.k8s.io/{version}")
        if name not in self._c.attributes_classes:
            raise not_found("volumeattributesclasses.storage.k8s.io", name)
        return self._c.attributes_classes[name]

    def _delete_volumeattributesclasses(
        self, query: dict[str, str], version: str, name: str, body: Any = None
    ) -> dict[str, Any]:
        in_use = [
            c["metadata"]["name"]
            for c in self._c.claims.values()
            if c["spec"].get("volumeAttributesClassName") == name
        ]
        found = self._c.attributes_classes.get(name)
        if found is None:
            raise not_found("volumeattributesclasses.storage.k8s.io", name)
        if in_use:
            # kubernetes.io/vac-protection keeps a class in use: deleted once its claims go.
            found["metadata"]["deletionTimestamp"] = TIMESTAMP
            found["metadata"]["finalizers"] = ["kubernetes.io/vac-protection"]
            return found
        return self._c.attributes_classes.pop(name)

    def _delete_persistentvolumeclaims(
        self, query: dict[str, str], namespace: str, name: str
    ) -> dict[str, Any]:
        if (namespace, name) not in self._c.claims:
            raise not_found("persistentvolumeclaims", name)
        return self._c.delete_claim(namespace, name)

    def _post_persistentvolumes(
        self, query: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if name in self._c.volumes:
            raise HttpError(409, "AlreadyExists", f'persistentvolumes "{name}" already exists')
        body["metadata"] = self._c._metadata(body["metadata"])
        body["status"] = {"phase": "Available"}
        self._c.volumes[name] = body
        return body

    def _get_persistentvolumes(self, query: dict[str, str], name: str | None = None) -> Any:
        if name is None:
            return _list("PersistentVolume", self._c.volumes.values())
        if name not in self._c.volumes:
            raise not_found("persistentvolumes", name)
        return self._c.volumes[name]

    def _delete_persistentvolumes(self, query: dict[str, str], name: str) -> dict[str, Any]:
        if name not in self._c.volumes:
            raise not_found("persistentvolumes", name)
        return self._c.volumes.pop(name)

    # ------------------------------------------------------------- pods and logs

    def _post_pods(
        self, query: dict[str, str], namespace: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if (namespace, name) in self._c.pods:
            raise HttpError(409, "AlreadyExists", f'pods "{name}" already exists')
        body["metadata"] = self._c._metadata({**body["metadata"], "namespace": namespace})
        if not body["spec"].get("nodeName"):  # placed by the scheduler, by node affinity
            terms = body["spec"]["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"
            ]["nodeSelectorTerms"]
            body["spec"]["nodeName"] = terms[0]["matchExpressions"][0]["values"][0]
        elif body["spec"]["nodeName"] not in self._c.node_names():
            raise HttpError(422, "Invalid", f'node "{body["spec"]["nodeName"]}" not found')
        body["status"] = {"phase": "Pending"}
        self._c.pods[(namespace, name)] = body
        return body

    def _pod(self, namespace: str, name: str) -> dict[str, Any]:
        pod = self._c.pods.get((namespace, name))
        if pod is not None:
            return pod
        driver_pod = self._c.workload_pods.get((namespace, name))
        if driver_pod is None:
            raise not_found("pods", name)
        return {**driver_pod, "status": self._c._workload_pod_status(driver_pod)}

    def _get_pods(
        self, query: dict[str, str], namespace: str, name: str | None = None, sub: str = ""
    ) -> Any:
        if name is None:
            selector = query.get("labelSelector")
            keys = [k for k in [*self._c.pods, *self._c.workload_pods] if k[0] == namespace]
            pods = [self._pod(*key) for key in keys]
            return _list("Pod", (p for p in pods if _matches(p, selector)))
        pod = self._pod(namespace, name)
        if sub == "log":
            return self._c.pod_scripts.get(name, PodScript()).log
        if (namespace, name) in self._c.pods:
            self._c.advance_pod(pod)
        return pod

    def _delete_pods(
        self, query: dict[str, str], namespace: str, name: str, body: Any = None
    ) -> dict[str, Any]:
        pod = self._c.pods.pop((namespace, name), None)
        if pod is None:
            raise not_found("pods", name)
        return pod

    # ------------------------------------------------------------- batch/v1 Jobs

    def _post_jobs(
        self, query: dict[str, str], namespace: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        name = body["metadata"]["name"]
        if (namespace, name) in self._c.jobs:
            raise HttpError(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
        job = copy.deepcopy(body)
        job["metadata"] = self._c._metadata({**job["metadata"], "namespace": namespace})
        job["metadata"]["generation"] = 1
        uid = job["metadata"]["uid"]
        # What the API server defaults and the Job's admission adds.
        controller_labels = {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
        spec = job["spec"]
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        template = spec["template"]
        template.setdefault("metadata", {})
        template["metadata"]["labels"] = {
            **template["metadata"].get("labels", {}),
            **controller_labels,
        }
        template["spec"].setdefault("dnsPolicy", "ClusterFirst")
        template["spec"].setdefault("terminationGracePeriodSeconds", 30)
        job["status"] = {}
        self._c.jobs[(namespace, name)] = job
        return job

    def _get_jobs(
        self, query: dict[str, str], namespace: str, name: str | None = None, sub: str = ""
    ) -> dict[str, Any]:
        if name is None:
            items = [j for (ns, _), j in self._c.jobs.items() if ns == namespace]
            selector = query.get("labelSelector")
            return _list("Job", (j for j in items if _matches(j, selector)), "batch/v1")
        job = self._c.jobs.get((namespace, name))
        if job is None:
            raise not_found("jobs.batch", name)
        self._c.advance_job(job)
        return {"apiVersion": "batch/v1", "kind": "Job", **job}

    def _delete_jobs(
        self, query: dict[str, str], namespace: str, name: str, body: Any = None
    ) -> dict[str, Any]:
        job = self._c.jobs.pop((namespace, name), None)
        if job is None:
            raise not_found("jobs.batch", name)
        policy = (body or {}).get("propagationPolicy") or query.get("propagationPolicy")
        if policy in ("Foreground", "Background"):
            for key in [k for k, p in self._c.pods.items() if _owner(p) == ("Job", name)]:
                del self._c.pods[key]
        # The garbage collector finishes later; the answer is the object being deleted.
        answer = {"apiVersion": "batch/v1", "kind": "Job", **copy.deepcopy(job)}
        answer["metadata"]["deletionTimestamp"] = TIMESTAMP
        if policy == "Foreground":
            answer["metadata"]["finalizers"] = ["foregroundDeletion"]
        return answer


_JSON: Final = {"content-type": "application/json"}
# What the API server answers a delete that took effect at once (no finalizer, no grace).
_STATUS_SUCCESS: Final = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}


class _Recording:
    """A real kubernetes API object whose calls are recorded (and can be failed by
    `before_call`) before they go over the fake wire."""

    def __init__(self, cluster: FakeCluster, api: Any) -> None:
        self._cluster = cluster
        self._api = api

    def __getattr__(self, method: str) -> Any:
        real = getattr(self._api, method)
        if not callable(real):  # api_client, for callers that build other API objects
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self._cluster.calls.append((method, {"args": args, **kwargs}))
            if self._cluster.before_call is not None:
                self._cluster.before_call(method, kwargs)
            return real(*args, **kwargs)

        return call


class FakeExec:
    """`kubectl exec` in the fake cluster: answers from the pod's script, in order."""

    def __init__(self, cluster: FakeCluster) -> None:
        self._cluster = cluster

    def exec(
        self, namespace: str, pod: str, container: str, argv: Any, timeout_s: float
    ) -> tuple[int, str]:
        self._cluster.calls.append(
            ("exec", {"namespace": namespace, "pod": pod, "argv": list(argv)})
        )
        self._cluster.exec_calls.append((pod, list(argv)))
        results = self._cluster.pod_scripts.get(pod, PodScript()).exec_results
        if len(results) > 1:
            return results.pop(0)
        return results[0] if results else (0, "")
