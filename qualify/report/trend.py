"""`fsx-csi report trend DIR...`: one self-contained HTML page over many bundles (a CI history).

Per suite pass/fail over time, per workload median with its min-max over time, and the first
bundle where each regression appeared. A regression is what `report compare` calls one, found
by comparing each bundle with the one before it; it stays open while the regressed state
lasts (the case or suite does not pass again, the figure stays below its earlier median less
the threshold) and the page says in which bundle it recovered, or that it still holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from qualify.report.bundle import SUMMARY_FILE, BundleError, IncompleteBundleError, load_bundle
from qualify.report.compare import (
    DEFAULT_THRESHOLD_PCT,
    Comparison,
    compare,
    figures_of,
)
from qualify.report.figures import Figure, FigureKey
from qualify.report.model import Outcome, Summary
from qualify.report.svg import Point, Series, format_value, line_chart

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;
color:#222}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px}td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.n{text-align:right}
td.o{text-align:center;font-size:11px;color:#fff;min-width:14px}
.o-passed{background:#1a7f37}.o-failed,.o-error{background:#cf222e}
.o-skipped,.o-not_run{background:#8c959f}.o-absent{background:#fff;color:#999}
.caption{color:#444;font-style:italic;margin:0 0 14px}.muted{color:#6e7781}
.open{color:#cf222e;font-weight:bold}
.regressions{table-layout:fixed;width:100%}.regressions td{overflow-wrap:anywhere}
"""

_ABBREVIATIONS = {
    "passed": "P",
    "failed": "F",
    "error": "E",
    "skipped": "S",
    "not_run": "N",
    "absent": "-",
}


@dataclass
class Bundle:
    path: Path
    summary: Summary

    @property
    def name(self) -> str:
        return self.summary.run_id


@dataclass
class Appearance:
    """A regression and where it first appeared."""

    what: str
    detail: str
    first: int  # index of the bundle where it appeared
    previous: int  # the bundle it was compared with
    recovered: int | None = None  # the first later bundle where it no longer holds


@dataclass
class Trend:
    bundles: list[Bundle]
    skipped: list[str] = field(default_factory=list)
    appearances: list[Appearance] = field(default_factory=list)
    threshold_pct: float = DEFAULT_THRESHOLD_PCT


def find_bundles(paths: list[Path]) -> tuple[list[Bundle], list[str]]:
    """Bundles under the given paths (each a bundle, or a directory of bundles), oldest first;
    and a note per directory that was skipped (incomplete or unreadable), saying why."""
    candidates: list[Path] = []
    for path in paths:
        if (path / SUMMARY_FILE).is_file() or path.is_file():
            candidates.append(path)
        elif path.is_dir():
            candidates.extend(
                sorted(child for child in path.iterdir() if (child / SUMMARY_FILE).is_file())
            )
    bundles: list[Bundle] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        try:
            summary = load_bundle(candidate)
        except IncompleteBundleError:
            skipped.append(f"{candidate}: incomplete (the run did not finish)")
            continue
        except BundleError as exc:
            skipped.append(f"{candidate}: unreadable ({exc})")
            continue
        if summary.run_id in seen:
            skipped.append(f"{candidate}: run {summary.run_id} is listed twice")
            continue
        seen.add(summary.run_id)
        bundles.append(Bundle(candidate, summary))
    bundles.sort(key=lambda b: (b.summary.started, b.summary.run_id))
    return bundles, skipped


def build_trend(
    bundles: list[Bundle], skipped: list[str], threshold_pct: float = DEFAULT_THRESHOLD_PCT
) -> Trend:
    trend = Trend(bundles, skipped, threshold_pct=threshold_pct)
    open_items: dict[tuple[object, ...], Appearance] = {}
    baselines: dict[tuple[object, ...], float] = {}
    for index in range(1, len(bundles)):
        before, after = bundles[index - 1].summary, bundles[index].summary
        _close_recovered(open_items, baselines, after, index, threshold_pct)
        comparison = compare(before, after, threshold_pct)
        for key, what, detail, baseline in _regressions(comparison):
            if key in open_items:
                continue
            appearance = Appearance(what, detail, first=index, previous=index - 1)
            trend.appearances.append(appearance)
            open_items[key] = appearance
            if baseline is not None:
                baselines[key] = baseline
    return trend


def _regressions(
    comparison: Comparison,
) -> list[tuple[tuple[object, ...], str, str, float | None]]:
    found: list[tuple[tuple[object, ...], str, str, float | None]] = []
    for suite in comparison.suite_regressions:
        found.append(
            (
                ("suite", suite.suite),
                f"suite {suite.suite}",
                f"{_name(suite.before)} -> {_name(suite.after)}",
                None,
            )
        )
    for test in comparison.test_regressions:
        # A case new in B that fails recovers once it stops failing (passes, or is gone); one
        # that passed in A recovers only when it passes again.
        kind = "new-test" if test.before is None else "test"
        found.append(
            (
                (kind, test.suite, test.test),
                f"{test.suite} :: {test.test}",
                f"{_name(test.before)} -> {_name(test.after)}",
                None,
            )
        )
    for change in comparison.throughput_regressions:
        found.append(
            (
                ("throughput", change.key),
                f"throughput {change.key.label()}",
                f"median {format_value(change.before.median)} -> "
                f"{format_value(change.after.median)} {change.unit} "
                f"({change.change_pct:+.1f}%, {change.evidence()})",
                change.before.median,
            )
        )
    for leak in comparison.new_leaks:
        found.append((("leak", leak), f"leak {leak}", "new in this bundle", None))
    return found


def _close_recovered(
    open_items: dict[tuple[object, ...], Appearance],
    baselines: dict[tuple[object, ...], float],
    summary: Summary,
    index: int,
    threshold_pct: float,
) -> None:
    """Regressions whose state no longer holds in `summary` recover there."""
    suites = {suite.name: suite for suite in summary.suites}
    tests = {
        (suite.name, f"{t.classname}::{t.name}" if t.classname else t.name): t.outcome
        for suite in summary.suites
        for t in suite.tests
    }
    figures = figures_of(summary)
    leaks = {f"{leak.kind} {leak.id} ({name})" for name, leak in summary.leaks()}
    for key in list(open_items):
        kind = key[0]
        if kind == "suite":
            suite = suites.get(str(key[1]))
            recovered = suite is not None and suite.outcome is Outcome.PASSED and not suite.failed
        elif kind == "test":
            recovered = tests.get((str(key[1]), str(key[2]))) is Outcome.PASSED
        elif kind == "new-test":
            outcome = tests.get((str(key[1]), str(key[2])))
            recovered = outcome is None or not outcome.is_failure
        elif kind == "throughput":
            figure_key = key[1]
            assert isinstance(figure_key, FigureKey)
            figure = figures.get(figure_key)
            floor = baselines[key] * (1 - threshold_pct / 100)
            recovered = figure is not None and bool(figure.values) and figure.median >= floor
        else:
            recovered = key[1] not in leaks
        if recovered:
            open_items.pop(key).recovered = index


def _name(outcome: Outcome | None) -> str:
    return "absent" if outcome is None else outcome.value


# -- the page ---------------------------------------------------------------------------------


def render_trend_html(trend: Trend) -> str:
    bundles = trend.bundles
    first, last = bundles[0].summary, bundles[-1].summary
    platforms = sorted({b.summary.platform for b in bundles})
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>fsx-csi trend over {len(bundles)} bundles</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>fsx-csi trend: {len(bundles)} bundles</h1>",
        f"<p>From {escape(first.run_id)} ({escape(first.started)}) to {escape(last.run_id)} "
        f"({escape(last.started)}); platform(s): {escape(', '.join(platforms))}. Bundles are "
        "numbered #1 (oldest) to #" + str(len(bundles)) + " in the order their runs started; "
        "each is compared with the one before it, as <code>fsx-csi report compare</code> "
        f"would (throughput threshold {trend.threshold_pct:g}%).</p>",
        _regression_section(trend),
        _suite_section(bundles),
        _throughput_section(bundles),
        _bundle_list(bundles),
    ]
    if trend.skipped:
        parts.append(
            "<h2>Skipped</h2><ul>"
            + "".join(f"<li>{escape(note)}</li>" for note in trend.skipped)
            + "</ul>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _label(bundles: list[Bundle], index: int) -> str:
    return f"#{index + 1} {bundles[index].name}"


# Above this many regressions the table starts folded: the per-bundle counts come first.
_OPEN_LIMIT = 25


def _regression_section(trend: Trend) -> str:
    if not trend.appearances:
        return "<h2>Regressions</h2><p>None: no bundle regressed against the one before it.</p>"
    per_bundle: dict[int, int] = {}
    for item in trend.appearances:
        per_bundle[item.first] = per_bundle.get(item.first, 0) + 1
    counts = "".join(
        f"<li>{escape(_label(trend.bundles, index))}: {count} new regression(s)</li>"
        for index, count in sorted(per_bundle.items())
    )
    rows = []
    for item in trend.appearances:
        if item.recovered is None:
            state = '<span class="open">still present in the latest bundle</span>'
        else:
            state = f"recovered in {escape(_label(trend.bundles, item.recovered))}"
        rows.append(
            f"<tr><td>{escape(item.what)}</td>"
            f"<td>{escape(_label(trend.bundles, item.first))}</td>"
            f"<td>{escape(_label(trend.bundles, item.previous))}</td>"
            f"<td>{escape(item.detail)}</td><td>{state}</td></tr>"
        )
    opened = " open" if len(rows) <= _OPEN_LIMIT else ""
    return (
        f"<h2>Regressions ({len(trend.appearances)})</h2><p>Where they first appeared:</p>"
        f"<ul>{counts}</ul><details{opened}><summary>every regression, where it first "
        "appeared and what became of it</summary>"
        "<table class='regressions'><colgroup><col style='width:38%'><col style='width:17%'>"
        "<col style='width:17%'><col style='width:14%'><col style='width:14%'></colgroup>"
        "<tr><th>what</th><th>first appeared in</th><th>compared with</th><th>change</th>"
        "<th>now</th></tr>" + "".join(rows) + "</table></details>"
    )


def _suite_section(bundles: list[Bundle]) -> str:
    names = list(dict.fromkeys(s.name for b in bundles for s in b.summary.suites))
    header = "".join(
        f"<th title='{escape(b.name)} {escape(b.summary.started)}'>{index + 1}</th>"
        for index, b in enumerate(bundles)
    )
    rows = []
    for name in names:
        cells = []
        for bundle in bundles:
            suite = bundle.summary.suite(name)
            if suite is None:
                state = "absent"
            elif suite.failed and suite.outcome is Outcome.PASSED:
                state = "failed"
            else:
                state = suite.outcome.value
            cells.append(
                f"<td class='o o-{state}' title='{escape(bundle.name)}: {state}'>"
                f"{_ABBREVIATIONS[state]}</td>"
            )
        rows.append(f"<tr><th>{escape(name)}</th>{''.join(cells)}</tr>")
    verdicts = "".join(
        f"<td class='o o-{'passed' if b.summary.verdict.value == 'passed' else 'failed'}'>"
        f"{'P' if b.summary.verdict.value == 'passed' else 'F'}</td>"
        for b in bundles
    )
    return (
        "<h2>Suites over time</h2><p>P passed, F failed (a case failed, or something leaked), "
        "E error, S skipped, N not run, - absent; columns are the bundles, oldest first.</p>"
        f"<table class='suites'><tr><th>suite</th>{header}</tr>{''.join(rows)}"
        f"<tr><th>verdict</th>{verdicts}</tr></table>"
    )


def _throughput_section(bundles: list[Bundle]) -> str:
    per_bundle = [figures_of(b.summary) for b in bundles]
    keys = list(dict.fromkeys(key for figures in per_bundle for key in figures))
    if not keys:
        return "<h2>Throughput over time</h2><p>No bundle has throughput figures.</p>"
    workloads = list(dict.fromkeys(key.workload for key in keys))
    x_labels = [str(index + 1) for index in range(len(bundles))]
    parts = [
        "<h2>Throughput over time</h2><p>Per workload, the median of each bundle's good "
        "repeats (dot) and their min-max (whisker), one line per target or client. The raw "
        "directory measures no driver: it is context for the published volume.</p>"
    ]
    for workload in workloads:
        series: list[Series] = []
        table_rows: list[str] = []
        unit = ""
        for key in (k for k in keys if k.workload == workload):
            line = Series(key.target + (f" {key.client}" if key.client else ""))
            for index, figures in enumerate(per_bundle):
                figure = figures.get(key)
                if figure is None or not figure.values:
                    continue
                unit = figure.unit
                line.points.append(Point(index, figure.median, figure.low, figure.high))
                table_rows.append(_trend_row(bundles, index, line.name, figure))
            series.append(line)
        platforms = {b.summary.platform for b in bundles}
        where = (
            "the page cache and disk behind a bind mount of the local platform"
            if platforms == {"local"}
            else "the file system through the driver's published volume"
        )
        parts.append(line_chart(f"{workload} over time", unit, x_labels, series))
        parts.append(
            f'<p class="caption">{escape(workload)}: median {escape(unit)} per bundle (x: '
            f"bundle number, oldest first), with the repeats' min-max; it measures {where}.</p>"
        )
        parts.append(
            f"<details><summary>{escape(workload)}: the figures</summary>"
            "<table class='trend-figures'><tr>"
            "<th>bundle</th><th>series</th><th>median</th><th>min</th><th>max</th>"
            f"<th>unit</th><th>good runs</th></tr>{''.join(table_rows)}</table></details>"
        )
    return "\n".join(parts)


def _trend_row(bundles: list[Bundle], index: int, series: str, figure: Figure) -> str:
    return (
        f"<tr><td>{escape(_label(bundles, index))}</td><td>{escape(series)}</td>"
        f"<td class='n'>{format_value(figure.median)}</td>"
        f"<td class='n'>{format_value(figure.low)}</td>"
        f"<td class='n'>{format_value(figure.high)}</td><td>{escape(figure.unit)}</td>"
        f"<td class='n'>{len(figure.values)} of {figure.runs}</td></tr>"
    )


def _bundle_list(bundles: list[Bundle]) -> str:
    rows = "".join(
        f"<tr><td>#{index + 1}</td><td><a href='{escape(b.path.resolve().as_uri())}/index.html'>"
        f"{escape(b.name)}</a></td><td>{escape(b.summary.started)}</td>"
        f"<td>{escape(b.summary.verdict.value)}</td>"
        f"<td>{escape(b.summary.target.driver_name or 'unknown')} "
        f"{escape(b.summary.target.driver_version or '')}</td>"
        f"<td>{escape(b.summary.platform)}</td></tr>"
        for index, b in enumerate(bundles)
    )
    return (
        "<h2>Bundles</h2><table><tr><th>#</th><th>run</th><th>started</th><th>verdict</th>"
        f"<th>driver</th><th>platform</th></tr>{rows}</table>"
    )


_PRINT_LIMIT = 20


def format_trend(trend: Trend, output: Path) -> str:
    """What `report trend` prints: where the page is and the regressions it found."""
    lines = [f"Trend over {len(trend.bundles)} bundles: {output}"]
    for item in trend.appearances[:_PRINT_LIMIT]:
        state = (
            "still present"
            if item.recovered is None
            else f"recovered in {trend.bundles[item.recovered].name}"
        )
        lines.append(
            f"  REGRESSION {item.what}: first in {trend.bundles[item.first].name} "
            f"({item.detail}); {state}"
        )
    if len(trend.appearances) > _PRINT_LIMIT:
        lines.append(
            f"  ... and {len(trend.appearances) - _PRINT_LIMIT} more regression(s): see the page"
        )
    if not trend.appearances:
        lines.append("  no regression between consecutive bundles")
    lines.extend(f"  skipped {note}" for note in trend.skipped)
    return "\n".join(lines)
