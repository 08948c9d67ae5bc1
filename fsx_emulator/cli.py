"""`fsx-csi emulator`: run the FSx API emulator as an HTTP endpoint until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

HELP = "run the FSx API emulator (moto plus FSx for Lustre fidelity) as an HTTP endpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # The defaults are EmulatorConfig's (a stdlib-only module), so the two cannot drift.
    from fsx_emulator.config import EmulatorConfig

    defaults = EmulatorConfig()
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
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
        "--emulation-root",
        type=Path,
        default=None,
        metavar="DIR",
        help="Lustre emulation: keep DIR/<file-system-id>/<MountName>/ for AVAILABLE file "
        "systems (the driver's emulated mounter bind-mounts it)",
    )


def run(args: argparse.Namespace) -> int:
    from fsx_emulator.config import EmulatorConfig
    from fsx_emulator.server import EmulatorServer

    try:
        config = EmulatorConfig(
            region=args.region,
            creation_delay=args.creation_delay,
            deletion_delay=args.deletion_delay,
            update_delay=args.update_delay,
            emulation_root=args.emulation_root,
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
        print(f"FSx emulator listening: AWS_ENDPOINT_URL_FSX={server.endpoint_url}", flush=True)
        if config.emulation_root is not None:
            print(f"Lustre emulation root: {config.emulation_root}", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
    print("FSx emulator stopped", flush=True)
    return 0
