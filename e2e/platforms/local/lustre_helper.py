"""The Lustre emulation on the local platform: its own file systems and the mount helper,
installed only inside private mount namespaces.

Drivers mount the normal way (`mount -t lustre ...`), so
mount(8) must find the emulation's `mount.lustre` where it looks for helpers (/sbin). This
host may have no /sbin/mount.lustre to bind over, and creating one would write to the host's
/sbin even from inside a namespace; and a host with a real Lustre client must keep it. So:

* `LustreEmulation.prepare` (in the harness's own namespace, before any driver starts) mounts
  a tmpfs on the run's emulation root (the emulator mounts one per file system inside it), a
  small tmpfs holding the rendered helper, and makes the run directory a shared mount, so that
  what a driver mounts under it (its targets) is seen by the harness and the pods;
* every driver process starts through `wrap`: `unshare --mount` gives it a mount namespace of
  its own, where the mount holding /sbin is made a slave (nothing mounted on it reaches the
  parent) and an overlay with the helper as its upper layer covers /sbin. The overlay dies
  with the driver's namespace; the host's /sbin never changes.

The harness itself runs in a private mount namespace of its own (as another user than root, in a
user + mount namespace; fsx_csi_harness/userns.py), or, as root where none can be made, in the
host's. All work the same way here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from e2e.leaks import sweep_mounts
from fsx_csi_harness.results import Leak
from fsx_emulator import lustre

# Runs in the driver's new mount namespace: $1 the sbin directory mount(8) searches, $2 the
# helper's layer (a tmpfs: the overlay's upper and work directories, the staging directory),
# then the driver's command.
_INSTALL = r"""
set -eu
sbin=$1; layer=$2; shift 2
holder=$(findmnt --noheadings --output TARGET --target "$sbin")
mount --make-slave "$holder"
# This namespace's copy of the layer propagates nothing: the helper's staging mounts stay here.
mount --make-private "$layer"
# Each namespace's overlay gets upper and work directories of its own: overlayfs must not share
# them between mounts (drivers start at the same time; a shared workdir is undefined behaviour
# and made a concurrent mount fail with exit 32).
own=$(mktemp -d "$layer/namespace.XXXXXX")
cp -a "$layer/upper" "$own/upper"
mkdir "$own/work"
layers="lowerdir=$sbin,upperdir=$own/upper,workdir=$own/work"
mount -t overlay fsx-lustre-helper -o "$layers" "$sbin"
exec "$@"
"""
# A mount(8) of this namespace that finds the helper answers its version: the preflight.
_CHECK = ("mount.lustre", "--version")

Run = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=30, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


class HelperUnavailable(Exception):
    """The emulation cannot be installed here; the message says why and what to try."""


def sbin_directory() -> Path:
    """Where mount(8) looks for `mount.<type>` helpers, as this system lays it out (/sbin,
    or /usr/sbin where /sbin is a symlink to it, as on merged-/usr Debian)."""
    return Path(os.path.realpath("/sbin"))


def _said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join((done.stderr or done.stdout or f"exit {done.returncode}").split())


@dataclass
class LustreEmulation:
    """The run's emulation root and helper; a context manager for what it mounts."""

    run_dir: Path
    # The root an external FSx emulator serves (--set emulation-root); None: the run's own,
    # a tmpfs mounted here.
    external_root: Path | None = None
    run: Run = _run

    def __post_init__(self) -> None:
        self.emulation_root = self.external_root or self.run_dir / "emulation"
        self.helper_dir = self.run_dir / "lustre-helper"
        self.sbin = sbin_directory()
        self._mounted: list[Path] = []

    @property
    def upper(self) -> Path:
        return self.helper_dir / "upper"

    @property
    def work(self) -> Path:
        return self.helper_dir / "work"

    @property
    def staging(self) -> Path:
        return self.helper_dir / "staging"

    def _mount(self, argv: list[str], mount_point: Path, what: str) -> None:
        done = self.run(argv)
        if done.returncode != 0:
            raise HelperUnavailable(f"{what}: `{' '.join(argv)}` failed: {_said(done)}")
        self._mounted.append(mount_point)

    def prepare(self) -> None:
        """Mount the emulation root and the helper's tmpfs, share the run directory, and
        prove that a driver's namespace finds the helper; HelperUnavailable says why not."""
        missing = [
            tool for tool in ("unshare", "mount", "umount", "findmnt") if not shutil.which(tool)
        ]
        if missing:
            raise HelperUnavailable(f"{', '.join(missing)} not on PATH (util-linux)")
        if "overlay" not in _filesystems():
            raise HelperUnavailable(
                "the kernel offers no overlay file system (modprobe overlay), which installs "
                f"the mount helper over {self.sbin} inside the drivers' namespaces only"
            )
        run_dir = str(self.run_dir)
        self._mount(
            ["mount", "--bind", run_dir, run_dir], self.run_dir, "sharing the run directory"
        )
        done = self.run(["mount", "--make-shared", run_dir])
        if done.returncode != 0:
            raise HelperUnavailable(f"mount --make-shared {run_dir} failed: {_said(done)}")
        if self.external_root is None:
            self.emulation_root.mkdir(exist_ok=True)
            # A file system of its own, so that even a plain per-file-system directory is one.
            self._mount(
                ["mount", "-t", "tmpfs", "-o", "mode=0755", "fsx-emulation",
                 str(self.emulation_root)],
                self.emulation_root,
                "the emulation root",
            )  # fmt: skip
        self.helper_dir.mkdir(exist_ok=True)
        self._mount(
            ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "fsx-lustre-helper",
             str(self.helper_dir)],
            self.helper_dir,
            "the mount helper's overlay layer",
        )  # fmt: skip
        for directory in (self.upper, self.work, self.staging):
            directory.mkdir()
        lustre.write_helper(self.upper / lustre.HELPER_NAME, self.emulation_root, self.staging)
        done = self.run(self.wrap([str(self.sbin / _CHECK[0]), *_CHECK[1:]]))
        if done.returncode != 0 or "fsx-csi-harness" not in done.stdout:
            raise HelperUnavailable(
                f"installing the mount helper over {self.sbin} in a private mount namespace "
                f"failed: {_said(done)}. It needs root (or root of a user namespace) with "
                "overlayfs; nothing was changed outside the namespace"
            )

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """`argv` run in a mount namespace of its own where /sbin/mount.lustre is the helper."""
        return [
            "unshare", "--mount", "--propagation", "unchanged", "--",
            "/bin/sh", "-c", _INSTALL, "install-mount-lustre",
            str(self.sbin), str(self.helper_dir), *argv,
        ]  # fmt: skip

    def release(self) -> list[Leak]:
        """Once the drivers have stopped: unmount the helper's layer and the emulation root
        (with any file system still in it), sweep what is left mounted under the run
        directory (each a leak: a target nobody unmounted), then unshare the run directory."""
        leaks: list[Leak] = []
        infrastructure = [p for p in self._mounted if p != self.run_dir]
        for mount_point in reversed(infrastructure):
            self._unmount(mount_point, leaks)
        if self.run_dir in self._mounted:
            for child in sorted(self.run_dir.iterdir()):
                leaks.extend(sweep_mounts(child))
            self._unmount(self.run_dir, leaks)
        self._mounted.clear()
        return leaks

    def _unmount(self, mount_point: Path, leaks: list[Leak]) -> None:
        argv = ["umount", "--recursive", "--lazy", str(mount_point)]
        done = self.run(argv)
        if done.returncode != 0:
            leaks.append(Leak("mount", str(mount_point), f"umount: {_said(done)}", False))


def _filesystems(path: Path = Path("/proc/filesystems")) -> set[str]:
    try:
        return {line.split()[-1] for line in path.read_text().splitlines() if line.strip()}
    except OSError:
        return set()
