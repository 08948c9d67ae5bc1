"""One scenario on the local cluster: provision, pods, expansion, teardown, with verdicts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from e2e.leaks import RUN_ID_TAG, SCENARIO_TAG, VOLUME_NAME_TAG, mounts_under, run_tags
from e2e.leaks import with_run_tags as tagged_parameters
from e2e.platforms.local.csi_roles import (
    CsiCallFailed,
    ExternalProvisioner,
    ExternalResizer,
    Kubelet,
    PersistentVolume,
    new_volume_name,
)
from e2e.platforms.local.driver_stack import DriverStack, log_tail
from e2e.platforms.local.pods import CommandResult, PodRunner, RunningPod
from e2e.progress import Probe, WaitTimeout
from e2e.results import ScenarioRecorder, ScenarioResult, StepFailed
from e2e.scenarios import ExecCheck, OutputExpectation, PodSpec, Scenario, gib_ceil
from fsx_csi_harness import fsx

NAMESPACE = "default"


@dataclass
class _Mounted:
    pod: RunningPod | None
    spec: PodSpec
    uid: str
    kubelet: Kubelet


@dataclass
class _State:
    pv: PersistentVolume | None = None
    static_fs_id: str | None = None
    volume_deleted: bool = False
    mounted: list[_Mounted] = field(default_factory=list)


def _tail(text: str, lines: int = 15) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(kept) if kept else "(no output)"


class LocalScenarioRunner:
    def __init__(
        self,
        cluster: DriverStack,
        pods: PodRunner,
        provision_timeout_s: float,
        platform: str = "local",
    ) -> None:
        self._cluster = cluster
        self._pods = pods
        self._progress = cluster.progress
        self._timeout_s = provision_timeout_s
        self._platform = platform
        assert cluster.controller is not None
        self._provisioner = ExternalProvisioner(cluster.controller.channel, cluster.progress)
        self._resizer = ExternalResizer(cluster.controller.channel, cluster.progress)
        self._kubelets = [
            Kubelet(
                f"node-{i}", plugin.channel, cluster.node_root(i), cluster.driver_name,
                cluster.progress,
            )
            for i, plugin in enumerate(cluster.nodes)
        ]  # fmt: skip

    def run(self, scenario: Scenario) -> ScenarioResult:
        recorder = ScenarioRecorder(scenario.name, self._platform)
        state = _State()
        self._progress.info(f"scenario {scenario.name}: {scenario.description.split('. ')[0]}")
        try:
            with recorder.step("provision") as step:
                if scenario.node_count > len(self._kubelets):
                    raise StepFailed(
                        f"scenario needs {scenario.node_count} nodes; the local platform has "
                        f"{len(self._kubelets)}"
                    )
                if scenario.expected_failure is not None:
                    step.message = self._provision_must_fail(scenario, recorder.result)
                else:
                    state.pv = self._provision(scenario, state, recorder.result)
                    step.message = f"volume {state.pv.volume_id}, {state.pv.capacity_bytes} bytes"
            if state.pv is not None:  # None after an expected provisioning failure
                self._use_and_delete(scenario, state, recorder)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a verdict, then cleanup
            # Step failures are recorded on their step; anything else is a harness error.
            if recorder.result.passed:
                recorder.cleanup_failed("harness", f"{type(exc).__name__}: {exc}", 0.0)
        except KeyboardInterrupt:
            self._cleanup(scenario, state, recorder)
            raise
        self._cleanup(scenario, state, recorder)
        result = recorder.finish()
        if not result.passed:
            self._attach_logs(result)
        return result

    def _use_and_delete(
        self, scenario: Scenario, state: _State, recorder: ScenarioRecorder
    ) -> None:
        for pod in scenario.pods_before_expansion():
            with recorder.step(f"pod {pod.name}") as step:
                step.message = self._run_pod(scenario, pod, state)
        if scenario.expansion is not None:
            with recorder.step("expand") as step:
                step.message = self._expand(scenario, state, recorder.result)
            for pod in scenario.pods_after_expansion():
                with recorder.step(f"pod {pod.name}") as step:
                    step.message = self._run_pod(scenario, pod, state)
        with recorder.step("delete pods"):
            self._delete_pods(state)
        with recorder.step("delete volume") as step:
            step.message = self._delete_volume(scenario, state)

    # ------------------------------------------------------------------ provisioning

    def _provision(
        self, scenario: Scenario, state: _State, result: ScenarioResult
    ) -> PersistentVolume:
        if scenario.provisioning == "static":
            return self._static_volume(scenario, state, result)
        pv_name = new_volume_name()
        try:
            pv = self._create_volume(
                scenario,
                pv_name,
                self._timeout_s,
                state=lambda: self._cluster.describe_state(pv_name),
            )
        except CsiCallFailed as exc:
            raise StepFailed(
                f"expected the claim to bind; CreateVolume {pv_name} failed with "
                f"{exc.code.name}: {exc.details}. Try: check the StorageClass parameters "
                f"and the controller log"
            ) from exc
        state.pv = pv
        result.details["volume_id"] = pv.volume_id
        if pv.capacity_bytes < scenario.claim.size_bytes:
            raise StepFailed(
                f"expected a capacity of at least {scenario.claim.size} "
                f"({scenario.claim.size_bytes} bytes); CreateVolume returned {pv.capacity_bytes}"
            )
        missing = [k for k in ("dnsname", "mountname") if not pv.volume_context.get(k)]
        if missing:
            raise StepFailed(
                f"expected volume_context with dnsname and mountname; missing {missing} in "
                f"{dict(pv.volume_context)}"
            )
        described = self._cluster.guard.describe(pv.volume_id)
        if described is None:
            raise StepFailed(
                f"CreateVolume returned volume id {pv.volume_id}, which DescribeFileSystems "
                "does not know; expected the file system id"
            )
        tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
        if tags.get(RUN_ID_TAG) != self._cluster.config.run_id:
            raise StepFailed(
                f"expected the StorageClass extraTags ({RUN_ID_TAG}) on file system "
                f"{pv.volume_id}; its tags are {tags}. The leak guard depends on them"
            )
        result.details["capacity_gib"] = str(described.get("StorageCapacity"))
        return pv

    def _create_volume(
        self,
        scenario: Scenario,
        pv_name: str,
        timeout_s: float,
        state: Callable[[], str] | None = None,
    ) -> PersistentVolume:
        """CreateVolume as the external provisioner issues it for the scenario's claim."""
        assert scenario.storage_class is not None
        return self._provisioner.create_volume(
            pv_name=pv_name,
            claim_name=f"{scenario.name}-claim",
            namespace=NAMESPACE,
            parameters=tagged_parameters(
                scenario.storage_class.parameters, self._cluster.config.run_id, scenario.name
            ),
            size_bytes=scenario.claim.size_bytes,
            access_modes=scenario.claim.access_modes,
            mount_options=scenario.mount_options,
            timeout_s=timeout_s,
            state=state,
        )

    def _static_volume(
        self, scenario: Scenario, state: _State, result: ScenarioResult
    ) -> PersistentVolume:
        spec = scenario.static_file_system
        assert spec is not None
        lustre: dict[str, object] = {"DeploymentType": spec.deployment_type}
        if spec.per_unit_storage_throughput is not None:
            lustre["PerUnitStorageThroughput"] = spec.per_unit_storage_throughput
        tags = run_tags(self._cluster.config.run_id, scenario.name)
        response = self._cluster.fsx.create_file_system(
            FileSystemType="LUSTRE",
            StorageCapacity=spec.storage_capacity_gib,
            SubnetIds=[spec.subnet_id],
            SecurityGroupIds=list(spec.security_group_ids),
            LustreConfiguration=lustre,  # type: ignore[arg-type]
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        fs_id = response["FileSystem"]["FileSystemId"]
        state.static_fs_id = fs_id
        result.details["volume_id"] = fs_id

        def probe() -> Probe:
            described = self._cluster.guard.describe(fs_id)
            lifecycle = None if described is None else described.get("Lifecycle")
            return Probe(lifecycle == "AVAILABLE", f"Lifecycle {lifecycle}")

        self._progress.wait(f"static file system {fs_id} to be AVAILABLE", probe, self._timeout_s)
        described = self._cluster.guard.describe(fs_id)
        assert described is not None
        return PersistentVolume(
            name=f"{scenario.name}-pv",
            volume_id=fs_id,
            capacity_bytes=scenario.claim.size_bytes,
            access_modes=scenario.claim.access_modes,
            mount_options=spec.mount_options,
            volume_context={
                "dnsname": described["DNSName"],
                "mountname": described["LustreConfiguration"]["MountName"],
            },
        )

    def _provision_must_fail(self, scenario: Scenario, result: ScenarioResult) -> str:
        expected = scenario.expected_failure
        assert expected is not None and scenario.storage_class is not None
        pv_name = new_volume_name()
        errors = []
        # The provisioner retries a failed claim (it stays Pending): a retry must fail alike
        # and create nothing either.
        for _attempt in range(2):
            try:
                pv = self._create_volume(scenario, pv_name, min(self._timeout_s, 60.0))
            except CsiCallFailed as exc:
                errors.append(exc)
                continue
            self._provisioner.delete_volume(pv.volume_id, self._timeout_s)
            raise StepFailed(
                f"expected CreateVolume to fail naming {list(expected.message_contains)}; it "
                f"succeeded with volume {pv.volume_id} (deleted again)"
            )
        event = f"{errors[0].code.name}: {errors[0].details}"
        result.details["provisioning_error"] = event
        missing = expected.missing_from(errors[0].details)
        if missing:
            raise StepFailed(
                f"expected the provisioning error to name {missing}; the driver said {event}"
            )
        created = self._cluster.guard.matching(
            {RUN_ID_TAG: self._cluster.config.run_id, SCENARIO_TAG: scenario.name}
        ) + self._cluster.guard.matching({VOLUME_NAME_TAG: pv_name})
        if created and not expected.file_system_created:
            ids = sorted({fs["FileSystemId"] for fs in created})
            raise StepFailed(
                f"expected no file system for a rejected StorageClass; found {ids} "
                "(the sweep deletes them)"
            )
        return f"claim stays Pending: {event}"

    # ------------------------------------------------------------------ pods

    def _run_pod(self, scenario: Scenario, pod: PodSpec, state: _State) -> str:
        assert state.pv is not None
        kubelet = self._kubelets[pod.node]
        uid = str(uuid.uuid4())
        mounted = _Mounted(None, pod, uid, kubelet)
        state.mounted.append(mounted)
        try:
            target = kubelet.publish(uid, state.pv, read_only=pod.read_only)
        except CsiCallFailed as exc:
            state.mounted.remove(mounted)  # nothing to unpublish... but kubelet would retry
            mounted_anyway = mounts_under(kubelet.target_path(uid, state.pv))
            if mounted_anyway:
                state.mounted.append(mounted)
            raise StepFailed(
                f"expected pod {pod.name} to start on node-{pod.node}; NodePublishVolume "
                f"failed with {exc.code.name}: {exc.details}"
            ) from exc
        if pod.read_only and not os.statvfs(target).f_flag & os.ST_RDONLY:
            raise StepFailed(
                f"pod {pod.name} mounts the claim read-only; NodePublishVolume(readonly=true) "
                f"left {target} writable"
            )
        mounted.pod = self._pods.start(
            f"{scenario.name}-{pod.name}", pod.node, pod.command, target, pod.read_only,
            scenario.variables, startup_timeout_s=pod.timeout_s,
        )  # fmt: skip
        if pod.lifecycle == "exit":
            outcome = self._pods.wait_exit(mounted.pod, pod.timeout_s)
            self._verify(f"pod {pod.name}", outcome, pod.exit_code, pod.output)
            self._unpublish(mounted, state)
            return f"exit {outcome.exit_code} on node-{pod.node}"
        if not self._pods.is_running(mounted.pod):
            output = self._pods.output(mounted.pod)
            raise StepFailed(
                f"expected pod {pod.name} to keep running; it exited. Output:\n{_tail(output)}"
            )
        for check in pod.checks:
            self._run_check(pod, mounted.pod, check)
        return f"running on node-{pod.node}; {len(pod.checks)} check(s) passed"

    def _run_check(self, pod: PodSpec, running: RunningPod, check: ExecCheck) -> None:
        last: list[CommandResult] = []

        def probe() -> Probe:
            if not self._pods.is_running(running):
                raise StepFailed(
                    f"pod {pod.name} exited while check {check.name!r} waited; output:\n"
                    f"{_tail(self._pods.output(running))}"
                )
            outcome = self._pods.exec(running, check.command)
            last[:] = [outcome]
            problems = _problems(outcome, check.exit_code, check.output)
            return Probe(not problems, "; ".join(problems) or "passed")

        try:
            self._progress.wait(
                f"check {check.name!r} in pod {pod.name}", probe, check.within_s,
                poll_s=0.25, max_poll_s=1.0,
            )  # fmt: skip
        except WaitTimeout as exc:
            seen = _tail(last[0].output) if last else "(never ran)"
            raise StepFailed(f"{exc}. Last output of {check.command!r}:\n{seen}") from exc

    def _verify(
        self, what: str, outcome: CommandResult, exit_code: int, output: OutputExpectation
    ) -> None:
        problems = _problems(outcome, exit_code, output)
        if problems:
            raise StepFailed(f"{what}: {'; '.join(problems)}. Output:\n{_tail(outcome.output)}")

    def _unpublish(self, mounted: _Mounted, state: _State) -> None:
        assert state.pv is not None
        if mounted.pod is not None:
            self._pods.stop(mounted.pod)
        target = mounted.kubelet.target_path(mounted.uid, state.pv)
        state.mounted.remove(mounted)
        mounted.kubelet.unpublish(mounted.uid, state.pv)
        left = mounts_under(target)
        if left:
            raise StepFailed(
                f"NodeUnpublishVolume on {mounted.kubelet.node_name} succeeded but {target} "
                f"is still mounted ({left[0].source})"
            )

    def _delete_pods(self, state: _State) -> None:
        for mounted in list(reversed(state.mounted)):
            self._unpublish(mounted, state)

    # ------------------------------------------------------------------ expansion

    def _expand(self, scenario: Scenario, state: _State, result: ScenarioResult) -> str:
        expansion = scenario.expansion
        assert expansion is not None and state.pv is not None
        expected_bytes = expansion.expected_capacity_gib * fsx.GIB
        try:
            capacity, node_expansion = self._resizer.expand(
                state.pv, expansion.size_bytes, self._timeout_s
            )
        except CsiCallFailed as exc:
            raise StepFailed(
                f"expected ControllerExpandVolume to grow {state.pv.volume_id} to "
                f"{expansion.expected_capacity_gib} GiB; it failed with {exc.code.name}: "
                f"{exc.details}"
            ) from exc
        if capacity != expected_bytes:
            raise StepFailed(
                f"expected ControllerExpandVolume to return {expected_bytes} bytes "
                f"({expansion.expected_capacity_gib} GiB, the next valid size above "
                f"{gib_ceil(expansion.size_bytes)} GiB); it returned {capacity}"
            )
        if node_expansion:
            raise StepFailed(
                "ControllerExpandVolume asked for node expansion; FSx for Lustre grows on the "
                "server side and the node plugin has no NodeExpandVolume"
            )

        def probe() -> Probe:
            described = self._cluster.guard.describe(state.pv.volume_id) if state.pv else None
            seen = None if described is None else described.get("StorageCapacity")
            lifecycle = None if described is None else described.get("Lifecycle")
            return Probe(
                seen == expansion.expected_capacity_gib,
                f"StorageCapacity {seen} GiB, Lifecycle {lifecycle}",
            )

        self._progress.wait(
            f"file system {state.pv.volume_id} to report {expansion.expected_capacity_gib} GiB",
            probe,
            self._timeout_s,
        )
        result.details["expanded_capacity_gib"] = str(expansion.expected_capacity_gib)
        return f"{gib_ceil(expansion.size_bytes)} GiB requested -> {capacity // fsx.GIB} GiB"

    # ------------------------------------------------------------------ teardown

    def _delete_volume(self, scenario: Scenario, state: _State) -> str:
        assert state.pv is not None
        fs_id = state.pv.volume_id
        if scenario.provisioning == "dynamic":
            assert scenario.storage_class is not None
            if scenario.storage_class.reclaim_policy == "Retain":
                self._cluster.fsx.delete_file_system(FileSystemId=fs_id)
            else:
                try:
                    self._provisioner.delete_volume(fs_id, self._timeout_s)
                except CsiCallFailed as exc:
                    raise StepFailed(
                        f"expected DeleteVolume {fs_id} to succeed; {exc.code.name}: {exc.details}"
                    ) from exc
        else:
            # A static PV is the administrator's: the harness deletes what it created.
            self._cluster.fsx.delete_file_system(FileSystemId=fs_id)
            state.static_fs_id = None
        state.volume_deleted = True
        try:
            self._cluster.guard.wait_gone(fs_id, self._timeout_s)
        except WaitTimeout as exc:
            raise StepFailed(f"expected the file system to be gone after deletion: {exc}") from exc
        return f"file system {fs_id} is gone"

    def _cleanup(self, scenario: Scenario, state: _State, recorder: ScenarioRecorder) -> None:
        """After a failure: unpublish, delete the volume; what fails here is a cleanup error."""
        for mounted in list(reversed(state.mounted)):
            try:
                self._unpublish(mounted, state)
            except Exception as exc:  # noqa: BLE001 - record, keep cleaning
                recorder.cleanup_failed(f"cleanup pod {mounted.spec.name}", str(exc), 0.0)
        volume_id = state.static_fs_id or (
            state.pv.volume_id if state.pv and not state.volume_deleted else None
        )
        if volume_id is None:
            return
        try:
            if state.static_fs_id is None:
                self._provisioner.delete_volume(volume_id, self._timeout_s)
            else:
                self._cluster.fsx.delete_file_system(FileSystemId=volume_id)
            self._cluster.guard.wait_gone(volume_id, self._timeout_s)
        except Exception as exc:  # noqa: BLE001 - the final sweep will try again
            recorder.cleanup_failed("cleanup volume", f"{volume_id}: {exc}", 0.0)

    def _attach_logs(self, result: ScenarioResult) -> None:
        """A failed scenario carries the tail of every driver log (the report shows them)."""
        for plugin in (self._cluster.controller, *self._cluster.nodes):
            if plugin is not None:
                result.details[f"log {plugin.name}"] = log_tail(plugin.log, 40)


def _problems(outcome: CommandResult, exit_code: int, output: OutputExpectation) -> list[str]:
    problems = []
    if outcome.exit_code is None:
        problems.append("did not finish in time")
    elif outcome.exit_code != exit_code:
        problems.append(f"expected exit code {exit_code}, seen {outcome.exit_code}")
    problems.extend(output.failures(outcome.output))
    return problems
