"""Node service over real gRPC with the recording mounter (real directories, no mounts)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from fsx_csi_harness.csi import csi_pb2
from tests.reference_driver.conftest import InProcessDriver, mount_capability, rpc_error

AccessMode = csi_pb2.VolumeCapability.AccessMode
FS_ID = "fs-0123456789abcdef0"
CONTEXT = {"dnsname": f"{FS_ID}.fsx.us-east-1.amazonaws.com", "mountname": "abcdwxyz"}


def publish_request(target: Path, **overrides: object) -> csi_pb2.NodePublishVolumeRequest:
    fields: dict[str, object] = {
        "volume_id": FS_ID,
        "target_path": str(target),
        "volume_capability": mount_capability(flags=("flock",)),
        "volume_context": CONTEXT,
    }
    fields.update(overrides)
    return csi_pb2.NodePublishVolumeRequest(**fields)  # type: ignore[arg-type]


def test_publish_creates_the_target_and_mounts_with_flags(
    driver: InProcessDriver, tmp_path: Path
) -> None:
    target = tmp_path / "pods" / "p1" / "volume"
    driver.csi.node.NodePublishVolume(publish_request(target))
    assert target.is_dir()
    recorded = driver.mounter.mounts[target]
    assert str(recorded.source) == f"{CONTEXT['dnsname']}@tcp:/abcdwxyz"
    assert recorded.flags == ("flock",)
    # Same source again: idempotent, no second mount.
    driver.csi.node.NodePublishVolume(publish_request(target))
    assert [c for c in driver.mounter.calls if c[0] == "mount"] == [
        ("mount", f"{CONTEXT['dnsname']}@tcp:/abcdwxyz {target} flock")
    ]


@pytest.mark.parametrize(
    "capability_or_flag",
    ["readonly", AccessMode.MULTI_NODE_READER_ONLY],
)
def test_read_only_publishes_mount_ro(
    driver: InProcessDriver, tmp_path: Path, capability_or_flag: object
) -> None:
    target = tmp_path / "ro"
    if capability_or_flag == "readonly":
        request = publish_request(target, readonly=True)
    else:
        request = publish_request(
            target, volume_capability=mount_capability(AccessMode.MULTI_NODE_READER_ONLY)
        )
    driver.csi.node.NodePublishVolume(request)
    assert "ro" in driver.mounter.mounts[target].flags
    # Publishing read-write at the same place now conflicts.
    error = rpc_error(driver.csi.node.NodePublishVolume, publish_request(target))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS


def test_something_else_mounted_at_the_target_is_an_error(
    driver: InProcessDriver, tmp_path: Path
) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    driver.mounter.foreign[target] = "ext4 /dev/sdb"
    error = rpc_error(driver.csi.node.NodePublishVolume, publish_request(target))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "ext4 /dev/sdb" in error.details()


def test_failed_mount_leaves_nothing_behind(driver: InProcessDriver, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "target"
    driver.mounter.fail_next = "no route to host"
    error = rpc_error(driver.csi.node.NodePublishVolume, publish_request(target))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "no route to host" in error.details()
    assert not (tmp_path / "a").exists()
    assert driver.mounter.mounts == {}


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"target_path": "relative/path"}, "absolute"),
        ({"target_path": "/tmp/x/../etc"}, "'..'"),
        ({"target_path": ""}, "target_path is required"),
        ({"volume_id": ""}, "volume_id is required"),
        ({"volume_context": {}}, "dnsname"),
        ({"volume_context": {**CONTEXT, "dnsname": "fs-1.fsx.x.amazonaws.com;x"}}, "DNS name"),
        ({"volume_context": {**CONTEXT, "dnsname": "fs-99999999.fsx.us-east-1.amazonaws.com"}},
         "not to volume"),
        ({"volume_capability": mount_capability(flags=("ro,exec",))}, "mount flag"),
        ({"volume_capability": mount_capability(AccessMode.SINGLE_NODE_READER_ONLY)},
         "access mode"),
    ],
)  # fmt: skip
def test_publish_validates_every_field(
    driver: InProcessDriver, tmp_path: Path, overrides: dict[str, object], fragment: str
) -> None:
    request = publish_request(tmp_path / "t", **overrides)
    error = rpc_error(driver.csi.node.NodePublishVolume, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in error.details()
    assert not (tmp_path / "t").exists()


def test_unpublish_unmounts_removes_the_target_and_is_idempotent(
    driver: InProcessDriver, tmp_path: Path
) -> None:
    target = tmp_path / "v"
    driver.csi.node.NodePublishVolume(publish_request(target))
    unpublish = csi_pb2.NodeUnpublishVolumeRequest(volume_id=FS_ID, target_path=str(target))
    driver.csi.node.NodeUnpublishVolume(unpublish)
    assert not target.exists() and driver.mounter.mounts == {}
    driver.csi.node.NodeUnpublishVolume(unpublish)
    bad = csi_pb2.NodeUnpublishVolumeRequest(volume_id=FS_ID, target_path="../x")
    assert (
        rpc_error(driver.csi.node.NodeUnpublishVolume, bad).code()
        == grpc.StatusCode.INVALID_ARGUMENT
    )


def test_unpublish_refuses_to_unmount_something_else(
    driver: InProcessDriver, tmp_path: Path
) -> None:
    target = tmp_path / "foreign"
    target.mkdir()
    driver.mounter.foreign[target] = "ext4 /dev/sdb"
    request = csi_pb2.NodeUnpublishVolumeRequest(volume_id=FS_ID, target_path=str(target))
    error = rpc_error(driver.csi.node.NodeUnpublishVolume, request)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert target in driver.mounter.foreign


def test_the_mount_table_is_read_only_where_the_kernel_does_not_answer(
    driver: InProcessDriver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A read of /proc/self/mountinfo costs milliseconds on a busy node: a target that does not
    # exist yet has nothing mounted at it, and a target removed by rmdir right after its
    # unmount has no layer left (rmdir of a mount point is EBUSY).
    asked: list[Path] = []
    real = driver.mounter.mounted_at

    def mounted_at(target: Path) -> object:
        asked.append(target)
        return real(target)

    monkeypatch.setattr(driver.mounter, "mounted_at", mounted_at)
    target = tmp_path / "pods" / "p1" / "volume"
    unpublish = csi_pb2.NodeUnpublishVolumeRequest(volume_id=FS_ID, target_path=str(target))
    driver.csi.node.NodePublishVolume(publish_request(target))
    assert asked == [] and target in driver.mounter.mounts
    driver.csi.node.NodeUnpublishVolume(unpublish)
    assert asked == [target] and not target.exists()
    driver.csi.node.NodeUnpublishVolume(unpublish)  # gone: nothing to read either
    assert asked == [target]
    # A target that exists is checked: republishing there is idempotent, as before.
    target.mkdir()
    driver.csi.node.NodePublishVolume(publish_request(target))
    driver.csi.node.NodePublishVolume(publish_request(target))
    assert asked == [target, target, target]
    assert [c for c in driver.mounter.calls if c[0] == "mount"] == [
        ("mount", f"{CONTEXT['dnsname']}@tcp:/abcdwxyz {target} flock")
    ] * 2


def test_volume_stats_report_statvfs_and_not_found_when_not_mounted(
    driver: InProcessDriver, tmp_path: Path
) -> None:
    target = tmp_path / "stats"
    stats_request = csi_pb2.NodeGetVolumeStatsRequest(volume_id=FS_ID, volume_path=str(target))
    assert (
        rpc_error(driver.csi.node.NodeGetVolumeStats, stats_request).code()
        == grpc.StatusCode.NOT_FOUND
    )
    driver.csi.node.NodePublishVolume(publish_request(target))
    stats = driver.csi.node.NodeGetVolumeStats(stats_request)
    by_unit = {u.unit: u for u in stats.usage}
    bytes_usage = by_unit[csi_pb2.VolumeUsage.BYTES]
    assert bytes_usage.total > 0 and bytes_usage.available <= bytes_usage.total
    assert by_unit[csi_pb2.VolumeUsage.INODES].total > 0
    assert not stats.volume_condition.abnormal
    other = csi_pb2.NodeGetVolumeStatsRequest(
        volume_id="fs-11111111111111111", volume_path=str(target)
    )
    assert rpc_error(driver.csi.node.NodeGetVolumeStats, other).code() == grpc.StatusCode.NOT_FOUND


def test_node_info_and_capabilities(driver: InProcessDriver) -> None:
    info = driver.csi.node.NodeGetInfo(csi_pb2.NodeGetInfoRequest())
    assert info.node_id == "node-1"
    caps = driver.csi.node.NodeGetCapabilities(csi_pb2.NodeGetCapabilitiesRequest())
    RPC = csi_pb2.NodeServiceCapability.RPC
    assert {c.rpc.type for c in caps.capabilities} == {
        RPC.GET_VOLUME_STATS,
        RPC.VOLUME_CONDITION,
        RPC.SINGLE_NODE_MULTI_WRITER,
    }
    stage = csi_pb2.NodeStageVolumeRequest(volume_id=FS_ID)
    assert rpc_error(driver.csi.node.NodeStageVolume, stage).code() == grpc.StatusCode.UNIMPLEMENTED


def test_single_node_single_writer_refuses_a_second_target(
    driver: InProcessDriver, tmp_path: Path
) -> None:
    capability = mount_capability(AccessMode.SINGLE_NODE_SINGLE_WRITER)
    first, second = tmp_path / "one", tmp_path / "two"
    driver.csi.node.NodePublishVolume(publish_request(first, volume_capability=capability))
    error = rpc_error(
        driver.csi.node.NodePublishVolume, publish_request(second, volume_capability=capability)
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert str(first) in error.details()
    assert not second.exists()
    # Multi-writer modes may publish the same volume at several targets.
    driver.csi.node.NodePublishVolume(publish_request(second))


def test_stats_for_a_relative_path_is_not_found(driver: InProcessDriver) -> None:
    request = csi_pb2.NodeGetVolumeStatsRequest(volume_id=FS_ID, volume_path="some/path")
    error = rpc_error(driver.csi.node.NodeGetVolumeStats, request)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "absolute" in error.details()


# Static volumes written for the upstream driver: its PVs must mount here unchanged.


def test_a_static_mountname_with_a_sub_directory_mounts_that_directory(
    driver: InProcessDriver, tmp_path: Path
) -> None:
    target = tmp_path / "sub"
    context = {**CONTEXT, "mountname": "abcdwxyz/team-a/data"}
    driver.csi.node.NodePublishVolume(publish_request(target, volume_context=context))
    assert str(driver.mounter.mounts[target].source) == (
        f"{CONTEXT['dnsname']}@tcp:/abcdwxyz/team-a/data"
    )


def test_a_static_volume_without_mountname_mounts_fsx_as_upstream_does(
    driver: InProcessDriver, tmp_path: Path
) -> None:
    target = tmp_path / "scratch"
    context = {"dnsname": CONTEXT["dnsname"]}
    driver.csi.node.NodePublishVolume(publish_request(target, volume_context=context))
    assert str(driver.mounter.mounts[target].source) == f"{CONTEXT['dnsname']}@tcp:/fsx"


@pytest.mark.parametrize("handle", ["fsx-pv", "fs-0123456789abcdef0::team-a", "my-static-volume"])
def test_any_volume_handle_upstream_takes_is_accepted(
    driver: InProcessDriver, tmp_path: Path, handle: str
) -> None:
    target = tmp_path / "handle"
    driver.csi.node.NodePublishVolume(publish_request(target, volume_id=handle))
    assert target in driver.mounter.mounts


@pytest.mark.parametrize(
    ("context", "words"),
    [
        ({**CONTEXT, "mountname": "abcdwxyz/../etc"}, "'..'"),
        ({**CONTEXT, "mountname": "abcdwxyz//x"}, "empty"),
        ({**CONTEXT, "mountname": "toolongname/x"}, "1 to 8"),
        ({"mountname": "abcdwxyz"}, "dnsname"),
    ],
)
def test_static_contexts_upstream_would_mount_wrongly_are_refused(
    driver: InProcessDriver, tmp_path: Path, context: dict[str, str], words: str
) -> None:
    target = tmp_path / "bad"
    error = rpc_error(
        driver.csi.node.NodePublishVolume, publish_request(target, volume_context=context)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in error.details()
    assert not target.exists()


def test_a_handle_that_is_another_file_systems_id_is_refused(
    driver: InProcessDriver, tmp_path: Path
) -> None:
    error = rpc_error(
        driver.csi.node.NodePublishVolume,
        publish_request(tmp_path / "other", volume_id="fs-0fedcba9876543210"),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert FS_ID in error.details()
