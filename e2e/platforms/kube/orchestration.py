"""A whole kind, cluster or k3s run, the parts the three platforms share: what driver to deploy
(`plan_driver`: the reference overlay, or another driver's manifests beside the FSx emulator),
deploying and waiting for it, running every scenario and the leak sweep (`run_scenarios`),
timing each platform step, and turning a setup failure into a verdict per scenario."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from kubernetes.client.exceptions import ApiException

from e2e import leaks
from e2e.platforms.commands import CommandRunner
from e2e.platforms.kube.apply import apply_manifests
from e2e.platforms.kube.clients import ClusterUnreachable, KubeClients
from e2e.platforms.kube.diagnostics import collect_diagnostics
from e2e.platforms.kube.identity import record_run_driver
from e2e.platforms.kube.objects import KubeRunSettings
from e2e.platforms.kube.observe import schedulable_nodes
from e2e.platforms.kube.operations import KubeScenarioRunner
from e2e.platforms.kube.readiness import wait_workloads_ready
from e2e.platforms.manifests import (
    CONTROLLER_DEPLOYMENT,
    DRIVER_NAME,
    NODE_DAEMONSET,
    RUN_ID_LABEL,
    Manifest,
    ObjectRef,
    Overlay,
    kube_name,
    render,
    with_driver_image,
    with_emulator_creation_delay,
    with_labels,
)
from e2e.progress import Progress, WaitTimeout
from e2e.results import Outcome, RunResult, ScenarioResult, StepError
from e2e.scenarios import Scenario

if TYPE_CHECKING:
    from e2e.platforms import RunOptions
    from e2e.platforms.user_manifests import DriverManifests


@dataclass
class KeptCluster:
    """What a run with --keep-cluster left standing (a kind cluster, K3s container, or the
    driver deployed on a cluster), and how to remove it: `fsx-csi qualify` keeps the driver
    of its e2e suite for the throughput suite, then releases it."""

    # Where the cluster is reached (None: the default kubeconfig).
    kubeconfig: Path | None
    description: str
    release: Callable[[Progress], None]


@contextmanager
def timed(progress: Progress, what: str, timings: dict[str, str]) -> Iterator[None]:
    """Time a platform step (cluster create, image load, deploy, ...) for the run's details."""
    started = progress.clock()
    progress.info(f"{what} ...")
    yield
    elapsed = progress.clock() - started
    timings[f"step: {what}"] = f"{elapsed:.1f}s"
    progress.info(f"{what}: done in {elapsed:.1f}s")


def run_scenarios(
    clients: KubeClients,
    fsx_client: Any,
    scenarios: Sequence[Scenario],
    settings: KubeRunSettings,
    progress: Progress,
    result: RunResult,
    diagnostics_dir: Path | None,
    diagnostics_namespaces: Sequence[str],
) -> None:
    """Every scenario on the cluster, then the leak sweep; diagnostics saved when anything
    failed. Results go into `result` as they come, so an interrupted run keeps what it did."""
    guard = leaks.FileSystemGuard(fsx_client, progress)
    nodes = schedulable_nodes(clients)
    progress.info(f"schedulable nodes: {', '.join(nodes) or 'none'}")
    # Which driver the scenarios exercise, read from the cluster before anything is created.
    record_run_driver(clients, settings, nodes, result.details, progress)
    runner = KubeScenarioRunner(clients, guard, fsx_client, progress, settings, nodes)
    runner.ensure_namespace()
    try:
        for scenario in scenarios:
            progress.info(f"scenario {scenario.name} on {settings.platform}")
            scenario_result = runner.run(scenario)
            result.scenarios.append(scenario_result)
            progress.info(
                f"scenario {scenario.name}: {scenario_result.outcome.value}"
                + (
                    f" ({scenario_result.message.splitlines()[0]})"
                    if scenario_result.message
                    else ""
                )
            )
    finally:
        failed = any(not s.passed and s.outcome is not Outcome.SKIPPED for s in result.scenarios)
        if failed and diagnostics_dir is not None:
            collect_diagnostics(
                clients,
                diagnostics_dir,
                [*diagnostics_namespaces, settings.namespace],
                progress,
            )
        result.leaks += runner.sweep()
        if result.leaks:
            progress.info(
                "leak sweep removed: "
                + ", ".join(f"{leak.kind} {leak.id}" for leak in result.leaks)
            )


@dataclass
class DriverPlan:
    """The driver a kind, cluster or k3s run deploys: the reference overlay, or another
    driver's manifests (`--manifests`), with the FSx emulator beside it on emulated AWS."""

    # Every object the run applies, labelled with the run id, in apply order.
    objects: list[Manifest]
    driver_name: str
    # Waited for after the apply (the emulator first when there is one).
    workloads: list[ObjectRef]
    # The driver's namespaces, for diagnostics.
    namespaces: list[str]
    description: str
    # Only for another driver's manifests: what the run should add to its failure messages.
    user: DriverManifests | None = None
    with_emulator: bool = False

    def run_settings(self) -> dict[str, Any]:
        """KubeRunSettings fields that depend on the driver: provisioner, where its logs are,
        and hints for failures that another driver meets on emulated AWS."""
        if self.user is None:
            return {}
        from e2e.platforms.user_manifests import (
            EMULATED_MOUNT_HINT,
            ENDPOINT_HINT,
        )

        def pods(workloads: Sequence[ObjectRef]) -> list[tuple[str, str]]:
            found = []
            for workload in workloads:
                manifest = next(
                    m
                    for m in self.objects
                    if m["kind"] == workload.kind and m["metadata"]["name"] == workload.name
                )
                labels = manifest["spec"]["selector"].get("matchLabels") or {}
                selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
                found.append((workload.namespace or "default", selector))
            return found

        return {
            "provisioner": self.driver_name,
            "controller_pods": pods(self.user.controllers),
            "controller_containers": None,
            "node_pods": pods(self.user.node_plugins),
            "node_containers": None,
            "provisioning_hint": (
                f"the driver under test must reach the FSx emulator: {ENDPOINT_HINT}"
                if self.with_emulator
                else None
            ),
            "mount_hint": EMULATED_MOUNT_HINT if self.with_emulator else None,
        }


def plan_driver(
    runner: CommandRunner,
    overlay: Overlay,
    user: DriverManifests | None,
    image: str | None,
    pull_policy: str | None,
    run_id: str,
    creation_delay_s: float | None = None,
) -> DriverPlan:
    """What to apply and wait for. `overlay` is the reference driver's ("emulated" also
    brings the FSx emulator); with `user`, only the emulator's objects are taken from it.
    `image` replaces the harness image (the reference driver's and the emulator's) wherever
    it appears; another driver's own images are left alone."""
    from e2e.platforms.manifests import DRIVER_NAMESPACE, EMULATOR_DEPLOYMENT
    from e2e.platforms.user_manifests import emulator_objects, merged

    with_emulator = overlay == "emulated"
    emulator = [ObjectRef("Deployment", EMULATOR_DEPLOYMENT, DRIVER_NAMESPACE)]
    if user is None:
        objects = render(runner, overlay)
        workloads = [
            ObjectRef("Deployment", CONTROLLER_DEPLOYMENT, DRIVER_NAMESPACE),
            ObjectRef("DaemonSet", NODE_DAEMONSET, DRIVER_NAMESPACE),
        ]
        namespaces = [DRIVER_NAMESPACE]
        description = f"the reference driver (overlay {overlay})"
        driver_name = DRIVER_NAME
    else:
        objects = user.objects
        if with_emulator:
            objects = merged(emulator_objects(render(runner, overlay)), objects)
        workloads = user.workloads
        namespaces = user.namespaces
        description = f"--manifests {user.describe()}"
        driver_name = user.driver_name
    if with_emulator:
        from e2e.platforms.kube.lustre_helper import with_lustre_emulation

        workloads = [*emulator, *workloads]
        namespaces = sorted({DRIVER_NAMESPACE, *namespaces})
        # No Lustre here: every node plugin gets the emulation's mount.lustre (a patch).
        node_plugins = (
            [ObjectRef("DaemonSet", NODE_DAEMONSET, DRIVER_NAMESPACE)]
            if user is None
            else user.node_plugins
        )
        objects = with_lustre_emulation(objects, node_plugins)
    if image is not None:
        objects = with_driver_image(objects, image, pull_policy)
    if with_emulator and creation_delay_s is not None:
        objects = with_emulator_creation_delay(objects, creation_delay_s)
    return DriverPlan(
        objects=with_labels(objects, {RUN_ID_LABEL: kube_name(run_id)}),
        driver_name=driver_name,
        workloads=workloads,
        namespaces=namespaces,
        description=description,
        user=user,
        with_emulator=with_emulator,
    )


def deploy_planned_driver(
    clients: KubeClients,
    plan: DriverPlan,
    progress: Progress,
    timeout_s: float,
    nodes: Sequence[str],
) -> None:
    """Apply the plan's objects and wait until the driver is ready on `nodes`."""
    progress.info(f"deploying {plan.description}")
    if plan.user is not None:
        for note in plan.user.notes:
            progress.info(note)
    apply_manifests(clients, plan.objects, progress)
    wait_workloads_ready(clients, progress, plan.workloads, plan.driver_name, nodes, timeout_s)


def foreign_csi_driver(clients: KubeClients, driver_name: str) -> bool:
    """Whether the cluster has a CSIDriver `driver_name` that no harness run created."""
    try:
        existing = clients.storage.read_csi_driver(driver_name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    labels = (existing.metadata.labels or {}) if existing.metadata else {}
    # One left by an earlier harness run is ours to replace.
    return RUN_ID_LABEL not in labels


def refuse_foreign_csi_driver(clients: KubeClients, plan: DriverPlan, where: str) -> None:
    """On a shared cluster, another driver's manifests must not take over an installed
    driver: the run's teardown would delete it. Raises StepError before anything is applied."""
    if not foreign_csi_driver(clients, plan.driver_name):
        return
    raise StepError(
        f"CSIDriver {plan.driver_name} already exists in the cluster at {where}, not created "
        "by the harness: expected none before deploying --manifests (applying would take over "
        "the installed driver and the teardown would delete it); try --driver installed to "
        "test the installed driver, or uninstall it first"
    )


SETUP_ERRORS: Final = (StepError, WaitTimeout, ClusterUnreachable, ApiException)


def new_run_result(options: RunOptions, platform: str) -> RunResult:
    """The result a kind, cluster or k3s run fills in."""
    # "manifests": another driver's, deployed by the run (--manifests).
    return RunResult(options.run_id, platform, "manifests" if options.manifests else options.driver)


def deploy_emulated_driver(
    clients: KubeClients,
    runner: CommandRunner,
    user: DriverManifests | None,
    image: str,
    options: RunOptions,
    platform: str,
    progress: Progress,
    result: RunResult,
    timings: dict[str, str],
    diagnostics: list[str],
) -> KubeRunSettings:
    """Deploy the driver and the FSx emulator on a throw-away cluster (kind, k3s) whose nodes
    already hold `image`, and return the settings to run the scenarios with. `diagnostics`
    is updated in place to the driver's namespaces before anything is applied, so a failed
    deploy still collects them."""
    with timed(progress, "deploying the driver and the emulator", timings):
        plan = plan_driver(
            runner, "emulated", user, image, "Never", options.run_id, options.creation_delay_s
        )
        diagnostics[:] = plan.namespaces
        result.details["driver"] = plan.description
        deploy_planned_driver(
            clients,
            plan,
            progress,
            float(options.settings.get("wait", "300")),
            schedulable_nodes(clients),
        )
    return KubeRunSettings(
        run_id=options.run_id,
        platform=platform,
        namespace=kube_name(f"fsx-csi-{options.run_id}"),
        # The driver image has sh and is already on every node: no pull.
        pod_image=image,
        pod_image_pull_policy="Never",
        provision_timeout_s=options.provision_timeout_s,
        pod_start_allowance_s=60.0,
        file_system_delete_timeout_s=options.provision_timeout_s,
        **plan.run_settings(),
    )


def record_setup_failure(
    result: RunResult,
    scenarios: Sequence[Scenario],
    exc: Exception,
    progress: Progress,
    clients: KubeClients | None,
    report_dir: Path | None,
    diagnostics: Sequence[str],
) -> None:
    """The platform could not get ready (cluster, image, driver): every scenario not run yet
    is an error carrying the reason, so the report says why nothing ran; the driver's
    namespaces are saved when the cluster was reached."""
    message = str(exc)
    _mark_unfinished(result, scenarios, f"platform setup failed: {message}")
    progress.info(f"{result.platform} setup failed: {message}")
    if clients is not None and report_dir is not None:
        collect_diagnostics(clients, report_dir, diagnostics, progress)


def record_interrupted(
    result: RunResult, scenarios: Sequence[Scenario], progress: Progress
) -> None:
    """Ctrl-C: the scenarios that did not finish are errors saying so, so that the results
    file still tells what ran (the teardown and the cluster's removal run after this)."""
    _mark_unfinished(result, scenarios, "interrupted (Ctrl-C) before the scenario finished")
    result.details["interrupted"] = "Ctrl-C"
    progress.info("interrupted: removing what the run made, then writing the results")


def _mark_unfinished(result: RunResult, scenarios: Sequence[Scenario], message: str) -> None:
    """Every scenario without a result yet becomes an error saying why it did not finish."""
    done = {s.name for s in result.scenarios}
    result.scenarios.extend(
        ScenarioResult(
            name=scenario.name, platform=result.platform, outcome=Outcome.ERROR, message=message
        )
        for scenario in scenarios
        if scenario.name not in done
    )
