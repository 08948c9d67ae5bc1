"""`LocalOperations`: the scenario runner's operations on the local platform.

The harness is the Kubernetes side here: external-provisioner (CreateVolume / DeleteVolume),
external-resizer (ControllerExpandVolume, and ControllerModifyVolume as its modifier does for a
VolumeAttributesClass) and each node's kubelet (NodePublish /
NodeUnpublish), over CSI against the driver processes of a `DriverStack`; pods are processes
(`PodRunner`). Where Kubernetes would only report a state, this platform can check more, and
does: the volume context, the run tags on the file system, that a read-only publish is
read-only, that an unpublished target is no longer mounted, and the options the mount got (the
Lustre emulation's mount.lustre records them for every mount it makes).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import grpc

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
from e2e.platforms.local.pods import PodRunner, RunningPod
from e2e.progress import Probe, WaitTimeout
from e2e.results import ScenarioRecorder, ScenarioResult, StepFailed
from e2e.runner import CommandOutcome, MountOptions, Teardown, Undo, output_tail
from e2e.scenarios import PodSpec, Scenario, gib_ceil
from fsx_csi_harness import fsx, mountinfo
from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from fsx_emulator import lustre

NAMESPACE = "default"


@dataclass
class LocalPod:
    """A pod of this platform: the volume kubelet published for it and its process."""

    spec: PodSpec
    uid: str
    kubelet: Kubelet
    pv: PersistentVolume
    undo: Undo | None = None
    process: RunningPod | None = None


class LocalOperations:
    """One controller and the stack's node plugins, driven as the Kubernetes components
    would drive them. Node `node-N` is the N-th node plugin."""

    platform = "local"
    # An exec is a local process: try often.
    check_poll_s = (0.25, 1.0)

    def __init__(self, stack: DriverStack, pods: PodRunner, provision_timeout_s: float) -> None:
        self._stack = stack
        self._pods = pods
        self._progress = stack.progress
        self._timeout_s = provision_timeout_s
        assert stack.controller is not None
        self._provisioner = ExternalProvisioner(stack.controller.channel, stack.progress)
        self._resizer = ExternalResizer(stack.controller.channel, stack.progress)
        # external-resizer's modifier (VolumeAttributesClass): ControllerModifyVolume.
        self._modifier = csi_pb2_grpc.ControllerStub(stack.controller.channel)
        self._kubelets = {
            f"node-{i}": Kubelet(
                f"node-{i}", plugin.channel, stack.node_root(i), stack.driver_name,
                stack.progress,
            )
            for i, plugin in enumerate(stack.nodes)
        }  # fmt: skip
        # The volume of the scenario being run (scenarios run one at a time).
        self._pv: PersistentVolume | None = None

    def nodes_for(self, scenario: Scenario, recorder: ScenarioRecorder) -> list[str] | None:
        self._pv = None  # a new scenario
        if scenario.node_count <= len(self._kubelets):
            return list(self._kubelets)[: scenario.node_count]
        # Reported as the provision step failing, as this platform always has.
        with contextlib.suppress(StepFailed), recorder.step("provision"):
            raise StepFailed(
                f"scenario needs {scenario.node_count} nodes; the local platform has "
                f"{len(self._kubelets)}"
            )
        return None

    # ------------------------------------------------------------------ provisioning

    def provision(self, scenario: Scenario, result: ScenarioResult, teardown: Teardown) -> str:
        if scenario.provisioning == "static":
            self._pv = self._static_volume(scenario, result, teardown)
        else:
            self._pv = self._dynamic_volume(scenario, result, teardown)
        return f"volume {self._pv.volume_id}, {self._pv.capacity_bytes} bytes"

    def _dynamic_volume(
        self, scenario: Scenario, result: ScenarioResult, teardown: Teardown
    ) -> PersistentVolume:
        pv_name = new_volume_name()
        try:
            pv = self._create_volume(
                scenario,
                pv_name,
                self._timeout_s,
                state=lambda: self._stack.describe_state(pv_name),
            )
        except CsiCallFailed as exc:
            raise StepFailed(
                f"expected the claim to bind; CreateVolume {pv_name} failed with "
                f"{exc.code.name}: {exc.details}. Try: check the StorageClass parameters "
                f"and the controller log"
            ) from exc
        self._add_volume_removal(scenario, pv, teardown)
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
        described = self._stack.guard.describe(pv.volume_id)
        if described is None:
            raise StepFailed(
                f"CreateVolume returned volume id {pv.volume_id}, which DescribeFileSystems "
                "does not know; expected the file system id"
            )
        tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
        if tags.get(RUN_ID_TAG) != self._stack.config.run_id:
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
                scenario.storage_class.parameters, self._stack.config.run_id, scenario.name
            ),
            size_bytes=scenario.claim.size_bytes,
            access_modes=scenario.claim.access_modes,
            mount_options=scenario.mount_options,
            timeout_s=timeout_s,
            state=state,
        )

    def _static_volume(
        self, scenario: Scenario, result: ScenarioResult, teardown: Teardown
    ) -> PersistentVolume:
        spec = scenario.static_file_system
        assert spec is not None
        lustre: dict[str, object] = {"DeploymentType": spec.deployment_type}
        if spec.per_unit_storage_throughput is not None:
            lustre["PerUnitStorageThroughput"] = spec.per_unit_storage_throughput
        tags = run_tags(self._stack.config.run_id, scenario.name)
        response = self._stack.fsx.create_file_system(
            FileSystemType="LUSTRE",
            StorageCapacity=spec.storage_capacity_gib,
            SubnetIds=[spec.subnet_id],
            SecurityGroupIds=list(spec.security_group_ids),
            LustreConfiguration=lustre,  # type: ignore[arg-type]
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        fs_id = response["FileSystem"]["FileSystemId"]
        pv = PersistentVolume(
            name=f"{scenario.name}-pv",
            volume_id=fs_id,
            capacity_bytes=scenario.claim.size_bytes,
            access_modes=scenario.claim.access_modes,
            mount_options=spec.mount_options,
        )
        self._add_volume_removal(scenario, pv, teardown)
        result.details["volume_id"] = fs_id

        def probe() -> Probe:
            described = self._stack.guard.describe(fs_id)
            lifecycle = None if described is None else described.get("Lifecycle")
            return Probe(lifecycle == "AVAILABLE", f"Lifecycle {lifecycle}")

        self._progress.wait(f"static file system {fs_id} to be AVAILABLE", probe, self._timeout_s)
        described = self._stack.guard.describe(fs_id)
        assert described is not None
        return PersistentVolume(
            name=pv.name,
            volume_id=fs_id,
            capacity_bytes=pv.capacity_bytes,
            access_modes=pv.access_modes,
            mount_options=pv.mount_options,
            volume_context={
                "dnsname": described["DNSName"],
                "mountname": described["LustreConfiguration"]["MountName"],
            },
        )

    def expect_provisioning_failure(
        self, scenario: Scenario, result: ScenarioResult, teardown: Teardown
    ) -> str:
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
        created = self._stack.guard.matching(
            {RUN_ID_TAG: self._stack.config.run_id, SCENARIO_TAG: scenario.name}
        ) + self._stack.guard.matching({VOLUME_NAME_TAG: pv_name})
        if created and not expected.file_system_created:
            ids = sorted({fs["FileSystemId"] for fs in created})
            raise StepFailed(
                f"expected no file system for a rejected StorageClass; found {ids} "
                "(the sweep deletes them)"
            )
        return f"claim stays Pending: {event}"

    # ------------------------------------------------------------------ pods

    def start_pod(
        self, scenario: Scenario, pod: PodSpec, node: str, teardown: Teardown
    ) -> LocalPod:
        assert self._pv is not None
        kubelet = self._kubelets[node]
        local = LocalPod(pod, str(uuid.uuid4()), kubelet, self._pv)
        local.undo = teardown.add(
            Undo(f"cleanup pod {pod.name}", lambda: self._unpublish(local), step="delete pods")
        )
        try:
            target = kubelet.publish(local.uid, local.pv, read_only=pod.read_only)
        except CsiCallFailed as exc:
            # Nothing to unpublish, unless the driver mounted before it failed.
            if not mounts_under(kubelet.target_path(local.uid, local.pv)):
                teardown.discard(local.undo)
            raise StepFailed(
                f"expected pod {pod.name} to start on {node}; NodePublishVolume "
                f"failed with {exc.code.name}: {exc.details}"
            ) from exc
        if pod.read_only and not os.statvfs(target).f_flag & os.ST_RDONLY:
            raise StepFailed(
                f"pod {pod.name} mounts the claim read-only; NodePublishVolume(readonly=true) "
                f"left {target} writable"
            )
        local.process = self._pods.start(
            f"{scenario.name}-{pod.name}", int(node.removeprefix("node-")), pod.command, target,
            pod.read_only, scenario.variables, startup_timeout_s=pod.timeout_s,
        )  # fmt: skip
        return local

    def wait_pod_exit(self, pod: LocalPod, spec: PodSpec, node: str) -> CommandOutcome:
        assert pod.process is not None
        return self._pods.wait_exit(pod.process, spec.timeout_s)

    def pod_ended(self, pod: LocalPod, teardown: Teardown) -> None:
        # kubelet unpublishes the volume of a pod that ended.
        if pod.undo is not None:
            teardown.discard(pod.undo)
        self._unpublish(pod)

    def wait_pod_running(self, pod: LocalPod, spec: PodSpec, node: str) -> None:
        assert pod.process is not None
        if not self._pods.is_running(pod.process):
            output = self._pods.output(pod.process)
            raise StepFailed(
                f"expected pod {spec.name} to keep running; it exited. Output:\n"
                f"{output_tail(output)}"
            )

    def exec(self, pod: LocalPod, spec: PodSpec, command: str) -> CommandOutcome:
        assert pod.process is not None
        if not self._pods.is_running(pod.process):
            raise StepFailed(
                f"pod {spec.name} exited while a check ({command!r}) waited; output:\n"
                f"{output_tail(self._pods.output(pod.process))}"
            )
        return self._pods.exec(pod.process, command)

    def pod_failure(self, pod: LocalPod, spec: PodSpec, node: str, reason: str) -> StepFailed:
        return StepFailed(reason)  # the driver logs come with the scenario's details

    def mount_options(self, pod: LocalPod, spec: PodSpec, node: str) -> MountOptions:
        """From the emulation's record of the `mount -t lustre` of this volume at the pod's
        target (or, for a driver that stages, at its staging path, which the target binds):
        only a mount the helper made and that is still there counts."""
        root = self._stack.emulation_root
        if root is None:
            return MountOptions(
                None,
                "the harness did not start this driver and knows no Lustre emulation root to "
                "read the records of its mounts from (pass --set emulation-root=DIR)",
            )
        target = pod.kubelet.target_path(pod.uid, pod.pv)
        entries = mountinfo.read()
        for path in (target, pod.kubelet.staging_path(pod.pv)):
            record = lustre.read_mount_record(root, path)
            if (
                record is not None
                and record.file_system_id == pod.pv.volume_id
                and mountinfo.mount_at(entries, str(path)) is not None
            ):
                return MountOptions(
                    record.options,
                    f"the Lustre emulation's record of mount -t lustre {record.source} {path}",
                )
        mounted = mountinfo.mount_at(entries, str(target))
        there = "nothing" if mounted is None else f"{mounted.fs_type} {mounted.source}"
        return MountOptions(
            (),
            f"no mount -t lustre of {pod.pv.volume_id} at {target} in the Lustre emulation's "
            f"records; mounted there: {there}",
        )

    def _unpublish(self, pod: LocalPod) -> None:
        if pod.process is not None:
            self._pods.stop(pod.process)
        target = pod.kubelet.target_path(pod.uid, pod.pv)
        pod.kubelet.unpublish(pod.uid, pod.pv)
        left = mounts_under(target)
        if left:
            raise StepFailed(
                f"NodeUnpublishVolume on {pod.kubelet.node_name} succeeded but {target} "
                f"is still mounted ({left[0].source})"
            )

    # ------------------------------------------------------------------ expansion

    def expand(self, scenario: Scenario, result: ScenarioResult) -> str:
        expansion = scenario.expansion
        pv = self._pv
        assert expansion is not None and pv is not None
        expected_bytes = expansion.expected_capacity_gib * fsx.GIB
        try:
            capacity, node_expansion = self._resizer.expand(
                pv, expansion.size_bytes, self._timeout_s
            )
        except CsiCallFailed as exc:
            raise StepFailed(
                f"expected ControllerExpandVolume to grow {pv.volume_id} to "
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
            described = self._stack.guard.describe(pv.volume_id)
            seen = None if described is None else described.get("StorageCapacity")
            lifecycle = None if described is None else described.get("Lifecycle")
            return Probe(
                seen == expansion.expected_capacity_gib,
                f"StorageCapacity {seen} GiB, Lifecycle {lifecycle}",
            )

        self._progress.wait(
            f"file system {pv.volume_id} to report {expansion.expected_capacity_gib} GiB",
            probe,
            self._timeout_s,
        )
        result.details["expanded_capacity_gib"] = str(expansion.expected_capacity_gib)
        return f"{gib_ceil(expansion.size_bytes)} GiB requested -> {capacity // fsx.GIB} GiB"

    # ------------------------------------------------------------------ modification

    def modify(self, scenario: Scenario, result: ScenarioResult, teardown: Teardown) -> str:
        """As external-resizer's modifier does for a PVC whose volumeAttributesClassName
        changes: ControllerModifyVolume with the class's parameters; then FSx must show them."""
        modification = scenario.modification
        pv = self._pv
        assert modification is not None and pv is not None
        request = csi_pb2.ControllerModifyVolumeRequest(
            volume_id=pv.volume_id, mutable_parameters=dict(modification.parameters)
        )
        try:
            self._modifier.ControllerModifyVolume(request, timeout=self._timeout_s)
        except grpc.RpcError as exc:
            raise StepFailed(
                f"expected ControllerModifyVolume (VolumeAttributesClass "
                f"{modification.volume_attributes_class}) to change {pv.volume_id}; it failed "
                f"with {exc.code().name}: {exc.details()}"
            ) from exc
        expected = dict(modification.expected_lustre_configuration)

        def probe() -> Probe:
            described = self._stack.guard.describe(pv.volume_id) or {}
            lustre = described.get("LustreConfiguration") or {}
            seen = {key: str(lustre.get(key)) for key in expected}
            lifecycle = described.get("Lifecycle")
            return Probe(
                seen == expected and lifecycle == "AVAILABLE",
                f"LustreConfiguration {seen}, Lifecycle {lifecycle}",
            )

        seen = self._progress.wait(
            f"file system {pv.volume_id} to show {expected}", probe, self._timeout_s
        )
        result.details["modified"] = ", ".join(f"{k}={v}" for k, v in expected.items())
        return f"VolumeAttributesClass {modification.volume_attributes_class}: {seen.state}"

    # ------------------------------------------------------------------ teardown

    def _add_volume_removal(
        self, scenario: Scenario, pv: PersistentVolume, teardown: Teardown
    ) -> None:
        teardown.add(
            Undo(
                "cleanup volume",
                lambda: self._delete_volume(scenario, pv.volume_id),
                step="delete volume",
                failure_prefix=f"{pv.volume_id}: ",
            )
        )

    def _delete_volume(self, scenario: Scenario, fs_id: str) -> str:
        """As reclaim would: DeleteVolume for a dynamic volume with reclaim policy Delete;
        the FSx API for what the harness keeps or made itself (Retain, a static PV)."""
        reclaim = scenario.storage_class.reclaim_policy if scenario.storage_class else "Retain"
        if scenario.provisioning == "dynamic" and reclaim == "Delete":
            try:
                self._provisioner.delete_volume(fs_id, self._timeout_s)
            except CsiCallFailed as exc:
                raise StepFailed(
                    f"expected DeleteVolume {fs_id} to succeed; {exc.code.name}: {exc.details}"
                ) from exc
        else:
            self._stack.fsx.delete_file_system(FileSystemId=fs_id)
        try:
            self._stack.guard.wait_gone(fs_id, self._timeout_s)
        except WaitTimeout as exc:
            raise StepFailed(f"expected the file system to be gone after deletion: {exc}") from exc
        return f"file system {fs_id} is gone"

    def add_failure_details(self, result: ScenarioResult) -> None:
        """A failed scenario carries the tail of every driver log (the report shows them)."""
        for plugin in (self._stack.controller, *self._stack.nodes):
            if plugin is not None:
                result.details[f"log {plugin.name}"] = log_tail(plugin.log, 40)
