"""The one-way import rule, over the project's own source (every `import` statement, at module
level or inside a function, TYPE_CHECKING blocks included: a lazy import is a dependency too).

Layers, top to bottom: qualify and the command modules -> the suites (sanity, e2e.throughput)
-> the platforms (e2e.platforms) -> the e2e contract (scenario model, results, waits, leak
guard, the scenario runner) -> the shared ground floor (fsx_csi_harness). The products,
reference_driver and fsx_emulator, stand on the ground floor alone. fsx_csi_harness/cli.py,
the dispatcher, is exempt: it names the command modules as strings and imports only the one a
command line asks for.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = ("fsx_csi_harness", "reference_driver", "fsx_emulator", "sanity", "e2e", "qualify")
DISPATCHER = "fsx_csi_harness.cli"
PRODUCTS = ("reference_driver", "fsx_emulator")


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.imported}"


def modules_under(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> source file, for every .py file of `packages` under `root`."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def imports_of(
    module: str, path: Path, known: Mapping[str, Path], tops: Iterable[str]
) -> list[Edge]:
    """Every project module `module` imports (`from package import submodule` names the
    submodule), relative imports resolved."""
    tops = tuple(tops)
    edges: list[Edge] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = (
                _absolute(module, path.name == "__init__.py", node.level, node.module)
                if node.level
                else (node.module or "")
            )
            names = [target]
            names += [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
        for name in names:
            if name.partition(".")[0] in tops and name != module:
                edges.append(Edge(module, name, getattr(node, "lineno", 0)))
    return edges


MODULES = modules_under(ROOT, TOP_LEVEL)
EDGES = [
    edge for name, path in MODULES.items() for edge in imports_of(name, path, MODULES, TOP_LEVEL)
]
# What the rules judge: the dispatcher's imports are by name, on purpose.
JUDGED = [edge for edge in EDGES if edge.importer != DISPATCHER]


def top(module: str) -> str:
    return module.partition(".")[0]


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# The e2e suite's contract with its platforms: the scenario model, the results and waits it
# speaks in, the leak guard, and the one scenario runner with the operations protocol that
# every platform implements. Platforms import it (they hand the runner their operations); it
# imports no platform.
E2E_CONTRACT = ("e2e.scenarios", "e2e.results", "e2e.progress", "e2e.leaks", "e2e.runner")


def layer(module: str) -> int:
    """0 the ground floor and the products, 1 the e2e contract, 2 platforms, 3 suites,
    4 qualify and commands."""
    if top(module) in ("fsx_csi_harness", *PRODUCTS):
        return 0
    if within(module, "qualify") or module.rpartition(".")[2] == "cli":
        return 4
    if module == "e2e" or any(within(module, name) for name in E2E_CONTRACT):
        return 1
    if within(module, "e2e.platforms"):
        return 2
    return 3


LAYER_NAMES = {
    0: "the ground floor",
    1: "the e2e contract",
    2: "platforms",
    3: "suites",
    4: "qualify and commands",
}


def _report(edges: list[Edge]) -> str:
    return "\n".join(f"  {edge}" for edge in edges)


def test_the_collector_sees_lazy_relative_and_submodule_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import leaf\n")
    (package / "sub" / "leaf.py").write_text("def later():\n    from ..sub import other\n")
    (package / "sub" / "other.py").write_text("import pkg.sub.leaf as leaf\nimport json\n")
    known = modules_under(tmp_path, ["pkg"])
    edges = {
        (edge.importer, edge.imported)
        for name, path in known.items()
        for edge in imports_of(name, path, known, ["pkg"])
    }
    assert edges == {
        ("pkg.sub", "pkg.sub.leaf"),  # `from . import leaf` names the submodule
        ("pkg.sub.leaf", "pkg.sub"),  # inside a function, two levels up
        ("pkg.sub.leaf", "pkg.sub.other"),
        ("pkg.sub.other", "pkg.sub.leaf"),
    }


def test_the_graph_covers_the_project() -> None:
    # Function-level imports count: qualify's command imports its runner inside run().
    pairs = {(edge.importer, edge.imported) for edge in EDGES}
    assert ("qualify.cli", "qualify.run") in pairs
    assert {top(module) for module in MODULES} == set(TOP_LEVEL)


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every elementary circle's node list, each reported once (from its smallest node)."""
    circles: list[list[str]] = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for following in sorted(graph.get(node, ())):
            if following == start:
                circles.append([*path, start])
            elif following > start and following not in path:
                walk(start, following, [*path, following])

    for start in sorted(graph):
        walk(start, start, [start])
    return circles


def test_no_circles_between_top_level_components() -> None:
    graph: dict[str, set[str]] = {}
    for edge in JUDGED:
        if top(edge.importer) != top(edge.imported):
            graph.setdefault(top(edge.importer), set()).add(top(edge.imported))
    circles = _cycles(graph)
    details = [
        f"{' -> '.join(circle)}:\n"
        + _report(
            [
                edge
                for edge in JUDGED
                for a, b in itertools.pairwise(circle)
                if top(edge.importer) == a and top(edge.imported) == b
            ]
        )
        for circle in circles
    ]
    assert not circles, "import circles between components:\n" + "\n".join(details)


@pytest.mark.parametrize("product", PRODUCTS)
def test_the_products_import_only_the_ground_floor(product: str) -> None:
    wrong = [
        edge
        for edge in JUDGED
        if top(edge.importer) == product
        and top(edge.imported) != product
        and (top(edge.imported) != "fsx_csi_harness" or edge.imported == DISPATCHER)
    ]
    assert not wrong, f"{product} must import only itself and fsx_csi_harness:\n{_report(wrong)}"


def test_sanity_imports_nothing_of_the_reference_driver() -> None:
    # The suite checks any driver; knowing the reference driver's insides would hide bugs.
    wrong = [
        e for e in JUDGED if top(e.importer) == "sanity" and top(e.imported) == "reference_driver"
    ]
    assert not wrong, _report(wrong)


def test_the_csi_bindings_import_nothing_else_of_the_project() -> None:
    wrong = [
        edge
        for edge in JUDGED
        if within(edge.importer, "fsx_csi_harness.csi")
        and not within(edge.imported, "fsx_csi_harness.csi")
        and edge.imported != "fsx_csi_harness"  # `from fsx_csi_harness import csi`
    ]
    assert not wrong, _report(wrong)


def test_the_ground_floor_imports_nothing_above_it() -> None:
    wrong = [
        edge
        for edge in JUDGED
        if top(edge.importer) == "fsx_csi_harness" and top(edge.imported) != "fsx_csi_harness"
    ]
    assert not wrong, _report(wrong)


def test_layers_import_only_downwards() -> None:
    wrong = [edge for edge in JUDGED if layer(edge.imported) > layer(edge.importer)]
    assert not wrong, "imports that point up a layer:\n" + "\n".join(
        f"  {edge} ({LAYER_NAMES[layer(edge.importer)]} -> {LAYER_NAMES[layer(edge.imported)]})"
        for edge in wrong
    )
