"""`fsx-csi qualify`: sanity, e2e and throughput against one target, in one report bundle.

The run is a sequence of suites. Each suite is a function that returns a `SuiteResult`; a
suite that cannot run here (a part of the harness missing, a platform without its
prerequisites, a flag that excludes it) is recorded as `not_run` with the reason, never
silently dropped and never faked. After every suite the bundle is checkpointed, so a crash or
Ctrl-C leaves a readable `.partial` bundle that says how far the run got.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

from e2e.throughput.workloads import WorkloadPlan
from fsx_csi_harness.aws_settings import load_aws_settings
from fsx_csi_harness.processes import tied_to_parent
from fsx_csi_harness.results import (
    UNKNOWN,
    DriverInfo,
    Outcome,
    ResultFormatError,
    SuiteResult,
    TestResult,
    read_suite_file,
)
from qualify.report.bundle import BundleWriter, describe_environment, iso, new_run_id, utc_now
from qualify.report.model import Summary, Target, Verdict

if TYPE_CHECKING:
    from e2e.platforms.kube.orchestration import KeptCluster

SUITES = ("sanity", "e2e", "throughput")
EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_INCOMPLETE = 3


@dataclass
class QualifyOptions:
    platform: str = "local"
    suites: tuple[str, ...] = SUITES
    report_dir: Path = Path("reports")
    run_id: str | None = None
    work_dir: Path | None = None
    # A driver the user runs (--csi.endpoint): the controller and node-0; sanity and
    # throughput talk to it. Further --csi.endpoint flags are further e2e nodes.
    csi_endpoint: str | None = None
    more_csi_endpoints: tuple[str, ...] = ()
    # The driver the harness starts on the local platform (--driver-command); None: the
    # reference driver, through the same start path.
    driver_command: str | None = None
    # How long each driver process the harness starts may take to serve CSI.
    driver_start_timeout_s: float = 30.0
    manifests: Path | None = None
    driver: str = "reference"  # or "installed"
    aws: str = "emulated"
    aws_settings: Path | None = None  # the real-AWS settings file (--aws-settings)
    sanity_profile: str | None = None  # None: "fsx" when the target is an FSx driver
    kubeconfig: Path | None = None
    emulation_root: Path | None = None
    aws_endpoint_url: str | None = None
    plan: WorkloadPlan = field(default_factory=WorkloadPlan)
    repeats: int = 4
    nodes: int = 2
    engine: str = "auto"
    ratio_target: float = 0.95
    sanity_workers: int = 0  # 0: serial
    e2e_scenarios: tuple[str, ...] = ()
    # The e2e platform's `--set KEY=VALUE` settings (image, driver-name, wait, ...).
    settings: dict[str, str] = field(default_factory=dict)
    command_name: str = "qualify"
    stream: TextIO | None = None


class Reporter:
    """Progress on stderr: what runs, how far, failures so far."""

    def __init__(self, stream: TextIO, total_suites: int, prefix: str) -> None:
        self._stream = stream
        self._total = total_suites
        self._prefix = prefix
        self._started = time.monotonic()
        self.failures: list[str] = []
        self.index = 0

    def line(self, message: str) -> None:
        elapsed = time.monotonic() - self._started
        print(f"[{self._prefix} {elapsed:6.1f}s] {message}", file=self._stream, flush=True)

    def begin(self, suite: str) -> None:
        self.index += 1
        self.line(f"suite {self.index}/{self._total}: {suite}: running")

    def end(self, suite: SuiteResult) -> None:
        counts = suite.counts()
        tally = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no test cases"
        bad = [t for t in suite.tests if t.outcome.is_failure]
        self.failures.extend(f"{suite.name} :: {t.name}" for t in bad)
        if suite.outcome.is_failure and not bad:
            self.failures.append(f"{suite.name}: {suite.message}")
        self.line(
            f"suite {self.index}/{self._total}: {suite.name}: {suite.outcome.value} "
            f"in {suite.duration_s:.1f}s ({tally}); failures so far: {len(self.failures)}"
        )
        for test in bad[:10]:
            # The first line of the message: enough to act on; the bundle has the rest.
            why = (test.message or "").strip().splitlines()[:1]
            self.line(
                f"  FAILED {suite.name} :: {test.name}" + (f": {why[0][:300]}" if why else "")
            )
        if len(bad) > 10:
            self.line(f"  ... and {len(bad) - 10} more failure(s): see the bundle")
        if suite.outcome is Outcome.NOT_RUN and suite.message:
            self.line(f"  not run: {suite.message}")


def run_qualify(options: QualifyOptions) -> int:
    from fsx_csi_harness import __version__

    stream = options.stream or sys.stderr
    run_id = options.run_id or new_run_id()
    summary = Summary(
        run_id=run_id,
        started=iso(utc_now()),
        platform=options.platform,
        aws_mode=options.aws,
        target=_target(options),
        environment=describe_environment("not used (no throughput suite)", __version__),
        command=["fsx-csi", *sys.argv[1:]] if sys.argv[0].endswith(("fsx-csi", "__main__.py"))
        else ["fsx-csi", options.command_name],
    )  # fmt: skip
    options.report_dir.mkdir(parents=True, exist_ok=True)
    reporter = Reporter(stream, len(options.suites), options.command_name)
    reporter.line(
        f"run {run_id}: suites {', '.join(options.suites)} on platform {options.platform} "
        f"(AWS {options.aws}); bundle in {options.report_dir / run_id}"
    )
    with (
        BundleWriter(options.report_dir, summary) as writer,
        _work_dir(options) as work_dir,
        _kept_released(run_id, reporter),
    ):
        for name in options.suites:
            reporter.begin(name)
            started = time.monotonic()
            suite = _run_suite(name, options, writer, work_dir, run_id, reporter)
            if suite.duration_s == 0.0:
                suite.duration_s = round(time.monotonic() - started, 3)
            # Leaving something behind fails a suite whatever it exercised.
            _fail_on_leaks(suite)
            _require_target(summary.target, suite, options.platform)
            _record_driver(summary.target, suite)
            summary.suites.append(suite)
            writer.checkpoint()
            reporter.end(suite)
        for name in SUITES:
            if name not in options.suites and options.command_name == "qualify":
                summary.suites.append(
                    SuiteResult(
                        name,
                        Outcome.NOT_RUN,
                        message="excluded by --skip-suite/--only",
                        required=False,
                    )
                )
        path = writer.finish()
    verdict = summary.verdict
    reporter.line(f"bundle: {path}")
    reporter.line(f"open:   {path / 'index.html'}")
    print(path)
    # The last line: what the verdict is about, as the driver itself named it.
    reporter.line(
        f"verdict: {verdict.value.upper()} for {describe_target(summary.target)}"
        + (f" ({len(reporter.failures)} failure(s))" if reporter.failures else "")
    )
    return EXIT_PASSED if verdict is Verdict.PASSED else EXIT_FAILED


@contextlib.contextmanager
def _work_dir(options: QualifyOptions) -> Iterator[Path]:
    if options.work_dir is not None:
        options.work_dir.mkdir(parents=True, exist_ok=True)
        yield options.work_dir
        return
    # Short paths: Unix socket paths are limited to 107 bytes.
    with tempfile.TemporaryDirectory(prefix="fsxq-") as directory:
        yield Path(directory)


def _target(options: QualifyOptions) -> Target:
    if options.csi_endpoint:
        endpoints = (options.csi_endpoint, *options.more_csi_endpoints)
        return Target(source="endpoint", endpoint=" ".join(endpoints))
    if options.driver_command:
        return Target(source="command", command=options.driver_command)
    if options.manifests:
        return Target(source="manifests", manifests=str(options.manifests))
    if options.driver == "installed":
        return Target(source="installed")
    return Target(source="reference")


def describe_target(target: Target) -> str:
    """The driver a verdict is for: its GetPluginInfo name and version, and how it was reached."""
    how = {
        "reference": "the reference driver",
        "endpoint": f"the driver at {target.endpoint}",
        "command": f"the driver started by {target.command!r}",
        "manifests": f"the driver deployed from {target.manifests}",
        "installed": "the driver installed in the cluster",
    }.get(target.source, target.source)
    if target.driver_name is None:
        return f"{how} (it never answered GetPluginInfo: name and version unknown)"
    if target.driver_version is None:
        return f"{target.driver_name} {UNKNOWN} ({how})"
    return f"{target.describe_driver()} ({how})"


def _require_target(target: Target, suite: SuiteResult, platform: str) -> None:
    """A suite that did not exercise the target is not run, never passed: every test of it
    not run, no driver named (local platform: the harness always asks), or another driver
    than the one the earlier suites exercised answering."""
    if suite.outcome is not Outcome.PASSED:
        return
    if suite.tests and all(t.outcome in (Outcome.NOT_RUN, Outcome.SKIPPED) for t in suite.tests):
        reasons = sorted({t.message for t in suite.tests if t.message})
        suite.outcome = Outcome.NOT_RUN
        suite.message = "no test of it exercised the driver under test" + (
            f": {'; '.join(reasons)[:500]}" if reasons else ""
        )
    elif platform == "local" and any(t.outcome is Outcome.NOT_RUN for t in suite.tests):
        # A qualification that left part of a suite unchecked (one --csi.endpoint for a
        # two-node scenario) is no pass; the tests that ran keep their outcomes.
        not_run = [t for t in suite.tests if t.outcome is Outcome.NOT_RUN]
        suite.outcome = Outcome.NOT_RUN
        suite.message = f"{len(not_run)} of its tests did not run: " + "; ".join(
            f"{t.name}: {t.message}" for t in not_run[:3]
        )
    elif not suite.driver.known:
        # Every platform names the driver: GetPluginInfo locally, on kind, k3s and cluster
        # the name it registered on the nodes and its image.
        suite.outcome = Outcome.NOT_RUN
        suite.message = (
            "it did not record which driver answered (GetPluginInfo, or on a cluster its "
            "CSINode registration), so it cannot vouch for the driver under test"
        )
    elif target.driver_name is not None and _substituted(target, suite.driver):
        suite.outcome = Outcome.FAILED
        suite.message = (
            f"it exercised {suite.driver.name} {suite.driver.version}, and the driver under "
            f"test answered as {target.describe_driver()} in the suites before it: another "
            "driver was substituted for the target"
        )


def _substituted(target: Target, driver: DriverInfo) -> bool:
    """Whether `driver` is another than the one the earlier suites exercised: another name, or
    another version of a kind they recorded (with none of its kind yet, the name decides)."""
    recorded = _recorded_version(target, driver)
    return driver.name != target.driver_name or recorded not in (None, driver.version)


def _recorded_version(target: Target, driver: DriverInfo) -> str | None:
    """What the earlier suites recorded of the kind `driver`'s version is (an image, or a
    vendor_version), so that each suite is held to the first of its kind: an image and a
    vendor_version cannot be compared, and two images can."""
    for version in (target.driver_version, target.driver_image):
        if version is not None and DriverInfo(driver.name, version).version_is_image == (
            driver.version_is_image
        ):
            return version
    return None


def _record_driver(target: Target, suite: SuiteResult) -> None:
    """The target's name and versions: the first suite that named the driver gives its name
    and version, the first to give the other kind of version (an image beside a
    vendor_version, or the reverse) that one too."""
    if not suite.driver.known or target.driver_name not in (None, suite.driver.name):
        return
    if target.driver_name is None:
        target.driver_name = suite.driver.name
        target.driver_version = suite.driver.version
    elif _recorded_version(target, suite.driver) is None:
        if suite.driver.version_is_image:
            target.driver_image = suite.driver.version
        else:
            # The vendor_version is what GetPluginInfo names: it leads, the image follows.
            target.driver_image, target.driver_version = target.driver_version, suite.driver.version


def _fail_on_leaks(suite: SuiteResult) -> None:
    """A suite whose cases passed but that left something behind (found by its own cleanup
    or by a sweep after it) did not pass: say so where its outcome is shown."""
    if suite.leaks and suite.outcome is Outcome.PASSED:
        suite.outcome = Outcome.FAILED
        suite.message = (
            f"{len(suite.leaks)} resource(s) left behind: "
            + ", ".join(f"{leak.kind} {leak.id}" for leak in suite.leaks[:5])
            + (" ..." if len(suite.leaks) > 5 else "")
        )


def _run_suite(
    name: str,
    options: QualifyOptions,
    writer: BundleWriter,
    work_dir: Path,
    run_id: str,
    reporter: Reporter,
) -> SuiteResult:
    runners: dict[str, Callable[..., SuiteResult]] = {
        "sanity": run_sanity_suite,
        "e2e": run_e2e_suite,
        "throughput": run_throughput_suite,
    }
    suite_dir = work_dir / name
    suite_dir.mkdir(parents=True, exist_ok=True)
    try:
        return runners[name](options, writer, suite_dir, run_id, reporter)
    except Exception as exc:  # noqa: BLE001 - one suite's crash must not lose the others
        import traceback

        writer.write_raw(f"{name}/harness-error.txt", traceback.format_exc())
        return SuiteResult(
            name,
            Outcome.ERROR,
            message=f"the harness failed while running {name}: {type(exc).__name__}: {exc} "
            f"(traceback in raw/{name}/harness-error.txt)",
        )


# -- sanity ---------------------------------------------------------------------------------


def run_sanity_suite(
    options: QualifyOptions, writer: BundleWriter, work_dir: Path, run_id: str, reporter: Reporter
) -> SuiteResult:
    if (
        options.platform == "cluster"
        and options.driver == "installed"
        and options.csi_endpoint is None
    ):
        return run_sanity_in_cluster(options, writer, work_dir, run_id, reporter)
    if options.platform != "local" and options.csi_endpoint is None:
        return SuiteResult(
            "sanity",
            Outcome.NOT_RUN,
            message=f"sanity talks to a CSI socket; on platform {options.platform} pass "
            "--csi.endpoint of a driver reachable from this machine (or, on a cluster, "
            "--driver installed: sanity then runs in a pod on a node of the driver)",
        )
    if not _module_exists("sanity.cli"):
        return SuiteResult(
            "sanity", Outcome.NOT_RUN, message="the sanity suite (sanity/cli.py) is not built yet"
        )
    junit = work_dir / "sanity-junit.xml"
    report = work_dir / "sanity.json"
    profile = options.sanity_profile
    cluster = None
    with contextlib.ExitStack() as stack:
        if options.csi_endpoint is not None:
            endpoint = options.csi_endpoint
        else:
            from e2e.platforms.local.driver_stack import (
                DriverFailed,
                DriverStack,
                DriverStackConfig,
            )
            from e2e.progress import LineProgress

            # The driver under test in mode all: sanity needs identity, controller and node
            # on one endpoint.
            cluster = DriverStack(
                DriverStackConfig(
                    run_id=run_id,
                    work_dir=work_dir,
                    creation_delay_s=0.2,
                    deletion_delay_s=0.1,
                    all_in_one=True,
                    log_dir=writer.raw_dir / "sanity",
                    driver_command=options.driver_command,
                    driver_start_timeout_s=options.driver_start_timeout_s,
                ),
                LineProgress(reporter.line, prefix="sanity: "),
            )
            try:
                stack.enter_context(cluster)
            except DriverFailed as exc:
                return SuiteResult("sanity", Outcome.FAILED, message=str(exc))
            assert cluster.controller is not None
            endpoint = cluster.controller.endpoint
        if profile is None:
            profile = default_sanity_profile(endpoint)
            reporter.line(f"sanity: profile {profile} (the target's GetPluginInfo name decides)")
        if cluster is not None and "fsx" in profile.split(","):
            _strict_emulator(cluster.endpoint_url)
        command = [
            sys.executable, "-m", "fsx_csi_harness", "sanity",
            "--csi.endpoint", endpoint,
            "--junit-xml", str(junit),
            "--json-report", str(report),
            # Inside the run's own directory rather than csi-sanity's shared /tmp/csi-mount:
            # a directory another user created there first would be unwritable for this run.
            "--csi.mountdir", str(work_dir / "csi-mount"),
            "--csi.stagingdir", str(work_dir / "csi-staging"),
        ]  # fmt: skip
        if profile != "none":
            command += ["--profile", profile]
        # FSx drivers need a subnet (and usually a deployment type) in every CreateVolume:
        # the same StorageClass parameters the e2e and throughput suites use.
        parameters = work_dir / "sanity-volume-parameters.yaml"
        parameters.write_text(
            "".join(f"{k}: {json.dumps(v)}\n" for k, v in volume_parameters(options).items())
        )
        command += ["--csi.testvolumeparameters", str(parameters)]
        if options.sanity_workers:
            command += ["-n", str(options.sanity_workers)]
        reporter.line(f"sanity: {' '.join(command[2:])}")
        completed = _stream_command(command, work_dir / "sanity.log", reporter, "sanity")
    # The driver log is in raw/sanity/ by now (the cluster copies it when it stops).
    writer.write_raw("sanity/sanity.log", (work_dir / "sanity.log").read_bytes())
    raw = ["raw/sanity/sanity.log"]
    for path in (junit, report):
        if path.exists():
            raw.append(writer.write_raw(f"sanity/{path.name}", path.read_bytes()))
    # What the driver stack's own sweep found after sanity ended is sanity's too.
    sweep_leaks = list(cluster.leaks) if cluster is not None else []
    if not report.exists():
        return SuiteResult(
            "sanity",
            Outcome.ERROR,
            message=f"fsx-csi sanity exited {completed} without writing its JSON report; "
            "see raw/sanity/sanity.log",
            raw=raw,
            leaks=sweep_leaks,
        )
    try:
        suite = read_suite_file(report)
    except ResultFormatError as exc:
        return SuiteResult(
            "sanity",
            Outcome.ERROR,
            message=f"unreadable sanity result: {exc}",
            raw=raw,
            leaks=sweep_leaks,
        )
    suite.leaks.extend(sweep_leaks)
    suite.raw = raw
    return suite


def run_sanity_in_cluster(
    options: QualifyOptions, writer: BundleWriter, work_dir: Path, run_id: str, reporter: Reporter
) -> SuiteResult:
    """Sanity against the driver installed in the cluster. On emulated AWS the driver is
    pointed at the harness's FSx emulator and Lustre emulation for the suite's duration
    (e2e/platforms/kube/installed_patch.py), so that sanity's volumes never reach an AWS
    account; restored after it, whatever happened."""
    if options.aws == "real":
        return _sanity_in_cluster(options, writer, work_dir, run_id, reporter)
    from e2e.platforms.commands import SubprocessRunner
    from e2e.platforms.kube import clients as kube_clients
    from e2e.platforms.kube.installed_patch import PATCH_NOTE, installed_on_emulator
    from e2e.platforms.manifests import DRIVER_NAME
    from e2e.progress import LineProgress

    driver = options.settings.get("driver-name", DRIVER_NAME)
    try:
        clients = kube_clients.connect(options.kubeconfig, options.settings.get("context"))
        with installed_on_emulator(
            clients,
            SubprocessRunner(),
            driver,
            run_id,
            LineProgress(reporter.line, "  sanity: "),
            float(options.settings.get("wait", "300")),
            options.settings.get("image"),
        ):
            suite = _sanity_in_cluster(options, writer, work_dir, run_id, reporter)
    except Exception as exc:  # noqa: BLE001 - any setup failure: sanity did not run
        return SuiteResult(
            "sanity",
            Outcome.NOT_RUN,
            message=f"the installed driver could not be pointed at the FSx emulator "
            f"({type(exc).__name__}: {exc})",
        )
    suite.details["installed driver"] = PATCH_NOTE
    return suite


def _sanity_in_cluster(
    options: QualifyOptions, writer: BundleWriter, work_dir: Path, run_id: str, reporter: Reporter
) -> SuiteResult:
    """Sanity from a pod on a node where the installed driver is registered
    (e2e/platforms/kube/sanity_pod.py); its reports come back in the pod's log."""
    from kubernetes.client.exceptions import ApiException

    from e2e.platforms.kube import clients as kube_clients
    from e2e.platforms.kube import sanity_pod
    from e2e.platforms.manifests import DRIVER_NAME, RUN_ID_LABEL, kube_name

    driver = options.settings.get("driver-name", DRIVER_NAME)
    try:
        clients = kube_clients.connect(options.kubeconfig, options.settings.get("context"))
        socket = sanity_pod.find_driver_socket(clients, driver)
    except sanity_pod.SanityNotRun as exc:
        return SuiteResult("sanity", Outcome.NOT_RUN, message=str(exc))
    except (ApiException, OSError, ValueError) as exc:
        return SuiteResult(
            "sanity",
            Outcome.NOT_RUN,
            message=f"the cluster could not be asked where {driver} runs ({type(exc).__name__}: "
            f"{exc})",
        )
    reporter.line(f"sanity: {driver} on node {socket.node}, socket {socket.host_path} "
                  f"({socket.source})")  # fmt: skip
    # The FSx driver gets FSx sizes and parameters, as on the local platform.
    profile = options.sanity_profile or ("fsx" if driver == DRIVER_NAME else "none")
    arguments = ["--profile", profile] if profile != "none" else []
    if options.sanity_workers:
        arguments += ["-n", str(options.sanity_workers)]
    pod = sanity_pod.render_sanity_pod(
        kube_name(f"fsx-csi-sanity-{run_id}", 63),
        options.settings.get("sanity-namespace", "default"),
        socket,
        options.settings.get(sanity_pod.SANITY_IMAGE_SETTING, sanity_pod.DEFAULT_SANITY_IMAGE),
        arguments,
        volume_parameters(options),
        {RUN_ID_LABEL: kube_name(run_id)},
    )
    pod_file = writer.write_raw("sanity/sanity-pod.json", json.dumps(pod, indent=2))
    try:
        results = sanity_pod.run_sanity_pod(clients, pod, reporter.line)
    except sanity_pod.SanityPodFailed as exc:
        return SuiteResult("sanity", Outcome.FAILED, message=str(exc), raw=[pod_file])
    raw = [pod_file, writer.write_raw("sanity/sanity.log", results.log)]
    if results.junit_xml is not None:
        raw.append(writer.write_raw("sanity/sanity-junit.xml", results.junit_xml))
    assert results.report_json is not None  # run_sanity_pod raised otherwise
    raw.append(writer.write_raw("sanity/sanity.json", results.report_json))
    report = work_dir / "sanity.json"
    report.write_text(results.report_json, encoding="utf-8")
    try:
        suite = read_suite_file(report)
    except ResultFormatError as exc:
        return SuiteResult(
            "sanity", Outcome.ERROR, message=f"unreadable sanity result: {exc}", raw=raw
        )
    suite.raw = raw
    return suite


def default_sanity_profile(endpoint: str) -> str:
    """fsx when the target says it is an FSx for Lustre driver (GetPluginInfo name
    fsx.csi.aws.com): FSx's sizes and test-volume parameters, not csi-sanity's 10 GiB
    volumes that FSx refuses; none otherwise, or when the target does not answer (sanity
    then reports why)."""
    import grpc

    from e2e.platforms.local.driver_stack import plugin_info
    from e2e.platforms.manifests import DRIVER_NAME

    with grpc.insecure_channel(endpoint) as channel:
        try:
            name, _version = plugin_info(channel)
        except grpc.RpcError:
            return "none"
    return "fsx" if name == DRIVER_NAME else "none"


# Shorter than the sanity stack's creation delay (0.2 s): every CreateVolume retry comes after
# the window, so a driver that finds its file system by ClientRequestToken alone duplicates it.
SANITY_TOKEN_TTL_S = 0.1


def _strict_emulator(endpoint_url: str | None) -> None:
    """The FSx profile against the embedded emulator: as unforgiving as AWS (a closed-early
    token window, `--strict`'s rate limits; see fsx_emulator/README.md, "Strictness")."""
    from fsx_emulator.config import STRICT_RATE_LIMITS
    from fsx_emulator.control import EmulatorControl

    assert endpoint_url is not None  # the stack has started its emulator
    emulator = EmulatorControl(endpoint_url)
    emulator.set_token_ttl(SANITY_TOKEN_TTL_S)
    emulator.set_rate_limits(STRICT_RATE_LIMITS)


def volume_parameters(options: QualifyOptions) -> dict[str, str]:
    """StorageClass parameters for test volumes: emulator-friendly ones, overridden by the AWS
    settings file's."""
    from e2e.throughput.local import DEFAULT_PARAMETERS

    parameters = dict(DEFAULT_PARAMETERS)
    if options.aws_settings is not None:
        parameters.update(load_aws_settings(options.aws_settings).storage_class_defaults())
    return parameters


# -- e2e ------------------------------------------------------------------------------------


def run_e2e_suite(
    options: QualifyOptions, writer: BundleWriter, work_dir: Path, run_id: str, reporter: Reporter
) -> SuiteResult:
    from e2e.platforms import PlatformUnavailable, RunOptions, load_platform
    from e2e.progress import Progress
    from e2e.results import read_results, write_results
    from e2e.scenarios import load_scenarios, select_scenarios

    try:
        platform = load_platform(options.platform)
    except PlatformUnavailable as exc:
        return SuiteResult("e2e", Outcome.NOT_RUN, message=str(exc))
    scenarios = load_scenarios()
    if options.e2e_scenarios:
        scenarios = select_scenarios(scenarios, options.e2e_scenarios)
    raw_dir = writer.raw_dir / "e2e"
    raw_dir.mkdir(parents=True, exist_ok=True)
    run_options = RunOptions(
        run_id=run_id,
        driver="installed" if options.driver == "installed" else "reference",
        aws_endpoint_url=options.aws_endpoint_url,
        report_dir=raw_dir,
        work_dir=work_dir,
        kubeconfig=options.kubeconfig,
        aws_settings=options.aws_settings,
        settings={**options.settings, **_e2e_target_settings(options)},
        manifests=options.manifests,
        # On a cluster, the throughput suite after this one needs the driver this deploys.
        keep_cluster=_throughput_follows(options),
    )
    missing = platform.missing_prerequisites(run_options)
    if missing:
        return SuiteResult(
            "e2e",
            Outcome.NOT_RUN,
            message="; ".join(str(m) for m in missing),
            tests=[
                TestResult(s.name, Outcome.NOT_RUN, message="platform prerequisites missing")
                for s in scenarios
            ],
        )
    log = work_dir / "e2e-progress.log"
    with log.open("w") as log_stream:
        progress = Progress(stream=cast(TextIO, _Tee(log_stream, reporter)))
        result = platform.run(scenarios, run_options, progress)
    kept = getattr(platform, "kept", None)
    if kept is not None and run_options.keep_cluster:
        _KEPT_FOR_THROUGHPUT[run_id] = kept
        reporter.line(f"  kept {kept.description} for the throughput suite")
    write_results(result, raw_dir)
    writer.write_raw("e2e/progress.log", log.read_bytes())
    # The file `fsx-csi e2e --report-dir` writes, read back as every suite's file is read.
    suite = read_results(raw_dir)
    suite.raw = sorted(str(p.relative_to(writer.path)) for p in raw_dir.rglob("*") if p.is_file())
    return suite


# What an e2e suite on kind/cluster left standing for the throughput suite after it (by run
# id): its cluster or deployed driver, released after throughput or at the end of the run.
_KEPT_FOR_THROUGHPUT: dict[str, KeptCluster] = {}


def _throughput_follows(options: QualifyOptions) -> bool:
    suites = list(options.suites)
    return (
        options.platform != "local"
        and "e2e" in suites
        and "throughput" in suites[suites.index("e2e") :]
    )


@contextlib.contextmanager
def _kept_released(run_id: str, reporter: Reporter) -> Iterator[None]:
    """What the e2e suite kept for a throughput suite that did not run after it (skipped,
    interrupted by Ctrl-C or SIGTERM, or a crash between the suites) is released at the end."""
    try:
        yield
    finally:
        _release_kept(run_id, reporter)


def _release_kept(run_id: str, reporter: Reporter) -> None:
    kept = _KEPT_FOR_THROUGHPUT.pop(run_id, None)
    if kept is None:
        return
    from e2e.progress import LineProgress

    reporter.line(f"removing {kept.description} kept for the throughput suite")
    kept.release(LineProgress(reporter.line, "  "))


def _e2e_target_settings(options: QualifyOptions) -> dict[str, str]:
    """The e2e platform settings that name qualify's target and AWS mode, so that e2e runs
    against the same driver as the other suites, never the reference driver in its place."""
    settings = {"aws": options.aws} if options.platform != "local" else {}
    if options.platform != "local":
        return settings  # kind/cluster: --manifests or --driver installed name the target
    if options.csi_endpoint:
        settings["csi-endpoints"] = ",".join((options.csi_endpoint, *options.more_csi_endpoints))
    elif options.driver_command:
        settings["driver-command"] = options.driver_command
        settings["driver-start-timeout"] = str(options.driver_start_timeout_s)
    # An external emulator's mounts come from its emulation root.
    if options.emulation_root and not options.csi_endpoint:
        settings["emulation-root"] = str(options.emulation_root)
    return settings


class _Tee:
    """e2e progress lines go to the raw log and, prefixed, to qualify's progress stream."""

    def __init__(self, log: TextIO, reporter: Reporter) -> None:
        self._log = log
        self._reporter = reporter

    def write(self, text: str) -> int:
        self._log.write(text)
        for line in text.splitlines():
            if line.strip():
                self._reporter.line(f"  {line}")
        return len(text)

    def flush(self) -> None:
        self._log.flush()


# -- throughput -----------------------------------------------------------------------------


def run_throughput_suite(
    options: QualifyOptions, writer: BundleWriter, work_dir: Path, run_id: str, reporter: Reporter
) -> SuiteResult:
    if options.platform != "local":  # a Kubernetes platform: fio pods in the cluster
        from e2e.throughput.kube import run_kube_throughput

        kept = _KEPT_FOR_THROUGHPUT.get(run_id)
        # The e2e suite's cluster (kind: its own kubeconfig) with its driver still deployed.
        on = replace(options, kubeconfig=kept.kubeconfig) if kept is not None else options
        try:
            return run_kube_throughput(on, writer, reporter.line)
        finally:
            _release_kept(run_id, reporter)
    from e2e.throughput.suite import ThroughputOptions, run_local_throughput

    return run_local_throughput(
        ThroughputOptions(
            run_id=run_id,
            work_dir=work_dir,
            plan=options.plan,
            repeats=options.repeats,
            nodes=options.nodes,
            ratio_target=options.ratio_target,
            engine=options.engine,
            csi_endpoint=options.csi_endpoint,
            driver_command=options.driver_command,
            emulation_root=options.emulation_root,
            aws_endpoint_url=options.aws_endpoint_url,
        ),
        writer,
        reporter.line,
    )


# -- helpers --------------------------------------------------------------------------------


def _module_exists(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _stream_command(command: list[str], log_path: Path, reporter: Reporter, label: str) -> int:
    """Run a suite's command, keep its whole output in a log, show its progress lines."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    with log_path.open("w") as log:
        process = subprocess.Popen(
            tied_to_parent(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert process.stdout is not None
        try:
            for line in process.stdout:
                log.write(line)
                stripped = line.rstrip()
                # Show summaries and failures, not every passing case.
                lowered = stripped.lower()
                if any(word in lowered for word in ("fail", "error", "passed", "summary", "leak")):
                    reporter.line(f"  {label}: {stripped[:200]}")
        except BaseException:
            # Ctrl-C reaches the child through the terminal; SIGTERM reaches only us: let the
            # suite run its own clean-up (it handles SIGINT as Ctrl-C) before we go on.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            raise
        return process.wait()
