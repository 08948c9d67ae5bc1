"""One scenario, step by step, the same on every platform: the sequence is written here once.

`ScenarioRunner.run` takes a scenario through its steps and verdicts:

1. `provision`: the claim and its volume (a StorageClass, or a static file system and its PV),
   bound; or, for a scenario that expects provisioning to fail, the failure it must see;
2. `pod NAME` for every pod before the expansion: `exit` pods run to completion and their
   exit code and output are checked; `running` pods keep running while their checks are
   retried inside them (like `kubectl exec`) until each passes or its `within_s` runs out,
   after the options their volume was mounted with are checked against `mounted_with`;
3. `expand`, then the pods marked `after_expansion`;
3b. `modify` (the volume takes a VolumeAttributesClass's parameters), then the pods marked
   `after_modification`;
4. the teardown, in reverse order of creation; what fails there is a step of its own.

What differs between platforms sits under it, in a `ScenarioOperations`: on `local` the
harness plays external-provisioner and kubelet over CSI and pods are processes; on kind,
cluster and k3s everything goes through the Kubernetes API. An operation that creates
something registers how to undo it on the scenario's `Teardown`, so the runner tears down
exactly what was made, also after a failure or Ctrl-C.

The runner imports only the scenario model, the results and the progress waits: platforms
use it, it knows no platform.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, Generic, Protocol, TypeVar

from e2e.progress import Probe, Progress, WaitTimeout
from e2e.results import ScenarioRecorder, ScenarioResult, StepFailed, StepResult
from e2e.scenarios import ExecCheck, OutputExpectation, PodSpec, Scenario

PodT = TypeVar("PodT")


@dataclass(frozen=True)
class CommandOutcome:
    """What a pod's command, or a command run inside a pod, returned."""

    exit_code: int | None  # None: it did not finish in time
    output: str  # stdout and stderr together


@dataclass(frozen=True)
class MountOptions:
    """The options the node's mount of a pod's volume got, as a platform read them."""

    # None: this platform cannot read them (`source` says why).
    options: tuple[str, ...] | None
    # Where they were read (the emulation's record of which mount, the pod's mount table).
    source: str


@dataclass
class Undo:
    """One thing a scenario made, and how to remove it."""

    # The step recorded when the removal fails ("teardown Pod fsx-app", "cleanup volume").
    name: str
    # Removes it; may return a sentence for the step message ("file system fs-1 is gone").
    action: Callable[[], str | None]
    # The step it belongs to when the scenario got this far without a failure ("delete
    # pods"); None: removed without a step of its own, only a failure is recorded.
    step: str | None = None
    # Put before the failure's message (say, the volume id the failure is about).
    failure_prefix: str = ""


@dataclass
class Teardown:
    """What a scenario made so far, removed in reverse order."""

    entries: list[Undo] = field(default_factory=list)

    def add(self, undo: Undo) -> Undo:
        self.entries.append(undo)
        return undo

    def discard(self, undo: Undo) -> None:
        """Forget `undo`: the operation removed the thing itself (a finished local pod)."""
        if undo in self.entries:
            self.entries.remove(undo)

    def pop(self) -> Undo:
        return self.entries.pop()


class ScenarioOperations(Protocol[PodT]):
    """What a platform does for the runner. Each method says what it must leave behind;
    a failed expectation raises StepFailed (the driver or the scenario is wrong), anything
    else is an error of the harness. `PodT` is the platform's handle of a started pod."""

    @property
    def platform(self) -> str:
        """The platform's name, for the results."""
        ...

    @property
    def check_poll_s(self) -> tuple[float, float]:
        """First and longest interval between two tries of a check (an exec costs more on a
        cluster than on this machine)."""
        ...

    def nodes_for(self, scenario: Scenario, recorder: ScenarioRecorder) -> list[str] | None:
        """The node of each of the scenario's node indexes; None when the scenario cannot
        run here (the verdict, skipped or failed, is recorded on `recorder`)."""
        ...

    def provision(self, scenario: Scenario, result: ScenarioResult, teardown: Teardown) -> str:
        """The claim and its volume, bound; facts go into `result.details`. Returns the
        step message."""
        ...

    def expect_provisioning_failure(
        self, scenario: Scenario, result: ScenarioResult, teardown: Teardown
    ) -> str:
        """The claim must not bind: the failure names what the scenario expects, and no file
        system is left unless it expects one. Returns the step message."""
        ...

    def start_pod(self, scenario: Scenario, pod: PodSpec, node: str, teardown: Teardown) -> PodT:
        """The pod on `node` with the claim at /data, started."""
        ...

    def wait_pod_exit(self, pod: PodT, spec: PodSpec, node: str) -> CommandOutcome:
        """The exit code and output of an `exit` pod once it finished."""
        ...

    def pod_ended(self, pod: PodT, teardown: Teardown) -> None:
        """An `exit` pod passed: what the platform does when a pod ends (on local, kubelet's
        NodeUnpublishVolume; on a cluster nothing until the teardown deletes the pod)."""
        ...

    def wait_pod_running(self, pod: PodT, spec: PodSpec, node: str) -> None:
        """A `running` pod is up (and did not exit)."""
        ...

    def exec(self, pod: PodT, spec: PodSpec, command: str) -> CommandOutcome:
        """`sh -c command` inside the running pod; StepFailed when the pod is gone."""
        ...

    def mount_options(self, pod: PodT, spec: PodSpec, node: str) -> MountOptions:
        """The options the node's mount of the running pod's volume got (for the pod's
        `mounted_with`); StepFailed when the volume has no mount the driver made for it."""
        ...

    def pod_failure(self, pod: PodT, spec: PodSpec, node: str, reason: str) -> StepFailed:
        """The failure of a pod's verdict, with what the platform can add (events, logs)."""
        ...

    def expand(self, scenario: Scenario, result: ScenarioResult) -> str:
        """Grow the claim to the scenario's size: the volume and the file system must reach
        the size FSx rounds it to. Returns the step message."""
        ...

    def modify(self, scenario: Scenario, result: ScenarioResult, teardown: Teardown) -> str:
        """Apply the scenario's VolumeAttributesClass parameters to the bound volume: the file
        system must then show the expected LustreConfiguration. Returns the step message."""
        ...

    def add_failure_details(self, result: ScenarioResult) -> None:
        """A scenario failed: add what helps to read it (say, the driver logs)."""
        ...


def expectation_problems(
    outcome: CommandOutcome, exit_code: int, output: OutputExpectation
) -> list[str]:
    """Where a command's outcome differs from the expected exit code and output, in words."""
    problems = []
    if outcome.exit_code is None:
        problems.append("did not finish in time")
    elif outcome.exit_code != exit_code:
        problems.append(f"expected exit code {exit_code}, seen {outcome.exit_code}")
    problems.extend(output.failures(outcome.output))
    return problems


def output_tail(text: str, lines: int = 15) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(kept) if kept else "(no output)"


# The errors of what a scenario talks to: the FSx API (botocore), the Kubernetes API (its
# client, urllib3), sockets. Recognised by module, so that the runner imports no platform.
_SERVICE_ERRORS: Final = {
    "botocore.exceptions": "the FSx API",
    "kubernetes.client.exceptions": "the Kubernetes API",
    "urllib3.exceptions": "an HTTP connection",
}


def service_failure(exc: BaseException) -> StepFailed | None:
    """A step that failed because a service did not answer as it should (an FSx error, an
    endpoint that went away, an API server error) as a failed step with what happened and
    what to try; None for anything else (a bug of the harness stays an error)."""
    service = next(
        (
            _SERVICE_ERRORS[cls.__module__]
            for cls in type(exc).__mro__
            if cls.__module__ in _SERVICE_ERRORS
        ),
        "a connection" if isinstance(exc, (ConnectionError, TimeoutError)) else None,
    )
    if service is None:
        return None
    return StepFailed(
        f"{service} failed: {type(exc).__name__}: {exc}; expected it to answer; try: check "
        "that the endpoint is still reachable (on a cluster, a port-forward ends when the pod "
        "behind it is replaced) and read the driver's and the emulator's logs"
    )


class ScenarioRunner(Generic[PodT]):
    """Runs scenarios one at a time over a platform's operations."""

    def __init__(self, operations: ScenarioOperations[PodT], progress: Progress) -> None:
        self._ops = operations
        self._progress = progress

    def run(self, scenario: Scenario) -> ScenarioResult:
        """Every step, then the teardown; a failure stops the steps, never the teardown."""
        recorder = ScenarioRecorder(scenario.name, self._ops.platform)
        nodes = self._ops.nodes_for(scenario, recorder)
        if nodes is None:
            return recorder.finish()
        teardown = Teardown()
        try:
            self._steps(scenario, nodes, recorder, teardown)
            self._tear_down(recorder, teardown)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a verdict, then cleanup
            # Step failures are recorded on their step; anything else is a harness error.
            if recorder.result.passed:
                recorder.cleanup_failed("harness", f"{type(exc).__name__}: {exc}", 0.0)
            self._clean_up(recorder, teardown)
        except KeyboardInterrupt:
            self._clean_up(recorder, teardown)
            raise
        result = recorder.finish()
        if not result.passed:
            self._ops.add_failure_details(result)
        return result

    @contextmanager
    def _step(self, recorder: ScenarioRecorder, name: str) -> Iterator[StepResult]:
        """A recorded step whose service errors (see `service_failure`) fail it with a
        message instead of ending the scenario as a harness error."""
        with recorder.step(name) as step:
            try:
                yield step
            except Exception as exc:
                failure = service_failure(exc)
                if failure is None:
                    raise
                raise failure from exc

    def _steps(
        self,
        scenario: Scenario,
        nodes: Sequence[str],
        recorder: ScenarioRecorder,
        teardown: Teardown,
    ) -> None:
        with self._step(recorder, "provision") as step:
            if scenario.expected_failure is not None:
                step.message = self._ops.expect_provisioning_failure(
                    scenario, recorder.result, teardown
                )
                return
            step.message = self._ops.provision(scenario, recorder.result, teardown)
        for pod in scenario.pods_before_expansion():
            with self._step(recorder, f"pod {pod.name}") as step:
                step.message = self._run_pod(scenario, pod, nodes[pod.node], teardown)
        if scenario.expansion is not None:
            with self._step(recorder, "expand") as step:
                step.message = self._ops.expand(scenario, recorder.result)
            for pod in scenario.pods_after_expansion():
                with self._step(recorder, f"pod {pod.name}") as step:
                    step.message = self._run_pod(scenario, pod, nodes[pod.node], teardown)
        if scenario.modification is not None:
            with self._step(recorder, "modify") as step:
                step.message = self._ops.modify(scenario, recorder.result, teardown)
            for pod in scenario.pods_after_modification():
                with self._step(recorder, f"pod {pod.name}") as step:
                    step.message = self._run_pod(scenario, pod, nodes[pod.node], teardown)

    def _run_pod(self, scenario: Scenario, pod: PodSpec, node: str, teardown: Teardown) -> str:
        handle = self._ops.start_pod(scenario, pod, node, teardown)
        if pod.lifecycle == "exit":
            outcome = self._ops.wait_pod_exit(handle, pod, node)
            problems = expectation_problems(outcome, pod.exit_code, pod.output)
            if problems:
                raise self._ops.pod_failure(
                    handle,
                    pod,
                    node,
                    f"pod {pod.name} on {node}: {'; '.join(problems)}. Output:\n"
                    f"{output_tail(outcome.output)}",
                )
            self._ops.pod_ended(handle, teardown)
            return f"exit {outcome.exit_code} on {node}"
        self._ops.wait_pod_running(handle, pod, node)
        # Before the checks: a dropped option explains a check that fails because of it.
        mounted = self._check_mount_options(handle, pod, node) if pod.mounted_with else ""
        for check in pod.checks:
            self._run_check(handle, pod, check)
        return f"running on {node}; {mounted}{len(pod.checks)} check(s) passed"

    def _check_mount_options(self, handle: PodT, pod: PodSpec, node: str) -> str:
        """The one check of `mounted_with` (every option there, as written, among those the
        mount got), for every platform; the part of the step message it adds."""
        seen = self._ops.mount_options(handle, pod, node)
        expected = list(pod.mounted_with)
        if seen.options is None:
            return f"mount options {expected} NOT checked: {seen.source}; "
        missing = [option for option in expected if option not in seen.options]
        if missing:
            raise self._ops.pod_failure(
                handle,
                pod,
                node,
                f"pod {pod.name} on {node}: expected its volume mounted with {expected}, seen "
                f"{list(seen.options)} ({seen.source}); missing {missing}: the driver did not "
                "pass the mount options (StorageClass mountOptions, or the PV's) to the mount",
            )
        return f"mounted with {expected} ({seen.source}); "

    def _run_check(self, handle: PodT, pod: PodSpec, check: ExecCheck) -> None:
        last: list[CommandOutcome] = []

        def probe() -> Probe:
            outcome = self._ops.exec(handle, pod, check.command)
            last[:] = [outcome]
            problems = expectation_problems(outcome, check.exit_code, check.output)
            return Probe(not problems, "; ".join(problems) or "passed")

        first_poll_s, max_poll_s = self._ops.check_poll_s
        try:
            self._progress.wait(
                f"check {check.name!r} in pod {pod.name}",
                probe,
                check.within_s,
                poll_s=first_poll_s,
                max_poll_s=max_poll_s,
            )
        except WaitTimeout as exc:
            seen = output_tail(last[0].output) if last else "(never ran)"
            raise StepFailed(f"{exc}. Last output of {check.command!r}:\n{seen}") from exc

    def _tear_down(self, recorder: ScenarioRecorder, teardown: Teardown) -> None:
        """After steps that all passed: removals that belong to a step run as that step (a
        failure there stops this, and `_clean_up` does the rest); the others run one by one,
        each failure recorded."""
        while teardown.entries:
            step_name = teardown.entries[-1].step
            if step_name is None:
                self._undo(recorder, teardown.pop())
                continue
            with self._step(recorder, step_name) as step:
                messages = []
                while teardown.entries and teardown.entries[-1].step == step_name:
                    message = teardown.pop().action()
                    if message:
                        messages.append(message)
                step.message = "; ".join(messages)

    def _clean_up(self, recorder: ScenarioRecorder, teardown: Teardown) -> None:
        """After a failure: remove what is left, each failure recorded (the run's final sweep
        tries again)."""
        while teardown.entries:
            self._undo(recorder, teardown.pop())

    def _undo(self, recorder: ScenarioRecorder, undo: Undo) -> None:
        started = time.monotonic()
        try:
            undo.action()
        except Exception as exc:  # noqa: BLE001 - record, keep removing the rest
            recorder.cleanup_failed(
                undo.name, f"{undo.failure_prefix}{exc}", round(time.monotonic() - started, 3)
            )
