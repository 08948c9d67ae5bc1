"""Which volume capabilities the driver serves, shared by controller and node."""

from __future__ import annotations

from collections.abc import Iterable

from fsx_csi_harness.csi import csi_pb2

AccessMode = csi_pb2.VolumeCapability.AccessMode

SUPPORTED_ACCESS_MODES = frozenset(
    {
        AccessMode.SINGLE_NODE_WRITER,
        AccessMode.SINGLE_NODE_SINGLE_WRITER,
        AccessMode.SINGLE_NODE_MULTI_WRITER,
        AccessMode.MULTI_NODE_MULTI_WRITER,
        AccessMode.MULTI_NODE_READER_ONLY,
    }
)
READ_ONLY_ACCESS_MODES = frozenset({AccessMode.MULTI_NODE_READER_ONLY})
# Lustre is a file system: an empty fs_type means "the driver's default", which is lustre.
SUPPORTED_FS_TYPES = frozenset({"", "lustre"})


def unsupported_reason(capability: csi_pb2.VolumeCapability) -> str | None:
    """Why the driver cannot serve `capability`, or None when it can."""
    if capability.WhichOneof("access_type") == "block":
        return "block access is not supported: FSx for Lustre volumes are file systems (mount)"
    if capability.WhichOneof("access_type") != "mount":
        return "access_type is missing: set mount"
    if capability.mount.fs_type not in SUPPORTED_FS_TYPES:
        return (
            f"fs_type {capability.mount.fs_type!r} is not supported: use lustre or leave it empty"
        )
    mode = capability.access_mode.mode
    if mode not in SUPPORTED_ACCESS_MODES:
        allowed = ", ".join(AccessMode.Mode.Name(m) for m in sorted(SUPPORTED_ACCESS_MODES))
        return f"access mode {AccessMode.Mode.Name(mode)} is not supported: use one of {allowed}"
    return None


def first_unsupported(capabilities: Iterable[csi_pb2.VolumeCapability]) -> str | None:
    for capability in capabilities:
        reason = unsupported_reason(capability)
        if reason is not None:
            return reason
    return None
