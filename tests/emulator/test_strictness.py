"""Where the emulator is as unforgiving as AWS: token windows, paging, request rates.

Each behaviour through boto3 over HTTP against a real EmulatorServer; windows and buckets follow
a ManualClock where exactness matters, so nothing here sleeps for long.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from fsx_emulator import EmulatorConfig, EmulatorServer
from fsx_emulator.config import (
    DEFAULT_DESCRIBE_PAGE_SIZE,
    DEFAULT_TOKEN_TTL_SECONDS,
    STRICT_RATE_LIMITS,
    RateLimit,
)
from fsx_emulator.lifecycle import ManualClock

from .conftest import FAST, create, lustre_request, make_client


def all_file_system_ids(fsx: Any) -> list[str]:
    pages = fsx.get_paginator("describe_file_systems").paginate()
    return [fs["FileSystemId"] for page in pages for fs in page["FileSystems"]]


# -- ClientRequestToken window -------------------------------------------------------------


def test_a_token_returns_its_file_system_only_inside_the_window() -> None:
    clock = ManualClock()
    with EmulatorServer(EmulatorConfig(creation_delay=1, token_ttl=300), clock=clock) as emu:
        fsx = make_client(emu.endpoint_url)
        first = fsx.create_file_system(ClientRequestToken="pvc-1", **lustre_request())
        clock.advance(299.9)
        again = fsx.create_file_system(ClientRequestToken="pvc-1", **lustre_request())
        assert again["FileSystem"]["FileSystemId"] == first["FileSystem"]["FileSystemId"]
        clock.advance(0.1)  # the window, counted from the creating call, has closed
        later = fsx.create_file_system(ClientRequestToken="pvc-1", **lustre_request())
        assert later["FileSystem"]["FileSystemId"] != first["FileSystem"]["FileSystemId"]
        assert len(all_file_system_ids(fsx)) == 2
        # The token now stands for the new file system, for a window of its own.
        clock.advance(299.9)
        last = fsx.create_file_system(ClientRequestToken="pvc-1", **lustre_request())
        assert last["FileSystem"]["FileSystemId"] == later["FileSystem"]["FileSystemId"]


def test_other_parameters_are_incompatible_only_inside_the_window() -> None:
    clock = ManualClock()
    with EmulatorServer(EmulatorConfig(token_ttl=60), clock=clock) as emu:
        fsx = make_client(emu.endpoint_url)
        fsx.create_file_system(ClientRequestToken="pvc-2", **lustre_request())
        with pytest.raises(ClientError) as info:
            fsx.create_file_system(
                ClientRequestToken="pvc-2", **lustre_request(StorageCapacity=2400)
            )
        assert info.value.response["Error"]["Code"] == "IncompatibleParameterError"
        clock.advance(60)
        bigger = fsx.create_file_system(
            ClientRequestToken="pvc-2", **lustre_request(StorageCapacity=2400)
        )["FileSystem"]
        assert bigger["StorageCapacity"] == 2400
        assert len(all_file_system_ids(fsx)) == 2


def test_a_driver_relying_on_the_token_alone_duplicates_after_the_window(
    emu: EmulatorServer,
) -> None:
    """What the upstream driver did (PR #453): retry CreateFileSystem with the same token and
    trust the answer. A short window set over the control API, as the project's own duplicate
    tests and the sanity FSx profile set it."""
    emu.control.set_token_ttl(0.2)
    fsx = make_client(emu.endpoint_url)
    request = lustre_request(Tags=[{"Key": "CSIVolumeName", "Value": "pvc-retried"}])
    first = fsx.create_file_system(ClientRequestToken="pvc-retried", **request)["FileSystem"]
    time.sleep(0.3)  # the provisioner's retry, after the window
    retry = fsx.create_file_system(ClientRequestToken="pvc-retried", **request)["FileSystem"]
    assert retry["FileSystemId"] != first["FileSystemId"]
    tagged = [
        fs
        for fs in emu.control.file_systems()
        if {"Key": "CSIVolumeName", "Value": "pvc-retried"} in fs["Tags"]
    ]
    assert len(tagged) == 2  # the duplicate a tag lookup would have prevented


def test_the_token_window_is_settable_and_reset_restores_the_configured_one(
    emu: EmulatorServer,
) -> None:
    assert emu.control.strictness()["token_ttl"] == FAST.token_ttl == DEFAULT_TOKEN_TTL_SECONDS
    emu.control.set_token_ttl(5)
    assert emu.control.strictness()["token_ttl"] == 5
    emu.control.set_token_ttl(None)  # never expires: what AWS does not do, for old tests
    assert emu.control.strictness()["token_ttl"] is None
    emu.control.reset()
    assert emu.control.strictness()["token_ttl"] == DEFAULT_TOKEN_TTL_SECONDS


def test_a_bad_token_window_is_refused_and_changes_nothing(emu: EmulatorServer) -> None:
    from fsx_emulator.control import EmulatorControlError

    with pytest.raises(EmulatorControlError, match="token_ttl"):
        emu.control.set_token_ttl(0)
    with pytest.raises(ValueError, match="token_ttl"):
        EmulatorConfig(token_ttl=-1)
    assert emu.control.strictness()["token_ttl"] == DEFAULT_TOKEN_TTL_SECONDS


# -- DescribeFileSystems pages by itself ---------------------------------------------------


def test_describe_without_max_results_answers_one_internal_page(emu: EmulatorServer) -> None:
    fsx = make_client(emu.endpoint_url)
    created = [create(fsx)["FileSystemId"] for _ in range(DEFAULT_DESCRIBE_PAGE_SIZE + 1)]
    first = fsx.describe_file_systems()
    assert [fs["FileSystemId"] for fs in first["FileSystems"]] == created[:-1]
    assert "NextToken" in first  # a driver reading one page misses the last file system
    rest = fsx.describe_file_systems(NextToken=first["NextToken"])
    assert [fs["FileSystemId"] for fs in rest["FileSystems"]] == created[-1:]
    assert "NextToken" not in rest


def test_max_results_is_a_maximum_not_a_promise(emu: EmulatorServer) -> None:
    emu.control.set_describe_page_size(3)
    fsx = make_client(emu.endpoint_url)
    created = [create(fsx)["FileSystemId"] for _ in range(7)]
    page = fsx.describe_file_systems(MaxResults=100)
    assert len(page["FileSystems"]) == 3 and "NextToken" in page
    assert len(fsx.describe_file_systems(MaxResults=2)["FileSystems"]) == 2
    # FileSystemIds are paged the same way.
    by_ids = fsx.describe_file_systems(FileSystemIds=created[:5])
    assert len(by_ids["FileSystems"]) == 3 and "NextToken" in by_ids
    # boto3's paginator (what a correct driver uses) still sees every file system, in order.
    assert all_file_system_ids(fsx) == created
    emu.control.reset()
    assert emu.control.strictness()["describe_page_size"] == DEFAULT_DESCRIBE_PAGE_SIZE


def test_the_page_size_is_a_config_setting() -> None:
    with EmulatorServer(EmulatorConfig(describe_page_size=1)) as emu:
        fsx = make_client(emu.endpoint_url)
        created = [create(fsx)["FileSystemId"] for _ in range(3)]
        assert len(fsx.describe_file_systems()["FileSystems"]) == 1
        assert all_file_system_ids(fsx) == created
    with pytest.raises(ValueError, match="describe_page_size"):
        EmulatorConfig(describe_page_size=0)


# -- Request rates ---------------------------------------------------------------------------


def throttled_call(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    response: dict[str, Any] = dict(info.value.response)
    return response


def test_rate_limits_are_off_by_default(emu: EmulatorServer) -> None:
    fsx = make_client(emu.endpoint_url, attempts=1)
    for _ in range(60):
        fsx.describe_file_systems()
    assert emu.control.strictness()["rate_limits"] == {}


def test_an_operation_over_its_rate_is_throttled_as_aws_throttles() -> None:
    clock = ManualClock()
    config = EmulatorConfig(rate_limits={"DescribeFileSystems": RateLimit(rate=2, burst=3)})
    with EmulatorServer(config, clock=clock) as emu:
        fsx = make_client(emu.endpoint_url, attempts=1)
        for _ in range(3):  # the bucket's burst
            fsx.describe_file_systems()
        response = throttled_call(fsx.describe_file_systems)
        assert response["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
        # The shape botocore's retry logic classifies as throttling (and so backs off on).
        context = RetryContext(attempt_number=1, parsed_response=response)
        assert ThrottledRetryableChecker().is_retryable(context)
        # Other operations have buckets of their own (none here): unaffected.
        fsx.list_tags_for_resource(ResourceARN=create(fsx)["ResourceARN"])
        clock.advance(0.5)  # one token back at 2 per second
        fsx.describe_file_systems()
        throttled_call(fsx.describe_file_systems)
        assert emu.control.strictness()["throttled"] == {"DescribeFileSystems": 2}


def test_botocore_retries_a_throttled_call_until_the_bucket_refills(emu: EmulatorServer) -> None:
    emu.control.set_rate_limits({"DescribeFileSystems": RateLimit(rate=5, burst=1)})
    fsx = make_client(emu.endpoint_url, attempts=10)
    fsx.describe_file_systems()
    answer = fsx.describe_file_systems()  # refused at first, then retried after backoff
    assert answer["ResponseMetadata"]["RetryAttempts"] >= 1
    assert emu.control.strictness()["throttled"]["DescribeFileSystems"] >= 1


def test_star_gives_every_other_operation_a_bucket_of_its_own() -> None:
    clock = ManualClock()
    config = EmulatorConfig(
        rate_limits={"*": RateLimit(rate=1, burst=1), "DescribeFileSystems": RateLimit(1, 5)}
    )
    with EmulatorServer(config, clock=clock) as emu:
        fsx = make_client(emu.endpoint_url, attempts=1)
        arn = create(fsx)["ResourceARN"]
        throttled_call(lambda: create(fsx))  # CreateFileSystem's bucket is empty
        fsx.list_tags_for_resource(ResourceARN=arn)  # ListTagsForResource's is not
        throttled_call(lambda: fsx.list_tags_for_resource(ResourceARN=arn))
        for _ in range(5):
            fsx.describe_file_systems()
        assert len(emu.control.file_systems()) == 1  # a throttled create creates nothing
        assert emu.control.strictness()["throttled"] == {
            "CreateFileSystem": 1,
            "ListTagsForResource": 1,
        }


def test_strict_limits_are_settable_and_reset_restores_the_configured_ones(
    emu: EmulatorServer,
) -> None:
    emu.control.set_rate_limits(STRICT_RATE_LIMITS)
    settings = emu.control.strictness()
    assert settings["rate_limits"] == {op: lim.to_dict() for op, lim in STRICT_RATE_LIMITS.items()}
    fsx = make_client(emu.endpoint_url, attempts=1)
    burst = STRICT_RATE_LIMITS["DescribeFileSystems"].burst
    codes = []
    for _ in range(burst + 10):  # a storm, far faster than 20 per second
        try:
            fsx.describe_file_systems()
            codes.append("ok")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    assert "ThrottlingException" in codes
    emu.control.reset()
    assert emu.control.strictness()["rate_limits"] == {}


def test_a_rate_limit_needs_a_rate_and_a_burst() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimit(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(rate=1, burst=0)
    assert RateLimit.parse("2.5") == RateLimit(2.5, 3)
    assert RateLimit.parse("20/40") == RateLimit(20, 40)
    with pytest.raises(ValueError, match="RATE/BURST"):
        RateLimit.parse("fast")
