"""Fixtures for testing the sanity suite: a faulty driver on a socket, and a suite runner."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fsx_csi_harness import results
from sanity.cli import plugin_arguments
from tests.sanity.faulty_driver import FaultyDriver

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SuiteRun:
    returncode: int
    stdout: str
    stderr: str
    # The JSON result as written: the shared SuiteResult (fsx_csi_harness.results), which
    # run_suite also parses with the model's own reader, so every run checks the format.
    result: dict[str, Any]
    seconds: float

    def outcomes(self) -> dict[str, str]:
        """Outcome by pytest node id (a sanity case's name in the result)."""
        return {test["name"]: test["outcome"] for test in self.result.get("tests", [])}

    def count(self, outcome: str) -> int:
        return sum(1 for value in self.outcomes().values() if value == outcome)


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Unix socket paths must stay under 108 bytes; pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="csi-sanity-test-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def endpoint(workdir: Path) -> str:
    return f"unix://{workdir}/csi.sock"


@pytest.fixture
def serve(endpoint: str) -> Iterator[Callable[..., FaultyDriver]]:
    """serve(faults=..., **kwargs) starts a FaultyDriver on `endpoint` until the test ends."""
    stack: list[Any] = []

    def start(faults: Sequence[str] = (), **kwargs: Any) -> FaultyDriver:
        driver = FaultyDriver(frozenset(faults), **kwargs)
        context = driver.serve(endpoint)
        context.__enter__()
        stack.append(context)
        return driver

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


def run_suite(
    endpoint: str,
    workdir: Path,
    *,
    targets: Sequence[str] = ("sanity",),
    extra: Sequence[str] = (),
    timeout: float = 240,
) -> SuiteRun:
    """Run the sanity suite (the given modules of it) in a fresh pytest process."""
    report = workdir / f"result-{time.monotonic_ns()}.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        *targets,
        *plugin_arguments(),
        "-p",
        "no:cacheprovider",
        "-q",
        f"--csi.endpoint={endpoint}",
        f"--csi.mountdir={workdir}/mnt",
        f"--csi.stagingdir={workdir}/stage",
        f"--csi.jsonreport={report}",
        *extra,
    ]
    started = time.monotonic()
    completed = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.monotonic() - started
    result = json.loads(report.read_text()) if report.exists() else {}
    if result:
        results.from_json(result)  # raises, naming the key, if sanity wrote another format
    return SuiteRun(completed.returncode, completed.stdout, completed.stderr, result, seconds)
