"""The sanity parameter fixtures are valid StorageClass parameters for an FSx driver."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reference_driver.parameters import parse_create_parameters

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sanity"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.name)
def test_sanity_parameter_fixture_is_accepted_by_the_reference_driver(path: Path) -> None:
    parameters = yaml.safe_load(path.read_text())
    # csi-sanity reads the file as a string map: every value must already be a string.
    assert all(isinstance(v, str) for v in parameters.values()), parameters
    options = parse_create_parameters(parameters)
    assert options.capacity_gib == 1200
