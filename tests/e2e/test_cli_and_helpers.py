"""`fsx-csi e2e` argument handling and the small helpers of the leak guard and pods."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.leaks import (
    RUN_ID_TAG,
    SCENARIO_TAG,
    ProcessTracker,
    mounts_under,
    new_run_id,
    with_run_tags,
)
from e2e.platforms import PlatformUnavailable, RunOptions, load_platform
from e2e.platforms.local.pods import rewrite_data_path
from e2e.progress import Probe, Progress, WaitTimeout

ROOT = Path(__file__).resolve().parents[2]


def fsx_csi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness", "e2e", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_list_scenarios() -> None:
    result = fsx_csi("--list-scenarios")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert "dynamic" in names and "invalid-parameters" in names


def test_unknown_scenario_exits_2_naming_the_known_ones() -> None:
    result = fsx_csi("--scenario", "nope")
    assert result.returncode == 2
    assert "unknown scenario(s) ['nope']; known scenarios:" in result.stderr


def test_undeclared_variable_is_refused() -> None:
    result = fsx_csi("--scenario", "static", "--var", "WRITE_PERIOD=1")
    assert result.returncode == 2
    assert "no selected scenario declares them" in result.stderr


def test_unknown_local_setting_is_a_missing_prerequisite() -> None:
    result = fsx_csi("--scenario", "static", "--set", "colour=blue")
    assert result.returncode == 2
    assert "platform local cannot run on this machine" in result.stderr
    assert "unknown ['colour']" in result.stderr


def test_installed_driver_on_local_needs_a_driver_command() -> None:
    missing = load_platform("local").missing_prerequisites(
        RunOptions(run_id="r", driver="installed")
    )
    assert any("driver-command" in str(m) for m in missing)


def test_missing_platform_module_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "e2e.platforms.k3s", None)  # as if not installed
    with pytest.raises(PlatformUnavailable, match=r"platform 'k3s' is not available"):
        load_platform("k3s")
    with pytest.raises(PlatformUnavailable, match="unknown platform 'moon'"):
        load_platform("moon")


def test_run_tags_are_appended_to_extra_tags() -> None:
    assert with_run_tags({"extraTags": "team=storage"}, "run-1", "dynamic")["extraTags"] == (
        f"team=storage,{RUN_ID_TAG}=run-1,{SCENARIO_TAG}=dynamic"
    )
    assert with_run_tags({}, "run-1", "s")["extraTags"] == f"{RUN_ID_TAG}=run-1,{SCENARIO_TAG}=s"
    assert new_run_id() != new_run_id()


def test_mounts_under_reads_mountinfo_deepest_first(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "30 22 8:1 /x /run/e2e/a rw - ext4 /dev/sda1 rw\n"
        "31 30 8:1 /y /run/e2e/a/b\\040c ro - ext4 /dev/sda1 ro\n"
        "32 22 8:1 /z /run/e2e-other rw - ext4 /dev/sda1 rw\n"
    )
    found = mounts_under(Path("/run/e2e"), mountinfo)
    assert [str(m.mount_point) for m in found] == ["/run/e2e/a/b c", "/run/e2e/a"]


def test_process_tracker_stops_the_whole_group() -> None:
    tracker = ProcessTracker()
    process = tracker.start("pod/x", ["/bin/sh", "-c", "sleep 30 & sleep 30; wait"])
    leaks = tracker.sweep(grace_s=2.0)
    assert [leak.kind for leak in leaks] == ["process"]
    assert process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)


def test_rewrite_replaces_only_the_data_path() -> None:
    target = Path("/k/pods/u/mount")
    assert rewrite_data_path("cat /data/out.txt > /data2/x; ls /data", target) == (
        "cat /k/pods/u/mount/out.txt > /data2/x; ls /k/pods/u/mount"
    )
    assert rewrite_data_path("cat /srv/data/x", target) == "cat /srv/data/x"


def test_wait_timeout_names_what_and_last_state() -> None:
    now = [0.0]
    progress = Progress(
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
        quiet=True,
    )
    with pytest.raises(WaitTimeout) as caught:
        progress.wait("the claim to bind", lambda: Probe(False, "Pending"), 2.0, hint="try X")
    assert "waiting for the claim to bind" in str(caught.value)
    assert "last state seen: Pending; try X" in str(caught.value)
