"""What qualify reads is what the suites write: real runs, no hand-written result documents."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fsx_csi_harness.results import DriverInfo, Outcome, read_suite_file
from qualify.run import QualifyOptions, run_qualify
from tests.qualify.test_results_model import schema_validator
from tests.sanity.faulty_driver import FaultyDriver


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Unix socket paths must stay under 108 bytes; pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="fsxq-contract-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def test_the_sanity_result_qualify_reads_is_the_file_sanity_writes(short_dir: Path) -> None:
    endpoint = f"unix://{short_dir}/csi.sock"
    with FaultyDriver().serve(endpoint):
        code = run_qualify(
            QualifyOptions(
                suites=("sanity",),
                csi_endpoint=endpoint,
                sanity_profile="none",
                report_dir=short_dir / "reports",
                work_dir=short_dir / "work",
                run_id="r-contract",
            )
        )
    bundle = short_dir / "reports" / "r-contract"
    summary = load(bundle / "summary.json")
    sanity_file = bundle / "raw" / "sanity" / "sanity.json"
    # The file `fsx-csi sanity --json-report` wrote, as the bundle keeps it, is a valid suite
    # file; the summary's suite is that file's content, read by the model's reader.
    schema_validator("suite_file").validate(load(sanity_file))
    schema_validator().validate(summary)
    written = read_suite_file(sanity_file)
    in_bundle = next(s for s in summary["suites"] if s["name"] == "sanity")
    assert {**written.to_json(), "raw": in_bundle["raw"]} == in_bundle
    assert "raw/sanity/sanity.json" in in_bundle["raw"]
    # Nothing lost on the way: every case, its service, the driver that answered.
    assert written.driver == DriverInfo("faulty.csi.example", "0.1.0")
    assert summary["target"]["driver_name"] == "faulty.csi.example"
    assert len(written.tests) >= 90
    assert {t.outcome for t in written.tests} <= {Outcome.PASSED, Outcome.SKIPPED}
    assert all(t.name.startswith("sanity/cases/") and t.classname for t in written.tests)
    assert sum(1 for t in written.tests if t.details.get("upstream")) >= 90
    assert written.details["endpoint"] == endpoint and written.details["profile"] == "none"
    assert written.leaks == [] and summary["leaks"] == []
    assert written.outcome is Outcome.PASSED and code == 0
