"""`fsx-csi emulator`: run the FSx API emulator as an HTTP endpoint until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

# Stdlib only (config.py), so that --help stays instant.
from fsx_emulator.config import STRICT_RATE_LIMITS, EmulatorConfig, RateLimit

HELP = "run the FSx API emulator (moto plus FSx for Lustre fidelity) as an HTTP endpoint"

MAX_PORT = 65535


def port_number(text: str) -> int:
    """A TCP port for argparse: 0..65535 (the socket layer would wrap 99999 to 34463)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"{port} is not a TCP port: choose 1-{MAX_PORT}, or 0 to pick a free one"
        )
    return port


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    return seconds


def rate_limit_entry(text: str) -> tuple[str, RateLimit]:
    """`OPERATION=RATE[/BURST]` for --rate-limit."""
    operation, sep, limit = text.partition("=")
    if not sep or not operation:
        raise argparse.ArgumentTypeError(
            f"expected OPERATION=RATE[/BURST] (e.g. DescribeFileSystems=5/10, or *=20), got "
            f"{text!r}"
        )
    try:
        return operation, RateLimit.parse(limit)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # The defaults are EmulatorConfig's, so the two cannot drift.
    defaults = EmulatorConfig()
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=0,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--region", default=defaults.region, help="AWS region to emulate (default: %(default)s)"
    )
    parser.add_argument(
        "--creation-delay",
        type=float,
        default=defaults.creation_delay,
        metavar="SECONDS",
        help="CREATING -> AVAILABLE delay for file systems and associations (default: %(default)s)",
    )
    parser.add_argument(
        "--deletion-delay",
        type=float,
        default=defaults.deletion_delay,
        metavar="SECONDS",
        help="DELETING -> gone delay (default: %(default)s)",
    )
    parser.add_argument(
        "--update-delay",
        type=float,
        default=defaults.update_delay,
        metavar="SECONDS",
        help="duration of each storage-update phase (default: %(default)s)",
    )
    parser.add_argument(
        "--token-ttl",
        type=positive_seconds,
        default=defaults.token_ttl,
        metavar="SECONDS",
        help="how long a CreateFileSystem ClientRequestToken returns its file system; after "
        "that the same token creates a new one, as on AWS (default: %(default)s)",
    )
    parser.add_argument(
        "--describe-page-size",
        type=int,
        default=defaults.describe_page_size,
        metavar="N",
        help="most file systems per DescribeFileSystems answer, whatever MaxResults asks; "
        "the rest come with a NextToken (default: %(default)s)",
    )
    parser.add_argument(
        "--rate-limit",
        type=rate_limit_entry,
        action="append",
        default=[],
        metavar="OPERATION=RATE[/BURST]",
        help="answer ThrottlingException beyond RATE calls per second of OPERATION (a token "
        "bucket of BURST calls; '*' for every operation not named); repeatable; overrides "
        "--strict's limit for that operation",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="AWS-like rate limits on every operation (see fsx_emulator/README.md); off by default",
    )
    parser.add_argument(
        "--emulation-root",
        type=Path,
        default=None,
        metavar="DIR",
        help="Lustre emulation: keep DIR/<file-system-id>/<MountName>/ for AVAILABLE file "
        "systems (the mount.lustre emulation helper bind-mounts it)",
    )
    parser.add_argument(
        "--emulation-tmpfs",
        action="store_true",
        help="mount a tmpfs sized to each file system's capacity on its directory (root only), "
        "so that it is a file system of its own, as a Lustre mount is",
    )


def run(args: argparse.Namespace) -> int:
    from fsx_emulator.server import EmulatorServer

    rate_limits: dict[str, RateLimit] = dict(STRICT_RATE_LIMITS) if args.strict else {}
    rate_limits.update(args.rate_limit)
    try:
        config = EmulatorConfig(
            region=args.region,
            creation_delay=args.creation_delay,
            deletion_delay=args.deletion_delay,
            update_delay=args.update_delay,
            emulation_root=args.emulation_root,
            emulation_tmpfs=args.emulation_tmpfs,
            token_ttl=args.token_ttl,
            describe_page_size=args.describe_page_size,
            rate_limits=rate_limits,
        )
    except ValueError as exc:
        print(f"fsx-csi emulator: {exc}", file=sys.stderr)
        return 2
    if config.emulation_root is not None:
        config.emulation_root.mkdir(parents=True, exist_ok=True)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        server = EmulatorServer(config, host=args.host, port=args.port).start()
    except OSError as exc:
        print(
            f"fsx-csi emulator: cannot listen on {args.host}:{args.port}: {exc}; choose another "
            "--port (0 picks a free one)",
            file=sys.stderr,
        )
        return 1
    try:
        # Everything a client needs, as shell assignments: a boto3 client with only the
        # endpoint fails for want of a region and credentials.
        client_env = " ".join(f"{k}={v}" for k, v in server.client_environment.items())
        print(f"FSx emulator listening: {client_env}", flush=True)
        print(f"FSx emulator settings: {describe_settings(config)}", flush=True)
        if config.emulation_root is not None:
            print(f"Lustre emulation root: {config.emulation_root}", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
    print("FSx emulator stopped", flush=True)
    return 0


def describe_settings(config: EmulatorConfig) -> str:
    limits = ", ".join(
        f"{operation} {limit.rate:g}/s burst {limit.burst}"
        for operation, limit in config.rate_limits.items()
    )
    window = "never closes" if config.token_ttl is None else f"{config.token_ttl:g}s"
    return (
        f"ClientRequestToken window {window}; DescribeFileSystems page size "
        f"{config.describe_page_size}; rate limits: {limits or 'off'}"
    )
