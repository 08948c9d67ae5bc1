"""Platforms the e2e scenarios run on, and the contract each one implements.

A platform is the module or package `e2e/platforms/<name>` (every name in PLATFORM_NAMES:
local, kind, cluster, k3s) and exposes

    def create_platform() -> Platform

with only the stdlib imported at module level (heavy imports inside the methods), so that the
CLI can list and load platforms cheaply. The CLI loads scenarios, applies variable overrides,
asks the platform for missing prerequisites (a clear message and exit code 2 when any is
missing), then calls `run` and turns the `RunResult` into an exit code and a report.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, cast

if TYPE_CHECKING:
    from e2e.progress import Progress
    from e2e.results import RunResult
    from e2e.scenarios import Scenario

PLATFORM_NAMES = ("local", "kind", "cluster", "k3s")
DriverChoice = Literal["reference", "installed"]


@dataclass(frozen=True)
class Prerequisite:
    """Something a platform needs that this machine lacks, and what to do about it."""

    what: str  # "docker", "kind", "a kubeconfig", "AWS credentials", "root"
    seen: str  # what was found instead ("not on PATH", "/root/.kube/config missing")
    hint: str  # what to try

    def __str__(self) -> str:
        return f"{self.what}: {self.seen}; try: {self.hint}"


@dataclass(frozen=True)
class RunOptions:
    """Everything a platform needs from the command line, read once by the CLI."""

    run_id: str
    driver: DriverChoice = "reference"
    # None: the platform runs the FSx emulator itself (embedded for local, in-cluster for kind).
    aws_endpoint_url: str | None = None
    region: str = "us-east-1"
    keep_cluster: bool = False
    # Where the platform saves logs, events and object dumps (the report bundle's raw outputs).
    report_dir: Path | None = None
    # Parent of the run-scoped working directory (sockets, emulation root, pod volumes).
    work_dir: Path | None = None
    kubeconfig: Path | None = None
    # The real-AWS settings file (--aws-settings: subnet, security groups, deployment type) for
    # the cluster platform; read with fsx_csi_harness.aws_settings.load_aws_settings.
    aws_settings: Path | None = None
    # Emulator lifecycle delay when the platform starts its own emulator.
    creation_delay_s: float = 1.0
    # Longest wait for a claim to bind / a file system to become available.
    provision_timeout_s: float = 300.0
    # Platform-specific settings from `--set KEY=VALUE` (for example image=..., kind-config=...).
    settings: Mapping[str, str] = field(default_factory=dict)
    # Another driver's manifests to deploy instead of the reference driver (kind, cluster,
    # k3s): a kustomize directory, a directory of YAML manifests, or one YAML file.
    manifests: Path | None = None


class Platform(Protocol):
    name: str

    def missing_prerequisites(self, options: RunOptions) -> list[Prerequisite]:
        """What this machine lacks to run the platform; empty when it can run."""
        ...

    def run(
        self, scenarios: Sequence[Scenario], options: RunOptions, progress: Progress
    ) -> RunResult:
        """Run every scenario, clean up (also on failure and Ctrl-C), sweep for leaks.

        A scenario that fails does not stop the others; the result lists them all.
        """
        ...


class PrerequisiteMissing(Exception):
    """The machine lacks what a platform needs; `missing` says what and what to try."""

    def __init__(self, missing: Sequence[Prerequisite]) -> None:
        super().__init__("; ".join(str(m) for m in missing))
        self.missing = list(missing)


class PlatformUnavailable(Exception):
    """The platform's module is not there (not built in this version) or cannot load."""


def load_platform(name: str) -> Platform:
    if name not in PLATFORM_NAMES:
        raise PlatformUnavailable(
            f"unknown platform {name!r}: expected one of {', '.join(PLATFORM_NAMES)}"
        )
    module_name = f"e2e.platforms.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise PlatformUnavailable(
                f"platform {name!r} is not available in this installation: module "
                f"{module_name} is missing; try --platform local"
            ) from exc
        raise PlatformUnavailable(
            f"platform {name!r} needs the Python module {exc.name!r}, which is not installed; "
            "try installing the project with its extras (for example `pip install "
            "fsx-csi-harness[k3s]`)"
        ) from exc
    factory = getattr(module, "create_platform", None)
    if factory is None:
        raise PlatformUnavailable(f"{module_name} defines no create_platform()")
    return cast(Platform, factory())
