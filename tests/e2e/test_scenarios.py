"""The scenario files load, and bad scenario data fails with an error that names the problem."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.scenarios import (
    DEFAULT_SCENARIO_DIR,
    OutputExpectation,
    ScenarioError,
    load_scenario_file,
    load_scenarios,
    parse_quantity,
    parse_scenario,
    select_scenarios,
)

EXPECTED_SCENARIOS = {
    "dynamic",
    "static",
    "expansion",
    "mount-options",
    "read-only",
    "read-only-many",
    "invalid-parameters",
    "modify-volume",
}


def headline() -> dict[str, Any]:
    data = yaml.safe_load((DEFAULT_SCENARIO_DIR / "dynamic.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_scenario_of_the_issue_is_there_and_valid() -> None:
    scenarios = load_scenarios()
    assert {s.name for s in scenarios} == EXPECTED_SCENARIOS


def test_headline_scenario_is_the_aws_walkthrough() -> None:
    (dynamic,) = select_scenarios(load_scenarios(), ["dynamic"])
    assert dynamic.claim.size_bytes == 1200 * 1024**3
    assert dynamic.claim.access_modes == ("ReadWriteMany",)
    assert dynamic.variables["WRITE_PERIOD"] == "5"
    writer, reader = dynamic.pods
    assert (writer.node, reader.node) == (0, 1)
    assert writer.lifecycle == "running"
    assert "hello from FSx" in writer.command and "/data/out.txt" in writer.command
    assert writer.checks[0].output.contains == ("hello from FSx",)
    assert dynamic.node_count == 2


def test_expansion_target_follows_the_fsx_rounding_rule() -> None:
    (expansion,) = select_scenarios(load_scenarios(), ["expansion"])
    assert expansion.expansion is not None
    assert expansion.expansion.expected_capacity_gib == 2400


def test_invalid_parameters_expect_a_named_parameter_and_no_file_system() -> None:
    (invalid,) = select_scenarios(load_scenarios(), ["invalid-parameters"])
    assert invalid.expected_failure is not None
    assert not invalid.expected_failure.file_system_created
    failure = invalid.expected_failure
    assert failure.missing_from("LustreConfiguration.PerUnitStorageThroughput 300 invalid") == []
    assert failure.missing_from("subnet not found") == ["perUnitStorageThroughput"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("claim"), "claim: is required but missing"),
        (lambda d: d.update(nmae="x"), "unknown keys ['nmae']"),
        (lambda d: d["claim"].update(size="1200GB"), "claim.size: '1200GB' is not a size"),
        (
            lambda d: d["claim"].update(access_modes=["ReadWriteAll"]),
            "unknown access mode 'ReadWriteAll'",
        ),
        (lambda d: d["pods"][0].update(node=-1), "pods[0].node: expected a node index"),
        (lambda d: d["pods"][1].update(name="Bad_Name"), "pods[1].name: 'Bad_Name' is not"),
        (lambda d: d["pods"][1].update(name="fsx-app"), "seen ['fsx-app'] more than once"),
        (lambda d: d["pods"][0].update(read_only="yes"), "expected true or false"),
        (lambda d: d.update(provisioning="magic"), "expected one of dynamic, static"),
        (lambda d: d.pop("storage_class"), "a dynamic scenario needs storage_class"),
        (
            lambda d: d["storage_class"].update(parameters={"flag": True}),
            "quote numbers and booleans",
        ),
        (lambda d: d["pods"][0].update(exit_code=1), "a running pod does not exit"),
        (lambda d: d.update(pods=[]), "expected at least one pod"),
        (
            lambda d: d.update(expansion={"size": "2000Gi", "expected_capacity_gib": 3600}),
            "rounds up to 2400 GiB",
        ),
        (
            lambda d: d.update(expansion={"size": "1000Gi", "expected_capacity_gib": 1200}),
            "expected a size above the claim's 1200Gi",
        ),
        (lambda d: d["pods"][1].update(after_expansion=True), "need an expansion"),
        (
            lambda d: d["pods"][0]["checks"][0]["output"].update(min_count=0),
            "min_count: expected at least 1",
        ),
        (
            lambda d: d["pods"][1].update(mounted_with=["flock"]),
            "pods[1].mounted_with: is read from a running pod's mount",
        ),
        (
            lambda d: d["pods"][0].update(mounted_with=["flock"]),
            "pods[0].mounted_with: expected options the scenario asks for (none: "
            "mount_options, and ro for a read_only pod), seen ['flock']",
        ),
        (lambda d: d["pods"][0].update(mounted_with="flock"), "expected a list of strings"),
    ],
)
def test_bad_scenario_data_is_rejected_with_the_key_and_what_was_expected(
    mutate: Any, message: str
) -> None:
    data = copy.deepcopy(headline())
    mutate(data)
    with pytest.raises(ScenarioError, match=r"^dynamic\.yaml: ") as caught:
        parse_scenario(data, "dynamic.yaml")
    assert message in str(caught.value)


def test_file_name_must_match_scenario_name(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(headline()))
    with pytest.raises(ScenarioError, match="differs from the file name"):
        load_scenario_file(path)


def test_broken_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: not valid YAML"):
        load_scenario_file(path)


def test_empty_directory_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario files"):
        load_scenarios(tmp_path)


def test_unknown_scenario_names_list_the_known_ones() -> None:
    with pytest.raises(ScenarioError, match=r"unknown scenario\(s\) \['nope'\]; known"):
        select_scenarios(load_scenarios(), ["nope"])


def test_variable_overrides_only_for_declared_variables() -> None:
    (dynamic,) = select_scenarios(load_scenarios(), ["dynamic"])
    assert dynamic.with_variables({"WRITE_PERIOD": "1"}).variables["WRITE_PERIOD"] == "1"
    with pytest.raises(ScenarioError, match="declares only \\['WRITE_PERIOD'\\]"):
        dynamic.with_variables({"PERIOD": "1"})


def test_quantities() -> None:
    assert parse_quantity("1200Gi") == 1200 * 1024**3
    assert parse_quantity("1Ti") == 1024**4
    assert parse_quantity("4096") == 4096
    with pytest.raises(ValueError, match=r"1\.5Gi"):
        parse_quantity("1.5Gi")


def test_output_expectation_reports_counts() -> None:
    expectation = OutputExpectation(contains=("hello",), min_count=2, not_contains=("denied",))
    assert expectation.failures("hello\nhello\n") == []
    assert expectation.failures("hello denied") == [
        "expected 'hello' at least 2x, seen 1x",
        "did not expect 'denied'",
    ]


def test_a_modification_scenario_reads_its_class_and_orders_its_pods() -> None:
    scenario = load_scenario_file(DEFAULT_SCENARIO_DIR / "modify-volume.yaml")
    assert scenario.modification is not None
    assert scenario.modification.parameters == {"perUnitStorageThroughput": "500"}
    assert scenario.modification.expected_lustre_configuration == {
        "PerUnitStorageThroughput": "500"
    }
    assert [p.name for p in scenario.pods_before_expansion()] == ["before-modification"]
    assert [p.name for p in scenario.pods_after_modification()] == ["after-modification"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"modification": {"volume_attributes_class": "x", "parameters": {}}}, "mutable"),
        (
            {"modification": None, "pods": [{"name": "p", "node": 0, "command": "true",
                                             "after_modification": True}]},
            "after_modification need a modification",
        ),
    ],
)  # fmt: skip
def test_bad_modification_scenarios_fail_at_load(change: dict[str, Any], words: str) -> None:
    data = yaml.safe_load((DEFAULT_SCENARIO_DIR / "modify-volume.yaml").read_text())
    data.update(change)
    if data.get("modification") is None:
        data.pop("modification", None)
    with pytest.raises(ScenarioError, match=words):
        parse_scenario(data, "modify-volume.yaml")


def test_mount_options_scenario_asks_the_lock_holder_mount_for_flock() -> None:
    (scenario,) = select_scenarios(load_scenarios(), ["mount-options"])
    assert scenario.mount_options == ("flock",)
    holder, contender = scenario.pods
    assert (holder.lifecycle, holder.mounted_with) == ("running", ("flock",))
    assert contender.mounted_with == ()


def test_mounted_with_may_name_ro_for_a_read_only_pod_and_the_asked_options() -> None:
    data = copy.deepcopy(headline())
    data["storage_class"]["mount_options"] = ["flock", "noatime"]
    data["pods"][0].update(read_only=True, mounted_with=["ro", "noatime"])
    scenario = parse_scenario(data, "dynamic.yaml")
    assert scenario.pods[0].mounted_with == ("ro", "noatime")
