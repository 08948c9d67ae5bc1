"""Cheap xdist workers: forked from one process that imported the suite once.

A parallel sanity run waits on the driver (minutes per CreateVolume on AWS), so it wants
many more workers than cores. Started the usual way, each xdist worker is a new interpreter
that imports pytest, grpc, protobuf, the CSI bindings and the suite again: about 1 s of CPU,
which with 16 workers on 2 cores delays the first cases by many seconds. Here one process
(the fork server) imports all that once; each worker is a fork of it.

How it plugs into xdist without changing it: xdist starts a worker as
`<python> -u -c <bootstrap>` and talks to it over the worker's stdin and stdout (execnet's
popen gateway), and `--tx popen//python=<command>` names the command. The command given is
`<python> -S <this directory>/fork_launcher.py`: a stdlib-only script that hands its stdin,
stdout and stderr (as file descriptors), its environment and its working directory to the
fork server over a unix socket. The fork server forks; the child takes those descriptors
over, runs the bootstrap exactly as `python -c` would, and its exit status goes back to the
launcher, which exits with it. When the fork server is gone, the launcher runs the bootstrap
in a fresh interpreter instead, so a worker still starts, only slower.

Before serving, the fork server collects the suite once (without connecting anywhere), so
that the case modules are imported, assertion-rewritten, before any fork. It never opens a
gRPC channel (forking a process with live gRPC state is not safe); its children open
their own.

    python -m sanity.forkserver SOCKET_PATH     # prints "ready" once listening
"""

from __future__ import annotations

import array
import contextlib
import importlib
import io
import json
import os
import select
import socket
import sys
from pathlib import Path

# What every worker imports before its first case (the costly part of its start-up).
PRELOAD = (
    "pytest",
    "_pytest.config",
    "_pytest.main",
    "_pytest.python",
    "_pytest.fixtures",
    "_pytest.runner",
    "_pytest.terminal",
    "_pytest.junitxml",
    "execnet",
    "xdist.plugin",
    "xdist.remote",
    "xdist.dsession",
    "grpc",
    "google.protobuf.text_format",
    "fsx_csi_harness.csi.csi_pb2_grpc",
    "yaml",
    "sanity.plugin",
    "sanity.context",
    "sanity.results",
)
LAUNCHER = Path(__file__).with_name("fork_launcher.py")
MAX_MESSAGE = 1 << 20  # the environment of a worker, as JSON


def launcher_command(python: str = sys.executable) -> str:
    """The `python=` value of an xdist --tx spec that starts a worker through the server."""
    return f"{python} -S {LAUNCHER}"


def _receive(conn: socket.socket) -> tuple[dict[str, object], list[int]]:
    fds = array.array("i")
    message, ancillary, _, _ = conn.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(3 * fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return json.loads(message.decode()), list(fds)


def _become_worker(request: dict[str, object], fds: list[int]) -> int:
    """In the forked child: take over the launcher's descriptors, environment and working
    directory, and run what it was asked to run (`python -u -c CODE`)."""
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    # Fresh standard streams on the new descriptors, as a new interpreter has them (-u).
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False))  # noqa: SIM115
    sys.stdout = io.TextIOWrapper(open(1, "wb", 0, closefd=False), write_through=True)  # noqa: SIM115
    sys.stderr = io.TextIOWrapper(open(2, "wb", 0, closefd=False), write_through=True)  # noqa: SIM115
    environment = request["environment"]
    assert isinstance(environment, dict)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in environment.items()})
    os.chdir(str(request["cwd"]))
    argv = [str(arg) for arg in request["argv"]]  # type: ignore[attr-defined]
    code = argv[argv.index("-c") + 1]
    sys.argv = ["-c", *argv[argv.index("-c") + 2 :]]
    try:
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - report like an interpreter would, then exit 1
        import traceback

        traceback.print_exc()
        return 1
    return 0


def _preload() -> None:
    """Import what workers import, and collect the suite once: pytest imports the case
    modules through its assertion rewriting, so the workers find them in sys.modules,
    already rewritten, instead of each rewriting and compiling them again."""
    for module in PRELOAD:
        importlib.import_module(module)
    import pytest

    arguments = ["--collect-only", "-q", "--pyargs", "sanity", "-p", "no:cacheprovider", "-s"]
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main([*arguments, "-W", "ignore::pytest.PytestAssertRewriteWarning"])


def serve(path: str) -> None:
    _preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    waiting: dict[int, socket.socket] = {}  # child pid -> its launcher's connection
    while True:
        readable, _, _ = select.select([listener, sys.stdin], [], [], 0.2)
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 1):
            break  # the process that started this one is gone: stop
        if listener in readable:
            conn, _ = listener.accept()
            request, fds = _receive(conn)
            pid = os.fork()
            if pid == 0:
                listener.close()
                conn.close()
                status = 1
                try:
                    status = _become_worker(request, fds)
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(status)
            for fd in fds:
                os.close(fd)
            waiting[pid] = conn
        while waiting:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            launcher = waiting.pop(pid, None)
            if launcher is not None:
                code = os.waitstatus_to_exitcode(status)
                with launcher:
                    # A worker killed by a signal exits 128 + signal, as a shell reports it.
                    launcher.sendall(str(code if code >= 0 else 128 - code).encode())
    listener.close()
    Path(path).unlink(missing_ok=True)


if __name__ == "__main__":
    serve(sys.argv[1])
