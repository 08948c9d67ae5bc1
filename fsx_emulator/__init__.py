"""The FSx API emulator: moto's FSx backend with AWS's documented FSx for Lustre behaviour.

    from fsx_emulator import EmulatorServer, EmulatorConfig, EmulatorControl

Names are imported lazily so that `fsx-csi emulator --help` (which imports fsx_emulator.cli)
does not pay for importing moto.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fsx_emulator.config import EmulatorConfig
    from fsx_emulator.control import EmulatorControl
    from fsx_emulator.server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorControl", "EmulatorServer"]

_LAZY = {
    "EmulatorConfig": "fsx_emulator.config",
    "EmulatorControl": "fsx_emulator.control",
    "EmulatorServer": "fsx_emulator.server",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'fsx_emulator' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
