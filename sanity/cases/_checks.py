"""Checks more than one profile makes on what a driver did to the file system."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from fsx_csi_harness import mountinfo

PROBE_NAME = ".csi-sanity-write-probe"


def assert_writes_refused(target: str) -> None:
    """A read-only publish at `target` must refuse a write through it.

    Only a mount can refuse writes to the root user, so a target that is not a mount point
    (a driver that publishes without mounting) is skipped: enforcement is not observable.
    """
    assert Path(target).is_dir(), f"read-only NodePublishVolume left no directory at {target}"
    if not mountinfo.is_mount_point(str(Path(target).resolve())):
        pytest.skip(
            f"{target} is not a mount point (the driver publishes without mounting), so "
            "read-only enforcement cannot be observed from here"
        )
    probe = Path(target, PROBE_NAME)
    try:
        probe.write_text("must not be written")
    except OSError as exc:
        assert exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM), exc
    else:
        probe.unlink()
        raise AssertionError(f"a read-only publish at {target} accepted a write")
