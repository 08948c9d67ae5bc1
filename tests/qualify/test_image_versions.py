"""qualify on a cluster: sanity's GetPluginInfo answer and the e2e and throughput suites'
node plugin image name one driver; each suite is held to the first version of its kind (two
images are compared even when a vendor_version came first), and the last line names both."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from fsx_csi_harness.results import DriverInfo, Outcome, SuiteResult, TestResult
from qualify.run import QualifyOptions, run_qualify

DRIVER = "fsx.csi.aws.com"
IMAGE = "image public.ecr.aws/fsx-csi-driver/aws-fsx-csi-driver:v1.2.0 (sha256:" + "b" * 64 + ")"


def answered_by(name: str, driver: DriverInfo) -> Any:
    def suite(*args: object) -> SuiteResult:
        return SuiteResult(name, Outcome.PASSED, tests=[TestResult("t", Outcome.PASSED)],
                           driver=driver)  # fmt: skip

    return suite


def qualify_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **suites: DriverInfo
) -> tuple[int, dict[str, Any], str]:
    import qualify.run as qualify

    for name, driver in suites.items():
        monkeypatch.setattr(qualify, f"run_{name}_suite", answered_by(name, driver))
    stream = io.StringIO()
    code = run_qualify(
        QualifyOptions(
            platform="cluster",
            driver="installed",
            suites=tuple(suites),
            report_dir=tmp_path,
            run_id="r-image",
            stream=stream,
        )
    )
    summary = json.loads((tmp_path / "r-image" / "summary.json").read_text())
    return code, summary, stream.getvalue().splitlines()[-1]


def test_a_vendor_version_and_an_image_of_one_driver_pass_and_the_last_line_names_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, summary, last = qualify_installed(
        tmp_path,
        monkeypatch,
        sanity=DriverInfo(DRIVER, "v1.2.0"),
        e2e=DriverInfo(DRIVER, IMAGE),
        throughput=DriverInfo(DRIVER, IMAGE),
    )
    assert [s["outcome"] for s in summary["suites"]] == ["passed"] * 3
    assert code == 0
    assert summary["target"]["driver_version"] == "v1.2.0"
    assert summary["target"]["driver_image"] == IMAGE
    assert last.endswith(
        f"verdict: PASSED for {DRIVER} v1.2.0, {IMAGE} (the driver installed in the cluster)"
    )


def test_after_a_vendor_version_a_second_image_is_still_compared_with_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sanity's vendor_version cannot vouch for the image: e2e's image is what throughput
    # must match.
    code, summary, _ = qualify_installed(
        tmp_path,
        monkeypatch,
        sanity=DriverInfo(DRIVER, "v1.2.0"),
        e2e=DriverInfo(DRIVER, IMAGE),
        throughput=DriverInfo(DRIVER, "image fsx-csi-harness:kind-e2e"),
    )
    outcomes = {s["name"]: s["outcome"] for s in summary["suites"]}
    assert outcomes == {"sanity": "passed", "e2e": "passed", "throughput": "failed"}
    throughput = next(s for s in summary["suites"] if s["name"] == "throughput")
    assert "another driver was substituted" in throughput["message"]
    assert f"{DRIVER} v1.2.0, {IMAGE}" in throughput["message"]
    assert code == 1


def test_an_image_first_then_the_vendor_version_leads_the_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, summary, last = qualify_installed(
        tmp_path,
        monkeypatch,
        e2e=DriverInfo(DRIVER, IMAGE),
        sanity=DriverInfo(DRIVER, "v1.2.0"),
    )
    assert code == 0
    assert (summary["target"]["driver_version"], summary["target"]["driver_image"]) == (
        "v1.2.0",
        IMAGE,
    )
    assert last.endswith(f"{DRIVER} v1.2.0, {IMAGE} (the driver installed in the cluster)")


def test_e2e_first_names_the_image_and_a_different_image_after_it_is_a_substitution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, summary, last = qualify_installed(
        tmp_path,
        monkeypatch,
        e2e=DriverInfo(DRIVER, IMAGE),
        throughput=DriverInfo(DRIVER, "image fsx-csi-harness:kind-e2e"),
    )
    throughput = next(s for s in summary["suites"] if s["name"] == "throughput")
    assert throughput["outcome"] == "failed"
    assert "another driver was substituted" in throughput["message"]
    assert code == 1
    assert f"verdict: FAILED for {DRIVER} {IMAGE} (the driver installed in the cluster)" in last
