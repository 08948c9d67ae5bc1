"""CI entry point. `nox` runs the default sessions (the test run); `nox -l` lists them all.

Dependencies come from pyproject.toml (the project and its dependency groups); posargs pass
through to the tool each session runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests", "sanity", "e2e_local"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"


def install(session: nox.Session, *groups: str, extras: Sequence[str] = ("harness",)) -> None:
    """Install the project (editable, so the tests see the working tree) with its extras (the
    core dependencies are the driver's alone; the harness extra brings everything above it)
    and dependency groups."""
    deps: list[str] = []
    for group in groups:
        deps += nox.project.dependency_groups(PYPROJECT, group)
    project = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", project, *deps)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Static checks: ruff (lint and format) and mypy --strict."""
    install(session, "lint", "test")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", *(session.posargs or ["."]))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The project's own tests: emulator, driver, sanity, e2e, throughput, reports."""
    install(session, "test")
    session.run("pytest", *(session.posargs or ["tests"]))


@nox.session(python=PYTHON)
def sanity(session: nox.Session) -> None:
    """csi-sanity against the reference driver on the FSx emulator, serially and with 4 workers."""
    install(session, "test")
    session.run("fsx-csi", "qualify", "--only", "sanity", *session.posargs)
    session.run("fsx-csi", "qualify", "--only", "sanity", "--sanity-workers", "4", *session.posargs)


@nox.session(python=PYTHON)
def e2e_local(session: nox.Session) -> None:
    """The e2e scenarios on the local platform (no cluster; real gRPC, mounts and processes)."""
    install(session, "test")
    session.run("fsx-csi", "e2e", "--platform", "local", *session.posargs)


@nox.session(python=PYTHON, default=False)
def e2e_kind(session: nox.Session) -> None:
    """The e2e scenarios on a throwaway kind cluster (needs docker and kind on PATH)."""
    install(session, "test")
    session.run("fsx-csi", "e2e", "--platform", "kind", *session.posargs)


@nox.session(python=PYTHON, default=False)
def e2e_cluster(session: nox.Session) -> None:
    """The e2e scenarios on the cluster of the current kubeconfig (pass flags after --)."""
    install(session, "test")
    session.run("fsx-csi", "e2e", "--platform", "cluster", *session.posargs)


@nox.session(python=PYTHON, default=False)
def e2e_k3s(session: nox.Session) -> None:
    """The e2e scenarios on a throwaway K3s cluster from testcontainers (needs a Docker engine)."""
    install(session, "test", extras=("harness", "k3s"))
    session.run("fsx-csi", "e2e", "--platform", "k3s", *session.posargs)


@nox.session(python=PYTHON, default=False)
def throughput(session: nox.Session) -> None:
    """Throughput tests on the local platform (fio if installed); writes a report bundle."""
    install(session, "test")
    session.run("fsx-csi", "throughput", "--platform", "local", *session.posargs)


@nox.session(python=PYTHON, default=False)
def qualify(session: nox.Session) -> None:
    """Release qualification: sanity, e2e and throughput in one report bundle."""
    install(session, "test")
    session.run("fsx-csi", "qualify", *session.posargs)


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Performance benchmarks of the emulator, driver and sanity suite (figures to stdout)."""
    install(session, "test")
    for script in ("emulator_bench.py", "driver_bench.py", "sanity_bench.py"):
        session.run("python", f"benchmarks/{script}", *session.posargs)


@nox.session(python=PYTHON, default=False)
def codegen(session: nox.Session) -> None:
    """Regenerate the CSI protocol bindings from fsx_csi_harness/csi/csi.proto."""
    install(session, "codegen", extras=())
    session.run("python", "-m", "fsx_csi_harness.csi.generate", *session.posargs)
