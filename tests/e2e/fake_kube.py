"""A recording fake of the Kubernetes API surface the kind/cluster/k3s platforms use.

There is no cluster on these machines, so this stands in for one: the API objects
(CoreV1Api, StorageV1Api, AppsV1Api, RbacAuthorizationV1Api methods with the same signatures)
keep state as real kubernetes.client models, record every call, and raise the real
`ApiException` (404, 409). A small simulation plays the cluster's controllers:

- the external-provisioner + driver: a claim of an `fsx.csi.aws.com` StorageClass gets a file
  system created through the FSx API (the project's emulator, over HTTP) and a PV, or a
  ProvisioningFailed event when the parameters break the FSx rules (fsx_csi_harness.fsx);
- the resizer: a bigger claim grows the file system (UpdateFileSystem) and the PV;
- the kubelet: pods become Running, then (for `exit` pods) Succeeded/Failed with the exit code
  and log that the test scripts for them; deleting a claim with reclaim Delete deletes the file
  system; workloads become ready and the driver registers on every node after apply.

Each transition happens on a later read, as on a real cluster, so the waits really poll.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from fsx_csi_harness import fsx

DRIVER = "fsx.csi.aws.com"


def not_found(kind: str, name: str) -> ApiException:
    exc = ApiException(status=404, reason="Not Found")
    exc.body = f'{{"message": "{kind} \\"{name}\\" not found"}}'
    return exc


@dataclass
class PodScript:
    """What a scenario pod does in the fake kubelet: exit code and log (exit pods), exec
    answers (running pods)."""

    exit_code: int = 0
    log: str = ""
    exec_results: list[tuple[int, str]] = field(default_factory=list)


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


class FakeCluster:
    def __init__(
        self,
        fsx_client: Any,
        nodes: tuple[str, ...] = ("kind-control-plane", "kind-worker", "kind-worker2"),
        control_plane: tuple[str, ...] = ("kind-control-plane",),
    ) -> None:
        self.fsx = fsx_client
        self.calls = Calls()
        self.applied: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.namespaces: dict[str, Any] = {}
        self.storage_classes: dict[str, Any] = {}
        self.claims: dict[tuple[str, str], Any] = {}
        self.volumes: dict[str, Any] = {}
        self.pods: dict[tuple[str, str], Any] = {}
        self.events: list[Any] = []
        self.pod_scripts: dict[str, PodScript] = {}
        self.exec_calls: list[tuple[str, list[str]]] = []
        self.nodes = [self._node(n, n in control_plane) for n in nodes]
        self.driver_registered = False
        # Reads before a pending transition happens (a real cluster takes a while).
        self.reads_before_transition = 1
        self._countdowns: dict[tuple[str, ...], int] = {}
        # Failure injection for tests: called with (method, kwargs) before each call.
        self.before_call: Callable[[str, dict[str, Any]], None] | None = None
        self.core = _Api(self, "core")
        self.storage = _Api(self, "storage")
        self.apps = _Api(self, "apps")
        self.rbac = _Api(self, "rbac")
        self.policy = _Api(self, "policy")

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _node(name: str, control_plane: bool) -> Any:
        taints = (
            [k8s.V1Taint(key="node-role.kubernetes.io/control-plane", effect="NoSchedule")]
            if control_plane
            else None
        )
        return k8s.V1Node(
            metadata=k8s.V1ObjectMeta(name=name, labels={"kubernetes.io/hostname": name}),
            spec=k8s.V1NodeSpec(taints=taints),
            status=k8s.V1NodeStatus(conditions=[k8s.V1NodeCondition(type="Ready", status="True")]),
        )

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
            k8s.CoreV1Event(
                metadata=k8s.V1ObjectMeta(
                    name=f"{name}.{uuid.uuid4().hex[:8]}", namespace=namespace
                ),
                involved_object=k8s.V1ObjectReference(kind=kind, name=name, namespace=namespace),
                reason=reason,
                message=message,
                type=type_,
            )
        )

    # ------------------------------------------------------------------ simulation

    def provision(self, claim: Any) -> None:
        """external-provisioner + driver: CreateVolume for a Pending claim."""
        namespace, name = claim.metadata.namespace, claim.metadata.name
        storage_class = self.storage_classes.get(claim.spec.storage_class_name)
        if storage_class is None or storage_class.provisioner not in self.csi_driver_names():
            return
        params = dict(storage_class.parameters or {})
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
                    f'"{storage_class.metadata.name}": rpc error: code = InvalidArgument desc = '
                    f"perUnitStorageThroughput {throughput} is not allowed for {deployment}: "
                    f"expected one of {list(allowed)}",
                )
                return
        requested = int(claim.spec.resources.requests["storage"].removesuffix("Gi"))
        capacity = fsx.capacity_rule(deployment).round_up(requested)
        volume_name = f"pvc-{claim.metadata.uid}"
        tags = [{"Key": "CSIVolumeName", "Value": volume_name}]
        for pair in filter(None, params.get("extraTags", "").split(",")):
            key, _, value = pair.partition("=")
            tags.append({"Key": key, "Value": value})
        created = self.fsx.create_file_system(
            FileSystemType="LUSTRE",
            StorageCapacity=capacity,
            SubnetIds=[params["subnetId"]],
            LustreConfiguration={"DeploymentType": deployment.value},
            Tags=tags,
        )["FileSystem"]
        self.volumes[volume_name] = k8s.V1PersistentVolume(
            metadata=k8s.V1ObjectMeta(name=volume_name),
            spec=k8s.V1PersistentVolumeSpec(
                capacity={"storage": f"{capacity}Gi"},
                access_modes=claim.spec.access_modes,
                persistent_volume_reclaim_policy=storage_class.reclaim_policy or "Delete",
                storage_class_name=storage_class.metadata.name,
                claim_ref=k8s.V1ObjectReference(namespace=namespace, name=name),
                csi=k8s.V1CSIPersistentVolumeSource(
                    driver=storage_class.provisioner,
                    volume_handle=created["FileSystemId"],
                    volume_attributes={
                        "dnsname": created["DNSName"],
                        "mountname": created["LustreConfiguration"].get("MountName", ""),
                    },
                ),
            ),
            status=k8s.V1PersistentVolumeStatus(phase="Bound"),
        )
        claim.spec.volume_name = volume_name
        self.event(
            namespace,
            "PersistentVolumeClaim",
            name,
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {volume_name}",
            "Normal",
        )

    def advance_claim(self, claim: Any) -> None:
        if claim.status.phase != "Pending" or not self._ready("claim", claim.metadata.name):
            return
        if not claim.spec.volume_name:
            self.provision(claim)
        volume = self.volumes.get(claim.spec.volume_name or "")
        if volume is not None:
            claim.status.phase = "Bound"
            claim.status.capacity = dict(volume.spec.capacity)
            volume.status = k8s.V1PersistentVolumeStatus(phase="Bound")

    def advance_pod(self, pod: Any) -> None:
        key = ("pod", pod.metadata.name)
        if not self._ready(*key):
            return
        script = self.pod_scripts.get(pod.metadata.name, PodScript())
        container = pod.spec.containers[0].name
        if pod.status.phase == "Pending":
            pod.status.phase = "Running"
            pod.status.container_statuses = [
                k8s.V1ContainerStatus(
                    name=container,
                    ready=True,
                    restart_count=0,
                    image=pod.spec.containers[0].image,
                    image_id="",
                    state=k8s.V1ContainerState(running=k8s.V1ContainerStateRunning()),
                )
            ]
            self._countdowns[key] = self.reads_before_transition
        elif pod.status.phase == "Running" and not script.exec_results:
            pod.status.phase = "Succeeded" if script.exit_code == 0 else "Failed"
            pod.status.container_statuses[0].state = k8s.V1ContainerState(
                terminated=k8s.V1ContainerStateTerminated(
                    exit_code=script.exit_code,
                    reason="Completed" if script.exit_code == 0 else "Error",
                )
            )

    def resize(self, claim: Any, size: str) -> None:
        """external-resizer + driver: ControllerExpandVolume, then the PV's capacity."""
        volume = self.volumes[claim.spec.volume_name]
        fs_id = volume.spec.csi.volume_handle
        requested = int(size.removesuffix("Gi"))
        described = self.fsx.describe_file_systems(FileSystemIds=[fs_id])["FileSystems"][0]
        deployment = fsx.DeploymentType(described["LustreConfiguration"]["DeploymentType"])
        capacity = fsx.capacity_rule(deployment).round_up(requested)
        self.fsx.update_file_system(FileSystemId=fs_id, StorageCapacity=capacity)
        volume.spec.capacity = {"storage": f"{capacity}Gi"}

    def delete_claim(self, namespace: str, name: str) -> None:
        claim = self.claims.pop((namespace, name))
        volume = self.volumes.get(claim.spec.volume_name or "")
        if volume is not None and volume.spec.persistent_volume_reclaim_policy == "Delete":
            # external-provisioner: DeleteVolume, then the PV goes.
            self.fsx.delete_file_system(FileSystemId=volume.spec.csi.volume_handle)
            del self.volumes[volume.metadata.name]
        elif volume is not None:
            volume.status = k8s.V1PersistentVolumeStatus(phase="Released")


class _Api:
    """One API group object. Methods are resolved by name so calls record uniformly."""

    def __init__(self, cluster: FakeCluster, group: str) -> None:
        self._cluster = cluster
        self._group = group

    def __getattr__(self, method: str) -> Callable[..., Any]:
        handler = getattr(self._cluster_handlers, method, None)
        if handler is None:
            raise AttributeError(
                f"the fake {self._group} API has no {method} (the harness "
                "called a method this fake does not model)"
            )

        def call(*args: Any, **kwargs: Any) -> Any:
            self._cluster.calls.append((method, {"args": args, **kwargs}))
            if self._cluster.before_call is not None:
                self._cluster.before_call(method, kwargs)
            return handler(*args, **kwargs)

        return call

    @property
    def _cluster_handlers(self) -> Any:
        return _Handlers(self._cluster)


class _Handlers:
    def __init__(self, cluster: FakeCluster) -> None:
        self.c = cluster

    # ---------------------------------------------------------------- server-side apply

    def _apply(
        self,
        kind: str,
        body: dict[str, Any],
        name: str,
        namespace: str | None = None,
        **kwargs: Any,
    ) -> Any:
        assert kwargs["_content_type"] == "application/apply-patch+yaml"
        assert kwargs["field_manager"] == "fsx-csi-harness" and kwargs["force"] is True
        assert body["kind"] == kind and body["metadata"]["name"] == name
        self.c.applied[(kind, namespace, name)] = body
        if kind == "DaemonSet":
            self.c.driver_registered = True
        return body

    def __getattr__(self, method: str) -> Any:
        apply_kinds = {
            "patch_namespace": "Namespace",
            "patch_namespaced_service_account": "ServiceAccount",
            "patch_namespaced_config_map": "ConfigMap",
            "patch_namespaced_secret": "Secret",
            "patch_namespaced_service": "Service",
            "patch_cluster_role": "ClusterRole",
            "patch_cluster_role_binding": "ClusterRoleBinding",
            "patch_namespaced_role": "Role",
            "patch_namespaced_role_binding": "RoleBinding",
            "patch_csi_driver": "CSIDriver",
            "patch_namespaced_deployment": "Deployment",
            "patch_namespaced_stateful_set": "StatefulSet",
            "patch_namespaced_daemon_set": "DaemonSet",
            "patch_namespaced_pod_disruption_budget": "PodDisruptionBudget",
        }
        if method in apply_kinds:
            kind = apply_kinds[method]
            return lambda body, name, namespace=None, **kw: self._apply(
                kind, body, name, namespace, **kw
            )
        if method.startswith("delete_") and method.removeprefix("delete_") in {
            m.removeprefix("patch_") for m in apply_kinds
        }:
            return self._delete_applied
        raise AttributeError(method)

    def _delete_applied(self, name: str, namespace: str | None = None, **_: Any) -> None:
        for key in list(self.c.applied):
            if key[2] == name and key[1] == namespace:
                del self.c.applied[key]
                return
        raise not_found("object", name)

    # ---------------------------------------------------------------- nodes, drivers

    def list_node(self, **_: Any) -> Any:
        return k8s.V1NodeList(items=list(self.c.nodes))

    def read_csi_node(self, name: str) -> Any:
        # The node plugins register the drivers the cluster has, once a DaemonSet is applied.
        drivers = (
            [k8s.V1CSINodeDriver(name=d, node_id=name) for d in self.c.csi_driver_names()]
            if self.c.driver_registered
            else []
        )
        return k8s.V1CSINode(
            metadata=k8s.V1ObjectMeta(name=name), spec=k8s.V1CSINodeSpec(drivers=drivers)
        )

    def list_csi_node(self, **_: Any) -> Any:
        return k8s.V1CSINodeList(items=[self.read_csi_node(n.metadata.name) for n in self.c.nodes])

    def read_csi_driver(self, name: str) -> Any:
        body = self.c.applied.get(("CSIDriver", None, name))
        if body is None:
            raise not_found("csidrivers", name)
        labels = body.get("metadata", {}).get("labels")
        return k8s.V1CSIDriver(
            metadata=k8s.V1ObjectMeta(name=name, labels=labels), spec=k8s.V1CSIDriverSpec()
        )

    def read_namespaced_deployment(self, name: str, namespace: str) -> Any:
        body = self.c.applied.get(("Deployment", namespace, name))
        if body is None:
            raise not_found("deployments", name)
        replicas = body["spec"].get("replicas", 1)
        ready = self.c._ready("deployment", name)
        return k8s.V1Deployment(
            # Generation 2 is observed when the rollout is done: the probe must wait for it.
            metadata=k8s.V1ObjectMeta(name=name, namespace=namespace, generation=2),
            spec=k8s.V1DeploymentSpec(
                replicas=replicas,
                selector=k8s.V1LabelSelector(match_labels=body["spec"]["selector"]["matchLabels"]),
                template=k8s.V1PodTemplateSpec(),
            ),
            status=k8s.V1DeploymentStatus(
                available_replicas=replicas,
                updated_replicas=replicas if ready else 0,
                observed_generation=2 if ready else 1,
            ),
        )

    def read_namespaced_stateful_set(self, name: str, namespace: str) -> Any:
        body = self.c.applied.get(("StatefulSet", namespace, name))
        if body is None:
            raise not_found("statefulsets", name)
        replicas = body["spec"].get("replicas", 1)
        ready = self.c._ready("statefulset", name)
        return k8s.V1StatefulSet(
            metadata=k8s.V1ObjectMeta(name=name, namespace=namespace),
            spec=k8s.V1StatefulSetSpec(
                replicas=replicas,
                service_name=body["spec"].get("serviceName"),
                selector=k8s.V1LabelSelector(match_labels=body["spec"]["selector"]["matchLabels"]),
                template=k8s.V1PodTemplateSpec(),
            ),
            status=k8s.V1StatefulSetStatus(
                replicas=replicas, ready_replicas=replicas if ready else 0
            ),
        )

    def read_namespaced_daemon_set(self, name: str, namespace: str) -> Any:
        body = self.c.applied.get(("DaemonSet", namespace, name))
        if body is None:
            raise not_found("daemonsets", name)
        ready = len(self.c.nodes) if self.c._ready("daemonset", name) else 0
        return k8s.V1DaemonSet(
            metadata=k8s.V1ObjectMeta(name=name, namespace=namespace),
            spec=k8s.V1DaemonSetSpec(
                selector=k8s.V1LabelSelector(match_labels=body["spec"]["selector"]["matchLabels"]),
                template=k8s.V1PodTemplateSpec(),
            ),
            status=k8s.V1DaemonSetStatus(
                desired_number_scheduled=len(self.c.nodes),
                number_ready=ready,
                current_number_scheduled=len(self.c.nodes),
                number_misscheduled=0,
            ),
        )

    # ---------------------------------------------------------------- namespaces, classes

    def create_namespace(self, body: Any) -> Any:
        if body.metadata.name in self.c.namespaces:
            raise ApiException(status=409, reason="AlreadyExists")
        self.c.namespaces[body.metadata.name] = body
        return body

    def delete_namespace(self, name: str, **_: Any) -> None:
        created = self.c.namespaces.pop(name, None)
        applied = self.c.applied.pop(("Namespace", None, name), None)
        if created is None and applied is None:
            raise not_found("namespaces", name)

    def create_storage_class(self, body: Any) -> Any:
        self.c.storage_classes[body.metadata.name] = body
        return body

    def delete_storage_class(self, name: str, **_: Any) -> None:
        if self.c.storage_classes.pop(name, None) is None:
            raise not_found("storageclasses", name)

    def list_storage_class(self, label_selector: str | None = None, **_: Any) -> Any:
        return k8s.V1StorageClassList(
            items=_select(self.c.storage_classes.values(), label_selector)
        )

    # ---------------------------------------------------------------- claims and volumes

    def create_namespaced_persistent_volume_claim(self, namespace: str, body: Any) -> Any:
        body.metadata.uid = str(uuid.uuid4())
        body.metadata.namespace = namespace
        body.status = k8s.V1PersistentVolumeClaimStatus(phase="Pending")
        self.c.claims[(namespace, body.metadata.name)] = body
        return body

    def read_namespaced_persistent_volume_claim(self, name: str, namespace: str) -> Any:
        claim = self.c.claims.get((namespace, name))
        if claim is None:
            raise not_found("persistentvolumeclaims", name)
        self.c.advance_claim(claim)
        return claim

    def patch_namespaced_persistent_volume_claim(self, name: str, namespace: str, body: Any) -> Any:
        claim = self.c.claims[(namespace, name)]
        size = body["spec"]["resources"]["requests"]["storage"]
        claim.spec.resources.requests = {"storage": size}
        self.c.resize(claim, size)
        return claim

    def delete_namespaced_persistent_volume_claim(
        self, name: str, namespace: str, **_: Any
    ) -> None:
        if (namespace, name) not in self.c.claims:
            raise not_found("persistentvolumeclaims", name)
        self.c.delete_claim(namespace, name)

    def list_namespaced_persistent_volume_claim(
        self, namespace: str, label_selector: str | None = None, **_: Any
    ) -> Any:
        items = [c for (ns, _), c in self.c.claims.items() if ns == namespace]
        return k8s.V1PersistentVolumeClaimList(items=_select(items, label_selector))

    def create_persistent_volume(self, body: Any) -> Any:
        body.status = k8s.V1PersistentVolumeStatus(phase="Available")
        self.c.volumes[body.metadata.name] = body
        return body

    def read_persistent_volume(self, name: str) -> Any:
        if name not in self.c.volumes:
            raise not_found("persistentvolumes", name)
        return self.c.volumes[name]

    def delete_persistent_volume(self, name: str, **_: Any) -> None:
        if self.c.volumes.pop(name, None) is None:
            raise not_found("persistentvolumes", name)

    def list_persistent_volume(self, **_: Any) -> Any:
        return k8s.V1PersistentVolumeList(items=list(self.c.volumes.values()))

    # ---------------------------------------------------------------- pods, events, logs

    def create_namespaced_pod(self, namespace: str, body: Any) -> Any:
        body.metadata.namespace = namespace
        terms = body.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
        body.spec.node_name = terms.node_selector_terms[0].match_expressions[0].values[0]
        body.status = k8s.V1PodStatus(phase="Pending")
        self.c.pods[(namespace, body.metadata.name)] = body
        return body

    def read_namespaced_pod(self, name: str, namespace: str) -> Any:
        pod = self.c.pods.get((namespace, name))
        if pod is None:
            raise not_found("pods", name)
        self.c.advance_pod(pod)
        return pod

    def delete_namespaced_pod(self, name: str, namespace: str, **_: Any) -> None:
        if self.c.pods.pop((namespace, name), None) is None:
            raise not_found("pods", name)

    def list_namespaced_pod(
        self,
        namespace: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        **_: Any,
    ) -> Any:
        items = [p for (ns, _), p in self.c.pods.items() if ns == namespace]
        return k8s.V1PodList(items=_select(items, label_selector))

    def read_namespaced_pod_log(
        self,
        name: str,
        namespace: str,
        container: str | None = None,
        tail_lines: int | None = None,
        **_: Any,
    ) -> str:
        if (namespace, name) not in self.c.pods:
            raise not_found("pods", name)
        return self.c.pod_scripts.get(name, PodScript()).log

    def list_namespaced_event(
        self, namespace: str, field_selector: str | None = None, **_: Any
    ) -> Any:
        wanted = (
            dict(part.split("=", 1) for part in field_selector.split(",")) if field_selector else {}
        )
        items = [
            e
            for e in self.c.events
            if e.metadata.namespace == namespace
            and wanted.get("involvedObject.kind", e.involved_object.kind) == e.involved_object.kind
            and wanted.get("involvedObject.name", e.involved_object.name) == e.involved_object.name
        ]
        return k8s.CoreV1EventList(items=items)


def _select(items: Any, label_selector: str | None) -> list[Any]:
    if not label_selector:
        return list(items)
    wanted = dict(part.split("=", 1) for part in label_selector.split(","))
    return [
        i for i in items if all((i.metadata.labels or {}).get(k) == v for k, v in wanted.items())
    ]


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
