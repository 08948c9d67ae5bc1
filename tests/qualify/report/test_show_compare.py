from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from qualify.report.bundle import BundleWriter
from qualify.report.compare import compare
from qualify.report.model import Outcome, Summary
from qualify.report.show import format_summary
from tests.qualify.report.conftest import make_summary


def write(tmp_path: Path, summary: Summary, finish: bool = True) -> Path:
    writer = BundleWriter(tmp_path, summary)
    return writer.finish() if finish else writer.abandon("killed in a test")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness", "report", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_identical_runs_show_no_regression() -> None:
    assert not compare(make_summary(), make_summary()).has_regression


def test_a_test_that_goes_from_passed_to_failed_is_a_regression() -> None:
    after = make_summary()
    after.suites[0].tests[0].outcome = Outcome.FAILED
    result = compare(make_summary(), after)
    assert [c.test for c in result.test_regressions] == ["Controller::creates a volume"]


def test_a_new_failing_test_is_a_regression_a_still_failing_one_is_not() -> None:
    from qualify.report.model import TestResult

    before, after = make_summary(), make_summary()
    before.suites[0].tests.append(TestResult("old bug", Outcome.FAILED))
    after.suites[0].tests.append(TestResult("old bug", Outcome.FAILED))
    after.suites[0].tests.append(TestResult("new case", Outcome.ERROR))
    assert [c.test for c in compare(before, after).test_regressions] == ["new case"]


def test_throughput_drops_count_only_beyond_the_threshold() -> None:
    before = make_summary(seq_write=1000.0)
    slightly = compare(before, make_summary(seq_write=950.0), threshold_pct=10)
    assert not slightly.throughput_regressions
    much = compare(before, make_summary(seq_write=800.0), threshold_pct=10)
    assert [c.key.label() for c in much.throughput_regressions] == ["seq-write on published"]
    # A 10 % drop is within a 10 % threshold, and beyond a 3 % one (all four runs lower).
    assert not compare(before, make_summary(seq_write=900.0), threshold_pct=10).has_regression
    assert compare(before, make_summary(seq_write=900.0), threshold_pct=3).has_regression


def test_show_lists_suites_failures_and_throughput() -> None:
    summary = make_summary()
    summary.suites[1].tests[0].outcome = Outcome.FAILED
    summary.suites[1].tests[0].message = "pod never ran"
    text = format_summary(summary, "reports/x")
    assert "e2e :: dynamic [failed]" in text and "pod never ran" in text
    assert "seq-write on published" in text and "fio" in text


def test_cli_compare_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path, make_summary("20260101-000000-aaaaaa"))
    regressed = make_summary("20260101-000000-bbbbbb")
    regressed.suites[1].tests[0].outcome = Outcome.FAILED
    bad = write(tmp_path, regressed)
    assert cli("compare", str(good), str(good)).returncode == 0
    result = cli("compare", str(good), str(bad))
    assert result.returncode == 1 and "REGRESSED e2e :: dynamic" in result.stdout
    assert cli("show", str(bad)).returncode == 0


def test_cli_unreadable_and_incomplete_bundles_have_distinct_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path, make_summary("20260101-000000-aaaaaa"))
    partial = write(tmp_path, make_summary("20260101-000000-cccccc"), finish=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text("{")
    unreadable = cli("compare", str(good), str(broken))
    assert unreadable.returncode == 3 and "not valid JSON" in unreadable.stderr
    incomplete = cli("compare", str(good), str(partial))
    assert incomplete.returncode == 4 and "incomplete bundle" in incomplete.stderr
    assert cli("compare", "--allow-incomplete", str(good), str(partial)).returncode == 0
    shown = cli("show", str(partial))
    assert shown.returncode == 4 and "INCOMPLETE RUN" in shown.stdout
    assert cli("compare", str(good), str(tmp_path / "missing")).returncode == 3
