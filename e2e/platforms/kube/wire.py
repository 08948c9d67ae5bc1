"""Reading Kubernetes objects as the API server sent them, for the objects where real
servers send what the client models refuse.

The kubernetes client's models validate on deserialization, stricter than the API's own Go
types: kubernetes 37 refuses `{"spec": {"drivers": null}}` in a CSINode (the kubelet writes
exactly that before any driver registered; 36 refused it too, with a ValueError), and a
future release may refuse another null. Objects whose reading decides a wait (CSINodes, the
workloads' rollout status) are therefore read with `_preload_content=False` and parsed as
plain JSON, with Go's rules for what is missing: an absent or null field is its zero value
(`updatedReplicas` is omitted when it is 0)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any


def read_json(read: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a typed `read_*` method of the kubernetes client and return the object as JSON.
    Errors are still `ApiException`s (the client raises them before returning raw data)."""
    response = read(*args, _preload_content=False, **kwargs)
    data = response.data
    parsed = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    if not isinstance(parsed, dict):
        raise ValueError(f"expected a JSON object from {getattr(read, '__name__', read)}")
    return parsed


def field(obj: Mapping[str, Any] | None, *path: str) -> Any:
    """`obj[path[0]][path[1]]...`, None where a level is missing or null."""
    value: Any = obj
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def count(obj: Mapping[str, Any] | None, *path: str) -> int:
    """An integer field with Go's zero value for missing or null."""
    value = field(obj, *path)
    return int(value) if isinstance(value, int) else 0


def items(obj: Mapping[str, Any] | None, *path: str) -> list[Any]:
    """A list field, empty for missing or null."""
    value = field(obj, *path)
    return list(value) if isinstance(value, list) else []


def delete(call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Call a typed `delete_*` method without reading its answer as a model. The API server
    answers a delete that takes effect at once with a `Status`, not the object the client's
    return type names (a CSIDriver, a StorageClass): kubernetes 37 refuses to read one as the
    other. Errors are still `ApiException`s."""
    call(*args, _preload_content=False, **kwargs)
