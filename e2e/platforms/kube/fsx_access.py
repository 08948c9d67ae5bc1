"""How the harness reaches the FSx API of a cluster run: a boto3 client for real AWS or an
emulator URL, and `kubectl port-forward` to the in-cluster emulator's Service."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from e2e.results import StepError
from fsx_csi_harness.processes import tied_to_parent


class PortForward(Protocol):
    def __call__(
        self, kubeconfig: Path | None, namespace: str, service: str, port: int
    ) -> AbstractContextManager[str]:
        """Forward a local port to a Service; yields the local base URL (http://127.0.0.1:N)."""
        ...


@contextmanager
def kubectl_port_forward(
    kubeconfig: Path | None, namespace: str, service: str, port: int, timeout_s: float = 30.0
) -> Iterator[str]:
    """`kubectl port-forward` to a Service on a free local port (127.0.0.1 only)."""
    import subprocess
    import threading

    argv = ["kubectl"]
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    argv += [
        "--namespace",
        namespace,
        "port-forward",
        "--address",
        "127.0.0.1",
        f"service/{service}",
        f":{port}",
    ]
    process = subprocess.Popen(
        tied_to_parent(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(timeout_s):
            process.kill()
            _, stderr = process.communicate(timeout=5)
            raise StepError(
                f"`{' '.join(argv)}` did not report a forwarded port within {timeout_s:.0f}s; "
                f"it printed: {stderr.strip() or '(nothing)'}; expected 'Forwarding from "
                f"127.0.0.1:PORT'; try the command by hand, and check that service "
                f"{namespace}/{service} has a ready pod"
            )
        yield f"http://127.0.0.1:{found[0]}"
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(timeout=5)


def in_cluster_emulator(
    kubeconfig: Path | None,
    forward: Callable[[Path | None, str, str, int], AbstractContextManager[str]] | None = None,
) -> AbstractContextManager[str]:
    """A local URL of the in-cluster FSx emulator's Service, open while the context is."""
    from e2e.platforms import manifests

    return (forward or kubectl_port_forward)(
        kubeconfig, manifests.DRIVER_NAMESPACE, manifests.EMULATOR_SERVICE, manifests.EMULATOR_PORT
    )


def boto3_fsx_client(endpoint_url: str | None, region: str) -> Any:
    """An FSx client: the emulator (dummy credentials) when `endpoint_url` is set, else the
    default AWS credential chain."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "adaptive", "max_attempts": 8})
    if endpoint_url is None:
        return boto3.client("fsx", region_name=region, config=config)
    return boto3.client(
        "fsx",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="emulated",
        aws_secret_access_key="emulated",  # noqa: S106 - the emulator accepts any credentials
        config=config,
    )


FsxClientFactory = Callable[[str | None, str], Any]
