"""`fsx-csi sanity`: csi-sanity's command line, running the pytest port of its suite.

Every `--csi.*` flag of csi-sanity is accepted with the same meaning. Flags are validated and
the endpoint is dialled (bounded by --csi.connecttimeout) before any case runs, so a typo or
a dead socket fails in seconds with a message naming what is wrong. Only the standard library
is imported at module level so that `fsx-csi --help` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence

HELP = "run the CSI sanity suite (a port of csi-sanity) against any CSI endpoint"

EXIT_BAD_FLAGS = 2
EXIT_UNREACHABLE = 3
PLUGIN_ENTRY_POINT = "fsx_csi_sanity"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sanity.config import FLAGS  # stdlib + PyYAML only at import time of config

    group = parser.add_argument_group("csi-sanity flags (same names and meaning as csi-sanity)")
    for spec in FLAGS:
        names = [spec.flag]
        if spec.field == "profile":
            names.append("--profile")
        if spec.field == "json_report":
            names.append("--json-report")
        group.add_argument(
            *names,
            dest=spec.ini_key,
            default=None,
            metavar="BOOL" if spec.kind == "bool" else spec.kind.upper(),
            nargs="?" if spec.kind == "bool" else None,
            const="true" if spec.kind == "bool" else None,
            help=spec.help,
        )
    runner = parser.add_argument_group("runner")
    runner.add_argument(
        "-n",
        "--numprocesses",
        type=_workers,
        default=0,
        help="run the cases in N parallel workers (pytest-xdist); 0 runs serially; auto "
        "sizes for waiting, not cores: 8 workers per core, at most 16",
    )
    runner.add_argument(
        "--spawn-workers",
        action="store_true",
        help="start each -n worker as a new interpreter (xdist's way), not as a fork of one "
        "that imported the suite once (sanity/forkserver.py)",
    )
    runner.add_argument(
        "--junit-xml", default=None, help="JUnit XML report path (same as --csi.junitfile)"
    )
    runner.add_argument("-k", dest="keyword", default=None, help="only cases matching (pytest -k)")
    runner.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        help="after --: further pytest arguments, passed through unchanged",
    )


def _workers(text: str) -> int | str:
    """-n: a number of workers, or auto."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of workers or auto, not {text!r}"
        ) from None


def worker_count(numprocesses: int | str, profile: str | None) -> int:
    """-n as a number: auto sizes for waiting, not cores: a worker for each case of the
    `profile` that provisions (sanity/schedule.py)."""
    if numprocesses == "auto":
        from sanity.schedule import auto_workers_for

        return auto_workers_for(profile)
    return int(numprocesses)


@contextlib.contextmanager
def fork_server(numprocesses: int | str, spawn: bool) -> Iterator[Callable[[], str | None]]:
    """Start the fork server for -n workers; yields a call that waits until it serves and
    returns the launcher command, or None (serial, --spawn-workers, or it did not start:
    the workers then start the ordinary way, and the run says so)."""
    if not numprocesses or spawn or (numprocesses != "auto" and int(numprocesses) < 2):
        yield lambda: None
        return
    import subprocess
    import tempfile

    from fsx_csi_harness.processes import tied_to_parent
    from sanity.fork_launcher import SERVER_VARIABLE
    from sanity.forkserver import launcher_command

    directory = tempfile.mkdtemp(prefix="csi-sanity-fork-")
    path = os.path.join(directory, "server.sock")  # noqa: PTH118 - a socket path string
    server = subprocess.Popen(
        tied_to_parent([sys.executable, "-m", "sanity.forkserver", path]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def ready() -> str | None:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            print(
                "fsx-csi sanity: the worker fork server did not start; workers start as new "
                "interpreters",
                file=sys.stderr,
            )
            return None
        os.environ[SERVER_VARIABLE] = path
        return launcher_command()

    try:
        yield ready
    finally:
        os.environ.pop(SERVER_VARIABLE, None)
        if server.stdin is not None:
            server.stdin.close()  # its signal to stop
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        # The server removes its socket when it stops; whatever is left goes here.
        for remove, target in ((os.unlink, path), (os.rmdir, directory)):
            with contextlib.suppress(OSError):
                remove(target)


def plugin_arguments() -> list[str]:
    """`-p sanity.plugin` unless the installed entry point already loads it (loading it twice
    makes pytest refuse to start)."""
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="pytest11")}
    return [] if PLUGIN_ENTRY_POINT in names else ["-p", "sanity.plugin"]


def pytest_arguments(args: argparse.Namespace, fork_launcher: str | None = None) -> list[str]:
    """The pytest command line equivalent to these `fsx-csi sanity` flags; with
    `fork_launcher`, the -n workers start through the fork server (sanity/forkserver.py)."""
    from sanity.config import FLAGS

    argv = ["--pyargs", "sanity", *plugin_arguments(), "-p", "no:cacheprovider", "-rfEs"]
    # pytest.main runs in this process, after the fsx-csi dispatcher imported the project's
    # packages: pytest cannot assertion-rewrite those any more and would say so for each.
    argv += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    for spec in FLAGS:
        value = getattr(args, spec.ini_key, None)
        if value is None:
            continue
        if spec.field == "junit_file":
            argv.append(f"--junit-xml={value}")
            continue
        argv.append(f"{spec.flag}={value}")
    if args.junit_xml:
        argv.append(f"--junit-xml={args.junit_xml}")
    extra = list(args.pytest_args or [])
    if extra and extra[0] == "--":
        extra = extra[1:]
    if args.numprocesses:
        if fork_launcher is not None:
            # xdist's -n N is N plain popen gateways; these are the same gateways started
            # by another command. --tx needs an explicit --dist, added below.
            workers = worker_count(args.numprocesses, args.csi_profile)
            argv += ["--tx", f"{workers}*popen//python={fork_launcher}"]
        else:
            argv += ["-n", str(args.numprocesses)]
        if not any(arg.startswith(("--dist", "-d", "--maxschedchunk")) for arg in extra):
            # The plugin's scheduler then hands the cases out as workers come up, one slow
            # case per worker at a time (sanity/schedule.py); xdist's default would wait for
            # every worker and send each a batch up front.
            argv += ["--dist", "load", "--maxschedchunk", "1"]
    if args.keyword:
        argv += ["-k", args.keyword]
    return argv + extra


# The CSIDriver name of FSx for Lustre drivers (the upstream driver's and ours).
FSX_DRIVER_NAME = "fsx.csi.aws.com"


def fsx_defaults(args: argparse.Namespace, driver_name: str, say: Callable[[str], None]) -> None:
    """An FSx for Lustre driver gets the FSx profile (FSx sizes: csi-sanity's 10 GiB volumes
    are below FSx's minimum) and the FSx test-volume parameters unless the flags chose."""
    if driver_name != FSX_DRIVER_NAME or args.csi_profile is not None:
        return
    from fsx_csi_harness.data import fixture_path

    args.csi_profile = "fsx"
    chosen = "profile fsx (FSx sizes)"
    if args.csi_test_volume_parameters_file is None:
        parameters = fixture_path("sanity", "fsx-volume-parameters.yaml")
        args.csi_test_volume_parameters_file = str(parameters)
        chosen += f", test-volume parameters {parameters}"
    say(f"an FSx for Lustre driver: {chosen}; --profile none for csi-sanity's defaults")


def run(args: argparse.Namespace) -> int:
    from sanity.config import FLAGS, ConfigError, config_from_raw, load_inputs

    raw = {spec.field: getattr(args, spec.ini_key, None) for spec in FLAGS}
    try:
        config = config_from_raw(raw)
        load_inputs(config)
    except ConfigError as exc:
        print(f"fsx-csi sanity: {exc}", file=sys.stderr)
        return EXIT_BAD_FLAGS
    if isinstance(args.numprocesses, int) and args.numprocesses < 0:
        print("fsx-csi sanity: -n must be >= 0", file=sys.stderr)
        return EXIT_BAD_FLAGS

    from sanity.connection import ConnectError, connect, identify

    def say(line: str) -> None:
        print(f"fsx-csi sanity: {line}", file=sys.stderr, flush=True)

    # The fork server for -n workers starts now, so that its imports overlap the checks.
    with fork_server(args.numprocesses, args.spawn_workers) as launcher:
        for endpoint in filter(None, (config.endpoint, config.controller_endpoint)):
            say(f"connecting to {endpoint} ...")
            try:
                connection = connect(endpoint, config.connect_timeout, progress=say)
                try:
                    info = identify(connection, config.connect_timeout)
                finally:
                    connection.close()
            except ConnectError as exc:
                say(str(exc))
                return EXIT_UNREACHABLE
            say(f"{endpoint}: {info.name} {info.vendor_version}".rstrip())
            if endpoint == config.endpoint:
                fsx_defaults(args, info.name, say)

        import pytest

        return int(pytest.main(pytest_arguments(args, launcher())))


def main(argv: Sequence[str] | None = None) -> int:
    # No prefix matching, as in `fsx-csi sanity` (fsx_csi_harness/cli.py).
    parser = argparse.ArgumentParser(prog="fsx-csi sanity", description=HELP, allow_abbrev=False)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
