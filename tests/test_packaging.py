"""The project as users install it: the wheel, in fresh virtual environments outside the
checkout, run from another directory.

- With the harness extra, the installed copy runs `fsx-csi e2e --platform local --scenario
  dynamic` and `fsx-csi sanity` against the installed driver and emulator: its fixtures
  (scenarios, sanity parameters) come from the wheel, not from this checkout.
- Without extras (what the driver image installs), the driver serves Probe, the venv holds none
  of the harness's dependencies, and a harness command says which extra to install.

Slow: it builds the wheel and installs it twice (uv, from its cache once warm).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from fsx_csi_harness import userns
from fsx_csi_harness.csi import csi_pb2, csi_pb2_grpc
from fsx_emulator import EmulatorConfig, EmulatorServer
from reference_driver.process import DriverProcess

ROOT = Path(__file__).resolve().parents[1]
# What a build needs from the checkout (the Dockerfile's wheel stage copies the same).
SOURCES = (
    "pyproject.toml", "setup.py", "README.md", "fixtures",
    "fsx_csi_harness", "reference_driver", "sanity", "e2e", "fsx_emulator", "qualify",
)  # fmt: skip
# Distributions only the harness or the emulator need.
HARNESS_ONLY = ("moto", "kubernetes", "pytest", "pyyaml", "pytest-xdist", "werkzeug", "flask")

pytestmark = pytest.mark.slow


def _uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.exists() else shutil.which("uv")


def _no_mounts_reason() -> str | None:
    if os.geteuid() == 0:
        return None
    failure = userns.probe(os.geteuid())
    return None if failure is None else f"not root and no user namespaces: {failure}"


def run(
    argv: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout,
        check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _clean_environment(venv: Path) -> dict[str, str]:
    """The environment of a user who installed the wheel: nothing points at this checkout."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not key.startswith("PYTEST")
    }
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", os.defpath)])
    env["VIRTUAL_ENV"] = str(venv)
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1")
    return env


@dataclass(frozen=True)
class Installed:
    venv: Path
    env: dict[str, str]
    elsewhere: Path  # a working directory outside the checkout

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def fsx_csi(self) -> Path:
        return self.venv / "bin" / "fsx-csi"

    def run(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run([str(self.fsx_csi), *argv], cwd=self.elsewhere, env=self.env, timeout=timeout)

    def python_says(self, code: str) -> str:
        done = run([str(self.python), "-c", code], cwd=self.elsewhere, env=self.env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    # Outside the checkout (the system temp dir) and short: unix socket paths are limited.
    with tempfile.TemporaryDirectory(prefix="fsx-pkg-", dir="/tmp") as path:
        yield Path(path)


@pytest.fixture(scope="module")
def uv() -> str:
    found = _uv()
    if found is None:
        pytest.skip("uv is not installed (it is in the test dependency group)")
    return found


@pytest.fixture(scope="module")
def wheel(workspace: Path, uv: str) -> Path:
    # Built from a copy, so the build leaves nothing (build/, *.egg-info) in the checkout.
    source = workspace / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        elif (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    out = workspace / "dist"
    built = run(
        [uv, "build", "--quiet", "--wheel", "--out-dir", str(out), str(source)],
        cwd=workspace, env=os.environ,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel_file] = out.glob("fsx_csi_harness-*.whl")
    return wheel_file


def _install(uv: str, workspace: Path, wheel: Path, name: str, extras: str) -> Installed:
    venv = workspace / name
    elsewhere = workspace / f"{name}-cwd"
    elsewhere.mkdir()
    made = run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=workspace,
               env=os.environ)  # fmt: skip
    assert made.returncode == 0, made.stderr
    requirement = f"{wheel}[{extras}]" if extras else str(wheel)
    installed = run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), requirement],
        cwd=workspace, env=os.environ,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return Installed(venv, _clean_environment(venv), elsewhere)


@pytest.fixture(scope="module")
def harness(uv: str, workspace: Path, wheel: Path) -> Installed:
    return _install(uv, workspace, wheel, "harness-venv", "harness")


@pytest.fixture(scope="module")
def driver_only(uv: str, workspace: Path, wheel: Path) -> Installed:
    return _install(uv, workspace, wheel, "driver-venv", "")


def test_in_a_checkout_the_fixtures_are_its_top_level_directory() -> None:
    from fsx_csi_harness import data

    # The wheel's copy is never in a checkout, so the locator answers with the checkout's own.
    assert not data.PACKAGED_FIXTURES.exists()
    assert data.fixture_path() == ROOT / "fixtures"
    assert data.fixture_path("scenarios", "dynamic.yaml").is_file()


def test_the_wheel_carries_the_fixtures_and_no_fixtures_package(wheel: Path) -> None:
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "fsx_csi_harness/fixtures/scenarios/dynamic.yaml",
        "fsx_csi_harness/fixtures/manifests/base/kustomization.yaml",
        "fsx_csi_harness/fixtures/kind/cluster.yaml",
        "fsx_csi_harness/fixtures/sanity/fsx-volume-parameters.yaml",
        # The Lustre emulation's mount helper (package data without an extension).
        "fsx_emulator/lustre/mount.lustre",
    ):
        assert expected in names
    assert not any(name.startswith("fixtures/") for name in names)
    assert not any("__pycache__" in name for name in names)


def test_an_installed_copy_finds_its_fixtures_in_the_wheel(harness: Installed) -> None:
    located = Path(
        harness.python_says("from fsx_csi_harness.data import fixture_path; print(fixture_path())")
    )
    assert (
        located.is_relative_to(harness.venv) and (located / "scenarios" / "dynamic.yaml").is_file()
    )
    listed = harness.run("e2e", "--list-scenarios")
    assert listed.returncode == 0, listed.stderr
    assert "dynamic" in listed.stdout


def test_the_installed_harness_runs_e2e_from_another_directory(harness: Installed) -> None:
    reason = _no_mounts_reason()
    if reason is not None:
        pytest.skip(reason)
    report = harness.elsewhere / "e2e-report"
    done = harness.run(
        "e2e", "--platform", "local", "--scenario", "dynamic", "--report-dir", str(report),
        "--work-dir", str(harness.elsewhere), "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout and "dynamic" in done.stdout


def test_the_installed_qualify_runs_from_another_directory(harness: Installed) -> None:
    reason = _no_mounts_reason()
    if reason is not None:
        pytest.skip(reason)
    reports = harness.elsewhere / "qualify-reports"
    done = harness.run(
        "qualify", "--only", "e2e", "--scenario", "dynamic", "--report-dir", str(reports),
        "--run-id", "packaging", "--work-dir", str(harness.elsewhere),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert (reports / "packaging" / "summary.json").is_file()


def _start_emulator(installed: Installed, root: Path) -> tuple[subprocess.Popen[str], str]:
    """The installed `fsx-csi emulator`, and its endpoint URL once it listens."""
    process = subprocess.Popen(
        [str(installed.fsx_csi), "emulator", "--port", "0", "--emulation-root", str(root),
         "--emulation-tmpfs", "--creation-delay", "0.2"],
        cwd=installed.elsewhere, env=installed.env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("FSx emulator listening:"):
            settings = dict(item.split("=", 1) for item in line.split(":", 1)[1].split())
            return process, settings["AWS_ENDPOINT_URL_FSX"]
    process.kill()
    process.wait()
    raise AssertionError(f"the installed emulator did not start: {''.join(seen)}")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _installed_driver(installed: Installed, socket: Path, args: list[str]) -> DriverProcess:
    # The venv's python, from a directory outside the checkout, with no PYTHONPATH: the code
    # that runs is the wheel's.
    return DriverProcess(
        socket, args, env=installed.env, python=str(installed.python), cwd=installed.elsewhere
    )


def test_the_installed_sanity_passes_against_the_installed_driver(
    harness: Installed, workspace: Path
) -> None:
    reason = _no_mounts_reason()
    if reason is not None:
        pytest.skip(reason)
    from e2e.platforms.local.lustre_helper import LustreEmulation

    # The driver mounts through mount(8), in a namespace where it finds mount.lustre, as the
    # local platform starts drivers.
    emulation = LustreEmulation(workspace / "sanity-run")
    emulation.run_dir.mkdir()
    emulation.prepare()
    root = emulation.emulation_root
    parameters = harness.python_says(
        "from fsx_csi_harness.data import fixture_path; "
        "print(fixture_path('sanity', 'fsx-volume-parameters.yaml'))"
    )
    assert Path(parameters).is_relative_to(harness.venv)
    emulator, endpoint_url = _start_emulator(harness, root)
    try:
        driver_args = [
            "--mode", "all", "--node-id", "packaging-node", "--aws-endpoint-url", endpoint_url,
        ]  # fmt: skip
        process = _installed_driver(harness, workspace / "sanity.sock", driver_args)
        process.argv = emulation.wrap(process.argv)
        with process as driver:
            report = workspace / "sanity.json"
            done = harness.run(
                "sanity", "--csi.endpoint", f"unix://{driver.socket_path}", "--profile", "fsx",
                "--csi.testvolumeparameters", parameters, "--json-report", str(report),
                "--csi.mountdir", str(emulation.run_dir / "csi-mount"),
                "--csi.stagingdir", str(emulation.run_dir / "csi-staging"),
            )  # fmt: skip
    finally:
        _stop(emulator)
        assert emulation.release() == []
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert json.loads(report.read_text())  # the suite wrote its result


def test_the_driver_only_install_carries_no_harness_dependency(
    uv: str, driver_only: Installed
) -> None:
    frozen = run([uv, "pip", "freeze", "--python", str(driver_only.python)],
                 cwd=driver_only.elsewhere, env=driver_only.env)  # fmt: skip
    assert frozen.returncode == 0, frozen.stderr
    installed = {line.split("==")[0].split(" @ ")[0].lower() for line in frozen.stdout.split()}
    assert {"grpcio", "protobuf", "boto3", "fsx-csi-harness"} <= installed
    assert not installed & set(HARNESS_ONLY), sorted(installed & set(HARNESS_ONLY))


def test_the_driver_only_install_serves_probe(driver_only: Installed, workspace: Path) -> None:
    root = workspace / "driver-only-emulation-root"
    root.mkdir()
    # The emulator runs in this test's process: the driver-only venv has none.
    with EmulatorServer(EmulatorConfig(emulation_root=root), host="127.0.0.1", port=0) as emu:
        driver_args = [
            "--mode", "all", "--node-id", "driver-only-node",
            "--aws-endpoint-url", emu.endpoint_url,
        ]  # fmt: skip
        with (
            _installed_driver(driver_only, workspace / "driver-only.sock", driver_args) as driver,
            grpc.insecure_channel(driver.address) as channel,
        ):
            answer = csi_pb2_grpc.IdentityStub(channel).Probe(csi_pb2.ProbeRequest(), timeout=10)
            info = csi_pb2_grpc.IdentityStub(channel).GetPluginInfo(
                csi_pb2.GetPluginInfoRequest(), timeout=10
            )
    assert answer.ready.value
    assert info.name == "fsx.csi.aws.com"


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["e2e", "--list-scenarios"], "harness"),
        (["sanity", "--help"], "harness"),
        (["emulator"], "emulator"),
    ],
)
def test_a_command_without_its_extra_names_the_extra(
    driver_only: Installed, argv: list[str], extra: str
) -> None:
    done = driver_only.run(*argv)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert f"needs the {extra} extra" in line
    assert line.endswith(f"pip install 'fsx-csi-harness[{extra}]'")
    assert "Traceback" not in done.stderr


def test_driver_help_works_without_any_extra(driver_only: Installed) -> None:
    done = driver_only.run("driver", "--help")
    assert done.returncode == 0 and "--endpoint" in done.stdout
    assert driver_only.run("--help").returncode == 0
