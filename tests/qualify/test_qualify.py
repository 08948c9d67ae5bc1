from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qualify.run import QualifyOptions, run_qualify
from tests.qualify.test_results_model import schema_validator


def test_a_suite_that_crashes_is_an_error_and_the_bundle_is_still_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import qualify.run as qualify

    def crash(*args: object) -> None:
        raise RuntimeError("platform exploded")

    monkeypatch.setattr(qualify, "run_e2e_suite", crash)
    code = run_qualify(QualifyOptions(suites=("e2e",), report_dir=tmp_path, run_id="r-crash"))
    summary = json.loads((tmp_path / "r-crash" / "summary.json").read_text())
    assert code == 1 and summary["complete"] is True and summary["verdict"] == "failed"
    e2e = next(s for s in summary["suites"] if s["name"] == "e2e")
    assert e2e["outcome"] == "error" and "platform exploded" in e2e["message"]
    excluded = [s["name"] for s in summary["suites"] if not s.get("required", True)]
    assert excluded == ["sanity", "throughput"]
    assert "verdict: FAILED" in capsys.readouterr().err


def test_qualify_rejects_flag_combinations_before_running(tmp_path: Path) -> None:
    for args in (["--aws", "real"], ["--only", "e2e", "--skip-suite", "e2e"], ["--size", "1K"]):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "fsx_csi_harness",
                "qualify",
                "--report-dir",
                str(tmp_path),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (args, result.stderr)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.needs_root
@pytest.mark.skipif(
    os.geteuid() != 0, reason="the local platform's emulated Lustre mounts need root"
)
def test_qualify_on_the_defaults_writes_one_complete_bundle(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fsx_csi_harness",
            "qualify",
            "--report-dir",
            str(tmp_path),
            "--repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    bundle = Path(result.stdout.strip().splitlines()[-1])
    summary = json.loads((bundle / "summary.json").read_text())
    assert summary["complete"] is True
    # The bundle's schema validates the summary and each suite's own result file, and the
    # summary holds what those files hold.
    schema_validator().validate(summary)
    for suite_file in ("raw/sanity/sanity.json", "raw/e2e/e2e-results.json"):
        written = json.loads((bundle / suite_file).read_text())
        schema_validator("suite_file").validate(written)
        in_bundle = next(s for s in summary["suites"] if s["name"] == written["name"])
        assert in_bundle["tests"] == written["tests"] and in_bundle["driver"] == written["driver"]
        assert in_bundle["driver"]["name"] == "fsx.csi.aws.com", in_bundle["driver"]
    suites = {s["name"]: s for s in summary["suites"]}
    assert set(suites) == {"sanity", "e2e", "throughput"}
    assert suites["e2e"]["outcome"] == "passed", suites["e2e"]
    assert suites["throughput"]["outcome"] == "passed", suites["throughput"]
    # Exit code = verdict; a suite that could not run is a failed qualification, never a pass.
    assert result.returncode == (0 if summary["verdict"] == "passed" else 1)
    if suites["sanity"]["outcome"] == "not_run":
        assert summary["verdict"] == "failed"
    page = (bundle / "index.html").read_text()
    assert "<svg" in page and "Suite: e2e" in page
    assert "[qualify" in result.stderr and "verdict:" in result.stderr


def test_qualify_hands_manifests_and_settings_to_the_e2e_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import e2e.platforms
    from e2e.platforms import Prerequisite, RunOptions
    from e2e.results import Outcome as E2eOutcome
    from e2e.results import RunResult, ScenarioResult

    seen: list[RunOptions] = []

    class RecordingPlatform:
        name = "kind"

        def missing_prerequisites(self, options: RunOptions) -> list[Prerequisite]:
            seen.append(options)
            return []

        def run(self, scenarios: object, options: RunOptions, progress: object) -> RunResult:
            seen.append(options)
            result = RunResult(options.run_id, self.name, options.driver)
            # As the kube platforms record it (e2e/platforms/kube/identity.py).
            result.details.update(driver_name="fsx.example.com", driver_version="image other:1")
            result.scenarios.append(ScenarioResult("dynamic", "kind", E2eOutcome.PASSED))
            return result

    monkeypatch.setattr(e2e.platforms, "load_platform", lambda name: RecordingPlatform())
    driver = tmp_path / "other-driver"
    driver.mkdir()
    code = run_qualify(
        QualifyOptions(
            platform="kind",
            suites=("e2e",),
            report_dir=tmp_path / "reports",
            run_id="r-manifests",
            manifests=driver,
            settings={"driver-name": "fsx.example.com"},
            e2e_scenarios=("dynamic",),
        )
    )
    assert code == 0
    assert [o.manifests for o in seen] == [driver, driver]
    # The AWS mode travels with the settings: --aws alone decides it on every platform.
    assert seen[-1].settings == {"driver-name": "fsx.example.com", "aws": "emulated"}
    assert seen[-1].driver == "reference" and seen[-1].run_id == "r-manifests"
    summary = json.loads((tmp_path / "reports" / "r-manifests" / "summary.json").read_text())
    assert summary["target"]["source"] == "manifests"
    assert summary["target"]["manifests"] == str(driver)


def test_qualify_refuses_unusable_manifests_with_exit_2(tmp_path: Path) -> None:
    driver = tmp_path / "driver"
    driver.mkdir()
    (driver / "values.yaml").write_text("image:\n  tag: v1\n")
    cases = [
        (["--manifests", str(driver)], "expected --platform kind or cluster, seen local"),
        (["--platform", "kind", "--manifests", str(tmp_path / "nowhere")], "no such file"),
        (["--platform", "kind", "--manifests", str(driver)], "expected Kubernetes objects"),
        (
            ["--platform", "cluster", "--driver", "installed", "--manifests", str(driver)],
            "expected one of them, seen both",
        ),
    ]
    reports = tmp_path / "reports"
    for args, message in cases:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "fsx_csi_harness",
                "qualify",
                "--report-dir",
                str(reports),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "--manifests" in result.stderr, result.stderr
    assert not reports.exists()


def test_a_suite_that_passed_but_left_something_behind_is_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qualify.run as qualify
    from fsx_csi_harness.results import Leak, Outcome, SuiteResult

    def leaky(*args: object) -> SuiteResult:
        return SuiteResult(
            "e2e", Outcome.PASSED, leaks=[Leak("file-system", "fs-1", "Lifecycle AVAILABLE")]
        )

    monkeypatch.setattr(qualify, "run_e2e_suite", leaky)
    code = run_qualify(QualifyOptions(suites=("e2e",), report_dir=tmp_path, run_id="r-leak"))
    summary = json.loads((tmp_path / "r-leak" / "summary.json").read_text())
    e2e = next(s for s in summary["suites"] if s["name"] == "e2e")
    assert e2e["outcome"] == "failed" and "file-system fs-1" in e2e["message"]
    assert summary["leaks"] == [{"suite": "e2e", **e2e["leaks"][0]}]
    assert code == 1 and summary["verdict"] == "failed"
