"""`report trend` over recorded bundles: the first bundle where each regression appeared, when
it recovered, suites and throughput over time; the CLI's exit codes."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qualify.report.bundle import BundleWriter
from qualify.report.model import Outcome, Summary
from qualify.report.trend import build_trend, find_bundles, render_trend_html
from tests.qualify.report.recorded import recorded_summary

START = datetime(2026, 11, 1, tzinfo=UTC)


def history(directory: Path) -> list[Path]:
    """Eight nightly runs: a seq-write halved on nights 4 to 6, e2e missing in #5, a sanity
    case failing from #7 on; #3 did not finish."""
    paths: list[Path] = []
    for night in range(8):
        drop = {"seq-write": 0.5} if 3 <= night <= 5 else None
        summary = recorded_summary(
            900 + night,
            run_id=f"202611{night + 1:02d}-020000-{night:06x}",
            started=START + timedelta(days=night),
            drop=drop,
        )
        if night == 4:
            summary.suites = [s for s in summary.suites if s.name != "e2e"]
        if night >= 6:
            _fail_first_sanity_case(summary)
        writer = BundleWriter(directory, summary)
        paths.append(writer.abandon("killed") if night == 2 else writer.finish())
    return paths


def _fail_first_sanity_case(summary: Summary) -> None:
    sanity = summary.suite("sanity")
    assert sanity is not None
    sanity.tests[0].outcome = Outcome.FAILED
    sanity.tests[0].message = "CreateVolume: expected ALREADY_EXISTS, saw OK"


def test_each_regression_is_dated_by_the_bundle_where_it_first_appeared(tmp_path: Path) -> None:
    history(tmp_path)
    bundles, skipped = find_bundles([tmp_path])
    assert len(bundles) == 7 and len(skipped) == 1 and "incomplete" in skipped[0]
    trend = build_trend(bundles, skipped)
    found = {item.what: item for item in trend.appearances}
    names = [b.name for b in bundles]
    throughput = found["throughput seq-write on published"]
    # Night 4 (index 2 once the incomplete night 3 is skipped) first; back to normal night 7.
    assert names[throughput.first].startswith("20261104") and throughput.recovered is not None
    assert names[throughput.recovered].startswith("20261107")
    e2e = found["suite e2e"]
    assert names[e2e.first].startswith("20261105") and names[e2e.recovered or 0].startswith(
        "20261106"
    )
    sanity = found["sanity :: Controller::case 00"]
    assert names[sanity.first].startswith("20261107") and sanity.recovered is None
    # A regression that lasts is reported once, where it appeared, not every night.
    assert sum(item.what == "throughput seq-write on published" for item in trend.appearances) == 1


def test_the_page_is_self_contained_and_says_what_it_shows(tmp_path: Path) -> None:
    history(tmp_path)
    bundles, skipped = find_bundles([tmp_path])
    page = render_trend_html(build_trend(bundles, skipped))
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "Suites over time" in page and "Throughput over time" in page
    assert "still present in the latest bundle" in page and "recovered in #6" in page
    assert page.count('<svg class="chart"') == 9  # one per workload, multi-client included


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness", "report", "trend", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_writes_the_page_and_names_the_regressions(tmp_path: Path) -> None:
    history(tmp_path / "reports")
    output = tmp_path / "out" / "trend.html"
    result = cli(str(tmp_path / "reports"), "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert output.is_file() and str(output) in result.stdout
    assert "REGRESSION throughput seq-write on published: first in 20261104" in result.stdout
    assert "skipped" in result.stdout and ".partial" in result.stdout


def test_cli_exit_codes_without_bundles(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(str(empty), "-o", str(tmp_path / "t.html")).returncode == 2
    broken = tmp_path / "broken" / "run"
    broken.mkdir(parents=True)
    (broken / "summary.json").write_text("{")
    result = cli(str(tmp_path / "broken"), "-o", str(tmp_path / "t.html"))
    assert result.returncode == 3 and "unreadable" in result.stderr
