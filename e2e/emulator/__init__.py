"""The FSx API emulator: moto's FSx backend with AWS's documented FSx for Lustre behaviour.

    from e2e.emulator import EmulatorServer, EmulatorConfig, EmulatorControl

Names are imported lazily so that `fsx-csi emulator --help` (which imports e2e.emulator.cli)
does not pay for importing moto.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from e2e.emulator.config import EmulatorConfig
    from e2e.emulator.control import EmulatorControl
    from e2e.emulator.server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorControl", "EmulatorServer"]

_LAZY = {
    "EmulatorConfig": "e2e.emulator.config",
    "EmulatorControl": "e2e.emulator.control",
    "EmulatorServer": "e2e.emulator.server",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'e2e.emulator' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
