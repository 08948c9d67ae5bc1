"""`KubeOperations`: the scenario runner's operations on a Kubernetes cluster (kind, k3s, any
kubeconfig), through its API only; and `KubeScenarioRunner`, a run's scenarios on a cluster.

A scenario there is a StorageClass (or a static file system and its PV) and a claim, pods
pinned to nodes, checks by exec, expansion by patching the claim; the teardown deletes in
reverse order and proves through the FSx API that the file system is gone. A wait that times
out becomes a message carrying the object's state, its events and the driver's logs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from e2e import leaks
from e2e.platforms.kube.clients import KubeClients
from e2e.platforms.kube.driver_logs import DriverLogs
from e2e.platforms.kube.mount_options import read_mount_options
from e2e.platforms.kube.objects import (
    APP_CONTAINER,
    KubeRunSettings,
    claim_body,
    claim_name,
    namespace_body,
    pod_body,
    static_volume_body,
    storage_class_body,
)
from e2e.platforms.kube.observe import (
    describe_events,
    describe_pod,
    events_for,
    pod_logs,
    tail,
)
from e2e.platforms.kube.removal import ScenarioRemoval
from e2e.platforms.kube.sweep import sweep_run
from e2e.platforms.manifests import kube_name
from e2e.progress import Probe, Progress, WaitTimeout
from e2e.results import Outcome, ScenarioRecorder, ScenarioResult, StepFailed
from e2e.runner import CommandOutcome, MountOptions, ScenarioRunner, Teardown, Undo
from e2e.scenarios import PodSpec, Scenario
from fsx_csi_harness.results import Leak

# The resource of VolumeAttributesClass objects in storage.k8s.io.
ATTRIBUTES_CLASSES = "volumeattributesclasses"


def _quantity_bytes(text: str) -> int:
    from kubernetes.utils import quantity

    parse: Any = quantity.parse_quantity  # untyped in the kubernetes package
    value: Decimal = parse(text)
    return int(value)


class KubeOperations:
    """The operations on a cluster where the driver is installed. A pod's handle is its
    name (in the run's namespace)."""

    # An exec goes through the API server's websocket: do not hammer it.
    check_poll_s = (1.0, 3.0)

    def __init__(
        self,
        clients: KubeClients,
        guard: leaks.FileSystemGuard,
        fsx_client: Any,
        progress: Progress,
        settings: KubeRunSettings,
        nodes: Sequence[str],
    ) -> None:
        self._clients = clients
        self._guard = guard
        self._fsx = fsx_client
        self._progress = progress
        self._settings = settings
        self._nodes = list(nodes)
        self._removal = ScenarioRemoval(clients, guard, fsx_client, progress, settings)
        self._logs = DriverLogs(clients, settings)
        # PV names the run's claims bound to, so the sweep finds them without a label.
        self.bound_volumes: set[str] = set()

    @property
    def platform(self) -> str:
        return self._settings.platform

    def nodes_for(self, scenario: Scenario, recorder: ScenarioRecorder) -> list[str] | None:
        if scenario.modification is not None and self._attributes_class_version() is None:
            recorder.result.outcome = Outcome.NOT_RUN
            recorder.result.message = (
                "the cluster serves no VolumeAttributesClass API (storage.k8s.io/v1 or "
                "v1beta1; Kubernetes 1.31+ with the VolumeAttributesClass feature, GA in 1.34): "
                "the modification cannot be asked for"
            )
            return None
        needed = scenario.node_count
        # The nodes its pods land on (below: the first `needed`, or all of them, shared).
        unshared = sorted(set(self._nodes[:needed]) & set(self._settings.unshared_nodes))
        if scenario.pods and unshared:
            # A pod there mounts a file system whose directory the emulator made on another
            # node, and a second pod cannot see what the first wrote, whatever the driver
            # does: the cluster's set-up, found before the scenarios (emulation_check), is no
            # verdict. A scenario without pods (refused parameters) mounts nothing and runs.
            recorder.result.outcome = Outcome.NOT_RUN
            recorder.result.message = (
                f"its pods would run on {', '.join(unshared)}, and the cluster's set-up keeps "
                f"it from passing there: {self._settings.unshared_reason}"
            )
            return None
        if len(self._nodes) >= needed:
            return self._nodes[:needed]
        if not self._nodes:
            recorder.result.outcome = Outcome.ERROR
            recorder.result.message = (
                "no schedulable node: expected at least one Ready node without a NoSchedule "
                "taint; try `kubectl get nodes`"
            )
            return None
        # Most developer clusters have one node: the pods share it rather than skip the
        # scenario, and the result says what that leaves unproven.
        recorder.result.details["nodes"] = (
            f"the scenario wants {needed} nodes, the cluster has {len(self._nodes)} "
            f"({', '.join(self._nodes)}): pods share nodes, so this does not prove "
            "cross-node sharing; run on a cluster with more worker nodes for that"
        )
        return [self._nodes[i % len(self._nodes)] for i in range(needed)]

    # ----------------------------------------------------------------- provisioning

    def provision(self, scenario: Scenario, result: ScenarioResult, teardown: Teardown) -> str:
        self._create_claim_and_volume(scenario, result, teardown)
        return self._wait_bound(scenario, result)

    def _create_claim_and_volume(
        self, scenario: Scenario, result: ScenarioResult, teardown: Teardown
    ) -> None:
        if scenario.provisioning == "static":
            self._static_volume(scenario, result, teardown)
        else:
            body = storage_class_body(self._settings, scenario)
            self._clients.storage.create_storage_class(body)
            name = body.metadata.name
            self._undo(
                teardown, f"StorageClass {name}", lambda: self._removal.delete_storage_class(name)
            )
        claim = claim_name(scenario)
        self._clients.core.create_namespaced_persistent_volume_claim(
            self._settings.namespace, claim_body(self._settings, scenario)
        )
        self._undo(
            teardown,
            f"PersistentVolumeClaim {claim}",
            lambda: self._removal.delete_claim(claim, scenario),
        )

    def _undo(self, teardown: Teardown, what: str, action: Callable[[], None]) -> None:
        """Removed in the teardown without a step of its own; a failure is "teardown WHAT"."""
        teardown.add(Undo(f"teardown {what}", action))

    def _static_volume(
        self, scenario: Scenario, result: ScenarioResult, teardown: Teardown
    ) -> None:
        spec = scenario.static_file_system
        assert spec is not None  # a static scenario has one (checked at load)
        lustre: dict[str, Any] = {"DeploymentType": spec.deployment_type}
        if spec.per_unit_storage_throughput is not None:
            lustre["PerUnitStorageThroughput"] = spec.per_unit_storage_throughput
        tags = leaks.run_tags(self._settings.run_id, scenario.name)
        response = self._fsx.create_file_system(
            FileSystemType="LUSTRE",
            StorageCapacity=spec.storage_capacity_gib,
            SubnetIds=[self._settings.static_subnet_id or spec.subnet_id],
            SecurityGroupIds=list(
                self._settings.static_security_group_ids or spec.security_group_ids
            ),
            LustreConfiguration=lustre,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        fs_id = response["FileSystem"]["FileSystemId"]
        result.details["file_system_id"] = fs_id
        self._undo(
            teardown, f"file system {fs_id}", lambda: self._removal.delete_file_system(fs_id)
        )
        description = self._wait_file_system_available(fs_id)
        body = static_volume_body(self._settings, scenario, fs_id, description)
        self._clients.core.create_persistent_volume(body)
        pv_name = body.metadata.name
        self._undo(
            teardown, f"PersistentVolume {pv_name}", lambda: self._removal.delete_volume(pv_name)
        )

    def _wait_file_system_available(self, fs_id: str) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def probe() -> Probe:
            description = self._guard.describe(fs_id)
            if description is None:
                return Probe(False, "FileSystemNotFound")
            seen.clear()
            seen.update(description)
            lifecycle = description.get("Lifecycle", "AVAILABLE")  # moto omits it
            if lifecycle == "FAILED":
                raise StepFailed(
                    f"file system {fs_id} went to FAILED: "
                    f"{description.get('FailureDetails', {}).get('Message', '(no details)')}"
                )
            return Probe(lifecycle == "AVAILABLE", f"Lifecycle {lifecycle}")

        self._progress.wait(
            f"file system {fs_id} to become AVAILABLE",
            probe,
            self._settings.provision_timeout_s,
            poll_s=0.5,
            max_poll_s=15.0,
            hint="FSx creation takes 5-10 minutes on AWS; raise --provision-timeout",
        )
        return seen

    def _read_claim(self, name: str) -> Any:
        return self._clients.core.read_namespaced_persistent_volume_claim(
            name, self._settings.namespace
        )

    def _claim_events(self, name: str) -> list[Any]:
        return events_for(self._clients, self._settings.namespace, "PersistentVolumeClaim", name)

    def _wait_bound(self, scenario: Scenario, result: ScenarioResult) -> str:
        name = claim_name(scenario)

        def probe() -> Probe:
            claim = self._read_claim(name)
            phase = claim.status.phase if claim.status else None
            if phase == "Bound":
                return Probe(True, f"Bound to {claim.spec.volume_name}")
            return Probe(False, f"{phase}; {describe_events(self._claim_events(name))}")

        try:
            self._progress.wait(
                f"claim {self._settings.namespace}/{name} to be Bound",
                probe,
                self._settings.provision_timeout_s,
                poll_s=0.5,
                max_poll_s=5.0,
                hint="check the controller's csi-provisioner and fsx-plugin logs",
            )
        except WaitTimeout as exc:
            hint = self._settings.provisioning_hint
            raise StepFailed(
                f"{exc}\n{self._logs.controller()}" + (f"\nnote: {hint}" if hint else "")
            ) from exc
        volume = self._read_claim(name).spec.volume_name
        self.bound_volumes.add(volume)
        pv = self._clients.core.read_persistent_volume(volume)
        result.details["persistent_volume"] = volume
        result.details["volume_handle"] = pv.spec.csi.volume_handle
        result.details["capacity"] = str(pv.spec.capacity.get("storage"))
        if scenario.provisioning == "dynamic":
            result.details["file_system_id"] = pv.spec.csi.volume_handle
        return f"claim {self._settings.namespace}/{name} Bound to {volume}"

    def expect_provisioning_failure(
        self, scenario: Scenario, result: ScenarioResult, teardown: Teardown
    ) -> str:
        failure = scenario.expected_failure
        assert failure is not None
        self._create_claim_and_volume(scenario, result, teardown)
        name = claim_name(scenario)
        wanted = [text.lower() for text in failure.message_contains]

        def probe() -> Probe:
            events = [e for e in self._claim_events(name) if e.reason == "ProvisioningFailed"]
            matching = [e for e in events if all(text in str(e.message).lower() for text in wanted)]
            if matching:
                return Probe(True, f"ProvisioningFailed: {matching[-1].message}")
            claim = self._read_claim(name)
            if claim.status and claim.status.phase == "Bound":
                raise StepFailed(
                    f"claim {name}: expected it to stay Pending with a ProvisioningFailed "
                    f"event naming {list(failure.message_contains)}, seen it Bound to "
                    f"{claim.spec.volume_name}: the driver accepted the StorageClass"
                )
            return Probe(
                False, f"{claim.status.phase if claim.status else None}; {describe_events(events)}"
            )

        try:
            seen = self._progress.wait(
                f"a ProvisioningFailed event on claim {name} naming "
                f"{list(failure.message_contains)}",
                probe,
                self._settings.provision_timeout_s,
                poll_s=0.5,
                max_poll_s=5.0,
            )
        except WaitTimeout as exc:
            raise StepFailed(f"{exc}\n{self._logs.controller()}") from exc
        result.details["provisioning_error"] = seen.state
        claim = self._read_claim(name)
        if claim.status and claim.status.phase != "Pending":
            raise StepFailed(
                f"claim {name}: expected Pending after the rejection, seen {claim.status.phase}"
            )
        created = self._guard.matching(leaks.run_tags(self._settings.run_id, scenario.name))
        created += self._guard.matching({leaks.VOLUME_NAME_TAG: f"pvc-{claim.metadata.uid}"})
        ids = sorted({fs["FileSystemId"] for fs in created})
        if bool(ids) != failure.file_system_created:
            raise StepFailed(
                f"expected {'a' if failure.file_system_created else 'no'} file system for the "
                f"rejected claim, seen {ids or 'none'}"
            )
        return f"claim stays Pending: {seen.state}"

    # ----------------------------------------------------------------- pods

    def start_pod(self, scenario: Scenario, pod: PodSpec, node: str, teardown: Teardown) -> str:
        self._clients.core.create_namespaced_pod(
            self._settings.namespace, pod_body(self._settings, scenario, pod, node)
        )
        self._undo(teardown, f"Pod {pod.name}", lambda: self._removal.delete_pod(pod.name))
        return pod.name

    def pod_failure(self, pod: str, spec: PodSpec, node: str, reason: str) -> StepFailed:
        namespace = self._settings.namespace
        events = events_for(self._clients, namespace, "Pod", pod)
        return StepFailed(
            f"{reason}\npod events: {describe_events(events)}\n"
            f"pod log: {tail(pod_logs(self._clients, namespace, pod, APP_CONTAINER, 20))}\n"
            f"{self._logs.node_plugin(node)}"
            + (f"\nnote: {self._settings.mount_hint}" if self._settings.mount_hint else "")
        )

    def wait_pod_exit(self, pod: str, spec: PodSpec, node: str) -> CommandOutcome:
        namespace = self._settings.namespace

        def probe() -> Probe:
            seen = self._clients.core.read_namespaced_pod(pod, namespace)
            done = seen.status is not None and seen.status.phase in ("Succeeded", "Failed")
            return Probe(done, describe_pod(seen))

        try:
            self._progress.wait(
                f"pod {pod} on {node} to finish",
                probe,
                spec.timeout_s + self._settings.pod_start_allowance_s,
                poll_s=0.5,
                max_poll_s=3.0,
            )
        except WaitTimeout as exc:
            raise self.pod_failure(pod, spec, node, str(exc)) from exc
        exit_code = _exit_code(self._clients.core.read_namespaced_pod(pod, namespace))
        return CommandOutcome(
            exit_code, pod_logs(self._clients, namespace, pod, APP_CONTAINER, None)
        )

    def pod_ended(self, pod: str, teardown: Teardown) -> None:
        """Nothing: the pod object stays until the teardown deletes it."""

    def wait_pod_running(self, pod: str, spec: PodSpec, node: str) -> None:
        namespace = self._settings.namespace

        def probe() -> Probe:
            seen = self._clients.core.read_namespaced_pod(pod, namespace)
            phase = seen.status.phase if seen.status else None
            if phase in ("Succeeded", "Failed"):
                raise self.pod_failure(
                    pod,
                    spec,
                    node,
                    f"pod {pod}: expected it to keep running, seen {describe_pod(seen)}",
                )
            return Probe(phase == "Running", describe_pod(seen))

        try:
            self._progress.wait(
                f"pod {pod} on {node} to run",
                probe,
                spec.timeout_s + self._settings.pod_start_allowance_s,
                poll_s=0.5,
                max_poll_s=3.0,
            )
        except WaitTimeout as exc:
            raise self.pod_failure(pod, spec, node, str(exc)) from exc

    def exec(self, pod: str, spec: PodSpec, command: str) -> CommandOutcome:
        code, output = self._clients.exec.exec(
            self._settings.namespace, pod, APP_CONTAINER, ["sh", "-c", command], 30.0
        )
        return CommandOutcome(code, output)

    def mount_options(self, pod: str, spec: PodSpec, node: str) -> MountOptions:
        """The pod's mount table on real Lustre, the emulation's record on emulated platforms
        (see e2e/platforms/kube/mount_options.py)."""
        return read_mount_options(self._clients, self._settings, pod, node)

    # ----------------------------------------------------------------- expansion

    def expand(self, scenario: Scenario, result: ScenarioResult) -> str:
        expansion = scenario.expansion
        assert expansion is not None
        name = claim_name(scenario)
        self._clients.core.patch_namespaced_persistent_volume_claim(
            name,
            self._settings.namespace,
            {"spec": {"resources": {"requests": {"storage": expansion.size}}}},
        )
        volume = self._read_claim(name).spec.volume_name

        def probe() -> Probe:
            pv = self._clients.core.read_persistent_volume(volume)
            capacity = str(pv.spec.capacity.get("storage"))
            done = _quantity_bytes(capacity) >= expansion.size_bytes
            events = describe_events(self._claim_events(name))
            return Probe(done, f"PV capacity {capacity}; {events}")

        try:
            seen = self._progress.wait(
                f"PersistentVolume {volume} to grow to {expansion.size}",
                probe,
                self._settings.provision_timeout_s,
                poll_s=0.5,
                max_poll_s=5.0,
                hint="check the csi-resizer and fsx-plugin logs of the controller",
            )
        except WaitTimeout as exc:
            raise StepFailed(f"{exc}\n{self._logs.controller()}") from exc
        result.details["expanded_capacity"] = seen.state
        fs_id = self._clients.core.read_persistent_volume(volume).spec.csi.volume_handle
        description = self._guard.describe(fs_id)
        capacity = None if description is None else description.get("StorageCapacity")
        if capacity != expansion.expected_capacity_gib:
            raise StepFailed(
                f"file system {fs_id}: expected StorageCapacity {expansion.expected_capacity_gib} "
                f"GiB after growing the claim to {expansion.size}, seen {capacity}"
            )
        return f"{seen.state}; file system {fs_id} has {capacity} GiB"

    # ----------------------------------------------------------------- modification

    def _attributes_class_version(self) -> str | None:
        """The storage.k8s.io version that serves VolumeAttributesClass, or None."""
        objects = CustomObjectsApi(self._clients.core.api_client)
        for version in ("v1", "v1beta1"):
            try:
                objects.list_cluster_custom_object(
                    "storage.k8s.io", version, ATTRIBUTES_CLASSES, limit=1
                )
            except ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            return version
        return None

    def modify(self, scenario: Scenario, result: ScenarioResult, teardown: Teardown) -> str:
        """A VolumeAttributesClass with the scenario's parameters, the claim's
        volumeAttributesClassName set to it; external-resizer calls ControllerModifyVolume and
        reports the class as current; then FSx must show the expected values."""
        modification = scenario.modification
        assert modification is not None
        version = self._attributes_class_version()
        assert version is not None  # nodes_for did not run the scenario otherwise
        objects = CustomObjectsApi(self._clients.core.api_client)
        name = kube_name(f"{self._settings.run_id}-{modification.volume_attributes_class}", 253)
        body = {
            "apiVersion": f"storage.k8s.io/{version}",
            "kind": "VolumeAttributesClass",
            "metadata": {"name": name, "labels": dict(self._settings.labels)},
            "driverName": self._settings.provisioner,
            "parameters": dict(modification.parameters),
        }
        objects.create_cluster_custom_object("storage.k8s.io", version, ATTRIBUTES_CLASSES, body)

        def delete_class() -> None:
            # Kubernetes keeps a class in use until its claim is gone (a finalizer).
            objects.delete_cluster_custom_object(
                "storage.k8s.io", version, ATTRIBUTES_CLASSES, name
            )

        self._undo(teardown, f"VolumeAttributesClass {name}", delete_class)
        claim = claim_name(scenario)
        self._clients.core.patch_namespaced_persistent_volume_claim(
            claim, self._settings.namespace, {"spec": {"volumeAttributesClassName": name}}
        )

        def probe() -> Probe:
            status = self._read_claim(claim).status
            current = getattr(status, "current_volume_attributes_class_name", None)
            events = describe_events(self._claim_events(claim))
            return Probe(current == name, f"current class {current}; {events}")

        try:
            self._progress.wait(
                f"claim {claim} to have VolumeAttributesClass {name}",
                probe,
                self._settings.provision_timeout_s,
                poll_s=0.5,
                max_poll_s=5.0,
                hint="check the csi-resizer (modifier) and fsx-plugin logs of the controller",
            )
        except WaitTimeout as exc:
            raise StepFailed(f"{exc}\n{self._logs.controller()}") from exc
        volume = self._read_claim(claim).spec.volume_name
        fs_id = self._clients.core.read_persistent_volume(volume).spec.csi.volume_handle
        lustre = (self._guard.describe(fs_id) or {}).get("LustreConfiguration") or {}
        expected = dict(modification.expected_lustre_configuration)
        seen = {key: str(lustre.get(key)) for key in expected}
        if seen != expected:
            raise StepFailed(
                f"file system {fs_id}: expected LustreConfiguration {expected} after "
                f"VolumeAttributesClass {name}, seen {seen}"
            )
        result.details["modified"] = ", ".join(f"{k}={v}" for k, v in expected.items())
        return f"VolumeAttributesClass {name} current; file system {fs_id} shows {seen}"

    def add_failure_details(self, result: ScenarioResult) -> None:
        """Nothing to add: failure messages already carry the events and the driver's logs
        (the run saves the rest with its diagnostics)."""


def _exit_code(pod: Any) -> int | None:
    for container in (pod.status.container_statuses or []) if pod.status else []:
        if container.name == APP_CONTAINER and container.state and container.state.terminated:
            return int(container.state.terminated.exit_code)
    return None


class KubeScenarioRunner:
    """A run's scenarios on a cluster: its namespace, each scenario through the scenario
    runner over `KubeOperations`, and the sweep of what the run left."""

    def __init__(
        self,
        clients: KubeClients,
        guard: leaks.FileSystemGuard,
        fsx_client: Any,
        progress: Progress,
        settings: KubeRunSettings,
        nodes: Sequence[str],
    ) -> None:
        self._clients = clients
        self._guard = guard
        self._settings = settings
        self.operations = KubeOperations(clients, guard, fsx_client, progress, settings, nodes)
        self._runner = ScenarioRunner(self.operations, progress)

    def ensure_namespace(self) -> None:
        try:
            self._clients.core.create_namespace(namespace_body(self._settings))
        except ApiException as exc:
            if exc.status != 409:
                raise

    def run(self, scenario: Scenario) -> ScenarioResult:
        return self._runner.run(scenario)

    def sweep(self) -> list[Leak]:
        """Delete and list what the run left (see `sweep_run`)."""
        return sweep_run(self._clients, self._guard, self._settings, self.operations.bound_volumes)
