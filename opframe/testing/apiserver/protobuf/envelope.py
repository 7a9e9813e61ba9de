"""Kubernetes' protobuf envelope: the ``k8s\\x00`` prefix and ``runtime.Unknown``.

A protobuf body is the 4-byte magic ``k8s\\x00`` then a ``runtime.Unknown`` message
(``typeMeta{apiVersion=1, kind=2}=1``, ``raw=2``, ``contentEncoding=3``, ``contentType=4``)
whose ``raw`` is the typed message (k8s.io/apimachinery/pkg/runtime/serializer/protobuf).
A watch stream is a sequence of frames, each a 4-byte big-endian length and a bare
``WatchEvent`` message whose ``object.raw`` is an enveloped object (the stream serializer is
the "raw" one, the embedded encoder the enveloped one: endpoints/handlers/watch.go).

    >>> body = encode_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    >>> body[:4]
    b'k8s\\x00'
    >>> decode_object(body)
    {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'x'}}
"""

from __future__ import annotations

import struct
from typing import Any

from opframe.testing.apiserver.protobuf import wire
from opframe.testing.apiserver.protobuf.codec import ProtobufError, decode_message, encode_message
from opframe.testing.apiserver.protobuf.descriptors import message_for

__all__ = [
    "MAGIC",
    "decode_object",
    "decode_watch_events",
    "encodable",
    "encode_object",
    "encode_watch_event",
]

MAGIC = b"k8s\x00"


def encodable(obj: Any) -> bool:
    """Whether ``obj`` (a JSON-shaped dict) is of a kind that has a protobuf message."""
    if not isinstance(obj, dict):
        return False
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return False
    return message_for(api_version, kind) is not None


def encode_object(obj: dict[str, Any], *, strict: bool = False) -> bytes:
    """The enveloped protobuf encoding of a JSON-shaped object with apiVersion and kind."""
    api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
    msg = message_for(api_version, kind)
    if msg is None:
        raise ProtobufError(f"{api_version} {kind}: no protobuf message for this kind")
    raw = encode_message(msg, obj, strict=strict)
    type_meta = wire.field_bytes(1, api_version.encode()) + wire.field_bytes(2, kind.encode())
    unknown = (
        wire.field_bytes(1, type_meta)
        + wire.field_bytes(2, raw)
        + wire.field_bytes(3, b"")
        + wire.field_bytes(4, b"")
    )
    return MAGIC + unknown


def decode_object(body: bytes, default_gvk: tuple[str, str] = ("", "")) -> dict[str, Any]:
    """The JSON-shaped object of an enveloped protobuf body.

    ``default_gvk`` (apiVersion, kind) is used where the envelope leaves its type empty.
    """
    if not body.startswith(MAGIC):
        raise ProtobufError(
            "the protobuf body does not start with the k8s\\x00 prefix: send an enveloped "
            "runtime.Unknown message"
        )
    api_version = kind = encoding = ""
    raw = b""
    try:
        for number, _, value in wire.fields(body[len(MAGIC) :]):
            if not isinstance(value, bytes):
                continue
            if number == 1:
                for n, _, v in wire.fields(value):
                    if n == 1 and isinstance(v, bytes):
                        api_version = v.decode()
                    elif n == 2 and isinstance(v, bytes):
                        kind = v.decode()
            elif number == 2:
                raw = value
            elif number == 3:
                encoding = value.decode()
    except wire.WireError as e:
        raise ProtobufError(f"the protobuf envelope is malformed: {e}") from None
    if encoding:
        raise ProtobufError(f"contentEncoding {encoding!r} is not supported: send it unencoded")
    api_version = api_version or default_gvk[0]
    kind = kind or default_gvk[1]
    msg = message_for(api_version, kind)
    if msg is None:
        raise ProtobufError(f"{api_version} {kind}: no protobuf message for this kind")
    return {"apiVersion": api_version, "kind": kind, **decode_message(msg, raw)}


def encode_watch_event(event_type: str, obj: dict[str, Any]) -> bytes:
    """One length-prefixed frame of a protobuf watch stream."""
    event = wire.field_bytes(1, event_type.encode()) + wire.field_bytes(
        2, wire.field_bytes(1, encode_object(obj))
    )
    return struct.pack(">I", len(event)) + event


def decode_watch_events(stream: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The ``(type, object)`` events of a protobuf watch stream (used by tests and tools)."""
    out, pos = [], 0
    while pos + 4 <= len(stream):
        (size,) = struct.unpack(">I", stream[pos : pos + 4])
        frame = stream[pos + 4 : pos + 4 + size]
        pos += 4 + size
        fields = {n: v for n, _, v in wire.fields(frame)}
        raw_ext = fields.get(2, b"")
        raw = b""
        if isinstance(raw_ext, bytes):
            for n, _, v in wire.fields(raw_ext):
                if n == 1 and isinstance(v, bytes):
                    raw = v
        event_type = fields.get(1, b"")
        typ = event_type.decode() if isinstance(event_type, bytes) else ""
        out.append((typ, decode_object(raw) if raw else {}))
    return out
