"""No half-written backup stays in the bucket: an interrupted multipart upload is aborted,
and one a killed operator could not abort is aborted when the operator starts again.

S3's rule (the ``CreateMultipartUpload``/``AbortMultipartUpload``/``ListMultipartUploads``
API, as moto's ``moto/s3/models.py`` implements it): the parts of an upload neither completed
nor aborted stay stored, invisible to ``ListObjects``, until the upload is aborted. Everything
here runs against a real moto server on loopback with authentication enforced.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from backup_env import (
    BUCKET,
    BackupEnv,
    FakeClock,
    S3Server,
    local_cluster,
    running_operator,
    s3_server,
)
from etcd_e2e import NAMESPACE
from etcd_operator.backup.models import EtcdBackup
from etcd_operator.backup.s3 import S3Store

from opframe.testing import eventually

__all__ = ["s3_server"]

MiB = 1024 * 1024


async def _in_progress(s3: S3Server) -> list[str]:
    return sorted(await asyncio.to_thread(s3.uploads_in_progress))


async def test_an_upload_cancelled_midway_is_aborted(s3_server: S3Server) -> None:
    """A reconcile cancelled mid-upload (operator shutting down) leaves no upload behind."""
    stalled = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield os.urandom(6 * MiB)  # one 5 MiB part goes out
        stalled.set()
        await asyncio.Event().wait()  # the member stops sending: only a cancel ends this
        yield b""

    async with S3Store(s3_server.config(), part_size=5 * MiB) as store:
        upload = asyncio.create_task(store.upload("x/cut.db", stalls()))
        await asyncio.wait_for(stalled.wait(), 60)
        assert await _in_progress(s3_server) == ["x/cut.db"]
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload
    assert await _in_progress(s3_server) == []
    assert s3_server.keys() == []


def _start_upload(s3: S3Server, key: str) -> None:
    """What an operator SIGKILLed mid-upload leaves: an upload with a part, never finished."""
    client = s3.boto()
    upload = client.create_multipart_upload(Bucket=BUCKET, Key=key)  # type: ignore[attr-defined]
    client.upload_part(  # type: ignore[attr-defined]
        Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024
    )


async def _with_status(env: BackupEnv, name: str, cluster: str, phase: str) -> None:
    await env.backup(name, cluster, env.s3_destination())
    await env.client.patch_status(
        EtcdBackup,
        name,
        {"status": {"phase": phase, "startTime": "2026-01-01T00:00:00Z"}},
        namespace=NAMESPACE,
    )


async def test_the_operator_aborts_uploads_a_killed_operator_left_on_start(
    s3_server: S3Server,
) -> None:
    """Killed mid-upload, the operator left one backup ``Running`` and another ``Failed`` (its
    abort failed), each with an upload in progress; on start it aborts both, and leaves alone
    the upload of a key that no EtcdBackup names."""
    async with local_cluster() as cluster:
        env = BackupEnv(cluster, s3_server, FakeClock())
        await env.credentials()
        # The state the killed operator left, written before any operator runs.
        await _with_status(env, "was-running", "gone", "Running")
        await _with_status(env, "was-failed", "gone", "Failed")
        for key in ("etcd/was-running.db", "etcd/was-failed.db", "etcd/someone-else.db"):
            await asyncio.to_thread(_start_upload, s3_server, key)
        assert len(await _in_progress(s3_server)) == 3

        async with running_operator(cluster, env.clock):

            async def swept() -> bool:
                return await _in_progress(s3_server) == ["etcd/someone-else.db"]

            left = "only the unrelated upload left in progress"
            await eventually(swept, timeout=60, message=left)
            # The interrupted backup ran again (its cluster is gone: it fails, naming it).
            b = await env.finished("was-running")
            assert b.status is not None and b.status.phase == "Failed"
            assert "EtcdCluster" in str(b.status.conditions)
    assert s3_server.keys() == []
