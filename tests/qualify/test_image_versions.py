"""qualify on a cluster: sanity's GetPluginInfo answer and the e2e and throughput suites'
node plugin image name one driver, and the last line reads well with either."""

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


def test_a_vendor_version_and_an_image_of_one_driver_pass_and_the_last_line_names_the_first(
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
    assert last.endswith(
        f"verdict: PASSED for {DRIVER} v1.2.0 (the driver installed in the cluster)"
    )


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
