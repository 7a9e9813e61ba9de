"""Protocol buffers wire primitives: varints, tags and length-delimited fields.

Only what Kubernetes messages use (proto2 scalars, strings, bytes, nested messages, maps as
repeated entries; no groups, no zigzag). Encoding follows the protobuf encoding spec: a field
is ``tag = number << 3 | wire type`` then its value; negative ``int32``/``int64`` values are
10-byte varints of their two's complement.

    >>> field_varint(1, 150)
    b'\\x08\\x96\\x01'
    >>> list(fields(b'\\x08\\x96\\x01'))
    [(1, 0, 150)]
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = [
    "LEN",
    "VARINT",
    "WireError",
    "field_bytes",
    "field_double",
    "field_varint",
    "fields",
    "packed_varints",
    "signed",
    "varint",
]

VARINT, I64, LEN, I32 = 0, 1, 2, 5
_MASK64 = (1 << 64) - 1


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def varint(value: int) -> bytes:
    """The varint encoding of ``value`` (negative values as 64-bit two's complement)."""
    value &= _MASK64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    """A varint field (int32, int64, bool)."""
    return varint(number << 3 | VARINT) + varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    """A length-delimited field (string, bytes, message, map entry)."""
    return varint(number << 3 | LEN) + varint(len(value)) + value


def field_double(number: int, value: float) -> bytes:
    """A ``double`` field (fixed 64 bits, little endian)."""
    return varint(number << 3 | I64) + struct.pack("<d", value)


def _read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def signed(value: int, bits: int) -> int:
    """A decoded varint read as a signed ``bits``-wide integer (int32, int64)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | bytes]]:
    """``(number, wire type, value)`` of each field: ints for varints, bytes otherwise."""
    pos, end = 0, len(data)
    while pos < end:
        tag, pos = _read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == VARINT:
            value, pos = _read_varint(data, pos)
            yield number, wire, value
        elif wire == LEN:
            size, pos = _read_varint(data, pos)
            if pos + size > end:
                raise WireError(f"field {number} runs past the end of the message")
            yield number, wire, bytes(data[pos : pos + size])
            pos += size
        elif wire in (I64, I32):
            size = 8 if wire == I64 else 4
            if pos + size > end:
                raise WireError(f"field {number} runs past the end of the message")
            yield number, wire, bytes(data[pos : pos + size])
            pos += size
        else:
            raise WireError(f"unsupported wire type {wire} for field {number}")


def packed_varints(data: bytes) -> list[int]:
    """The varints of a packed repeated field."""
    out, pos = [], 0
    while pos < len(data):
        value, pos = _read_varint(data, pos)
        out.append(value)
    return out
