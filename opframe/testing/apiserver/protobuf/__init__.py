"""Protobuf for the embedded API server: ``application/vnd.kubernetes.protobuf``.

Typed Go clients, kubectl among them, send built-in objects as protobuf and ask for protobuf
answers. This package holds our own descriptor table of the Kubernetes messages
(``messages.txt``), a generic codec between those messages and the JSON-shaped dicts the
server keeps, the ``k8s\\x00`` + ``runtime.Unknown`` envelope, and the hooks the HTTP layer
calls:

- :func:`decode_request`: a protobuf create/update body into a JSON-shaped dict;
- :func:`respond`: a JSON answer re-encoded as protobuf when content negotiation picks it;
- :func:`watch_response`: a watch stream that writes length-prefixed protobuf frames when
  negotiated (callers keep writing JSON event lines).

    >>> body = encode_object({"apiVersion": "v1", "kind": "ConfigMap",
    ...                       "metadata": {"name": "c"}, "data": {"k": "v"}})
    >>> decode_object(body)["data"]
    {'k': 'v'}
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from opframe.testing.apiserver.errors import StatusError, bad_request
from opframe.testing.apiserver.protobuf.codec import ProtobufError
from opframe.testing.apiserver.protobuf.descriptors import built_in_group
from opframe.testing.apiserver.protobuf.envelope import (
    decode_object,
    decode_watch_events,
    encodable,
    encode_object,
    encode_watch_event,
)

__all__ = [
    "MEDIA_TYPE",
    "WATCH_MEDIA_TYPE",
    "ProtobufError",
    "decode_object",
    "decode_request",
    "decode_watch_events",
    "encodable",
    "encode_object",
    "encode_watch_event",
    "prefers_protobuf",
    "respond",
    "watch_frames",
    "watch_response",
    "watch_wanted",
]

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
WATCH_MEDIA_TYPE = MEDIA_TYPE + ";stream=watch"

# The media types a built-in resource is served in, in the server's order of preference.
_SERVED = ("application/json", "application/yaml", MEDIA_TYPE)


def _clauses(accept: str) -> list[tuple[str, dict[str, str]]]:
    """Accept clauses ordered as goautoneg orders them: by q, then as written."""
    parsed: list[tuple[float, int, str, dict[str, str]]] = []
    for i, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        if not media:
            continue
        opts = {}
        for p in params:
            k, _, v = p.partition("=")
            opts[k.strip()] = v.strip()
        try:
            q = float(opts.pop("q", "1"))
        except ValueError:
            q = 0.0
        if q > 0:
            parsed.append((-q, i, media.lower(), opts))
    parsed.sort()
    return [(media, opts) for _, _, media, opts in parsed]


def prefers_protobuf(accept: str, *, stream: bool = False) -> bool:
    """Whether kube-apiserver's negotiation picks protobuf for this Accept header.

    The first clause (by q, then order) that names a served media type, ``type/*`` or ``*/*``,
    and whose parameters the endpoint allows, wins (endpoints/handlers/negotiation). Wildcards
    match JSON first; a conversion (``as=Table``) is never served as protobuf.
    """
    for media, opts in _clauses(accept):
        if opts.get("stream") not in (None, "", "watch"):
            continue
        if media in ("*/*", "application/*"):
            return False
        if media == MEDIA_TYPE:
            if "as" in opts or "g" in opts or "v" in opts:
                continue
            return True
        if media in _SERVED:
            if media == "application/yaml" and stream:
                continue  # YAML has no stream serializer
            return False
    return False


def decode_request(raw: bytes, api_version: str, kind: str) -> dict[str, Any]:
    """A protobuf request body as a JSON-shaped object (a 400 when it cannot be read)."""
    try:
        return decode_object(raw, (api_version, kind))
    except (ProtobufError, UnicodeDecodeError, ValueError) as e:
        raise bad_request(
            f"the object provided is unrecognized (must be of type {kind}): {e}"
        ) from None


def respond(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """``resp`` re-encoded as protobuf when the client's Accept header picks protobuf.

    Only complete JSON answers of kinds that have a protobuf message are converted (custom
    resources and Tables stay JSON, as kube-apiserver serves them).
    """
    if not isinstance(resp, web.Response) or resp.content_type != "application/json":
        return resp
    if not prefers_protobuf(request.headers.get("Accept", "")):
        return resp
    body = resp.body
    if not isinstance(body, bytes):
        return resp
    try:
        obj = json.loads(body)
    except ValueError:
        return resp
    if not encodable(obj):
        if _custom_resource(obj) and not _accepts_json(request.headers.get("Accept", "")):
            return _not_acceptable_for_custom_resources()
        return resp
    try:
        encoded = encode_object(obj)
    except ProtobufError as e:
        # A stored value the Go type could not hold: answer in JSON rather than fail.
        log.warning("answering %s %s in JSON, not protobuf: %s", request.method, request.path, e)
        return resp
    resp.body = encoded
    resp.content_type = MEDIA_TYPE
    return resp


def _custom_resource(obj: Any) -> bool:
    api_version = obj.get("apiVersion") if isinstance(obj, dict) else None
    return isinstance(api_version, str) and not built_in_group(api_version)


def _accepts_json(accept: str) -> bool:
    """Whether a clause of ``accept`` names a type custom resources are served in."""
    served = ("application/json", "application/yaml", "application/*", "*/*")
    return any(media in served and "as" not in opts for media, opts in _clauses(accept))


def _not_acceptable_for_custom_resources() -> web.Response:
    """The 406 of a custom resource asked for in protobuf only: the CRD handler serves JSON and
    YAML (apiextensions-apiserver customresource_handler.go: "not supporting protobuf")."""
    error = StatusError(
        406,
        "NotAcceptable",
        "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, "
        "application/json;stream=watch",
        {},
    )
    return web.Response(
        status=406, body=json.dumps(error.body()).encode(), content_type="application/json"
    )


def watch_wanted(request: web.Request, custom: bool) -> bool:
    """Whether a watch of a built-in resource is to be streamed as protobuf frames."""
    return not custom and prefers_protobuf(request.headers.get("Accept", ""), stream=True)


def watch_frames(lines: bytes) -> bytes:
    """JSON watch lines (``{"type":..,"object":..}\\n``) as protobuf watch frames."""
    out = []
    for line in lines.splitlines():
        if line.strip():
            event = json.loads(line)
            out.append(encode_watch_event(event["type"], event["object"]))
    return b"".join(out)


class _ProtobufWatchResponse(web.StreamResponse):
    """A watch response whose JSON event lines are written as protobuf frames."""

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        await super().write(watch_frames(bytes(data)))


def watch_response(request: web.Request, *, custom: bool) -> web.StreamResponse:
    """The streaming response of a watch: protobuf frames when negotiated, else JSON lines.

    Callers write JSON event lines either way; ``custom`` (custom resources, Table watches)
    always streams JSON, as kube-apiserver has no protobuf for them.
    """
    if watch_wanted(request, custom):
        return _ProtobufWatchResponse(status=200, headers={"Content-Type": WATCH_MEDIA_TYPE})
    return web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
