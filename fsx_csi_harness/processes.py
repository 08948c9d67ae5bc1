"""Child processes that do not outlive the harness.

The harness starts long-lived children (driver processes, pods, the sanity run,
port-forwards). Normal exits and Ctrl-C stop them through context managers; a harness killed
with SIGKILL runs no cleanup at all, so each child also asks the kernel to send it SIGTERM
when its parent dies (PR_SET_PDEATHSIG). SIGTERM, not SIGKILL: the reference driver answers it
by finishing calls in flight and removing its socket. A child that ignores SIGTERM asks for
SIGKILL instead: the local platform's pods, whose `unshare --fork` leaves SIGTERM to its child
and would otherwise live on, the pod with it.

The setting is made by util-linux's `setpriv --pdeathsig`, which then execs the command (same
pid; the setting survives exec). Not by a subprocess `preexec_fn`: that runs Python between
fork and exec in a parent with live threads (gRPC, the embedded emulator), where a lock held
by another thread at fork time can deadlock or abort the child.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence


def tied_to_parent(argv: Sequence[str], death_signal: str = "TERM") -> list[str]:
    """`argv`, run so that it gets `death_signal` (SIGTERM) when the process that starts it
    dies.

    Unchanged where setpriv is missing (not Linux, no util-linux): the child then relies on
    the harness's normal cleanup alone.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return list(argv)
    return [setpriv, "--pdeathsig", death_signal, "--", *argv]
