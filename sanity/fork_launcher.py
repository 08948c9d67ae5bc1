"""Start one xdist worker through the sanity fork server (see sanity/forkserver.py).

Run by xdist as `<python> -S fork_launcher.py -u -c <bootstrap>` in place of
`<python> -u -c <bootstrap>`. Standard library only, and no site packages (-S), so that it
starts in milliseconds: it passes its stdin, stdout and stderr, environment, working
directory and arguments to the fork server named by $CSI_SANITY_FORK_SERVER, waits for the
forked worker to end and exits with its status. Without a reachable fork server it becomes
the worker itself, as a fresh interpreter.
"""

import array
import json
import os
import socket
import sys

SERVER_VARIABLE = "CSI_SANITY_FORK_SERVER"


def main() -> int:
    path = os.environ.get(SERVER_VARIABLE, "")
    request = {
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),  # noqa: PTH109 - os only: no pathlib import, for start-up time
        "environment": dict(os.environ),
    }
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        # No fork server: run the worker here, in a new interpreter with site packages.
        os.execv(sys.executable, [sys.executable, *sys.argv[1:]])  # noqa: S606 - as xdist would
    with conn:
        fds = array.array("i", [0, 1, 2])
        conn.sendmsg([json.dumps(request).encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        answer = b""
        while True:
            chunk = conn.recv(64)
            if not chunk:
                break
            answer += chunk
    return int(answer) if answer.strip().lstrip(b"-").isdigit() else 1


if __name__ == "__main__":
    sys.exit(main())
