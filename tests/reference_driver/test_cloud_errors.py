"""The AWS error table and the translation of botocore failures."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from reference_driver.cloud.errors import AWS_ERROR_TABLE, translate


def client_error(code: str, status: int = 400, operation: str = "CreateFileSystem") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


@pytest.mark.parametrize(
    ("code", "operation", "expected"),
    [
        ("ThrottlingException", "DescribeFileSystems", grpc.StatusCode.UNAVAILABLE),
        ("InternalServerError", "CreateFileSystem", grpc.StatusCode.UNAVAILABLE),
        ("ServiceLimitExceeded", "CreateFileSystem", grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("BadRequest", "CreateFileSystem", grpc.StatusCode.INVALID_ARGUMENT),
        ("IncompatibleParameterError", "CreateFileSystem", grpc.StatusCode.ALREADY_EXISTS),
        ("IncompatibleParameterError", "UpdateFileSystem", grpc.StatusCode.INVALID_ARGUMENT),
        ("InvalidNetworkSettings", "CreateFileSystem", grpc.StatusCode.INVALID_ARGUMENT),
        ("FileSystemNotFound", "DescribeFileSystems", grpc.StatusCode.NOT_FOUND),
        ("AccessDeniedException", "CreateFileSystem", grpc.StatusCode.PERMISSION_DENIED),
    ],
)
def test_aws_codes_map_to_csi_codes(code: str, operation: str, expected: grpc.StatusCode) -> None:
    error = translate(client_error(code, operation=operation), operation, "pvc-1")
    assert error.code == expected
    assert error.aws_code == code
    assert operation in error.message and "pvc-1" in error.message and code in error.message


def test_unknown_5xx_is_unavailable_and_unknown_4xx_is_internal() -> None:
    assert translate(client_error("Weird", 503), "X", "s").code == grpc.StatusCode.UNAVAILABLE
    assert translate(client_error("Weird", 400), "X", "s").code == grpc.StatusCode.INTERNAL


def test_connection_errors_are_unavailable() -> None:
    refused = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert translate(refused, "CreateFileSystem", "v").code == grpc.StatusCode.UNAVAILABLE
    timeout = ReadTimeoutError(endpoint_url="http://127.0.0.1:1")
    assert translate(timeout, "CreateFileSystem", "v").code == grpc.StatusCode.UNAVAILABLE


def test_the_table_has_every_code_the_issue_names() -> None:
    for code in ("ServiceLimitExceeded", "BadRequest", "IncompatibleParameterError",
                 "FileSystemNotFound", "ThrottlingException", "InternalServerError"):  # fmt: skip
        assert code in AWS_ERROR_TABLE


def test_requests_botocore_refuses_to_send_are_invalid_argument() -> None:
    from botocore.exceptions import ParamValidationError

    refused = ParamValidationError(report="Invalid length for parameter SubnetIds[0]")
    error = translate(refused, "CreateFileSystem", "pvc-1")
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "SubnetIds[0]" in error.message
