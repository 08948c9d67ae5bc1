"""Child processes that do not outlive the harness.

The harness starts long-lived children (the FSx emulator, driver processes, pods, the sanity
run, port-forwards). Normal exits and Ctrl-C stop them through context managers; a harness
killed with SIGKILL runs no cleanup at all, so each child also asks the kernel to send it
SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG, Linux only). SIGTERM, not SIGKILL: the
reference driver answers it by finishing calls in flight and removing its socket.
"""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal() -> None:
    # Runs in the child between fork and exec: no allocation-heavy work, no raising.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for subprocess.Popen that ties the child's life to this process.

    None where the kernel has no such feature (not Linux), so callers pass it unconditionally.
    """
    return _set_parent_death_signal if sys.platform.startswith("linux") else None
