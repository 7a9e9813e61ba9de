"""The snapshot check and the S3 store against a real S3-compatible server (moto) on loopback.

The trailing-hash rule is etcd's ``etcdutl/snapshot/v3_snapshot.go`` (``hasChecksum := size %
512 == sha256.Size``, then the SHA-256 of the rest must equal the last 32 bytes).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import pytest
from backup_env import S3Server, s3_server
from etcd_operator.backup.s3 import S3Store, StorageError
from etcd_operator.backup.snapshot import SnapshotCorrupt, SnapshotDigest

__all__ = ["s3_server"]

MiB = 1024 * 1024


def _snapshot(db_size: int = 8192) -> bytes:
    db = os.urandom(db_size)
    return db + hashlib.sha256(db).digest()


def _digest(data: bytes, chunk: int) -> SnapshotDigest:
    d = SnapshotDigest()
    for i in range(0, len(data), chunk):
        d.update(data[i : i + chunk])
    return d


@pytest.mark.parametrize("chunk", [1, 7, 32, 33, 4096, 100_000])
def test_intact_snapshot_passes_whatever_the_chunking(chunk: int) -> None:
    data = _snapshot()
    d = _digest(data, chunk)
    d.verify()
    assert d.size == len(data) and d.sha256 == hashlib.sha256(data).hexdigest()


def test_a_flipped_bit_fails_the_integrity_hash() -> None:
    data = bytearray(_snapshot())
    data[100] ^= 1
    with pytest.raises(SnapshotCorrupt, match="integrity hash"):
        _digest(bytes(data), 1000).verify()


def test_a_truncated_snapshot_is_not_a_snapshot() -> None:
    with pytest.raises(SnapshotCorrupt, match="truncated"):
        _digest(_snapshot()[:-1], 1000).verify()


async def _chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_multipart_upload_stores_the_stream_in_parts(s3_server: S3Server) -> None:
    data = os.urandom(11 * MiB)  # two full 5 MiB parts and a short last one
    async with S3Store(s3_server.config(), part_size=5 * MiB) as store:
        assert await store.upload("x/big.db", _chunks(data)) == len(data)
        got = b"".join([c async for c in store.download("x/big.db")])
    assert got == data
    head = s3_server.boto().head_object(Bucket="backups", Key="x/big.db", PartNumber=1)  # type: ignore[attr-defined]
    assert head["PartsCount"] == 3


async def test_a_stream_failing_midway_aborts_the_upload(s3_server: S3Server) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(6 * MiB)  # one part already uploaded
        raise ConnectionError("member went away")

    async with S3Store(s3_server.config(), part_size=5 * MiB) as store:
        with pytest.raises(ConnectionError):
            await store.upload("x/half.db", broken())
    assert s3_server.keys() == [] and s3_server.uploads_in_progress() == []


async def test_missing_bucket_is_bucket_not_found(s3_server: S3Server) -> None:
    async with S3Store(s3_server.config(bucket="nope")) as store:
        with pytest.raises(StorageError) as e:
            await store.upload("k.db", _chunks(b"data"))
    assert e.value.reason == "BucketNotFound" and "nope" in str(e.value)


async def test_config_repr_shows_no_secret(s3_server: S3Server) -> None:
    config = s3_server.config()
    assert config.secret_access_key not in repr(config)
    assert config.access_key_id not in repr(config)
