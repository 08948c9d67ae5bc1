"""`fsx-csi`: one console script, one subcommand per part of the project.

The table below (COMMANDS) names each subcommand's module and its one-line help, so that
`fsx-csi --help` imports none of them and `fsx-csi driver ...` imports only the driver: the
process the manifests run must not carry the harness (sanity, e2e, qualify, the emulator and
their dependencies) into its memory or its start-up time. Each module exposes:

    HELP: str                                   its one-line help (the table's copy is checked
                                                against it by tests/test_cli.py)
    add_arguments(parser) -> None               its flags (stdlib imports only at module level)
    run(args) -> int                            the exit code
    mount_namespace_reason(args) -> str | None  optional: why this run makes mounts itself, so
                                                it runs in a private mount namespace (a user+mount
                                                one when not root; fsx_csi_harness/userns.py)
    host_mounts_reason(args) -> str | None      optional: why it must see mounts that others
                                                make (root then stays in the host's namespace)

This module is the only place that reads the command line; everything inward gets the parsed
namespace or a frozen config built from it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

DISTRIBUTION: Final = "fsx-csi-harness"
# The import packages this distribution ships: a missing module outside them is a missing
# dependency, not a bug of ours.
PROJECT_PACKAGES: Final = frozenset(
    {"fsx_csi_harness", "reference_driver", "fsx_emulator", "sanity", "e2e", "qualify"}
)


@dataclass(frozen=True)
class Command:
    module: str
    help: str
    # The pyproject extra it needs beyond the core dependencies (which are the driver's).
    extra: str | None


# The command-line contract (README.md, "Commands"): users and CI scripts depend on these names.
COMMANDS: Final[Mapping[str, Command]] = {
    "driver": Command(
        "reference_driver.cli",
        "run the reference FSx for Lustre CSI driver (identity, controller and/or node)",
        None,
    ),
    "emulator": Command(
        "fsx_emulator.cli",
        "run the FSx API emulator (moto plus FSx for Lustre fidelity) as an HTTP endpoint",
        "emulator",
    ),
    "sanity": Command(
        "sanity.cli",
        "run the CSI sanity suite (a port of csi-sanity) against any CSI endpoint",
        "harness",
    ),
    "e2e": Command(
        "e2e.cli",
        "run the end-to-end scenarios (StorageClass -> claim -> pods) on a platform",
        "harness",
    ),
    "throughput": Command(
        "qualify.throughput_cli",
        "throughput tests (fio, or a labelled Python fallback) on the local, kind or cluster "
        "platform",
        "harness",
    ),
    "qualify": Command(
        "qualify.cli",
        "qualify a driver: sanity, e2e and throughput in one report bundle (no flags: the "
        "reference driver on the local platform with the embedded FSx emulator)",
        "harness",
    ),
    "report": Command(
        "qualify.report.cli",
        "read a report bundle (show), compare two bundles for regressions (compare), or draw a "
        "history of many (trend)",
        "harness",
    ),
}
# Commands whose clean-up (drivers, mounts, file systems, the temp directory) runs on
# KeyboardInterrupt: SIGTERM (a CI job cancelled, `timeout`, `kill`) takes the same path. The
# driver and the emulator are servers with their own graceful stop.
INTERRUPTIBLE_COMMANDS: Final = frozenset({"sanity", "e2e", "throughput", "qualify"})
# Subcommand name -> module, for callers that load one command's flags (the manifest tests).
SUBCOMMANDS: Final[Mapping[str, str]] = {name: c.module for name, c in COMMANDS.items()}


class Subcommand(Protocol):
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class MissingExtra(Exception):
    """A subcommand's optional dependencies are not installed; the message says which extra."""


class Parser(argparse.ArgumentParser):
    """argparse without prefix matching: `--aws real` must never be read as
    `--aws-endpoint-url real`. Sub-parsers are made of the parent's class, so every level
    inherits it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


class _VersionAction(argparse.Action):
    """`--version`, reading the installed version only when asked (the metadata lookup is a
    cost the driver's start-up does not need)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show program's version number and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from fsx_csi_harness import __version__

        print(f"{parser.prog} {__version__}")  # on stdout, as argparse's own version action
        parser.exit()


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def _load(module_name: str) -> Subcommand:
    return cast(Subcommand, importlib.import_module(module_name))


def load(name: str) -> Subcommand:
    """The module of subcommand `name`; MissingExtra when a dependency of its extra is absent."""
    command = COMMANDS[name]
    try:
        return _load(command.module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if command.extra is None or not missing or missing in PROJECT_PACKAGES:
            raise
        raise MissingExtra(
            f"fsx-csi {name}: needs the {command.extra} extra ({missing} is not installed): "
            f"{install_hint(command.extra)}"
        ) from exc


_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements_of(extra: str, requires: Sequence[str]) -> list[str]:
    """Distribution names an extra of ours asks for, extras of ours that it includes expanded
    (`harness` includes `emulator` as `fsx-csi-harness[emulator]`)."""
    names: list[str] = []
    marker = re.compile(rf"""extra\s*==\s*["']{re.escape(extra)}["']""")
    for requirement in requires:
        spec, _, condition = requirement.partition(";")
        match = _NAME.match(spec)
        if match is None or not marker.search(condition):
            continue
        if _normalise(match.group(1)) == DISTRIBUTION:
            for included in (match.group(2) or "").split(","):
                if included.strip():
                    names += _requirements_of(included.strip(), requires)
        else:
            names.append(match.group(1))
    return names


def missing_requirements(extra: str) -> list[str]:
    """The distributions of `extra` that are not installed (none known in a source tree that
    was never installed: there is no metadata to ask)."""
    from importlib import metadata  # not at module level: the driver's start-up never needs it

    try:
        requires = metadata.distribution(DISTRIBUTION).requires or []
    except metadata.PackageNotFoundError:
        return []
    missing = []
    for name in dict.fromkeys(_requirements_of(extra, requires)):
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def _check_extra(name: str) -> None:
    extra = COMMANDS[name].extra
    if extra is None:
        return
    missing = missing_requirements(extra)
    if missing:
        raise MissingExtra(
            f"fsx-csi {name}: needs the {extra} extra ({', '.join(missing)} not installed): "
            f"{install_hint(extra)}"
        )


def command_named_by(argv: Sequence[str]) -> str | None:
    """The subcommand `argv` names: its first word that is not an option (the top-level
    options, --help and --version, take no value)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `fsx-csi` parser: every subcommand is listed (from the table), and only `command`'s
    module is imported to add its flags. MissingExtra when that module cannot be loaded."""
    parser = Parser(
        prog="fsx-csi",
        description="Conformance, end-to-end and throughput tests for FSx for Lustre CSI "
        "drivers, and a reference driver.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, entry in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=entry.help, description=entry.help)
        if name == command:
            module = load(name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_subcommand=module)
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """`argv` parsed with the flags of the subcommand it names; `_subcommand` is its module."""
    command = command_named_by(argv)
    if command is not None and command in COMMANDS:
        _check_extra(command)
    return build_parser(command).parse_args(argv)


def mount_namespace_reason(args: argparse.Namespace) -> str | None:
    """Why the parsed command makes mounts itself (its module's answer; None: it makes none)."""
    return _module_answer(args, "mount_namespace_reason")


def host_mounts_reason(args: argparse.Namespace) -> str | None:
    """Why the parsed command must share the host's mount namespace (its module's answer)."""
    return _module_answer(args, "host_mounts_reason")


def _module_answer(args: argparse.Namespace, hook: str) -> str | None:
    reason_of: Callable[[argparse.Namespace], str | None] | None = getattr(
        args._subcommand, hook, None
    )
    return None if reason_of is None else reason_of(args)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so it unwinds exactly as Ctrl-C does."""


def _raise_terminated(signum: int, frame: object) -> None:
    # Once: a second SIGTERM during clean-up must not interrupt the clean-up itself.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside: SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread;
    the previous handler is restored on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread (an embedding caller's own thread)
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parse_args(words)
    except MissingExtra as exc:
        print(exc, file=sys.stderr)
        return 2
    if argv is None:
        # Only the process's own entry point may replace the process: callers that pass argv
        # (tests, embedding code) keep theirs.
        from fsx_csi_harness import userns

        refused = userns.enter_if_needed(
            mount_namespace_reason(args), words, host_mounts=host_mounts_reason(args)
        )
        if refused is not None:
            return refused
    subcommand: Subcommand = args._subcommand
    interruptible = args.command in INTERRUPTIBLE_COMMANDS
    try:
        with sigterm_as_interrupt() if interruptible else contextlib.nullcontext():
            return int(subcommand.run(args))
    except Terminated:
        print("fsx-csi: terminated (SIGTERM): cleaned up as for Ctrl-C", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("fsx-csi: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
