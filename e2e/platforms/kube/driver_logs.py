"""The driver's logs on a cluster, for failure messages: the controller's and one node's
node-plugin pods, found by the label selectors of the run settings."""

from __future__ import annotations

from collections.abc import Sequence

from kubernetes.client.exceptions import ApiException

from e2e.platforms.kube.clients import KubeClients
from e2e.platforms.kube.objects import KubeRunSettings
from e2e.platforms.kube.observe import LOG_TAIL_LINES, describe_pod, pod_logs, tail


class DriverLogs:
    """The last log lines of the driver's controller and node-plugin pods, for failure
    messages: which pods and containers come from the run settings."""

    def __init__(self, clients: KubeClients, settings: KubeRunSettings) -> None:
        self._clients = clients
        self._settings = settings

    def controller(self) -> str:
        settings = self._settings
        return "\n".join(
            self._logs_of(namespace, selector, settings.controller_containers)
            for namespace, selector in settings.controller_pods
        )

    def node_plugin(self, node: str) -> str:
        settings = self._settings
        return "\n".join(
            self._logs_of(
                namespace,
                selector,
                settings.node_containers,
                field_selector=f"spec.nodeName={node}",
            )
            for namespace, selector in settings.node_pods
        )

    def _logs_of(
        self,
        namespace: str,
        label_selector: str,
        containers: Sequence[str] | None,
        field_selector: str | None = None,
    ) -> str:
        try:
            kwargs = {"label_selector": label_selector}
            if field_selector:
                kwargs["field_selector"] = field_selector
            pods = self._clients.core.list_namespaced_pod(namespace, **kwargs).items
        except ApiException as exc:
            return f"(cannot list pods {label_selector} in {namespace}: HTTP {exc.status})"
        if not pods:
            return (
                f"(no pods {label_selector} in {namespace}: with --driver installed, read the "
                "installed driver's logs)"
            )
        parts = []
        for pod in pods:
            names = containers or [c.name for c in pod.spec.containers]
            # The pod's state first: restarts (a failing liveness probe, a crash) and why.
            parts.append(f"--- pod {pod.metadata.name}: {describe_pod(pod)}")
            for container in names:
                text = pod_logs(
                    self._clients, namespace, pod.metadata.name, container, LOG_TAIL_LINES
                )
                parts.append(f"--- {pod.metadata.name}/{container}:\n{tail(text)}")
        return "\n".join(parts)
