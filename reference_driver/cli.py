"""`fsx-csi driver`: run the reference FSx for Lustre CSI driver.

Only the standard library is imported at module level so that `fsx-csi --help` stays instant;
the environment is read here and nowhere else.
"""

from __future__ import annotations

import argparse
import os
import sys

HELP = "run the reference FSx for Lustre CSI driver (identity, controller and/or node)"


def _socket_mode(value: str) -> int:
    try:
        mode = int(value, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an octal mode such as 0600") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"{value!r} is not a permission mode (0000-0777)")
    return mode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        required=True,
        help="where to serve CSI: unix:///path/to/csi.sock or tcp://host:port",
    )
    parser.add_argument(
        "--mode",
        choices=("all", "controller", "node"),
        default="all",
        help="which CSI services to run (default: all)",
    )
    parser.add_argument(
        "--node-id",
        default=os.environ.get("CSI_NODE_NAME", ""),
        help="this node's id for NodeGetInfo (default: $CSI_NODE_NAME)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        help="AWS region (default: $AWS_REGION, then $AWS_DEFAULT_REGION)",
    )
    parser.add_argument(
        "--aws-endpoint-url",
        default=None,
        help="FSx API endpoint, for example an FSx emulator (default: botocore's own "
        "resolution, which honours $AWS_ENDPOINT_URL_FSX and $AWS_ENDPOINT_URL)",
    )
    parser.add_argument(
        "--aws-max-attempts",
        type=int,
        default=8,
        help="attempts per FSx API call, retries included (adaptive retry mode; default: 8)",
    )
    parser.add_argument(
        "--mounter",
        choices=("kernel",),
        default="kernel",
        help="kernel, the only one: `mount -t lustre`, which runs mount.lustre (a Lustre "
        "client's, or where the harness installed it, the Lustre emulation's; the emulated "
        "mounter that was here is that helper now)",
    )
    parser.add_argument(
        "--create-timeout",
        type=float,
        default=600.0,
        help="seconds CreateVolume (and expansion) waits for FSx before answering "
        "DEADLINE_EXCEEDED; the RPC deadline also bounds the wait (default: 600)",
    )
    parser.add_argument(
        "--poll-interval-min",
        type=float,
        default=0.05,
        help="first interval between DescribeFileSystems polls, seconds (default: 0.05)",
    )
    parser.add_argument(
        "--poll-interval-max",
        type=float,
        default=None,
        help="longest interval between polls, seconds (default: 15 against AWS endpoints, "
        "1 against any other endpoint such as an emulator)",
    )
    parser.add_argument(
        "--socket-mode",
        type=_socket_mode,
        default=0o600,
        help="permissions of the unix socket, octal (default: 0600, owner only)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        default=30.0,
        help="seconds SIGTERM lets in-flight calls finish (default: 30)",
    )
    parser.add_argument(
        "--extra-tags",
        default="",
        help="tags on every file system the controller creates, key1=value1,key2=value2 "
        "(upstream's flag; a StorageClass's extraTags win on the same key)",
    )
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="debug also logs every request (secrets stripped) and Probe calls",
    )


def run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from reference_driver.config import (
        ConfigError,
        DriverConfig,
        Endpoint,
        Mode,
    )
    from reference_driver.errors import InvalidArgument
    from reference_driver.logs import configure
    from reference_driver.parameters import parse_extra_tags
    from reference_driver.server import build_server

    configure(args.log_format, args.log_level)
    try:
        try:
            extra_tags = parse_extra_tags("--extra-tags", args.extra_tags)
        except InvalidArgument as exc:
            raise ConfigError(exc.message.removeprefix("parameter ")) from None
        config = DriverConfig(
            endpoint=Endpoint.parse(args.endpoint),
            mode=Mode(args.mode),
            node_id=args.node_id,
            region=args.region,
            aws_endpoint_url=args.aws_endpoint_url,
            create_timeout=args.create_timeout,
            poll_interval_min=args.poll_interval_min,
            poll_interval_max=args.poll_interval_max,
            aws_max_attempts=args.aws_max_attempts,
            socket_mode=args.socket_mode,
            shutdown_grace=args.shutdown_grace,
            extra_tags=extra_tags,
        )
        if config.mode.runs_controller:
            # botocore would fail later with a traceback (no region) or on the first call
            # (no credentials, even against an emulator: requests are signed).
            from reference_driver.cloud.api import missing_aws_settings

            missing = missing_aws_settings(config.region)
            if missing is not None:
                raise ConfigError(missing)
        server = build_server(config)
        server.start()
    except ConfigError as exc:
        print(f"fsx-csi driver: {exc}", file=sys.stderr)
        return 2

    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stop_requested.wait()
    server.stop()
    return 0
