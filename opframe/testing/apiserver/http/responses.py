"""HTTP answers of the API server: JSON bodies with Warning headers, the plain-text 404."""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web
from multidict import CIMultiDict

from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.storage import StoredObject, dumps
from opframe.testing.apiserver.registry.writes import Writer

__all__ = [
    "NOT_FOUND_TEXT",
    "json_response",
    "object_bytes",
    "plain_not_found",
    "warning_header",
    "yaml_response",
]

NOT_FOUND_TEXT = b"404 page not found\n"


def json_response(
    status: int, body: bytes | dict[str, Any], warnings: list[str] | None = None
) -> web.Response:
    """A JSON answer with one ``Warning: 299 - "..."`` header per warning text."""
    headers: CIMultiDict[str] = CIMultiDict()
    headers["Content-Type"] = "application/json"
    for w in warnings or ():
        headers.add("Warning", warning_header(w))
    raw = body if isinstance(body, bytes) else dumps(body)
    return web.Response(status=status, body=raw, headers=headers)


def warning_header(text: str) -> str:
    """A ``Warning`` header value: ``299 - "text"`` with quotes and backslashes escaped."""
    return '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def yaml_response(body: bytes) -> web.Response:
    """A 200 answer in YAML (``Accept: application/yaml``), from the JSON encoding."""
    text = yaml.safe_dump(json.loads(body), sort_keys=False)
    return web.Response(
        status=200, body=text.encode(), headers={"Content-Type": "application/yaml"}
    )


def plain_not_found() -> web.Response:
    """What the real server answers for paths it does not serve at all."""
    return web.Response(
        status=404, body=NOT_FOUND_TEXT, headers={"Content-Type": "text/plain; charset=utf-8"}
    )


def object_bytes(
    writer: Writer, rt: ResourceType, so: StoredObject, *, item: bool = False
) -> bytes:
    """``so`` encoded as ``rt`` serves it, reusing the stored encoding when it is the same.

    ``item``: as a built-in list item, without ``kind`` and ``apiVersion``.
    """
    if so.obj.get("apiVersion") == rt.api_version:
        return so.item() if item and not rt.custom else so.raw()
    obj = writer.served(rt, so.obj)
    if item and not rt.custom:
        obj = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
    return dumps(obj)
