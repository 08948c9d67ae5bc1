"""Where the project's data files are: one locator for fixtures/ (scenarios, manifests, kind
configs, sanity parameter profiles, the AWS settings example).

In a checkout (and an editable install, which runs the checkout), they are the top-level
fixtures/ directory; in an installed wheel, the copy the build puts at fsx_csi_harness/fixtures
(setup.py). Nothing else computes a fixtures path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

_PACKAGE_DIR: Final = Path(__file__).resolve().parent
# The wheel's copy. Looked at first: beside an installed package, `site-packages/fixtures`
# would be someone else's (`fixtures` is a PyPI distribution).
PACKAGED_FIXTURES: Final = _PACKAGE_DIR / "fixtures"
CHECKOUT_ROOT: Final = _PACKAGE_DIR.parent
CHECKOUT_FIXTURES: Final = CHECKOUT_ROOT / "fixtures"


def fixtures_root() -> Path:
    """The fixtures directory of this copy of the project.

    When neither place has it (a wheel built without its data), the checkout's path is
    returned all the same, so that whoever reads a file there says which path is missing.
    """
    if PACKAGED_FIXTURES.is_dir():
        return PACKAGED_FIXTURES
    return CHECKOUT_FIXTURES


def fixture_path(*parts: str) -> Path:
    """A path under fixtures/, e.g. fixture_path("scenarios") or
    fixture_path("kind", "cluster.yaml")."""
    return fixtures_root().joinpath(*parts)
