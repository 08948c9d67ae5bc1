"""The `fsx-csi` command-line contract (README.md, "Commands"): the subcommands exist,
`--help` is fast and imports no subcommand, only the chosen subcommand's module is loaded, no
flag is matched by its prefix, and a missing extra is named."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from fsx_csi_harness import __version__, cli
from fsx_csi_harness.cli import COMMANDS, SUBCOMMANDS, Command


def fsx_csi(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fsx_csi_harness", *argv],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_subcommand_help_runs_in_a_fresh_interpreter(command: str) -> None:
    started = time.monotonic()
    result = fsx_csi(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: fsx-csi {command}" in result.stdout
    assert COMMANDS[command].help.split()[0] in result.stdout
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_table_help_is_the_module_help(command: str) -> None:
    # `fsx-csi --help` shows the table's line without importing the module: the two must agree.
    module = importlib.import_module(COMMANDS[command].module)
    assert COMMANDS[command].help == module.HELP


# Imports what `fsx-csi ARGV` would, then prints the project's and heavy modules it loaded.
_LOADED_BY = """
import json, sys
from fsx_csi_harness import cli
try:
    cli.main(sys.argv[1:])
except SystemExit:
    pass
watched = {"reference_driver", "fsx_emulator", "sanity", "e2e", "qualify", "moto", "yaml",
           "kubernetes", "pytest", "grpc", "boto3"}
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules} & watched)))
"""


def loaded_by(*argv: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _LOADED_BY, *argv],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_top_level_help_imports_no_subcommand() -> None:
    assert loaded_by("--help") == []


def test_a_subcommand_loads_only_its_own_module() -> None:
    assert loaded_by("driver", "--help") == ["reference_driver"]
    assert "reference_driver" not in loaded_by("report", "--help")


def test_version_unknown_commands_and_missing_commands_behave_as_argparse_does() -> None:
    version = fsx_csi("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"fsx-csi {__version__}"
    unknown = fsx_csi("bogus")
    assert unknown.returncode == 2
    assert "invalid choice: 'bogus'" in unknown.stderr and "Traceback" not in unknown.stderr
    none = fsx_csi()
    assert none.returncode == 2 and "required: COMMAND" in none.stderr


def test_top_level_help_lists_every_subcommand() -> None:
    result = fsx_csi("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert f"    {name}" in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["e2e", "--aws-endpoint", "http://x"],  # not --aws-endpoint-url
        ["driver", "--endpoint", "unix:///x.sock", "--mode=all", "--log-lev", "debug"],
        ["report", "show", "--js", "reports/x"],  # sub-sub-parsers too
    ],
)
def test_no_flag_is_taken_by_its_prefix(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.parse_args(argv)
    assert exited.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_the_command_is_the_first_word_that_is_not_an_option() -> None:
    assert cli.command_named_by(["--version"]) is None
    assert cli.command_named_by(["-h", "e2e", "--platform", "local"]) == "e2e"
    assert cli.command_named_by(["--", "e2e"]) is None


def test_every_extra_a_command_needs_is_declared_and_installed_here() -> None:
    requires = metadata.distribution(cli.DISTRIBUTION).requires or []
    harness = cli._requirements_of("harness", requires)
    # `harness` includes the emulator's extra, expanded.
    assert set(cli._requirements_of("emulator", requires)) <= set(harness)
    for name in ("moto", "kubernetes", "PyYAML", "pytest"):
        assert name in harness
    for command in COMMANDS.values():
        if command.extra is not None:
            assert cli._requirements_of(command.extra, requires), command.extra
            assert cli.missing_requirements(command.extra) == []


def test_a_missing_dependency_is_one_line_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "needs_a_dependency.py").write_text("import fsx_csi_no_such_dependency\n")
    (tmp_path / "needs_a_project_module.py").write_text("import e2e.no_such_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(COMMANDS, "fake", Command("needs_a_dependency", "x", "harness"))
    assert cli.main(["fake"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        "fsx-csi fake: needs the harness extra (fsx_csi_no_such_dependency is not installed): "
        "pip install 'fsx-csi-harness[harness]'"
    )
    # A module of the project that is missing is a bug, not a missing extra: it is not hidden.
    monkeypatch.setitem(COMMANDS, "fake", Command("needs_a_project_module", "x", "harness"))
    with pytest.raises(ModuleNotFoundError):
        cli.main(["fake"])
