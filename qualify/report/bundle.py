"""Writing and reading report bundles.

A run writes into `reports/<run-id>.partial/` from its first second on (summary.json is
checkpointed after every suite, marked `complete: false`), and only a run that finished is
renamed to `reports/<run-id>/`. So a directory without the `.partial` suffix always holds a
complete bundle, and a run that was interrupted or crashed leaves its partial results where a
user can read them, plainly marked incomplete in summary.json, index.html and `report show`.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from fsx_csi_harness import run_ids
from qualify.report.html import render_html
from qualify.report.junit import render_junit
from qualify.report.model import (
    Environment,
    Summary,
    SummaryFormatError,
    Throughput,
    Verdict,
    from_json,
    to_json,
)

PARTIAL_SUFFIX = ".partial"
SUMMARY_FILE = "summary.json"
JUNIT_FILE = "junit.xml"
HTML_FILE = "index.html"
RAW_DIR = "raw"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def new_run_id(clock: Clock = utc_now) -> str:
    """A report bundle's run id (fsx_csi_harness.run_ids: the one generator)."""
    return run_ids.new_run_id(clock)


def describe_environment(fio: str, harness_version: str) -> Environment:
    return Environment(
        host=socket.gethostname(),
        kernel=f"{platform.system()} {platform.release()}",
        python=f"{platform.python_implementation()} {platform.python_version()}",
        harness_version=harness_version,
        cpus=os.cpu_count() or 1,
        fio=fio,
    )


def write_atomically(path: Path, content: str | bytes) -> None:
    """Readers never see a half-written file: write a sibling, then rename over."""
    temporary = path.with_name(f".{path.name}.tmp")
    data = content.encode() if isinstance(content, str) else content
    temporary.write_bytes(data)
    temporary.replace(path)


class BundleExistsError(FileExistsError):
    pass


class BundleWriter:
    """Owns one bundle directory for the length of a run.

    Use as a context manager: leaving the block normally requires `finish()` to have been
    called (otherwise the run is recorded as incomplete); leaving it with an exception,
    Ctrl-C included, records the cause and keeps the `.partial` directory.
    """

    def __init__(self, reports_dir: Path, summary: Summary, clock: Clock = utc_now) -> None:
        self._reports_dir = reports_dir
        self.summary = summary
        self._clock = clock
        self._final = reports_dir / summary.run_id
        self.path = reports_dir / f"{summary.run_id}{PARTIAL_SUFFIX}"
        self._closed = False
        if self._final.exists() or self.path.exists():
            raise BundleExistsError(
                f"report bundle for run {summary.run_id} already exists in {reports_dir}; "
                "run ids must be unique: omit --run-id to get a fresh one"
            )
        (self.path / RAW_DIR).mkdir(parents=True)
        self.checkpoint()

    @property
    def raw_dir(self) -> Path:
        return self.path / RAW_DIR

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    def record_throughput(self, throughput: Throughput, fio: str) -> None:
        """The throughput suite's section (it keeps filling it in) and its engine label."""
        self.summary.throughput = throughput
        self.summary.environment.fio = fio

    def write_raw(self, relative: str, content: str | bytes) -> str:
        """Store a tool's output under raw/; returns its bundle-relative path."""
        target = self.raw_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, content)
        return f"{RAW_DIR}/{relative}"

    def checkpoint(self) -> None:
        """Write what is known so far, still marked incomplete."""
        self.summary.complete = False
        self.summary.verdict = Verdict.INCOMPLETE
        self._write_files()

    def finish(self) -> Path:
        """Mark the run complete, decide the verdict, and publish the bundle."""
        self.summary.finished = iso(self._clock())
        self.summary.complete = True
        self.summary.verdict = self.summary.decide_verdict()
        self._write_files()
        self.path.replace(self._final)
        self.path = self._final
        self._closed = True
        return self.path

    def abandon(self, reason: str) -> Path:
        """Record why the run stopped and leave the bundle as `.partial`."""
        self.summary.finished = iso(self._clock())
        self.summary.notes.append(f"incomplete: {reason}")
        self.checkpoint()
        self._closed = True
        return self.path

    def _write_files(self) -> None:
        write_atomically(
            self.path / SUMMARY_FILE, json.dumps(to_json(self.summary), indent=2) + "\n"
        )
        write_atomically(self.path / JUNIT_FILE, render_junit(self.summary))
        write_atomically(self.path / HTML_FILE, render_html(self.summary, self.raw_listing()))

    def raw_listing(self) -> list[str]:
        if not self.raw_dir.is_dir():
            return []
        return sorted(str(p.relative_to(self.path)) for p in self.raw_dir.rglob("*") if p.is_file())

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._closed:
            return
        if exc is None:
            self.abandon("the run ended without finishing its bundle (a harness bug)")
        elif isinstance(exc, KeyboardInterrupt):
            self.abandon("interrupted (Ctrl-C)")
        else:
            detail = "".join(traceback.format_exception(exc_type, exc, tb))
            self.write_raw("harness-traceback.txt", detail)
            self.abandon(f"the harness failed: {type(exc).__name__}: {exc}")


class BundleError(Exception):
    """A bundle could not be read. `exit_code` tells scripts unreadable from incomplete."""

    exit_code = 3


class IncompleteBundleError(BundleError):
    exit_code = 4

    def __init__(self, message: str, summary: Summary) -> None:
        super().__init__(message)
        self.summary = summary


def load_bundle(path: Path, allow_incomplete: bool = False) -> Summary:
    """Read a bundle's summary.json (path may be the directory or the file itself).

    Raises BundleError when it cannot be read, IncompleteBundleError when it can but the run
    did not finish (unless allow_incomplete).
    """
    summary_path = path if path.is_file() else path / SUMMARY_FILE
    if not path.exists():
        raise BundleError(
            f"no report bundle at {path}: the path does not exist; "
            "list the bundles with `ls reports/`"
        )
    try:
        text = summary_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BundleError(
            f"cannot read {summary_path}: {exc.strerror or exc}; a bundle directory holds "
            f"{SUMMARY_FILE}, {JUNIT_FILE} and {HTML_FILE}"
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"{summary_path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
            "the bundle is damaged: re-run to get a fresh one"
        ) from exc
    try:
        summary = from_json(data)
    except SummaryFormatError as exc:
        raise BundleError(f"{summary_path}: {exc}") from exc
    if not summary.complete and not allow_incomplete:
        reason = next((n for n in summary.notes if n.startswith("incomplete:")), "")
        raise IncompleteBundleError(
            f"{path} is an incomplete bundle (the run did not finish"
            f"{': ' + reason.removeprefix('incomplete: ') if reason else ''}); "
            "its results are partial and are not compared: re-run, or pass "
            "--allow-incomplete to read it anyway",
            summary,
        )
    return summary
