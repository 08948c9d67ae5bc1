"""A pytest plugin for benchmarks/sanity_bench.py: when each process started, configured,
and ran each case (wall-clock stamps), appended as JSON lines to $SANITY_BENCH_TIMELINE.

Loaded with `-p sanity_timeline` (benchmarks/ on PYTHONPATH) in the benchmark's runs only;
the stamps show where a parallel run's time goes: process start-up, collection, the cases,
and the gaps between them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TIMELINE_VARIABLE = "SANITY_BENCH_TIMELINE"


def _process_started_at() -> float:
    """Wall-clock time this process was started (Linux /proc), for start-up cost."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(
        float(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _write(record: dict[str, object]) -> None:
    path = os.environ.get(TIMELINE_VARIABLE)
    if path:
        with Path(path).open("a", encoding="utf-8") as stream:  # one short line: atomic append
            stream.write(json.dumps(record) + "\n")


def _worker(config: pytest.Config) -> str:
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


def pytest_configure(config: pytest.Config) -> None:
    _write(
        {
            "event": "configured",
            "worker": _worker(config),
            "process_started": _process_started_at(),
            "at": time.time(),
        }
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    _write({"event": "collected", "worker": _worker(session.config), "at": time.time()})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    started = time.time()
    yield
    _write(
        {
            "event": "case",
            "worker": _worker(item.config),
            "case": item.nodeid,
            "start": started,
            "end": time.time(),
        }
    )
