"""Decorators that tie each sanity case to its csi-sanity counterpart.

A case class names csi-test's Describe path and the service it belongs to; each case names
the It text. The plugin joins them into the upstream case name that the JUnit properties, the
JSON result and the parity table (`python -m sanity.parity`) show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

IT_ATTRIBUTE = "__csi_sanity_it__"
EXCLUSIVE_ATTRIBUTE = "__csi_sanity_exclusive__"


def it(text: str) -> Callable[[F], F]:
    """The csi-test It(...) text this case ports."""

    def mark(function: F) -> F:
        setattr(function, IT_ATTRIBUTE, text)
        return function

    return mark


def exclusive(function: F) -> F:
    """The case counts what the whole driver holds, so no other case may run meanwhile
    (in any xdist worker)."""
    setattr(function, EXCLUSIVE_ATTRIBUTE, True)
    return function


def upstream_name(describe: str, it_text: str) -> str:
    return f"{describe} {it_text}".strip()
