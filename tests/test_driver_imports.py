"""`fsx-csi driver`, the process the manifests run, imports only the driver: started as users
start it (a real process, `--mode all` against the FSx emulator), it has answered Probe with
ready=true without importing anything of the harness, the emulator or their dependencies.

What the process imported comes from Python's own import log (PYTHONPROFILEIMPORTTIME, the
environment form of `-X importtime`), read once Probe has been answered.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from fsx_emulator import EmulatorConfig, EmulatorServer
from reference_driver.process import DriverProcess

# The harness (and the emulator) and what only they depend on.
NEVER_IN_THE_DRIVER = (
    "sanity", "e2e", "qualify", "fsx_emulator",
    "moto", "werkzeug", "flask", "kubernetes", "yaml", "pytest", "_pytest", "xdist",
)  # fmt: skip
# What the driver is made of: the log must show these, or it is not the log of the driver.
THE_DRIVER = ("reference_driver", "fsx_csi_harness", "grpc", "google", "boto3", "botocore")

_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$")


def imported_modules(log: str) -> set[str]:
    """The modules an `-X importtime` log records as imported."""
    return {match.group(1) for line in log.splitlines() if (match := _IMPORT_LINE.match(line))}


def test_the_import_log_parser_reads_python_s_format() -> None:
    log = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   _io\n"
        "import time:      2003 |       9051 | reference_driver.server\n"
        "driver: listening\n"
    )
    assert imported_modules(log) == {"_io", "reference_driver.server"}


@pytest.fixture
def work_dir() -> Iterator[Path]:
    # A short path: unix socket paths are limited to 107 bytes.
    with tempfile.TemporaryDirectory(prefix="fsx-drv-imp-", dir="/tmp") as path:
        yield Path(path)


def test_the_driver_process_imports_nothing_of_the_harness(work_dir: Path) -> None:
    root = work_dir / "emulation-root"
    root.mkdir()
    config = EmulatorConfig(creation_delay=0.0, emulation_root=root)
    with EmulatorServer(config, host="127.0.0.1", port=0) as emulator:
        driver = DriverProcess(
            work_dir / "csi.sock",
            [
                "--mode", "all", "--node-id", "imports-node", "--region", "us-east-1",
                "--aws-endpoint-url", emulator.endpoint_url,
            ],
            env={
                "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                "PYTHONPROFILEIMPORTTIME": "1",
            },
            python=sys.executable,
        )  # fmt: skip
        with driver, grpc.insecure_channel(driver.address) as channel:
            # DriverProcess returns once Probe answered; ask once more, with the FSx API
            # reachable, so the controller's path has run too.
            answer = csi_pb2_grpc.IdentityStub(channel).Probe(csi_pb2.ProbeRequest(), timeout=10)
            assert answer.ready.value, driver.logs()
            imported = imported_modules(driver.logs())
    top_level = {name.partition(".")[0] for name in imported}
    assert set(THE_DRIVER) <= top_level, sorted(top_level)
    harness = sorted(name for name in imported if name.partition(".")[0] in NEVER_IN_THE_DRIVER)
    assert not harness, f"`fsx-csi driver` imported {harness}"
