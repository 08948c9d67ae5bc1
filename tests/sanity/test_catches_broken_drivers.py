"""The suite passes a correct driver and fails each deliberately broken one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.sanity.conftest import run_suite
from tests.sanity.faulty_driver import FAULTS, FaultyDriver

# The part of the suite each fault is checked against: the whole module of the CSI service
# the broken RPC belongs to (not the one case known to catch it), run until its first failure.
MODULE_OF_FAULT: dict[str, str] = {
    "probe_fails": "test_identity",
    "plugin_name_invalid": "test_identity",
    "controller_capability_unknown": "test_controller",
    "create_volume_missing_name_internal": "test_controller",
    "create_volume_same_name_new_id": "test_controller",
    "create_volume_ignores_capacity_conflict": "test_controller",
    "create_from_missing_snapshot_ok": "test_controller",
    "delete_volume_not_found_for_unknown": "test_controller",
    "delete_volume_fails": "test_controller",
    "list_volumes_advertised_unimplemented": "test_controller",
    "list_volumes_accepts_invalid_token": "test_controller",
    "list_volumes_omits_new_volumes": "test_controller",
    "validate_unknown_volume_ok": "test_controller",
    "controller_publish_unknown_node_ok": "test_controller",
    "controller_publish_readonly_conflict_ok": "test_controller",
    "expand_returns_old_capacity": "test_expand",
    "modify_accepts_unknown_parameters": "test_modify",
    "snapshot_same_name_other_source_ok": "test_snapshots",
    "snapshot_without_creation_time": "test_snapshots",
    "list_snapshots_ignores_snapshot_id": "test_snapshots",
    "list_snapshots_ignores_max_entries": "test_snapshots",
    "delete_snapshot_not_found_for_unknown": "test_snapshots",
    "get_snapshot_unknown_ok": "test_snapshots",
    "group_snapshot_get_unknown_ok": "test_group_controller",
    "node_info_empty_node_id": "test_node",
    "node_stage_without_capability_ok": "test_node",
    "node_publish_not_idempotent": "test_node",
    "node_unpublish_leaves_target": "test_node",
    "volume_stats_wrong_path_ok": "test_node",
    "node_expand_unknown_volume_ok": "test_node",
}
# The modules of csi-sanity's own cases (the default profile).
DEFAULT_MODULES = sorted(set(MODULE_OF_FAULT.values()) | {"test_group_controller"})

# Violations csi-sanity lets through: each fails a case of the strict profile, and the
# default profile passes the driver (as csi-sanity would).
STRICT_FAULTS = frozenset(FAULTS) - frozenset(MODULE_OF_FAULT)


def test_every_fault_has_a_module_and_there_are_at_least_twenty() -> None:
    assert set(MODULE_OF_FAULT) | STRICT_FAULTS == set(FAULTS)
    assert len(MODULE_OF_FAULT) >= 20 and len(STRICT_FAULTS) >= 20


def test_a_correct_driver_passes_the_whole_suite(
    serve: Callable[..., FaultyDriver], endpoint: str, workdir: Path
) -> None:
    serve(max_volumes_per_node=3)
    run = run_suite(endpoint, workdir, extra=["--csi.testnodevolumeattachlimit"])
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert run.count("failed") == 0 and run.count("error") == 0
    # Every case ran: the faulty driver implements every capability the suite gates on.
    assert run.count("passed") == 95, run.outcomes()
    assert run.result["leaks"] == []
    assert "Identity" in run.stdout and "leak report: empty" in run.stdout


def test_a_correct_driver_passes_the_strict_profile(
    serve: Callable[..., FaultyDriver], endpoint: str, workdir: Path
) -> None:
    serve(max_volumes_per_node=3)
    run = run_suite(endpoint, workdir, extra=["--csi.profile=strict"])
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    strict = {name: outcome for name, outcome in run.outcomes().items() if "test_strict" in name}
    assert len(strict) >= 20 and run.count("failed") == run.count("error") == 0
    # The one strict case it skips: it does not advertise LIST_VOLUMES_PUBLISHED_NODES.
    assert [name for name, outcome in strict.items() if outcome != "passed"] == [
        "sanity/cases/test_strict.py::TestStrictController::test_published_nodes_come_with_publish"
    ]
    assert run.result["leaks"] == []


def test_a_driver_answering_not_found_to_an_empty_get_snapshot_passes_the_default_profile(
    serve: Callable[..., FaultyDriver], endpoint: str, workdir: Path
) -> None:
    # As the hostpath driver does: csi-sanity asks only for an error; so does the port.
    serve(["get_snapshot_missing_id_not_found"])
    run = run_suite(endpoint, workdir)
    assert run.returncode == 0, run.stdout[-4000:]
    get_snapshot = {name: o for name, o in run.outcomes().items() if "TestGetSnapshot" in name}
    assert set(get_snapshot.values()) == {"passed"} and len(get_snapshot) == 3


@pytest.mark.parametrize("fault", sorted(STRICT_FAULTS))
def test_each_strict_fault_fails_a_strict_case_and_passes_the_default_profile(
    fault: str, serve: Callable[..., FaultyDriver], endpoint: str, workdir: Path
) -> None:
    if fault == "node_publish_ignores_readonly" and os.geteuid() != 0:
        pytest.skip("the faulty driver mounts read-only publishes only as root")
    serve([fault])
    strict = run_suite(
        endpoint, workdir, targets=["sanity.cases.test_strict"], extra=["--csi.profile=strict"]
    )
    caught = [name for name, outcome in strict.outcomes().items() if outcome in ("failed", "error")]
    assert strict.returncode == 1 and caught, (
        f"fault {fault} ({FAULTS[fault]}) was not caught by the strict profile:\n"
        f"{strict.stdout[-3000:]}"
    )
    default = run_suite(
        endpoint, workdir, targets=[f"sanity.cases.{module}" for module in DEFAULT_MODULES]
    )
    assert default.returncode == 0, (
        f"fault {fault} failed the default profile, so csi-sanity would catch it too: "
        f"{default.stdout[-3000:]}"
    )


@pytest.mark.parametrize("fault", sorted(MODULE_OF_FAULT))
def test_each_fault_fails_at_least_one_case(
    fault: str, serve: Callable[..., FaultyDriver], endpoint: str, workdir: Path
) -> None:
    serve([fault])
    run = run_suite(
        endpoint, workdir, targets=[f"sanity.cases.{MODULE_OF_FAULT[fault]}"], extra=["-x"]
    )
    caught = run.count("failed") + run.count("error")
    assert run.returncode == 1, (
        f"fault {fault} ({FAULTS[fault]}) was not caught:\n{run.stdout[-3000:]}"
    )
    assert caught >= 1, run.outcomes()


def test_a_volume_the_driver_refuses_to_delete_appears_in_the_leak_report(
    serve: Callable[..., FaultyDriver], endpoint: str, workdir: Path
) -> None:
    serve(["delete_volume_fails"])
    run = run_suite(
        endpoint,
        workdir,
        targets=["sanity.cases.test_controller"],
        extra=["-k", "TestDeleteVolume"],
    )
    leaks = run.result["leaks"]
    assert leaks, run.stdout[-3000:]
    assert all(leak["detail"].startswith("DeleteVolume failed: INTERNAL") for leak in leaks)
    assert all(leak["test"] and leak["removed"] is False for leak in leaks)
    assert "leak report:" in run.stdout and "deletion failed on purpose" in run.stdout


def test_a_target_directory_left_behind_passes_the_default_profile_and_fails_strict(
    serve: Callable[..., FaultyDriver], endpoint: str, workdir: Path
) -> None:
    serve(["node_unpublish_leaves_target"])
    flows = "TestNodeService"
    default = run_suite(endpoint, workdir, targets=["sanity.cases.test_node"], extra=["-k", flows])
    # As csi-sanity: its teardown removes the case directory and ignores what it cannot.
    assert default.returncode == 0 and default.count("passed") == 2, default.stdout[-3000:]
    strict = run_suite(
        endpoint,
        workdir,
        targets=["sanity.cases.test_node"],
        extra=["-k", flows, "--csi.profile=strict"],
    )
    assert strict.count("error") == 2, strict.stdout[-3000:]
    assert all("MUST delete what it created" in leak["detail"] for leak in strict.result["leaks"])
