"""Field errors worded as apimachinery's ``field.Error`` words them.

The API server reports validation failures as ``details.causes`` entries whose ``message`` is
Go's ``ErrorBody()`` (``Invalid value: "x": detail``) and whose ``field`` is the field path.
Clients and tests compare these texts literally, so values are printed the way Go prints them:
strings quoted with ``%q``, numbers with ``%v`` (``1`` for a float 1.0, ``1e+21``), other
values as JSON. Messages that embed a decoded value with ``%v`` (``map[a:1]``, ``[1 2]``,
``<nil>``) use :func:`go_v`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from opframe.testing.apiserver.errors import Cause

__all__ = [
    "OMIT",
    "cause_text",
    "duplicate",
    "enum_set_causes",
    "forbidden",
    "go_json",
    "go_quote",
    "go_v",
    "go_value",
    "invalid",
    "not_found",
    "not_supported",
    "required",
    "too_long",
    "too_many",
    "type_invalid",
]


class _Omit:
    """Marker for a bad value that is not printed (``field.OmitValueType``)."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()

_ESCAPES = {
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
    """``fmt.Sprintf("%q", s)``: printable characters kept, the rest escaped as Go does."""
    out = ['"']
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            if code < 0x80:
                out.append(f"\\x{code:02x}")
            elif code <= 0xFFFF:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _go_float(f: float) -> str:
    # Go's %v for float64 is strconv's shortest 'g': plain notation for decimal exponents in
    # [-4, 6), otherwise e-notation with a signed, at least two-digit exponent (1e+06).
    # (The [-4, 21) window is encoding/json's rule, not fmt's.)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    d = Decimal(repr(f))
    if d == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    exp = d.adjusted()
    if -4 <= exp < 6:
        text = format(d.normalize(), "f")
        return text
    digits = d.normalize().as_tuple().digits
    mant = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    sign = "-" if f < 0 else ""
    return f"{sign}{mant}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"


def go_value(value: Any) -> str:
    """The bad value as ``field.Error.ErrorBody`` prints it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_json(value)


def go_v(value: Any) -> str:
    """Go's ``%v`` of a decoded JSON value (``map[a:1]``, ``[1 2]``, ``<nil>``)."""
    if value is None:
        return "<nil>"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(go_v(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_v(v)}" for k, v in sorted(value.items())) + "]"
    return go_value(value)


def _json_float(f: float) -> str:
    # encoding/json: shortest digits, plain notation in [1e-6, 1e21), else e-notation.
    if f == 0:
        return "0" if math.copysign(1.0, f) > 0 else "-0"
    if 1e-6 <= abs(f) < 1e21:
        return format(Decimal(repr(f)).normalize(), "f")
    mant, _, exp = repr(f).partition("e")
    if not exp:
        return repr(f)
    sign = "-" if exp.startswith("-") else "+"
    return f"{mant.removesuffix('.0')}e{sign}{exp.lstrip('+-').lstrip('0') or '0'}"


def go_json(value: Any) -> str:
    """``encoding/json`` output: compact, map keys sorted, ``<>&`` escaped, floats as Go."""
    if isinstance(value, float) and math.isfinite(value):
        return _json_float(value)
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{go_json(str(k))}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _body(kind: str, value: Any, detail: str) -> str:
    text = kind if value is OMIT else f"{kind}: {go_value(value)}"
    return f"{text}: {detail}" if detail else text


def required(path: str, detail: str = "") -> Cause:
    """``field.Required``."""
    return Cause(
        reason="FieldValueRequired",
        message=f"Required value: {detail}" if detail else "Required value",
        field=path,
    )


def forbidden(path: str, detail: str) -> Cause:
    """``field.Forbidden``."""
    return Cause(
        reason="FieldValueForbidden",
        message=f"Forbidden: {detail}" if detail else "Forbidden",
        field=path,
    )


def invalid(path: str, value: Any, detail: str) -> Cause:
    """``field.Invalid``."""
    return Cause(
        reason="FieldValueInvalid", message=_body("Invalid value", value, detail), field=path
    )


def type_invalid(path: str, value: Any, detail: str) -> Cause:
    """``field.TypeInvalid``."""
    return Cause(
        reason="FieldValueTypeInvalid", message=_body("Invalid value", value, detail), field=path
    )


def not_supported(path: str, value: Any, supported: Sequence[str]) -> Cause:
    """``field.NotSupported``: ``supported values: "a", "b"``, in the order given.

    Kubernetes validators pass ``sets.List(...)`` (sorted) for fixed value sets and the schema's
    order for CRD enums, so the caller decides the order.
    """
    detail = ""
    if supported:
        detail = "supported values: " + ", ".join(go_quote(v) for v in supported)
    return Cause(
        reason="FieldValueNotSupported",
        message=_body("Unsupported value", value, detail),
        field=path,
    )


def duplicate(path: str, value: Any) -> Cause:
    """``field.Duplicate``."""
    return Cause(
        reason="FieldValueDuplicate", message=_body("Duplicate value", value, ""), field=path
    )


def enum_set_causes(values: Any, path: str, supported: tuple[str, ...]) -> list[Cause]:
    """Distinct values from ``supported``: an item unsupported or repeated is a cause."""
    causes: list[Cause] = []
    seen: list[Any] = []
    for i, value in enumerate(values):
        if value not in supported:
            causes.append(not_supported(f"{path}[{i}]", value, supported))
        elif value in seen:
            causes.append(duplicate(f"{path}[{i}]", value))
        seen.append(value)
    return causes


def not_found(path: str, value: Any) -> Cause:
    """``field.NotFound``."""
    return Cause(reason="FieldValueNotFound", message=_body("Not found", value, ""), field=path)


def too_long(path: str, max_length: int) -> Cause:
    """``field.TooLong``: the value itself is never printed."""
    if max_length >= 0:
        unit = "byte" if max_length == 1 else "bytes"
        detail = f"may not be more than {max_length} {unit}"
    else:
        detail = "value is too long"
    return Cause(reason="FieldValueTooLong", message=f"Too long: {detail}", field=path)


def too_many(path: str, actual: int, maximum: int) -> Cause:
    """``field.TooMany``."""
    if maximum >= 0:
        unit = "item" if maximum == 1 else "items"
        detail = f"must have at most {maximum} {unit}"
    else:
        detail = "has too many items"
    value = actual if actual >= 0 else OMIT
    return Cause(reason="FieldValueTooMany", message=_body("Too many", value, detail), field=path)


def cause_text(cause: Cause) -> str:
    """``field.Error.Error()``: ``path: body`` (the text a Status message joins)."""
    return f"{cause['field']}: {cause['message']}" if cause["field"] else cause["message"]
