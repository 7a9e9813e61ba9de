"""SPDY/3.1 framing, the server side, as far as Kubernetes' port forwarding uses it.

``kubectl port-forward`` speaks SPDY/3.1 (draft-mbelshe-httpbis-spdy-00) to the server,
tunnelled through a WebSocket since kubectl 1.31 (``SPDY/3.1+portforward.k8s.io``): the
WebSocket's binary messages carry the SPDY byte stream. The client opens streams with
SYN_STREAM (headers: ``streamtype`` ``error``/``data``, ``port``, ``requestid``), the server
accepts each with SYN_REPLY, and DATA frames carry the bytes; a FIN flag half-closes a stream.
Header blocks are zlib-compressed with the protocol's preset dictionary, one compression
context per direction for the whole session. Flow control (WINDOW_UPDATE) is not enforced,
as Go's spdystream, the client's implementation, does not enforce it either.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["DataFrame", "FrameReader", "HeaderCodec", "SynStream", "control_frame", "data_frame"]

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9,
)  # fmt: skip
FLAG_FIN = 0x01

# The header-compression dictionary of SPDY/3 (section 2.6.10.1 of the draft): the listed
# names, each prefixed by its 32-bit length, followed by a run of common values.
_NAMES = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
    "server te trailer transfer-encoding upgrade user-agent vary via warning "
    "www-authenticate method get status"
).split()
_WORDS = [*_NAMES, "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive"]
_WORDS.append("origin")
_VALUES = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _VALUES.encode()


class HeaderCodec:
    """The two zlib contexts of one session: the peer's header blocks in, ours out."""

    def __init__(self) -> None:
        self._in = zlib.decompressobj(zdict=DICTIONARY)
        self._out = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)

    def decode(self, block: bytes) -> dict[str, str]:
        """A compressed name/value block as a dict (multiple values joined by NUL)."""
        raw = self._in.decompress(block)
        (count,) = struct.unpack_from(">I", raw, 0)
        pos, headers = 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4 : pos + 4 + n].decode()
            pos += 4 + n
            (v,) = struct.unpack_from(">I", raw, pos)
            headers[name] = raw[pos + 4 : pos + 4 + v].decode()
            pos += 4 + v
        return headers

    def encode(self, headers: dict[str, str]) -> bytes:
        """``headers`` as a compressed name/value block."""
        raw = struct.pack(">I", len(headers))
        for name, value in headers.items():
            raw += struct.pack(">I", len(name)) + name.encode()
            raw += struct.pack(">I", len(value)) + value.encode()
        return self._out.compress(raw) + self._out.flush(zlib.Z_SYNC_FLUSH)


@dataclass(frozen=True)
class SynStream:
    """A stream the peer opened."""

    stream_id: int
    headers: dict[str, str]
    fin: bool


@dataclass(frozen=True)
class DataFrame:
    """Bytes on a stream (``fin``: the peer sends no more on it)."""

    stream_id: int
    data: bytes
    fin: bool


@dataclass(frozen=True)
class Control:
    """Any other control frame: its type, flags and payload."""

    type: int
    flags: int
    payload: bytes


Frame = SynStream | DataFrame | Control


def control_frame(type_: int, payload: bytes, flags: int = 0) -> bytes:
    """A control frame of ``type_``."""
    return struct.pack(">HHI", 0x8000 | VERSION, type_, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
    """A DATA frame."""
    flags = FLAG_FIN if fin else 0
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data


class FrameReader:
    """Cuts a byte stream (tunnel messages, in any sizes) into frames."""

    def __init__(self, codec: HeaderCodec) -> None:
        self._codec = codec
        self._buffer = b""

    def feed(self, data: bytes) -> Iterator[Frame]:
        """The frames completed by ``data``.

        Raises:
            ValueError: the peer does not speak SPDY/3.
        """
        self._buffer += data
        while len(self._buffer) >= 8:
            first, second = struct.unpack_from(">II", self._buffer, 0)
            length = second & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                return
            payload = self._buffer[8 : 8 + length]
            self._buffer = self._buffer[8 + length :]
            flags = second >> 24
            if not first & 0x80000000:
                yield DataFrame(first & 0x7FFFFFFF, payload, bool(flags & FLAG_FIN))
                continue
            version, type_ = (first >> 16) & 0x7FFF, first & 0xFFFF
            if version != VERSION:
                raise ValueError(f"SPDY version {version} is not supported (only 3)")
            if type_ == SYN_STREAM:
                (stream_id,) = struct.unpack_from(">I", payload, 0)
                headers = self._codec.decode(payload[10:])
                yield SynStream(stream_id & 0x7FFFFFFF, headers, bool(flags & FLAG_FIN))
            elif type_ == HEADERS:
                self._codec.decode(payload[4:])  # keeps the shared zlib context in step
                yield Control(type_, flags, payload[:4])
            else:
                yield Control(type_, flags, payload)


def syn_reply(codec: HeaderCodec, stream_id: int) -> bytes:
    """Accept stream ``stream_id`` (an empty header block)."""
    return control_frame(SYN_REPLY, struct.pack(">I", stream_id) + codec.encode({}))


def rst_stream(stream_id: int, status: int = 5) -> bytes:
    """Reset a stream (status 5: CANCEL)."""
    return control_frame(RST_STREAM, struct.pack(">II", stream_id, status))
