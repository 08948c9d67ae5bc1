"""The emulator's configuration: one frozen object built by the CLI or a test, passed inward.

Stdlib only, so that `fsx-csi emulator --help` does not import moto. README.md ("Strictness")
says what AWS documents for the token window, the page size and the request rates, and why
these defaults were chosen where AWS gives no number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

# AWS documents no idempotency window for FSx; a provisioner retry about five minutes after
# the first call, same token, created a second file system (upstream PR #453). Two minutes is
# well inside that, and far longer than any SDK retry sequence after a lost answer.
DEFAULT_TOKEN_TTL_SECONDS = 120.0
# AWS documents an internal page size for DescribeFileSystems but not its value; a small one
# makes a driver that reads only the first page miss file systems in a test-sized region.
DEFAULT_DESCRIBE_PAGE_SIZE = 10
# A rate-limit key that applies to every operation not named on its own.
ANY_OPERATION = "*"


@dataclass(frozen=True)
class RateLimit:
    """A token bucket for one operation: `burst` calls at once, refilled `rate` per second.

    AWS throttles per API, per account and region, with token buckets (the EC2 API reference,
    "Request throttling", describes the scheme; FSx publishes no numbers).
    """

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"a rate limit needs a finite rate > 0 per second, got {self.rate}")
        if self.burst < 1:
            raise ValueError(f"a rate limit needs a burst of at least 1 call, got {self.burst}")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """`RATE` or `RATE/BURST` (burst defaults to one second's worth, at least 1)."""
        rate_text, _, burst_text = text.partition("/")
        try:
            rate = float(rate_text)
            burst = int(burst_text) if burst_text else max(1, math.ceil(rate))
        except ValueError:
            raise ValueError(
                f"a rate limit is RATE or RATE/BURST (calls per second / calls at once), "
                f"got {text!r}"
            ) from None
        return cls(rate, burst)

    def to_dict(self) -> dict[str, float]:
        return {"rate": self.rate, "burst": self.burst}


# Strict mode (`--strict`, the sanity FSx profile). Reads refill at EC2's documented rate for
# non-mutating calls (20/s) with a smaller bucket; writes far slower: FSx creates and deletes
# are heavy, and a driver that storms them should see it.
STRICT_RATE_LIMITS: Mapping[str, RateLimit] = MappingProxyType(
    {
        "DescribeFileSystems": RateLimit(20.0, 40),
        "DescribeDataRepositoryAssociations": RateLimit(20.0, 40),
        "ListTagsForResource": RateLimit(20.0, 40),
        ANY_OPERATION: RateLimit(5.0, 20),
    }
)


def _frozen_limits(limits: Mapping[str, RateLimit]) -> Mapping[str, RateLimit]:
    for operation, limit in limits.items():
        if not operation:
            raise ValueError("a rate limit names an FSx operation or '*'")
        if not isinstance(limit, RateLimit):
            raise ValueError(f"rate limit for {operation} must be a RateLimit, got {limit!r}")
    return MappingProxyType(dict(limits))


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulated FSx region behaves.

    Delays are in seconds. AWS takes minutes to create a file system; tests want the same
    sequence of states in a fraction of a second, so every delay is configurable.
    """

    region: str = "us-east-1"
    # CREATING -> AVAILABLE (file systems) and CREATING -> AVAILABLE (data repository
    # associations). Settable later for the whole emulator or one file system.
    creation_delay: float = 1.0
    # DELETING -> gone.
    deletion_delay: float = 0.5
    # Time each AdministrativeAction phase (PENDING, IN_PROGRESS, UPDATED_OPTIMIZING) lasts.
    update_delay: float = 0.2
    # Lustre emulation: when set, <root>/<file-system-id>/<MountName>/ exists exactly while
    # the file system can be mounted (see README.md, "Lustre emulation contract").
    emulation_root: Path | None = None
    # Mount a tmpfs sized to the file system's capacity on that directory (needs root, or root
    # of a user namespace owning the mount namespace); otherwise a plain directory.
    emulation_tmpfs: bool = False
    account_id: str = "123456789012"
    vpc_id: str = "vpc-0a1b2c3d4e5f60718"
    # How long a CreateFileSystem ClientRequestToken keeps answering with its file system,
    # counted from the call that created it; None: forever (what AWS does not do).
    token_ttl: float | None = DEFAULT_TOKEN_TTL_SECONDS
    # The most file systems one DescribeFileSystems answer holds, whatever MaxResults says.
    describe_page_size: int = DEFAULT_DESCRIBE_PAGE_SIZE
    # Operation name (or "*") -> its token bucket; empty: no throttling (the default).
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("creation_delay", "deletion_delay", "update_delay"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"EmulatorConfig.{name} must be >= 0 seconds, got {value}")
        if not (len(self.account_id) == 12 and self.account_id.isdigit()):
            raise ValueError(
                f"EmulatorConfig.account_id must be 12 digits, got {self.account_id!r}"
            )
        check_token_ttl(self.token_ttl)
        check_page_size(self.describe_page_size)
        # Frozen like the rest of the config (a caller's dict must not change it later).
        object.__setattr__(self, "rate_limits", _frozen_limits(self.rate_limits))


def check_token_ttl(seconds: float | None) -> None:
    if seconds is not None and not seconds > 0:
        raise ValueError(
            f"the ClientRequestToken window (token_ttl) must be > 0 seconds, got {seconds}"
        )


def check_page_size(size: int) -> None:
    if size < 1:
        raise ValueError(
            f"the DescribeFileSystems page size (describe_page_size) must be >= 1, got {size}"
        )
