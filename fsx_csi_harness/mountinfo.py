"""/proc/self/mountinfo, parsed (proc(5)): the kernel's word on what is mounted where.

Shared by the driver's mounters, the sanity suite, the e2e leak sweep and the throughput
checks. Path.is_mount() and os.path.ismount() compare device numbers, so they miss bind mounts
within one file system (every emulated Lustre mount); mountinfo lists them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


def unescape(field: str) -> str:
    """Undo the kernel's octal escapes (space is \\040, tab \\011, newline \\012, \\ is \\134)."""
    if "\\" not in field:  # nearly every field: half of a parse's time saved on a busy node
        return field
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


@dataclass(frozen=True)
class MountEntry:
    mount_id: int
    parent_id: int
    major: int
    minor: int
    # The path inside the mounted file system that is the root of this mount: "/" for a whole
    # file system, the source directory (relative to its file system) for a bind mount.
    root: str
    mount_point: str
    mount_options: tuple[str, ...]
    fs_type: str
    source: str
    super_options: tuple[str, ...]

    @property
    def device(self) -> tuple[int, int]:
        return (self.major, self.minor)

    @property
    def read_only(self) -> bool:
        return "ro" in self.mount_options


def parse_line(line: str) -> MountEntry:
    """One mountinfo line. Raises ValueError naming the line when it is malformed."""
    fields = line.rstrip("\n").split(" ")
    try:
        separator = fields.index("-", 6)
        major, minor = fields[2].split(":")
        return MountEntry(
            mount_id=int(fields[0]),
            parent_id=int(fields[1]),
            major=int(major),
            minor=int(minor),
            root=unescape(fields[3]),
            mount_point=unescape(fields[4]),
            mount_options=tuple(fields[5].split(",")),
            fs_type=unescape(fields[separator + 1]),
            source=unescape(fields[separator + 2]),
            super_options=tuple(fields[separator + 3].split(","))
            if len(fields) > separator + 3
            else (),
        )
    except (ValueError, IndexError):
        raise ValueError(f"malformed mountinfo line: {line!r}") from None


def parse(text: str) -> list[MountEntry]:
    return [parse_line(line) for line in text.splitlines() if line.strip()]


def read(path: Path = MOUNTINFO) -> list[MountEntry]:
    return parse(path.read_text(encoding="utf-8", errors="surrogateescape"))


def mount_at(entries: list[MountEntry], mount_point: str) -> MountEntry | None:
    """The topmost mount at exactly `mount_point` (later lines are mounted over earlier ones)."""
    found = None
    for entry in entries:
        if entry.mount_point == mount_point:
            found = entry
    return found


def mount_containing(entries: list[MountEntry], path: str) -> MountEntry | None:
    """The mount that `path` lives on: the longest mount point that is `path` or a parent."""
    best: MountEntry | None = None
    for entry in entries:
        point = entry.mount_point
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.mount_point)):
            best = entry
    return best


def mounts_under(entries: list[MountEntry], root: str) -> list[MountEntry]:
    """Mounts at or below `root`, deepest first (the order to unmount them in)."""
    prefix = root.rstrip("/") + "/"
    found = [e for e in entries if e.mount_point == root or e.mount_point.startswith(prefix)]
    return sorted(found, key=lambda e: e.mount_point.count("/"), reverse=True)


def is_mount_point(path: str, entries: list[MountEntry] | None = None) -> bool:
    """Whether something is mounted at exactly `path` (bind mounts included)."""
    return mount_at(read() if entries is None else entries, path) is not None
