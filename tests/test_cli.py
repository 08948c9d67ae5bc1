"""The `fsx-csi` command-line contract (DESIGN.md): the subcommands exist and `--help` is fast."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from fsx_csi_harness.cli import SUBCOMMANDS


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_subcommand_help_runs_in_a_fresh_interpreter(command: str) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness", command, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: fsx-csi" in result.stdout
    assert time.monotonic() - started < 30
