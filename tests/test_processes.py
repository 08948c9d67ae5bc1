"""Children started by the harness die with it, even when it is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    from fsx_csi_harness.processes import tied_to_parent
    argv = ["sleep", "60"]
    child = subprocess.Popen(tied_to_parent(argv) if sys.argv[1] == "tied" else argv)
    # setpriv sets the death signal and then execs sleep: a parent killed in between would
    # die before the setting exists (a window of microseconds that a harness's long-lived
    # children are far past). Wait until the child is sleep.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{child.pid}/comm") as comm:
            if comm.read().strip() == "sleep":
                break
        time.sleep(0.01)
    print(child.pid, flush=True)
    time.sleep(60)
    """
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def _orphan_after_parent_is_killed(mode: str, wait_s: float) -> tuple[int, bool]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + wait_s
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    survived = _alive(child_pid)
    if survived:
        os.kill(child_pid, signal.SIGKILL)
    return child_pid, survived


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG (setpriv) is Linux's"
)
def test_a_tied_child_ends_when_its_parent_is_killed() -> None:
    pid, survived = _orphan_after_parent_is_killed("tied", wait_s=5)
    assert not survived, f"child {pid} outlived its SIGKILLed parent"


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG (setpriv) is Linux's"
)
def test_an_untied_child_would_outlive_its_parent() -> None:
    # The control case: without tied_to_parent the orphan keeps running, so the test above
    # proves the mechanism rather than a quirk of how the parent was killed.
    _, survived = _orphan_after_parent_is_killed("untied", wait_s=1)
    assert survived
