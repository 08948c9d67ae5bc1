"""`fsx-csi report show`: a bundle as readable text for a terminal or a CI log."""

from __future__ import annotations

from qualify.report.figures import reduce_measurements
from qualify.report.model import Expected, Ratio, Summary
from qualify.report.svg import format_value


def ratio_text(ratio: Ratio) -> str:
    """The ratio, how it was computed and what it means, in the same words everywhere."""
    if ratio.published and ratio.raw:
        figure = (
            f"published/raw = {format_value(ratio.published)} / {format_value(ratio.raw)} "
            f"= {ratio.ratio:.3f}"
        )
    else:
        figure = f"published/raw = {ratio.ratio:.3f} ({ratio.method})"
    spread = (
        f"; {'runs' if ratio.published else 'workloads'} "
        f"{ratio.paired_low:.3f}-{ratio.paired_high:.3f}"
        if ratio.paired_low is not None and ratio.paired_high is not None
        else ""
    )
    return f"{figure}{spread}; {ratio_status(ratio)} (target {ratio.target:.2f})"


def ratio_status(ratio: Ratio) -> str:
    if ratio.meets_target:
        return "meets the target"
    if ratio.within_noise:
        return "below the target, within the runs' spread"
    return "below the target beyond the runs' spread"


def expected_text(expected: Expected, platform: str) -> str:
    what = (
        f"{expected.deployment_type}"
        + (f" {expected.storage_type}" if expected.storage_type else "")
        + f", {expected.capacity_gib} GiB"
        + (f", {expected.per_unit_throughput} MB/s/TiB" if expected.per_unit_throughput else "")
    )
    source = (
        f"from {expected.source} of {expected.file_system_id}"
        if expected.file_system_id
        else f"from {expected.source}"
    )
    figures = f"baseline {expected.baseline_mbps:,.0f} MB/s" + (
        f", burst {expected.burst_mbps:,.0f} MB/s" if expected.burst_mbps else ""
    )
    where = (
        "what real FSx would give this file system (aggregate over all clients; the local "
        "platform measures a bind-mounted directory, not FSx)"
        if platform == "local"
        else "aggregate over all clients"
    )
    return f"{figures} for {what} ({source}): {where}"


def format_summary(summary: Summary, bundle: str, max_failures: int = 30) -> str:
    lines: list[str] = []
    state = summary.verdict.value.upper()
    if not summary.complete:
        lines.append("*** INCOMPLETE RUN: partial results, no verdict ***")
        lines.extend(f"    {n}" for n in summary.notes if n.startswith("incomplete:"))
    target = summary.target
    lines += [
        f"Report {summary.run_id}: {state}",
        f"  bundle:      {bundle}",
        f"  driver:      {target.describe_driver()} ({target.source})"
        + (f", {target.endpoint}" if target.endpoint else "")
        + (f", manifests {target.manifests}" if target.manifests else ""),
        f"  platform:    {summary.platform}, AWS {summary.aws_mode}",
        f"  when:        {summary.started} -> {summary.finished or 'not finished'}",
        f"  environment: {summary.environment.host}, {summary.environment.kernel}, "
        f"{summary.environment.python}, fio: {summary.environment.fio}",
        "",
        "Suites:",
    ]
    for suite in summary.suites:
        counts = suite.counts()
        tally = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n)
        lines.append(
            f"  {suite.name:<12} {suite.outcome.value:<8} {suite.duration_s:7.1f} s"
            f"  {tally or 'no cases'}"
            + (
                f"  (driver {suite.driver.name} {suite.driver.version})"
                if suite.driver.known
                else ""
            )
        )
        if suite.message:
            lines.append(f"               {suite.message}")
    failures = [
        (suite.name, test)
        for suite in summary.suites
        for test in suite.tests
        if test.outcome.is_failure
    ]
    if failures:
        lines += ["", f"Failures ({len(failures)}):"]
        for suite_name, test in failures[:max_failures]:
            lines.append(f"  {suite_name} :: {test.name} [{test.outcome.value}]")
            if test.message:
                lines.extend(f"      {line}" for line in test.message.strip().splitlines()[:3])
        if len(failures) > max_failures:
            lines.append(f"  ... and {len(failures) - max_failures} more (see junit.xml)")
    throughput = summary.throughput
    if throughput is not None:
        lines += [
            "",
            f"Throughput (engine: {throughput.engine}"
            f"{' ' + throughput.engine_version if throughput.engine_version else ''}; "
            f"metadata: {throughput.metadata_engine}):",
        ]
        for figure in reduce_measurements(throughput.measurements):
            failed = f"  ({figure.failed_runs} failed run(s))" if figure.failed_runs else ""
            context = "  (context: measures no driver)" if not figure.key.measures_driver else ""
            lines.append(
                f"  {figure.key.label():<40} median {format_value(figure.median):>9} "
                f"{figure.unit:<5} [min {format_value(figure.low)}, max "
                f"{format_value(figure.high)}; {len(figure.values)} good of {figure.runs}]"
                f"{failed}{context}"
            )
        for ratio in throughput.ratios:
            lines.append(f"  overhead {ratio.workload:<20} {ratio_text(ratio)}")
        if throughput.expected is not None:
            lines.append(f"  expected: {expected_text(throughput.expected, summary.platform)}")
        lines.extend(f"  note: {note}" for note in throughput.notes)
    lines += [
        "",
        "Leaks: " + (", ".join(f"{leak.kind} {leak.id}" for _, leak in summary.leaks()) or "none"),
    ]
    other_notes = [n for n in summary.notes if not n.startswith("incomplete:")]
    if other_notes:
        lines += ["Notes:"] + [f"  {n}" for n in other_notes]
    return "\n".join(lines)
