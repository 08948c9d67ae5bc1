"""The one table from AWS errors to CSI status codes, and the translation that applies it.

botocore has already retried throttling, 5xx and connection errors (adaptive retry mode) by the
time an error reaches this table, so a retryable error here means "still failing after
retries": UNAVAILABLE, which CSI callers retry later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from reference_driver.errors import DriverError


@dataclass(frozen=True)
class AwsErrorRule:
    status: grpc.StatusCode
    hint: str
    # Some codes mean different things per operation (IncompatibleParameterError on
    # CreateFileSystem is a reused idempotency token with other parameters: the name exists).
    per_operation: Mapping[str, grpc.StatusCode] = field(default_factory=dict)


_RETRY_LATER = "the FSx API kept failing after retries; try again later"
_CHECK_PARAMETERS = "check the StorageClass parameters against reference_driver/README.md"

AWS_ERROR_TABLE: Mapping[str, AwsErrorRule] = {
    # Throttling and server-side failures: botocore retried them, then gave up.
    "ThrottlingException": AwsErrorRule(grpc.StatusCode.UNAVAILABLE, _RETRY_LATER),
    "Throttling": AwsErrorRule(grpc.StatusCode.UNAVAILABLE, _RETRY_LATER),
    "TooManyRequestsException": AwsErrorRule(grpc.StatusCode.UNAVAILABLE, _RETRY_LATER),
    "RequestLimitExceeded": AwsErrorRule(grpc.StatusCode.UNAVAILABLE, _RETRY_LATER),
    "InternalServerError": AwsErrorRule(grpc.StatusCode.UNAVAILABLE, _RETRY_LATER),
    "ServiceUnavailable": AwsErrorRule(grpc.StatusCode.UNAVAILABLE, _RETRY_LATER),
    # Quotas.
    "ServiceLimitExceeded": AwsErrorRule(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "an FSx service quota is reached; delete unused file systems or raise the quota",
    ),
    # The request itself is wrong.
    "BadRequest": AwsErrorRule(grpc.StatusCode.INVALID_ARGUMENT, _CHECK_PARAMETERS),
    "IncompatibleParameterError": AwsErrorRule(
        grpc.StatusCode.INVALID_ARGUMENT,
        "a parameter conflicts with another or with the existing file system",
        per_operation={"CreateFileSystem": grpc.StatusCode.ALREADY_EXISTS},
    ),
    "InvalidNetworkSettings": AwsErrorRule(
        grpc.StatusCode.INVALID_ARGUMENT, "check subnetId and securityGroupIds"
    ),
    "InvalidPerUnitStorageThroughput": AwsErrorRule(
        grpc.StatusCode.INVALID_ARGUMENT, _CHECK_PARAMETERS
    ),
    "InvalidImportPath": AwsErrorRule(grpc.StatusCode.INVALID_ARGUMENT, "check s3ImportPath"),
    "InvalidExportPath": AwsErrorRule(grpc.StatusCode.INVALID_ARGUMENT, "check s3ExportPath"),
    "InvalidDataRepositoryType": AwsErrorRule(grpc.StatusCode.INVALID_ARGUMENT, _CHECK_PARAMETERS),
    "MissingFileSystemConfiguration": AwsErrorRule(
        grpc.StatusCode.INVALID_ARGUMENT, _CHECK_PARAMETERS
    ),
    "ValidationException": AwsErrorRule(grpc.StatusCode.INVALID_ARGUMENT, _CHECK_PARAMETERS),
    # Gone or never there.
    "FileSystemNotFound": AwsErrorRule(
        grpc.StatusCode.NOT_FOUND, "the file system does not exist (deleted, or wrong region)"
    ),
    "DataRepositoryAssociationNotFound": AwsErrorRule(
        grpc.StatusCode.NOT_FOUND, "the data repository association does not exist"
    ),
    # Credentials and permissions.
    "AccessDeniedException": AwsErrorRule(
        grpc.StatusCode.PERMISSION_DENIED,
        "the driver's IAM role lacks an FSx permission; compare it with the example IAM policy",
    ),
    "UnrecognizedClientException": AwsErrorRule(
        grpc.StatusCode.PERMISSION_DENIED, "the driver's AWS credentials are not valid"
    ),
}


class CloudError(DriverError):
    """An FSx API call failed; `aws_code` is AWS's error code (or the botocore error class)."""

    def __init__(self, message: str, *, code: grpc.StatusCode, aws_code: str) -> None:
        super().__init__(message, code=code)
        self.aws_code = aws_code


def translate(exc: Exception, operation: str, subject: str) -> CloudError:
    """Map a boto3 failure of `operation` on `subject` (a file system id or volume name)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        aws_code = str(error.get("Code", "Unknown"))
        aws_message = str(error.get("Message", ""))
        http_status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        rule = AWS_ERROR_TABLE.get(aws_code)
        if rule is not None:
            status = rule.per_operation.get(operation, rule.status)
            hint = rule.hint
        elif http_status >= 500:
            status, hint = grpc.StatusCode.UNAVAILABLE, _RETRY_LATER
        else:
            status, hint = grpc.StatusCode.INTERNAL, "an FSx error the driver does not know"
        return CloudError(
            f"FSx {operation} for {subject} failed with {aws_code}: {aws_message} ({hint})",
            code=status,
            aws_code=aws_code,
        )
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return CloudError(
            f"FSx {operation} for {subject} could not reach the FSx API: {exc} (check the "
            "network path to the endpoint, or --aws-endpoint-url / AWS_ENDPOINT_URL_FSX)",
            code=grpc.StatusCode.UNAVAILABLE,
            aws_code=type(exc).__name__,
        )
    if isinstance(exc, (NoCredentialsError, NoRegionError)):
        return CloudError(
            f"FSx {operation} for {subject} cannot be called: {exc} (configure AWS credentials "
            "and --region / AWS_REGION for the driver)",
            code=grpc.StatusCode.FAILED_PRECONDITION,
            aws_code=type(exc).__name__,
        )
    if isinstance(exc, ParamValidationError):
        # botocore checks the request against the API model before sending it.
        return CloudError(
            f"FSx {operation} for {subject} was refused before sending: {exc} "
            f"({_CHECK_PARAMETERS})",
            code=grpc.StatusCode.INVALID_ARGUMENT,
            aws_code=type(exc).__name__,
        )
    if isinstance(exc, BotoCoreError):
        return CloudError(
            f"FSx {operation} for {subject} failed in botocore: {exc}",
            code=grpc.StatusCode.INTERNAL,
            aws_code=type(exc).__name__,
        )
    raise TypeError(f"not an AWS error: {exc!r}")


AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
