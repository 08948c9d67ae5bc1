"""Parallel runs give serial verdicts; settings parse and validate as csi-sanity's do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sanity.config import GIB, ConfigError, SanityConfig, config_from_raw, load_inputs
from sanity.names import FSX_FILE_SYSTEM_ID, FsxIdGenerator, NameGenerator
from tests.sanity.conftest import run_suite
from tests.sanity.faulty_driver import FaultyDriver


def test_two_workers_give_the_same_verdicts_as_a_serial_run(
    serve: Callable[..., FaultyDriver], endpoint: str, workdir: Path
) -> None:
    # A driver with one fault, so that the comparison includes failures, not only passes.
    serve(["list_snapshots_ignores_max_entries"])
    serial = run_suite(endpoint, workdir)
    parallel = run_suite(endpoint, workdir, extra=["-n", "2"])
    assert serial.outcomes() == parallel.outcomes()
    assert serial.count("failed") == 1 and serial.count("passed") == 93
    assert serial.result["leaks"] == parallel.result["leaks"] == []


def test_defaults_are_csi_sanitys() -> None:
    config = config_from_raw({"endpoint": "unix:///run/csi.sock"})
    assert config.test_volume_size == 10 * GIB
    assert config.effective_expand_size == 11 * GIB
    assert config.idempotent_count == 10
    assert config.create_path_cmd_timeout == config.check_path_cmd_timeout == 10.0
    assert config.access_type == "mount"
    assert config.mount_dir.endswith("csi-mount") and config.staging_dir.endswith("csi-staging")


def test_go_durations_sizes_and_bare_booleans_parse() -> None:
    config = config_from_raw(
        {
            "endpoint": "127.0.0.1:10000",
            "create_path_cmd_timeout": "1m30s",
            "check_path_cmd_timeout": "500ms",
            "test_volume_size": "1200Gi",
            "test_node_volume_attach_limit": "true",
            "test_volume_access_type": " Block ",
        }
    )
    assert config.create_path_cmd_timeout == 90.0
    assert config.check_path_cmd_timeout == pytest.approx(0.5)
    assert config.test_volume_size == 1200 * GIB
    assert config.test_node_volume_attach_limit is True
    assert config.access_type == "block"


def test_the_fsx_profile_sets_fsx_test_sizes_unless_given() -> None:
    fsx = config_from_raw({"endpoint": "/run/csi.sock", "profile": "fsx"})
    assert (fsx.test_volume_size, fsx.test_volume_expand_size) == (1200 * GIB, 2400 * GIB)
    explicit = config_from_raw(
        {"endpoint": "/run/csi.sock", "profile": "fsx", "test_volume_size": "2400Gi"}
    )
    assert explicit.test_volume_size == 2400 * GIB


def test_an_endpoint_is_required() -> None:
    with pytest.raises(ConfigError, match=r"--csi\.endpoint must be provided"):
        SanityConfig().validate()


def test_parameter_files_keep_every_value_a_string(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("perUnitStorageThroughput: 200\nefaEnabled: true\nsubnetId: subnet-1\n")
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("CreateVolumeSecret:\n  key: value\nSomeFutureSecret:\n  a: b\n")
    config = config_from_raw(
        {
            "endpoint": "/run/csi.sock",
            "test_volume_parameters_file": str(params),
            "secrets_file": str(secrets),
        }
    )
    inputs = load_inputs(config)
    assert inputs.volume_parameters == {
        "perUnitStorageThroughput": "200",
        "efaEnabled": "true",
        "subnetId": "subnet-1",
    }
    assert inputs.secrets.get("CreateVolumeSecret") == {"key": "value"}
    assert inputs.secrets.get("DeleteVolumeSecret") == {}


def test_names_carry_run_and_worker_and_respect_the_length() -> None:
    names = NameGenerator("1a2b3c4d", "gw3")
    first, second = names.unique("sanity"), names.unique("sanity")
    assert first != second and "1a2b3c4d-gw3" in first
    long_name = names.unique_with_length("sanity-controller-create-maxlen", 128)
    assert len(long_name) == 128 and long_name.endswith("-1a2b3c4d-gw3-3")


def test_fsx_ids_have_the_file_system_id_form() -> None:
    assert FSX_FILE_SYSTEM_ID.match(FsxIdGenerator().unique_valid_volume_id())


def test_the_readme_parity_table_lists_every_case_and_all_95_upstream_ones() -> None:
    from sanity import parity

    readme = (Path(__file__).resolve().parents[2] / "sanity" / "README.md").read_text()
    assert parity.markdown() in readme, "sanity/README.md is stale: paste python -m sanity.parity"
    upstream = [row for row in parity.cases() if row[0] not in ("FSx", "Strict")]
    assert len(upstream) == 95
    assert len({row[1] for row in upstream}) == 95, "two cases claim the same upstream case"


def test_profiles_combine_and_unknown_ones_are_refused() -> None:
    both = config_from_raw({"endpoint": "/run/csi.sock", "profile": "strict,fsx"})
    assert both.profiles == {"strict", "fsx"}
    assert both.test_volume_size == 1200 * GIB  # the FSx sizes come with fsx in the list
    strict = config_from_raw({"endpoint": "/run/csi.sock", "profile": "strict"})
    assert strict.profiles == {"strict"} and strict.test_volume_size == 10 * GIB
    assert config_from_raw({"endpoint": "/run/csi.sock"}).profiles == frozenset()
    with pytest.raises(ConfigError, match="none, fsx, strict"):
        config_from_raw({"endpoint": "/run/csi.sock", "profile": "strict,gold"})
