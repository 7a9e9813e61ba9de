"""Streaming a snapshot out of etcd, and checking one, in bounded memory.

etcd's maintenance ``Snapshot`` RPC streams the member's bbolt database in chunks and ends
the stream with the SHA-256 of the database (32 bytes), so a snapshot file is
``db || sha256(db)``. ``etcdutl snapshot status`` and ``snapshot restore`` recognise the hash
by the file size (a bbolt file is a whole number of pages, so ``size % 512 == 32`` means a
hash was appended) and refuse a file whose hash does not match. :class:`SnapshotDigest` does
the same check over a stream, holding back only the last 32 bytes seen::

    digest = SnapshotDigest()
    async for chunk in stream_snapshot("http://127.0.0.1:2379"):
        digest.update(chunk)
    digest.verify()            # raises SnapshotCorrupt
    digest.sha256, digest.size
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aetcd
import grpc
from aetcd import rpc

from etcd_operator.tls import ClientTLS, connect

__all__ = [
    "SnapshotCorrupt",
    "SnapshotDigest",
    "SnapshotError",
    "SnapshotSource",
    "open_snapshot",
]

_HASH_SIZE = 32


class SnapshotError(Exception):
    """Taking a snapshot failed; the message names the member endpoint."""


class SnapshotCorrupt(SnapshotError):
    """The bytes are not an intact etcd snapshot (its integrity hash does not match)."""


@dataclass
class SnapshotDigest:
    """SHA-256 of the whole object plus etcd's own integrity check of the database."""

    size: int = 0
    _all: Any = field(default_factory=hashlib.sha256)
    _db: Any = field(default_factory=hashlib.sha256)
    _tail: bytes = b""

    def update(self, chunk: bytes) -> None:
        """Feed the next bytes of the snapshot."""
        self.size += len(chunk)
        self._all.update(chunk)
        buf = self._tail + chunk
        # Everything but the last 32 bytes is database; the last 32 may be etcd's hash.
        self._db.update(buf[:-_HASH_SIZE] if len(buf) > _HASH_SIZE else b"")
        self._tail = buf[-_HASH_SIZE:]

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of every byte fed so far."""
        return str(self._all.hexdigest())

    def verify(self) -> None:
        """Check etcd's trailing hash over the database.

        Raises:
            SnapshotCorrupt: no trailing hash, or a hash that does not match the database.
        """
        if self.size % 512 != _HASH_SIZE:
            raise SnapshotCorrupt(
                f"{self.size} bytes is not a database followed by its SHA-256 (a truncated or "
                "foreign file)"
            )
        if self._db.digest() != self._tail:
            raise SnapshotCorrupt("the snapshot's SHA-256 integrity hash does not match its data")


def _host_port(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    return parts.hostname or "127.0.0.1", parts.port or 2379


@dataclass
class SnapshotSource:
    """An open snapshot stream of one member; ``revision`` is known once it has started."""

    endpoint: str
    revision: int = 0
    _client: aetcd.Client | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The snapshot's bytes in the chunks etcd sends (about 32 KiB each)."""
        assert self._client is not None, "use open_snapshot()"
        try:
            # The revision from the Status header just before the snapshot: the snapshot
            # holds at least this revision (writes in between are in it too). The stream's
            # own header (etcd 3.5; empty in 3.4) is filled as chunks are sent, after the
            # database was captured, so it can name a later revision than the data holds.
            status = await self._client.maintenancestub.Status(rpc.StatusRequest(), timeout=5)
            self.revision = int(status.header.revision)
            # No deadline on the stream: its length grows with the database.
            stream = self._client.maintenancestub.Snapshot(rpc.SnapshotRequest())
            async for resp in stream:
                if resp.blob:
                    yield bytes(resp.blob)
        except grpc.aio.AioRpcError as e:
            raise SnapshotError(f"etcd {self.endpoint}: snapshot failed: {e.details()}") from e
        except OSError as e:
            raise SnapshotError(f"etcd {self.endpoint}: snapshot failed: {e!r}") from e

    async def current_revision(self) -> int:
        """The member's revision now (from a ``Status`` header)."""
        assert self._client is not None, "use open_snapshot()"
        try:
            status = await self._client.maintenancestub.Status(rpc.StatusRequest(), timeout=5)
        except grpc.aio.AioRpcError as e:
            raise SnapshotError(f"etcd {self.endpoint}: status failed: {e.details()}") from e
        return int(status.header.revision)

    async def close(self) -> None:
        """Close the channel."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def __aenter__(self) -> SnapshotSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_snapshot(endpoint: str, *, tls: ClientTLS | None = None) -> SnapshotSource:
    """Connect to the member at ``endpoint`` (a client URL) for a snapshot.

    Example::

        async with await open_snapshot("http://127.0.0.1:2379") as snap:
            async for chunk in snap.chunks():
                ...
    """
    host, port = _host_port(endpoint)
    client = connect(host, port, tls=tls, timeout=5)  # ``tls``: the client certificate
    try:
        await client.connect()
    except Exception as e:  # aetcd raises its own connection errors
        raise SnapshotError(f"etcd {endpoint}: cannot connect: {e}") from e
    return SnapshotSource(endpoint, _client=client)
