"""index.html: one self-contained page (inline CSS and SVG, no scripts, no external URLs) so a
bundle can be opened from disk, attached to a ticket or browsed as a CI artifact."""

from __future__ import annotations

from html import escape

from qualify.report.figures import Figure, reduce_measurements
from qualify.report.model import Outcome, SuiteResult, Summary, Throughput, Verdict
from qualify.report.show import expected_text, ratio_status
from qualify.report.svg import Bar, Group, ReferenceLine, bar_chart, format_value

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;
color:#222}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}td.n{text-align:right}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:bold}
.passed{background:#1a7f37}.failed,.error{background:#cf222e}.skipped,.not_run{background:#8c959f}
.incomplete{background:#bf8700}
.o-passed{color:#1a7f37}.o-failed,.o-error{color:#cf222e;font-weight:bold}
.o-skipped,.o-not_run{color:#6e7781}
.banner{background:#fff8c5;border:2px solid #bf8700;padding:10px;margin:10px 0;font-weight:bold}
.fail{background:#ffebe9;border-left:4px solid #cf222e;padding:6px 10px;margin:6px 0}
pre{white-space:pre-wrap;margin:4px 0;font-size:12px}
details{margin:6px 0}summary{cursor:pointer;font-weight:bold}
.muted{color:#6e7781}
.caption{color:#444;font-style:italic;margin:0 0 14px}
.r-meets{color:#1a7f37}.r-below{color:#6e7781}
"""


def render_html(summary: Summary, raw_files: list[str]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>fsx-csi report {escape(summary.run_id)} ({summary.verdict.value})</title>",
        f"<style>{_STYLE}</style></head><body>",
        _header(summary),
        _failures(summary),
        _suites_overview(summary),
    ]
    if summary.throughput is not None:
        parts.append(_throughput(summary.throughput, summary.platform))
    parts.extend(_suite_details(suite) for suite in summary.suites)
    parts.append(_leaks_and_notes(summary))
    parts.append(_raw_files(raw_files))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _header(summary: Summary) -> str:
    verdict = summary.verdict.value
    rows = [
        ("Run", summary.run_id),
        ("Started / finished", f"{summary.started} / {summary.finished or 'not finished'}"),
        (
            "Driver",
            f"{summary.target.describe_driver()} ({summary.target.source})",
        ),
        ("Endpoint / manifests", summary.target.endpoint or summary.target.manifests or "-"),
        ("Platform / AWS", f"{summary.platform} / {summary.aws_mode}"),
        (
            "Environment",
            f"{summary.environment.host}, {summary.environment.kernel}, "
            f"{summary.environment.python}, {summary.environment.cpus} CPUs, "
            f"fio: {summary.environment.fio}, harness {summary.environment.harness_version}",
        ),
        ("Command", " ".join(summary.command) or "-"),
    ]
    banner = ""
    if not summary.complete:
        reasons = [n.removeprefix("incomplete: ") for n in summary.notes if "incomplete" in n]
        banner = (
            '<div class="banner">INCOMPLETE RUN: these results are partial and are not a '
            f"verdict.{' Reason: ' + escape('; '.join(reasons)) if reasons else ''}</div>"
        )
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return (
        f'<h1>fsx-csi report <span class="badge {verdict}">{verdict.upper()}</span></h1>'
        f"{banner}<table>{table}</table>"
    )


def _failures(summary: Summary) -> str:
    items: list[str] = []
    for suite in summary.suites:
        failed_tests = [t for t in suite.tests if t.outcome.is_failure]
        if suite.outcome.is_failure and not failed_tests:
            items.append(_failure_item(f"{suite.name}", suite.outcome, suite.message))
        for test in failed_tests:
            items.append(_failure_item(f"{suite.name} :: {test.name}", test.outcome, test.message))
    for suite_name, leak in summary.leaks():
        items.append(
            _failure_item(
                f"leak: {leak.kind} {leak.id}", Outcome.FAILED, f"{suite_name}: {leak.describe()}"
            )
        )
    if not items:
        text = "None." if summary.verdict is Verdict.PASSED else "None recorded so far."
        return f"<h2>Failures</h2><p>{text}</p>"
    return f"<h2>Failures ({len(items)})</h2>" + "".join(items)


def _failure_item(title: str, outcome: Outcome, message: str | None) -> str:
    return (
        f'<div class="fail"><b>{escape(title)}</b> <span class="o-{outcome.value}">'
        f"{outcome.value}</span><pre>{escape(message or '(no message)')}</pre></div>"
    )


def _suites_overview(summary: Summary) -> str:
    header = (
        "<tr><th>suite</th><th>outcome</th><th>passed</th><th>failed</th><th>error</th>"
        "<th>skipped</th><th>not run</th><th>duration</th><th>message</th></tr>"
    )
    rows = []
    for suite in summary.suites:
        counts = suite.counts()
        rows.append(
            f'<tr><td><a href="#suite-{escape(suite.name)}">{escape(suite.name)}</a></td>'
            f'<td><span class="badge {suite.outcome.value}">{suite.outcome.value}</span></td>'
            + "".join(
                f'<td class="n">{counts[key]}</td>'
                for key in ("passed", "failed", "error", "skipped", "not_run")
            )
            + f'<td class="n">{suite.duration_s:.1f} s</td>'
            f"<td>{escape(suite.message or '')}</td></tr>"
        )
    if not rows:
        return "<h2>Suites</h2><p>No suite has reported yet.</p>"
    return f"<h2>Suites</h2><table class='suites'>{header}{''.join(rows)}</table>"


# What a bar measures, per metric, in words (the caption under each plot completes it with
# what the platform puts behind the volume).
_METRIC_WORDS = {
    "bandwidth": "sequential 1 MiB reads and writes by one client, in MB/s (10^6 bytes/s)",
    "iops": "random 4 KiB reads and writes by one client, in I/O operations per second",
    "ops": "files created, stat'ed and deleted per second by one client (Python, not fio)",
}


def platform_sentence(platform: str) -> str:
    """What the figures measure on this platform: said under every plot."""
    if platform == "local":
        return (
            "On the local platform the published volume is a bind mount of the raw emulation "
            "directory on this machine's disk: both measure the page cache and disk behind "
            "it, not FSx, so their difference can only be the driver's data path or noise."
        )
    return (
        f"On the {platform} platform the figures measure the FSx file system through the "
        "driver's published volume, from pods on the cluster's nodes."
    )


def _throughput(throughput: Throughput, platform: str) -> str:
    engine = throughput.engine + (
        f" {throughput.engine_version}" if throughput.engine_version else ""
    )
    parts = [
        "<h2>Throughput</h2>",
        f"<p>Data workloads: <b>{escape(engine)}</b>. Metadata workload: "
        f"<b>{escape(throughput.metadata_engine)}</b>. Each bar is the <b>median</b> of the "
        "good repeats and its label is that median, the number in the table below; the "
        "whisker spans the repeats from min to max. MB/s is 10<sup>6</sup> bytes per "
        f"second.</p><p>{escape(platform_sentence(platform))}</p>",
    ]
    figures = reduce_measurements(throughput.measurements)
    references: list[ReferenceLine] = []
    if throughput.expected is not None:
        expected = throughput.expected
        references.append(
            ReferenceLine(f"baseline {expected.baseline_mbps:,.0f}", expected.baseline_mbps)
        )
        if expected.burst_mbps:
            references.append(
                ReferenceLine(f"burst {expected.burst_mbps:,.0f}", expected.burst_mbps, "#CC79A7")
            )
        parts.append(
            f'<p class="expected">Expected: {escape(expected_text(expected, platform))}.</p>'
        )
    titles = {
        "bandwidth": "Bandwidth per workload",
        "iops": "IOPS per workload",
        "ops": "Metadata operations",
    }
    for metric, title in titles.items():
        # Single-client figures; the aggregates have their own chart with the clients.
        chosen = [
            f
            for f in figures
            if f.metric == metric and f.key.client is None and f.key.target != "aggregate"
        ]
        if chosen:
            repeats = max(f.runs for f in chosen)
            parts.append(
                bar_chart(
                    title,
                    chosen[0].unit,
                    _groups(chosen, by_client=False),
                    # The baseline is an aggregate over clients: drawn where the aggregate is.
                    None,
                )
            )
            parts.append(
                f'<p class="caption">{escape(title)}: {_METRIC_WORDS[metric]}, median of up to '
                f"{repeats} repeats with their min-max. {escape(_platform_short(platform))}</p>"
            )
    per_client = [f for f in figures if f.key.client is not None]
    if per_client:
        aggregates = [f for f in figures if f.key.target == "aggregate" and f.key.client is None]
        title = "Multi-client: per client and aggregate"
        parts.append(
            bar_chart(title, per_client[0].unit, _groups(per_client + aggregates, True), references)
        )
        clients = len({f.key.client for f in per_client})
        parts.append(
            f'<p class="caption">{title}: {clients} clients reading or writing sequentially at '
            "the same moment, each client's MB/s and the aggregate (all clients' bytes over the "
            "longest client's time)"
            + (
                "; the dashed lines are what real FSx would give this file system in aggregate"
                if references
                else ""
            )
            + f". {escape(_platform_short(platform))}</p>"
        )
    if throughput.ratios:
        parts.append(_ratio_table(throughput, platform))
    parts.append(_figure_table(figures))
    failed = [m for m in throughput.measurements if m.outcome is not Outcome.PASSED]
    for measurement in failed:
        parts.append(
            _failure_item(
                f"throughput {measurement.workload} on {measurement.target}"
                f"{' [' + measurement.client + ']' if measurement.client else ''}"
                f" run {measurement.repeat}",
                measurement.outcome,
                measurement.message,
            )
        )
    parts.extend(f'<p class="muted">{escape(note)}</p>' for note in throughput.notes)
    return "\n".join(parts)


def _platform_short(platform: str) -> str:
    if platform == "local":
        return "Here that is the page cache and disk of this machine behind a bind mount."
    return f"Here that is the FSx file system, through the driver, on the {platform} platform."


def _ratio_table(throughput: Throughput, platform: str) -> str:
    units = {f.metric: f.unit for f in reduce_measurements(throughput.measurements)}
    rows = []
    for r in throughput.ratios:
        unit = units.get(r.metric, "")
        spread = (
            # The overall row's range is that of the workloads' ratios, not of paired runs.
            f"{'' if r.published else 'workloads '}{r.paired_low:.3f} - {r.paired_high:.3f}"
            if r.paired_low is not None and r.paired_high is not None
            else "-"
        )
        division = f"{format_value(r.published)} / {format_value(r.raw)} = " if r.published else ""
        rows.append(
            f"<tr><td>{escape(r.workload)}</td><td class='n'>{_maybe(r.published)}</td>"
            f"<td class='n'>{_maybe(r.raw)}</td><td>{escape(unit) or '-'}</td>"
            f"<td class='n'>{division}<b>{r.ratio:.3f}</b></td><td class='n'>{spread}</td>"
            f"<td class='n'>&ge; {r.target:.2f}</td>"
            f"<td class='{'r-meets' if r.meets_target else 'r-below'}'>"
            f"{escape(ratio_status(r))}</td><td>{escape(r.method)}</td></tr>"
        )
    meaning = (
        "On the local platform the published volume is a bind mount of the raw directory, so "
        "this ratio can only measure noise and the driver's data path (which adds nothing to "
        "a bind mount): it is a measured figure shown for context, not a test, and it never "
        "changes the verdict."
        if platform == "local"
        else "The ratio is a measured figure, not a test: it never changes the verdict."
    )
    return (
        "<h3>Data-path overhead: published volume / raw emulation directory</h3>"
        f"<p>{escape(meaning)} The ratio is the published median over the raw median (the "
        "two columns beside it); the range is that of the runs' paired ratios (run i on the "
        "volume over run i on the raw directory).</p>"
        "<table class='ratios'><tr><th>workload</th><th>published (median)</th>"
        "<th>raw (median)</th><th>unit</th><th>ratio = published / raw</th>"
        "<th>paired runs' range</th><th>target</th><th>reading</th><th>method</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _groups(figures: list[Figure], by_client: bool) -> list[Group]:
    groups: dict[str, Group] = {}
    for figure in figures:
        group = groups.setdefault(figure.key.workload, Group(figure.key.workload))
        series = (figure.key.client or figure.key.target) if by_client else figure.key.target
        group.bars.append(
            Bar(
                series=series,
                value=figure.median,
                # The label is the median as the table prints it: the same function, the
                # same number.
                label=format_value(figure.median),
                failed=figure.failed_runs > 0,
                low=figure.low if figure.values else None,
                high=figure.high if figure.values else None,
            )
        )
    return list(groups.values())


def _figure_table(figures: list[Figure]) -> str:
    rows = "".join(
        f"<tr><td>{escape(f.key.workload)}</td><td>{escape(f.key.target)}</td>"
        f"<td>{escape(f.key.client or '-')}</td>"
        f"<td class='n median'>{format_value(f.median)}</td>"
        f"<td class='n'>{format_value(f.low)}</td><td class='n'>{format_value(f.high)}</td>"
        f"<td class='n'>{_iqr(f)}</td><td class='n'>{f.spread_pct:.0f}%</td>"
        f"<td>{escape(f.unit)}</td>"
        f"<td class='n'>{len(f.values)} of {f.runs}</td><td class='n'>{f.failed_runs}</td></tr>"
        for f in figures
    )
    return (
        "<h3>Throughput figures</h3><table class='figures'><tr><th>workload</th>"
        "<th>target</th><th>client</th><th>median</th><th>min</th><th>max</th>"
        "<th>IQR (Q1 - Q3)</th><th>spread (max-min)/median</th><th>unit</th>"
        f"<th>good runs</th><th>failed runs</th></tr>{rows}</table>"
    )


def _iqr(figure: Figure) -> str:
    quartiles = figure.quartiles
    if quartiles is None:
        return "-"
    return f"{format_value(quartiles[0])} - {format_value(quartiles[1])}"


def _suite_details(suite: SuiteResult) -> str:
    rows = "".join(
        f"<tr><td>{escape(t.classname or '')}</td><td>{escape(t.name)}</td>"
        f"<td class='o-{t.outcome.value}'>{t.outcome.value}</td>"
        f"<td class='n'>{t.duration_s:.2f} s</td><td>{escape(_short(t.message))}</td></tr>"
        # Failures first: they are what a reader came for.
        for t in sorted(suite.tests, key=lambda t: (not t.outcome.is_failure, t.outcome.value))
    )
    opened = " open" if suite.outcome.is_failure or len(suite.tests) <= 30 else ""
    links = "".join(f'<li><a href="{escape(p)}">{escape(p)}</a></li>' for p in suite.raw)
    raw = (
        f"<details><summary>{len(suite.raw)} raw output file(s)</summary><ul>{links}</ul></details>"
    )
    table = (
        f"<table><tr><th>group</th><th>test</th><th>outcome</th><th>duration</th>"
        f"<th>message</th></tr>{rows}</table>"
        if rows
        else f"<p>{escape(suite.message or 'No test cases recorded.')}</p>"
    )
    return (
        f'<h2 id="suite-{escape(suite.name)}">Suite: {escape(suite.name)} '
        f'<span class="badge {suite.outcome.value}">{suite.outcome.value}</span></h2>'
        # Which driver answered this suite: a suite that reached another one proves nothing.
        f"<p>Driver exercised: {escape(suite.driver.name)} {escape(suite.driver.version)}</p>"
        f"{raw if suite.raw else ''}"
        f"<details{opened}><summary>{len(suite.tests)} test cases</summary>{table}</details>"
    )


def _short(message: str | None) -> str:
    if not message:
        return ""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first[:300]


def _leaks_and_notes(summary: Summary) -> str:
    parts = ["<h2>Leak report</h2>"]
    if summary.leaks():
        rows = "".join(
            f"<tr><td>{escape(leak.kind)}</td><td>{escape(leak.id)}</td>"
            f"<td>{escape(suite_name)}</td><td>{escape(leak.describe())}</td></tr>"
            for suite_name, leak in summary.leaks()
        )
        parts.append(
            f"<table><tr><th>kind</th><th>id</th><th>suite</th><th>detail</th></tr>{rows}</table>"
        )
    else:
        parts.append(
            "<p>Nothing leaked: every volume, publication and file system was cleaned up.</p>"
        )
    if summary.notes:
        parts.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in summary.notes) + "</ul>"
        )
    return "\n".join(parts)


def _raw_files(raw_files: list[str]) -> str:
    if not raw_files:
        return ""
    links = "".join(f'<li><a href="{escape(p)}">{escape(p)}</a></li>' for p in raw_files)
    return (
        f"<h2>Raw outputs</h2><details><summary>{len(raw_files)} file(s) under raw/"
        f"</summary><ul>{links}</ul></details>"
    )


def _maybe(value: float) -> str:
    # The overall ratio has no single published or raw figure of its own.
    return format_value(value) if value else "-"
