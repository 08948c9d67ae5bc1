"""What an e2e run found, as plain dataclasses that the report bundle converts.

A run (`RunResult`) holds one `ScenarioResult` per scenario and the leak sweep's findings; a
scenario holds its steps (`StepResult`: provision, pod fsx-app, expand, teardown, ...), each with
an outcome, a duration and a message that says what was expected and what was seen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # an assertion did not hold: the driver (or the scenario) is wrong
    ERROR = "error"  # the harness could not do its part (a missing tool, a crash)
    SKIPPED = "skipped"  # not run, with the reason in the message


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


@dataclass(frozen=True)
class LeakedResource:
    """Something a run created and did not remove itself, found by the final sweep."""

    kind: str  # "file-system", "process", "mount", "directory", or a Kubernetes kind
    identifier: str
    detail: str
    removed: bool  # whether the sweep managed to remove it

    def describe(self) -> str:
        """The detail and what the sweep did about it, for a report line."""
        return f"{self.detail} ({'removed by the sweep' if self.removed else 'NOT removed'})"


@dataclass
class RunResult:
    run_id: str
    platform: str
    driver: str
    scenarios: list[ScenarioResult] = field(default_factory=list)
    leaks: list[LeakedResource] = field(default_factory=list)
    duration_s: float = 0.0
    # Environment facts for the report (emulator endpoint, driver version, pod isolation, ...).
    details: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every scenario passed and the sweep found nothing left behind."""
        return bool(self.scenarios) and all(s.passed for s in self.scenarios) and not self.leaks


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


def to_dict(result: RunResult) -> dict[str, object]:
    """Plain JSON-ready data (enums as their values), for the report bundle and files."""
    data: dict[str, object] = asdict(result)
    data["passed"] = result.passed
    return data


def write_results(result: RunResult, directory: Path) -> Path:
    """Write `e2e-results.json` into `directory`; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "e2e-results.json"
    path.write_text(json.dumps(to_dict(result), indent=2, default=str) + "\n")
    return path
