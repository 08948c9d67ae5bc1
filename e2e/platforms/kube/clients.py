"""The Kubernetes API clients the harness uses, and how it reaches a cluster.

`KubeClients` holds the typed kubernetes API objects (CoreV1, StorageV1, AppsV1,
RbacAuthorizationV1, PolicyV1) plus a `PodExec`; `connect()` builds them from a kubeconfig, the
tests pass fakes with the same methods. `check_reachable` turns a cluster that does not answer
into a message that says which server and what to try.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException


class PodExec(Protocol):
    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout_s: float
    ) -> tuple[int, str]:
        """Run `argv` in a container (like `kubectl exec`); exit code and combined output."""
        ...


@dataclass
class KubeClients:
    """The API surface the harness uses. Fields are kubernetes.client API objects (or fakes
    with the same methods); `exec` runs commands inside pods."""

    core: Any
    storage: Any
    apps: Any
    rbac: Any
    exec: PodExec
    # PolicyV1Api: only for manifests that carry a PodDisruptionBudget.
    policy: Any = None


class ClusterUnreachable(Exception):
    """The kubeconfig's cluster does not answer; says which server and what to try."""


class StreamPodExec:
    """`kubectl exec` over the API's websocket (kubernetes.stream)."""

    def __init__(self, core: Any) -> None:
        self._core = core

    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout_s: float
    ) -> tuple[int, str]:
        from kubernetes.stream import stream

        response = stream(
            self._core.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            container=container,
            command=list(argv),
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        output: list[str] = []
        deadline = time.monotonic() + timeout_s
        try:
            while response.is_open() and time.monotonic() < deadline:
                response.update(timeout=1)
                output.append(response.read_stdout())
                output.append(response.read_stderr())
            timed_out = response.is_open()
        finally:
            response.close()
        if timed_out:
            return 124, "".join(output) + f"\n(exec still running after {timeout_s:.0f}s)"
        code = response.returncode
        return (code if isinstance(code, int) else 0), "".join(output)


def connect(kubeconfig: Path | None = None, context: str | None = None) -> KubeClients:
    """API clients for a kubeconfig (None: $KUBECONFIG or ~/.kube/config, else in-cluster)."""
    from kubernetes import config

    new_client: Any = config.new_client_from_config  # untyped in the kubernetes package
    api_client = new_client(config_file=str(kubeconfig) if kubeconfig else None, context=context)
    core = k8s.CoreV1Api(api_client)
    return KubeClients(
        core=core,
        storage=k8s.StorageV1Api(api_client),
        apps=k8s.AppsV1Api(api_client),
        rbac=k8s.RbacAuthorizationV1Api(api_client),
        exec=StreamPodExec(core),
        policy=k8s.PolicyV1Api(api_client),
    )


def check_reachable(clients: KubeClients, server: str, timeout_s: float = 10.0) -> int:
    """Number of nodes; raises ClusterUnreachable with what to try when the API does not answer."""
    try:
        nodes = clients.core.list_node(_request_timeout=timeout_s)
    except ApiException as exc:
        raise ClusterUnreachable(
            f"the cluster at {server} answered listing nodes with HTTP {exc.status} "
            f"({exc.reason}); expected the node list; try `kubectl get nodes` with the same "
            "kubeconfig and check the credentials and RBAC"
        ) from exc
    except Exception as exc:
        raise ClusterUnreachable(
            f"the cluster at {server} did not answer within {timeout_s:.0f}s: "
            f"{type(exc).__name__}: {exc}; expected the Kubernetes API; try `kubectl get "
            "nodes` with the same kubeconfig, check the context and that the cluster runs"
        ) from exc
    return len(nodes.items)


def api_message(exc: ApiException) -> str:
    """The Status message of an API error body, else its reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            message = yaml.safe_load(body).get("message")
            if message:
                return str(message)
        except (yaml.YAMLError, AttributeError):
            pass
    return str(exc.reason)
