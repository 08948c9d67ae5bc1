"""The fork server starts xdist workers as forks of one process that imported the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sanity.fork_launcher import SERVER_VARIABLE
from sanity.forkserver import LAUNCHER
from tests.sanity.conftest import PROJECT_ROOT
from tests.sanity.faulty_driver import FaultyDriver
from tests.sanity.test_bad_input import fsx_csi_sanity

# What xdist's popen gateway runs, reduced to what the test needs to see: who the parent
# is, whether the suite is already imported, the environment, and the exit status.
WORKER_CODE = (
    "import os, sys; print(os.getppid(), 'sanity.context' in sys.modules, "
    "os.environ.get('PROBE', '-'), sys.stdin.readline().strip()); sys.exit(3)"
)


@pytest.fixture
def server(workdir: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    path = str(workdir / "fork.sock")
    process = subprocess.Popen(
        [sys.executable, "-m", "sanity.forkserver", path],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    yield path, process
    assert process.stdin is not None
    process.stdin.close()  # the server stops when its stdin closes
    assert process.wait(timeout=10) == 0


def launch(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-S", str(LAUNCHER), "-u", "-c", WORKER_CODE],
        input="hello from the controller\n",
        capture_output=True,
        text=True,
        env=environment,
        timeout=30,
        check=False,
    )


def test_a_worker_is_a_fork_of_the_server_with_the_launchers_streams_and_environment(
    server: tuple[str, subprocess.Popen[str]],
) -> None:
    path, process = server
    result = launch({**os.environ, SERVER_VARIABLE: path, "PROBE": "from-the-launcher"})
    assert result.returncode == 3, result.stderr
    parent, preloaded, probe, line = result.stdout.split(maxsplit=3)
    assert int(parent) == process.pid  # forked by the server, not a new interpreter
    assert preloaded == "True"  # the suite was imported once, before the fork
    assert probe == "from-the-launcher"
    assert line.strip() == "hello from the controller"


def test_without_a_server_the_launcher_becomes_the_worker_itself() -> None:
    environment = {k: v for k, v in os.environ.items() if k != SERVER_VARIABLE}
    result = launch({**environment, "PROBE": "x"})
    assert result.returncode == 3, result.stderr
    parent, preloaded, probe, _ = result.stdout.split(maxsplit=3)
    assert int(parent) == os.getpid() and preloaded == "False" and probe == "x"


def test_forked_and_spawned_workers_give_the_same_verdicts(
    serve: Callable[..., FaultyDriver], endpoint: str, workdir: Path
) -> None:
    serve(["list_snapshots_ignores_max_entries"])
    runs = {}
    for mode in ("fork", "spawn"):
        report = workdir / f"{mode}.json"
        result = fsx_csi_sanity(
            f"--csi.endpoint={endpoint}",
            f"--csi.mountdir={workdir}/mnt",
            f"--csi.stagingdir={workdir}/stage",
            f"--json-report={report}",
            "-n",
            "3",
            *(["--spawn-workers"] if mode == "spawn" else []),
        )
        assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
        assert "fork server did not start" not in result.stderr
        runs[mode] = report.read_text()
    verdicts = {
        mode: {t["name"]: t["outcome"] for t in json.loads(text)["tests"]}
        for mode, text in runs.items()
    }
    assert verdicts["fork"] == verdicts["spawn"]
    assert list(verdicts["fork"].values()).count("failed") == 1
