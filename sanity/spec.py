"""Decorators that tie each sanity case to its csi-sanity counterpart.

A case class names csi-test's Describe path and the service it belongs to; each case names
the It text. The plugin joins them into the upstream case name that the JUnit properties, the
JSON result and the parity table (`python -m sanity.parity`) show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., object])

IT_ATTRIBUTE = "__csi_sanity_it__"
EXCLUSIVE_ATTRIBUTE = "__csi_sanity_exclusive__"
EXCLUSIVE_CONDITION_ATTRIBUTE = "__csi_sanity_exclusive_if__"
PROVISIONS_ATTRIBUTE = "__csi_sanity_provisions__"
# On a case class: the profile (fsx, strict) whose cases it holds; none for csi-sanity's own.
PROFILE_ATTRIBUTE = "PROFILE"


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


def exclusive_if(condition: Callable[[Any], bool]) -> Callable[[F], F]:
    """Like `exclusive`, for a case that counts only when `condition(sanity)` holds (for
    example only when the driver offers ListVolumes). The plugin asks the condition when
    the case's body is about to run; when it does not hold, the case runs like any other
    (shared lock around each count-changing RPC) and stops no other worker."""

    def mark(function: F) -> F:
        setattr(function, EXCLUSIVE_ATTRIBUTE, True)
        setattr(function, EXCLUSIVE_CONDITION_ATTRIBUTE, condition)
        return function

    return mark


def provisions(function: F) -> F:
    """The case creates volumes or snapshots when the driver offers them, so it lasts as long
    as the driver takes to provision (minutes on real FSx). A scheduling hint only: such
    cases run before the quick ones, so that in a parallel run the quick ones fill the
    workers' last gaps instead of one worker finishing alone with several slow cases."""
    setattr(function, PROVISIONS_ATTRIBUTE, True)
    return function


def upstream_name(describe: str, it_text: str) -> str:
    return f"{describe} {it_text}".strip()
