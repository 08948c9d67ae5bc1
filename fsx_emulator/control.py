"""A small client for the emulator's control API (stdlib only, works across processes).

The control API lives under `/_emulator/`, a path the FSx API never uses, on the same port as
the FSx endpoint: a harness that knows `AWS_ENDPOINT_URL_FSX` can drive the emulator, whether it
runs in this process, as `fsx-csi emulator`, or in a pod.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from fsx_emulator.config import RateLimit

CONTROL_PREFIX = "/_emulator/"


class EmulatorControlError(RuntimeError):
    """A control API call failed; the message says which call, the status and the reason."""


class EmulatorControl:
    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, route: str, payload: dict[str, Any] | None = None) -> Any:
        url = f"{self.endpoint_url}{CONTROL_PREFIX}{route}"
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is the emulator's own
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise EmulatorControlError(
                f"{method} {url} failed with HTTP {exc.code}: {detail}"
            ) from None
        except urllib.error.URLError as exc:
            raise EmulatorControlError(
                f"{method} {url}: cannot reach the FSx emulator ({exc.reason}); is it running "
                "at that address?"
            ) from None

    def health(self) -> bool:
        return bool(self._call("GET", "health").get("status") == "ok")

    def inject_fault(
        self,
        operation: str,
        kind: str,
        *,
        count: int | None = None,
        every: int | None = None,
        probability: float | None = None,
        latency: float = 0.0,
        message: str | None = None,
    ) -> dict[str, Any]:
        """Switch a fault on for `operation` ("*" for all).

        kind: throttle (400 ThrottlingException, retried by botocore), server_error (500
        InternalServerError), latency (`latency` extra seconds), stuck_creating (new file
        systems stay CREATING), fail_creation (CREATING -> FAILED with FailureDetails.Message
        = `message`). count: the next N matching calls only; every: every Nth call;
        probability: each call with this probability. Returns the stored rule.
        """
        payload = {
            "operation": operation,
            "kind": kind,
            "count": count,
            "every": every,
            "probability": probability,
            "latency": latency,
            "message": message,
        }
        result: dict[str, Any] = self._call("POST", "faults", payload)
        return result

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "faults")["faults"]
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def set_creation_delay(self, seconds: float, file_system_id: str | None = None) -> None:
        """The CREATING -> AVAILABLE delay for new file systems, or for one file system
        (counted from its creation: 0 releases a stuck one at once)."""
        self._call("POST", "creation-delay", {"seconds": seconds, "file_system_id": file_system_id})

    def advance_clock(self, seconds: float) -> None:
        """Let `seconds` pass on the emulator's clock at once: delays end, token windows close,
        the six-hour spacing of storage and metadata IOPS increases runs out."""
        self._call("POST", "clock", {"advance": seconds})

    def set_token_ttl(self, seconds: float | None) -> None:
        """The CreateFileSystem ClientRequestToken window, in seconds (None: never expires)."""
        self._call("POST", "strictness", {"token_ttl": seconds})

    def set_describe_page_size(self, size: int) -> None:
        """The most file systems one DescribeFileSystems answer holds, whatever MaxResults."""
        self._call("POST", "strictness", {"describe_page_size": size})

    def set_rate_limits(self, limits: Mapping[str, RateLimit]) -> None:
        """Replace every rate limit (operation name or "*" -> token bucket); {} switches
        throttling off. Buckets start full and throttle counts at zero."""
        payload = {operation: limit.to_dict() for operation, limit in limits.items()}
        self._call("POST", "strictness", {"rate_limits": payload})

    def strictness(self) -> dict[str, Any]:
        """token_ttl, describe_page_size, rate_limits, and `throttled`: refused calls per
        operation since the limits were last set."""
        result: dict[str, Any] = self._call("GET", "strictness")
        return result

    def reset(self) -> None:
        """Drop every file system, association, tag, token and fault; the token window, page
        size and rate limits go back to the emulator's configuration."""
        self._call("POST", "reset", {})

    def file_systems(self) -> list[dict[str, Any]]:
        """Every file system the emulator holds (any state), as DescribeFileSystems shows it."""
        result: list[dict[str, Any]] = self._call("GET", "file-systems")["FileSystems"]
        return result
