"""The scenario steps on a Kubernetes cluster (kind, k3s, any kubeconfig), through its API only:
StorageClass (or a static PV) -> claim -> pods pinned to nodes -> checks -> expansion ->
teardown in reverse order -> proof through the FSx API that the file system is gone; plus the
leak sweep over everything labelled with the run id."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, Final

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from e2e import leaks
from e2e.platforms.kube.clients import KubeClients, api_message
from e2e.platforms.kube.observe import (
    LOG_TAIL_LINES,
    describe_events,
    describe_pod,
    events_for,
    pod_logs,
    tail,
)
from e2e.platforms.manifests import DRIVER_NAME, DRIVER_NAMESPACE, RUN_ID_LABEL, kube_name
from e2e.progress import Probe, Progress, WaitTimeout
from e2e.results import (
    LeakedResource,
    Outcome,
    ScenarioRecorder,
    ScenarioResult,
    StepError,
    StepFailed,
)
from e2e.scenarios import VOLUME_MOUNT_PATH, ExecCheck, PodSpec, Scenario

SCENARIO_LABEL: Final = "fsx-csi-harness/scenario"
APP_CONTAINER: Final = "app"


def _quantity_bytes(text: str) -> int:
    from kubernetes.utils import quantity

    parse: Any = quantity.parse_quantity  # untyped in the kubernetes package
    value: Decimal = parse(text)
    return int(value)


@dataclass
class KubeRunSettings:
    """How the runner shapes the objects it creates on this cluster."""

    run_id: str
    platform: str
    # Namespace for the claims and pods of this run (created and deleted by the runner).
    namespace: str
    # Image of the scenario pods: needs POSIX sh (the driver image on kind/k3s, busybox else).
    pod_image: str
    pod_image_pull_policy: str = "IfNotPresent"
    provisioner: str = DRIVER_NAME
    # Merged under every StorageClass's parameters (real-AWS subnet, security groups, ...).
    storage_class_defaults: Mapping[str, str] = field(default_factory=dict)
    # Overrides for static file systems on real AWS (subnet, security groups).
    static_subnet_id: str | None = None
    static_security_group_ids: tuple[str, ...] | None = None
    provision_timeout_s: float = 300.0
    # Added to each pod's own timeout: scheduling, image pull and mount on a real cluster.
    pod_start_allowance_s: float = 120.0
    # With fewer nodes than a scenario wants: share nodes (k3s: one node) or skip the scenario.
    share_nodes: bool = False
    file_system_delete_timeout_s: float = 600.0
    # Where failure messages read the driver's logs: pods by (namespace, label selector), and
    # which containers (None: every container of the pod).
    controller_pods: Sequence[tuple[str, str]] = ((DRIVER_NAMESPACE, "app=fsx-csi-controller"),)
    controller_containers: Sequence[str] | None = ("fsx-plugin", "csi-provisioner", "csi-resizer")
    node_pods: Sequence[tuple[str, str]] = ((DRIVER_NAMESPACE, "app=fsx-csi-node"),)
    node_containers: Sequence[str] | None = ("fsx-plugin",)
    # Added to a claim that does not bind, and to a pod that fails to start or to see its
    # data (for example: a third-party driver on emulated Lustre cannot mount).
    provisioning_hint: str | None = None
    mount_hint: str | None = None


@dataclass
class _Cleanup:
    """What a scenario created, undone in reverse order."""

    name: str
    action: Callable[[], None]


class KubeScenarioRunner:
    """Runs scenarios on a cluster where the driver is installed; sweeps what a run left."""

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
        # PV names the run's claims bound to, so the sweep finds them without a label.
        self._bound_volumes: set[str] = set()

    @property
    def labels(self) -> dict[str, str]:
        return {RUN_ID_LABEL: kube_name(self._settings.run_id)}

    # ----------------------------------------------------------------- run

    def ensure_namespace(self) -> None:
        body = k8s.V1Namespace(
            metadata=k8s.V1ObjectMeta(name=self._settings.namespace, labels=self.labels)
        )
        try:
            self._clients.core.create_namespace(body)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def run(self, scenario: Scenario) -> ScenarioResult:
        recorder = ScenarioRecorder(scenario.name, self._settings.platform)
        nodes = self._nodes_for(scenario, recorder)
        if nodes is None:
            return recorder.finish()
        cleanups: list[_Cleanup] = []
        try:
            self._run_steps(scenario, nodes, recorder, cleanups)
        except (StepFailed, StepError, WaitTimeout, ApiException):
            pass  # recorded by the step that raised; teardown follows
        finally:
            self._teardown(recorder, cleanups)
        return recorder.finish()

    def _nodes_for(self, scenario: Scenario, recorder: ScenarioRecorder) -> list[str] | None:
        needed = scenario.node_count
        if len(self._nodes) >= needed:
            return self._nodes[:needed]
        if not self._nodes:
            recorder.result.outcome = Outcome.ERROR
            recorder.result.message = (
                "no schedulable node: expected at least one Ready node without a NoSchedule "
                "taint; try `kubectl get nodes`"
            )
            return None
        if self._settings.share_nodes:
            recorder.result.details["nodes"] = (
                f"the scenario wants {needed} nodes, the cluster has {len(self._nodes)}: pods "
                "share nodes, so this does not prove cross-node sharing"
            )
            return [self._nodes[i % len(self._nodes)] for i in range(needed)]
        recorder.result.outcome = Outcome.SKIPPED
        recorder.result.message = (
            f"needs {needed} schedulable nodes, the cluster has {len(self._nodes)} "
            f"({', '.join(self._nodes)}); try a cluster with more worker nodes"
        )
        return None

    def _run_steps(
        self,
        scenario: Scenario,
        nodes: list[str],
        recorder: ScenarioRecorder,
        cleanups: list[_Cleanup],
    ) -> None:
        claim_name = kube_name(scenario.name)
        with recorder.step("provision"):
            if scenario.provisioning == "static":
                self._static_volume(scenario, claim_name, recorder, cleanups)
            else:
                self._storage_class(scenario, cleanups)
            self._create_claim(scenario, claim_name, cleanups)
            if scenario.expected_failure is not None:
                self._expect_provisioning_failure(scenario, claim_name, recorder)
                return
            self._wait_bound(scenario, claim_name, recorder)
        for pod in scenario.pods_before_expansion():
            with recorder.step(f"pod {pod.name}"):
                self._run_pod(scenario, pod, nodes[pod.node], claim_name, cleanups)
        if scenario.expansion is not None:
            with recorder.step("expand"):
                self._expand(scenario, claim_name, recorder)
            for pod in scenario.pods_after_expansion():
                with recorder.step(f"pod {pod.name}"):
                    self._run_pod(scenario, pod, nodes[pod.node], claim_name, cleanups)

    # ----------------------------------------------------------------- provisioning

    def _meta(self, name: str, scenario: Scenario, namespaced: bool = True) -> Any:
        return k8s.V1ObjectMeta(
            name=name,
            namespace=self._settings.namespace if namespaced else None,
            labels={**self.labels, SCENARIO_LABEL: kube_name(scenario.name)},
        )

    def _cluster_name(self, scenario: Scenario) -> str:
        return kube_name(f"{self._settings.run_id}-{scenario.name}", 253)

    def _storage_class(self, scenario: Scenario, cleanups: list[_Cleanup]) -> None:
        spec = scenario.storage_class
        assert spec is not None  # a dynamic scenario has one (checked at load)
        parameters = leaks.with_run_tags(
            {**self._settings.storage_class_defaults, **spec.parameters},
            self._settings.run_id,
            scenario.name,
        )
        name = self._cluster_name(scenario)
        body = k8s.V1StorageClass(
            metadata=self._meta(name, scenario, namespaced=False),
            provisioner=self._settings.provisioner,
            parameters=parameters,
            mount_options=list(spec.mount_options) or None,
            reclaim_policy=spec.reclaim_policy,
            allow_volume_expansion=spec.allow_volume_expansion,
            volume_binding_mode="Immediate",
        )
        self._clients.storage.create_storage_class(body)
        cleanups.append(_Cleanup(f"StorageClass {name}", lambda: self._delete_storage_class(name)))

    def _static_volume(
        self,
        scenario: Scenario,
        claim_name: str,
        recorder: ScenarioRecorder,
        cleanups: list[_Cleanup],
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
        recorder.result.details["file_system_id"] = fs_id
        cleanups.append(_Cleanup(f"file system {fs_id}", lambda: self._delete_file_system(fs_id)))
        description = self._wait_file_system_available(fs_id)
        pv_name = self._cluster_name(scenario)
        body = k8s.V1PersistentVolume(
            metadata=self._meta(pv_name, scenario, namespaced=False),
            spec=k8s.V1PersistentVolumeSpec(
                capacity={"storage": scenario.claim.size},
                access_modes=list(scenario.claim.access_modes),
                volume_mode=scenario.claim.volume_mode,
                persistent_volume_reclaim_policy="Retain",
                storage_class_name="",
                mount_options=list(spec.mount_options) or None,
                claim_ref=k8s.V1ObjectReference(
                    namespace=self._settings.namespace, name=claim_name
                ),
                csi=k8s.V1CSIPersistentVolumeSource(
                    driver=self._settings.provisioner,
                    volume_handle=fs_id,
                    volume_attributes={
                        "dnsname": description["DNSName"],
                        "mountname": description.get("LustreConfiguration", {}).get(
                            "MountName", ""
                        ),
                    },
                ),
            ),
        )
        self._clients.core.create_persistent_volume(body)
        cleanups.append(
            _Cleanup(f"PersistentVolume {pv_name}", lambda: self._delete_volume(pv_name))
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

    def _create_claim(self, scenario: Scenario, claim_name: str, cleanups: list[_Cleanup]) -> None:
        static = scenario.provisioning == "static"
        body = k8s.V1PersistentVolumeClaim(
            metadata=self._meta(claim_name, scenario),
            spec=k8s.V1PersistentVolumeClaimSpec(
                access_modes=list(scenario.claim.access_modes),
                volume_mode=scenario.claim.volume_mode,
                resources=k8s.V1VolumeResourceRequirements(
                    requests={"storage": scenario.claim.size}
                ),
                storage_class_name="" if static else self._cluster_name(scenario),
                volume_name=self._cluster_name(scenario) if static else None,
            ),
        )
        self._clients.core.create_namespaced_persistent_volume_claim(self._settings.namespace, body)
        cleanups.append(
            _Cleanup(
                f"PersistentVolumeClaim {claim_name}",
                lambda: self._delete_claim(claim_name, scenario),
            )
        )

    def _read_claim(self, name: str) -> Any:
        return self._clients.core.read_namespaced_persistent_volume_claim(
            name, self._settings.namespace
        )

    def _claim_events(self, name: str) -> list[Any]:
        return events_for(self._clients, self._settings.namespace, "PersistentVolumeClaim", name)

    def _wait_bound(self, scenario: Scenario, claim_name: str, recorder: ScenarioRecorder) -> None:
        def probe() -> Probe:
            claim = self._read_claim(claim_name)
            phase = claim.status.phase if claim.status else None
            if phase == "Bound":
                return Probe(True, f"Bound to {claim.spec.volume_name}")
            return Probe(False, f"{phase}; {describe_events(self._claim_events(claim_name))}")

        try:
            self._progress.wait(
                f"claim {self._settings.namespace}/{claim_name} to be Bound",
                probe,
                self._settings.provision_timeout_s,
                poll_s=0.5,
                max_poll_s=5.0,
                hint="check the controller's csi-provisioner and fsx-plugin logs",
            )
        except WaitTimeout as exc:
            hint = self._settings.provisioning_hint
            raise StepFailed(
                f"{exc}\n{self._controller_logs()}" + (f"\nnote: {hint}" if hint else "")
            ) from exc
        claim = self._read_claim(claim_name)
        volume = claim.spec.volume_name
        self._bound_volumes.add(volume)
        pv = self._clients.core.read_persistent_volume(volume)
        recorder.result.details["persistent_volume"] = volume
        recorder.result.details["volume_handle"] = pv.spec.csi.volume_handle
        recorder.result.details["capacity"] = str(pv.spec.capacity.get("storage"))
        if scenario.provisioning == "dynamic":
            recorder.result.details["file_system_id"] = pv.spec.csi.volume_handle

    def _expect_provisioning_failure(
        self, scenario: Scenario, claim_name: str, recorder: ScenarioRecorder
    ) -> None:
        failure = scenario.expected_failure
        assert failure is not None
        wanted = [text.lower() for text in failure.message_contains]

        def probe() -> Probe:
            events = [e for e in self._claim_events(claim_name) if e.reason == "ProvisioningFailed"]
            matching = [e for e in events if all(text in str(e.message).lower() for text in wanted)]
            if matching:
                return Probe(True, f"ProvisioningFailed: {matching[-1].message}")
            claim = self._read_claim(claim_name)
            if claim.status and claim.status.phase == "Bound":
                raise StepFailed(
                    f"claim {claim_name}: expected it to stay Pending with a ProvisioningFailed "
                    f"event naming {list(failure.message_contains)}, seen it Bound to "
                    f"{claim.spec.volume_name}: the driver accepted the StorageClass"
                )
            return Probe(
                False, f"{claim.status.phase if claim.status else None}; {describe_events(events)}"
            )

        try:
            seen = self._progress.wait(
                f"a ProvisioningFailed event on claim {claim_name} naming "
                f"{list(failure.message_contains)}",
                probe,
                self._settings.provision_timeout_s,
                poll_s=0.5,
                max_poll_s=5.0,
            )
        except WaitTimeout as exc:
            raise StepFailed(f"{exc}\n{self._controller_logs()}") from exc
        recorder.result.details["provisioning_error"] = seen.state
        claim = self._read_claim(claim_name)
        if claim.status and claim.status.phase != "Pending":
            raise StepFailed(
                f"claim {claim_name}: expected Pending after the rejection, seen "
                f"{claim.status.phase}"
            )
        created = self._guard.matching(leaks.run_tags(self._settings.run_id, scenario.name))
        created += self._guard.matching({leaks.VOLUME_NAME_TAG: f"pvc-{claim.metadata.uid}"})
        ids = sorted({fs["FileSystemId"] for fs in created})
        if bool(ids) != failure.file_system_created:
            raise StepFailed(
                f"expected {'a' if failure.file_system_created else 'no'} file system for the "
                f"rejected claim, seen {ids or 'none'}"
            )

    # ----------------------------------------------------------------- pods

    def _pod_body(self, scenario: Scenario, pod: PodSpec, node: str, claim_name: str) -> Any:
        env = [k8s.V1EnvVar(name=k, value=v) for k, v in sorted(scenario.variables.items())]
        affinity = k8s.V1Affinity(
            node_affinity=k8s.V1NodeAffinity(
                required_during_scheduling_ignored_during_execution=k8s.V1NodeSelector(
                    node_selector_terms=[
                        k8s.V1NodeSelectorTerm(
                            match_expressions=[
                                k8s.V1NodeSelectorRequirement(
                                    key="kubernetes.io/hostname", operator="In", values=[node]
                                )
                            ]
                        )
                    ]
                )
            )
        )
        return k8s.V1Pod(
            metadata=self._meta(pod.name, scenario),
            spec=k8s.V1PodSpec(
                restart_policy="Never",
                affinity=affinity,
                # A writer loop under `sh` ignores SIGTERM; do not wait 30 s for it at teardown.
                termination_grace_period_seconds=1,
                automount_service_account_token=False,
                containers=[
                    k8s.V1Container(
                        name=APP_CONTAINER,
                        image=self._settings.pod_image,
                        image_pull_policy=self._settings.pod_image_pull_policy,
                        command=["sh", "-c", pod.command],
                        env=env or None,
                        volume_mounts=[
                            k8s.V1VolumeMount(
                                name="data", mount_path=VOLUME_MOUNT_PATH, read_only=pod.read_only
                            )
                        ],
                    )
                ],
                volumes=[
                    k8s.V1Volume(
                        name="data",
                        persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                            claim_name=claim_name, read_only=pod.read_only
                        ),
                    )
                ],
            ),
        )

    def _run_pod(
        self,
        scenario: Scenario,
        pod: PodSpec,
        node: str,
        claim_name: str,
        cleanups: list[_Cleanup],
    ) -> None:
        namespace = self._settings.namespace
        self._clients.core.create_namespaced_pod(
            namespace, self._pod_body(scenario, pod, node, claim_name)
        )
        cleanups.append(_Cleanup(f"Pod {pod.name}", lambda: self._delete_pod(pod.name)))
        if pod.lifecycle == "exit":
            self._wait_pod_exit(pod, node)
        else:
            self._wait_pod_running(pod, node)
            for check in pod.checks:
                self._run_check(pod, check)

    def _pod_failure(self, pod: PodSpec, node: str, reason: str) -> StepFailed:
        namespace = self._settings.namespace
        events = events_for(self._clients, namespace, "Pod", pod.name)
        return StepFailed(
            f"{reason}\npod events: {describe_events(events)}\n"
            f"pod log: {tail(pod_logs(self._clients, namespace, pod.name, APP_CONTAINER, 20))}\n"
            f"{self._node_plugin_logs(node)}"
            + (f"\nnote: {self._settings.mount_hint}" if self._settings.mount_hint else "")
        )

    def _wait_pod_exit(self, pod: PodSpec, node: str) -> None:
        namespace = self._settings.namespace

        def probe() -> Probe:
            seen = self._clients.core.read_namespaced_pod(pod.name, namespace)
            done = seen.status is not None and seen.status.phase in ("Succeeded", "Failed")
            return Probe(done, describe_pod(seen))

        try:
            self._progress.wait(
                f"pod {pod.name} on {node} to finish",
                probe,
                pod.timeout_s + self._settings.pod_start_allowance_s,
                poll_s=0.5,
                max_poll_s=3.0,
            )
        except WaitTimeout as exc:
            raise self._pod_failure(pod, node, str(exc)) from exc
        seen = self._clients.core.read_namespaced_pod(pod.name, namespace)
        exit_code = _exit_code(seen)
        output = pod_logs(self._clients, namespace, pod.name, APP_CONTAINER, None)
        problems = pod.output.failures(output)
        if exit_code != pod.exit_code:
            problems.insert(0, f"expected exit code {pod.exit_code}, seen {exit_code}")
        if problems:
            raise self._pod_failure(
                pod, node, f"pod {pod.name} on {node}: {'; '.join(problems)}; output: {output!r}"
            )

    def _wait_pod_running(self, pod: PodSpec, node: str) -> None:
        namespace = self._settings.namespace

        def probe() -> Probe:
            seen = self._clients.core.read_namespaced_pod(pod.name, namespace)
            phase = seen.status.phase if seen.status else None
            if phase in ("Succeeded", "Failed"):
                raise self._pod_failure(
                    pod,
                    node,
                    f"pod {pod.name}: expected it to keep running, seen {describe_pod(seen)}",
                )
            return Probe(phase == "Running", describe_pod(seen))

        try:
            self._progress.wait(
                f"pod {pod.name} on {node} to run",
                probe,
                pod.timeout_s + self._settings.pod_start_allowance_s,
                poll_s=0.5,
                max_poll_s=3.0,
            )
        except WaitTimeout as exc:
            raise self._pod_failure(pod, node, str(exc)) from exc

    def _run_check(self, pod: PodSpec, check: ExecCheck) -> None:
        namespace = self._settings.namespace

        def probe() -> Probe:
            code, output = self._clients.exec.exec(
                namespace, pod.name, APP_CONTAINER, ["sh", "-c", check.command], 30.0
            )
            problems = check.output.failures(output)
            if code != check.exit_code:
                problems.insert(0, f"expected exit code {check.exit_code}, seen {code}")
            state = "; ".join(problems) + f"; output: {output[-300:]!r}" if problems else "ok"
            return Probe(not problems, state)

        try:
            self._progress.wait(
                f"check '{check.name}' in pod {pod.name}",
                probe,
                check.within_s,
                poll_s=1.0,
                max_poll_s=3.0,
            )
        except WaitTimeout as exc:
            raise StepFailed(f"check '{check.name}' in pod {pod.name}: {exc}") from exc

    # ----------------------------------------------------------------- expansion

    def _expand(self, scenario: Scenario, claim_name: str, recorder: ScenarioRecorder) -> None:
        expansion = scenario.expansion
        assert expansion is not None
        self._clients.core.patch_namespaced_persistent_volume_claim(
            claim_name,
            self._settings.namespace,
            {"spec": {"resources": {"requests": {"storage": expansion.size}}}},
        )
        volume = self._read_claim(claim_name).spec.volume_name

        def probe() -> Probe:
            pv = self._clients.core.read_persistent_volume(volume)
            capacity = str(pv.spec.capacity.get("storage"))
            done = _quantity_bytes(capacity) >= expansion.size_bytes
            events = describe_events(self._claim_events(claim_name))
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
            raise StepFailed(f"{exc}\n{self._controller_logs()}") from exc
        recorder.result.details["expanded_capacity"] = seen.state
        fs_id = self._clients.core.read_persistent_volume(volume).spec.csi.volume_handle
        description = self._guard.describe(fs_id)
        capacity = None if description is None else description.get("StorageCapacity")
        if capacity != expansion.expected_capacity_gib:
            raise StepFailed(
                f"file system {fs_id}: expected StorageCapacity {expansion.expected_capacity_gib} "
                f"GiB after growing the claim to {expansion.size}, seen {capacity}"
            )

    # ----------------------------------------------------------------- teardown

    def _teardown(self, recorder: ScenarioRecorder, cleanups: list[_Cleanup]) -> None:
        for cleanup in reversed(cleanups):
            started = time.monotonic()
            try:
                cleanup.action()
            except (StepFailed, StepError, WaitTimeout, ApiException) as exc:
                recorder.cleanup_failed(
                    f"teardown {cleanup.name}", str(exc), round(time.monotonic() - started, 3)
                )

    def _wait_gone(self, what: str, read: Callable[[], Any], timeout_s: float, hint: str) -> None:
        def probe() -> Probe:
            try:
                seen = read()
            except ApiException as exc:
                if exc.status == 404:
                    return Probe(True, "gone")
                raise
            finalizers = getattr(seen.metadata, "finalizers", None)
            phase = getattr(seen.status, "phase", None) if seen.status else None
            return Probe(False, f"still there (phase {phase}, finalizers {finalizers})")

        self._progress.wait(
            f"{what} to be deleted", probe, timeout_s, poll_s=0.3, max_poll_s=3.0, hint=hint
        )

    def _delete_pod(self, name: str) -> None:
        namespace = self._settings.namespace
        try:
            self._clients.core.delete_namespaced_pod(name, namespace, grace_period_seconds=1)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self._wait_gone(
            f"pod {name}",
            lambda: self._clients.core.read_namespaced_pod(name, namespace),
            120.0,
            "a pod stuck Terminating usually means the volume does not unmount: check the node "
            "plugin's NodeUnpublishVolume log",
        )

    def _delete_claim(self, name: str, scenario: Scenario) -> None:
        namespace = self._settings.namespace
        volume: str | None = None
        try:
            claim = self._read_claim(name)
            volume = claim.spec.volume_name
            self._clients.core.delete_namespaced_persistent_volume_claim(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self._wait_gone(
            f"claim {name}",
            lambda: self._read_claim(name),
            120.0,
            "a claim stuck with the pvc-protection finalizer is still used by a pod",
        )
        reclaim = scenario.storage_class.reclaim_policy if scenario.storage_class else "Retain"
        if scenario.provisioning != "dynamic" or not volume:
            return
        if reclaim == "Retain":
            # The harness removes what the Retain policy keeps: the PV and its file system.
            fs_id = self._clients.core.read_persistent_volume(volume).spec.csi.volume_handle
            self._delete_volume(volume)
            self._delete_file_system(fs_id)
            return
        fs_id = self._volume_handle(volume)
        self._wait_gone(
            f"PersistentVolume {volume}",
            lambda: self._clients.core.read_persistent_volume(volume),
            self._settings.file_system_delete_timeout_s,
            "the provisioner deletes the PV after DeleteVolume succeeds: check its log",
        )
        if fs_id:
            self._wait_file_system_gone(fs_id)

    def _volume_handle(self, volume: str) -> str | None:
        try:
            pv = self._clients.core.read_persistent_volume(volume)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return str(pv.spec.csi.volume_handle) if pv.spec.csi else None

    def _wait_file_system_gone(self, fs_id: str) -> None:
        try:
            self._guard.wait_gone(fs_id, self._settings.file_system_delete_timeout_s)
        except WaitTimeout as exc:
            raise StepFailed(
                f"the claim and its PersistentVolume are gone but file system {fs_id} is not: {exc}"
            ) from exc

    def _delete_volume(self, name: str) -> None:
        try:
            self._clients.core.delete_persistent_volume(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self._wait_gone(
            f"PersistentVolume {name}",
            lambda: self._clients.core.read_persistent_volume(name),
            120.0,
            "check the PV's finalizers",
        )

    def _delete_file_system(self, fs_id: str) -> None:
        try:
            self._fsx.delete_file_system(FileSystemId=fs_id)
        except self._fsx.exceptions.FileSystemNotFound:
            return
        self._wait_file_system_gone(fs_id)

    def _delete_storage_class(self, name: str) -> None:
        try:
            self._clients.storage.delete_storage_class(name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    # ----------------------------------------------------------------- logs for failures

    def _controller_logs(self) -> str:
        settings = self._settings
        return "\n".join(
            self._logs_of(namespace, selector, settings.controller_containers)
            for namespace, selector in settings.controller_pods
        )

    def _node_plugin_logs(self, node: str) -> str:
        settings = self._settings
        return "\n".join(
            self._logs_of(
                namespace,
                selector,
                settings.node_containers,
                field_selector=f"spec.nodeName={node}",
            )
            for namespace, selector in settings.node_pods
        )

    def _logs_of(
        self,
        namespace: str,
        label_selector: str,
        containers: Sequence[str] | None,
        field_selector: str | None = None,
    ) -> str:
        try:
            kwargs = {"label_selector": label_selector}
            if field_selector:
                kwargs["field_selector"] = field_selector
            pods = self._clients.core.list_namespaced_pod(namespace, **kwargs).items
        except ApiException as exc:
            return f"(cannot list pods {label_selector} in {namespace}: HTTP {exc.status})"
        if not pods:
            return (
                f"(no pods {label_selector} in {namespace}: with --driver installed, read the "
                "installed driver's logs)"
            )
        parts = []
        for pod in pods:
            names = containers or [c.name for c in pod.spec.containers]
            for container in names:
                text = pod_logs(
                    self._clients, namespace, pod.metadata.name, container, LOG_TAIL_LINES
                )
                parts.append(f"--- {pod.metadata.name}/{container}:\n{tail(text)}")
        return "\n".join(parts)

    # ----------------------------------------------------------------- leak sweep

    def sweep(self) -> list[LeakedResource]:
        """Delete what the run left: pods, claims, volumes, StorageClasses carrying the run's
        label (and PVs bound to its claims), then the file systems tagged with the run id, then
        the run's namespace. Each leftover is reported."""
        found: list[LeakedResource] = []
        namespace = self._settings.namespace
        selector = f"{RUN_ID_LABEL}={kube_name(self._settings.run_id)}"
        core, storage = self._clients.core, self._clients.storage

        def remove(kind: str, name: str, delete: Callable[[], object]) -> None:
            removed = True
            detail = "deleted by the sweep"
            try:
                delete()
            except ApiException as exc:
                if exc.status != 404:
                    removed, detail = (
                        False,
                        f"could not delete: HTTP {exc.status} {api_message(exc)}",
                    )
            found.append(LeakedResource(kind, name, detail, removed))

        for pod in core.list_namespaced_pod(namespace, label_selector=selector).items:
            name = pod.metadata.name
            remove(
                "Pod",
                f"{namespace}/{name}",
                partial(core.delete_namespaced_pod, name, namespace, grace_period_seconds=0),
            )
        for claim in core.list_namespaced_persistent_volume_claim(
            namespace, label_selector=selector
        ).items:
            name = claim.metadata.name
            if claim.spec.volume_name:
                self._bound_volumes.add(claim.spec.volume_name)
            remove(
                "PersistentVolumeClaim",
                f"{namespace}/{name}",
                partial(core.delete_namespaced_persistent_volume_claim, name, namespace),
            )
        for volume in core.list_persistent_volume().items:
            name = volume.metadata.name
            labelled = (volume.metadata.labels or {}).get(RUN_ID_LABEL) == kube_name(
                self._settings.run_id
            )
            claim_ref = volume.spec.claim_ref
            ours = (
                labelled
                or name in self._bound_volumes
                or (claim_ref is not None and claim_ref.namespace == namespace)
            )
            if ours:
                remove("PersistentVolume", name, partial(core.delete_persistent_volume, name))
        for storage_class in storage.list_storage_class(label_selector=selector).items:
            name = storage_class.metadata.name
            remove("StorageClass", name, partial(storage.delete_storage_class, name))
        found += self._guard.sweep(
            self._settings.run_id, self._settings.file_system_delete_timeout_s
        )
        try:
            core.delete_namespace(namespace)
        except ApiException as exc:
            if exc.status != 404:
                found.append(
                    LeakedResource(
                        "Namespace", namespace, f"could not delete: HTTP {exc.status}", False
                    )
                )
        return found


def _exit_code(pod: Any) -> int | None:
    for container in (pod.status.container_statuses or []) if pod.status else []:
        if container.name == APP_CONTAINER and container.state and container.state.terminated:
            return int(container.state.terminated.exit_code)
    return None
