"""The report pages as a person opens them: headless Chromium loads each case's index.html
(and the trend page) from disk; the text is there, the plots are drawn, and every number in a
bar label is the table's number for that figure."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from qualify.report.bundle import BundleWriter
from qualify.report.model import Summary
from qualify.report.trend import build_trend, find_bundles, render_trend_html
from tests.qualify.report.chromium import dump_dom, needs_chromium, parse, screenshot
from tests.qualify.report.recorded import recorded_summary

pytestmark = needs_chromium

PUBLISHED_BLUE = (0x00, 0x72, 0xB2)
RAW_GREY = (0x99, 0x99, 0x99)
AGGREGATE_GREEN = (0x00, 0x9E, 0x73)


def same_code() -> Summary:
    return recorded_summary(101)


def dropped() -> Summary:
    return recorded_summary(102, drop={"seq-write": 0.7})


def missing_suite() -> Summary:
    summary = recorded_summary(103)
    summary.suites = [s for s in summary.suites if s.name != "e2e"]
    return summary


CASES = {"same code": same_code, "30% drop": dropped, "missing suite": missing_suite}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bundle_page_shows_its_text_plots_and_the_tables_numbers(
    case: str, tmp_path: Path
) -> None:
    summary = CASES[case]()
    bundle = BundleWriter(tmp_path / "reports", summary).finish()
    page = bundle / "index.html"
    dom = parse(dump_dom(page, tmp_path / "profile"))
    text = dom.all_text
    # Text: what each plot measures on this platform, the units, the expected FSx figures.
    assert "bind mount of the raw emulation directory" in text
    for caption in ("Bandwidth per workload:", "IOPS per workload:", "Metadata operations:",
                    "Multi-client: per client and aggregate:"):  # fmt: skip
        assert caption in text
    assert "in MB/s (10^6 bytes/s)" in text and "what real FSx would give" in text
    assert "from DescribeFileSystems of fs-0123456789abcdef0" in text
    suites = {row[0] for row in dom.cells["suites"][1:]}
    expected_suites = {"sanity", "throughput"} | ({"e2e"} if case != "missing suite" else set())
    assert suites == expected_suites
    # Plots: four charts, each with an axis title in its unit.
    assert dom.charts == 4
    # Numbers: the bar labels are exactly the medians of the figure table, one for one.
    figures = dom.cells["figures"]
    header = figures[0]
    medians = [row[header.index("median")] for row in figures[1:]]
    assert Counter(dom.bar_labels) == Counter(medians)
    # The ratio column is the division of the two medians beside it.
    for row in dom.cells["ratios"][1:]:
        if row[1] != "-":
            published, raw = (float(v.replace(",", "")) for v in row[1:3])
            shown = float(row[4].split("=")[-1])
            assert shown == pytest.approx(published / raw, abs=0.002), row
    # Drawn: the published, raw and aggregate bars are on the screen, not only in the DOM.
    image = screenshot(page, tmp_path / "profile")
    for colour in (PUBLISHED_BLUE, RAW_GREY, AGGREGATE_GREEN):
        assert image.count(colour) > 500, colour


def test_the_trend_page_shows_suites_regressions_and_medians_over_time(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for night, summary in enumerate(
        [
            recorded_summary(200),
            recorded_summary(201),
            recorded_summary(202, drop={"seq-write": 0.5}),
            missing_suite(),
        ]
    ):
        summary.run_id = f"2026110{night + 1}-020000-00000{night}"
        summary.started = f"2026-11-0{night + 1}T02:00:00+00:00"
        BundleWriter(reports, summary).finish()
    bundles, skipped = find_bundles([reports])
    page = tmp_path / "trend.html"
    page.write_text(render_trend_html(build_trend(bundles, skipped)))
    dump = dump_dom(page, tmp_path / "profile")
    dom = parse(dump)
    text = dom.all_text
    assert "fsx-csi trend: 4 bundles" in text and "Suites over time" in text
    assert "throughput seq-write on published" in text and "suite e2e" in text
    assert "first appeared in" in text
    assert dom.charts == 9
    # Every point's tooltip median is the table's median for that bundle and series.
    tooltips = re.findall(r"<circle[^>]*><title>[^<]*: median ([\d,.]+) ", dump)
    tables = [row[2] for row in dom.cells["trend-figures"] if row and row[0].startswith("#")]
    assert tooltips and Counter(tooltips) == Counter(tables)
    image = screenshot(page, tmp_path / "profile")
    assert image.count(PUBLISHED_BLUE) > 200 and image.count(RAW_GREY) > 200
