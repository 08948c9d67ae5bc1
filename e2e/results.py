"""What an e2e run found, built on the shared result model (fsx_csi_harness.results).

A run (`RunResult`) holds one `ScenarioResult` per scenario and the leak sweep's findings; a
scenario holds its steps (`StepResult`: provision, pod fsx-app, expand, teardown, ...), each with
an outcome, a duration and a message that says what was expected and what was seen. The
platforms' runners build these while they run; at the end `RunResult.to_suite()` turns the run
into the shared `SuiteResult` (one test per scenario, then one per step), which is what
`e2e-results.json` holds and what `fsx-csi qualify` reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fsx_csi_harness.results import (
    UNKNOWN,
    DriverInfo,
    Leak,
    Outcome,
    SuiteResult,
    TestResult,
    read_suite_file,
    write_suite_file,
)

__all__ = [
    "RESULTS_FILE",
    "SUITE",
    "Leak",
    "Outcome",
    "RunResult",
    "ScenarioRecorder",
    "ScenarioResult",
    "StepError",
    "StepFailed",
    "StepResult",
    "read_results",
    "write_results",
]

SUITE = "e2e"
RESULTS_FILE = "e2e-results.json"


@dataclass
class StepResult:
    name: str
    outcome: Outcome
    duration_s: float
    message: str = ""


@dataclass
class ScenarioResult:
    name: str
    platform: str
    outcome: Outcome = Outcome.PASSED
    duration_s: float = 0.0
    message: str = ""
    steps: list[StepResult] = field(default_factory=list)
    # Facts worth a report line: file system id, capacities, timings of waits, ...
    details: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED


@dataclass
class RunResult:
    run_id: str
    platform: str
    driver: str
    scenarios: list[ScenarioResult] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)
    duration_s: float = 0.0
    # Environment facts for the report (emulator endpoint, driver version, pod isolation, ...).
    details: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every scenario passed and the sweep found nothing left behind."""
        return bool(self.scenarios) and all(s.passed for s in self.scenarios) and not self.leaks

    def to_suite(self) -> SuiteResult:
        """The run as the shared model: a test per scenario, then one per step of it."""
        tests: list[TestResult] = []
        for scenario in self.scenarios:
            tests.append(
                TestResult(
                    name=scenario.name,
                    outcome=scenario.outcome,
                    duration_s=scenario.duration_s,
                    message=scenario.message or None,
                    classname="scenario",
                    details=dict(scenario.details),
                )
            )
            tests.extend(
                TestResult(
                    name=f"{scenario.name}: {step.name}",
                    outcome=step.outcome,
                    duration_s=step.duration_s,
                    message=step.message or None,
                    classname=f"step.{scenario.name}",
                )
                for step in scenario.steps
            )
        message: str | None = None
        if not self.scenarios:
            outcome, message = Outcome.ERROR, "the run recorded no scenario"
        elif any(test.outcome.is_failure for test in tests):
            outcome = Outcome.FAILED
        elif self.leaks:
            outcome = Outcome.FAILED
            message = f"the leak sweep found {len(self.leaks)} resource(s) left behind"
        else:
            outcome = Outcome.PASSED
        # The local platform asks the driver (GetPluginInfo); the Kubernetes ones read what the
        # driver registered on the nodes and its image (e2e/platforms/kube/identity.py).
        driver = DriverInfo(
            self.details.get("driver_name") or UNKNOWN,
            self.details.get("driver_version") or UNKNOWN,
        )
        if outcome is Outcome.PASSED and not driver.known:
            # Passing scenarios vouch for no driver when nobody knows which one answered.
            outcome = Outcome.NOT_RUN
            message = "the run did not record which driver it exercised: " + (
                self.details.get("driver_identity") or "no identity was read"
            )
        return SuiteResult(
            name=SUITE,
            outcome=outcome,
            duration_s=self.duration_s,
            message=message,
            tests=tests,
            driver=driver,
            leaks=list(self.leaks),
            details={
                "run_id": self.run_id,
                "platform": self.platform,
                "driver_source": self.driver,
                **self.details,
            },
        )


class StepFailed(Exception):
    """An assertion of a step did not hold; the message says expected and seen."""


class StepError(Exception):
    """The harness could not carry out a step (not a verdict on the driver)."""


class ScenarioRecorder:
    """Times the steps of one scenario and turns exceptions into step outcomes.

    Usage: `with recorder.step("provision"): ...`; a StepFailed marks the step (and scenario)
    failed, any other exception marks it error; both are re-raised so the scenario stops and
    its teardown runs. Steps after a failure are not recorded as passed by accident.
    """

    def __init__(self, scenario: str, platform: str) -> None:
        self.result = ScenarioResult(name=scenario, platform=platform)
        self._started = time.monotonic()

    @contextmanager
    def step(self, name: str) -> Iterator[StepResult]:
        started = time.monotonic()
        step = StepResult(name=name, outcome=Outcome.PASSED, duration_s=0.0)
        self.result.steps.append(step)
        try:
            yield step
        except StepFailed as exc:
            self._mark(step, Outcome.FAILED, str(exc))
            raise
        except BaseException as exc:
            message = str(exc) or type(exc).__name__
            self._mark(step, Outcome.ERROR, f"{type(exc).__name__}: {message}")
            raise
        finally:
            step.duration_s = round(time.monotonic() - started, 3)

    def _mark(self, step: StepResult, outcome: Outcome, message: str) -> None:
        step.outcome = outcome
        step.message = message
        if self.result.outcome is Outcome.PASSED:
            self.result.outcome = outcome
            self.result.message = f"{step.name}: {message}"

    def cleanup_failed(self, name: str, message: str, duration_s: float) -> None:
        """A teardown step failed after the scenario body ended (always an error)."""
        step = StepResult(name=name, outcome=Outcome.ERROR, duration_s=duration_s)
        self.result.steps.append(step)
        self._mark(step, Outcome.ERROR, message)

    def finish(self) -> ScenarioResult:
        self.result.duration_s = round(time.monotonic() - self._started, 3)
        return self.result


def write_results(result: RunResult, directory: Path) -> Path:
    """Write `e2e-results.json` (the shared suite result) into `directory`; returns its path."""
    return write_suite_file(result.to_suite(), directory / RESULTS_FILE)


def read_results(directory: Path) -> SuiteResult:
    """Read the `e2e-results.json` that `write_results` wrote into `directory`."""
    return read_suite_file(directory / RESULTS_FILE)
