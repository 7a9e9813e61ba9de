"""HTTP transport of the client: one aiohttp session, JSON in and out, typed errors, retries.

Kept apart from :mod:`opframe.client` so the typed verbs read as a thin layer over two calls:
:meth:`Transport.request` (decoded JSON answer) and :meth:`Transport.stream` (a watch stream of
decoded JSON lines). The informer path is hot, so answers are decoded once with the stdlib
``json`` module and never pass through generated models.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from opframe._config import ConnectionConfig
from opframe._json import loads
from opframe.errors import ApiError, ConfigError, api_error_from_status

__all__ = ["ApiConnectionError", "RetryPolicy", "Transport"]

logger = logging.getLogger("opframe.client")

JSON_CONTENT = "application/json"


class ApiConnectionError(ConfigError):
    """The API server could not be reached (refused, reset, TLS failure, timeout).

    The message names the endpoint. Watches and informers retry these with backoff; a single
    request raises it to the caller.
    """


@dataclass(frozen=True)
class RetryPolicy:
    """When the transport retries a request by itself.

    A 429 (or a 5xx carrying ``Retry-After``, as kube-apiserver sends while overloaded) means
    the server did not process the request, so any verb is retried, waiting for the
    server's ``Retry-After`` (capped at ``max_delay``) or, without one, a jittered exponential
    delay from ``base_delay``. At most ``max_retries`` retries; then the typed error is raised.
    """

    max_retries: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return min(self.base_delay * 2.0**attempt, self.max_delay) * random.uniform(0.5, 1.0)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


_READ = 256 * 1024


def _decode(data: bytes) -> Any:
    return loads(data) if data else None


class Transport:
    """An aiohttp session bound to one API server; owned by a :class:`~opframe.client.Client`."""

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        max_connections: int = 100,
    ) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError(
                f"the client for {self.config.host} is closed; stop what uses it first "
                "(caches, managers) and close it last"
            )
        # Created lazily so a Client can be built outside a running event loop.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                ssl=self.config.ssl_context if self.config.ssl_context is not None else False,
            )
            # Watch events and list pages can be far bigger than aiohttp's 64 KiB default.
            self._session = aiohttp.ClientSession(connector=connector, read_bufsize=2**21)
        return self._session

    async def close(self) -> None:
        """Close the session and its connections; the transport cannot be used again."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _headers(
        self, extra: Mapping[str, str] | None, content_type: str | None
    ) -> dict[str, str]:
        headers = {"Accept": JSON_CONTENT}
        auth = await self.config.authorization()
        if auth:
            headers["Authorization"] = auth
        if content_type:
            headers["Content-Type"] = content_type
        if extra:
            headers.update(extra)
        return headers

    def _kwargs(self) -> dict[str, Any]:
        if self.config.server_hostname:
            return {"server_hostname": self.config.server_hostname}
        return {}

    def _connection_error(self, method: str, path: str, exc: BaseException) -> ApiConnectionError:
        return ApiConnectionError(
            f"cannot reach the API server at {self.config.host} ({method} {path}): "
            f"{type(exc).__name__}: {exc}"
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON answer (``None`` for an empty body).

        Raises the typed :class:`~opframe.errors.ApiError` for an error status after the
        retries of :attr:`retry`, or :class:`ApiConnectionError`.
        """
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            content_type = content_type or JSON_CONTENT
        url = self.config.host + path
        client_timeout = aiohttp.ClientTimeout(total=self.timeout)
        refreshed = False
        attempt = 0
        while True:
            sent = await self._headers(headers, content_type)
            try:
                async with self._get_session().request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=sent,
                    timeout=client_timeout,
                    **self._kwargs(),
                ) as resp:
                    payload = await resp.read()
                    status = resp.status
                    resp_headers = resp.headers
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise self._connection_error(method, path, exc) from exc
            if status < 400:
                for warning in resp_headers.getall("Warning", []):
                    logger.warning("API server warning on %s %s: %s", method, path, warning)
                return _decode(payload)
            error = self._error(status, payload, resp_headers)
            if status == 401 and not refreshed and await self.config.refresh():
                refreshed = True
                continue
            if self._should_retry(error, attempt):
                delay = self.retry.delay(attempt, error.retry_after)
                logger.info("%s %s answered %d, retrying in %.2fs", method, path, status, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            raise error

    def _should_retry(self, error: ApiError, attempt: int) -> bool:
        if attempt >= self.retry.max_retries:
            return False
        if error.status == 429:
            return True
        return error.status >= 500 and error.retry_after is not None

    @staticmethod
    def _error(status: int, payload: bytes, headers: Mapping[str, str]) -> ApiError:
        body: Any = None
        text = ""
        try:
            body = _decode(payload)
        except ValueError:
            text = payload.decode(errors="replace")
        return api_error_from_status(
            status,
            body if isinstance(body, dict) else None,
            text=text,
            retry_after=_retry_after(headers),
        )

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        inactivity_timeout: float | None = None,
    ) -> AsyncIterator[AsyncIterator[Any]]:
        """Open a streaming request; yields an iterator of decoded JSON lines.

        The iterator raises :class:`TimeoutError` when no byte arrives for
        ``inactivity_timeout`` seconds (a silent stream is a dead stream) and ends when the
        server closes the stream. An error status raises the typed ``ApiError`` before
        anything is yielded.
        """
        url = self.config.host + path
        sent = await self._headers(headers, None)
        # No total timeout: a watch lasts as long as the server keeps it (timeoutSeconds).
        client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout)
        try:
            resp = await self._get_session().request(
                method, url, params=params, headers=sent, timeout=client_timeout, **self._kwargs()
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._connection_error(method, path, exc) from exc
        try:
            if resp.status >= 400:
                payload = await resp.read()
                raise self._error(resp.status, payload, resp.headers)
            yield self._lines(resp, method, path, inactivity_timeout)
        finally:
            resp.close()

    async def _lines(
        self,
        resp: aiohttp.ClientResponse,
        method: str,
        path: str,
        inactivity_timeout: float | None,
    ) -> AsyncIterator[Any]:
        # Split on newlines ourselves: aiohttp's readline() caps line length, and one watch
        # event (a whole object) has no size bound short of etcd's request limit.
        buffer = bytearray()
        content = resp.content
        while True:
            try:
                async with asyncio.timeout(inactivity_timeout):
                    # At most _READ bytes at a time: readany() would hand over everything
                    # buffered, megabytes of a streamed list, held until its last line.
                    chunk = await content.read(_READ)
            except (aiohttp.ClientError, OSError) as exc:
                raise self._connection_error(method, path, exc) from exc
            if not chunk:
                if buffer.strip():
                    yield loads(buffer)
                return
            start = len(buffer)
            buffer += chunk
            if b"\n" not in chunk:
                continue
            end = buffer.rfind(b"\n", start)
            complete, buffer = buffer[:end], buffer[end + 1 :]
            for line in complete.split(b"\n"):
                if line.strip():
                    yield loads(line)
