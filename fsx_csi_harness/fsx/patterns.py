"""Ids, times, names and paths, as the FSx API reference gives them (pattern plus length).

Where the reference states a pattern and a length constraint, both are part of the rule: the
time patterns make the colon optional, but their fixed lengths (7 and 5) require it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Characters the API reference excludes from paths and namespaces.
_PATH_CHARACTERS = "[^\u0000\u0085\u2028\u2029\r\n]"


@dataclass(frozen=True)
class TextRule:
    """A string field's rule: a regular expression and the length constraints around it."""

    what: str  # "a subnet id"
    pattern: str  # matched against the whole value
    min_length: int
    max_length: int
    form: str  # how a person writes one
    example: str

    def matches(self, value: str) -> bool:
        return self.min_length <= len(value) <= self.max_length and bool(
            re.fullmatch(self.pattern, value)
        )

    def describe(self) -> str:
        return f"{self.what}: {self.form}, for example {self.example}"


@dataclass(frozen=True)
class IdRule(TextRule):
    """A resource id: a prefix and lowercase hex digits."""

    prefix: str = ""


def _id_rule(what: str, prefix: str, min_length: int, max_length: int, example: str) -> IdRule:
    low, high = min_length - len(prefix), max_length - len(prefix)
    return IdRule(
        what=what,
        pattern=f"{prefix}[0-9a-f]{{{low},{high}}}",
        min_length=min_length,
        max_length=max_length,
        form=f"{prefix} followed by {low} to {high} hex digits",
        example=example,
        prefix=prefix,
    )


# API reference: pattern ^(subnet-[0-9a-f]{8,})$, length 15-24; ^(sg-[0-9a-f]{8,})$, 11-20;
# ^(fs-[0-9a-f]{8,})$, 11-21; ^(dra-[0-9a-f]{8,})$, 13-23; ^(backup-[0-9a-f]{8,})$, 12-128.
SUBNET_ID = _id_rule("a subnet id", "subnet-", 15, 24, "subnet-0123456789abcdef0")
SECURITY_GROUP_ID = _id_rule("a security group id", "sg-", 11, 20, "sg-0123456789abcdef0")
FILE_SYSTEM_ID = _id_rule("a file system id", "fs-", 11, 21, "fs-0123456789abcdef0")
ASSOCIATION_ID = _id_rule("an association id", "dra-", 13, 23, "dra-0123456789abcdef0")
BACKUP_ID = _id_rule("a backup id", "backup-", 12, 128, "backup-0123456789abcdef0")
# The regular expression alone, for embedding (DNS names carry the file system id).
FILE_SYSTEM_ID_PATTERN = FILE_SYSTEM_ID.pattern

# Ids AWS issues today have 17 hex digits (8 for resources from before 2018).
ISSUED_ID_HEX_DIGITS = 17


def issued_id_pattern(prefix: str) -> re.Pattern[str]:
    """The form of ids AWS issues now: `prefix` and exactly 17 hex digits."""
    return re.compile(rf"^{re.escape(prefix)}[0-9a-f]{{{ISSUED_ID_HEX_DIGITS}}}$")


WEEKLY_TIME = TextRule(
    what="a weekly time",
    pattern=r"[1-7]:([01]\d|2[0-3]):?([0-5]\d)",
    min_length=7,
    max_length=7,
    form="d:HH:MM in UTC, d from 1 (Monday) to 7 (Sunday)",
    example="7:09:00",
)
DAILY_TIME = TextRule(
    what="a daily time",
    pattern=r"([01]\d|2[0-3]):?([0-5]\d)",
    min_length=5,
    max_length=5,
    form="HH:MM in UTC",
    example="05:00",
)
# The reference prints [A-za-z0-9_.-]{0,63}$ (a typo for A-Z, and unanchored); AWS accepts
# letters, digits, '_', '.' and '-', 1 to 63 of them.
CLIENT_REQUEST_TOKEN = TextRule(
    what="a client request token",
    pattern=r"[A-Za-z0-9_.-]{1,63}",
    min_length=1,
    max_length=63,
    form="1 to 63 letters, digits, '_', '.' or '-'",
    example="csi-pvc-1",
)
CLIENT_REQUEST_TOKEN_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# LustreFileSystemMountName: ^([A-Za-z0-9_-]{1,8})$.
MOUNT_NAME = TextRule(
    what="an FSx mount name",
    pattern=r"[A-Za-z0-9_-]{1,8}",
    min_length=1,
    max_length=8,
    form="1 to 8 letters, digits, '_' or '-', as DescribeFileSystems reports it",
    example="abcdefgh",
)
KMS_KEY_ID = TextRule(
    what="a KMS key id or ARN",
    pattern=".{1,2048}",
    min_length=1,
    max_length=2048,
    form="1 to 2048 characters",
    example="arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
)
# ArchivePath (ImportPath, ExportPath, DataRepositoryPath): 3-4357 characters without line
# breaks, as the API reference gives it, in the URI form its descriptions require.
ARCHIVE_PATH = TextRule(
    what="an S3 URI",
    pattern=f"s3://{_PATH_CHARACTERS}*",
    min_length=3,
    max_length=4357,
    form="s3://bucket or s3://bucket/prefix",
    example="s3://ml-data/training",
)
# A data repository association may also link an NFS export (Amazon File Cache).
DATA_REPOSITORY_PATH = TextRule(
    what="an S3 or NFS URI",
    pattern=f"(s3|nfs)://{_PATH_CHARACTERS}*",
    min_length=3,
    max_length=4357,
    form="s3://bucket/prefix (or nfs://server/path)",
    example="s3://ml-data/training",
)
# An S3 path that can name an existing bucket: ARCHIVE_PATH whose bucket meets S3's naming
# rules (3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter
# or digit). The driver checks it before calling AWS, which answers InvalidImportPath for a
# bucket that cannot exist.
S3_PATH = TextRule(
    what="an S3 path",
    pattern=rf"s3://[a-z0-9][a-z0-9.\-]{{1,61}}[a-z0-9](/{_PATH_CHARACTERS}*)?",
    min_length=ARCHIVE_PATH.min_length,
    max_length=ARCHIVE_PATH.max_length,
    form="s3://bucket or s3://bucket/prefix (bucket names are 3-63 lowercase letters, digits, "
    "dots and hyphens)",
    example="s3://ml-data/training",
)
# Namespace (FileSystemPath): 1-4096 characters without line breaks, absolute.
FILE_SYSTEM_PATH = TextRule(
    what="a file system path",
    pattern=f"/{_PATH_CHARACTERS}{{0,4095}}",
    min_length=1,
    max_length=4096,
    form="an absolute path in the file system",
    example="/data",
)


def s3_bucket(s3_path: str) -> str:
    """The bucket of an S3 path (s3://bucket/prefix -> bucket)."""
    return s3_path.removeprefix("s3://").split("/", 1)[0]


def paths_overlap(a: str, b: str) -> bool:
    """Two file system paths overlap when one is the other or lies inside it."""
    a_dir, b_dir = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a_dir.startswith(b_dir) or b_dir.startswith(a_dir)


# <file system id>.fsx.<region>.amazonaws.com (.com.cn in the China regions).
FSX_DNS_NAME = re.compile(
    rf"^(?P<id>{FILE_SYSTEM_ID_PATTERN})\.fsx\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$"
)


def dns_name(file_system_id: str, region: str) -> str:
    """The DNS name FSx gives a file system."""
    suffix = ".cn" if region.startswith("cn-") else ""
    return f"{file_system_id}.fsx.{region}.amazonaws.com{suffix}"


def file_system_id_of_dns_name(name: str) -> str | None:
    """The file system id in an FSx DNS name; None for any other name."""
    match = FSX_DNS_NAME.match(name)
    return match.group("id") if match else None
