"""`fsx-csi e2e`: the end-to-end scenarios on a platform (local, kind, cluster, k3s).

Exit codes: 0 every scenario passed and nothing leaked; 1 a scenario failed or the leak sweep
found something; 2 the run could not start (bad scenario data, a missing platform or
prerequisite).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from e2e.platforms import PLATFORM_NAMES

HELP = "run the end-to-end scenarios (StorageClass -> claim -> pods) on a platform"

_EPILOG = """\
platforms:
  local    no cluster: the harness plays external-provisioner and kubelet over CSI against
           driver processes (1 controller, 2 nodes) and the embedded FSx emulator (real
           mounts, in a private mount namespace: user+mount when not root)
  kind     a kind cluster from fixtures/kind/ (needs docker and kind on PATH)
  cluster  any kubeconfig (EKS, an existing kind); --aws-settings for real AWS
  k3s      a throwaway K3s cluster through testcontainers (needs a Docker engine)

examples:
  fsx-csi e2e --platform local
  fsx-csi e2e --platform local --scenario dynamic --report-dir reports/
  fsx-csi e2e --platform local --set pod-isolation=rewrite
  fsx-csi e2e --platform local --driver-command '/path/to/driver --endpoint {endpoint} \
      --mode {mode} --node-id {node_id}'
  fsx-csi e2e --platform local --csi.endpoint unix:///tmp/a.sock --csi.endpoint \
      unix:///tmp/b.sock --aws-endpoint-url http://127.0.0.1:5000   # drivers you run
  fsx-csi e2e --platform cluster --driver installed --kubeconfig ~/.kube/config
  fsx-csi e2e --platform kind --manifests path/to/other-driver/   # kustomize dir or YAML
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument(
        "--platform", choices=PLATFORM_NAMES, default="local",
        help="where the scenarios run (default: local)",
    )  # fmt: skip
    parser.add_argument(
        "--scenario", action="append", default=[], metavar="NAME",
        help="run only this scenario (repeatable); default: all; --list-scenarios shows them",
    )  # fmt: skip
    parser.add_argument("--list-scenarios", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--scenario-dir", type=Path, default=None, metavar="DIR",
        help="directory of scenario YAML files (default: fixtures/scenarios)",
    )  # fmt: skip
    parser.add_argument(
        "--driver", choices=("reference", "installed"), default="reference",
        help="reference: deploy/start this project's driver; installed: use the driver already "
        "in the cluster (local: --set driver-command=...)",
    )  # fmt: skip
    parser.add_argument(
        "--driver-command", default=None, metavar="TEMPLATE",
        help="local: start this driver instead of the reference driver, one controller "
        "process and one per node; placeholders {endpoint} {mode} {node_id}; its environment "
        "has AWS_ENDPOINT_URL_FSX, AWS_REGION, dummy credentials and CSI_NODE_NAME",
    )  # fmt: skip
    parser.add_argument(
        "--csi.endpoint", dest="csi_endpoint", action="append", default=[], metavar="ENDPOINT",
        help="local: a driver you run (mode all), one flag per node (the first is also the "
        "controller); with one, the scenarios that need a second node are not run; needs "
        "--aws-endpoint-url",
    )  # fmt: skip
    parser.add_argument(
        "--manifests", type=Path, default=None, metavar="PATH",
        help="kind/cluster/k3s: deploy another driver from these manifests instead of the "
        "reference driver (a kustomize directory, a directory of YAML files, or one YAML file "
        "such as `helm template` output); --set driver-name=NAME if its CSIDriver is not "
        "fsx.csi.aws.com",
    )  # fmt: skip
    parser.add_argument(
        "--aws-endpoint-url", default=None, metavar="URL",
        help="FSx endpoint to use instead of the platform's own emulator",
    )  # fmt: skip
    parser.add_argument("--region", default="us-east-1", help="AWS region (default: us-east-1)")
    parser.add_argument(
        "--keep-cluster",
        action="store_true",
        help="kind/k3s: keep the cluster; cluster: keep the deployed driver (a rerun reuses it)",
    )
    parser.add_argument(
        "--report-dir", type=Path, default=None, metavar="DIR",
        help="save results (e2e-results.json) and raw logs here",
    )  # fmt: skip
    parser.add_argument(
        "--work-dir", type=Path, default=None, metavar="DIR",
        help="parent of the run directory (default: the system temp dir)",
    )  # fmt: skip
    parser.add_argument("--kubeconfig", type=Path, default=None, help="cluster: kubeconfig")
    from fsx_csi_harness.aws_mode import add_aws_arguments

    add_aws_arguments(parser)
    parser.add_argument(
        "--creation-delay", type=float, default=1.0, metavar="SECONDS",
        help="emulator CREATING -> AVAILABLE delay when the platform runs its own (default: 1)",
    )  # fmt: skip
    parser.add_argument(
        "--provision-timeout", type=float, default=300.0, metavar="SECONDS",
        help="longest wait for a volume to be provisioned (default: 300, the provisioner's)",
    )  # fmt: skip
    parser.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE",
        help="override a scenario variable in every scenario that declares it "
        "(e.g. WRITE_PERIOD=1)",
    )  # fmt: skip
    parser.add_argument(
        "--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
        help="platform-specific setting (local: pod-isolation, driver-command, emulation-root, "
        "keep-work-dir; kind/cluster/k3s: image, wait, driver-name, ...)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


# Why a local run makes mounts, in a private mount namespace of its own (fsx_csi_harness/userns.py).
LOCAL_PLATFORM_MOUNTS = "the local platform's emulated Lustre volumes and pods are real mounts"


def mount_namespace_reason(args: argparse.Namespace) -> str | None:
    """Why this run makes mounts itself (None: it makes none): local runs start their own
    drivers and pods; listing the scenarios mounts nothing."""
    if args.platform != "local" or args.list_scenarios:
        return None
    return f"e2e: {LOCAL_PLATFORM_MOUNTS}"


def outside_mounts(csi_endpoint: object, aws_endpoint_url: str | None) -> str | None:
    """Why a local run must see mounts made by processes it did not start, or None. A private
    mount namespace sees later host mounts only where the host's mounts propagate (a shared
    `/`, as systemd makes it), and many hosts and containers propagate none, so root then runs
    in the host's (fsx_csi_harness/userns.py)."""
    if csi_endpoint:
        return "a driver it did not start (--csi.endpoint) mounts the targets it reads"
    if aws_endpoint_url:
        return (
            "an FSx endpoint it did not start (--aws-endpoint-url) mounts the file systems "
            "its drivers bind"
        )
    return None


def host_mounts_reason(args: argparse.Namespace) -> str | None:
    """Why this run must share the host's mount namespace (None: it need not)."""
    return outside_mounts(args.csi_endpoint, args.aws_endpoint_url)


def parse_pairs(values: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=VALUE, seen {value!r}")
        pairs[key] = item
    return pairs


def driver_target_problem(endpoints: list[str], command: str | None, platform: str) -> str | None:
    """What makes --driver-command and --csi.endpoint unusable together or here (None:
    nothing); the same check on e2e, throughput and qualify."""
    if command is not None and endpoints:
        return (
            "--driver-command starts the driver under test and --csi.endpoint names one already "
            "running: expected one of them, seen both"
        )
    if command is not None and not command.strip():
        return "--driver-command: expected a command line, seen an empty one"
    if command is not None and platform != "local":
        return (
            f"--driver-command starts processes on this machine (--platform local); on "
            f"{platform} the driver comes from --manifests or --driver installed"
        )
    if command is not None:
        from e2e.platforms.local.driver_stack import DriverFailed, check_driver_command

        try:
            check_driver_command(command)
        except DriverFailed as exc:
            return f"--driver-command: {exc}"
    return None


def target_settings(args: argparse.Namespace) -> dict[str, str]:
    """The platform settings the target and AWS flags stand for (the local platform's
    driver-command and csi-endpoints, every platform's aws)."""
    settings = {"aws": args.aws} if args.platform != "local" else {}
    if args.driver_command:
        settings["driver-command"] = args.driver_command
    if args.csi_endpoint:
        settings["csi-endpoints"] = ",".join(args.csi_endpoint)
    return settings


def run(args: argparse.Namespace) -> int:
    from e2e.leaks import new_run_id
    from e2e.platforms import (
        PlatformUnavailable,
        RunOptions,
        load_platform,
    )
    from e2e.progress import Progress
    from e2e.results import write_results
    from e2e.scenarios import ScenarioError, load_scenarios, select_scenarios

    def fail(message: str) -> int:
        print(f"fsx-csi e2e: {message}", file=sys.stderr)
        return 2

    try:
        variables = parse_pairs(args.var, "--var")
        settings = parse_pairs(args.settings, "--set")
        scenarios = load_scenarios(args.scenario_dir)
        if args.list_scenarios:
            for listed in scenarios:
                print(f"{listed.name:<20} {' '.join(listed.description.split())}")
            return 0
        scenarios = select_scenarios(scenarios, args.scenario)
        scenarios = [
            s.with_variables({k: v for k, v in variables.items() if k in s.variables})
            for s in scenarios
        ]
        undeclared = sorted(set(variables) - {k for s in scenarios for k in s.variables})
        if undeclared:
            raise ScenarioError(f"--var {undeclared}: no selected scenario declares them")
    except (ValueError, ScenarioError) as exc:
        return fail(str(exc))
    from fsx_csi_harness.aws_mode import aws_mode_problem

    problem = driver_target_problem(
        args.csi_endpoint, args.driver_command, args.platform
    ) or aws_mode_problem(args.aws, args.aws_settings, args.platform)
    if problem is not None:
        return fail(problem)
    settings = {**settings, **target_settings(args)}

    try:
        platform = load_platform(args.platform)
    except PlatformUnavailable as exc:
        return fail(str(exc))
    options = RunOptions(
        run_id=new_run_id(),
        driver=args.driver,
        aws_endpoint_url=args.aws_endpoint_url,
        region=args.region,
        keep_cluster=args.keep_cluster,
        report_dir=args.report_dir,
        work_dir=args.work_dir,
        kubeconfig=args.kubeconfig,
        aws_settings=args.aws_settings,
        creation_delay_s=args.creation_delay,
        provision_timeout_s=args.provision_timeout,
        settings=settings,
        manifests=args.manifests,
    )
    missing = platform.missing_prerequisites(options)
    if missing:
        lines = "\n".join(f"  - {m}" for m in missing)
        return fail(f"platform {args.platform} cannot run on this machine:\n{lines}")

    progress = Progress(quiet=args.quiet)
    target = (
        f"the driver started by {args.driver_command!r}" if args.driver_command
        else f"the driver at {' '.join(args.csi_endpoint)}" if args.csi_endpoint
        else f"the {args.driver} driver" if args.manifests is None
        else f"{args.manifests}"
    )  # fmt: skip
    progress.info(
        f"run {options.run_id}: {len(scenarios)} scenario(s) on {args.platform} with {target}"
    )
    result = platform.run(scenarios, options, progress)
    for scenario in result.scenarios:
        line = (
            f"{scenario.outcome.value.upper():<8} {scenario.name:<20} {scenario.duration_s:6.1f}s"
        )
        print(line + (f"  {scenario.message}" if scenario.message else ""))
    for leak in result.leaks:
        state = "removed by the sweep" if leak.removed else "NOT REMOVED"
        print(f"LEAK     {leak.kind} {leak.id}: {leak.detail} ({state})")
    print(
        f"{'passed' if result.passed else 'FAILED'}: "
        f"{sum(s.passed for s in result.scenarios)}/{len(result.scenarios)} scenarios, "
        f"{len(result.leaks)} leak(s), {result.duration_s:.1f}s (run {result.run_id})"
    )
    if args.report_dir is not None:
        path = write_results(result, args.report_dir)
        print(f"results: {path}")
    return 0 if result.passed else 1
