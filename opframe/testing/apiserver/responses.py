"""HTTP answers of the API server: JSON bodies with Warning headers, the plain-text 404."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from opframe.testing.apiserver.storage import dumps

__all__ = ["NOT_FOUND_TEXT", "json_response", "plain_not_found"]

NOT_FOUND_TEXT = b"404 page not found\n"


def json_response(
    status: int, body: bytes | dict[str, Any], warnings: list[str] | None = None
) -> web.Response:
    """A JSON answer with one ``Warning: 299 - "..."`` header per warning text."""
    headers: CIMultiDict[str] = CIMultiDict()
    headers["Content-Type"] = "application/json"
    for w in warnings or ():
        headers.add("Warning", '299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"')
    raw = body if isinstance(body, bytes) else dumps(body)
    return web.Response(status=status, body=raw, headers=headers)


def plain_not_found() -> web.Response:
    """What the real server answers for paths it does not serve at all."""
    return web.Response(
        status=404, body=NOT_FOUND_TEXT, headers={"Content-Type": "text/plain; charset=utf-8"}
    )
