"""The list-then-watch loop: a stream of typed events that survives a real network.

::

    async for event in watch(client, Pod, namespace="default"):
        print(event.type, event.object.metadata.name)

:func:`watch` lists (paginated) to learn a resourceVersion, then watches from it with
bookmarks. What it does when things go wrong is the point of the module:

- a stream that ends or drops (timeout, proxy, server restart) is resumed from the last
  resourceVersion seen, events or bookmarks alike, **without** relisting;
- a stream that stays silent longer than ``inactivity_timeout`` is treated as dead and resumed;
- ``410 Gone`` (the version fell out of the server's history) triggers a full relist, diffed
  against what was known: new objects come as ``ADDED``, changed ones as ``MODIFIED`` and
  objects that vanished meanwhile as ``DELETED`` with their last known state;
- other errors (connection refused, 5xx, 429, even 403/404 while RBAC or a CRD is being
  installed) are logged and retried with jittered exponential backoff.

Events of one object are never lost or reordered. ``Watcher.synced`` is set once the initial
list has been delivered; ``Watcher.stats`` counts lists, relists, resumes and bookmarks.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from opframe._http import ApiConnectionError
from opframe._labels import selector_params
from opframe._store import Entry, Key, Store, prepare
from opframe.client import Client
from opframe.errors import ApiError, Gone, api_error_from_status
from opframe.objectref import ObjectRef
from opframe.resource import Resource, resource_info

__all__ = ["Backoff", "Event", "WatchEventType", "WatchStats", "Watcher", "watch"]

logger = logging.getLogger("opframe.watch")

T = TypeVar("T", bound=Resource)

WatchEventType = Literal["ADDED", "MODIFIED", "DELETED"]
"""What happened to the object."""


class Event(Generic[T]):
    """One change to one object, as the store saw it.

    Attributes:
        type: ``ADDED``, ``MODIFIED`` or ``DELETED``.
        ref: the object's :class:`~opframe.ObjectRef` (namespace ``""`` if cluster-scoped).
        initial: ``True`` for events produced by a (re)list rather than by the watch stream;
            controllers may give them a lower priority. A ``DELETED`` event with ``initial``
            was inferred from a relist: its object is the last state this watcher knew, not
            the object's final state (client-go's ``DeletedFinalStateUnknown``).

    ``object`` (the new state, or the last state for ``DELETED``) and ``old`` (the previous
    state when known) are built lazily from the store's JSON on first access and then shared
    by every handler of the event: treat them as read-only.
    """

    __slots__ = ("_model", "_obj", "_old", "_old_raw", "_raw", "initial", "ref", "type")

    def __init__(
        self,
        type: WatchEventType,
        model: type[T],
        key: Key,
        raw: bytes,
        old_raw: bytes | None = None,
        *,
        initial: bool = False,
    ) -> None:
        self.type: WatchEventType = type
        self.ref = key
        self.initial = initial
        self._model = model
        self._raw = raw
        self._old_raw = old_raw
        self._obj: T | None = None
        self._old: T | None = None

    @classmethod
    def of(
        cls, type: WatchEventType, obj: T, old: T | None = None, *, initial: bool = False
    ) -> Event[T]:
        """An event for an existing model (tests, synthetic events)."""
        model = type_of(obj)
        meta = obj.metadata
        event = cls(
            type, model, ObjectRef(meta.namespace, meta.name or ""), b"", None, initial=initial
        )
        event._obj = obj
        event._old = old
        return event

    @property
    def object(self) -> T:
        """The object after the change (for ``DELETED``: its last known state)."""
        if self._obj is None:
            self._obj = self._model.model_validate_json(self._raw)
        return self._obj

    @property
    def old(self) -> T | None:
        """The object before the change, when the store held it."""
        if self._old is None and self._old_raw is not None:
            self._old = self._model.model_validate_json(self._old_raw)
        return self._old

    @property
    def name(self) -> str:
        """The object's name."""
        return self.ref.name

    @property
    def namespace(self) -> str:
        """The object's namespace, ``""`` for a cluster-scoped object."""
        return self.ref.namespace

    def __repr__(self) -> str:
        kind = resource_info(self._model).kind
        return f"Event({self.type} {kind} {self.ref})"


def type_of(obj: T) -> type[T]:
    """The class of a model, typed for generics."""
    return type(obj)


@dataclass
class WatchStats:
    """Counters of one watcher, for tests and metrics.

    Attributes:
        lists: lists performed (counted when their first page arrives).
        relists: lists performed after an earlier list had completed (410 Gone).
        watches: watch requests opened.
        resumes: watch requests opened from a known resourceVersion without relisting.
        bookmarks: bookmark events received.
        events: events delivered.
        errors: failures retried with backoff.
    """

    lists: int = 0
    relists: int = 0
    watches: int = 0
    resumes: int = 0
    bookmarks: int = 0
    events: int = 0
    errors: int = 0


@dataclass
class Backoff:
    """Jittered exponential backoff: ``initial`` doubling up to ``maximum`` seconds.

    Each delay is drawn uniformly from ``[d * (1 - jitter), d]`` so that many watchers that
    failed together do not retry together.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    _attempt: int = 0

    def next(self) -> float:
        """The next delay, growing with each call until :meth:`reset`."""
        delay = min(self.initial * self.factor**self._attempt, self.maximum)
        self._attempt += 1
        return delay * random.uniform(1.0 - self.jitter, 1.0)

    def reset(self) -> None:
        """Start again from ``initial`` (after a success)."""
        self._attempt = 0


# Errors after which the loop retries; anything else is a bug and propagates.
_RETRYABLE = (ApiError, ApiConnectionError, TimeoutError, ValueError)


class Watcher(Generic[T]):
    """List-then-watch over one kind in one scope, as an async iterator of :class:`Event`.

    Create it with :func:`watch`; ``await watcher.aclose()`` when done with it (or let the
    task that iterates it be cancelled). The watcher keeps every object it has seen in
    :attr:`store` (compact JSON, see :mod:`opframe.cache`) to fill ``Event.old`` and to diff
    a relist; an informer reads that same store.
    """

    def __init__(
        self,
        client: Client,
        model: type[T],
        *,
        namespace: str | None = None,
        label_selector: str | Mapping[str, str] | None = None,
        field_selector: str | Mapping[str, str] | None = None,
        page_size: int = 500,
        inactivity_timeout: float = 90.0,
        watch_timeout: tuple[int, int] = (300, 600),
        backoff: Backoff | None = None,
        strip_managed_fields: bool = True,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        store: Store[T] | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.page_size = page_size
        self.inactivity_timeout = inactivity_timeout
        self.watch_timeout = watch_timeout
        self.backoff = backoff or Backoff()
        self.strip_managed_fields = strip_managed_fields
        self.transform = transform
        self.store: Store[T] = store if store is not None else Store(model)
        self.stats = WatchStats()
        self.synced = asyncio.Event()
        self.resource_version: str | None = None
        self.last_error: BaseException | None = None
        self._info = resource_info(model)
        self._events: AsyncGenerator[Event[T], None] | None = None
        self._quick_ends = 0
        self._progress = 0  # watch lines received since the last list
        self._gone_streak = 0  # 410s in a row with nothing received in between

    def __aiter__(self) -> Watcher[T]:
        return self

    async def __anext__(self) -> Event[T]:
        return await anext(self._generator())

    async def aclose(self) -> None:
        """Stop watching: close the open stream (iterating afterwards ends at once)."""
        await self._generator().aclose()

    def _generator(self) -> AsyncGenerator[Event[T], None]:
        if self._events is None:
            self._events = self._run()
        return self._events

    def describe(self) -> str:
        """``Kind`` plus its scope and selectors, for messages."""
        scope = f" in namespace {self.namespace}" if self.namespace else ""
        if self.label_selector:
            scope += f" with labels {self.label_selector}"
        return f"{self._info.kind}{scope}"

    async def _run(self) -> AsyncGenerator[Event[T], None]:
        while True:
            try:
                if self.resource_version is None:
                    async for event in self._relist():
                        yield event
                    self.synced.set()
                async for event in self._watch():
                    yield event
            except Gone as exc:
                fresh = self.resource_version is None or self._progress == 0
                self.resource_version = None
                self._gone_streak = self._gone_streak + 1 if fresh else 0
                if self._gone_streak > 1:
                    # Gone again right after relisting: relisting at once could loop as fast
                    # as the server answers, so back off like any error.
                    await self._fail(exc)
                else:
                    logger.info("watch of %s expired (410 Gone): relisting", self.describe())
            except _RETRYABLE as exc:
                await self._fail(exc)

    async def _fail(self, exc: BaseException) -> None:
        self.stats.errors += 1
        self.last_error = exc
        delay = self.backoff.next()
        logger.warning("watch of %s failed, retrying in %.2fs: %s", self.describe(), delay, exc)
        await asyncio.sleep(delay)

    def _succeeded(self) -> None:
        self.backoff.reset()
        self.last_error = None

    def _entry(self, obj: dict[str, Any]) -> tuple[Key, Entry]:
        return prepare(
            obj, strip_managed_fields=self.strip_managed_fields, transform=self.transform
        )

    async def _relist(self) -> AsyncIterator[Event[T]]:
        seen: set[Key] = set()
        continue_: str | None = None
        while True:
            page = await self.client.list_raw(
                self.model,
                self.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=self.page_size,
                continue_=continue_,
            )
            if continue_ is None:
                self.stats.lists += 1
                if self.synced.is_set():
                    self.stats.relists += 1
            for item in page.get("items") or ():
                # List items carry no apiVersion/kind; models and readers expect them.
                item.setdefault("apiVersion", self._info.api_version)
                item.setdefault("kind", self._info.kind)
                key, entry = self._entry(item)
                seen.add(key)
                old = self.store.entry(key)
                if old is not None and old.rv == entry.rv:
                    continue
                self.store.apply(key, entry)
                kind: WatchEventType = "ADDED" if old is None else "MODIFIED"
                self.stats.events += 1
                yield Event(kind, self.model, key, entry.raw, _raw(old), initial=True)
            metadata = page.get("metadata") or {}
            continue_ = metadata.get("continue")
            if not continue_:
                list_rv = str(metadata.get("resourceVersion") or "")
                break
        for key, old in self.store.iter_base():
            if key not in seen:
                self.store.delete(key)
                self.stats.events += 1
                yield Event("DELETED", self.model, key, old.raw, old.raw, initial=True)
        self.store.forget_overlay(list_rv)
        self.resource_version = list_rv
        self._progress = 0
        self._succeeded()

    async def _watch(self) -> AsyncIterator[Event[T]]:
        params = selector_params(self.label_selector, self.field_selector)
        params.update(
            {
                "watch": "true",
                "allowWatchBookmarks": "true",
                "resourceVersion": self.resource_version or "",
                "timeoutSeconds": str(random.randint(*self.watch_timeout)),
            }
        )
        if self.stats.watches > 0:
            self.stats.resumes += 1
        self.stats.watches += 1
        started = time.monotonic()
        delivered = False
        async with self.client.stream(
            "GET",
            self._info.path(self.namespace),
            params=params,
            inactivity_timeout=self.inactivity_timeout,
        ) as lines:
            try:
                async for line in lines:
                    if not delivered:
                        delivered = True
                        self._succeeded()
                    event = self._handle(line)
                    if event is not None:
                        yield event
            except TimeoutError:
                logger.info(
                    "watch of %s silent for %.0fs: reconnecting",
                    self.describe(),
                    self.inactivity_timeout,
                )
                return
        if not delivered and time.monotonic() - started < 1.0:
            # One early close is normal (a dropped connection); a server that closes every
            # stream at once must not make us spin.
            self._quick_ends += 1
            if self._quick_ends > 1:
                await asyncio.sleep(self.backoff.next())
        else:
            self._quick_ends = 0
            self._succeeded()

    def _handle(self, line: dict[str, Any]) -> Event[T] | None:
        kind = line.get("type")
        if kind != "ERROR":
            self._progress += 1
        obj = line.get("object") or {}
        if kind == "BOOKMARK":
            self.stats.bookmarks += 1
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = str(rv)
            return None
        if kind == "ERROR":
            code = int(obj.get("code") or 500)
            error = api_error_from_status(code, obj)
            raise error
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            raise ValueError(f"unknown watch event type {kind!r} for {self.describe()}")
        key, entry = self._entry(obj)
        self.stats.events += 1
        if entry.rv:
            self.resource_version = entry.rv
        if kind == "DELETED":
            old = self.store.delete(key)
            return Event("DELETED", self.model, key, entry.raw, _raw(old))
        old = self.store.apply(key, entry)
        return Event("ADDED" if old is None else "MODIFIED", self.model, key, entry.raw, _raw(old))


def _raw(entry: Entry | None) -> bytes | None:
    return None if entry is None else entry.raw


def watch(
    client: Client,
    model: type[T],
    *,
    namespace: str | None = None,
    label_selector: str | Mapping[str, str] | None = None,
    field_selector: str | Mapping[str, str] | None = None,
    **options: Any,
) -> Watcher[T]:
    """Watch ``model`` objects (in ``namespace``, matching the selectors) forever.

    Returns a :class:`Watcher`; iterate it with ``async for``. ``options`` are the tuning
    knobs of :class:`Watcher` (``page_size``, ``inactivity_timeout``, ``watch_timeout``,
    ``backoff``, ``strip_managed_fields``, ``transform``).
    """
    return Watcher(
        client,
        model,
        namespace=namespace,
        label_selector=label_selector,
        field_selector=field_selector,
        **options,
    )
