"""csi-sanity: Identity Service (pkg/sanity/identity.go)."""

from __future__ import annotations

import re

from fsx_csi_harness.csi import csi_pb2
from sanity.context import SanityContext
from sanity.rpc import RpcFailure
from sanity.spec import it

Service = csi_pb2.PluginCapability.Service
Expansion = csi_pb2.PluginCapability.VolumeExpansion

KNOWN_SERVICES = {
    Service.CONTROLLER_SERVICE,
    Service.VOLUME_ACCESSIBILITY_CONSTRAINTS,
    Service.GROUP_CONTROLLER_SERVICE,
    Service.SNAPSHOT_METADATA_SERVICE,
}
KNOWN_EXPANSIONS = {Expansion.ONLINE, Expansion.OFFLINE}

# csi-test's rule for plugin names: a letter first and last, at most 63 characters, and in
# between letters, digits, '-', '.', '_' (and '\', which its Go raw-string pattern admits).
PLUGIN_NAME = re.compile(r"^[a-zA-Z][A-Za-z0-9\-\\._]{0,61}[a-zA-Z]$")


class TestGetPluginCapabilities:
    DESCRIBE = "Identity Service GetPluginCapabilities"
    SERVICE = "Identity"

    @it("should return appropriate capabilities")
    def test_returns_only_capabilities_the_spec_defines(self, sanity: SanityContext) -> None:
        for name, identity in sanity.identities.items():
            response = sanity.call(
                "GetPluginCapabilities",
                identity.GetPluginCapabilities,
                csi_pb2.GetPluginCapabilitiesRequest(),
            )
            for capability in response.capabilities:
                kind = capability.WhichOneof("type")
                if kind == "service":
                    assert capability.service.type in KNOWN_SERVICES, (
                        f"[{name}] unknown service: {capability.service.type}"
                    )
                elif kind == "volume_expansion":
                    assert capability.volume_expansion.type in KNOWN_EXPANSIONS, (
                        f"[{name}] unknown volume expansion mode: "
                        f"{capability.volume_expansion.type}"
                    )
                else:
                    raise AssertionError(f"[{name}] unknown capability: {capability}")


class TestProbe:
    DESCRIBE = "Identity Service Probe"
    SERVICE = "Identity"

    @it("should return appropriate information")
    def test_answers_ready_or_not_ready(self, sanity: SanityContext) -> None:
        for name, identity in sanity.identities.items():
            # csi-test first requires the call to succeed, so its later "OK or
            # FAILED_PRECONDITION" check can only see OK: any error fails the case.
            try:
                response = sanity.call("Probe", identity.Probe, csi_pb2.ProbeRequest())
            except RpcFailure as failure:
                raise AssertionError(f"[{name}] {failure}") from None
            assert response is not None, f"[{name}] Probe returned no response"
            if response.HasField("ready"):
                assert response.ready.value in (True, False)


class TestGetPluginInfo:
    DESCRIBE = "Identity Service GetPluginInfo"
    SERVICE = "Identity"

    @it("should return appropriate information")
    def test_returns_a_well_formed_name(self, sanity: SanityContext) -> None:
        for name, identity in sanity.identities.items():
            response = sanity.call(
                "GetPluginInfo", identity.GetPluginInfo, csi_pb2.GetPluginInfoRequest()
            )
            assert response.name, f"[{name}] GetPluginInfo returned an empty name"
            assert len(response.name) <= 63, (
                f"[{name}] plugin name {response.name!r} is {len(response.name)} characters; "
                "at most 63 are allowed"
            )
            assert PLUGIN_NAME.match(response.name), (
                f"[{name}] plugin name {response.name!r} breaks the naming rule: start and end "
                "with a letter; letters, digits, '-', '.', '_' in between"
            )
