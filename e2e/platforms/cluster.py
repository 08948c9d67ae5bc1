"""Platform `cluster`: any cluster a kubeconfig reaches (EKS, an existing kind, ...).

- `--driver installed`: the FSx CSI driver already in the cluster is the target (for example
  the upstream Go driver installed with helm), detected through its CSIDriver object
  `fsx.csi.aws.com`. On real AWS nothing is deployed. On emulated AWS (the default) the FSx
  emulator is deployed and the installed driver is temporarily pointed at it by a live patch
  of its node plugin DaemonSet (the Lustre emulation) and controller (the emulator's endpoint
  and dummy credentials), restored at the end, also on failure, Ctrl-C and SIGTERM
  (e2e/platforms/kube/installed_patch.py); a run that cannot patch it is refused before
  anything starts.
- otherwise the reference driver is deployed: the `aws` overlay with AWS settings (real AWS), the
  `emulated` overlay without (the FSx emulator in the cluster; cross-node sharing then needs
  nodes that share the emulation root, as the kind config arranges), and removed at the end
  unless `--keep-cluster`.

On emulated AWS (all three: ours, `--manifests`, `--driver installed`) the emulation root is
the nodes' /var/lib/fsx-csi-emulation, whatever it is: the harness does not mount a tmpfs
there as kind and k3s do, which could break the sharing between nodes the user arranged.
Once the driver is ready it checks it in the node plugin container of each node the
scenarios use (e2e/platforms/kube/emulation_check.py): the same device as kubelet's pods
directory is `emulation_root_warning` (a warning, not a refusal: see that module), a marker
the FSx emulator writes that a node does not see is `emulation_root_not_shared`, both printed
with the fix before any scenario runs (the scenarios with pods on such a node are then NOT
RUN); what cannot be checked is said so.

Real-AWS settings come from a settings file (`--aws-settings`, see
fixtures/aws-settings/example.yaml, read by fsx_csi_harness.aws_settings): region, StorageClass
parameters (subnetId, securityGroupIds, deploymentType, ...), timeouts.
Without AWS credentials (the boto3 session finds none) the real-AWS run is refused, saying so.

- `--manifests PATH`: another driver's manifests (kustomize directory, YAML directory or file)
  are applied instead of the reference driver (beside the FSx emulator's Deployment and Service
  on emulated AWS), waited for, and removed at the end unless `--keep-cluster`. A CSIDriver of
  the same name that the harness did not create refuses the run: the teardown would delete it.

Settings (`--set KEY=VALUE`): `image` (the harness image the nodes can pull: the reference
driver's and the emulator's), `pod-image` (needs POSIX sh; default busybox from ECR Public),
`context` (kubeconfig context), `wait`, `driver-name` (the CSIDriver of `--driver installed` or
`--manifests`, default fsx.csi.aws.com).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2e.platforms import Prerequisite, RunOptions
from fsx_csi_harness.aws_settings import AwsSettingsError, load_aws_settings
from fsx_csi_harness.data import fixture_path

if TYPE_CHECKING:
    from e2e.platforms.commands import CommandRunner
    from e2e.platforms.kube.clients import KubeClients
    from e2e.platforms.kube.fsx_access import FsxClientFactory, PortForward
    from e2e.platforms.kube.installed_patch import InstalledPatch
    from e2e.platforms.kube.orchestration import KeptCluster
    from e2e.progress import Progress
    from e2e.results import RunResult
    from e2e.scenarios import Scenario

DEFAULT_POD_IMAGE = "public.ecr.aws/docker/library/busybox:1.36"


def kubeconfig_path(options: RunOptions, environ: Mapping[str, str]) -> Path | None:
    """The kubeconfig a run uses: --kubeconfig, else the first file of $KUBECONFIG, else
    ~/.kube/config; None when none exists (in-cluster config may still work)."""
    if options.kubeconfig is not None:
        return options.kubeconfig
    candidates = [Path(p) for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    candidates.append(Path(environ.get("HOME", "~")).expanduser() / ".kube" / "config")
    return next((p for p in candidates if p.is_file()), None)


def aws_credentials_present(session_factory: Callable[[], Any] | None = None) -> bool:
    """Whether the default credential chain finds credentials (env, files, SSO, IMDS, ...)."""
    if session_factory is None:
        import boto3

        session_factory = boto3.Session
    return session_factory().get_credentials() is not None


class ClusterPlatform:
    name = "cluster"

    def __init__(
        self,
        runner: CommandRunner | None = None,
        connect: Callable[[Path | None, str | None], KubeClients] | None = None,
        port_forward: PortForward | None = None,
        fsx_client_factory: FsxClientFactory | None = None,
        credentials_present: Callable[[], bool] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._runner = runner
        self._connect = connect
        self._port_forward = port_forward
        self._fsx_client_factory = fsx_client_factory
        self._credentials_present = credentials_present or aws_credentials_present
        self._environ = environ if environ is not None else os.environ
        # What the last run with --keep-cluster left deployed (qualify runs throughput on it).
        self.kept: KeptCluster | None = None

    def _commands(self, progress: Progress | None = None) -> CommandRunner:
        if self._runner is None:
            from e2e.platforms.commands import SubprocessRunner

            self._runner = SubprocessRunner(progress.info if progress else None)
        return self._runner

    def _clients(self, options: RunOptions) -> KubeClients:
        if self._connect is not None:
            return self._connect(
                kubeconfig_path(options, self._environ), options.settings.get("context")
            )
        from e2e.platforms.kube.clients import connect

        return connect(kubeconfig_path(options, self._environ), options.settings.get("context"))

    @staticmethod
    def real_aws(options: RunOptions) -> bool:
        return options.aws_settings is not None or options.settings.get("aws") == "real"

    def missing_prerequisites(self, options: RunOptions) -> list[Prerequisite]:
        missing: list[Prerequisite] = []
        path = kubeconfig_path(options, self._environ)
        in_cluster = "KUBERNETES_SERVICE_HOST" in self._environ
        if path is None and not in_cluster:
            return [
                Prerequisite(
                    "a kubeconfig",
                    "no --kubeconfig, no file in $KUBECONFIG and no ~/.kube/config",
                    "pass --kubeconfig PATH (for EKS: `aws eks update-kubeconfig --name CLUSTER`)",
                )
            ]
        if self.real_aws(options):
            if options.aws_settings is None:
                missing.append(
                    Prerequisite(
                        "an AWS settings file",
                        "aws=real without --aws-settings",
                        f"copy {fixture_path('aws-settings', 'example.yaml')}, fill in subnet and "
                        "security groups, pass it with --aws-settings",
                    )
                )
            else:
                try:
                    load_aws_settings(options.aws_settings)
                except AwsSettingsError as exc:
                    missing.append(
                        Prerequisite("a valid AWS settings file", str(exc), "fix the file")
                    )
            if not self._credentials_present():
                missing.append(
                    Prerequisite(
                        "AWS credentials",
                        "the boto3 default credential chain found none",
                        "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run "
                        "`aws sso login`",
                    )
                )
        if options.driver == "reference" or not self.real_aws(options):
            # Rendering our manifests, or port-forwarding to the in-cluster emulator.
            from e2e.platforms.kind import kustomize_missing

            missing += kustomize_missing(self._commands())
        from e2e.platforms.kind import manifests_problems

        missing += manifests_problems(self._commands(), options)
        if missing:
            return missing
        # Reachability last: it is the slowest check and needs the kubeconfig.
        from e2e.platforms import manifests
        from e2e.platforms.kube.clients import ClusterUnreachable, check_reachable
        from e2e.platforms.kube.orchestration import foreign_csi_driver

        where = str(path) if path else "in-cluster config"
        try:
            clients = self._clients(options)
            check_reachable(clients, where)
        except ClusterUnreachable as exc:
            return [Prerequisite("a reachable cluster", str(exc), "see above")]
        except Exception as exc:  # noqa: BLE001 - a broken kubeconfig raises many kinds
            return [
                Prerequisite(
                    "a usable kubeconfig",
                    f"{where}: {type(exc).__name__}: {exc}",
                    "check it with `kubectl config view` and `kubectl get nodes`",
                )
            ]
        driver_name = options.settings.get("driver-name", manifests.DRIVER_NAME)
        if options.driver == "installed":
            from kubernetes.client.exceptions import ApiException

            try:
                clients.storage.read_csi_driver(driver_name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                missing.append(
                    Prerequisite(
                        "an installed FSx CSI driver",
                        f"no CSIDriver {driver_name} in the cluster at {where}",
                        "install it (helm install aws-fsx-csi-driver ...) or drop "
                        "--driver installed to deploy the reference driver",
                    )
                )
            else:
                if not self.real_aws(options):
                    missing += _installed_patch_problems(clients, driver_name, options.run_id)
        elif options.manifests is not None and foreign_csi_driver(clients, driver_name):
            missing.append(
                Prerequisite(
                    f"a cluster without another {driver_name} driver",
                    f"expected no CSIDriver {driver_name} before deploying --manifests, seen "
                    f"one in the cluster at {where} that the harness did not create (applying "
                    "would take over the installed driver, and the teardown would delete it)",
                    "--driver installed to test the installed driver, or uninstall it first",
                )
            )
        return missing

    def run(
        self, scenarios: Sequence[Scenario], options: RunOptions, progress: Progress
    ) -> RunResult:
        from e2e.platforms import manifests
        from e2e.platforms.commands import CommandFailed
        from e2e.platforms.kind import load_user_driver
        from e2e.platforms.kube.apply import apply_manifests, delete_manifests
        from e2e.platforms.kube.emulation_check import checked_settings
        from e2e.platforms.kube.fsx_access import in_cluster_emulator
        from e2e.platforms.kube.installed_patch import (
            PATCH_NOTE,
            apply_installed_patch,
            emulator_manifests,
            plan_installed_patch,
        )
        from e2e.platforms.kube.lustre_helper import PatchError
        from e2e.platforms.kube.objects import KubeRunSettings
        from e2e.platforms.kube.observe import schedulable_nodes
        from e2e.platforms.kube.orchestration import (
            SETUP_ERRORS,
            KeptCluster,
            deploy_planned_driver,
            new_run_result,
            plan_driver,
            record_interrupted,
            record_setup_failure,
            refuse_foreign_csi_driver,
            run_scenarios,
            timed,
        )
        from e2e.platforms.manifests import ObjectRef, RenderError
        from e2e.platforms.user_manifests import ManifestsError

        runner = self._commands(progress)
        result = new_run_result(options, self.name)
        started = progress.clock()
        timings: dict[str, str] = {}
        real = self.real_aws(options)
        aws = load_aws_settings(options.aws_settings) if options.aws_settings is not None else None
        region = aws.region if aws else options.region
        kubeconfig = kubeconfig_path(options, self._environ)
        clients = self._clients(options)
        deployed: list[dict[str, Any]] = []
        # --driver installed on emulated AWS: the live patch of the installed driver.
        patch: InstalledPatch | None = None
        wait_s = float(options.settings.get("wait", "300"))
        run_settings: dict[str, Any] = {}
        diagnostics = [] if options.driver == "installed" else [manifests.DRIVER_NAMESPACE]
        result.details["aws"] = "real" if real else "emulated"
        driver_name = options.settings.get("driver-name", manifests.DRIVER_NAME)
        try:
            if options.driver == "installed":
                installed = clients.storage.read_csi_driver(driver_name)
                result.details["driver"] = f"installed CSIDriver {installed.metadata.name}"
                run_settings["provisioner"] = driver_name
                if not real:
                    with timed(progress, "pointing the installed driver at the emulator", timings):
                        patch = plan_installed_patch(clients, driver_name, options.run_id)
                        diagnostics = sorted(
                            {
                                manifests.DRIVER_NAMESPACE,
                                *(w.namespace or "default" for w in patch.workloads),
                            }
                        )
                        run_settings = patch.run_settings()
                        result.details["installed driver"] = f"{PATCH_NOTE}: {patch.describe()}"
                        # Recorded before the apply: a failed apply still removes what it made.
                        deployed = emulator_manifests(
                            runner,
                            options.settings.get("image"),
                            options.run_id,
                            options.creation_delay_s,
                        )
                        apply_manifests(clients, deployed, progress)
                        apply_installed_patch(
                            clients,
                            patch,
                            progress,
                            wait_s,
                            schedulable_nodes(clients),
                            also_wait=[
                                ObjectRef(
                                    "Deployment",
                                    manifests.EMULATOR_DEPLOYMENT,
                                    manifests.DRIVER_NAMESPACE,
                                )
                            ],
                        )
            else:
                user = load_user_driver(
                    runner, options, progress, result.details, emulated=not real
                )
                what = "the reference driver" if user is None else "the driver's manifests"
                with timed(progress, f"deploying {what}", timings):
                    plan = plan_driver(
                        runner,
                        "aws" if real else "emulated",
                        user,
                        options.settings.get("image"),
                        None,
                        options.run_id,
                        options.creation_delay_s,
                    )
                    if user is not None:
                        refuse_foreign_csi_driver(
                            clients, plan, str(kubeconfig or "in-cluster config")
                        )
                    result.details["driver"] = plan.description
                    diagnostics = plan.namespaces
                    run_settings = plan.run_settings()
                    # Recorded before the apply: a failed apply still removes what it made.
                    deployed = plan.objects
                    deploy_planned_driver(
                        clients, plan, progress, wait_s, schedulable_nodes(clients)
                    )
            timeout = aws.provisioning_timeout_s if aws else options.provision_timeout_s
            settings = KubeRunSettings(
                run_id=options.run_id,
                platform=self.name,
                namespace=manifests.kube_name(f"fsx-csi-{options.run_id}"),
                pod_image=options.settings.get("pod-image", DEFAULT_POD_IMAGE),
                storage_class_defaults=aws.storage_class_defaults() if aws else {},
                static_subnet_id=aws.subnet_id if aws else None,
                static_security_group_ids=aws.security_group_ids if aws else None,
                provision_timeout_s=timeout,
                file_system_delete_timeout_s=timeout,
                **run_settings,
            )
            if not real:
                # The nodes' emulation root is theirs, not the harness's to mount: checked.
                settings = checked_settings(clients, settings, scenarios, result.details, progress)
            with timed(progress, "running the scenarios", timings):
                if real:
                    fsx = self._fsx_factory()(None, region)
                    run_scenarios(
                        clients,
                        fsx,
                        scenarios,
                        settings,
                        progress,
                        result,
                        options.report_dir,
                        diagnostics,
                    )
                else:
                    with in_cluster_emulator(kubeconfig, self._port_forward) as url:
                        run_scenarios(
                            clients,
                            self._fsx_factory()(url, region),
                            scenarios,
                            settings,
                            progress,
                            result,
                            options.report_dir,
                            diagnostics,
                        )
        except (CommandFailed, RenderError, ManifestsError, PatchError, *SETUP_ERRORS) as exc:
            record_setup_failure(
                result, scenarios, exc, progress, clients, options.report_dir, diagnostics
            )
        except KeyboardInterrupt:
            # The teardown below still runs; the caller writes the results of what ran.
            record_interrupted(result, scenarios, progress)
        finally:
            if patch is not None and not options.keep_cluster:
                with timed(progress, "restoring the installed driver", timings):
                    _restore(clients, patch, progress, wait_s, result.details)
            if deployed and not options.keep_cluster:
                with timed(progress, "removing the deployed driver", timings):
                    problems = delete_manifests(clients, deployed, progress)
                if problems:
                    result.details["undeploy_problems"] = "; ".join(problems)
            elif deployed:
                kept_objects, kept_clients, kept_patch = list(deployed), clients, patch
                what = "the deployed driver" if patch is None else "the patched installed driver"
                progress.info(
                    f"kept {what} ({len(kept_objects)} objects): a run with "
                    "--keep-cluster reuses it; without, the run removes it"
                )

                def release(progress: Progress) -> None:
                    if kept_patch is not None:
                        details: dict[str, str] = {}
                        _restore(kept_clients, kept_patch, progress, wait_s, details)
                        for value in details.values():
                            progress.info(value)
                    problems = delete_manifests(kept_clients, kept_objects, progress)
                    if problems:
                        progress.info(f"could not remove: {'; '.join(problems)}")

                self.kept = KeptCluster(options.kubeconfig, what, release)
            result.details.update(timings)
            result.duration_s = round(progress.clock() - started, 3)
        return result

    def _fsx_factory(self) -> FsxClientFactory:
        if self._fsx_client_factory is not None:
            return self._fsx_client_factory
        from e2e.platforms.kube.fsx_access import boto3_fsx_client

        return boto3_fsx_client


def _installed_patch_problems(
    clients: KubeClients, driver_name: str, run_id: str
) -> list[Prerequisite]:
    """What keeps the run from pointing the installed driver at the emulator: its workloads
    not found, or the API server refusing the patch (RBAC, admission), asked by a dry run."""
    from kubernetes.client.exceptions import ApiException

    from e2e.platforms.kube.installed_patch import patch_problems, plan_installed_patch
    from e2e.platforms.kube.lustre_helper import PatchError

    what = f"an installed {driver_name} the harness can patch"
    hint = (
        "--aws real --aws-settings FILE tests the installed driver on real AWS, unpatched; or "
        "--driver reference to deploy the reference driver"
    )
    why = "on emulated AWS the run points the installed driver at its FSx emulator"
    try:
        plan = plan_installed_patch(clients, driver_name, run_id)
    except PatchError as exc:
        return [Prerequisite(what, f"{why}: {exc}", hint)]
    except ApiException as exc:
        return [
            Prerequisite(what, f"{why}, and listing its workloads failed: HTTP {exc.status}", hint)
        ]
    refused = patch_problems(clients, plan)
    if refused:
        return [
            Prerequisite(
                what,
                f"{why} ({plan.describe()}); the API server refused a dry run of the patch: "
                + "; ".join(refused),
                "grant patch on daemonsets and deployments/statefulsets in the driver's "
                f"namespace and create on configmaps there (`kubectl auth can-i patch "
                f"daemonset -n {plan.workloads[0].namespace}`), or {hint}",
            )
        ]
    return []


def _restore(
    clients: KubeClients,
    patch: InstalledPatch,
    progress: Progress,
    wait_s: float,
    details: dict[str, str],
) -> None:
    """The installed driver back as it was; the run's details say whether it is."""
    from e2e.platforms.kube.installed_patch import restore_installed_patch
    from e2e.platforms.kube.observe import schedulable_nodes

    if not patch.applied:
        return  # nothing was patched (the run failed before): nothing to say
    try:
        nodes = schedulable_nodes(clients)
        problems = restore_installed_patch(clients, patch, progress, wait_s, nodes)
    except Exception as exc:  # noqa: BLE001 - the rest of the teardown must still run
        problems = [f"{type(exc).__name__}: {exc}"]
    if problems:
        details["installed driver restore"] = "NOT fully restored: " + "; ".join(problems)
    else:
        details["installed driver restore"] = (
            "restored: the installed driver's pod templates are the originals again"
        )


def create_platform() -> ClusterPlatform:
    return ClusterPlatform()
