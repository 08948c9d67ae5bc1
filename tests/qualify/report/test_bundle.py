from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from qualify.report.bundle import BundleError, BundleWriter, IncompleteBundleError, load_bundle
from qualify.report.model import Outcome, Summary, TestResult, Verdict, from_json, to_json
from tests.qualify.report.conftest import make_summary

SCHEMA = json.loads(Path("qualify/report/summary.schema.json").read_text())


def validate(path: Path) -> dict[str, Any]:
    data = json.loads((path / "summary.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(
        data
    )
    assert isinstance(data, dict)
    return data


def test_a_finished_run_is_renamed_complete_and_matches_the_schema(tmp_path: Path) -> None:
    with BundleWriter(tmp_path, make_summary()) as writer:
        assert writer.path.name.endswith(".partial")
        assert validate(writer.path)["complete"] is False  # checkpoints are never complete
        writer.write_raw("sanity/sanity.json", "{}")
        final = writer.finish()
    assert final == tmp_path / "20260101-000000-abcdef"
    assert not (tmp_path / "20260101-000000-abcdef.partial").exists()
    data = validate(final)
    assert data["complete"] is True and data["verdict"] == "passed"
    assert {p.name for p in final.iterdir()} >= {"summary.json", "junit.xml", "index.html", "raw"}
    assert (final / "raw/sanity/sanity.json").read_text() == "{}"


def test_a_crashed_run_stays_partial_incomplete_and_says_why(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), BundleWriter(tmp_path, make_summary()) as writer:
        raise RuntimeError("emulator died")
    partial = writer.path
    assert partial.name.endswith(".partial") and partial.exists()
    data = validate(partial)
    assert data["complete"] is False and data["verdict"] == "incomplete"
    assert any("emulator died" in note for note in data["notes"])
    assert (partial / "raw/harness-traceback.txt").exists()
    assert "INCOMPLETE RUN" in (partial / "index.html").read_text()
    with pytest.raises(IncompleteBundleError) as caught:
        load_bundle(partial)
    assert caught.value.exit_code == 4 and "emulator died" in str(caught.value)
    assert load_bundle(partial, allow_incomplete=True).verdict is Verdict.INCOMPLETE


def test_ctrl_c_is_recorded_as_an_interruption(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), BundleWriter(tmp_path, make_summary()) as writer:
        raise KeyboardInterrupt
    assert any("interrupted" in n for n in validate(writer.path)["notes"])


def test_a_failed_test_gives_a_complete_bundle_with_a_failed_verdict(tmp_path: Path) -> None:
    summary = make_summary()
    summary.suites[0].tests.append(TestResult("deletes twice", Outcome.FAILED, 0.1, "NOT_FOUND"))
    with BundleWriter(tmp_path, summary) as writer:
        path = writer.finish()
    assert validate(path)["verdict"] == "failed"
    junit = (path / "junit.xml").read_text()
    assert 'failures="1"' in junit and "NOT_FOUND" in junit


def test_run_ids_are_never_reused(tmp_path: Path) -> None:
    with BundleWriter(tmp_path, make_summary()) as writer:
        writer.finish()
    with pytest.raises(FileExistsError):
        BundleWriter(tmp_path, make_summary())


def test_json_round_trip_keeps_every_field(summary: Summary) -> None:
    assert to_json(from_json(to_json(summary))) == to_json(summary)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ('{"schema_version": "2.0"}', "not supported"),
        ('{"schema_version": "1.0"}', "does not match schema"),
    ],
)
def test_unreadable_bundles_give_a_clear_error(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "summary.json").write_text(content)
    with pytest.raises(BundleError) as caught:
        load_bundle(tmp_path)
    assert expected in str(caught.value) and caught.value.exit_code == 3


def test_html_is_self_contained_with_inline_svg_plots(tmp_path: Path) -> None:
    summary = make_summary()
    summary.suites[1].tests.append(TestResult("static", Outcome.FAILED, 1.0, "PV never bound"))
    with BundleWriter(tmp_path, summary) as writer:
        path = writer.finish()
    page = (path / "index.html").read_text()
    assert page.count("<svg") >= 3  # bandwidth, IOPS, multi-client
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, re.I), "external URL"
    assert "<script" not in page and "<link" not in page
    # Failures come first, before the suite tables.
    assert page.index("PV never bound") < page.index("Suite: sanity")


def test_a_required_suite_that_did_not_run_fails_the_verdict_an_excluded_one_does_not(
    tmp_path: Path,
) -> None:
    from qualify.report.model import SuiteResult

    missing = make_summary("20260101-000000-000001")
    missing.suites.append(SuiteResult("throughput", Outcome.NOT_RUN, message="no kubeconfig"))
    excluded = make_summary("20260101-000000-000002")
    excluded.suites.append(
        SuiteResult("throughput", Outcome.NOT_RUN, message="excluded", required=False)
    )
    with BundleWriter(tmp_path, missing) as writer:
        assert validate(writer.finish())["verdict"] == "failed"
    with BundleWriter(tmp_path, excluded) as writer:
        assert validate(writer.finish())["verdict"] == "passed"
