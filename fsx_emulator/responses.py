"""The FSx JSON 1.1 front end: moto's FSxResponse with the emulator's operations.

moto's `BaseResponse.setup_class` parses the request (body, region, access key); this class
then dispatches through one table of implemented operations instead of moto's reflection, so
an operation the emulator does not implement gets a clear 400 naming it (moto would raise
NotImplementedError, which its server turns into an HTML 500 that botocore retries).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from moto.fsx.responses import FSxResponse

from fsx_emulator import rules
from fsx_emulator.backend import CreationOutcome, FidelityFSxBackend
from fsx_emulator.errors import JSON_CONTENT_TYPE, FSxApiError, bad_request, not_implemented

TARGET_PREFIX = "AWSSimbaAPIService_v20180301."
# WSGI environ key through which the server hands a creation fault to CreateFileSystem.
CREATION_OUTCOME_KEY = "fsx_emulator.creation_outcome"

Handler = Callable[["FidelityFSxResponse", dict[str, Any]], dict[str, Any]]


class FidelityFSxResponse(FSxResponse):
    """One request against one emulator backend."""

    HANDLERS: ClassVar[dict[str, Handler]] = {}

    def __init__(self, backend: FidelityFSxBackend) -> None:
        super().__init__()
        self._backend = backend

    @property
    def fsx_backend(self) -> FidelityFSxBackend:
        return self._backend

    def call_action(self) -> tuple[int, dict[str, str], str]:
        headers = {"Content-Type": JSON_CONTENT_TYPE}
        target = self.headers.get("X-Amz-Target") or ""
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        try:
            if not operation:
                raise FSxApiError(
                    "UnknownOperationException",
                    f"X-Amz-Target must be {TARGET_PREFIX}<Operation>, got {target!r}.",
                )
            handler = self.HANDLERS.get(operation)
            if handler is None:
                raise not_implemented(operation)
            params = self._json_body()
            return 200, headers, json.dumps(handler(self, params))
        except FSxApiError as error:
            headers["X-Amzn-ErrorType"] = error.error_code
            return error.code, headers, error.description

    def _json_body(self) -> dict[str, Any]:
        body = self.body or "{}"
        try:
            params = json.loads(body)
        except ValueError as exc:
            raise FSxApiError(
                "SerializationException", f"The request body is not valid JSON: {exc}."
            ) from None
        if not isinstance(params, dict):
            raise FSxApiError(
                "SerializationException",
                f"The request body must be a JSON object, got {type(params).__name__}.",
            )
        return params

    # -- file systems --------------------------------------------------------------------

    def _create_file_system(self, params: dict[str, Any]) -> dict[str, Any]:
        outcome, message = self.normalized_request.environ.get(
            CREATION_OUTCOME_KEY, (CreationOutcome.AVAILABLE, None)
        )
        # One lock hold: the answer shows the state the call produced (CREATING).
        with self.fsx_backend.lock:
            file_system = self.fsx_backend.create_lustre_file_system(params, outcome, message)
            return {"FileSystem": file_system.to_dict()}

    def _describe_file_systems(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = rules.Fields(params)
        ids = fields.strings("FileSystemIds")
        items, token = self.fsx_backend.describe_lustre_file_systems(
            ids, rules.max_results(fields), fields.string("NextToken")
        )
        return _page_result("FileSystems", items, token)

    def _delete_file_system(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = rules.Fields(params)
        rules.client_request_token(fields)
        lustre = fields.obj("LustreConfiguration")
        if lustre is not None and lustre.boolean("SkipFinalBackup") is False:
            raise bad_request(
                "fsx-csi emulator does not implement final backups "
                "(LustreConfiguration.SkipFinalBackup=false)"
            )
        file_system = self.fsx_backend.delete_lustre_file_system(rules.file_system_id(fields))
        return {
            "FileSystemId": file_system.file_system_id,
            "Lifecycle": "DELETING",
            "LustreResponse": {},
        }

    def _update_file_system(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.fsx_backend.lock:
            file_system = self.fsx_backend.update_lustre_file_system(params)
            return {"FileSystem": file_system.to_dict()}

    # -- data repository associations ----------------------------------------------------

    def _create_association(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.fsx_backend.lock:
            association = self.fsx_backend.create_association(params)
            return {"Association": association.to_dict()}

    def _describe_associations(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = rules.Fields(params)
        filters = fields._typed("Filters", list, "a list of {Name, Values} filters", False)
        items, token = self.fsx_backend.describe_associations(
            fields.strings("AssociationIds"),
            filters,
            fields.integer("MaxResults", minimum=1, maximum=25),
            fields.string("NextToken"),
        )
        return _page_result("Associations", items, token)

    def _delete_association(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = rules.Fields(params)
        rules.client_request_token(fields)
        association_id = fields.string("AssociationId", required=True)
        assert association_id is not None
        delete_data = fields.boolean("DeleteDataInFileSystem") or False
        association = self.fsx_backend.delete_association(association_id)
        return {
            "AssociationId": association.association_id,
            "Lifecycle": "DELETING",
            "DeleteDataInFileSystem": delete_data,
        }

    # -- tags ------------------------------------------------------------------------------

    def _tag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = rules.Fields(params)
        arn = fields.string("ResourceARN", required=True, max_length=512)
        assert arn is not None
        self.fsx_backend.tag_fsx_resource(arn, rules.tags(fields, required=True))
        return {}

    def _untag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = rules.Fields(params)
        arn = fields.string("ResourceARN", required=True, max_length=512)
        assert arn is not None
        self.fsx_backend.untag_fsx_resource(arn, rules.tag_keys(fields))
        return {}

    def _list_tags_for_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = rules.Fields(params)
        arn = fields.string("ResourceARN", required=True, max_length=512)
        assert arn is not None
        tags, token = self.fsx_backend.list_fsx_tags(
            arn, rules.max_results(fields), fields.string("NextToken")
        )
        return _page_result("Tags", tags, token)


def _page_result(key: str, items: list[Any], token: str | None) -> dict[str, Any]:
    """A List/Describe answer: the page under `key`, NextToken only when more pages follow."""
    result: dict[str, Any] = {key: items}
    if token is not None:
        result["NextToken"] = token
    return result


FidelityFSxResponse.HANDLERS = {
    "CreateFileSystem": FidelityFSxResponse._create_file_system,
    "DescribeFileSystems": FidelityFSxResponse._describe_file_systems,
    "DeleteFileSystem": FidelityFSxResponse._delete_file_system,
    "UpdateFileSystem": FidelityFSxResponse._update_file_system,
    "CreateDataRepositoryAssociation": FidelityFSxResponse._create_association,
    "DescribeDataRepositoryAssociations": FidelityFSxResponse._describe_associations,
    "DeleteDataRepositoryAssociation": FidelityFSxResponse._delete_association,
    "TagResource": FidelityFSxResponse._tag_resource,
    "UntagResource": FidelityFSxResponse._untag_resource,
    "ListTagsForResource": FidelityFSxResponse._list_tags_for_resource,
}
