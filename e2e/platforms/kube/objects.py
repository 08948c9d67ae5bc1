"""The Kubernetes objects a scenario creates on a cluster, as kubernetes client models: its
StorageClass, the static PersistentVolume, the claim and the pods pinned to nodes; all
labelled with the run id and the scenario, so the leak sweep finds them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kubernetes import client as k8s

from e2e import leaks
from e2e.platforms.manifests import DRIVER_NAME, DRIVER_NAMESPACE, RUN_ID_LABEL, kube_name
from e2e.scenarios import VOLUME_MOUNT_PATH, PodSpec, Scenario

SCENARIO_LABEL: Final = "fsx-csi-harness/scenario"
APP_CONTAINER: Final = "app"


@dataclass
class KubeRunSettings:
    """How the runner shapes the objects it creates on this cluster."""

    run_id: str
    platform: str
    # Namespace for the claims and pods of this run (created and deleted by the runner).
    namespace: str
    # Image of the scenario pods: needs POSIX sh (the driver image on kind/k3s, busybox else).
    pod_image: str
    pod_image_pull_policy: str = "IfNotPresent"
    provisioner: str = DRIVER_NAME
    # Merged under every StorageClass's parameters (real-AWS subnet, security groups, ...).
    storage_class_defaults: Mapping[str, str] = field(default_factory=dict)
    # Overrides for static file systems on real AWS (subnet, security groups).
    static_subnet_id: str | None = None
    static_security_group_ids: tuple[str, ...] | None = None
    provision_timeout_s: float = 300.0
    # Added to each pod's own timeout: scheduling, image pull and mount on a real cluster.
    pod_start_allowance_s: float = 120.0
    file_system_delete_timeout_s: float = 600.0
    # Where failure messages read the driver's logs: pods by (namespace, label selector), and
    # which containers (None: every container of the pod).
    controller_pods: Sequence[tuple[str, str]] = ((DRIVER_NAMESPACE, "app=fsx-csi-controller"),)
    controller_containers: Sequence[str] | None = ("fsx-plugin", "csi-provisioner", "csi-resizer")
    node_pods: Sequence[tuple[str, str]] = ((DRIVER_NAMESPACE, "app=fsx-csi-node"),)
    node_containers: Sequence[str] | None = ("fsx-plugin",)
    # Added to a claim that does not bind, and to a pod that fails to start or to see its
    # data (for example: a third-party driver on emulated Lustre cannot mount).
    provisioning_hint: str | None = None
    mount_hint: str | None = None
    # Nodes that do not see the emulation root the FSx emulator writes to, and why
    # (emulation_check): a scenario that needs a second node cannot pass on them whatever the
    # driver does, so one placed on any of them is NOT RUN with that reason.
    unshared_nodes: tuple[str, ...] = ()
    unshared_reason: str = ""

    @property
    def labels(self) -> dict[str, str]:
        """The label every object of the run carries."""
        return {RUN_ID_LABEL: kube_name(self.run_id)}


def claim_name(scenario: Scenario) -> str:
    return kube_name(scenario.name)


def cluster_scoped_name(settings: KubeRunSettings, scenario: Scenario) -> str:
    """The name of the scenario's StorageClass or static PV (cluster-wide: carries the run)."""
    return kube_name(f"{settings.run_id}-{scenario.name}", 253)


def _meta(settings: KubeRunSettings, name: str, scenario: Scenario, namespaced: bool) -> Any:
    return k8s.V1ObjectMeta(
        name=name,
        namespace=settings.namespace if namespaced else None,
        labels={**settings.labels, SCENARIO_LABEL: kube_name(scenario.name)},
    )


def namespace_body(settings: KubeRunSettings) -> Any:
    return k8s.V1Namespace(
        metadata=k8s.V1ObjectMeta(name=settings.namespace, labels=settings.labels)
    )


def storage_class_body(settings: KubeRunSettings, scenario: Scenario) -> Any:
    spec = scenario.storage_class
    assert spec is not None  # a dynamic scenario has one (checked at load)
    parameters = leaks.with_run_tags(
        {**settings.storage_class_defaults, **spec.parameters}, settings.run_id, scenario.name
    )
    return k8s.V1StorageClass(
        metadata=_meta(settings, cluster_scoped_name(settings, scenario), scenario, False),
        provisioner=settings.provisioner,
        parameters=parameters,
        mount_options=list(spec.mount_options) or None,
        reclaim_policy=spec.reclaim_policy,
        allow_volume_expansion=spec.allow_volume_expansion,
        volume_binding_mode="Immediate",
    )


def static_volume_body(
    settings: KubeRunSettings, scenario: Scenario, fs_id: str, description: Mapping[str, Any]
) -> Any:
    """The PV of a static scenario: the file system's id as volumeHandle, its DNS and mount
    names as attributes, bound in advance to the scenario's claim."""
    spec = scenario.static_file_system
    assert spec is not None  # a static scenario has one (checked at load)
    return k8s.V1PersistentVolume(
        metadata=_meta(settings, cluster_scoped_name(settings, scenario), scenario, False),
        spec=k8s.V1PersistentVolumeSpec(
            capacity={"storage": scenario.claim.size},
            access_modes=list(scenario.claim.access_modes),
            volume_mode=scenario.claim.volume_mode,
            persistent_volume_reclaim_policy="Retain",
            storage_class_name="",
            mount_options=list(spec.mount_options) or None,
            claim_ref=k8s.V1ObjectReference(
                namespace=settings.namespace, name=claim_name(scenario)
            ),
            csi=k8s.V1CSIPersistentVolumeSource(
                driver=settings.provisioner,
                volume_handle=fs_id,
                volume_attributes={
                    "dnsname": description["DNSName"],
                    "mountname": description.get("LustreConfiguration", {}).get("MountName", ""),
                },
            ),
        ),
    )


def claim_body(settings: KubeRunSettings, scenario: Scenario) -> Any:
    static = scenario.provisioning == "static"
    return k8s.V1PersistentVolumeClaim(
        metadata=_meta(settings, claim_name(scenario), scenario, True),
        spec=k8s.V1PersistentVolumeClaimSpec(
            access_modes=list(scenario.claim.access_modes),
            volume_mode=scenario.claim.volume_mode,
            resources=k8s.V1VolumeResourceRequirements(requests={"storage": scenario.claim.size}),
            storage_class_name="" if static else cluster_scoped_name(settings, scenario),
            volume_name=cluster_scoped_name(settings, scenario) if static else None,
        ),
    )


def pod_body(settings: KubeRunSettings, scenario: Scenario, pod: PodSpec, node: str) -> Any:
    """The pod pinned to `node` by node affinity, the claim at /data (read-only if the pod
    mounts it so), the scenario's variables as its environment."""
    env = [k8s.V1EnvVar(name=k, value=v) for k, v in sorted(scenario.variables.items())]
    affinity = k8s.V1Affinity(
        node_affinity=k8s.V1NodeAffinity(
            required_during_scheduling_ignored_during_execution=k8s.V1NodeSelector(
                node_selector_terms=[
                    k8s.V1NodeSelectorTerm(
                        match_expressions=[
                            k8s.V1NodeSelectorRequirement(
                                key="kubernetes.io/hostname", operator="In", values=[node]
                            )
                        ]
                    )
                ]
            )
        )
    )
    return k8s.V1Pod(
        metadata=_meta(settings, pod.name, scenario, True),
        spec=k8s.V1PodSpec(
            restart_policy="Never",
            affinity=affinity,
            # A writer loop under `sh` ignores SIGTERM; do not wait 30 s for it at teardown.
            termination_grace_period_seconds=1,
            automount_service_account_token=False,
            containers=[
                k8s.V1Container(
                    name=APP_CONTAINER,
                    image=settings.pod_image,
                    image_pull_policy=settings.pod_image_pull_policy,
                    command=["sh", "-c", pod.command],
                    env=env or None,
                    volume_mounts=[
                        k8s.V1VolumeMount(
                            name="data", mount_path=VOLUME_MOUNT_PATH, read_only=pod.read_only
                        )
                    ],
                )
            ],
            volumes=[
                k8s.V1Volume(
                    name="data",
                    persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                        claim_name=claim_name(scenario), read_only=pod.read_only
                    ),
                )
            ],
        ),
    )
