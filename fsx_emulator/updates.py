"""UpdateFileSystem's online changes: which a file system accepts, validated by the one table.

AWS changes these with an administrative action (API reference,
UpdateFileSystemLustreConfiguration and UpdateFileSystemLustreMetadataConfiguration):
- PerUnitStorageThroughput, on persistent SSD file systems (up or down, to a value of the
  deployment type's list);
- MetadataConfiguration on a file system that has one (Lustre 2.15): Iops at least the
  current value (USER_PROVISIONED), AUTOMATIC to USER_PROVISIONED, and back on SSD;
- ThroughputCapacity (increase only) and DataReadCacheConfiguration, INTELLIGENT_TIERING only.
The file system after the change must still meet every CreateFileSystem rule
(`fsx_csi_harness.fsx.configuration_problem`), which words the problem; this module only
adds what is particular to a change (the file system's current values, the direction).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fsx_csi_harness.fsx import (
    METADATA_AUTOMATIC,
    METADATA_MODES,
    METADATA_USER_PROVISIONED,
    Field,
    LustreSettings,
    StorageType,
    configuration_problem,
    metadata_iops_change_problem,
    throughput_change_problem,
)
from fsx_emulator import rules
from fsx_emulator.errors import bad_request

if TYPE_CHECKING:
    from fsx_emulator.backend import EmulatedFileSystem


def current_settings(file_system: EmulatedFileSystem) -> LustreSettings:
    """The rule-relevant settings a file system has now."""
    spec, lustre = file_system.spec, file_system.lustre
    metadata = lustre.get("MetadataConfiguration") or {}
    cache = lustre.get("DataReadCacheConfiguration") or {}
    return LustreSettings(
        deployment_type=spec.deployment,
        storage_type=spec.storage_type,
        per_unit_storage_throughput=spec.per_unit_throughput,
        drive_cache_type=lustre.get("DriveCacheType"),
        file_system_type_version=spec.version,
        efa_enabled=spec.efa_enabled or None,
        metadata_configuration_mode=metadata.get("Mode"),
        # AUTOMATIC mode's IOPS are FSx's, not the user's: they are no request value.
        metadata_iops=metadata.get("Iops")
        if metadata.get("Mode") == METADATA_USER_PROVISIONED
        else None,
        throughput_capacity=spec.throughput_capacity,
        read_cache_sizing_mode=cache.get("SizingMode"),
        read_cache_size=cache.get("SizeGiB"),
    )


def update_targets(file_system: EmulatedFileSystem, lustre: rules.Fields) -> dict[str, Any]:
    """The LustreConfiguration values an online update sets, validated; {} when none."""
    spec = file_system.spec
    now = current_settings(file_system)
    targets: dict[str, Any] = {}
    changed: dict[str, Any] = {}

    throughput = lustre.checked(Field.PER_UNIT_STORAGE_THROUGHPUT, int, "an integer")
    if throughput is not None:
        problem = throughput_change_problem(now, throughput, spec.storage_capacity)
        if problem is not None:
            raise rules.problem_error(problem)
        if throughput == spec.per_unit_throughput:
            raise bad_request(
                f"LustreConfiguration.PerUnitStorageThroughput is already {throughput}; "
                "nothing to change."
            )
        targets["PerUnitStorageThroughput"] = throughput
        changed["per_unit_storage_throughput"] = throughput

    capacity = lustre.checked(Field.THROUGHPUT_CAPACITY, int, "an integer")
    if capacity is not None:
        if spec.storage_type is not StorageType.INTELLIGENT_TIERING:
            raise bad_request(
                "LustreConfiguration.ThroughputCapacity applies to INTELLIGENT_TIERING file "
                f"systems only ({file_system.file_system_id} is {spec.storage_type}); use "
                "PerUnitStorageThroughput."
            )
        current = spec.throughput_capacity or 0
        if capacity <= current:
            raise bad_request(
                f"LustreConfiguration.ThroughputCapacity {capacity} must be greater than the "
                f"current {current} MBps: throughput capacity can only increase."
            )
        targets["ThroughputCapacity"] = capacity
        changed["throughput_capacity"] = capacity

    cache = lustre.obj("DataReadCacheConfiguration")
    if cache is not None:
        mode = cache.checked(Field.READ_CACHE_SIZING_MODE, str, "a string")
        size = cache.checked(Field.READ_CACHE_SIZE, int, "an integer")
        if spec.storage_type is not StorageType.INTELLIGENT_TIERING:
            raise bad_request(
                "LustreConfiguration.DataReadCacheConfiguration applies to INTELLIGENT_TIERING "
                f"file systems only ({file_system.file_system_id} is {spec.storage_type})."
            )
        new_cache = {k: v for k, v in (("SizingMode", mode), ("SizeGiB", size)) if v is not None}
        targets["DataReadCacheConfiguration"] = new_cache
        changed["read_cache_sizing_mode"] = mode or now.read_cache_sizing_mode
        changed["read_cache_size"] = size

    metadata = lustre.obj("MetadataConfiguration")
    if metadata is not None:
        targets["MetadataConfiguration"] = _metadata_target(file_system, metadata, now)
        new = targets["MetadataConfiguration"]
        changed["metadata_configuration_mode"] = new["Mode"]
        changed["metadata_iops"] = new.get("Iops")

    if changed:
        after = replace(now, **changed)
        problem = configuration_problem(after)
        if problem is not None:
            raise rules.problem_error(problem)
    return targets


def _metadata_target(
    file_system: EmulatedFileSystem, metadata: rules.Fields, now: LustreSettings
) -> dict[str, Any]:
    mode = metadata.choice("Mode", METADATA_MODES)
    iops = metadata.checked(Field.METADATA_IOPS, int, "an integer")
    current = file_system.lustre.get("MetadataConfiguration")
    if current is None:
        # The shared rule words it: no metadata configuration, no change (Lustre 2.15 only).
        problem = metadata_iops_change_problem(now, iops or 0, None)
        assert problem is not None
        raise rules.problem_error(problem)
    current_mode, current_iops = current["Mode"], int(current["Iops"])
    new_mode = mode or current_mode
    if new_mode == METADATA_AUTOMATIC:
        if iops is not None:
            raise bad_request(
                "LustreConfiguration.MetadataConfiguration.Iops needs Mode USER_PROVISIONED "
                "(AUTOMATIC mode sets the IOPS itself)."
            )
        if current_mode == METADATA_AUTOMATIC:
            raise bad_request(
                "LustreConfiguration.MetadataConfiguration.Mode is already AUTOMATIC; "
                "nothing to change."
            )
        return {"Mode": METADATA_AUTOMATIC}
    if iops is None:
        raise bad_request(
            "LustreConfiguration.MetadataConfiguration.Mode USER_PROVISIONED needs Iops, at "
            f"least the current {current_iops}."
        )
    if iops < current_iops:
        problem = metadata_iops_change_problem(now, iops, current_iops)
        assert problem is not None
        raise rules.problem_error(problem)
    if iops == current_iops and new_mode == current_mode:
        raise bad_request(
            f"LustreConfiguration.MetadataConfiguration.Iops is already {iops}; nothing to change."
        )
    return {"Mode": METADATA_USER_PROVISIONED, "Iops": iops}
