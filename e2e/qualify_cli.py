"""`fsx-csi qualify`: sanity, e2e and throughput against a target; one bundle; exit = verdict."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = (
    "qualify a driver: sanity, e2e and throughput in one report bundle (no flags: the "
    "reference driver on the local platform with the embedded FSx emulator)"
)
SUITE_NAMES = ("sanity", "e2e", "throughput")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("target (default: the reference driver)")
    target.add_argument(
        "--csi.endpoint", dest="csi_endpoint", help="another driver's CSI socket (mode all)"
    )
    target.add_argument("--manifests", type=Path, help="deploy this driver's manifests (kind)")
    target.add_argument(
        "--driver",
        choices=("reference", "installed"),
        default="reference",
        help="installed: the driver already in the cluster (cluster platform)",
    )
    where = parser.add_argument_group("where")
    where.add_argument("--platform", choices=("local", "kind", "cluster"), default="local")
    where.add_argument("--aws", choices=("emulated", "real"), default="emulated")
    where.add_argument("--profile", type=Path, help="real-AWS settings (subnet, SGs, type)")
    where.add_argument("--kubeconfig", type=Path)
    where.add_argument("--aws-endpoint-url", help="an FSx API endpoint instead of the emulator")
    where.add_argument(
        "--emulation-root", type=Path, help="with --csi.endpoint: its emulation root (raw ratio)"
    )
    suites = parser.add_argument_group("suites")
    suites.add_argument(
        "--skip-suite",
        action="append",
        choices=SUITE_NAMES,
        default=[],
        help="leave a suite out (repeatable); it is recorded as not run",
    )
    suites.add_argument(
        "--only", action="append", choices=SUITE_NAMES, default=[], help="run only these suites"
    )
    suites.add_argument(
        "--sanity-profile",
        help="sanity profile (default: fsx for the reference driver, none for others)",
    )
    suites.add_argument("--sanity-workers", type=int, default=0, help="sanity in parallel (-n)")
    suites.add_argument("--scenario", action="append", default=[], help="e2e scenarios to run")
    suites.add_argument("--size", default="64M", help="throughput data per workload (64M)")
    suites.add_argument(
        "--repeats", type=int, default=4, help="throughput repeats (4; even balances the order)"
    )
    suites.add_argument("--engine", choices=("auto", "fio", "python"), default="auto")
    output = parser.add_argument_group("output")
    output.add_argument("--report-dir", type=Path, default=Path("reports"))
    output.add_argument("--run-id", help="default: time plus a random suffix")
    output.add_argument("--work-dir", type=Path, help="sockets and mounts (default: temp dir)")


def run(args: argparse.Namespace) -> int:
    from e2e.qualify import QualifyOptions, run_qualify
    from e2e.throughput.workloads import WorkloadPlan, parse_size

    chosen = tuple(s for s in SUITE_NAMES if (not args.only or s in args.only))
    chosen = tuple(s for s in chosen if s not in args.skip_suite)
    if not chosen:
        print("fsx-csi qualify: --only/--skip-suite leave no suite to run", file=sys.stderr)
        return 2
    if args.aws == "real" and args.platform == "local":
        print(
            "fsx-csi qualify: --aws real needs --platform kind or cluster: the local platform "
            "emulates Lustre mounts, which real file systems cannot be",
            file=sys.stderr,
        )
        return 2
    try:
        size = parse_size(args.size)
    except ValueError as exc:
        print(f"fsx-csi qualify: --size: {exc}", file=sys.stderr)
        return 2
    options = QualifyOptions(
        platform=args.platform,
        suites=chosen,
        report_dir=args.report_dir,
        run_id=args.run_id,
        work_dir=args.work_dir,
        csi_endpoint=args.csi_endpoint,
        manifests=args.manifests,
        driver=args.driver,
        aws=args.aws,
        profile=args.profile,
        sanity_profile=args.sanity_profile,
        kubeconfig=args.kubeconfig,
        emulation_root=args.emulation_root,
        aws_endpoint_url=args.aws_endpoint_url,
        plan=WorkloadPlan(size_bytes=size),
        repeats=args.repeats,
        engine=args.engine,
        sanity_workers=args.sanity_workers,
        e2e_scenarios=tuple(args.scenario),
    )
    return run_qualify(options)
