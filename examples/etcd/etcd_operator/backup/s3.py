"""S3-compatible object storage for snapshots, on ``aiobotocore``, in bounded memory.

Uploads are multipart: the stream is cut into parts of ``part_size`` bytes (8 MiB by default;
S3 wants at least 5 MiB for every part but the last), each sent as soon as it is full, so the
memory used is one part whatever the size of the database. A failed or cancelled upload is
aborted, so no half-written object (nor its stored parts) is left behind; an upload a killed
process could not abort is found and aborted later with :meth:`S3Store.abort_uploads`
(S3's ``ListMultipartUploads`` and ``AbortMultipartUpload``)::

    async with S3Store(S3Config(endpoint="http://127.0.0.1:9000", bucket="backups",
                                access_key_id="...", secret_access_key="...")) as store:
        size = await store.upload("etcd/demo.db", chunks)
        async for chunk in store.download("etcd/demo.db"):
            ...

Every failure is a :class:`StorageError` whose ``reason`` a user can act on
(``EndpointUnreachable``, ``InvalidCredentials``, ``BucketNotFound``, ``ObjectNotFound``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import botocore.exceptions
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

__all__ = ["DEFAULT_PART_SIZE", "S3Config", "S3Store", "StorageError"]

DEFAULT_PART_SIZE = 8 * 1024 * 1024

_log = logging.getLogger("etcd_operator.backup")

_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "403",
}


class StorageError(Exception):
    """Storage failed; ``reason`` is a condition reason, the message names the endpoint."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class S3Config:
    """Where and as whom to reach a bucket. ``repr`` never shows the secret."""

    bucket: str
    access_key_id: str
    secret_access_key: str
    endpoint: str | None = None
    region: str = "us-east-1"
    force_path_style: bool = False

    def __repr__(self) -> str:
        return f"S3Config(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    @property
    def where(self) -> str:
        """The endpoint as a user wrote it (AWS's own when unset)."""
        return self.endpoint or f"https://s3.{self.region}.amazonaws.com"


class S3Store:
    """One bucket; an async context manager owning the HTTP client."""

    def __init__(self, config: S3Config, *, part_size: int = DEFAULT_PART_SIZE) -> None:
        if part_size < 5 * 1024 * 1024:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        self.config = config
        self.part_size = part_size
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None

    async def __aenter__(self) -> S3Store:
        c = self.config
        aio_config = AioConfig(
            s3={"addressing_style": "path" if c.force_path_style else "auto"},
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        self._client = await self._stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=c.endpoint,
                region_name=c.region,
                aws_access_key_id=c.access_key_id,
                aws_secret_access_key=c.secret_access_key,
                config=aio_config,
            )
        )
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def _error(self, e: Exception, key: str = "") -> StorageError:
        c = self.config
        target = f"s3://{c.bucket}/{key}" if key else f"bucket {c.bucket!r}"
        if isinstance(
            e, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError
        ):
            return StorageError(
                "EndpointUnreachable",
                f"cannot reach S3 endpoint {c.where}: check spec.destination.s3.endpoint and "
                "the network path to it",
            )
        if isinstance(e, botocore.exceptions.ClientError):
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            if code in _CREDENTIAL_CODES:
                return StorageError(
                    "InvalidCredentials",
                    f"S3 endpoint {c.where} refused the credentials for {target} ({code}): "
                    "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the credentials Secret",
                )
            if code == "NoSuchBucket":
                return StorageError(
                    "BucketNotFound", f"bucket {c.bucket!r} does not exist at {c.where}"
                )
            if code in ("NoSuchKey", "404", "NotFound"):
                return StorageError("ObjectNotFound", f"{target} does not exist at {c.where}")
            return StorageError("StorageError", f"S3 {c.where}: {code}: {err.get('Message', '')}")
        return StorageError("StorageError", f"S3 {c.where}: {e}")

    async def upload(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store ``chunks`` as object ``key``; return its size. Aborted on any failure,
        including a failure of ``chunks`` itself (the snapshot stream), so nothing is left."""
        client, bucket = self._client, self.config.bucket
        try:
            created = await client.create_multipart_upload(Bucket=bucket, Key=key)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error(e, key) from e
        upload_id = created["UploadId"]
        parts: list[dict[str, Any]] = []
        size = 0
        buf = bytearray()

        async def send(data: bytes) -> None:
            number = len(parts) + 1
            resp = await client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
            parts.append({"ETag": resp["ETag"], "PartNumber": number})

        try:
            async for chunk in chunks:
                buf += chunk
                size += len(chunk)
                while len(buf) >= self.part_size:
                    data = bytes(buf[: self.part_size])
                    del buf[: self.part_size]
                    await send(data)
            if buf or not parts:
                await send(bytes(buf))
            buf = bytearray()
            await client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException as e:
            await self._abort(key, upload_id)
            if isinstance(e, botocore.exceptions.BotoCoreError | botocore.exceptions.ClientError):
                raise self._error(e, key) from e
            raise
        return size

    async def _abort(self, key: str, upload_id: str) -> None:
        """Abort one multipart upload, also while the caller is being cancelled.

        The abort runs shielded: a cancellation (an operator shutting down, a reconcile
        cancelled) is what it cleans up after, so it must not be cut short by one. A failure
        to abort is logged; the upload is swept later (:meth:`abort_uploads`).
        """
        abort = asyncio.ensure_future(
            self._client.abort_multipart_upload(
                Bucket=self.config.bucket, Key=key, UploadId=upload_id
            )
        )
        try:
            await asyncio.shield(abort)
        except asyncio.CancelledError:
            # Cancelled again while aborting: give the abort a moment, then go on cancelling.
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(abort, 10)
            raise
        except Exception as e:
            _log.warning(
                "could not abort the multipart upload of s3://%s/%s (%s): it stays until the "
                "operator next starts and sweeps it",
                self.config.bucket,
                key,
                e,
            )

    async def abort_uploads(self, prefix: str, stale: Callable[[str], bool]) -> list[str]:
        """Abort every multipart upload in progress under ``prefix`` whose key is ``stale``;
        return the keys aborted. What a process killed mid-upload left behind is cleaned up
        this way (parts of an upload never completed nor aborted are stored, and billed,
        until then)."""
        aborted: list[str] = []
        try:
            paginator = self._client.get_paginator("list_multipart_uploads")
            async for page in paginator.paginate(Bucket=self.config.bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    key = str(upload["Key"])
                    if not stale(key):
                        continue
                    await self._client.abort_multipart_upload(
                        Bucket=self.config.bucket, Key=key, UploadId=upload["UploadId"]
                    )
                    aborted.append(key)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error(e) from e
        return aborted

    async def download(self, key: str, chunk_size: int = 1024 * 1024) -> AsyncIterator[bytes]:
        """The bytes of object ``key``, streamed."""
        try:
            resp = await self._client.get_object(Bucket=self.config.bucket, Key=key)
            async with resp["Body"] as body:
                while chunk := await body.read(chunk_size):
                    yield chunk
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error(e, key) from e

    async def delete(self, key: str) -> None:
        """Delete object ``key`` (deleting a missing object is not an error in S3)."""
        try:
            await self._client.delete_object(Bucket=self.config.bucket, Key=key)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error(e, key) from e

    async def keys(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (and multipart uploads left in progress are not keys)."""
        out: list[str] = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.config.bucket, Prefix=prefix):
                out.extend(str(o["Key"]) for o in page.get("Contents", []))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error(e) from e
        return out

    async def uploads_in_progress(self, prefix: str = "") -> list[str]:
        """Keys of multipart uploads started and neither completed nor aborted."""
        try:
            resp = await self._client.list_multipart_uploads(
                Bucket=self.config.bucket, Prefix=prefix
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error(e) from e
        return [str(u["Key"]) for u in resp.get("Uploads", [])]
