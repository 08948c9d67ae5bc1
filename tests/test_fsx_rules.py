"""The FSx for Lustre rules every part shares (FSX_FACTS.md, "Storage capacity")."""

from __future__ import annotations

import pytest

from fsx_csi_harness.fsx import (
    DeploymentType,
    StorageType,
    capacity_rule,
    expected_throughput_mbps,
)

SSD = StorageType.SSD


@pytest.mark.parametrize(
    ("deployment", "requested", "rounded"),
    [
        (DeploymentType.SCRATCH_1, 1, 1200),
        (DeploymentType.SCRATCH_1, 1200, 1200),
        (DeploymentType.SCRATCH_1, 1201, 2400),
        (DeploymentType.SCRATCH_1, 2401, 3600),
        (DeploymentType.SCRATCH_1, 3601, 7200),
        (DeploymentType.SCRATCH_2, 1201, 2400),
        (DeploymentType.SCRATCH_2, 2401, 4800),
        (DeploymentType.PERSISTENT_1, 4800, 4800),
        (DeploymentType.PERSISTENT_2, 4801, 7200),
    ],
)
def test_capacity_rounds_up_to_the_next_valid_size(
    deployment: DeploymentType, requested: int, rounded: int
) -> None:
    assert capacity_rule(deployment, SSD, 125).round_up(requested) == rounded


@pytest.mark.parametrize(
    ("throughput", "step"),
    [(12, 6000), (40, 1800)],
)
def test_hdd_capacity_is_a_multiple_of_its_throughput_step(throughput: int, step: int) -> None:
    rule = capacity_rule(DeploymentType.PERSISTENT_1, StorageType.HDD, throughput)
    assert rule.round_up(1) == step
    assert rule.round_up(step + 1) == 2 * step
    assert not rule.is_valid(1200)


@pytest.mark.parametrize(("throughput", "step"), [(125, 38400), (250, 19200), (1000, 4800)])
def test_efa_capacity_steps_depend_on_throughput(throughput: int, step: int) -> None:
    rule = capacity_rule(DeploymentType.PERSISTENT_2, SSD, throughput, efa_enabled=True)
    assert rule.round_up(1200) == step
    assert rule.is_valid(2 * step)
    assert not rule.is_valid(step + 2400)


def test_scratch_1_accepts_only_its_listed_small_sizes() -> None:
    rule = capacity_rule(DeploymentType.SCRATCH_1)
    assert [s for s in range(1200, 7201, 1200) if rule.is_valid(s)] == [1200, 2400, 3600, 7200]


def test_hdd_without_a_throughput_has_no_rule() -> None:
    with pytest.raises(ValueError, match="12 or 40"):
        capacity_rule(DeploymentType.PERSISTENT_1, StorageType.HDD, None)


def test_expected_throughput_is_tib_times_per_unit_rate() -> None:
    assert expected_throughput_mbps(DeploymentType.PERSISTENT_2, 2048, 250) == 500
    assert expected_throughput_mbps(DeploymentType.SCRATCH_2, 1024, None) == 200
