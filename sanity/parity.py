"""Print the parity table: every ported csi-sanity case -> the pytest node id that ports it.

python -m sanity.parity            # markdown rows, as in sanity/README.md
"""

from __future__ import annotations

import importlib
import inspect
import sys

from sanity.spec import IT_ATTRIBUTE, upstream_name

MODULES = (
    "test_identity",
    "test_controller",
    "test_snapshots",
    "test_expand",
    "test_modify",
    "test_node",
    "test_group_controller",
    "test_fsx",
    "test_strict",
)


def cases() -> list[tuple[str, str, str]]:
    """(service, upstream name, node id) of every case, in file order."""
    rows = []
    for module_name in MODULES:
        module = importlib.import_module(f"sanity.cases.{module_name}")
        classes = [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__ and cls.__name__.startswith("Test")
        ]
        classes.sort(key=lambda cls: inspect.getsourcelines(cls)[1])
        for cls in classes:
            functions = [
                (name, function)
                for name, function in vars(cls).items()
                if name.startswith("test_") and hasattr(function, IT_ATTRIBUTE)
            ]
            for name, function in functions:
                it_text = getattr(function, IT_ATTRIBUTE)
                nodeid = f"sanity/cases/{module_name}.py::{cls.__name__}::{name}"
                service, describe = getattr(cls, "SERVICE", ""), getattr(cls, "DESCRIBE", "")
                rows.append((str(service), upstream_name(str(describe), it_text), nodeid))
    return rows


def markdown() -> str:
    lines = [
        "| # | service | csi-sanity case (Describe path + It) | our test |",
        "|---|---|---|---|",
    ]
    for number, (service, upstream, nodeid) in enumerate(cases(), start=1):
        lines.append(f"| {number} | {service} | {upstream} | `{nodeid}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown() + "\n")
