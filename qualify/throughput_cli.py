"""`fsx-csi throughput`: throughput tests on a platform; writes a report bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from e2e.platforms import PLATFORM_NAMES

HELP = (
    "throughput tests (fio, or a labelled Python fallback) on the local, kind or cluster platform"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--platform", choices=PLATFORM_NAMES, default="local")
    parser.add_argument(
        "--size",
        default="64M",
        help="data per workload and client, e.g. 64M, 256MiB, 1G (default 64M: CI-sized)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=4,
        help="runs per workload and target, interleaved, the order flipping every run; an "
        "even count gives each target the first slot equally often (default 4)",
    )
    parser.add_argument("--nodes", type=int, default=2, help="clients/nodes (default 2)")
    parser.add_argument(
        "--metadata-files", type=int, default=500, help="files the metadata workload creates"
    )
    parser.add_argument(
        "--random-seconds",
        type=float,
        default=1.0,
        help="time cap of each random 4 KiB workload (default 1)",
    )
    parser.add_argument(
        "--seq-seconds",
        type=float,
        default=1.0,
        help="each sequential run goes over its file for this long (default 1; 0: one pass)",
    )
    parser.add_argument(
        "--engine",
        choices=("auto", "fio", "python"),
        default="auto",
        help="auto: fio when on PATH, else the Python fallback (labelled in the report)",
    )
    parser.add_argument(
        "--ratio-target",
        type=float,
        default=0.95,
        help="published/raw throughput ratio the report marks as the target (default 0.95)",
    )
    parser.add_argument(
        "--csi.endpoint", dest="csi_endpoint", help="a driver you run (mode all): its CSI socket"
    )
    parser.add_argument(
        "--driver-command",
        metavar="TEMPLATE",
        help="local: start this driver instead of the reference driver (one controller, one "
        "process per node; placeholders {endpoint} {mode} {node_id}; see fsx-csi qualify --help)",
    )
    parser.add_argument(
        "--emulation-root",
        type=Path,
        help="that driver's emulation root (for the raw ratio); with --aws-endpoint-url, the "
        "emulation root of that endpoint's emulator (required)",
    )
    parser.add_argument(
        "--aws-endpoint-url", help="an FSx emulator endpoint instead of the embedded one"
    )
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    parser.add_argument("--run-id", help="default: time plus a random suffix")
    parser.add_argument("--work-dir", type=Path, help="sockets, targets (default: a temp dir)")
    parser.add_argument(
        "--kubeconfig", type=Path, help="kind/cluster: the cluster to run the fio Jobs on"
    )
    from fsx_csi_harness.aws_mode import add_aws_arguments

    add_aws_arguments(parser)


def mount_namespace_reason(args: argparse.Namespace) -> str | None:
    """Why this run makes mounts itself (None: it makes none). An external driver
    (--csi.endpoint) mounts in its own namespace; the harness only reads the targets."""
    from e2e.cli import LOCAL_PLATFORM_MOUNTS

    if args.platform != "local" or args.csi_endpoint:
        return None
    return f"throughput: {LOCAL_PLATFORM_MOUNTS}"


def host_mounts_reason(args: argparse.Namespace) -> str | None:
    """Why this run must share the host's mount namespace (None: it need not)."""
    from e2e.cli import outside_mounts

    return outside_mounts(args.csi_endpoint, args.aws_endpoint_url)


def run(args: argparse.Namespace) -> int:
    from e2e.throughput.workloads import WorkloadPlan, parse_size

    try:
        plan = WorkloadPlan(
            size_bytes=parse_size(args.size),
            random_time_cap_s=args.random_seconds,
            sequential_seconds=args.seq_seconds,
            metadata_files=args.metadata_files,
        )
    except ValueError as exc:
        print(f"fsx-csi throughput: --size: {exc}", file=sys.stderr)
        return 2
    if args.repeats < 1 or args.nodes < 1:
        print("fsx-csi throughput: --repeats and --nodes must be at least 1", file=sys.stderr)
        return 2
    from e2e.cli import driver_target_problem
    from fsx_csi_harness.aws_mode import aws_mode_problem

    endpoints = [args.csi_endpoint] if args.csi_endpoint else []
    problem = driver_target_problem(
        endpoints, args.driver_command, args.platform
    ) or aws_mode_problem(args.aws, args.aws_settings, args.platform)
    if problem is not None:
        print(f"fsx-csi throughput: {problem}", file=sys.stderr)
        return 2
    from qualify.run import QualifyOptions, run_qualify

    options = QualifyOptions(
        platform=args.platform,
        suites=("throughput",),
        report_dir=args.report_dir,
        run_id=args.run_id,
        work_dir=args.work_dir,
        csi_endpoint=args.csi_endpoint,
        driver_command=args.driver_command,
        aws=args.aws,
        emulation_root=args.emulation_root,
        aws_endpoint_url=args.aws_endpoint_url,
        kubeconfig=args.kubeconfig,
        aws_settings=args.aws_settings,
        plan=plan,
        repeats=args.repeats,
        nodes=args.nodes,
        engine=args.engine,
        ratio_target=args.ratio_target,
        command_name="throughput",
    )
    return run_qualify(options)
