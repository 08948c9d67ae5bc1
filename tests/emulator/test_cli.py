"""`fsx-csi emulator` as a process: prints its URL, serves boto3, stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fsx_emulator import EmulatorControl

from .conftest import create, make_client, wait_lifecycle

ROOT = Path(__file__).resolve().parents[2]


LISTENING = re.compile(
    r"FSx emulator listening: AWS_ENDPOINT_URL_FSX=(?P<url>http://127\.0\.0\.1:\d+) "
    r"AWS_REGION=(?P<region>[a-z0-9-]+) AWS_DEFAULT_REGION=(?P=region) "
    r"AWS_ACCESS_KEY_ID=\S+ AWS_SECRET_ACCESS_KEY=\S+\n"
)


def start_emulator(*flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fsx_csi_harness", "emulator", *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def stop_emulator(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    assert process.returncode == 0, err
    return out, err


def startup_line(process: subprocess.Popen[str]) -> re.Match[str]:
    assert process.stdout is not None
    line = process.stdout.readline()
    match = LISTENING.fullmatch(line)
    if not match:
        process.kill()
        raise AssertionError(f"unexpected first line {line!r}; stderr: {process.communicate()[1]}")
    return match


def test_emulator_command_serves_until_sigterm(tmp_path: Path) -> None:
    started = time.monotonic()
    process = start_emulator(
        "--port", "0", "--creation-delay", "0.05", "--emulation-root", str(tmp_path)
    )
    try:
        match = startup_line(process)
        startup = time.monotonic() - started
        # The emulator should print its URL well under 2 s; leave room for a loaded CI machine.
        assert startup < 5, f"emulator took {startup:.2f}s to print its URL"
        url = match.group("url")
        fsx = make_client(url)
        fs = create(fsx)
        available = wait_lifecycle(fsx, fs["FileSystemId"], "AVAILABLE")
        mount_name = available["LustreConfiguration"]["MountName"]
        assert (tmp_path / fs["FileSystemId"] / mount_name).is_dir()
        assert EmulatorControl(url).health()
    finally:
        out, _ = stop_emulator(process)
    assert "FSx emulator stopped" in out


def test_the_startup_line_is_all_a_client_needs() -> None:
    """A client given only the printed assignments (no region, no credentials of its own)."""
    process = start_emulator("--port", "0", "--region", "eu-west-1")
    try:
        match = startup_line(process)
        assert match.group("region") == "eu-west-1"
        assignments = match.group(0).removeprefix("FSx emulator listening: ").split()
        client_env = dict(assignment.split("=", 1) for assignment in assignments)
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import boto3; fsx = boto3.client('fsx'); "
                "print(fsx.meta.region_name, len(fsx.describe_file_systems()['FileSystems']))",
            ],
            # Nothing from this machine's AWS setup: HOME elsewhere, no AWS_* but the line's.
            env={"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent", **client_env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.split() == ["eu-west-1", "0"]
    finally:
        stop_emulator(process)


def test_strict_mode_switches_on_the_rate_limits() -> None:
    from fsx_emulator.config import STRICT_RATE_LIMITS

    process = start_emulator("--port", "0", "--strict", "--rate-limit", "UpdateFileSystem=1/2")
    try:
        url = startup_line(process).group("url")
        assert process.stdout is not None
        settings = process.stdout.readline()
        assert "DescribeFileSystems 20/s burst 40" in settings, settings
        limits = EmulatorControl(url).strictness()["rate_limits"]
        expected = {op: limit.to_dict() for op, limit in STRICT_RATE_LIMITS.items()}
        expected["UpdateFileSystem"] = {"rate": 1.0, "burst": 2}
        assert limits == expected
    finally:
        stop_emulator(process)


def test_the_default_mode_has_no_rate_limits_and_a_finite_token_window() -> None:
    process = start_emulator("--port", "0", "--token-ttl", "30", "--describe-page-size", "4")
    try:
        url = startup_line(process).group("url")
        assert process.stdout is not None
        assert process.stdout.readline() == (
            "FSx emulator settings: ClientRequestToken window 30s; DescribeFileSystems page "
            "size 4; rate limits: off\n"
        )
        settings = EmulatorControl(url).strictness()
        assert (settings["token_ttl"], settings["describe_page_size"]) == (30, 4)
        assert settings["rate_limits"] == {}
    finally:
        stop_emulator(process)


def run_emulator_expecting_failure(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness", "emulator", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--port", "99999"), "99999 is not a TCP port: choose 1-65535, or 0"),
        (("--port", "-1"), "-1 is not a TCP port"),
        (("--port", "http"), "'http' is not a port number"),
        (("--token-ttl", "0"), "must be > 0 seconds"),
        (("--rate-limit", "DescribeFileSystems"), "OPERATION=RATE[/BURST]"),
        (("--rate-limit", "DescribeFileSystems=0"), "rate > 0"),
        (("--describe-page-size", "0"), "describe_page_size"),
        (("--creation-delay", "-1"), "creation_delay"),
    ],
)
def test_bad_flags_are_refused_with_exit_2(flags: tuple[str, ...], words: str) -> None:
    result = run_emulator_expecting_failure(*flags)
    assert result.returncode == 2, result
    assert words in result.stderr
    assert result.stdout == ""  # nothing listened
