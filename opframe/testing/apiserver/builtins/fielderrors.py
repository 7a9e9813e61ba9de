"""Field errors shaped as apimachinery's ``field.Error`` renders them in ``details.causes``.

Each constructor returns a :class:`~opframe.testing.apiserver.status.Cause`; the message is the
error body (``Invalid value: "x": detail``) and the field is the dotted path. Values are quoted
the way Go prints them: strings with ``%q``, numbers and booleans bare, anything else as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from opframe.testing.apiserver.status import Cause

__all__ = [
    "duplicate",
    "forbidden",
    "go_quote",
    "invalid",
    "not_found",
    "not_supported",
    "render_value",
    "required",
    "too_long",
    "too_many",
]

_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(s: str) -> str:
    """Quote ``s`` like Go's ``%q``: printable characters kept, the rest escaped."""
    out = ['"']
    for ch in s:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def render_value(value: Any) -> str:
    """Render a bad value as ``field.Error`` does (Go ``%q``, ``%v`` or JSON)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _cause(reason: str, body: str, detail: str, path: str) -> Cause:
    message = f"{body}: {detail}" if detail else body
    return Cause(reason=reason, message=message, field=path)


def invalid(path: str, value: Any, detail: str) -> Cause:
    """``FieldValueInvalid``: ``Invalid value: <value>: <detail>``."""
    return _cause("FieldValueInvalid", f"Invalid value: {render_value(value)}", detail, path)


def required(path: str, detail: str = "") -> Cause:
    """``FieldValueRequired``: ``Required value[: detail]``."""
    return _cause("FieldValueRequired", "Required value", detail, path)


def forbidden(path: str, detail: str) -> Cause:
    """``FieldValueForbidden``: ``Forbidden: <detail>``."""
    return _cause("FieldValueForbidden", "Forbidden", detail, path)


def duplicate(path: str, value: Any) -> Cause:
    """``FieldValueDuplicate``: ``Duplicate value: <value>``."""
    return _cause("FieldValueDuplicate", f"Duplicate value: {render_value(value)}", "", path)


def not_found(path: str, value: Any) -> Cause:
    """``FieldValueNotFound``: ``Not found: <value>``."""
    return _cause("FieldValueNotFound", f"Not found: {render_value(value)}", "", path)


def not_supported(path: str, value: Any, valid: list[str] | tuple[str, ...]) -> Cause:
    """``FieldValueNotSupported``: ``Unsupported value: "x": supported values: "a", "b"``."""
    detail = "supported values: " + ", ".join(go_quote(v) for v in sorted(valid)) if valid else ""
    return _cause(
        "FieldValueNotSupported", f"Unsupported value: {render_value(value)}", detail, path
    )


def too_long(path: str, max_length: int) -> Cause:
    """``FieldValueTooLong`` for byte sizes: ``Too long: may not be more than N bytes``."""
    return _cause("FieldValueTooLong", "Too long", f"may not be more than {max_length} bytes", path)


def too_many(path: str, actual: int, max_items: int) -> Cause:
    """``FieldValueTooMany``: ``Too many: N: must have at most M items``."""
    return _cause(
        "FieldValueTooMany", f"Too many: {actual}", f"must have at most {max_items} items", path
    )
