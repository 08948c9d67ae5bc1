"""`fsx-csi`: one console script, one subcommand per part of the project.

Each subcommand lives in its own module, which exposes:

    HELP: str                                   one line for `fsx-csi --help`
    add_arguments(parser) -> None               its flags (stdlib imports only at module level,
                                                so that `fsx-csi --help` stays instant)
    run(args) -> int                            the exit code

This module is the only place that reads the command line; everything inward gets the parsed
namespace or a frozen config built from it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from fsx_csi_harness import __version__

# Subcommand name -> module implementing it (the command-line contract of DESIGN.md).
SUBCOMMANDS: dict[str, str] = {
    "driver": "reference_driver.cli",
    "emulator": "fsx_emulator.cli",
    "sanity": "sanity.cli",
    "e2e": "e2e.cli",
    "throughput": "qualify.throughput_cli",
    "qualify": "qualify.cli",
    "report": "qualify.report.cli",
}


class Subcommand(Protocol):
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(module_name: str) -> Subcommand | None:
    try:
        return cast(Subcommand, importlib.import_module(module_name))
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None  # that part of the project is not built yet
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fsx-csi",
        description="Conformance, end-to-end and throughput tests for FSx for Lustre CSI "
        "drivers, and a reference driver.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module = _load(module_name)
        if module is None:
            continue
        sub_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None:
        # Only the process's own entry point may replace the process: callers that pass argv
        # (tests, embedding code) keep theirs.
        from fsx_csi_harness import userns

        refused = userns.enter_if_needed(args, sys.argv[1:])
        if refused is not None:
            return refused
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        print("fsx-csi: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
