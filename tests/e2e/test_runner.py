"""The scenario runner's sequence, verdicts and teardown, over recording operations.

The platforms' own tests (test_local_platform.py for real, test_kube_platforms.py against the
fake API) prove the operations; these prove what the runner does with them: the order of the
steps, a check retried until it passes or its time runs out, the teardown in reverse order
(as steps on the way that passed, as cleanups after a failure), and that a failed removal is
recorded without stopping the others.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest

from e2e.progress import Progress
from e2e.results import Outcome, ScenarioRecorder, ScenarioResult, StepFailed
from e2e.runner import CommandOutcome, MountOptions, ScenarioRunner, Teardown, Undo
from e2e.scenarios import PodSpec, Scenario, load_scenarios


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RecordingOperations:
    """Answers like a healthy platform unless told otherwise; records every call."""

    platform: str = "test"
    check_poll_s: tuple[float, float] = (0.5, 1.0)
    calls: list[str] = field(default_factory=list)
    # Check outputs in order; the last one repeats.
    exec_outputs: list[str] = field(default_factory=lambda: ["hello from FSx\n" * 2])
    pod_output: str = "hello from FSx\nhello from FSx\n"
    failing_removals: set[str] = field(default_factory=set)
    removal_steps: bool = True
    # What the platform reads as the options of a running pod's mount.
    mounted: MountOptions = field(
        default_factory=lambda: MountOptions(("rw", "flock"), "the record of the mount")
    )

    def _removal(self, what: str) -> str:
        self.calls.append(f"remove {what}")
        if what in self.failing_removals:
            raise RuntimeError(f"{what} would not go")
        return f"{what} gone"

    def nodes_for(self, scenario: Scenario, recorder: ScenarioRecorder) -> list[str] | None:
        return [f"n{i}" for i in range(scenario.node_count)]

    def provision(self, scenario: Scenario, result: ScenarioResult, teardown: Teardown) -> str:
        self.calls.append("provision")
        teardown.add(
            Undo(
                "cleanup volume",
                lambda: self._removal("volume"),
                step="delete volume" if self.removal_steps else None,
            )
        )
        return "bound"

    def expect_provisioning_failure(
        self, scenario: Scenario, result: ScenarioResult, teardown: Teardown
    ) -> str:
        self.calls.append("expect failure")
        return "rejected"

    def start_pod(self, scenario: Scenario, pod: PodSpec, node: str, teardown: Teardown) -> str:
        self.calls.append(f"start {pod.name} on {node}")
        teardown.add(
            Undo(
                f"cleanup pod {pod.name}",
                lambda: self._removal(pod.name),
                step="delete pods" if self.removal_steps else None,
            )
        )
        return pod.name

    def wait_pod_exit(self, pod: str, spec: PodSpec, node: str) -> CommandOutcome:
        return CommandOutcome(0, self.pod_output)

    def pod_ended(self, pod: str, teardown: Teardown) -> None:
        self.calls.append(f"ended {pod}")

    def wait_pod_running(self, pod: str, spec: PodSpec, node: str) -> None:
        self.calls.append(f"running {pod}")

    def exec(self, pod: str, spec: PodSpec, command: str) -> CommandOutcome:
        self.calls.append(f"exec {pod}")
        output = self.exec_outputs.pop(0) if len(self.exec_outputs) > 1 else self.exec_outputs[0]
        return CommandOutcome(0, output)

    def mount_options(self, pod: str, spec: PodSpec, node: str) -> MountOptions:
        self.calls.append(f"mount options of {pod}")
        return self.mounted

    def pod_failure(self, pod: str, spec: PodSpec, node: str, reason: str) -> StepFailed:
        return StepFailed(f"{reason}\n(events of {pod})")

    def expand(self, scenario: Scenario, result: ScenarioResult) -> str:
        self.calls.append("expand")
        return "grown"

    def modify(self, scenario: Scenario, result: ScenarioResult, teardown: Teardown) -> str:
        self.calls.append("modify")
        return "modified"

    def add_failure_details(self, result: ScenarioResult) -> None:
        result.details["driver log"] = "the tail"


def scenario(name: str) -> Scenario:
    (found,) = [s for s in load_scenarios() if s.name == name]
    return found


def run(operations: RecordingOperations, name: str) -> ScenarioResult:
    clock = VirtualClock()
    progress = Progress(stream=io.StringIO(), clock=clock.clock, sleep=clock.sleep)
    return ScenarioRunner(operations, progress).run(scenario(name))


def test_steps_in_order_then_the_teardown_as_steps_in_reverse() -> None:
    operations = RecordingOperations(exec_outputs=["hello from FSx\n", "hello from FSx\n" * 2])

    result = run(operations, "dynamic")

    assert result.outcome is Outcome.PASSED, result.message
    assert [s.name for s in result.steps] == [
        "provision",
        "pod fsx-app",
        "pod fsx-app-other-node",
        "delete pods",
        "delete volume",
    ]
    assert operations.calls == [
        "provision",
        "start fsx-app on n0",
        "running fsx-app",
        "exec fsx-app",  # one line: retried
        "exec fsx-app",
        "start fsx-app-other-node on n1",
        "ended fsx-app-other-node",
        "remove fsx-app-other-node",
        "remove fsx-app",
        "remove volume",
    ]
    steps = {s.name: s.message for s in result.steps}
    assert steps["pod fsx-app"] == "running on n0; 1 check(s) passed"
    assert steps["pod fsx-app-other-node"] == "exit 0 on n1"
    assert steps["delete volume"] == "volume gone"
    assert "driver log" not in result.details


def test_expansion_runs_between_the_pods_before_and_after_it() -> None:
    operations = RecordingOperations(pod_output="hello from FSx before expansion\n")

    result = run(operations, "expansion")

    assert result.outcome is Outcome.PASSED, result.message
    names = [s.name for s in result.steps]
    assert names.index("expand") == names.index("pod after-expansion") - 1
    assert operations.calls.index("expand") < operations.calls.index("start after-expansion on n1")


def test_modification_runs_between_the_pods_before_and_after_it() -> None:
    operations = RecordingOperations(pod_output="hello from FSx before the modification\n")

    result = run(operations, "modify-volume")

    assert result.outcome is Outcome.PASSED, result.message
    names = [s.name for s in result.steps]
    assert names[:4] == ["provision", "pod before-modification", "modify", "pod after-modification"]
    assert "expand" not in operations.calls
    assert operations.calls.index("modify") < operations.calls.index(
        "start after-modification on n1"
    )


def test_a_check_that_never_passes_fails_with_its_last_output_and_everything_is_removed() -> None:
    operations = RecordingOperations(exec_outputs=["only one line\n"])

    result = run(operations, "dynamic")

    assert result.outcome is Outcome.FAILED
    assert result.message.startswith("pod fsx-app: timed out after")
    assert "Last output of 'cat /data/out.txt':\nonly one line" in result.message
    # After a failure the removals are cleanups, not steps; the other pod never started.
    assert [s.name for s in result.steps] == ["provision", "pod fsx-app"]
    assert operations.calls[-2:] == ["remove fsx-app", "remove volume"]
    assert result.details["driver log"] == "the tail"


def test_an_exit_pod_with_the_wrong_output_fails_through_the_platforms_pod_failure() -> None:
    operations = RecordingOperations(pod_output="goodbye\n")

    result = run(operations, "dynamic")

    step = next(s for s in result.steps if s.name == "pod fsx-app-other-node")
    assert step.outcome is Outcome.FAILED
    assert step.message.startswith("pod fsx-app-other-node on n1: expected")
    assert "Output:\ngoodbye" in step.message and "(events of fsx-app-other-node)" in step.message
    assert "ended fsx-app-other-node" not in operations.calls


def test_a_removal_without_a_step_that_fails_is_recorded_and_the_rest_still_go() -> None:
    operations = RecordingOperations(removal_steps=False, failing_removals={"fsx-app"})

    result = run(operations, "dynamic")

    assert result.outcome is Outcome.ERROR
    assert [s.name for s in result.steps][-1] == "cleanup pod fsx-app"
    assert result.message == "cleanup pod fsx-app: fsx-app would not go"
    assert operations.calls[-3:] == ["remove fsx-app-other-node", "remove fsx-app", "remove volume"]


def test_a_failing_teardown_step_leaves_the_rest_to_the_cleanup() -> None:
    operations = RecordingOperations(failing_removals={"fsx-app-other-node"})

    result = run(operations, "dynamic")

    assert [(s.name, s.outcome) for s in result.steps][-1] == ("delete pods", Outcome.ERROR)
    assert operations.calls[-3:] == ["remove fsx-app-other-node", "remove fsx-app", "remove volume"]


def test_an_expected_provisioning_failure_runs_no_pod() -> None:
    operations = RecordingOperations()

    result = run(operations, "invalid-parameters")

    assert result.outcome is Outcome.PASSED, result.message
    assert [(s.name, s.message) for s in result.steps] == [("provision", "rejected")]
    assert operations.calls == ["expect failure"]


def test_ctrl_c_still_removes_what_was_made() -> None:
    class Interrupted(RecordingOperations):
        def expand(self, scenario: Scenario, result: ScenarioResult) -> str:
            raise KeyboardInterrupt

    operations = Interrupted(pod_output="hello from FSx before expansion\n")

    with pytest.raises(KeyboardInterrupt):
        run(operations, "expansion")
    assert operations.calls[-2:] == ["remove before-expansion", "remove volume"]


# -- mounted_with: the options the node's mount got -------------------------------------------


def locking(mounted: MountOptions) -> RecordingOperations:
    """Operations that answer the mount-options scenario's pods as a healthy platform does."""
    return RecordingOperations(
        exec_outputs=["lock held\n"], pod_output="flock exit=1\n", mounted=mounted
    )


def test_mount_options_are_read_once_the_pod_runs_and_before_its_checks() -> None:
    operations = locking(MountOptions(("rw", "flock"), "the record of the mount"))

    result = run(operations, "mount-options")

    assert result.outcome is Outcome.PASSED, result.message
    assert operations.calls[1:4] == [
        "start lock-holder on n0",
        "running lock-holder",
        "mount options of lock-holder",
    ]
    assert operations.calls[4] == "exec lock-holder"
    # Only the pod that asks for it: the contender has no mounted_with.
    assert operations.calls.count("mount options of lock-holder") == 1
    assert sum(call.startswith("mount options") for call in operations.calls) == 1
    holder = next(s for s in result.steps if s.name == "pod lock-holder")
    assert holder.message == (
        "running on n0; mounted with ['flock'] (the record of the mount); 1 check(s) passed"
    )


def test_a_dropped_mount_option_fails_the_pod_saying_expected_and_seen() -> None:
    operations = locking(MountOptions(("rw",), "the record of mount -t lustre x@tcp:/m /t"))

    result = run(operations, "mount-options")

    assert result.outcome is Outcome.FAILED
    holder = next(s for s in result.steps if s.name == "pod lock-holder")
    assert holder.outcome is Outcome.FAILED
    assert holder.message.startswith(
        "pod lock-holder on n0: expected its volume mounted with ['flock'], seen ['rw'] "
        "(the record of mount -t lustre x@tcp:/m /t); missing ['flock']"
    ), holder.message
    assert holder.message.endswith("(events of lock-holder)")  # the platform's pod_failure
    # No check ran on a mount without the option, no later pod started; all is removed.
    assert "exec lock-holder" not in operations.calls
    assert not any(call.startswith("start lock-contender") for call in operations.calls)
    assert operations.calls[-2:] == ["remove lock-holder", "remove volume"]


def test_options_a_platform_cannot_read_are_not_checked_and_say_why() -> None:
    operations = locking(MountOptions(None, "no emulation root known"))

    result = run(operations, "mount-options")

    assert result.outcome is Outcome.PASSED, result.message
    holder = next(s for s in result.steps if s.name == "pod lock-holder")
    assert holder.message == (
        "running on n0; mount options ['flock'] NOT checked: no emulation root known; "
        "1 check(s) passed"
    )
