"""What changed between two bundles, and whether any of it is a regression."""

from __future__ import annotations

from dataclasses import dataclass, field

from qualify.report.figures import Figure, FigureKey, reduce_measurements
from qualify.report.model import Outcome, Summary

DEFAULT_THRESHOLD_PCT = 10.0


@dataclass
class TestChange:
    suite: str
    test: str
    before: Outcome | None  # None: the test is new in B
    after: Outcome | None  # None: the test is gone from B
    message: str | None = None

    @property
    def is_regression(self) -> bool:
        if self.after is None or not self.after.is_failure:
            return False
        # passed->failed, and a failure in a test that A did not have, both count; a test
        # that failed in A and still fails is reported but is not new.
        return self.before is None or not self.before.is_failure


@dataclass
class ThroughputChange:
    key: FigureKey
    unit: str
    before: float
    after: float

    @property
    def change_pct(self) -> float:
        return (self.after - self.before) / self.before * 100 if self.before else 0.0


@dataclass
class Comparison:
    threshold_pct: float
    test_changes: list[TestChange] = field(default_factory=list)
    throughput_changes: list[ThroughputChange] = field(default_factory=list)
    verdict_before: str = ""
    verdict_after: str = ""
    context_differences: list[str] = field(default_factory=list)
    new_leaks: list[str] = field(default_factory=list)

    @property
    def test_regressions(self) -> list[TestChange]:
        return [c for c in self.test_changes if c.is_regression]

    @property
    def throughput_regressions(self) -> list[ThroughputChange]:
        return [c for c in self.throughput_changes if c.change_pct < -self.threshold_pct]

    @property
    def has_regression(self) -> bool:
        return bool(self.test_regressions or self.throughput_regressions or self.new_leaks)


def compare(
    before: Summary, after: Summary, threshold_pct: float = DEFAULT_THRESHOLD_PCT
) -> Comparison:
    result = Comparison(
        threshold_pct=threshold_pct,
        verdict_before=before.verdict.value,
        verdict_after=after.verdict.value,
    )
    for label, a, b in (
        ("platform", before.platform, after.platform),
        ("AWS mode", before.aws_mode, after.aws_mode),
        ("driver", _driver(before), _driver(after)),
        ("fio", before.environment.fio, after.environment.fio),
        ("host", before.environment.host, after.environment.host),
    ):
        if a != b:
            result.context_differences.append(f"{label}: {a} -> {b}")
    result.test_changes = _test_changes(before, after)
    result.throughput_changes = _throughput_changes(before, after)
    known = {(leak.kind, leak.id) for _, leak in before.leaks()}
    result.new_leaks = [
        f"{leak.kind} {leak.id} ({suite_name})"
        for suite_name, leak in after.leaks()
        if (leak.kind, leak.id) not in known
    ]
    return result


def _driver(summary: Summary) -> str:
    return (
        f"{summary.target.driver_name or 'unknown'} {summary.target.driver_version or ''}".strip()
    )


def _test_changes(before: Summary, after: Summary) -> list[TestChange]:
    def index(summary: Summary) -> dict[tuple[str, str], tuple[Outcome, str | None]]:
        table: dict[tuple[str, str], tuple[Outcome, str | None]] = {}
        for suite in summary.suites:
            for test in suite.tests:
                name = f"{test.classname}::{test.name}" if test.classname else test.name
                table[(suite.name, name)] = (test.outcome, test.message)
        return table

    a, b = index(before), index(after)
    changes = []
    for key in sorted(a.keys() | b.keys()):
        outcome_a = a[key][0] if key in a else None
        outcome_b, message = b.get(key, (None, None))
        if outcome_a != outcome_b:
            changes.append(TestChange(key[0], key[1], outcome_a, outcome_b, message))
    return changes


def _throughput_changes(before: Summary, after: Summary) -> list[ThroughputChange]:
    # Median, not best: a regression should show in the typical run, not only in the luckiest.
    def figures(summary: Summary) -> dict[FigureKey, Figure]:
        if summary.throughput is None:
            return {}
        return {f.key: f for f in reduce_measurements(summary.throughput.measurements)}

    a, b = figures(before), figures(after)
    return [
        ThroughputChange(key, b[key].unit, a[key].median, b[key].median)
        for key in a
        if key in b and a[key].metric == b[key].metric
    ]


def format_comparison(result: Comparison, name_a: str, name_b: str) -> str:
    lines = [f"Comparing A={name_a}", f"       to B={name_b}"]
    lines.append(f"Verdict: {result.verdict_before} -> {result.verdict_after}")
    if result.context_differences:
        lines.append("Different context (figures may not be comparable):")
        lines.extend(f"  {d}" for d in result.context_differences)
    regressions = result.test_regressions
    lines.append("")
    lines.append(f"Test regressions: {len(regressions)}")
    for change in regressions:
        was = change.before.value if change.before else "absent (new test)"
        lines.append(f"  REGRESSED {change.suite} :: {change.test}: {was} -> {change.after}")
        if change.message:
            lines.append(f"      {change.message.strip().splitlines()[0][:200]}")
    others = [c for c in result.test_changes if not c.is_regression]
    if others:
        lines.append(f"Other test changes: {len(others)}")
        for change in others:
            was = change.before.value if change.before else "absent"
            now = change.after.value if change.after else "absent"
            lines.append(f"  {change.suite} :: {change.test}: {was} -> {now}")
    if result.throughput_changes:
        lines.append("")
        lines.append(
            f"Throughput (median per workload; regression threshold {result.threshold_pct:g}%):"
        )
        for drop in result.throughput_changes:
            flag = "REGRESSED" if drop in result.throughput_regressions else "         "
            lines.append(
                f"  {flag} {drop.key.label():<40} {drop.before:>10.1f} -> "
                f"{drop.after:>10.1f} {drop.unit:<6} ({drop.change_pct:+.1f}%)"
            )
    if result.new_leaks:
        lines.append("")
        lines.append("New leaks in B:")
        lines.extend(f"  {leak}" for leak in result.new_leaks)
    lines.append("")
    lines.append("RESULT: regression found" if result.has_regression else "RESULT: no regression")
    return "\n".join(lines)
