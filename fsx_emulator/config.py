"""The emulator's configuration: one frozen object built by the CLI or a test, passed inward.

Stdlib only, so that `fsx-csi emulator --help` does not import moto.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulated FSx region behaves.

    Delays are in seconds. AWS takes minutes to create a file system; tests want the same
    sequence of states in a fraction of a second, so every delay is configurable.
    """

    region: str = "us-east-1"
    # CREATING -> AVAILABLE (file systems) and CREATING -> AVAILABLE (data repository
    # associations). Settable later for the whole emulator or one file system.
    creation_delay: float = 1.0
    # DELETING -> gone.
    deletion_delay: float = 0.5
    # Time each AdministrativeAction phase (PENDING, IN_PROGRESS, UPDATED_OPTIMIZING) lasts.
    update_delay: float = 0.2
    # Lustre emulation: when set, <root>/<file-system-id>/<MountName>/ exists exactly while
    # the file system can be mounted (see README.md, "Lustre emulation contract").
    emulation_root: Path | None = None
    account_id: str = "123456789012"
    vpc_id: str = "vpc-0a1b2c3d4e5f60718"

    def __post_init__(self) -> None:
        for name in ("creation_delay", "deletion_delay", "update_delay"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"EmulatorConfig.{name} must be >= 0 seconds, got {value}")
        if not (len(self.account_id) == 12 and self.account_id.isdigit()):
            raise ValueError(
                f"EmulatorConfig.account_id must be 12 digits, got {self.account_id!r}"
            )
