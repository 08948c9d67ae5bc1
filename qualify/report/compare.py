"""What changed between two bundles, and whether any of it is a regression.

A regression is one of:
- a suite that ran and passed in A and is missing, not run or failed in B;
- a test case (sanity case, e2e scenario or step, throughput workload) that passed in A and is
  missing, not run, failed or errored in B, or a new case that fails in B;
- a throughput figure of the driver (not the raw directory: that measures no driver) whose
  median in B is lower than A's by more than the threshold AND whose repeats are lower than
  A's repeats lowered by the threshold, beyond noise (`stats`: a one-sided Mann-Whitney U rank
  test; a figure with fewer than `stats.MIN_REPEATS` good repeats is not judged). Testing
  against the threshold-lowered runs, not against A's runs, keeps the false alarms of a
  bundle with some twenty figures rare: a figure that did not change almost never has all its
  runs below A's lowered by 10 %;
- a leak in B that A did not have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qualify.report import stats
from qualify.report.figures import Figure, FigureKey, reduce_measurements
from qualify.report.model import Outcome, SuiteResult, Summary
from qualify.report.svg import format_value

DEFAULT_THRESHOLD_PCT = 10.0

NOISE_TEST = (
    "one-sided Mann-Whitney U rank test of B's repeats against A's repeats lowered by the "
    f"threshold, p <= {stats.ALPHA:g}; a figure with fewer than {stats.MIN_REPEATS} good "
    "repeats on either side cannot reach that p and is not judged"
)


def _lost(before: Outcome | None, after: Outcome | None) -> bool:
    """Passed in A, and in B gone, not run or failing."""
    return before is Outcome.PASSED and (
        after is None or after is Outcome.NOT_RUN or after.is_failure
    )


@dataclass
class SuiteChange:
    suite: str
    before: Outcome | None  # None: the suite is not in A
    after: Outcome | None  # None: the suite is not in B
    message: str | None = None

    @property
    def is_regression(self) -> bool:
        return _lost(self.before, self.after)


@dataclass
class TestChange:
    __test__ = False  # a record, not a pytest test class

    suite: str
    test: str
    before: Outcome | None  # None: the test is new in B
    after: Outcome | None  # None: the test is gone from B
    message: str | None = None

    @property
    def is_regression(self) -> bool:
        if _lost(self.before, self.after):
            return True
        # A failure in a test that A did not have counts; one that failed in A and still fails
        # is reported but is not new.
        return self.before is None and self.after is not None and self.after.is_failure


@dataclass
class ThroughputChange:
    before: Figure
    after: Figure
    threshold_pct: float

    @property
    def key(self) -> FigureKey:
        return self.before.key

    @property
    def unit(self) -> str:
        return self.before.unit

    @property
    def change_pct(self) -> float:
        base = self.before.median
        return (self.after.median - base) / base * 100 if base else 0.0

    @property
    def _lowered_before(self) -> list[float]:
        # A's runs as they would be after a drop of exactly the threshold: B is a regression
        # only if it is below even those, beyond what the repeats show as noise.
        return [value * (1 - self.threshold_pct / 100) for value in self.before.values]

    @property
    def p_value(self) -> float | None:
        """The rank test's p, or None when either side has too few good repeats."""
        if min(len(self.before.values), len(self.after.values)) < stats.MIN_REPEATS:
            return None
        return stats.p_value_lower(self.after.values, self._lowered_before)

    @property
    def beyond_noise(self) -> bool:
        """B is lower than A by more than the threshold, beyond the repeats' noise; False
        when either side has too few good repeats to tell (the figure is not judged)."""
        p = self.p_value
        return p is not None and p <= stats.ALPHA

    @property
    def judged(self) -> bool:
        return self.p_value is not None

    @property
    def is_context(self) -> bool:
        return not self.key.measures_driver

    @property
    def is_regression(self) -> bool:
        return not self.is_context and self.change_pct < -self.threshold_pct and self.beyond_noise

    def status(self) -> str:
        if self.is_regression:
            return "REGRESSED"
        if self.is_context:
            return "context (measures no driver)"
        if self.change_pct < -self.threshold_pct:
            if not self.judged:
                return f"drop, not judged (fewer than {stats.MIN_REPEATS} good runs)"
            return "drop within noise"
        return ""

    def evidence(self) -> str:
        p = self.p_value
        if p is None:
            runs = min(len(self.before.values), len(self.after.values))
            return f"{runs} run(s): too few"
        return f"p={p:.3f}"


@dataclass
class Comparison:
    threshold_pct: float
    suite_changes: list[SuiteChange] = field(default_factory=list)
    test_changes: list[TestChange] = field(default_factory=list)
    throughput_changes: list[ThroughputChange] = field(default_factory=list)
    verdict_before: str = ""
    verdict_after: str = ""
    context_differences: list[str] = field(default_factory=list)
    new_leaks: list[str] = field(default_factory=list)

    @property
    def suite_regressions(self) -> list[SuiteChange]:
        return [c for c in self.suite_changes if c.is_regression]

    @property
    def test_regressions(self) -> list[TestChange]:
        return [c for c in self.test_changes if c.is_regression]

    @property
    def throughput_regressions(self) -> list[ThroughputChange]:
        return [c for c in self.throughput_changes if c.is_regression]

    @property
    def has_regression(self) -> bool:
        return bool(
            self.suite_regressions
            or self.test_regressions
            or self.throughput_regressions
            or self.new_leaks
        )


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
    result.suite_changes = _suite_changes(before, after)
    result.test_changes = _test_changes(before, after)
    result.throughput_changes = _throughput_changes(before, after, threshold_pct)
    known = {(leak.kind, leak.id) for _, leak in before.leaks()}
    result.new_leaks = [
        f"{leak.kind} {leak.id} ({suite_name})"
        for suite_name, leak in after.leaks()
        if (leak.kind, leak.id) not in known
    ]
    return result


def _name(outcome: Outcome | None) -> str:
    return "absent" if outcome is None else outcome.value


def _driver(summary: Summary) -> str:
    return summary.target.describe_driver()


def _suite_outcome(suite: SuiteResult) -> Outcome:
    # A suite whose own outcome reads passed but whose cases failed or that leaked did not pass.
    return Outcome.FAILED if suite.failed and suite.outcome is Outcome.PASSED else suite.outcome


def _suite_changes(before: Summary, after: Summary) -> list[SuiteChange]:
    a = {suite.name: suite for suite in before.suites}
    b = {suite.name: suite for suite in after.suites}
    changes = []
    for name in list(a) + [n for n in b if n not in a]:
        outcome_a = _suite_outcome(a[name]) if name in a else None
        outcome_b = _suite_outcome(b[name]) if name in b else None
        if outcome_a != outcome_b:
            message = b[name].message if name in b else "the suite is not in B"
            changes.append(SuiteChange(name, outcome_a, outcome_b, message))
    return changes


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


def figures_of(summary: Summary) -> dict[FigureKey, Figure]:
    if summary.throughput is None:
        return {}
    return {f.key: f for f in reduce_measurements(summary.throughput.measurements)}


def _throughput_changes(
    before: Summary, after: Summary, threshold_pct: float
) -> list[ThroughputChange]:
    # Medians and the repeats' ranks, not the best run: a regression should show in the
    # typical run, and beyond what the runs of one bundle vary among themselves.
    a, b = figures_of(before), figures_of(after)
    return [
        ThroughputChange(a[key], b[key], threshold_pct)
        for key in a
        if key in b and a[key].metric == b[key].metric
    ]


def _spread(figure: Figure) -> str:
    if not figure.values:
        return "no good run"
    return (
        f"{format_value(figure.median)} [{format_value(figure.low)}-{format_value(figure.high)}]"
        f" n={len(figure.values)}"
    )


def format_comparison(result: Comparison, name_a: str, name_b: str) -> str:
    lines = [f"Comparing A={name_a}", f"       to B={name_b}"]
    lines.append(f"Verdict: {result.verdict_before} -> {result.verdict_after}")
    if result.context_differences:
        lines.append("Different context (figures may not be comparable):")
        lines.extend(f"  {d}" for d in result.context_differences)
    lines.append("")
    lines.append(f"Suite regressions: {len(result.suite_regressions)}")
    for suite_change in result.suite_changes:
        flag = "REGRESSED" if suite_change.is_regression else "changed  "
        lines.append(
            f"  {flag} suite {suite_change.suite}: {_name(suite_change.before)} -> "
            f"{_name(suite_change.after)}"
            + (f" ({suite_change.message.strip()[:200]})" if suite_change.message else "")
        )
    regressions = result.test_regressions
    lines.append(f"Test regressions: {len(regressions)}")
    for change in regressions:
        was = change.before.value if change.before else "absent (new test)"
        now = change.after.value if change.after else "absent"
        lines.append(f"  REGRESSED {change.suite} :: {change.test}: {was} -> {now}")
        if change.message:
            lines.append(f"      {change.message.strip().splitlines()[0][:200]}")
    others = [c for c in result.test_changes if not c.is_regression]
    if others:
        lines.append(f"Other test changes: {len(others)}")
        for change in others:
            lines.append(
                f"  {change.suite} :: {change.test}: {_name(change.before)} -> "
                f"{_name(change.after)}"
            )
    if result.throughput_changes:
        lines.append("")
        lines.append(
            f"Throughput, median [min-max] n=good repeats; a regression is a drop of more than "
            f"{result.threshold_pct:g}% that is beyond noise ({NOISE_TEST}):"
        )
        for move in result.throughput_changes:
            lines.append(
                f"  {move.key.label():<34} {_spread(move.before):>28} -> "
                f"{_spread(move.after):>28} {move.unit:<5} {move.change_pct:+7.1f}% "
                f"{move.evidence():<14} {move.status()}".rstrip()
            )
    if result.new_leaks:
        lines.append("")
        lines.append("New leaks in B:")
        lines.extend(f"  {leak}" for leak in result.new_leaks)
    lines.append("")
    lines.append("RESULT: regression found" if result.has_regression else "RESULT: no regression")
    return "\n".join(lines)
