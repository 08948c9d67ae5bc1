"""`fsx-csi report show`: a bundle as readable text for a terminal or a CI log."""

from __future__ import annotations

from qualify.report.figures import reduce_measurements
from qualify.report.model import Summary


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
        f"  driver:      {target.driver_name or 'unknown'} {target.driver_version or ''}"
        f" ({target.source})"
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
            lines.append(
                f"  {figure.key.label():<40} best {figure.best:>10.1f}  median "
                f"{figure.median:>10.1f} {figure.unit}{failed}"
            )
        for ratio in throughput.ratios:
            lines.append(
                f"  overhead {ratio.workload:<20} published/raw = {ratio.ratio:.3f} "
                f"(target >= {ratio.target:.2f}: {'meets' if ratio.meets_target else 'BELOW'};"
                f" {ratio.method})"
            )
        if throughput.expected is not None:
            expected = throughput.expected
            lines.append(
                f"  expected ({expected.deployment_type}, {expected.capacity_gib} GiB): baseline "
                f"{expected.baseline_mbps:.0f} MB/s"
                + (f", burst {expected.burst_mbps:.0f} MB/s" if expected.burst_mbps else "")
            )
        lines.extend(f"  note: {note}" for note in throughput.notes)
    lines += [
        "",
        "Leaks: " + (", ".join(f"{leak.kind} {leak.id}" for _, leak in summary.leaks()) or "none"),
    ]
    other_notes = [n for n in summary.notes if not n.startswith("incomplete:")]
    if other_notes:
        lines += ["Notes:"] + [f"  {n}" for n in other_notes]
    return "\n".join(lines)
