"""Capability gates shared by the sanity cases: skip with a reason naming what is missing."""

from __future__ import annotations

import pytest

from fsx_csi_harness.csi import csi_pb2
from sanity.context import ControllerCap, NodeCap, SanityContext

ControllerRpc = csi_pb2.ControllerServiceCapability.RPC
NodeRpc = csi_pb2.NodeServiceCapability.RPC


def require_controller(sanity: SanityContext, capability: ControllerCap, what: str) -> None:
    if not sanity.controller_supports(capability):
        pytest.skip(
            f"{what} not supported: the driver does not advertise the "
            f"{ControllerRpc.Type.Name(capability)} controller capability"
        )


def require_node(sanity: SanityContext, capability: NodeCap, what: str) -> None:
    if not sanity.node_supports(capability):
        pytest.skip(
            f"{what} not supported: the driver does not advertise the "
            f"{NodeRpc.Type.Name(capability)} node capability"
        )
