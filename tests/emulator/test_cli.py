"""`fsx-csi emulator` as a process: prints its URL, serves boto3, stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from fsx_emulator import EmulatorControl

from .conftest import create, make_client, wait_lifecycle

ROOT = Path(__file__).resolve().parents[2]


def test_emulator_command_serves_until_sigterm(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "fsx_csi_harness",
        "emulator",
        "--port",
        "0",
        "--creation-delay",
        "0.05",
        "--emulation-root",
        str(tmp_path),
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        startup = time.monotonic() - started
        match = re.fullmatch(
            r"FSx emulator listening: AWS_ENDPOINT_URL_FSX=(http://127\.0\.0\.1:\d+)\n", line
        )
        if not match:
            process.kill()
            raise AssertionError(
                f"unexpected first line {line!r}; stderr: {process.communicate()[1]}"
            )
        # DESIGN.md promises well under 2 s; leave room for a loaded CI machine.
        assert startup < 5, f"emulator took {startup:.2f}s to print its URL"
        url = match.group(1)
        fsx = make_client(url)
        fs = create(fsx)
        available = wait_lifecycle(fsx, fs["FileSystemId"], "AVAILABLE")
        mount_name = available["LustreConfiguration"]["MountName"]
        assert (tmp_path / fs["FileSystemId"] / mount_name).is_dir()
        assert EmulatorControl(url).health()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode == 0, err
    assert "FSx emulator stopped" in out


def test_emulator_command_refuses_a_negative_delay() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness", "emulator", "--creation-delay", "-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "creation_delay" in result.stderr
