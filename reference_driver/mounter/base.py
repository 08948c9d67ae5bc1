"""The mounter interface the node service uses, and what it needs to know about sources."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fsx_csi_harness.fsx import MOUNT_NAME, SCRATCH_1_MOUNT_NAME, file_system_id_of_dns_name
from reference_driver.errors import DriverError, InvalidArgument

# Any DNS name (RFC 1123 host name), not only FSx's own: the mount goes wherever it points.
_DNS_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
# Characters that could change the meaning of a mount option list.
_FLAG = re.compile(r"^[A-Za-z0-9_=.:/+-]+$")


class MountError(DriverError):
    """A mount or unmount failed; the message carries the command's own words."""


# A sub-directory component of a static volume's `mountname/<subdir>`.
_SUBDIR_PART = re.compile(r"^[A-Za-z0-9_.@+=,-]+$")


@dataclass(frozen=True)
class LustreSource:
    """`<dnsname>@tcp:/<mountname>[/<subdir>]`, what `mount -t lustre` takes.

    A sub-directory mounts one directory of the file system (Lustre clients accept it; the
    upstream driver passes a static PV's `mountname` such as `abcdefgh/team-a` through).
    """

    dns_name: str
    mount_name: str
    subdirectory: str = ""

    @classmethod
    def from_context(cls, dns_name: str, mount_name: str) -> LustreSource:
        """From a volume context; an empty mountname is "fsx", as upstream has it (SCRATCH_1
        and Lustre 2.10 file systems answer that name)."""
        if not _DNS_NAME.match(dns_name):
            raise InvalidArgument(
                f"volume_context dnsname={dns_name!r} is not a DNS name (expected something like "
                "fs-0123456789abcdef0.fsx.us-east-1.amazonaws.com)"
            )
        name, _, subdirectory = (mount_name or SCRATCH_1_MOUNT_NAME).partition("/")
        if not MOUNT_NAME.matches(name):
            raise InvalidArgument(
                f"volume_context mountname={mount_name!r} is not valid: use {MOUNT_NAME.describe()}"
                ", optionally followed by /<sub-directory>"
            )
        subdirectory = subdirectory.rstrip("/")
        parts = subdirectory.split("/") if subdirectory else []
        if any(not _SUBDIR_PART.match(p) or p in (".", "..") for p in parts):
            raise InvalidArgument(
                f"volume_context mountname={mount_name!r}: the sub-directory {subdirectory!r} "
                "must be a relative path of names (letters, digits, and _.@+=,-), without empty, "
                "'.' or '..' components"
            )
        return cls(dns_name, name, subdirectory)

    @property
    def path(self) -> str:
        """What follows `:/` in the mount source: the mount name, then the sub-directory."""
        return f"{self.mount_name}/{self.subdirectory}" if self.subdirectory else self.mount_name

    @property
    def file_system_id(self) -> str | None:
        """The file system id when the DNS name is FSx's own (not a custom alias)."""
        return file_system_id_of_dns_name(self.dns_name)

    def __str__(self) -> str:
        return f"{self.dns_name}@tcp:/{self.path}"


def check_mount_flags(flags: Sequence[str]) -> tuple[str, ...]:
    """Mount flags are passed as one `-o` argument: refuse any that could smuggle syntax."""
    for flag in flags:
        if not _FLAG.match(flag):
            raise InvalidArgument(
                f"mount flag {flag!r} has characters mount options cannot contain (allowed: "
                "letters, digits and _=.:/+-; one flag per entry)"
            )
    return tuple(flags)


@dataclass(frozen=True)
class MountedFileSystem:
    """What the kernel says is mounted at a target path."""

    description: str
    is_lustre: bool
    # What follows `:/` in the source: the mount name and any sub-directory.
    mount_name: str | None
    # Known for emulated mounts; the kernel's Lustre entry names the server NID, not the id.
    file_system_id: str | None
    read_only: bool

    def serves(self, source: LustreSource) -> bool:
        if not self.is_lustre or self.mount_name != source.path:
            return False
        return self.file_system_id is None or self.file_system_id == source.file_system_id

    def holds(self, volume_id: str) -> bool:
        if not self.is_lustre:
            return False
        return self.file_system_id is None or self.file_system_id == volume_id


class Mounter(Protocol):
    """Mounts FSx for Lustre file systems. Every method is safe to call from many threads."""

    def mount(self, source: LustreSource, target: Path, flags: Sequence[str]) -> None:
        """Mount `source` on the existing directory `target` with `flags` (may include "ro").

        Raises MountError naming the source and target; leaves nothing mounted on failure.
        """

    def unmount(self, target: Path) -> None:
        """Unmount the topmost mount at `target`. Raises MountError when that fails."""

    def mounted_at(self, target: Path) -> MountedFileSystem | None:
        """What is mounted at exactly `target`, or None (from /proc/self/mountinfo)."""

    def targets_of(self, source: LustreSource) -> list[Path]:
        """Every path where `source` is mounted on this node."""


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    output: str


class CommandRunner(Protocol):
    def run(self, argv: Sequence[str]) -> CommandResult: ...


class SubprocessRunner:
    """Runs a command as an argument list, never through a shell, with a time limit; `env`
    is set over this process's environment for the command."""

    def __init__(
        self, timeout_seconds: float = 120.0, env: Mapping[str, str] | None = None
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.env = dict(env or {})

    def run(self, argv: Sequence[str]) -> CommandResult:
        try:
            completed = subprocess.run(
                list(argv),
                env={**os.environ, **self.env} if self.env else None,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=self.timeout_seconds,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return CommandResult(124, f"timed out after {self.timeout_seconds:.0f}s")
        except FileNotFoundError as exc:
            return CommandResult(127, f"{argv[0]} not found: {exc}")
        return CommandResult(completed.returncode, completed.stdout.strip())
