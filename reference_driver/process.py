"""Run the driver as a separate process (`python -m fsx_csi_harness driver ...`).

For tests and for the harness's local platform: the same entry point users run, started in a
context manager that waits until Probe answers and reports the driver's own log when it does
not come up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import grpc

from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from fsx_csi_harness.processes import tied_to_parent


class DriverProcessError(RuntimeError):
    pass


class DriverProcess:
    """`fsx-csi driver <args>` as a child process listening on `socket_path`."""

    def __init__(
        self,
        socket_path: Path,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 20.0,
        python: str = sys.executable,
        cwd: Path | None = None,
    ) -> None:
        self.socket_path = socket_path
        self.argv = [
            python,
            "-m",
            "fsx_csi_harness",
            "driver",
            "--endpoint",
            f"unix://{socket_path}",
            *args,
        ]
        self.env = {**os.environ, **(env or {})}
        self.startup_timeout = startup_timeout
        self.cwd = cwd or Path(__file__).resolve().parent.parent
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.started_at = 0.0
        self.ready_after = 0.0

    @property
    def address(self) -> str:
        return f"unix:{self.socket_path}"

    def logs(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def start(self) -> DriverProcess:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            tied_to_parent(self.argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
        )
        deadline = self.started_at + self.startup_timeout
        last_error = "the socket does not exist yet"
        with grpc.insecure_channel(self.address) as channel:
            identity = csi_pb2_grpc.IdentityStub(channel)
            while True:
                if self.process.poll() is not None:
                    raise DriverProcessError(
                        f"the driver exited with code {self.process.returncode} before answering "
                        f"Probe; its log:\n{self.logs()}"
                    )
                if self.socket_path.exists():
                    try:
                        identity.Probe(csi_pb2.ProbeRequest(), timeout=1.0)
                        self.ready_after = time.monotonic() - self.started_at
                        return self
                    except grpc.RpcError as exc:
                        last_error = str(exc)
                if time.monotonic() > deadline:
                    self.kill()
                    raise DriverProcessError(
                        f"the driver did not answer Probe within {self.startup_timeout:.0f}s "
                        f"(last: {last_error}); its log:\n{self.logs()}"
                    )
                time.sleep(0.02)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for a graceful exit (SIGKILL after `timeout`)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (its socket stays behind)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        """Stop the process if needed and drop its log."""
        self.terminate(timeout=10.0)
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()

    def __enter__(self) -> DriverProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
