"""A generic codec between Kubernetes protobuf messages and JSON-shaped dicts.

:func:`encode_message` and :func:`decode_message` walk a :class:`~.descriptors.Message`.
The JSON form is the one kube-apiserver's JSON serializer writes for the same Go value:

- ``Time`` (``Timestamp{seconds=1, nanos=2}``) is RFC 3339 to the second, ``MicroTime`` to the
  microsecond; a zero time (an empty message, which Go writes for a non-pointer field) is
  null. ``Duration`` (nanoseconds) is Go's duration string.
- ``Quantity`` is its string, ``IntOrString`` (``type=1``, ``intVal=2``, ``strVal=3``) an int or
  a string, ``RawExtension`` and ``FieldsV1`` carry JSON bytes, ``bytes`` fields are base64.
- A message whose only field is ``repeated string items`` (``ExtraValue``, ``Verbs``) is a list.
- An embedded struct (field name ``*``) is inlined into its parent's JSON object.
- Zero scalars are dropped on decoding (Go's ``omitempty``) unless the field is a pointer or
  has no omitempty (:data:`~.descriptors.KEEP_ZERO`); absent fields are not encoded.

    >>> from opframe.testing.apiserver.protobuf.descriptors import message
    >>> ns = message("core/v1.Namespace")
    >>> decode_message(ns, encode_message(ns, {"metadata": {"name": "x"}}))
    {'metadata': {'name': 'x'}}
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from opframe.testing.apiserver.protobuf import wire
from opframe.testing.apiserver.protobuf.descriptors import Field, Message, message

__all__ = ["ProtobufError", "decode_message", "encode_message"]


class ProtobufError(ValueError):
    """A body or object that cannot be converted; the message names the field."""


# -- special messages: JSON value <-> message bytes ------------------------------------------


def _time_text(seconds: int, nanos: int, micro: bool) -> str:
    dt = datetime.fromtimestamp(seconds, UTC)
    if micro:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos // 1000:06d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode_time(data: bytes, micro: bool) -> str | None:
    seconds = nanos = 0
    for number, _, value in wire.fields(data):
        if number == 1 and isinstance(value, int):
            seconds = wire.signed(value, 64)
        elif number == 2 and isinstance(value, int):
            nanos = wire.signed(value, 32)
    if not data:
        return None  # Go's zero time marshals to an empty message
    return _time_text(seconds, nanos, micro)


def _encode_time(value: Any, path: str, micro: bool) -> bytes:
    if not isinstance(value, str):
        raise ProtobufError(f"{path}: expected an RFC 3339 time string, got {value!r}")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ProtobufError(f"{path}: {value!r} is not an RFC 3339 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    seconds = int(dt.timestamp() // 1)
    nanos = dt.microsecond * 1000 if micro else 0
    out = wire.field_varint(1, seconds)
    return out + wire.field_varint(2, nanos) if nanos else out


_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9,
          "m": 60 * 10**9, "h": 3600 * 10**9}  # fmt: skip
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def _frac(value: int, scale: int) -> str:
    whole, rest = divmod(value, scale)
    if not rest:
        return str(whole)
    digits = str(rest).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def duration_text(ns: int) -> str:
    """Go's ``time.Duration.String()`` of ``ns`` nanoseconds (``90s`` -> ``1m30s``)."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 10**3:
        return f"{sign}{u}ns"
    if u < 10**6:
        return f"{sign}{_frac(u, 10**3)}µs"
    if u < 10**9:
        return f"{sign}{_frac(u, 10**6)}ms"
    hours, rest = divmod(u, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return f"{sign}{text}{_frac(rest, 10**9)}s"


def _parse_duration(value: Any, path: str) -> int:
    text = value if isinstance(value, str) else ""
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body == "0":
        return 0
    parts = _DURATION_PART.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise ProtobufError(f"{path}: {value!r} is not a duration such as 1h30m or 90s")
    total = sum(round(float(n) * _UNITS[u]) for n, u in parts)
    return sign * total


def _single(data: bytes, number: int) -> int | bytes | None:
    found: int | bytes | None = None
    for n, _, value in wire.fields(data):
        if n == number:
            found = value
    return found


def _decode_json_bytes(data: bytes) -> Any:
    raw = _single(data, 1)
    if not isinstance(raw, bytes) or not raw:
        return None
    if raw.startswith(b"k8s\x00"):
        from opframe.testing.apiserver.protobuf.envelope import decode_object

        return decode_object(raw)
    return json.loads(raw)


def _encode_json_bytes(value: Any, path: str) -> bytes:
    return wire.field_bytes(1, json.dumps(value, separators=(",", ":")).encode())


def _decode_quantity(data: bytes) -> str:
    raw = _single(data, 1)
    return raw.decode() if isinstance(raw, bytes) and raw else "0"


def _encode_quantity(value: Any, path: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ProtobufError(f"{path}: expected a quantity such as 100m or 1Gi, got {value!r}")
    return wire.field_bytes(1, str(value).encode())


def _decode_int_or_string(data: bytes) -> int | str:
    kind, number, text = 0, 0, ""
    for n, _, value in wire.fields(data):
        if n == 1 and isinstance(value, int):
            kind = value
        elif n == 2 and isinstance(value, int):
            number = wire.signed(value, 32)
        elif n == 3 and isinstance(value, bytes):
            text = value.decode()
    return text if kind == 1 else number


def _encode_int_or_string(value: Any, path: str) -> bytes:
    # Go writes all three fields of the struct, set or not.
    if isinstance(value, str):
        return (
            wire.field_varint(1, 1) + wire.field_varint(2, 0) + wire.field_bytes(3, value.encode())
        )
    if isinstance(value, int) and not isinstance(value, bool):
        return wire.field_varint(1, 0) + wire.field_varint(2, value) + wire.field_bytes(3, b"")
    raise ProtobufError(f"{path}: expected an integer or a string, got {value!r}")


def _decode_items(data: bytes) -> list[str]:
    return [v.decode() for n, _, v in wire.fields(data) if n == 1 and isinstance(v, bytes)]


def _encode_items(value: Any, path: str) -> bytes:
    if not isinstance(value, list):
        raise ProtobufError(f"{path}: expected a list of strings, got {value!r}")
    return b"".join(wire.field_bytes(1, _text(v, path).encode()) for v in value)


def _decode_duration(data: bytes) -> str:
    raw = _single(data, 1)
    return duration_text(wire.signed(raw, 64) if isinstance(raw, int) else 0)


def _decode_or_array(data: bytes) -> Any:
    schema, many = None, []
    props = message("apiextensions/v1.JSONSchemaProps")
    for n, _, v in wire.fields(data):
        if n == 1 and isinstance(v, bytes):
            schema = decode_message(props, v)
        elif n == 2 and isinstance(v, bytes):
            many.append(decode_message(props, v))
    return schema if schema is not None else many


def _encode_or_array(value: Any, path: str) -> bytes:
    props = message("apiextensions/v1.JSONSchemaProps")
    if isinstance(value, list):
        return b"".join(
            wire.field_bytes(2, encode_message(props, _object(v, path), path)) for v in value
        )
    return wire.field_bytes(1, encode_message(props, _object(value, path), path))


def _decode_or_bool(data: bytes) -> Any:
    allows, schema = False, None
    for n, _, v in wire.fields(data):
        if n == 1 and isinstance(v, int):
            allows = bool(v)
        elif n == 2 and isinstance(v, bytes):
            schema = decode_message(message("apiextensions/v1.JSONSchemaProps"), v)
    return schema if schema is not None else allows


def _encode_or_bool(value: Any, path: str) -> bytes:
    if isinstance(value, bool):
        return wire.field_varint(1, int(value))
    props = message("apiextensions/v1.JSONSchemaProps")
    return wire.field_varint(1, 1) + wire.field_bytes(
        2, encode_message(props, _object(value, path), path)
    )


def _decode_or_strings(data: bytes) -> Any:
    schema, strings = None, []
    for n, _, v in wire.fields(data):
        if n == 1 and isinstance(v, bytes):
            schema = decode_message(message("apiextensions/v1.JSONSchemaProps"), v)
        elif n == 2 and isinstance(v, bytes):
            strings.append(v.decode())
    return schema if schema is not None else strings


def _encode_or_strings(value: Any, path: str) -> bytes:
    if isinstance(value, list):
        return b"".join(wire.field_bytes(2, _text(v, path).encode()) for v in value)
    props = message("apiextensions/v1.JSONSchemaProps")
    return wire.field_bytes(1, encode_message(props, _object(value, path), path))


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtobufError(f"{path}: expected an object, got {value!r}")
    return value


_TIMES = frozenset({"meta/v1.Time", "meta/v1.MicroTime"})
_VARINT_TYPES = frozenset({"int32", "int64", "bool"})

# Messages carrying arbitrary JSON, where null is a value.
_JSON_VALUES = frozenset({"apiextensions/v1.JSON", "runtime.RawExtension"})

_Decoder = Callable[[bytes], Any]
_Encoder = Callable[[Any, str], bytes]
_SPECIAL: dict[str, tuple[_Decoder, _Encoder]] = {
    "meta/v1.Time": (lambda d: _decode_time(d, False), lambda v, p: _encode_time(v, p, False)),
    "meta/v1.MicroTime": (lambda d: _decode_time(d, True), lambda v, p: _encode_time(v, p, True)),
    "meta/v1.Duration": (
        _decode_duration,
        lambda v, p: wire.field_varint(1, _parse_duration(v, p)),
    ),
    "meta/v1.FieldsV1": (_decode_json_bytes, _encode_json_bytes),
    "runtime.RawExtension": (_decode_json_bytes, _encode_json_bytes),
    "quantity.Quantity": (_decode_quantity, _encode_quantity),
    "intstr.IntOrString": (_decode_int_or_string, _encode_int_or_string),
    "meta/v1.Verbs": (_decode_items, _encode_items),
    "authentication/v1.ExtraValue": (_decode_items, _encode_items),
    "authorization/v1.ExtraValue": (_decode_items, _encode_items),
    "certificates/v1.ExtraValue": (_decode_items, _encode_items),
    "apiextensions/v1.JSON": (_decode_json_bytes, _encode_json_bytes),
    "apiextensions/v1.JSONSchemaPropsOrArray": (_decode_or_array, _encode_or_array),
    "apiextensions/v1.JSONSchemaPropsOrBool": (_decode_or_bool, _encode_or_bool),
    "apiextensions/v1.JSONSchemaPropsOrStringArray": (_decode_or_strings, _encode_or_strings),
}

# -- encoding --------------------------------------------------------------------------------


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ProtobufError(f"{path}: expected a string, got {value!r}")
    return value


def _encode_scalar(f: Field, value: Any, path: str, number: int) -> bytes:
    t = f.type
    if t == "string":
        return wire.field_bytes(number, _text(value, path).encode())
    if t == "bytes":
        try:
            return wire.field_bytes(number, base64.b64decode(_text(value, path), validate=True))
        except binascii.Error:
            raise ProtobufError(f"{path}: {value!r} is not base64 data") from None
    if t == "bool":
        if not isinstance(value, bool):
            raise ProtobufError(f"{path}: expected true or false, got {value!r}")
        return wire.field_varint(number, int(value))
    if t in ("int32", "int64"):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtobufError(f"{path}: expected an integer, got {value!r}")
        return wire.field_varint(number, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtobufError(f"{path}: expected a number, got {value!r}")
    if t == "float":
        return wire.varint(number << 3 | 5) + struct.pack("<f", value)
    return wire.field_double(number, float(value))


def _encode_value(f: Field, value: Any, path: str, number: int, strict: bool) -> bytes:
    if f.scalar:
        return _encode_scalar(f, value, path, number)
    special = _SPECIAL.get(f.type)
    if special is not None:
        return wire.field_bytes(number, special[1](value, path))
    if not isinstance(value, dict):
        raise ProtobufError(f"{path}: expected an object, got {value!r}")
    return wire.field_bytes(number, encode_message(message(f.type), value, path, strict=strict))


def _json_names(msg: Message) -> set[str]:
    names = set(msg.by_json)
    for f in msg.fields:
        if f.json == "*":
            names |= _json_names(message(f.type))
    return names


def encode_message(
    msg: Message, obj: dict[str, Any], path: str = "", *, strict: bool = False
) -> bytes:
    """The wire bytes of ``obj`` (a JSON-shaped dict) as message ``msg``.

    ``strict`` rejects JSON fields the message does not have (the default skips them).
    """
    if strict:
        unknown = set(obj) - _json_names(msg) - {"apiVersion", "kind"}
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ProtobufError(f"{path or msg.name}: no protobuf field for {names}")
    parts: list[tuple[int, bytes]] = []
    for f in msg.fields:
        if f.json == "*":
            sub = encode_message(message(f.type), obj, path, strict=False)
            parts.append((f.number, wire.field_bytes(f.number, sub)))
            continue
        value = obj.get(f.json)
        if value is None:
            if f.json in obj and f.type in _TIMES and not f.keep_zero:
                parts.append((f.number, wire.field_bytes(f.number, b"")))  # a zero Time
            continue
        where = f"{path}.{f.json}" if path else f.json
        if f.map:
            if not isinstance(value, dict):
                raise ProtobufError(f"{where}: expected an object, got {value!r}")
            entries = []
            for key in sorted(value):
                item = value[key]
                entry = wire.field_bytes(1, str(key).encode())
                if item is not None:
                    entry += _encode_value(f, item, f"{where}[{key}]", 2, strict)
                entries.append(wire.field_bytes(f.number, entry))
            parts.append((f.number, b"".join(entries)))
        elif f.repeated:
            if not isinstance(value, list):
                raise ProtobufError(f"{where}: expected a list, got {value!r}")
            parts.append(
                (
                    f.number,
                    b"".join(
                        _encode_value(f, item, f"{where}[{i}]", f.number, strict)
                        for i, item in enumerate(value)
                        if item is not None or f.type in _JSON_VALUES
                    ),
                )
            )
        else:
            parts.append((f.number, _encode_value(f, value, where, f.number, strict)))
    # Go writes fields in field-number order.
    parts.sort(key=lambda p: p[0])
    return b"".join(p[1] for p in parts)


# -- decoding --------------------------------------------------------------------------------


def _decode_scalar(f: Field, wire_type: int, value: int | bytes) -> Any:
    t = f.type
    if t == "string":
        return value.decode() if isinstance(value, bytes) else ""
    if t == "bytes":
        return base64.b64encode(value).decode() if isinstance(value, bytes) else ""
    if isinstance(value, bytes):
        if t == "double":
            number = struct.unpack("<d", value)[0]
            # Go's JSON writes a whole float64 without a fraction (10, not 10.0).
            return int(number) if number.is_integer() else number
        if t == "float":
            return struct.unpack("<f", value)[0]
        raise ProtobufError(f"field {f.json}: unexpected length-delimited value")
    if t == "bool":
        return bool(value)
    return wire.signed(value, 32 if t == "int32" else 64)


def _zero(value: Any) -> bool:
    return value == "" or (isinstance(value, (bool, int, float)) and not value)


def _decode_value(f: Field, wire_type: int, value: int | bytes) -> Any:
    if f.scalar:
        return _decode_scalar(f, wire_type, value)
    if not isinstance(value, bytes):
        raise ProtobufError(f"field {f.json}: expected a message")
    special = _SPECIAL.get(f.type)
    if special is not None:
        return special[0](value)
    return decode_message(message(f.type), value)


def _repeated_values(f: Field, wire_type: int, value: int | bytes) -> list[Any]:
    if f.scalar and f.type not in ("string", "bytes") and isinstance(value, bytes):
        # A packed repeated scalar: one length-delimited run of varints.
        return [_decode_scalar(f, 0, v) for v in wire.packed_varints(value)]
    return [_decode_value(f, wire_type, value)]


def decode_message(msg: Message, data: bytes) -> dict[str, Any]:
    """The JSON-shaped dict of wire bytes ``data`` read as message ``msg``."""
    seen: dict[int, Any] = {}
    try:
        for number, wire_type, value in wire.fields(data):
            f = msg.by_number.get(number)
            if f is None:
                continue  # a field this table does not know: skipped, as protobuf does
            if f.map:
                if not isinstance(value, bytes):
                    raise ProtobufError(f"{msg.name}.{f.json}: malformed map entry")
                key, item = "", None
                for n, wt, v in wire.fields(value):
                    if n == 1 and isinstance(v, bytes):
                        key = v.decode()
                    elif n == 2:
                        item = _decode_value(f, wt, v)
                if item is None:  # an entry without a value holds the value type's zero
                    item = _decode_value(
                        f,
                        wire.LEN if f.type not in _VARINT_TYPES else 0,
                        b"" if f.type not in _VARINT_TYPES else 0,
                    )
                seen.setdefault(number, {})[key] = item
            elif f.repeated:
                seen.setdefault(number, []).extend(_repeated_values(f, wire_type, value))
            else:
                seen[number] = (wire_type, value)
    except wire.WireError as e:
        raise ProtobufError(f"{msg.name}: {e}") from None
    out: dict[str, Any] = {}
    for f in msg.fields:
        if f.number not in seen:
            if f.repeated and f.keep_zero:
                # A slice whose JSON tag has no omitempty: Go writes nil (no entries) as null.
                out[f.json] = None
            continue
        got = seen[f.number]
        if f.map or f.repeated:
            out[f.json] = got
            continue
        wire_type, value = got
        if f.json == "*":
            if isinstance(value, bytes):
                out.update(decode_message(message(f.type), value))
            continue
        if value == b"" and f.type in _TIMES:
            # A non-pointer Time Go wrote at its zero value: Go's JSON has it as null.
            out[f.json] = None
            continue
        decoded = _decode_value(f, wire_type, value)
        if decoded is None or (f.scalar and not f.keep_zero and _zero(decoded)):
            continue
        out[f.json] = decoded
    return out
