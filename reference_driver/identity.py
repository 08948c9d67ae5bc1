"""The CSI Identity service: who the driver is, what it offers, and whether it is ready."""

from __future__ import annotations

import threading

import grpc
from google.protobuf import wrappers_pb2

from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from reference_driver.cloud.domain import FsxCloud
from reference_driver.config import DriverConfig
from reference_driver.waiting import Clock

PluginCapability = csi_pb2.PluginCapability


class IdentityService(csi_pb2_grpc.IdentityServicer):
    def __init__(self, config: DriverConfig, clock: Clock, cloud: FsxCloud | None = None) -> None:
        self.config = config
        self.clock = clock
        self.cloud = cloud
        self._probe_lock = threading.Lock()
        self._last_probe: tuple[float, str | None] | None = None
        self.last_probe_problem: str | None = None

    def GetPluginInfo(
        self, request: csi_pb2.GetPluginInfoRequest, context: grpc.ServicerContext
    ) -> csi_pb2.GetPluginInfoResponse:
        return csi_pb2.GetPluginInfoResponse(
            name=self.config.driver_name, vendor_version=self.config.vendor_version
        )

    def GetPluginCapabilities(
        self, request: csi_pb2.GetPluginCapabilitiesRequest, context: grpc.ServicerContext
    ) -> csi_pb2.GetPluginCapabilitiesResponse:
        capabilities = [
            PluginCapability(
                volume_expansion=PluginCapability.VolumeExpansion(
                    type=PluginCapability.VolumeExpansion.ONLINE
                )
            )
        ]
        if self.config.mode.runs_controller:
            capabilities.insert(
                0,
                PluginCapability(
                    service=PluginCapability.Service(
                        type=PluginCapability.Service.CONTROLLER_SERVICE
                    )
                ),
            )
        return csi_pb2.GetPluginCapabilitiesResponse(capabilities=capabilities)

    def Probe(
        self, request: csi_pb2.ProbeRequest, context: grpc.ServicerContext
    ) -> csi_pb2.ProbeResponse:
        problem = self._controller_problem() if self.cloud is not None else None
        self.last_probe_problem = problem
        return csi_pb2.ProbeResponse(ready=wrappers_pb2.BoolValue(value=problem is None))

    def _controller_problem(self) -> str | None:
        """Whether the FSx API answers; remembered briefly so that frequent probes (the
        livenessprobe sidecar) do not spend API quota."""
        assert self.cloud is not None
        with self._probe_lock:
            now = self.clock.monotonic()
            if self._last_probe is not None:
                checked_at, problem = self._last_probe
                if now - checked_at < self.config.probe_cache_seconds and problem is None:
                    return None
            problem = self.cloud.check_reachable()
            self._last_probe = (now, problem)
            return problem
