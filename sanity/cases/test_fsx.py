"""FSx for Lustre profile: checks csi-sanity lacks, for drivers of Amazon FSx for Lustre.

Opt in with `--csi.profile fsx` (`fsx-csi sanity --profile fsx`); skipped otherwise. Valid
base parameters (subnetId, securityGroupIds, ...) come from --csi.testvolumeparameters; each
case replaces the FSx configuration keys with the ones it is about. Capacity expectations
come from fsx_csi_harness.fsx, the project's FSx rules table (not from any driver).
"""

from __future__ import annotations

import math

import pytest
from grpc import StatusCode

from fsx_csi_harness import fsx
from fsx_csi_harness.csi import csi_pb2
from sanity.cases._checks import assert_writes_refused
from sanity.cases._gates import ControllerRpc, NodeRpc, require_controller, require_node
from sanity.context import SanityContext
from sanity.names import FSX_FILE_SYSTEM_ID
from sanity.rpc import RpcFailure, expect_code
from sanity.spec import exclusive_if, it, provisions

GIB = fsx.GIB
SERVICE = "FSx"

# StorageClass parameter keys as the upstream aws-fsx-csi-driver spells them, without the
# network and tag keys that the base parameters keep.
FSX_CONFIGURATION_KEYS = frozenset(
    key
    for key, field in fsx.STORAGE_CLASS_FIELDS.items()
    if field not in (fsx.Field.SUBNET_IDS, fsx.Field.SECURITY_GROUP_IDS, fsx.Field.TAGS)
)
P1 = {"deploymentType": "PERSISTENT_1", "perUnitStorageThroughput": "50"}
P2 = {"deploymentType": "PERSISTENT_2", "perUnitStorageThroughput": "125"}
S2 = {"deploymentType": "SCRATCH_2"}
# AWS requires a drive cache type for HDD storage.
HDD = {"deploymentType": "PERSISTENT_1", "storageType": "HDD", "driveCacheType": "NONE"}
KMS_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# (case id, parameters replacing the FSx configuration; None removes a base key)
INVALID_PARAMETERS: list[tuple[str, dict[str, str | None]]] = [
    ("deploymentType=SCRATCH_9", {"deploymentType": "SCRATCH_9"}),
    ("storageType=NVME", {**S2, "storageType": "NVME"}),
    ("storageType=HDD on SCRATCH_2", {**S2, "storageType": "HDD"}),
    ("perUnitStorageThroughput=75 on PERSISTENT_2", {**P2, "perUnitStorageThroughput": "75"}),
    ("perUnitStorageThroughput=fast", {**P1, "perUnitStorageThroughput": "fast"}),
    ("perUnitStorageThroughput on SCRATCH_2", {**S2, "perUnitStorageThroughput": "200"}),
    (
        "driveCacheType=WRITE on HDD",
        {**P1, "storageType": "HDD", "perUnitStorageThroughput": "12", "driveCacheType": "WRITE"},
    ),
    ("kmsKeyId on SCRATCH_2", {**S2, "kmsKeyId": KMS_ARN}),
    ("s3ImportPath without s3://", {**S2, "s3ImportPath": "bucket-without-scheme"}),
    ("s3ImportPath on PERSISTENT_2", {**P2, "s3ImportPath": "s3://bucket"}),
    ("s3ExportPath without s3ImportPath", {**S2, "s3ExportPath": "s3://bucket/export"}),
    (
        "autoImportPolicy=SOMETIMES",
        {**S2, "s3ImportPath": "s3://bucket", "autoImportPolicy": "SOMETIMES"},
    ),
    ("automaticBackupRetentionDays=91", {**P1, "automaticBackupRetentionDays": "91"}),
    ("automaticBackupRetentionDays=a week", {**P1, "automaticBackupRetentionDays": "a week"}),
    ("dailyAutomaticBackupStartTime=25:00", {**P1, "dailyAutomaticBackupStartTime": "25:00"}),
    ("copyTagsToBackups=maybe", {**P1, "copyTagsToBackups": "maybe"}),
    ("dataCompressionType=GZIP", {**S2, "dataCompressionType": "GZIP"}),
    ("weeklyMaintenanceStartTime=8:03:00", {**S2, "weeklyMaintenanceStartTime": "8:03:00"}),
    ("fileSystemTypeVersion=3.0", {**S2, "fileSystemTypeVersion": "3.0"}),
    ("extraTags without =", {**S2, "extraTags": "novalue"}),
    ("efaEnabled=perhaps", {**P2, "efaEnabled": "perhaps"}),
    ("efaEnabled on SCRATCH_2", {**S2, "efaEnabled": "true"}),
    ("metadataConfigurationMode=SOMETIMES", {**P2, "metadataConfigurationMode": "SOMETIMES"}),
    (
        "metadataIops=lots",
        {**P2, "metadataConfigurationMode": "USER_PROVISIONED", "metadataIops": "lots"},
    ),
    ("securityGroupIds=not-a-security-group", {**S2, "securityGroupIds": "not-a-security-group"}),
    ("subnetId=not-a-subnet", {**S2, "subnetId": "not-a-subnet"}),
    ("subnetId missing", {**S2, "subnetId": None}),
]

# (case id, FSx configuration, requested GiB or None for no capacity range)
ROUNDING: list[tuple[str, dict[str, str], int | None]] = [
    ("SCRATCH_1 1300 GiB", {"deploymentType": "SCRATCH_1"}, 1300),
    ("SCRATCH_1 2500 GiB", {"deploymentType": "SCRATCH_1"}, 2500),
    ("SCRATCH_2 1300 GiB", S2, 1300),
    ("SCRATCH_2 2500 GiB", S2, 2500),
    ("SCRATCH_2 no capacity range", S2, None),
    ("PERSISTENT_1 SSD 50 1300 GiB", P1, 1300),
    (
        "PERSISTENT_1 HDD 12 1 GiB",
        {**HDD, "perUnitStorageThroughput": "12"},
        1,
    ),
    (
        "PERSISTENT_1 HDD 40 1 GiB",
        {**HDD, "perUnitStorageThroughput": "40"},
        1,
    ),
    ("PERSISTENT_2 125 1300 GiB", P2, 1300),
]


def expected_gib(parameters: dict[str, str], requested_gib: int | None) -> int:
    """The valid capacity FSx gives a request, from the project's FSx rules."""
    rule = fsx.storage_class_capacity_rule(parameters)
    return rule.round_up(requested_gib if requested_gib is not None else fsx.DEFAULT_CAPACITY_GIB)


def fsx_parameters(sanity: SanityContext, overrides: dict[str, str | None]) -> dict[str, str]:
    """Base parameters without their FSx configuration, plus the case's configuration."""
    parameters = {
        key: value
        for key, value in sanity.volume_parameters.items()
        if key not in FSX_CONFIGURATION_KEYS
    }
    for key, value in overrides.items():
        if value is None:
            parameters.pop(key, None)
        else:
            parameters[key] = value
    return parameters


def fsx_request(
    sanity: SanityContext,
    name: str,
    parameters: dict[str, str],
    required_gib: int | None = None,
    limit_gib: int | None = None,
    mode: int = csi_pb2.VolumeCapability.AccessMode.MULTI_NODE_MULTI_WRITER,
) -> csi_pb2.CreateVolumeRequest:
    request = csi_pb2.CreateVolumeRequest(
        name=name,
        volume_capabilities=[sanity.volume_capability(mode)],  # type: ignore[arg-type]
        parameters=parameters,
        secrets=sanity.secret("CreateVolumeSecret"),
    )
    if required_gib is not None:
        request.capacity_range.required_bytes = required_gib * GIB
    if limit_gib is not None:
        request.capacity_range.limit_bytes = limit_gib * GIB
    return request


class _FsxProfile:
    SERVICE = SERVICE
    PROFILE = "fsx"

    @pytest.fixture(autouse=True)
    def _gate(self, sanity: SanityContext) -> None:
        if self.PROFILE not in sanity.config.profiles:
            pytest.skip("FSx profile not enabled (--csi.profile fsx)")
        require_controller(sanity, ControllerRpc.CREATE_DELETE_VOLUME, "CreateVolume")


class TestFsxParameterValidation(_FsxProfile):
    DESCRIBE = "FSx profile: StorageClass parameter validation"

    @it("rejects an invalid parameter value with INVALID_ARGUMENT")
    @pytest.mark.parametrize(
        "overrides",
        [row[1] for row in INVALID_PARAMETERS],
        ids=[row[0] for row in INVALID_PARAMETERS],
    )
    def test_rejects_an_invalid_parameter_with_invalid_argument(
        self, sanity: SanityContext, overrides: dict[str, str | None]
    ) -> None:
        parameters = fsx_parameters(sanity, overrides)
        request = fsx_request(
            sanity, sanity.names.unique("fsx-invalid-parameter"), parameters, required_gib=1200
        )
        expect_code(
            StatusCode.INVALID_ARGUMENT,
            lambda: sanity.resources.create_volume(request),
            f"CreateVolume with parameters {parameters}",
        )


class TestFsxCapacityRounding(_FsxProfile):
    DESCRIBE = "FSx profile: capacity rounding per deployment and storage type"

    @it("rounds the requested capacity up to the next valid FSx size")
    @pytest.mark.parametrize(
        ("configuration", "requested_gib"),
        [(row[1], row[2]) for row in ROUNDING],
        ids=[row[0] for row in ROUNDING],
    )
    @provisions
    def test_rounds_capacity_up_to_a_valid_size(
        self, sanity: SanityContext, configuration: dict[str, str], requested_gib: int | None
    ) -> None:
        parameters = fsx_parameters(sanity, dict(configuration))
        response = sanity.resources.must_create_volume(
            fsx_request(sanity, sanity.names.unique("fsx-rounding"), parameters, requested_gib)
        )
        expected = expected_gib(parameters, requested_gib)
        assert response.volume.capacity_bytes == expected * GIB, (
            f"{configuration} requesting {requested_gib} GiB: capacity_bytes "
            f"{response.volume.capacity_bytes} ({response.volume.capacity_bytes / GIB:g} GiB); "
            f"expected {expected} GiB"
        )

    @it("refuses a capacity range whose limit is below the next valid size with OUT_OF_RANGE")
    def test_refuses_a_limit_below_the_rounded_size(self, sanity: SanityContext) -> None:
        parameters = fsx_parameters(sanity, dict(S2))
        request = fsx_request(
            sanity, sanity.names.unique("fsx-limit"), parameters, required_gib=1300, limit_gib=1300
        )
        expect_code(
            StatusCode.OUT_OF_RANGE,
            lambda: sanity.resources.create_volume(request),
            "CreateVolume of 1300 GiB with limit 1300 GiB (next valid size is 2400 GiB)",
        )


class TestFsxVolumes(_FsxProfile):
    DESCRIBE = "FSx profile: volumes"

    def _create(self, sanity: SanityContext, prefix: str) -> csi_pb2.CreateVolumeResponse:
        return sanity.resources.must_create_volume(
            fsx_request(
                sanity,
                sanity.names.unique(prefix),
                sanity.volume_parameters,
                math.ceil(sanity.test_volume_size / GIB),
            )
        )

    @it("returns the volume context a node needs to mount: dnsname and mountname")
    @provisions
    def test_returns_dnsname_and_mountname(self, sanity: SanityContext) -> None:
        context = dict(self._create(sanity, "fsx-context").volume.volume_context)
        for key in ("dnsname", "mountname"):
            assert context.get(key), f"volume_context lacks {key!r}: {context}"

    @it("uses file system ids as volume ids, as static provisioning needs")
    @provisions
    def test_volume_ids_are_file_system_ids(self, sanity: SanityContext) -> None:
        volume_id = self._create(sanity, "fsx-id").volume.volume_id
        assert FSX_FILE_SYSTEM_ID.match(volume_id), (
            f"volume id {volume_id!r} is not a file system id (fs- and 17 hex digits); a "
            "statically provisioned PV's volumeHandle is the file system id"
        )

    @it("answers NOT_FOUND for a well-formed file system id that does not exist")
    def test_unknown_file_system_ids_are_not_found(self, sanity: SanityContext) -> None:
        request = csi_pb2.ValidateVolumeCapabilitiesRequest(
            volume_id=sanity.ids.unique_valid_volume_id(),
            volume_capabilities=[sanity.volume_capability()],
            secrets=sanity.secret("ControllerValidateVolumeCapabilitiesSecret"),
        )
        expect_code(
            StatusCode.NOT_FOUND,
            lambda: sanity.resources.validate_volume_capabilities(request),
            f"ValidateVolumeCapabilities({request.volume_id})",
        )

    # Counts ListVolumes entries before and after only when the driver offers ListVolumes;
    # otherwise it checks the returned ids only, which other workers cannot disturb.
    @exclusive_if(lambda sanity: sanity.controller_supports(ControllerRpc.LIST_VOLUMES))
    @it("creates one file system however often and however concurrently CreateVolume is retried")
    def test_retried_create_volume_makes_one_file_system(self, sanity: SanityContext) -> None:
        r = sanity.resources
        listing = sanity.controller_supports(ControllerRpc.LIST_VOLUMES)
        before = len(r.list_volumes(csi_pb2.ListVolumesRequest()).entries) if listing else 0
        request = fsx_request(
            sanity, sanity.names.unique("fsx-retried"), sanity.volume_parameters, 1200
        )
        # The provisioner retries a CreateVolume that timed out while the first still runs:
        # concurrent duplicates may be told ABORTED (in flight), never given a second volume.
        results = sanity.in_threads(4, lambda _: r.create_volume(request))
        ids = set()
        for result in results:
            if isinstance(result, RpcFailure):
                assert result.code is StatusCode.ABORTED, f"concurrent retry failed: {result}"
            elif isinstance(result, BaseException):
                raise result
            else:
                assert isinstance(result, csi_pb2.CreateVolumeResponse)
                ids.add(result.volume.volume_id)
        for _ in range(max(1, sanity.config.idempotent_count)):
            ids.add(r.must_create_volume(request).volume.volume_id)
        assert len(ids) == 1, f"retries of CreateVolume({request.name!r}) returned volumes {ids}"
        if listing:
            after = len(r.list_volumes(csi_pb2.ListVolumesRequest()).entries)
            assert after == before + 1, (
                f"ListVolumes counts {after - before} new volumes after retried CreateVolume"
            )


class TestFsxNode(_FsxProfile):
    DESCRIBE = "FSx profile: node"

    def _publish(self, sanity: SanityContext, readonly: bool) -> tuple[str, str]:
        r = sanity.resources
        capability = sanity.volume_capability(
            csi_pb2.VolumeCapability.AccessMode.MULTI_NODE_MULTI_WRITER
        )
        volume = r.must_create_volume(
            fsx_request(
                sanity,
                sanity.names.unique("fsx-node"),
                sanity.volume_parameters,
                math.ceil(sanity.test_volume_size / GIB),
            )
        )
        staging = ""
        if sanity.node_supports(NodeRpc.STAGE_UNSTAGE_VOLUME):
            staging = sanity.staging_path
            r.node_stage_volume(
                csi_pb2.NodeStageVolumeRequest(
                    volume_id=volume.volume.volume_id,
                    staging_target_path=staging,
                    volume_capability=capability,
                    volume_context=volume.volume.volume_context,
                    secrets=sanity.secret("NodeStageVolumeSecret"),
                )
            )
        target = sanity.target_path + "/target"
        r.node_publish_volume(
            csi_pb2.NodePublishVolumeRequest(
                volume_id=volume.volume.volume_id,
                target_path=target,
                staging_target_path=staging,
                volume_capability=capability,
                readonly=readonly,
                volume_context=volume.volume.volume_context,
                secrets=sanity.secret("NodePublishVolumeSecret"),
            )
        )
        return volume.volume.volume_id, target

    @it("publishes read-only when asked, so that writes through the target fail")
    @provisions
    def test_read_only_publish_refuses_writes(self, sanity: SanityContext) -> None:
        _, target = self._publish(sanity, readonly=True)
        assert_writes_refused(target)

    @it("reports NodeGetVolumeStats for a published volume")
    @provisions
    def test_reports_volume_stats_of_a_published_volume(self, sanity: SanityContext) -> None:
        require_node(sanity, NodeRpc.GET_VOLUME_STATS, "NodeGetVolumeStats")
        volume_id, target = self._publish(sanity, readonly=False)
        stats = sanity.resources.node_get_volume_stats(
            csi_pb2.NodeGetVolumeStatsRequest(volume_id=volume_id, volume_path=target)
        )
        units = {usage.unit: usage for usage in stats.usage}
        assert csi_pb2.VolumeUsage.BYTES in units, f"no BYTES usage in {stats}"
        assert units[csi_pb2.VolumeUsage.BYTES].total > 0, f"BYTES total is 0: {stats}"
