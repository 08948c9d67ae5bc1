"""The figures real FSx should give the volume the throughput suite measured, computed from
what FSx (or the emulator, which answers the same fields) says it created: one
DescribeFileSystems call for the volume's file system, read by the rules table
(`fsx_csi_harness.fsx.throughput`). The same on every platform; only how the harness reaches
the FSx API differs (the local stack's client, a port-forward to the in-cluster emulator, or
real AWS)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from fsx_csi_harness.fsx.throughput import throughput_of
from fsx_csi_harness.results import Expected


class DescribesFileSystems(Protocol):
    """The one boto3 FSx call used here (a boto3 client, or the emulator's)."""

    # boto3 spells its keyword arguments in the API's CamelCase.
    def describe_file_systems(self, *, FileSystemIds: Sequence[str]) -> Mapping[str, Any]: ...


def expected_from_description(file_system: Mapping[str, Any]) -> Expected:
    """One DescribeFileSystems entry as the report's expected figures."""
    figures = throughput_of(file_system)
    return Expected(
        deployment_type=figures.deployment_type.value,
        capacity_gib=figures.capacity_gib,
        per_unit_throughput=figures.per_unit_throughput,
        baseline_mbps=round(figures.baseline_mbps, 1),
        burst_mbps=round(figures.burst_mbps, 1) if figures.burst_mbps is not None else None,
        storage_type=figures.storage_type.value,
        file_system_id=figures.file_system_id,
        source="DescribeFileSystems",
    )


def describe_expected(
    fsx: DescribesFileSystems, file_system_id: str
) -> tuple[Expected | None, str | None]:
    """(expected figures, None), or (None, a note saying why there are none)."""
    try:
        answer = fsx.describe_file_systems(FileSystemIds=[file_system_id])
        [file_system] = answer["FileSystems"]
        return expected_from_description(file_system), None
    except Exception as exc:  # noqa: BLE001 - any failure only costs the report its baseline
        return None, (
            f"no expected FSx figures: DescribeFileSystems({file_system_id}) failed "
            f"({type(exc).__name__}: {exc})"
        )


# Forwards a local port to a Service (kubeconfig, namespace, service, port) and yields its URL:
# `kubectl port-forward` in production (e2e.platforms.kube.fsx_access), a stand-in in tests.
PortForward = Callable[[Path | None, str, str, int], AbstractContextManager[str]]
# An FSx client for an endpoint URL (None: real AWS) and a region.
FsxClientFactory = Callable[[str | None, str], DescribesFileSystems]


def describe_in_cluster(
    file_system_id: str,
    real_aws: bool,
    kubeconfig: Path | None,
    region: str,
    port_forward: PortForward | None = None,
    fsx_client: FsxClientFactory | None = None,
) -> tuple[Expected | None, str | None]:
    """Expected figures of a kind/cluster volume: from real AWS's DescribeFileSystems, or
    from the in-cluster emulator's, reached through a port-forward to its Service."""
    from e2e.platforms.kube.fsx_access import boto3_fsx_client, in_cluster_emulator

    client = fsx_client or boto3_fsx_client
    if real_aws:
        return describe_expected(client(None, region), file_system_id)
    try:
        with in_cluster_emulator(kubeconfig, port_forward) as url:
            return describe_expected(client(url, region), file_system_id)
    except Exception as exc:  # noqa: BLE001 - only the report's baseline is lost
        return None, f"no expected FSx figures: the in-cluster emulator is unreachable ({exc})"
