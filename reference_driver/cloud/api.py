"""The thin seam under the domain layer: the FSx API operations the driver calls.

`FsxApi` is the subset of boto3's FSx client that `FsxCloud` uses, with boto3's own keyword
arguments and response dicts. Production passes a real boto3 client (built by
`make_fsx_client`); unit tests pass `FakeFsxApi` (tests/reference_driver/fakes.py), which
raises the same botocore errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import boto3.session
    from mypy_boto3_fsx import FSxClient

# Every call is retried by botocore in "adaptive" mode: exponential backoff with jitter for
# throttling, 5xx and connection errors, plus client-side rate limiting once AWS throttles.
DEFAULT_MAX_ATTEMPTS = 8
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 30.0


class FsxApi(Protocol):
    """boto3-shaped FSx operations: keyword arguments in, response dict out, ClientError raised."""

    def create_file_system(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def describe_file_systems(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def delete_file_system(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def update_file_system(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def create_data_repository_association(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def describe_data_repository_associations(self, **kwargs: Any) -> Mapping[str, Any]: ...


class Boto3FsxApi:
    """`FsxApi` over a boto3 FSx client (forwards calls unchanged)."""

    def __init__(self, client: FSxClient) -> None:
        self.client = client

    @property
    def endpoint_url(self) -> str:
        return str(self.client.meta.endpoint_url)

    def create_file_system(self, **kwargs: Any) -> Mapping[str, Any]:
        return self.client.create_file_system(**kwargs)

    def describe_file_systems(self, **kwargs: Any) -> Mapping[str, Any]:
        return self.client.describe_file_systems(**kwargs)

    def delete_file_system(self, **kwargs: Any) -> Mapping[str, Any]:
        return self.client.delete_file_system(**kwargs)

    def update_file_system(self, **kwargs: Any) -> Mapping[str, Any]:
        return self.client.update_file_system(**kwargs)

    def create_data_repository_association(self, **kwargs: Any) -> Mapping[str, Any]:
        return self.client.create_data_repository_association(**kwargs)

    def describe_data_repository_associations(self, **kwargs: Any) -> Mapping[str, Any]:
        return self.client.describe_data_repository_associations(**kwargs)


def make_fsx_client(
    region: str | None,
    endpoint_url: str | None,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    user_agent: str = "",
    session: boto3.session.Session | None = None,
) -> FSxClient:
    """A boto3 FSx client with adaptive retries.

    Pass `session` to build several clients cheaply.
    `endpoint_url=None` keeps botocore's own resolution, which honours AWS_ENDPOINT_URL_FSX and
    AWS_ENDPOINT_URL. `region=None` falls back to AWS_REGION / AWS_DEFAULT_REGION / the config.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        user_agent_extra=user_agent,
        # The driver calls the API from many RPC threads at once.
        max_pool_connections=64,
    )
    # Clients made from one session share its loaded service model (much faster to build).
    session = session or boto3.session.Session()
    return session.client("fsx", region_name=region, endpoint_url=endpoint_url, config=config)


def missing_aws_settings(region: str | None) -> str | None:
    """What the controller lacks to call FSx (a region, credentials), as one sentence saying
    what to set; None when both are there. Credentials are looked up the way botocore does
    (environment, profile, container and instance roles)."""
    import boto3

    session = boto3.session.Session()
    if not (region or session.region_name):
        return "no AWS region: set AWS_REGION (or pass --region)"
    if session.get_credentials() is None:
        return (
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
            "AWS_PROFILE, or give the pod an IAM role); against an FSx emulator any dummy "
            "values do"
        )
    return None


def is_aws_endpoint(endpoint_url: str) -> bool:
    """True for AWS's own endpoints (poll gently), False for an emulator (poll fast)."""
    from urllib.parse import urlsplit

    host = urlsplit(endpoint_url).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))
