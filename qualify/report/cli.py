"""`fsx-csi report show BUNDLE`, `fsx-csi report compare A B` and `fsx-csi report trend DIR...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = (
    "read a report bundle (show), compare two bundles for regressions (compare), or draw a "
    "history of many (trend)"
)

# Exit codes scripts can rely on (README.md in this directory).
EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_UNREADABLE = 3
EXIT_INCOMPLETE = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="report_action", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show", help="print a readable summary of a bundle", description="Print a bundle's summary."
    )
    show.add_argument(
        "bundle", type=Path, help="a bundle directory (reports/<run-id>) or its summary.json"
    )
    show.add_argument("--json", action="store_true", help="print summary.json as read (normalised)")
    compare = actions.add_parser(
        "compare",
        help="show what changed from bundle A to bundle B; exit 1 on a regression",
        description="Compare two bundles. Exit codes: 0 no regression, 1 regression, "
        f"{EXIT_UNREADABLE} a bundle is unreadable, {EXIT_INCOMPLETE} a bundle is incomplete.",
    )
    compare.add_argument("before", type=Path, metavar="A", help="the earlier bundle (the baseline)")
    compare.add_argument("after", type=Path, metavar="B", help="the later bundle")
    trend = actions.add_parser(
        "trend",
        help="one HTML page over many bundles: suites, throughput and regressions over time",
        description="Write one self-contained HTML page over many bundles (a CI history): per "
        "suite pass/fail over time, per workload median with its spread over time, and the "
        "first bundle where each regression appeared. Exit codes: 0 page written, "
        f"{EXIT_USAGE} no bundle found, {EXIT_UNREADABLE} no bundle readable.",
    )
    trend.add_argument(
        "directories",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="a bundle, or a directory of bundles (reports/); incomplete ones are skipped",
    )
    trend.add_argument(
        "--output",
        "-o",
        type=Path,
        default=Path("trend.html"),
        help="where to write the page (default trend.html)",
    )
    for sub in (compare, trend):
        sub.add_argument(
            "--threshold",
            type=_percentage,
            default=10.0,
            metavar="PCT",
            help="a throughput median drop larger than PCT percent of the earlier bundle's, "
            "beyond the repeats' noise, is a regression (default 10)",
        )
    for sub in (show, compare):
        sub.add_argument(
            "--allow-incomplete",
            action="store_true",
            help="read bundles of runs that did not finish (their results are partial)",
        )


def _percentage(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a percentage such as 10, saw {text!r}"
        ) from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"expected a percentage in [0, 100), saw {value:g}")
    return value


def run(args: argparse.Namespace) -> int:
    import json

    from qualify.report.bundle import BundleError, load_bundle
    from qualify.report.compare import compare, format_comparison
    from qualify.report.model import to_json
    from qualify.report.show import format_summary

    if args.report_action == "trend":
        return _trend(args)
    try:
        if args.report_action == "show":
            summary = load_bundle(args.bundle, allow_incomplete=True)
            if args.json:
                print(json.dumps(to_json(summary), indent=2))
            else:
                print(format_summary(summary, str(args.bundle)))
            if not summary.complete and not args.allow_incomplete:
                return EXIT_INCOMPLETE
            return EXIT_OK
        before = load_bundle(args.before, allow_incomplete=args.allow_incomplete)
        after = load_bundle(args.after, allow_incomplete=args.allow_incomplete)
    except BundleError as exc:
        print(f"fsx-csi report: {exc}", file=sys.stderr)
        return exc.exit_code
    result = compare(before, after, args.threshold)
    print(format_comparison(result, str(args.before), str(args.after)))
    return EXIT_REGRESSION if result.has_regression else EXIT_OK


def _trend(args: argparse.Namespace) -> int:
    from qualify.report.bundle import write_atomically
    from qualify.report.trend import build_trend, find_bundles, format_trend, render_trend_html

    bundles, skipped = find_bundles(list(args.directories))
    if not bundles:
        where = ", ".join(str(d) for d in args.directories)
        if skipped:
            print(f"fsx-csi report trend: no readable bundle in {where}:", file=sys.stderr)
            for note in skipped:
                print(f"  {note}", file=sys.stderr)
            return EXIT_UNREADABLE
        print(
            f"fsx-csi report trend: no bundle in {where} (a bundle is a directory with "
            "summary.json; pass reports/ or bundle directories)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    trend = build_trend(bundles, skipped, args.threshold)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(args.output, render_trend_html(trend))
    print(format_trend(trend, args.output))
    return EXIT_OK
