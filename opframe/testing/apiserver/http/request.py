"""Decoding of REST requests: paths, bodies, content negotiation and request options.

Everything here is pure: it turns the parts of an HTTP request into typed values or raises
:class:`StatusError` with the answer the real server gives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from opframe.testing.apiserver import fielderrors as fe
from opframe.testing.apiserver.errors import StatusError, bad_request
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import Registry

__all__ = [
    "PlainNotFound",
    "Target",
    "decode_body",
    "flag",
    "integer",
    "resolve",
    "wants",
]


_MAX_INT64 = 2**63 - 1


def flag(value: object) -> bool:
    """A boolean parameter: false when absent, ``0`` or ``false`` (any case); true otherwise.

    ``runtime.Convert_Slice_string_To_bool``: even an empty value (``?watch=``) is true.
    """
    if value is None or value is False:
        return False
    if value is True:
        return True
    return not (str(value) == "0" or str(value).lower() == "false")


def integer(value: object, name: str = "") -> int | None:
    """An int64 parameter (``None`` when absent); what ``strconv.ParseInt`` refuses is a 400."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        raise bad_request(f"strconv.ParseInt: parsing {fe.go_quote(text)}: invalid syntax")
    number = int(text)
    if not -_MAX_INT64 - 1 <= number <= _MAX_INT64:
        raise bad_request(f"strconv.ParseInt: parsing {fe.go_quote(text)}: value out of range")
    return number


class PlainNotFound(Exception):
    """The path is not served at all: ``404 page not found`` in plain text."""


def generic_not_found() -> StatusError:
    """The JSON 404 for an unknown resource in a served group version."""
    return StatusError(404, "NotFound", "the server could not find the requested resource", {})


@dataclass
class Target:
    """What a resource path names."""

    rt: ResourceType
    namespace: str | None
    name: str = ""
    subresource: str = ""
    legacy_watch: bool = False


def resolve(registry: Registry, path: str) -> Target | None:
    """Map a path under ``/api`` or ``/apis`` to a resource; ``None`` for discovery paths.

    Raises :class:`PlainNotFound` or a JSON 404 :class:`StatusError` the way the real server
    answers unknown groups, versions and resources.
    """
    segs = [s for s in path.split("/") if s]
    if not segs:
        raise PlainNotFound
    if segs[0] == "api":
        group, rest = "", segs[1:]
        if not rest:
            return None
        version, rest = rest[0], rest[1:]
        if not registry.version_known("", version):
            raise PlainNotFound
    elif segs[0] == "apis":
        if len(segs) == 1:
            return None
        group = segs[1]
        if not registry.group_known(group):
            raise PlainNotFound
        if len(segs) == 2:
            return None
        version, rest = segs[2], segs[3:]
        if not registry.version_known(group, version):
            if registry.group_custom(group):
                raise PlainNotFound
            raise generic_not_found()
    else:
        raise PlainNotFound
    if not rest:
        return None
    legacy = False
    if rest[0] == "watch":
        legacy, rest = True, rest[1:]
        if not rest:
            raise _unknown(registry, group)
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    rt = registry.lookup(group, version, plural)
    if rt is None or len(rest) > 3:
        raise _unknown(registry, group)
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if rt.namespaced:
        if namespace is None and name:
            raise _unknown(registry, group)
    elif namespace is not None:
        raise _unknown(registry, group)
    else:
        namespace = ""
    if sub and sub not in rt.subresources:
        raise _unknown(registry, group)
    return Target(rt, namespace, name, sub, legacy)


def _unknown(registry: Registry, group: str) -> Exception:
    if registry.group_custom(group):
        return PlainNotFound()
    return generic_not_found()


def _go_json_error(text: str, err: json.JSONDecodeError) -> str:
    if err.pos >= len(text.rstrip()):
        return "unexpected end of JSON input"
    ch = text[err.pos]
    return f"invalid character '{ch}' looking for beginning of value"


def _summary(data: bytes, limit: int = 30) -> str:
    """How a decode error quotes the body (``summarizeData``): text if it looks like JSON."""
    if not data:
        return "<empty>"
    head = data[:limit]
    more = " ..." if len(data) > limit else ""
    if data[:1] == b"{":
        return head.decode("utf-8", "replace") + more
    return head.hex() + more


def decode_body(raw: bytes, content_type: str, kind: str) -> Any:
    """Decode a JSON or YAML request body."""
    text = raw.decode("utf-8", "replace")
    if "yaml" in content_type:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise bad_request(f"error converting YAML to JSON: {e}") from None
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as e:
        snippet = _summary(raw)
        raise bad_request(
            f"the object provided is unrecognized (must be of type {kind}): couldn't get "
            f"version/kind; json parse error: {_go_json_error(text, e)} ({snippet})"
        ) from None


_JSON_TYPES = ("application/json", "application/*", "*/*", "*", "")


def wants(accept: str) -> str:
    """The representation to answer with: ``json``, ``yaml``, ``table``, ``discovery``.

    Raises 406 when nothing acceptable is offered.
    """
    if not accept:
        return "json"
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        opts = dict(p.split("=", 1) for p in params if "=" in p)
        if media == "application/json" and opts.get("as") == "Table":
            if opts.get("g") == "meta.k8s.io" and opts.get("v") in ("v1", "v1beta1"):
                return "table"
            continue
        if media == "application/json" and opts.get("as") == "APIGroupDiscoveryList":
            if opts.get("v") == "v2":
                return "discovery"
            continue
        if media in ("application/yaml",):
            return "yaml"
        if media in _JSON_TYPES and not opts.get("as"):
            return "json"
        if media == "application/vnd.kubernetes.protobuf" and not opts.get("as"):
            return "json"  # answered in JSON, re-encoded by protobuf.respond
    raise StatusError(
        406,
        "NotAcceptable",
        "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml, "
        "application/vnd.kubernetes.protobuf, application/json;stream=watch, "
        "application/vnd.kubernetes.protobuf;stream=watch",
        {},
    )
