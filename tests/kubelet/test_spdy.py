"""SPDY/3.1 framing of the port-forward tunnel (draft-mbelshe-httpbis-spdy-00, section 2)."""

from __future__ import annotations

import struct
import zlib

from opframe.testing.apiserver.http import spdy


def test_dictionary_is_the_spdy3_one() -> None:
    """Section 2.6.10.1: 1423 bytes; zlib names a preset dictionary by its Adler-32."""
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def test_header_blocks_round_trip_across_frames() -> None:
    client, server = spdy.HeaderCodec(), spdy.HeaderCodec()
    client._in, server._in = server._in, client._in  # each decodes what the other encodes
    for request_id in ("0", "1"):
        headers = {"streamtype": "data", "port": "2379", "requestid": request_id}
        assert server.decode(client.encode(headers)) == headers


def test_reader_cuts_frames_at_any_boundary() -> None:
    codec = spdy.HeaderCodec()
    peer = spdy.HeaderCodec()
    block = peer.encode({"streamtype": "error", "port": "80", "requestid": "0"})
    codec._in = zlib.decompressobj(zdict=spdy.DICTIONARY)
    syn = spdy.control_frame(spdy.SYN_STREAM, struct.pack(">IIBB", 1, 0, 0, 0) + block)
    data = spdy.data_frame(1, b"hello", fin=True)
    reader = spdy.FrameReader(codec)
    stream = syn + data
    frames = [f for i in range(len(stream)) for f in reader.feed(stream[i : i + 1])]
    assert frames == [
        spdy.SynStream(1, {"streamtype": "error", "port": "80", "requestid": "0"}, False),
        spdy.DataFrame(1, b"hello", True),
    ]
