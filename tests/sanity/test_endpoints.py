"""What answers at the endpoint: a listener that is not CSI is named, a wait shows progress."""

from __future__ import annotations

import http.server
import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from sanity.connection import NotCsiError, connect, describe_foreign_listener, identify
from tests.sanity.faulty_driver import FaultyDriver
from tests.sanity.test_bad_input import fsx_csi_sanity


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _UnixHttpServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _UnixHandler(_Answer):
    # BaseHTTPRequestHandler expects (host, port); a unix socket's peer is a path.
    def address_string(self) -> str:
        return "unix"


@pytest.fixture
def http_on_socket(workdir: Path) -> Iterator[str]:
    path = workdir / "http.sock"
    server = _UnixHttpServer(str(path), _UnixHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"unix://{path}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_on_port() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def grpc_without_csi(workdir: Path) -> Iterator[str]:
    endpoint = f"unix://{workdir}/grpc.sock"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_insecure_port(endpoint)
    server.start()
    yield endpoint
    server.stop(grace=None).wait()


@pytest.mark.parametrize("listener", ["http_on_socket", "http_on_port"])
def test_an_http_server_is_named_at_once_not_after_the_connect_timeout(
    listener: str, request: pytest.FixtureRequest
) -> None:
    endpoint = request.getfixturevalue(listener)
    started = time.monotonic()
    result = fsx_csi_sanity(f"--csi.endpoint={endpoint}", "--csi.connecttimeout=60s")
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    # Python's http.server takes the HTTP/2 greeting for HTTP/0.9 and answers with a bare
    # error page; servers such as nginx answer with an HTTP/1.1 400 status line.
    assert f"{endpoint} is not a CSI driver: an HTTP server answers there" in result.stderr
    assert elapsed < 30, f"took {elapsed:.1f}s: the 60 s connect timeout was waited out"


def test_a_grpc_server_without_the_identity_service_is_not_a_csi_driver(
    grpc_without_csi: str,
) -> None:
    assert describe_foreign_listener(grpc_without_csi) is None  # it does speak HTTP/2
    connection = connect(grpc_without_csi, 10)
    try:
        with pytest.raises(NotCsiError, match="answers gRPC but not the CSI Identity service"):
            identify(connection, 10)
    finally:
        connection.close()
    result = fsx_csi_sanity(f"--csi.endpoint={grpc_without_csi}", "--csi.connecttimeout=10s")
    assert result.returncode == 3 and "not the CSI Identity service" in result.stderr


def test_waiting_for_a_driver_that_starts_late_shows_progress(endpoint: str, workdir: Path) -> None:
    driver = FaultyDriver()
    started = threading.Event()

    def start_late() -> None:
        time.sleep(4.5)
        with driver.serve(endpoint):
            started.set()
            time.sleep(60)  # the daemon thread dies with the test process

    threading.Thread(target=start_late, daemon=True).start()
    result = fsx_csi_sanity(
        f"--csi.endpoint={endpoint}",
        "--csi.connecttimeout=40s",
        f"--csi.mountdir={workdir}/mnt",
        f"--csi.stagingdir={workdir}/stage",
        "-k",
        "TestProbe",
    )
    assert started.is_set()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    waits = [line for line in result.stderr.splitlines() if "waiting for the CSI driver" in line]
    assert waits, result.stderr
    assert "channel" in waits[0] and "does not exist" in waits[0], waits[0]
    assert "faulty.csi.example 0.1.0" in result.stderr


@pytest.mark.parametrize(
    ("reply", "named"),
    [
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "an HTTP/1 server answers"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "answers something else than HTTP/2: b'SSH-2.0"),
        (b"", "closes them without a word"),
    ],
)
def test_a_listener_is_named_by_its_first_reply(reply: bytes, named: str) -> None:
    class Reply(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(64)
            self.request.sendall(reply)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Reply)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        description = describe_foreign_listener(f"127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    assert description is not None and named in description, description
