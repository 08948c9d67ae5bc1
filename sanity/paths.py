"""Target and staging directories, created and checked as csi-sanity does.

By default the suite creates the directory itself (mkdir) and removes it afterwards (rmdir,
which fails when the driver left something inside). A user command can replace each step: it
receives the suggested path as its only argument; a create command prints the path to use, a
check command prints file, directory, not_found or other.
"""

from __future__ import annotations

import enum
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sanity.config import SanityConfig


class PathKind(enum.StrEnum):
    FILE = "file"
    DIRECTORY = "directory"
    NOT_FOUND = "not_found"
    OTHER = "other"


class PathCommandError(RuntimeError):
    """A user-supplied path command failed, timed out or printed something unexpected."""


def _run(command: str, path: str, timeout: float, purpose: str) -> str:
    try:
        completed = subprocess.run(
            [command, path], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise PathCommandError(
            f"{purpose} command {command!r} did not finish within {timeout:g}s for {path}"
        ) from None
    except OSError as exc:
        raise PathCommandError(f"{purpose} command {command!r} could not run: {exc}") from None
    if completed.returncode != 0:
        raise PathCommandError(
            f"{purpose} command {command!r} failed for {path} with exit code "
            f"{completed.returncode}: {completed.stderr.strip() or '(no stderr)'}"
        )
    return completed.stdout.strip()


@dataclass(frozen=True)
class PathManager:
    """The path steps of `config`: its commands and timeouts, else mkdir/rmdir/stat."""

    config: SanityConfig

    def _create(self, path: str, command: str) -> str:
        if command:
            created = _run(command, path, self.config.create_path_cmd_timeout, "path creation")
            if not created:
                raise PathCommandError(
                    f"path creation command {command!r} printed no path for {path}"
                )
            return created
        # The parent (the configured mount or staging dir) may be shared by parallel
        # workers; the per-case directory itself must be new, as csi-sanity requires.
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).mkdir(mode=0o755)
        return path

    def create_target(self, path: str) -> str:
        return self._create(path, self.config.create_mount_path_cmd)

    def create_staging(self, path: str) -> str:
        return self._create(path, self.config.create_staging_path_cmd)

    def _remove(self, path: str, command: str) -> None:
        if command:
            _run(command, path, self.config.remove_path_cmd_timeout, "path removal")
            return
        # rmdir, never a recursive delete: a leftover entry may be a live mount whose
        # contents belong to the volume.
        Path(path).rmdir()

    def remove_target(self, path: str) -> None:
        self._remove(path, self.config.remove_mount_path_cmd)

    def remove_staging(self, path: str) -> None:
        self._remove(path, self.config.remove_staging_path_cmd)

    def check(self, path: str) -> PathKind:
        if not path:
            raise ValueError("path argument must not be empty")
        command = self.config.check_path_cmd
        if command:
            out = _run(command, path, self.config.check_path_cmd_timeout, "check path")
            try:
                return PathKind(out)
            except ValueError:
                raise PathCommandError(
                    f"check path command {command!r} printed {out!r}; expected one of "
                    f"{', '.join(kind.value for kind in PathKind)}"
                ) from None
        try:
            mode = Path(path).stat().st_mode
        except FileNotFoundError:
            return PathKind.NOT_FOUND
        if stat.S_ISDIR(mode):
            return PathKind.DIRECTORY
        return PathKind.FILE if stat.S_ISREG(mode) else PathKind.OTHER
