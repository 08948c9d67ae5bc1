"""The Lustre emulation's data plane: the `mount.lustre` helper and the emulation root.

`mount -t lustre <dnsname>@tcp:/<mountname> TARGET` runs
mount(8)'s external helper `/sbin/mount.lustre`; the one in this package (a POSIX sh script,
shipped in the wheel and the emulated image) bind-mounts
`<emulation root>/<file-system-id>/<mountname>[/<subdir>]` onto TARGET. The emulator keeps that
directory exactly while the file system is AVAILABLE (backend.py); where it can mount, the
file system's directory `<root>/<file-system-id>` is a tmpfs of its own, sized to the file
system's capacity and named `<dnsname>@tcp:/` (the file system's NID and its top), so that:

* drivers built on Kubernetes' mount library (which compare the st_dev of a target with its
  parent's) see a mount, and statvfs reports the file system's size;
* /proc/self/mountinfo reads as Lustre for every emulated mount: a bind of
  `<mountname>[/<subdir>]` shows the source `<dnsname>@tcp:/` and the root `/<mountname>...`,
  which together are the Lustre source `<dnsname>@tcp:/<mountname>...`, so a driver that reads
  the mount table recognises it (the emulator's own mount, with root `/`, names no mount name
  and so is no volume's target).

Where the emulator cannot mount (not root, an unprivileged container) the directories are plain
ones, and whoever provides the emulation root should make it a file system of its own (the
local platform mounts a tmpfs there).

This module is the one place that knows the helper's file, how to render it for a root, and
the record it leaves for each mount.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

# What the shipped helper uses when nothing rendered another root into it: a fixed path
# inside the container or namespace it is installed in.
DEFAULT_EMULATION_ROOT = "/run/fsx-emulation"
HELPER_NAME = "mount.lustre"
# The helper's record of each mount, under the emulation root (no file system id starts
# with a dot).
MOUNT_RECORDS = ".mounts"
_ROOT_LINE = f"EMULATION_ROOT={DEFAULT_EMULATION_ROOT}\n"
_STAGING_LINE = "STAGING_DIR=/tmp\n"
_TMPFS_MODE = "0755"  # a new Lustre file system's root: root-owned, drwxr-xr-x


def helper_text() -> str:
    """The helper script as shipped."""
    return resources.files(__name__).joinpath(HELPER_NAME).read_text()


def _set(text: str, line: str, name: str, value: Path | str) -> str:
    if line not in text:
        raise RuntimeError(f"{HELPER_NAME} lost its {line.strip()!r} line")
    value = str(value)
    if "'" in value or "\n" in value:
        raise ValueError(f"{name} {value!r}: quotes and newlines cannot be written in")
    return text.replace(line, f"{name}='{value}'\n", 1)


def render_helper(emulation_root: Path | str, staging_dir: Path | str | None = None) -> str:
    """The helper with `emulation_root` (and the directory where it prepares flagged mounts,
    which must be on a mount that propagates nowhere; default /tmp) written in: mount(8) runs
    it with a reduced environment, so they travel inside the file, not in variables."""
    text = _set(helper_text(), _ROOT_LINE, "EMULATION_ROOT", emulation_root)
    if staging_dir is not None:
        text = _set(text, _STAGING_LINE, "STAGING_DIR", staging_dir)
    return text


def write_helper(
    path: Path, emulation_root: Path | str, staging_dir: Path | str | None = None
) -> Path:
    path.write_text(render_helper(emulation_root, staging_dir))
    path.chmod(0o755)
    return path


def record_name(target: Path | str) -> str:
    """The record's file name for a target path (as the helper encodes it)."""
    return str(target).replace("%", "%25").replace("/", "%2F")


def record_path(emulation_root: Path | str, target: Path | str) -> str:
    """Where the helper writes the record of a mount at `target`: a path under
    `emulation_root` as the helper saw it (inside a container, the container's root)."""
    return f"{str(emulation_root).rstrip('/')}/{MOUNT_RECORDS}/{record_name(target)}"


@dataclass(frozen=True)
class MountRecord:
    """What the helper saw and did for one mount."""

    source: str
    target: str
    file_system_id: str
    directory: str
    # Every option mount(8) handed the helper, as asked (the driver's -o), in order; then the
    # ones a bind mount applied and the ones only a Lustre client means.
    options: tuple[str, ...]
    bind_options: tuple[str, ...]
    lustre_options: tuple[str, ...]


def parse_mount_record(text: str) -> MountRecord:
    """A record's text (key=value lines, as the helper writes them); missing keys read as
    empty, so a record of an older helper still parses."""
    fields = dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)

    def split(key: str) -> tuple[str, ...]:
        return tuple(flag for flag in fields.get(key, "").split(",") if flag)

    return MountRecord(
        source=fields.get("source", ""),
        target=fields.get("target", ""),
        file_system_id=fields.get("file_system_id", ""),
        directory=fields.get("directory", ""),
        options=split("options"),
        bind_options=split("bind_options"),
        lustre_options=split("lustre_options"),
    )


def read_mount_record(emulation_root: Path, target: Path | str) -> MountRecord | None:
    """The record of the last mount the helper made at `target`, or None. A record outlives
    its mount (umount(8) does not call the helper): check the mount table too."""
    try:
        text = Path(record_path(emulation_root, target)).read_text()
    except FileNotFoundError:
        return None
    return parse_mount_record(text)


class EmulationMountError(Exception):
    """A tmpfs for an emulated file system could not be mounted or unmounted."""


def _run(argv: list[str]) -> str | None:
    """None on success, else what the command said."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    return " ".join((done.stderr or done.stdout or f"exit {done.returncode}").split())


def mount_file_system(directory: Path, dns_name: str, capacity_gib: int | None) -> None:
    """Mount a tmpfs on the existing `directory` (a file system's), sized to its capacity
    (tmpfs takes memory only for what is written) and named `<dns_name>@tcp:/`."""
    lustre_source = f"{dns_name}@tcp:/"
    options = [f"mode={_TMPFS_MODE}"]
    if capacity_gib:
        options.append(f"size={capacity_gib}g")
    said = _run(["mount", "-t", "tmpfs", "-o", ",".join(options), lustre_source, str(directory)])
    if said is not None:
        raise EmulationMountError(f"mount -t tmpfs {lustre_source} {directory}: {said}")


def unmount_file_system(directory: Path) -> None:
    """Detach the file system's tmpfs (lazily: pods may still hold it open, as a Lustre
    client keeps serving open files of a file system being deleted until they close)."""
    said = _run(["umount", "--lazy", str(directory)])
    if said is not None:
        raise EmulationMountError(f"umount --lazy {directory}: {said}")
