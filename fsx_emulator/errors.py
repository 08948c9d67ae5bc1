"""FSx API errors in AWS's JSON 1.1 shape: `{"__type": Code, "Message": text}` and a status.

They subclass moto's JsonRESTError so moto's response machinery serializes them; only the
body differs, because FSx spells the message key `Message` (moto writes `message`).
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.exceptions import JsonRESTError

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"


class FSxApiError(JsonRESTError):
    """An FSx error response. `extra` carries the error's modeled members (e.g. Parameter)."""

    code = 400

    def __init__(self, error_code: str, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(error_code, message)
        self.code = status
        self.error_code = error_code
        self.error_message = message
        body: dict[str, Any] = {"__type": error_code, "Message": message}
        body.update(extra)
        self.description = json.dumps(body)
        self.content_type = JSON_CONTENT_TYPE

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Content-Type", JSON_CONTENT_TYPE), ("X-Amzn-ErrorType", self.error_code)]


def bad_request(message: str) -> FSxApiError:
    return FSxApiError("BadRequest", message)


def incompatible_parameter(parameter: str, message: str) -> FSxApiError:
    return FSxApiError("IncompatibleParameterError", message, Parameter=parameter)


def file_system_not_found(file_system_id: str) -> FSxApiError:
    return FSxApiError("FileSystemNotFound", f"File system '{file_system_id}' does not exist.")


def association_not_found(association_id: str) -> FSxApiError:
    return FSxApiError(
        "DataRepositoryAssociationNotFound",
        f"Data repository association '{association_id}' does not exist.",
    )


def resource_not_found(arn: str) -> FSxApiError:
    return FSxApiError("ResourceNotFound", f"Resource '{arn}' does not exist.", ResourceARN=arn)


def not_service_resource(arn: str) -> FSxApiError:
    return FSxApiError(
        "NotServiceResourceError",
        f"Resource '{arn}' is not an Amazon FSx resource (expected arn:aws:fsx:...).",
        ResourceARN=arn,
    )


def not_implemented(operation: str) -> FSxApiError:
    # 400 BadRequest: botocore retries throttling codes and 5xx, never BadRequest, so a client
    # sees this at once instead of after its retry budget.
    return FSxApiError("BadRequest", f"fsx-csi emulator does not implement {operation}")
