"""`fsx-csi qualify`: sanity, e2e and throughput against a target; one bundle; exit = verdict."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from e2e.platforms import PLATFORM_NAMES

HELP = (
    "qualify a driver: sanity, e2e and throughput in one report bundle (no flags: the "
    "reference driver on the local platform with the embedded FSx emulator)"
)
SUITE_NAMES = ("sanity", "e2e", "throughput")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("target (default: the reference driver)")
    target.add_argument(
        "--csi.endpoint",
        dest="csi_endpoint",
        action="append",
        default=[],
        metavar="ENDPOINT",
        help="a driver you run (mode all): its CSI socket; repeat it, one per node, for the e2e "
        "scenarios that need a second node (the first is also the controller)",
    )
    target.add_argument(
        "--driver-command",
        metavar="TEMPLATE",
        help="local: start this driver for every suite, as the reference driver is started "
        "(one controller process, one process per node; sanity: one in mode all); "
        "placeholders {endpoint} {mode} {node_id}; its environment has AWS_ENDPOINT_URL_FSX, "
        "AWS_REGION, dummy credentials and CSI_NODE_NAME",
    )
    target.add_argument(
        "--manifests",
        type=Path,
        metavar="PATH",
        help="kind/cluster: deploy this driver's manifests instead of the reference driver (a "
        "kustomize directory, a directory of YAML files, or one YAML file such as `helm "
        "template` output); see e2e/README.md",
    )
    target.add_argument(
        "--driver",
        choices=("reference", "installed"),
        default="reference",
        help="installed: the driver already in the cluster (cluster platform)",
    )
    target.add_argument(
        "--driver-start-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="with --driver-command: how long each driver process may take to serve CSI (30)",
    )
    from fsx_csi_harness.aws_mode import add_aws_arguments

    where = parser.add_argument_group("where")
    where.add_argument("--platform", choices=PLATFORM_NAMES, default="local")
    add_aws_arguments(where)
    where.add_argument("--kubeconfig", type=Path)
    where.add_argument("--aws-endpoint-url", help="an FSx API endpoint instead of the emulator")
    where.add_argument(
        "--emulation-root", type=Path, help="with --csi.endpoint: its emulation root (raw ratio)"
    )
    where.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="e2e platform setting, as `fsx-csi e2e --set` (kind/cluster: image, wait, "
        "driver-name, pod-image, ...)",
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
        help="sanity profile: none, fsx, strict, or strict,fsx for both (default: fsx for "
        "the reference driver, none for others)",
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


def mount_namespace_reason(args: argparse.Namespace) -> str | None:
    """Why this run makes mounts itself (None: it makes none), naming the suites that do."""
    from e2e.cli import LOCAL_PLATFORM_MOUNTS

    if args.platform != "local" or args.aws == "real":
        return None  # --aws real on local is refused by run(): real file systems are not emulated
    suites = {s for s in SUITE_NAMES if not args.only or s in args.only}
    suites -= set(args.skip_suite)
    # e2e on local always runs its pods (mounts); sanity and throughput mount only when the
    # harness starts the driver (the reference driver or --driver-command).
    mounting = {"e2e"} if args.csi_endpoint else {"sanity", "e2e", "throughput"}
    chosen = sorted(suites & mounting)
    return f"qualify ({', '.join(chosen)}): {LOCAL_PLATFORM_MOUNTS}" if chosen else None


def host_mounts_reason(args: argparse.Namespace) -> str | None:
    """Why this run must share the host's mount namespace (None: it need not)."""
    from e2e.cli import outside_mounts

    return outside_mounts(args.csi_endpoint, args.aws_endpoint_url)


def run(args: argparse.Namespace) -> int:
    # `fsx-csi e2e --set` parses KEY=VALUE pairs; qualify takes the same flag.
    from e2e.cli import parse_pairs
    from e2e.throughput.workloads import WorkloadPlan, parse_size
    from qualify.run import QualifyOptions, run_qualify

    chosen = tuple(s for s in SUITE_NAMES if (not args.only or s in args.only))
    chosen = tuple(s for s in chosen if s not in args.skip_suite)
    if not chosen:
        print("fsx-csi qualify: --only/--skip-suite leave no suite to run", file=sys.stderr)
        return 2
    from e2e.cli import driver_target_problem

    problem = driver_target_problem(args.csi_endpoint, args.driver_command, args.platform)
    if problem is not None:
        print(f"fsx-csi qualify: {problem}", file=sys.stderr)
        return 2
    try:
        size = parse_size(args.size)
    except ValueError as exc:
        print(f"fsx-csi qualify: --size: {exc}", file=sys.stderr)
        return 2
    try:
        settings = parse_pairs(args.settings, "--set")
    except ValueError as exc:
        print(f"fsx-csi qualify: {exc}", file=sys.stderr)
        return 2
    from fsx_csi_harness.aws_mode import aws_mode_problem

    problem = aws_mode_problem(args.aws, args.aws_settings, args.platform)
    if problem is not None:
        print(f"fsx-csi qualify: {problem}", file=sys.stderr)
        return 2
    if args.manifests is not None:
        problem = _manifests_problem(args, settings)
        if problem is not None:
            print(f"fsx-csi qualify: {problem}", file=sys.stderr)
            return 2
    options = QualifyOptions(
        platform=args.platform,
        suites=chosen,
        report_dir=args.report_dir,
        run_id=args.run_id,
        work_dir=args.work_dir,
        csi_endpoint=args.csi_endpoint[0] if args.csi_endpoint else None,
        more_csi_endpoints=tuple(args.csi_endpoint[1:]),
        driver_command=args.driver_command,
        driver_start_timeout_s=args.driver_start_timeout,
        manifests=args.manifests,
        driver=args.driver,
        aws=args.aws,
        aws_settings=args.aws_settings,
        sanity_profile=args.sanity_profile,
        kubeconfig=args.kubeconfig,
        emulation_root=args.emulation_root,
        aws_endpoint_url=args.aws_endpoint_url,
        plan=WorkloadPlan(size_bytes=size),
        repeats=args.repeats,
        engine=args.engine,
        sanity_workers=args.sanity_workers,
        e2e_scenarios=tuple(args.scenario),
        settings=settings,
    )
    return run_qualify(options)


def _manifests_problem(args: argparse.Namespace, settings: dict[str, str]) -> str | None:
    """What makes --manifests unusable with the other flags or on disk, before any suite runs
    (the same checks the e2e platforms make)."""
    if args.platform == "local":
        return (
            f"--manifests {args.manifests} deploys Kubernetes objects: expected --platform kind "
            "or cluster, seen local; for a driver on this machine use --csi.endpoint"
        )
    from e2e.platforms.commands import SubprocessRunner
    from e2e.platforms.manifests import DRIVER_NAME
    from e2e.platforms.user_manifests import ManifestsError, load_driver_manifests

    if args.driver == "installed":
        return (
            "--manifests deploys a driver, --driver installed uses the one in the cluster: "
            "expected one of them, seen both"
        )
    try:
        load_driver_manifests(
            SubprocessRunner(), args.manifests, settings.get("driver-name", DRIVER_NAME)
        )
    except ManifestsError as exc:
        return str(exc)
    return None
