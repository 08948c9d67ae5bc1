"""`report compare` on recorded bundles (tests/qualify/report/recorded.py): runs of the same
code with this machine's spread compare clean; a real drop beyond the spread, a lost suite or
case, is a regression; a raw-directory figure never is."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from qualify.report import stats
from qualify.report.bundle import BundleWriter
from qualify.report.compare import compare, format_comparison
from qualify.report.model import Measurement, Outcome, Summary
from tests.qualify.report.recorded import recorded_summary


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness", "report", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(directory: Path, summary: Summary) -> Path:
    return BundleWriter(directory, summary).finish()


# -- the rank test ------------------------------------------------------------------------


def test_the_exact_rank_test_gives_the_textbook_p_values() -> None:
    # All four of B below all four of A: 1 arrangement in C(8, 4) = 70.
    assert stats.p_value_lower([1, 2, 3, 4], [5, 6, 7, 8]) == pytest.approx(1 / 70)
    # One pair out of order: U = 15 of 16, two arrangements at least as extreme.
    assert stats.p_value_lower([1, 2, 3, 5], [4, 6, 7, 8]) == pytest.approx(2 / 70)
    # Two pairs out of order (U = 14): four arrangements, p = 0.057, not significant.
    assert stats.p_value_lower([1, 2, 3, 6], [4, 5, 7, 8]) == pytest.approx(4 / 70)
    # B above A is no evidence of a drop at all.
    assert stats.p_value_lower([5, 6, 7, 8], [1, 2, 3, 4]) == pytest.approx(1.0)
    # Two repeats a side can never be significant: that is why MIN_REPEATS is 3.
    assert stats.p_value_lower([1, 2], [3, 4]) == pytest.approx(1 / 6)
    assert 1 / 6 > stats.ALPHA >= 1 / 20
    assert stats.p_value_lower([1, 2, 3], [4, 5, 6]) == pytest.approx(1 / 20)


def test_ties_share_ranks_and_identical_samples_are_no_evidence() -> None:
    assert stats.ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert stats.p_value_lower([5.0] * 4, [5.0] * 4) > 0.5


def test_large_samples_use_the_normal_approximation_consistently() -> None:
    low = [float(i) for i in range(70)]
    high = [float(i) + 10 for i in range(70)]
    assert stats.p_value_lower(low, high) < 0.01
    assert stats.p_value_lower(high, low) > 0.99


# -- recorded bundles ----------------------------------------------------------------------


def test_back_to_back_runs_of_the_same_code_compare_clean() -> None:
    """Over 100 pairs of runs with this machine's spread, at most 5 flag anything: the old
    median-vs-threshold rule flagged most of them."""
    flagged = [
        seed
        for seed in range(100)
        if compare(recorded_summary(2 * seed), recorded_summary(2 * seed + 1)).has_regression
    ]
    assert len(flagged) <= 5, flagged


def test_an_injected_30_percent_drop_in_one_workload_is_flagged_and_only_it() -> None:
    detected = beyond_spread = 0
    for seed in range(40):
        result = compare(
            recorded_summary(500 + 2 * seed),
            recorded_summary(501 + 2 * seed, drop={"rand-read": 0.7}),
        )
        labels = {c.key.label() for c in result.throughput_regressions}
        assert labels <= {"rand-read on published"}, labels
        change = next(c for c in result.throughput_changes if c.key.label() in labels | {
            "rand-read on published"})  # fmt: skip
        detected += change.is_regression
        # Every run of B below every run of A less the threshold: beyond the spread, so
        # always flagged.
        if change.after.high < change.before.low * 0.9:
            beyond_spread += 1
            assert change.is_regression, (change.before.values, change.after.values)
    assert beyond_spread >= 15
    # When a slow phase of the machine put one or two of A's four runs among B's, four
    # repeats cannot tell a 30 % drop from noise; measured: 30 of 40 pairs flagged.
    assert detected >= 28


def test_the_report_says_which_test_it_used_and_shows_the_spread() -> None:
    before, after = recorded_summary(11), recorded_summary(12, drop={"seq-write": 0.7})
    text = format_comparison(compare(before, after), "A", "B")
    assert "Mann-Whitney U rank test" in text and "[" in text and "n=4" in text
    line = next(row for row in text.splitlines() if "seq-write on published" in row)
    assert "REGRESSED" in line and "p=0.014" in line


def test_a_raw_directory_figure_is_context_never_a_regression() -> None:
    before, after = recorded_summary(21), recorded_summary(22)
    assert after.throughput is not None
    for m in after.throughput.measurements:
        if m.target == "raw" and m.workload == "seq-read":
            m.value *= 0.5
    result = compare(before, after)
    change = next(c for c in result.throughput_changes if c.key.label() == "seq-read on raw")
    assert change.change_pct < -40 and change.beyond_noise
    assert not change.is_regression and change.status() == "context (measures no driver)"


@pytest.mark.parametrize("how", ["missing", "not_run", "failed"])
def test_a_suite_that_passed_in_a_and_is_lost_in_b_is_a_regression(how: str) -> None:
    before, after = recorded_summary(31), recorded_summary(32)
    if how == "missing":
        after.suites = [s for s in after.suites if s.name != "e2e"]
    else:
        e2e = after.suite("e2e")
        assert e2e is not None
        e2e.outcome = Outcome(how)
        e2e.tests = [] if how == "not_run" else e2e.tests
    result = compare(before, after)
    assert [c.suite for c in result.suite_regressions] == ["e2e"]
    assert result.has_regression


@pytest.mark.parametrize("how", ["missing", "not_run", "failed", "error"])
def test_a_scenario_that_passed_in_a_and_is_lost_in_b_is_a_regression(how: str) -> None:
    before, after = recorded_summary(41), recorded_summary(42)
    e2e = after.suite("e2e")
    assert e2e is not None
    if how == "missing":
        e2e.tests = e2e.tests[1:]
    else:
        e2e.tests[0] = dataclasses.replace(e2e.tests[0], outcome=Outcome(how))
    assert [c.test for c in compare(before, after).test_regressions] == [
        "scenario::dynamic provisioning"
    ]


def test_a_skip_is_a_change_but_not_a_regression_and_a_new_passing_case_is_neither() -> None:
    before, after = recorded_summary(51), recorded_summary(52)
    sanity = after.suite("sanity")
    assert sanity is not None
    sanity.tests[0] = dataclasses.replace(sanity.tests[0], outcome=Outcome.SKIPPED)
    result = compare(before, after)
    assert not result.test_regressions and len(result.test_changes) == 1


def test_a_figure_of_one_run_has_no_spread_and_is_not_judged() -> None:
    before, after = recorded_summary(61), recorded_summary(62)
    for summary, value in ((before, 1000.0), (after, 500.0)):
        assert summary.throughput is not None
        summary.throughput.measurements.append(
            Measurement("seq-write x4", "aggregate", "bandwidth", value, "MB/s")
        )
    change = next(
        c for c in compare(before, after).throughput_changes if c.key.workload == "seq-write x4"
    )
    assert not change.is_regression and "not judged" in change.status()


def test_cli_exit_codes_on_recorded_bundles(tmp_path: Path) -> None:
    a = write(tmp_path, recorded_summary(71))
    b = write(tmp_path, recorded_summary(72))
    dropped = write(tmp_path, recorded_summary(73, drop={"seq-read": 0.7}))
    lost = recorded_summary(74)
    lost.suites = [s for s in lost.suites if s.name != "throughput"]
    lost_path = write(tmp_path, lost)
    clean = cli("compare", str(a), str(b))
    assert clean.returncode == 0, clean.stdout
    assert "RESULT: no regression" in clean.stdout
    flagged = cli("compare", str(a), str(dropped))
    assert flagged.returncode == 1 and "REGRESSED" in flagged.stdout
    missing = cli("compare", str(a), str(lost_path))
    assert missing.returncode == 1
    assert "REGRESSED suite throughput: passed -> absent" in missing.stdout
