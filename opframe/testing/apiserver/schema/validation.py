"""OpenAPI v3 validation of custom resources, worded exactly as kube-apiserver words it.

This mirrors kube-openapi's schema validator as apiextensions drives it: per node the type,
``allOf``/``anyOf``/``oneOf``/``not``, string, format, number, array, ``enum`` and object
checks run in that order; messages name the path relative to the validated root
(``spec.replicas in body must be of type integer: "string"``) while the cause's ``field`` adds
the caller's prefix (``status.replicas`` for ``/status``). On update, a value equal to its
correlated old value is not re-validated (CRD validation ratcheting, on by default since 1.33).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from collections.abc import Iterable
from typing import Any

from opframe.testing.apiserver import fielderrors as fe
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.schema.nodes import MISSING, Node, compile_schema

__all__ = ["correlate_map_items", "same_json", "type_name", "validate_node", "validate_value"]


_KINDS: dict[type, str] = {
    str: "string",
    int: "integer",
    bool: "boolean",
    float: "number",
    list: "array",
    dict: "object",
}


def type_name(value: Any) -> str:
    """The JSON type of a decoded value as kube-openapi names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def correlate_map_items(x: list[Any], s: Node, old: Any) -> list[Any]:
    """The old item of each item of a map list, matched on its list-map keys; else MISSING."""
    if s.list_type != "map" or not s.map_keys or not isinstance(old, list):
        return [MISSING] * len(x)
    index: dict[tuple[str, ...], Any] = {}
    for o in old:
        if isinstance(o, dict):
            index.setdefault(tuple(repr(o.get(k)) for k in s.map_keys), o)
    return [
        index.get(tuple(repr(v.get(k)) for k in s.map_keys), MISSING)
        if isinstance(v, dict)
        else MISSING
        for v in x
    ]


def same_json(a: Any, b: Any) -> bool:
    """Go's ``reflect.DeepEqual`` on decoded JSON: ``1``, ``1.0`` and ``true`` all differ."""
    if type(a) is not type(b):
        return False
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return False
        pairs = ((v, b[k]) for k, v in a.items())
    elif isinstance(a, list):
        if len(a) != len(b):
            return False
        pairs = zip(a, b, strict=True)
    else:
        return bool(a == b)
    for v, w in pairs:  # a loop, not all(<genexpr>): this runs for every node validated
        if type(v) is not type(w):
            return False
        if isinstance(v, (dict, list)):
            if not same_json(v, w):
                return False
        elif not v == w:
            return False
    return True


def _is_json_integer(f: float) -> bool:
    # go-openapi's swag.IsFloat64AJSONInteger: integral within a relative epsilon of 1e-9.
    if math.isnan(f) or math.isinf(f) or abs(f) > 2.0**53:
        return False
    g = float(int(f))
    if f == g:
        return True
    diff = abs(f - g)
    return diff / (abs(f) + abs(g)) < 1e-9


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$"
)
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)
_UUID_V = {
    v: re.compile(
        rf"^[0-9a-f]{{8}}-[0-9a-f]{{4}}-{v}[0-9a-f]{{3}}-[89ab][0-9a-f]{{3}}-[0-9a-f]{{12}}$",
        re.I,
    )
    for v in "345"
}
_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$|^([0-9a-f]{4}\.){2}[0-9a-f]{4}$", re.I)
_HOSTNAME = re.compile(
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$", re.I
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_DURATION = re.compile(
    r"^\s*(-?\d+(\.\d+)?\s*(ns|us|µs|ms|s|m|h|d|w|"
    r"nanoseconds?|microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?)\s*)+$"
)
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S*$")
_HEXCOLOR = re.compile(r"^#?([0-9a-f]{3}|[0-9a-f]{6})$", re.I)


def _ip(value: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(value).version == version
    except ValueError:
        return False


def _cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


def _byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


#: The formats the server checks; others are ignored, as kube-openapi's registry does.
_FORMATS: dict[str, Any] = {
    "date": lambda v: bool(_DATE.match(v)),
    "date-time": lambda v: bool(_DATE_TIME.match(v)),
    "datetime": lambda v: bool(_DATE_TIME.match(v)),
    "uuid": lambda v: bool(_UUID.match(v)),
    "uuid3": lambda v: bool(_UUID_V["3"].match(v)),
    "uuid4": lambda v: bool(_UUID_V["4"].match(v)),
    "uuid5": lambda v: bool(_UUID_V["5"].match(v)),
    "ipv4": lambda v: _ip(v, 4),
    "ipv6": lambda v: _ip(v, 6),
    "cidr": _cidr,
    "mac": lambda v: bool(_MAC.match(v)),
    "hostname": lambda v: len(v) <= 255 and bool(_HOSTNAME.match(v)),
    "email": lambda v: bool(_EMAIL.match(v)),
    "uri": lambda v: bool(_URI.match(v)),
    "duration": lambda v: bool(_DURATION.match(v)),
    "byte": _byte,
    "hexcolor": lambda v: bool(_HEXCOLOR.match(v)),
    "password": lambda v: True,
}


def _enum_match(data: Any, allowed: Any) -> bool:
    # basicCommonValidator converts the value to the enum entry's Go type before comparing.
    if isinstance(allowed, bool) or isinstance(data, bool):
        return isinstance(allowed, bool) and isinstance(data, bool) and allowed == data
    if isinstance(allowed, int):
        if isinstance(data, float) and not math.isinf(data) and not math.isnan(data):
            return int(data) == allowed
        return isinstance(data, int) and data == allowed
    if isinstance(allowed, float):
        return isinstance(data, (int, float)) and float(data) == allowed
    if isinstance(allowed, str):
        if isinstance(data, int) and 0 <= data <= 0x10FFFF:
            return chr(data) == allowed
        return isinstance(data, str) and data == allowed
    return same_json(data, allowed)


def _enum_text(value: Any) -> str:
    return value if isinstance(value, str) else fe.go_json(value)


class _Run:
    """One validation: collects causes; ``prefix`` is the field path of the validated root."""

    __slots__ = ("out", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.out: list[Cause] = []

    def field(self, path: str) -> str:
        path = path.removeprefix(".")
        if not self.prefix:
            return path
        return f"{self.prefix}.{path}" if path else self.prefix

    def invalid(self, path: str, value: Any, message: str) -> None:
        self.out.append(fe.invalid(self.field(path), value, message))

    def type_error(self, path: str, expected: str, got: str) -> None:
        self.out.append(
            fe.type_invalid(
                self.field(path),
                got,
                f"{path} in body must be of type {expected}: {fe.go_quote(got)}",
            )
        )

    # -- one node --------------------------------------------------------------------------

    def node(self, x: Any, s: Node, path: str, old: Any) -> None:
        if old is not MISSING and same_json(x, old):
            return
        if x is None:
            if s.types and not s.nullable:
                self.type_error(path, ",".join(s.types), "null")
            self.enum(x, s, path)
            return
        kind = _KINDS.get(type(x)) or type_name(x)
        if (s.types and kind not in s.types) or s.format:
            self.type_check(x, kind, s, path)
        if s.has_junctors:
            self.junctors(x, s, path)
        if kind == "string":
            if s.checks_string:
                self.string(x, s, path)
        elif kind == "integer" or kind == "number":
            if s.checks_number:
                self.number(x, s, path)
        elif kind == "array":
            self.array(x, s, path, old)
        if s.enum:
            self.enum(x, s, path)
        if kind == "object":
            self.object(x, s, path, old)

    def type_check(self, x: Any, kind: str, s: Node, path: str) -> None:
        types = s.types
        if not types:
            return
        numeric = "number" in types or "integer" in types
        if not numeric and s.format and kind in ("string", "array"):
            return
        if kind in types:
            return
        if kind == "number" and "integer" in types and _is_json_integer(x):
            return
        if kind == "integer" and "number" in types:
            return
        self.type_error(path, ",".join(types), kind)

    def junctors(self, x: Any, s: Node, path: str) -> None:
        sub_prefix = self.prefix
        if s.all_of:
            failed = False
            for sub in s.all_of:
                r = _Run(sub_prefix)
                r.node(x, sub, path, MISSING)
                if r.out:
                    failed = True
                    self.out.extend(r.out)
            if failed:
                self.invalid(path, "", f"{path} must validate all the schemas (allOf)")
        if s.any_of:
            best: list[Cause] | None = None
            for sub in s.any_of:
                r = _Run(sub_prefix)
                r.node(x, sub, path, MISSING)
                if not r.out:
                    best = None
                    break
                if best is None or len(r.out) < len(best):
                    best = r.out
            else:
                self.invalid(path, "", f"{path} must validate at least one schema (anyOf)")
            if best:
                self.out.extend(best)
        if s.one_of:
            valid = 0
            first: list[Cause] | None = None
            for sub in s.one_of:
                r = _Run(sub_prefix)
                r.node(x, sub, path, MISSING)
                if not r.out:
                    valid += 1
                elif first is None:
                    first = r.out
            if valid == 0:
                self.invalid(path, "", f"{path} must validate one and only one schema (oneOf)")
                if first:
                    self.out.extend(first)
            elif valid > 1:
                self.invalid(
                    path,
                    "",
                    f"{path} must validate one and only one schema (oneOf). "
                    f"Found {valid} valid alternatives",
                )
        if s.not_ is not None:
            r = _Run(sub_prefix)
            r.node(x, s.not_, path, MISSING)
            if not r.out:
                self.invalid(path, "", f"{path} must not validate the schema (not)")

    def string(self, x: str, s: Node, path: str) -> None:
        if s.max_length is not None and len(x) > s.max_length:
            self.out.append(fe.too_long(self.field(path), s.max_length))
        elif s.min_length is not None and len(x) < s.min_length:
            self.invalid(path, x, f"{path} in body should be at least {s.min_length} chars long")
        elif s.pattern is not None and not s.pattern.search(x):
            self.invalid(path, x, f"{path} in body should match '{s.pattern_text}'")
        if s.format:
            check = _FORMATS.get(s.format)
            if check is not None and not check(x):
                self.out.append(
                    fe.type_invalid(
                        self.field(path),
                        x,
                        f"{path} in body must be of type {s.format}: {fe.go_quote(x)}",
                    )
                )

    def number(self, x: float, s: Node, path: str) -> None:
        if s.multiple_of is not None and s.multiple_of != 0:
            if not _is_json_integer(x / s.multiple_of):
                bound = fe.go_value(float(s.multiple_of))
                self.invalid(path, x, f"{path} in body should be a multiple of {bound}")
        if s.minimum is not None:
            low = s.minimum
            if x < low or (s.exclusive_minimum and x == low):
                rel = "greater than" if s.exclusive_minimum else "greater than or equal to"
                self.invalid(path, x, f"{path} in body should be {rel} {fe.go_value(float(low))}")
        if s.maximum is not None:
            high = s.maximum
            if x > high or (s.exclusive_maximum and x == high):
                rel = "less than" if s.exclusive_maximum else "less than or equal to"
                self.invalid(path, x, f"{path} in body should be {rel} {fe.go_value(float(high))}")

    def array(self, x: list[Any], s: Node, path: str, old: Any) -> None:
        if s.items is not None:
            olds = self.correlate_items(x, s, old)
            for i, v in enumerate(x):
                self.node(v, s.items, f"{path}[{i}]", olds[i])
        size = len(x)
        if s.min_items is not None and size < s.min_items:
            self.invalid(path, size, f"{path} in body should have at least {s.min_items} items")
        if s.max_items is not None and size > s.max_items:
            self.out.append(fe.too_many(self.field(path), size, s.max_items))

    @staticmethod
    def correlate_items(x: list[Any], s: Node, old: Any) -> list[Any]:
        """Old values of list items: by keys for map lists, by value for sets, else none."""
        if s.list_type == "set" and isinstance(old, list):
            return [v if any(same_json(v, o) for o in old) else MISSING for v in x]
        return correlate_map_items(x, s, old)

    def enum(self, x: Any, s: Node, path: str) -> None:
        if not s.enum:
            return
        for allowed in s.enum:
            if _enum_match(x, allowed):
                return
        self.out.append(fe.not_supported(self.field(path), x, [_enum_text(e) for e in s.enum]))

    def object(self, x: dict[str, Any], s: Node, path: str, old: Any) -> None:
        n = len(x)
        if s.min_properties is not None and n < s.min_properties:
            self.invalid(
                path, n, f"{path} in body should have at least {s.min_properties} properties"
            )
            return
        if s.max_properties is not None and n > s.max_properties:
            self.out.append(fe.too_many(self.field(path), n, s.max_properties))
            return
        olds = old if isinstance(old, dict) else {}
        props = s.properties
        if s.additional is not None:
            for k, v in x.items():
                if k not in props:
                    self.node(v, s.additional, f"{path}.{k}", olds.get(k, MISSING))
        elif s.additional_present and not s.additional_allows:
            for k in x:
                if k not in props:
                    self.invalid(path, "", f"{path} in body is a forbidden property: {k}")
        if props:
            for k, v in x.items():
                prop = props.get(k)
                if prop is not None:
                    self.node(v, prop, f"{path}.{k}" if path else k, olds.get(k, MISSING))
        for k in s.required:
            if k not in x:
                self.out.append(fe.required(self.field(f"{path}.{k}")))


def validate_node(x: Any, node: Node, *, prefix: str = "", old: Any = MISSING) -> list[Cause]:
    """Validate a value against a compiled schema; ``old`` enables ratcheting."""
    run = _Run(prefix)
    run.node(x, node, "", old)
    return run.out


def validate_value(
    x: Any, schema: dict[str, Any], *, prefix: str = "", old: Any = MISSING
) -> list[Cause]:
    """Validate a decoded JSON value against an OpenAPI v3 schema dict.

    ``prefix`` is the field path of the value in the request (``"status"`` when a ``/status``
    write validates the status against the status schema). Messages name paths relative to
    the value, as the real server's do.
    """
    return validate_node(x, compile_schema(schema), prefix=prefix, old=old)
