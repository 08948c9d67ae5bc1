"""Run ids: one generator for every run the harness makes (report bundles, e2e runs, the tags
it puts on every file system it creates)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime


def new_run_id(clock: Callable[[], datetime] = lambda: datetime.now(UTC), prefix: str = "") -> str:
    """Sortable by start time, unique across concurrent runs on one machine."""
    return f"{prefix}{clock().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
