"""A small raw-JSON REST client and list+watch store: LEGACY, no longer used by the kubelet.

The kubelet runs on :class:`opframe.Client` and the SDK's watch loop (``_mirror``). Only the
controller stand-ins of ``opframe.testing._controllers`` still use this module; it goes away
with them when the controllers move onto ``opframe.Controller``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from opframe.errors import ApiError, Gone, api_error_from_status

__all__ = ["RawApi", "Store"]

log = logging.getLogger("opframe.kubelet")

Obj = dict[str, Any]


class RawApi:
    """JSON over HTTP(S) to one API server with a bearer token."""

    def __init__(self, url: str, *, token: str | None = None, ca_file: str | Path | None = None):
        self.url = url.rstrip("/")
        self._headers = {"Accept": "application/json", "User-Agent": "opframe-kubelet/0.1"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._ssl: ssl.SSLContext | bool = True
        if ca_file:
            self._ssl = ssl.create_default_context(cafile=str(ca_file))
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RawApi:
        self._session = aiohttp.ClientSession(headers=self._headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open HTTP session (inside ``async with``)."""
        assert self._session is not None, "use RawApi inside `async with`"
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        """Send one request; return the decoded JSON or raise the typed :class:`ApiError`."""
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(
            method, self.url + path, data=data, params=params, headers=headers, ssl=self._ssl
        ) as resp:
            text = await resp.text()
            decoded: Any = None
            try:
                decoded = json.loads(text) if text else {}
            except ValueError:
                decoded = None
            if resp.status >= 400:
                raise api_error_from_status(
                    resp.status, decoded if isinstance(decoded, dict) else None, text=text
                )
            return decoded if isinstance(decoded, dict) else {}

    async def get_or_none(self, path: str) -> Obj | None:
        """GET ``path``, or ``None`` when it is not found."""
        try:
            return await self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def merge_patch(self, path: str, patch: Obj) -> Obj:
        """A JSON merge patch."""
        return await self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    async def watch(
        self, path: str, resource_version: str, params: dict[str, str] | None = None
    ) -> AsyncIterator[Obj]:
        """Watch events of a collection from ``resource_version`` (raises Gone on 410)."""
        params = {
            **(params or {}),
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "300",
        }
        timeout = aiohttp.ClientTimeout(total=None, sock_read=330)
        async with self.session.get(
            self.url + path, params=params, ssl=self._ssl, timeout=timeout
        ) as resp:
            if resp.status >= 400:
                text = await resp.text()
                try:
                    body = json.loads(text)
                except ValueError:
                    body = None
                raise api_error_from_status(resp.status, body, text=text)
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise api_error_from_status(int(status.get("code") or 500), status)
                yield event


def key_of(obj: Obj) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "")
    return f"{ns}/{name}" if ns else str(name)


class Store:
    """A list+watch mirror of one collection that calls ``on_change(kind, old, new)``.

    ``kind`` is ``ADDED``, ``MODIFIED`` or ``DELETED``; a relist after a lost watch reports
    the differences it finds, so a consumer sees every change at least once.
    """

    def __init__(
        self,
        api: RawApi,
        path: str,
        on_change: Callable[[str, Obj | None, Obj | None], Awaitable[None]],
    ) -> None:
        self._api = api
        self._path = path
        self._on_change = on_change
        self.items: dict[str, Obj] = {}
        self.synced = asyncio.Event()

    async def run(self) -> None:
        """List and watch until cancelled, relisting on 410 and retrying on errors."""
        delay = 0.2
        while True:
            try:
                listing = await self._api.request("GET", self._path)
                rv = str(listing.get("metadata", {}).get("resourceVersion", ""))
                await self._replace({key_of(o): o for o in listing.get("items") or []})
                self.synced.set()
                delay = 0.2
                while True:
                    async for event in self._api.watch(self._path, rv):
                        obj = event["object"]
                        rv = str(obj.get("metadata", {}).get("resourceVersion") or rv)
                        if event["type"] != "BOOKMARK":
                            await self._apply(event["type"], obj)
            except Gone:
                continue
            except (ApiError, aiohttp.ClientError, OSError, ValueError) as exc:
                log.warning("watch of %s failed (%s); retrying in %.1fs", self._path, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _notify(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        try:
            await self._on_change(kind, old, new)
        except Exception:
            # One object the handler trips over must not stop the mirror for all the others.
            log.exception("handling %s of %s failed", kind, key_of(new or old or {}))

    async def _apply(self, kind: str, obj: Obj) -> None:
        key = key_of(obj)
        old = self.items.get(key)
        if kind == "DELETED":
            self.items.pop(key, None)
            await self._notify("DELETED", old or obj, None)
        else:
            self.items[key] = obj
            await self._notify("MODIFIED" if old else "ADDED", old, obj)

    async def _replace(self, fresh: dict[str, Obj]) -> None:
        for key, old in list(self.items.items()):
            if key not in fresh:
                del self.items[key]
                await self._notify("DELETED", old, None)
        for key, obj in fresh.items():
            known = self.items.get(key)
            rv = obj.get("metadata", {}).get("resourceVersion")
            if known is None or known.get("metadata", {}).get("resourceVersion") != rv:
                self.items[key] = obj
                await self._notify("MODIFIED" if known else "ADDED", known, obj)
