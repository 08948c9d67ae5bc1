"""Tagging and ClientRequestToken idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import create, lustre_request, wait_for


def test_tag_untag_and_list(fsx: Any) -> None:
    arn = create(fsx, Tags=[{"Key": "a", "Value": "1"}])["ResourceARN"]
    fsx.tag_resource(ResourceARN=arn, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
    tags = fsx.list_tags_for_resource(ResourceARN=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "3"), ("b", "2")]
    fsx.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert fsx.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    page = fsx.list_tags_for_resource(ResourceARN=arn, MaxResults=1)
    assert len(page["Tags"]) == 1 and "NextToken" not in page


UNKNOWN_ARN = "arn:aws:fsx:us-east-1:123456789012:file-system/fs-0123456789abcdef0"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda fsx, arn: fsx.tag_resource(ResourceARN=arn, Tags=[{"Key": "k", "Value": "v"}]),
            id="tag",
        ),
        pytest.param(
            lambda fsx, arn: fsx.untag_resource(ResourceARN=arn, TagKeys=["k"]), id="untag"
        ),
        pytest.param(lambda fsx, arn: fsx.list_tags_for_resource(ResourceARN=arn), id="list"),
    ],
)
def test_tagging_an_unknown_resource_fails_like_aws(fsx: Any, call: Any) -> None:
    with pytest.raises(ClientError) as info:
        call(fsx, UNKNOWN_ARN)
    error = info.value.response["Error"]
    assert error["Code"] == "ResourceNotFound"
    assert UNKNOWN_ARN in error["Message"]
    with pytest.raises(ClientError) as info:
        call(fsx, "arn:aws:s3:::bucket")
    assert info.value.response["Error"]["Code"] == "NotServiceResourceError"


def test_tags_follow_the_file_system_until_it_is_gone(fsx: Any) -> None:
    fs = create(fsx, Tags=[{"Key": "a", "Value": "1"}])
    fsx.delete_file_system(FileSystemId=fs["FileSystemId"])
    # Still DELETING: the resource exists and keeps its tags.
    assert fsx.list_tags_for_resource(ResourceARN=fs["ResourceARN"])["Tags"] == fs["Tags"]

    def listing() -> str:
        try:
            fsx.list_tags_for_resource(ResourceARN=fs["ResourceARN"])
            return "listed"
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])

    wait_for(
        "the deleted file system's ARN to be unknown",
        listing,
        lambda code: code == "ResourceNotFound",
    )


def test_same_token_same_parameters_returns_the_same_file_system(fsx: Any) -> None:
    first = fsx.create_file_system(ClientRequestToken="pvc-1", **lustre_request())["FileSystem"]
    again = fsx.create_file_system(ClientRequestToken="pvc-1", **lustre_request())["FileSystem"]
    assert again["FileSystemId"] == first["FileSystemId"]
    assert len(fsx.describe_file_systems()["FileSystems"]) == 1


def test_same_token_other_parameters_is_incompatible(fsx: Any) -> None:
    fsx.create_file_system(ClientRequestToken="pvc-2", **lustre_request())
    with pytest.raises(ClientError) as info:
        fsx.create_file_system(ClientRequestToken="pvc-2", **lustre_request(StorageCapacity=2400))
    response: dict[str, Any] = dict(info.value.response)
    assert response["Error"]["Code"] == "IncompatibleParameterError"
    assert response["Parameter"] == "ClientRequestToken"  # the error's modeled member
    assert len(fsx.describe_file_systems()["FileSystems"]) == 1


def test_different_tokens_make_different_file_systems(fsx: Any) -> None:
    a = fsx.create_file_system(ClientRequestToken="t-a", **lustre_request())["FileSystem"]
    b = fsx.create_file_system(ClientRequestToken="t-b", **lustre_request())["FileSystem"]
    assert a["FileSystemId"] != b["FileSystemId"]
