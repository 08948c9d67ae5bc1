"""`LocalPlatform`, the platform the CLI loads as `local`: no cluster; the harness plays
external-provisioner, external-resizer and kubelet over CSI gRPC against real driver processes
(one controller, two nodes) and an FSx endpoint (the embedded emulator by default). See the
package's other modules and e2e/README.md.

Settings (`--set KEY=VALUE`):
    pod-isolation=namespace|rewrite   how a pod sees /data (default: namespace as root)
    driver-command=TEMPLATE           start another driver (`fsx-csi e2e --driver-command`):
                                      one controller and one process per node; placeholders
                                      {endpoint} {mode} {node_id} (and {aws_endpoint_url}
                                      {region} {emulation_root} {python})
    csi-endpoints=A,B                 drivers someone else runs (`--csi.endpoint`, repeatable):
                                      the first is the controller and node-0, each further
                                      one another node; needs --aws-endpoint-url
    driver-start-timeout=SECONDS      how long each driver process may take to serve CSI (30)
    emulation-root=DIR                the emulation root of an external emulator
                                      (--aws-endpoint-url)
    keep-work-dir=true                keep the run directory for inspection
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from e2e.platforms import Prerequisite, PrerequisiteMissing, RunOptions

if TYPE_CHECKING:
    from e2e.platforms.local.pods import Isolation
    from e2e.progress import Progress
    from e2e.results import RunResult
    from e2e.scenarios import Scenario

KNOWN_SETTINGS = (
    "pod-isolation", "driver-command", "csi-endpoints", "driver-start-timeout",
    "emulation-root", "keep-work-dir",
)  # fmt: skip


def csi_endpoints(options: RunOptions) -> tuple[str, ...]:
    """The endpoints of drivers someone else runs (--csi.endpoint), in node order."""
    return tuple(e for e in options.settings.get("csi-endpoints", "").split(",") if e)


class LocalPlatform:
    name = "local"

    def _isolation(self, options: RunOptions) -> str:
        return options.settings.get(
            "pod-isolation", "namespace" if os.geteuid() == 0 else "rewrite"
        )

    def missing_prerequisites(self, options: RunOptions) -> list[Prerequisite]:
        from e2e.platforms.local.pods import namespace_isolation_missing

        missing = []
        if options.manifests is not None:
            missing.append(
                Prerequisite(
                    "a cluster for --manifests",
                    f"--manifests {options.manifests} deploys Kubernetes objects, and the local "
                    "platform has no cluster",
                    "--platform kind, cluster or k3s; on local, start the driver's binary with "
                    "--driver installed --set driver-command='...'",
                )
            )
        unknown = sorted(set(options.settings) - set(KNOWN_SETTINGS))
        if unknown:
            missing.append(
                Prerequisite(
                    "known --set keys",
                    f"unknown {unknown}",
                    f"use one of {', '.join(KNOWN_SETTINGS)}",
                )
            )
        isolation = self._isolation(options)
        if isolation not in ("namespace", "rewrite"):
            missing.append(
                Prerequisite("pod-isolation", f"{isolation!r}", "use namespace or rewrite")
            )
        elif isolation == "namespace" and (reason := namespace_isolation_missing()):
            missing.append(
                Prerequisite(
                    "pod isolation in a mount namespace",
                    reason,
                    "run as root, or --set pod-isolation=rewrite",
                )
            )
        if os.geteuid() != 0:
            missing.append(
                Prerequisite(
                    "root",
                    f"running as uid {os.geteuid()}",
                    "the emulated Lustre mounts are real bind mounts: run as root (sudo), or "
                    "through the fsx-csi command, which runs itself in a private user+mount "
                    "namespace where the kernel allows unprivileged user namespaces",
                )
            )
        if shutil.which("mount") is None or shutil.which("umount") is None:
            missing.append(Prerequisite("mount/umount", "not on PATH", "install util-linux"))
        endpoints = csi_endpoints(options)
        if endpoints and "driver-command" in options.settings:
            missing.append(
                Prerequisite(
                    "one driver under test",
                    "both --csi.endpoint and --driver-command",
                    "either start the driver yourself (--csi.endpoint) or let the harness "
                    "start it (--driver-command)",
                )
            )
        if endpoints and not options.aws_endpoint_url:
            missing.append(
                Prerequisite(
                    "the FSx API of the driver at --csi.endpoint",
                    f"{endpoints[0]} without --aws-endpoint-url",
                    "--aws-endpoint-url URL of the FSx endpoint that driver talks to (an "
                    "`fsx-csi emulator`), so that the harness can check and clean up its file "
                    "systems; or --driver-command to let the harness start the driver",
                )
            )
        if (
            options.driver == "installed"
            and "driver-command" not in options.settings
            and not endpoints
        ):
            missing.append(
                Prerequisite(
                    "a driver command",
                    "--driver installed on the local platform without driver-command",
                    "--set driver-command='/path/to/driver --endpoint {endpoint} ...' "
                    "(see `fsx-csi e2e --help`)",
                )
            )
        if options.aws_endpoint_url and "emulation-root" not in options.settings and not endpoints:
            missing.append(
                Prerequisite(
                    "the emulation root of the external FSx endpoint",
                    f"--aws-endpoint-url {options.aws_endpoint_url} without emulation-root",
                    "--set emulation-root=DIR (the emulator's --emulation-root)",
                )
            )
        return missing

    def run(
        self, scenarios: Sequence[Scenario], options: RunOptions, progress: Progress
    ) -> RunResult:
        from e2e.platforms.local.driver_stack import (
            DriverStack,
            DriverStackConfig,
        )
        from e2e.platforms.local.operations import LocalOperations
        from e2e.platforms.local.pods import PodRunner
        from e2e.results import Outcome, RunResult, ScenarioResult
        from e2e.runner import ScenarioRunner

        started = time.monotonic()
        result = RunResult(run_id=options.run_id, platform=self.name, driver=options.driver)
        emulation_root = options.settings.get("emulation-root")
        config = DriverStackConfig(
            run_id=options.run_id,
            region=options.region,
            aws_endpoint_url=options.aws_endpoint_url,
            emulation_root=Path(emulation_root) if emulation_root else None,
            creation_delay_s=options.creation_delay_s,
            work_dir=options.work_dir,
            driver_command=options.settings.get("driver-command"),
            csi_endpoints=csi_endpoints(options),
            driver_start_timeout_s=float(options.settings.get("driver-start-timeout", 30.0)),
            log_dir=options.report_dir / "raw" / "e2e-local" if options.report_dir else None,
            keep_work_dir=options.settings.get("keep-work-dir", "false").lower() == "true",
        )
        isolation = cast("Isolation", self._isolation(options))
        result.details["pod_isolation"] = isolation
        stack = DriverStack(config, progress)
        try:
            with stack:
                result.details["fsx_endpoint"] = stack.endpoint_url or ""
                result.details["driver_name"] = stack.driver_name
                result.details["driver_version"] = stack.driver_version
                pods = PodRunner(isolation, stack.tracker, stack.pods_dir, progress)
                operations = LocalOperations(stack, pods, options.provision_timeout_s)
                runner = ScenarioRunner(operations, progress)
                for scenario in scenarios:
                    if crashed := stack.exited_plugins():
                        # Nothing after a crash exercises the target: say what died.
                        result.scenarios.append(
                            ScenarioResult(
                                scenario.name, self.name, Outcome.ERROR,
                                message="not run: the driver under test died earlier: "
                                + "; ".join(crashed),
                            )
                        )  # fmt: skip
                        continue
                    if scenario.node_count > len(stack.nodes):
                        result.scenarios.append(
                            ScenarioResult(
                                scenario.name, self.name, Outcome.NOT_RUN,
                                message=f"needs {scenario.node_count} nodes and the driver "
                                f"under test has {len(stack.nodes)} (one --csi.endpoint is "
                                "one node): repeat --csi.endpoint, one per node, or let the "
                                "harness start it with --driver-command",
                            )
                        )  # fmt: skip
                        continue
                    progress.info(
                        f"scenario {scenario.name}: {scenario.description.split('. ')[0]}"
                    )
                    scenario_result = runner.run(scenario)
                    if not scenario_result.passed and (crashed := stack.exited_plugins()):
                        scenario_result.message = (
                            f"the driver under test died: {'; '.join(crashed)}"
                            + (f"\n{scenario_result.message}" if scenario_result.message else "")
                        )
                    result.scenarios.append(scenario_result)
                    progress.info(
                        f"scenario {scenario.name}: {scenario_result.outcome.value} in "
                        f"{scenario_result.duration_s:.1f}s"
                        + (f" ({scenario_result.message})" if scenario_result.message else "")
                    )
        except Exception as exc:  # noqa: BLE001 - the platform could not start: every scenario errs
            done = {s.name for s in result.scenarios}
            for scenario in scenarios:
                if scenario.name not in done:
                    result.scenarios.append(
                        ScenarioResult(
                            scenario.name, self.name, Outcome.ERROR,
                            message=f"the local platform could not run: {exc}",
                        )
                    )  # fmt: skip
        finally:
            result.leaks = list(stack.leaks)
            result.duration_s = round(time.monotonic() - started, 3)
        for leak in result.leaks:
            state = "removed" if leak.removed else "NOT removed"
            progress.info(f"leak: {leak.kind} {leak.id} ({leak.detail}) {state}")
        return result


def create_platform() -> LocalPlatform:
    return LocalPlatform()


def run_local(
    options: RunOptions,
    scenarios: Sequence[Scenario] | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Every scenario (default: all of fixtures/scenarios) on the local platform, for
    `fsx-csi qualify` and tests. Raises PrerequisiteMissing when the machine cannot run it."""
    from e2e.progress import Progress
    from e2e.scenarios import load_scenarios

    platform = LocalPlatform()
    missing = platform.missing_prerequisites(options)
    if missing:
        raise PrerequisiteMissing(missing)
    return platform.run(
        load_scenarios() if scenarios is None else scenarios, options, progress or Progress()
    )
