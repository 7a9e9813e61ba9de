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
from typing import Any

from aiohttp import web

from opframe.testing.apiserver import protobuf
from opframe.testing.apiserver.errors import StatusError, gone
from opframe.testing.apiserver.http import table
from opframe.testing.apiserver.http.options import ListOptions, resource_version
from opframe.testing.apiserver.http.request import Target, wants
from opframe.testing.apiserver.http.responses import object_bytes, warning_header
from opframe.testing.apiserver.registry.resources import storage_key
from opframe.testing.apiserver.registry.selectors import selection
from opframe.testing.apiserver.registry.storage import StoredObject, Watcher, WatchEvent, dumps
from opframe.testing.apiserver.registry.writes import Writer

__all__ = ["WATCHES", "WatchRegistry", "WatchStream", "expired_watch"]


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


def _event_line(kind: str, obj: bytes) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + obj + b"}\n"


class WatchStream:
    """One watch request: its filter, its starting events, then the live events.

        await WatchStream(writer, request, target, list_options(query, watch=True)).serve()

    The store delivers events synchronously to :meth:`_deliver`; :meth:`_pump` writes them
    to the client in batches, with bookmarks and the ``timeoutSeconds`` deadline.
    """

    def __init__(
        self, writer: Writer, request: web.Request, target: Target, opts: ListOptions
    ) -> None:
        self.writer = writer
        self.store = writer.store
        self.request = request
        self.rt = target.rt
        self.key = storage_key(target.rt)
        self.opts = opts
        self.name = target.name
        self.namespace = target.namespace if target.rt.namespaced else None
        self.labels, self.fields = selection(target.rt, opts.label_selector, opts.field_selector)
        self.as_table = wants(request.headers.get("Accept", "")) == "table"
        self.include_object = request.query.get("includeObject", "Metadata")
        self._headers_sent = False
        self._pending: list[WatchEvent] = []
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._since = 0

    # -- filtering and encoding -----------------------------------------------------------

    def _matches(self, so: StoredObject) -> bool:
        m = so.meta
        if self.namespace and m.get("namespace") != self.namespace:
            return False
        if self.name and m.get("name") != self.name:
            return False
        if self.labels is not None and not self.labels(m.get("labels") or {}):
            return False
        return self.fields is None or bool(self.fields(so.obj))

    def _encode(self, so: StoredObject) -> bytes:
        if not self.as_table:
            return object_bytes(self.writer, self.rt, so)
        rendered = table.to_table(
            self.rt,
            [self.writer.served(self.rt, so.obj)],
            include_object=self.include_object,
            list_meta={"resourceVersion": str(so.rv)},
        )
        # As kube-apiserver does: column headers with the first event only.
        if self._headers_sent:
            rendered["columnDefinitions"] = None
        self._headers_sent = True
        return dumps(rendered)

    def _classify(self, ev: WatchEvent) -> tuple[str, StoredObject] | None:
        """The event this watch reports for a store event, if any."""
        if ev.type != "MODIFIED":  # ADDED or DELETED: reported as is, if it matches
            return (ev.type, ev.obj) if self._matches(ev.obj) else None
        now_in = self._matches(ev.obj)
        was_in = ev.prev is not None and self._matches(ev.prev)
        if now_in and was_in:
            return "MODIFIED", ev.obj
        if now_in:
            return "ADDED", ev.obj
        if was_in and ev.prev is not None:
            return "DELETED", ev.prev.with_rv(ev.obj.rv)
        return None

    async def _lines(self, events: list[tuple[str, StoredObject]]) -> list[bytes]:
        """The events encoded; a CRD's conversion webhook converts them first, in one review."""
        await self.writer.prefetch(self.rt, [so.obj for _, so in events])
        return [_event_line(kind, self._encode(so)) for kind, so in events]

    def _deliver(self, ev: WatchEvent) -> None:
        self._pending.append(ev)
        self._wake.set()

    # -- serving --------------------------------------------------------------------------

    def _initial(self) -> tuple[list[tuple[str, StoredObject]], bytes] | None:
        """The events sent first, and the bookmark that ends them (or ``b""``); ``None`` if the
        requested resourceVersion has expired."""
        opts = self.opts
        send_initial = bool(opts.send_initial_events)
        since = resource_version(opts.resource_version)
        if since == 0 and opts.send_initial_events is False:
            # The watch cache's getAllEventsSinceLocked: version 0 (or none) with
            # sendInitialEvents=false watches from the current version, nothing replayed.
            since = self.store.rv
        # The cache watcher sends only events newer than the requested version, which may be
        # ahead of the store (cacheWatcher.process).
        self._since = since
        events: list[tuple[str, StoredObject]] = []
        if send_initial or since == 0:
            scope = self.namespace if self.rt.namespaced else ""
            for so in self.store.iter_sorted(self.key, scope):
                if self._matches(so):
                    events.append(("ADDED", so))
            end = b""
            if send_initial and opts.allow_bookmarks:
                end = _bookmark(self.rt.kind, self.rt.api_version, self.store.rv, initial_end=True)
            return events, end
        history = self.store.history_since(self.key, since)
        if history is None:
            return None
        for ev in history:
            reported = self._classify(ev)
            if reported is not None:
                events.append(reported)
        return events, b""

    async def serve(self) -> web.StreamResponse:
        """Answer the request with a stream of JSON events, one per line."""
        watcher = Watcher(self._deliver, self._stop.set)
        self.store.subscribe(self.key, watcher)
        try:
            # Subscribed before the starting events are taken: no event falls between the two.
            starting = self._initial()
            if starting is None:
                oldest = self.store.oldest_rv(self.key) + 1
                message = f"too old resource version: {self.opts.resource_version} ({oldest})"
                return await expired_watch(self.request, gone(message).body())
            initial = await self._lines(starting[0])
            if starting[1]:
                initial.append(starting[1])
            resp = protobuf.watch_response(self.request, custom=self.rt.custom or self.as_table)
            if self.rt.extra.get("deprecation_warning"):
                resp.headers.add("Warning", warning_header(self.rt.extra["deprecation_warning"]))
            resp.enable_chunked_encoding()
            await resp.prepare(self.request)
            # In chunks: the client decodes the first objects while the rest are still sent,
            # and a streamed list of 100,000 objects is never joined into one buffer.
            for start in range(0, len(initial), _INITIAL_CHUNK):
                await resp.write(b"".join(initial[start : start + _INITIAL_CHUNK]))
            await self._pump(resp)
            return resp
        finally:
            self.store.unsubscribe(self.key, watcher)

    def _wait_seconds(
        self, now: float, deadline: float | None, next_bookmark: float
    ) -> float | None:
        limit = next_bookmark if self.opts.allow_bookmarks else None
        if deadline is not None:
            limit = deadline if limit is None else min(limit, deadline)
        return None if limit is None else max(0.0, limit - now)

    async def _pump(self, resp: web.StreamResponse) -> None:
        registry = self.request.app[WATCHES]
        registry.add(self._stop, self.key)
        loop = asyncio.get_running_loop()
        timeout = self.opts.timeout_seconds
        deadline = loop.time() + timeout if timeout else None
        next_bookmark = loop.time() + registry.bookmark_interval
        stop_wait = asyncio.ensure_future(self._stop.wait())
        try:
            while True:
                if not self._pending and not self._stop.is_set():
                    self._wake.clear()
                    wait = self._wait_seconds(loop.time(), deadline, next_bookmark)
                    wake_wait = asyncio.ensure_future(self._wake.wait())
                    try:
                        await asyncio.wait(
                            {wake_wait, stop_wait},
                            timeout=wait,
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    finally:
                        wake_wait.cancel()
                # Events that happened before a stop are still sent (a CRD's last DELETED).
                batch, self._pending = self._pending, []
                reported = [
                    r
                    for ev in batch
                    if ev.obj.rv > self._since and (r := self._classify(ev)) is not None
                ]
                try:
                    lines = await self._lines(reported)
                except StatusError as e:
                    # A conversion webhook failing: the watch ends with the error.
                    await resp.write(_event_line("ERROR", dumps(e.body())))
                    break
                ended = self._stop.is_set() or (deadline is not None and loop.time() >= deadline)
                if self.opts.allow_bookmarks and not ended and loop.time() >= next_bookmark:
                    lines.append(_bookmark(self.rt.kind, self.rt.api_version, self.store.rv))
                    next_bookmark = loop.time() + registry.bookmark_interval
                if lines:
                    transport = self.request.transport
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
            registry.discard(self._stop)


async def expired_watch(request: web.Request, status: dict[str, Any]) -> web.StreamResponse:
    """A watch answered with a single ``ERROR`` event (a 410 ``Status``), then closed."""
    resp = protobuf.watch_response(request, custom=False)
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    await resp.write(_event_line("ERROR", dumps(status)))
    await resp.write_eof()
    return resp


_INITIAL_CHUNK = 500  # initial events per write


def _bookmark(kind: str, api_version: str, rv: int, *, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _event_line(
        "BOOKMARK", dumps({"kind": kind, "apiVersion": api_version, "metadata": meta})
    )
