"""Watch streams: resume from a resourceVersion, initial events, bookmarks, timeouts, 410.

A watch subscribes to the store and takes its starting snapshot (current objects or the
history since the requested resourceVersion) in the same synchronous step, so no event falls
between the two. Events are then filtered per watcher with the real server's selector
semantics: an object that stops matching is reported as DELETED (its previous state, carrying
the new resourceVersion) and one that starts matching as ADDED.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from opframe.testing.apiserver import protobuf
from opframe.testing.apiserver.errors import Cause, gone, invalid
from opframe.testing.apiserver.http import table
from opframe.testing.apiserver.http.request import Target, flag, integer, wants
from opframe.testing.apiserver.registry.resources import storage_key
from opframe.testing.apiserver.registry.storage import StoredObject, Watcher, WatchEvent, dumps

if TYPE_CHECKING:
    from opframe.testing.apiserver.http.rest import Handlers

__all__ = ["WATCHES", "WatchRegistry", "expired_watch", "serve_watch"]


class WatchRegistry:
    """Open watch streams, so tests can drop them (fault injection) and shutdown can end them."""

    def __init__(self) -> None:
        self._streams: dict[asyncio.Event, str] = {}
        #: Seconds between bookmarks on watches that allow them.
        self.bookmark_interval = 60.0

    def add(self, stop: asyncio.Event, key: str) -> None:
        """Register an open stream of resource ``key``."""
        self._streams[stop] = key

    def discard(self, stop: asyncio.Event) -> None:
        """Forget a closed stream."""
        self._streams.pop(stop, None)

    def drop(self, resource: str | None = None) -> int:
        """End open streams (of one plural, or all); returns how many."""
        n = 0
        for stop, key in list(self._streams.items()):
            if resource is None or key.rpartition("/")[2] == resource or key == resource:
                stop.set()
                n += 1
        return n

    def count(self) -> int:
        """How many streams are open."""
        return len(self._streams)


#: Where the application keeps its :class:`WatchRegistry`.
WATCHES: web.AppKey[WatchRegistry] = web.AppKey("watches", WatchRegistry)


_INITIAL_CHUNK = 500  # initial events per write


def _event_line(kind: str, obj: bytes) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + obj + b"}\n"


async def serve_watch(
    handlers: Handlers, request: web.Request, target: Target
) -> web.StreamResponse:
    """Answer a watch request with a stream of JSON events, one per line."""
    q = request.query
    rt = target.rt
    key = storage_key(rt)
    store = handlers.store
    labels, fields = handlers.predicate(target, q)
    name = target.name
    namespace = target.namespace if rt.namespaced else None

    def matches(so: StoredObject) -> bool:
        m = so.meta
        if namespace and m.get("namespace") != namespace:
            return False
        if name and m.get("name") != name:
            return False
        if labels is not None and not labels(m.get("labels") or {}):
            return False
        return fields is None or bool(fields(so.obj))

    as_table = wants(request.headers.get("Accept", "")) == "table"
    include_object = q.get("includeObject", "Metadata")
    headers_sent = False

    def encode(so: StoredObject) -> bytes:
        nonlocal headers_sent
        if not as_table:
            return handlers.object_bytes(rt, so)
        rendered = table.to_table(
            rt,
            [handlers.writer.served(rt, so.obj)],
            include_object=include_object,
            list_meta={"resourceVersion": str(so.rv)},
        )
        # As kube-apiserver does: column headers with the first event only.
        if headers_sent:
            rendered["columnDefinitions"] = None
        headers_sent = True
        return dumps(rendered)

    def render(ev: WatchEvent) -> bytes | None:
        if ev.type != "MODIFIED":  # ADDED or DELETED: reported as is, if it matches
            return _event_line(ev.type, encode(ev.obj)) if matches(ev.obj) else None
        now_in = matches(ev.obj)
        was_in = ev.prev is not None and matches(ev.prev)
        if now_in and was_in:
            return _event_line("MODIFIED", encode(ev.obj))
        if now_in:
            return _event_line("ADDED", encode(ev.obj))
        if was_in and ev.prev is not None:
            return _event_line("DELETED", encode(ev.prev.with_rv(ev.obj.rv)))
        return None

    pending: list[WatchEvent] = []
    wake = asyncio.Event()

    def deliver(ev: WatchEvent) -> None:
        pending.append(ev)
        wake.set()

    stop = asyncio.Event()
    watcher = Watcher(deliver, stop.set)
    initial: list[bytes] = []
    rv_param = q.get("resourceVersion", "")
    send_initial = flag(q.get("sendInitialEvents"))
    bookmarks = flag(q.get("allowWatchBookmarks"))
    if "sendInitialEvents" in q:
        _check_streaming_list(q.get("resourceVersionMatch", ""), bookmarks)
    store.subscribe(key, watcher)
    expired: int | None = None
    try:
        if send_initial or rv_param in ("", "0"):
            scope = namespace if rt.namespaced else ""
            for so in store.iter_sorted(key, scope):
                if matches(so):
                    initial.append(_event_line("ADDED", encode(so)))
            if send_initial and bookmarks:
                initial.append(_bookmark(rt.kind, rt.api_version, store.rv, initial_end=True))
        else:
            try:
                since = int(rv_param)
            except ValueError:
                since = -1
            history = store.history_since(key, since) if since >= 0 else None
            if history is None:
                expired = since
            else:
                for ev in history:
                    line = render(ev)
                    if line is not None:
                        initial.append(line)
        if expired is not None:
            oldest = store.oldest_rv(key) + 1
            expired_status = gone(f"too old resource version: {rv_param} ({oldest})").body()
            return await expired_watch(request, expired_status)
        resp = protobuf.watch_response(request, custom=rt.custom or as_table)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        # In chunks: the client decodes the first objects while the rest are still sent,
        # and a streamed list of 100,000 objects is never joined into one buffer.
        for start in range(0, len(initial), _INITIAL_CHUNK):
            await resp.write(b"".join(initial[start : start + _INITIAL_CHUNK]))
        await _pump(handlers, request, resp, key, stop, pending, wake, render, q, bookmarks, rt)
        return resp
    finally:
        store.unsubscribe(key, watcher)


def _check_streaming_list(match: str, bookmarks: bool) -> None:
    """A streaming list needs resourceVersionMatch=NotOlderThan and bookmarks (422 otherwise)."""
    causes = []
    if match != "NotOlderThan":
        causes.append(
            Cause(
                reason="FieldValueForbidden",
                message="Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                "NotOlderThan",
                field="resourceVersionMatch",
            )
        )
    if not bookmarks:
        causes.append(
            Cause(
                reason="FieldValueForbidden",
                message="Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true",
                field="allowWatchBookmarks",
            )
        )
    if causes:
        raise invalid("ListOptions", "", causes, "meta.k8s.io")


async def expired_watch(request: web.Request, status: dict[str, Any]) -> web.StreamResponse:
    """A watch answered with a single ``ERROR`` event (a 410 ``Status``), then closed."""
    resp = protobuf.watch_response(request, custom=False)
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    await resp.write(_event_line("ERROR", dumps(status)))
    await resp.write_eof()
    return resp


def _bookmark(kind: str, api_version: str, rv: int, *, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _event_line(
        "BOOKMARK", dumps({"kind": kind, "apiVersion": api_version, "metadata": meta})
    )


async def _pump(
    handlers: Handlers,
    request: web.Request,
    resp: web.StreamResponse,
    key: str,
    stop: asyncio.Event,
    pending: list[WatchEvent],
    wake: asyncio.Event,
    render: Callable[[WatchEvent], bytes | None],
    q: Any,
    bookmarks: bool,
    rt: Any,
) -> None:
    registry = request.app[WATCHES]
    registry.add(stop, key)
    loop = asyncio.get_running_loop()
    timeout = integer(q.get("timeoutSeconds"), "timeoutSeconds")
    deadline = loop.time() + timeout if timeout else None
    next_bookmark = loop.time() + registry.bookmark_interval
    stop_wait = asyncio.ensure_future(stop.wait())
    try:
        while True:
            if not pending and not stop.is_set():
                wake.clear()
                limit = next_bookmark if bookmarks else None
                if deadline is not None:
                    limit = deadline if limit is None else min(limit, deadline)
                wait = None if limit is None else max(0.0, limit - loop.time())
                wake_wait = asyncio.ensure_future(wake.wait())
                try:
                    await asyncio.wait(
                        {wake_wait, stop_wait}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    wake_wait.cancel()
            # Events that happened before a stop are still sent (a CRD's last DELETED events).
            lines = []
            for ev in pending:
                line = render(ev)
                if line is not None:
                    lines.append(line)
            pending.clear()
            ended = stop.is_set() or (deadline is not None and loop.time() >= deadline)
            if bookmarks and not ended and loop.time() >= next_bookmark:
                lines.append(_bookmark(rt.kind, rt.api_version, handlers.store.rv))
                next_bookmark = loop.time() + registry.bookmark_interval
            if lines:
                transport = request.transport
                if transport is None or transport.is_closing():
                    return
                await resp.write(b"".join(lines))
            if ended:
                break
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
    except ConnectionError:
        return
    finally:
        stop_wait.cancel()
        registry.discard(stop)
