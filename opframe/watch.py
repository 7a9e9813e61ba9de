"""The watcher: list-then-watch as a stream of typed events that survives a real network.

::

    async for pod in watch(client, Pod, namespace="default").applied():
        print(pod.name)

:func:`watch` lists to learn a resourceVersion, then watches from it with bookmarks. The list
is streamed when the server can (``sendInitialEvents``, client-go's watch-list: objects
arrive one by one on the watch stream, ended by a bookmark) and paginated LIST otherwise.
It is kube-rs' ``watcher``: a pure stream that keeps **no** objects (the
:mod:`opframe.reflector` writes a store from it, an :class:`~opframe.Informer` adds handlers).
What it does when things go wrong is the point of the module:

- a stream that ends or drops (timeout, proxy, server restart) is resumed from the last
  resourceVersion seen, events or bookmarks alike, **without** relisting;
- a stream that stays silent longer than ``inactivity_timeout`` is treated as dead and resumed;
- ``410 Gone`` (the version fell out of the server's history) triggers a full relist, framed
  as ``INIT``, ``INIT_APPLY`` per object, ``INIT_DONE``: a consumer with a store knows that
  what it held and was not listed is gone (the reflector turns that into ``DELETED``);
- other errors (connection refused, 5xx, 429, even 403/404 while RBAC or a CRD is being
  installed) are logged and retried with jittered exponential backoff.

Events of one object are never lost or reordered. ``Watcher.stats`` counts lists, relists,
resumes and bookmarks.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from opframe._http import ApiConnectionError
from opframe._labels import selector_params
from opframe._store import Entry, prepare
from opframe.client import Client
from opframe.errors import ApiError, Gone, NotFound, api_error_from_status
from opframe.objectref import ObjectRef
from opframe.resource import Resource, resource_info

__all__ = ["Backoff", "Change", "WatchStats", "Watcher", "WatcherEvent", "watch"]

logger = logging.getLogger("opframe.watch")

T = TypeVar("T", bound=Resource)


class Change(StrEnum):
    """What a :class:`WatcherEvent` says, as kube-rs' ``watcher::Event`` does.

    A (re)list is framed: ``INIT``, one ``INIT_APPLY`` per listed object, then ``INIT_DONE``.
    Objects known before ``INIT`` and not listed by ``INIT_DONE`` are gone; the watcher keeps
    no state to say which, a :class:`~opframe.reflector.Reflector` does (it owns the store).
    """

    INIT = "Init"
    """A (re)list starts: a new view of the whole collection follows."""
    INIT_APPLY = "InitApply"
    """An object of that list."""
    INIT_DONE = "InitDone"
    """The list is complete (``resource_version`` is its version); watching follows."""
    APPLY = "Apply"
    """The watch saw an object created or changed (``ADDED`` or ``MODIFIED``)."""
    DELETE = "Delete"
    """The watch saw an object deleted; ``object`` is its final state."""


class WatcherEvent(Generic[T]):
    """One item of a watcher's stream.

    Attributes:
        type: the :class:`Change`.
        ref: the object's :class:`~opframe.ObjectRef`; ``None`` for ``INIT``/``INIT_DONE``.
        entry: the object as compact JSON (what a store keeps); ``None`` likewise.
        resource_version: the object's version, or the list's for ``INIT_DONE``.

    ``object`` is built from the JSON on first access (and kept): a stream that only maps
    events to keys never pays for a model.
    """

    __slots__ = ("_model", "_obj", "entry", "ref", "resource_version", "type")

    def __init__(
        self,
        type: Change,
        model: type[T],
        ref: ObjectRef | None = None,
        entry: Entry | None = None,
        resource_version: str = "",
    ) -> None:
        self.type = type
        self.ref = ref
        self.entry = entry
        self.resource_version = resource_version
        self._model = model
        self._obj: T | None = None

    @property
    def object(self) -> T:
        """The object (``INIT_APPLY``, ``APPLY``, ``DELETE``); ``ValueError`` for markers."""
        if self._obj is None:
            if self.entry is None:
                raise ValueError(f"a {self.type} event carries no object")
            self._obj = self._model.model_validate_json(self.entry.raw)
        return self._obj

    def __repr__(self) -> str:
        kind = resource_info(self._model).kind
        return f"WatcherEvent({self.type} {kind} {self.ref or ''})".replace(" )", ")")


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


_INITIAL_EVENTS_END = "k8s.io/initial-events-end"

# Errors after which the loop retries; anything else is a bug and propagates.
_RETRYABLE = (ApiError, ApiConnectionError, TimeoutError, ValueError)


class Watcher(Generic[T]):
    """List-then-watch over one kind in one scope, as an async iterator of :class:`WatcherEvent`.

    Create it with :func:`watch`; ``await watcher.aclose()`` when done with it (or let the
    task that iterates it be cancelled). The watcher keeps no objects: a relist is framed by
    ``INIT``/``INIT_DONE`` so that whoever keeps a store can tell what vanished. Use
    :meth:`applied` for just the objects, or :func:`opframe.reflector.reflect` for
    ``ADDED``/``MODIFIED``/``DELETED`` with the old state.
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
        stats: WatchStats | None = None,
        streaming_list: bool = True,
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
        self.stats = stats if stats is not None else WatchStats()
        self.streaming_list = streaming_list
        # Whether the server streams the initial list (None: not asked yet).
        self.streaming_supported: bool | None = None
        self.resource_version: str | None = None
        self.last_error: BaseException | None = None
        self._info = resource_info(model)
        self._events: AsyncGenerator[WatcherEvent[T], None] | None = None
        self._listed = False  # a list has completed once (the next one is a relist)
        self._quick_ends = 0
        self._progress = 0  # watch lines received since the last list
        self._gone_streak = 0  # 410s in a row with nothing received in between
        #: Log a 404 at DEBUG, not WARNING: set by a cache following CRDs, where a kind whose
        #: CRD was just deleted answers 404 until the informer is stopped.
        self.quiet_not_found = False

    def __aiter__(self) -> Watcher[T]:
        return self

    async def __anext__(self) -> WatcherEvent[T]:
        return await anext(self._generator())

    async def aclose(self) -> None:
        """Stop watching: close the open stream (iterating afterwards ends at once)."""
        await self._generator().aclose()

    async def applied(self) -> AsyncIterator[T]:
        """Every object listed or created/changed, as typed models (deletions left out).

        ::

            async for pod in watch(client, Pod, namespace="default").applied():
                print(pod.name, pod.status.phase if pod.status else None)
        """
        async for event in self:
            if event.type is Change.APPLY or event.type is Change.INIT_APPLY:
                yield event.object

    def _generator(self) -> AsyncGenerator[WatcherEvent[T], None]:
        if self._events is None:
            self._events = self._run()
        return self._events

    def describe(self) -> str:
        """``Kind`` plus its scope and selectors, for messages."""
        scope = f" in namespace {self.namespace}" if self.namespace else ""
        if self.label_selector:
            scope += f" with labels {self.label_selector}"
        return f"{self._info.kind}{scope}"

    async def _run(self) -> AsyncGenerator[WatcherEvent[T], None]:
        while True:
            try:
                if self.resource_version is None:
                    if self.streaming_list and self.streaming_supported is not False:
                        async for event in self._watch_list():
                            yield event
                    else:
                        async for event in self._relist():
                            yield event
                if self.resource_version is None:
                    continue  # the streamed list ended early, or the server does not stream
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
        level = (
            logging.DEBUG if self.quiet_not_found and isinstance(exc, NotFound) else logging.WARNING
        )
        logger.log(level, "watch of %s failed, retrying in %.2fs: %s", self.describe(), delay, exc)
        await asyncio.sleep(delay)

    def _succeeded(self) -> None:
        self.backoff.reset()
        self.last_error = None

    def _entry(self, obj: dict[str, Any]) -> tuple[ObjectRef, Entry]:
        return prepare(
            obj, strip_managed_fields=self.strip_managed_fields, transform=self.transform
        )

    async def _relist(self) -> AsyncIterator[WatcherEvent[T]]:
        model = self.model
        continue_: str | None = None
        while True:
            page = await self.client.list_raw(
                model,
                self.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=self.page_size,
                continue_=continue_,
            )
            if continue_ is None:
                self.stats.lists += 1
                if self._listed:
                    self.stats.relists += 1
                yield WatcherEvent(Change.INIT, model)
            for item in page.get("items") or ():
                # List items carry no apiVersion/kind; models and readers expect them.
                item.setdefault("apiVersion", self._info.api_version)
                item.setdefault("kind", self._info.kind)
                ref, entry = self._entry(item)
                self.stats.events += 1
                yield WatcherEvent(Change.INIT_APPLY, model, ref, entry, entry.rv)
            metadata = page.get("metadata") or {}
            continue_ = metadata.get("continue")
            if not continue_:
                list_rv = str(metadata.get("resourceVersion") or "")
                break
        self.resource_version = list_rv
        self._listed = True
        self._progress = 0
        self._succeeded()
        yield WatcherEvent(Change.INIT_DONE, model, resource_version=list_rv)

    def _watch_params(self, **extra: str) -> dict[str, str]:
        params = selector_params(self.label_selector, self.field_selector)
        params.update(
            {
                "watch": "true",
                "allowWatchBookmarks": "true",
                "resourceVersion": self.resource_version or "",
                "timeoutSeconds": str(random.randint(*self.watch_timeout)),
                **extra,
            }
        )
        return params

    async def _watch_list(self) -> AsyncIterator[WatcherEvent[T]]:
        """The initial list as a watch stream (``sendInitialEvents``), then the watch itself.

        client-go's default: the server streams every object as ``ADDED`` and then a bookmark
        annotated ``k8s.io/initial-events-end`` carrying the list's resourceVersion, on the
        same stream the changes follow on. The objects arrive one at a time instead of as
        pages held whole. A server that refuses the parameters (400/422: too old, or the
        feature is off) or ends the stream without that bookmark is listed with LIST from
        then on.
        """
        model = self.model
        params = self._watch_params(sendInitialEvents="true", resourceVersionMatch="NotOlderThan")
        params["resourceVersion"] = ""
        self.stats.watches += 1
        initial = True
        received = 0
        try:
            async with self.client.stream(
                "GET",
                self._info.path(self.namespace),
                params=params,
                inactivity_timeout=self.inactivity_timeout,
            ) as lines:
                async for line in lines:
                    if not initial:
                        event = self._handle(line)
                        if event is not None:
                            yield event
                        continue
                    if received == 0:
                        self.stats.lists += 1
                        if self._listed:
                            self.stats.relists += 1
                        yield WatcherEvent(Change.INIT, model)
                    received += 1
                    kind = line.get("type")
                    obj = line.get("object") or {}
                    if kind == "BOOKMARK":
                        metadata = obj.get("metadata") or {}
                        annotations = metadata.get("annotations") or {}
                        if annotations.get(_INITIAL_EVENTS_END) != "true":
                            continue
                        list_rv = str(metadata.get("resourceVersion") or "")
                        self.streaming_supported = True
                        self.resource_version = list_rv
                        self._listed = True
                        self._progress = 0
                        self._succeeded()
                        initial = False
                        yield WatcherEvent(Change.INIT_DONE, model, resource_version=list_rv)
                    elif kind == "ERROR":
                        raise api_error_from_status(int(obj.get("code") or 500), obj)
                    else:
                        ref, entry = self._entry(obj)
                        self.stats.events += 1
                        yield WatcherEvent(Change.INIT_APPLY, model, ref, entry, entry.rv)
        except ApiError as exc:
            if self.streaming_supported is None and exc.status in (400, 422):
                logger.info(
                    "%s: the server does not stream lists (%s); listing instead",
                    self.describe(),
                    exc,
                )
                self.streaming_supported = False
                return
            raise
        except TimeoutError:
            if not initial:
                return  # a silent stream after the list: resumed like any watch
            raise
        if initial and received and self.streaming_supported is None:
            # Objects but never the end marker: a server that ignored sendInitialEvents.
            logger.info("%s: sendInitialEvents ignored; listing instead", self.describe())
            self.streaming_supported = False
        elif initial and not received:
            await asyncio.sleep(self.backoff.next())  # closed at once: do not spin on it

    async def _watch(self) -> AsyncIterator[WatcherEvent[T]]:
        params = self._watch_params()
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

    def _handle(self, line: dict[str, Any]) -> WatcherEvent[T] | None:
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
            raise api_error_from_status(code, obj)
        if kind == "DELETED":
            change = Change.DELETE
        elif kind == "ADDED" or kind == "MODIFIED":
            change = Change.APPLY
        else:
            raise ValueError(f"unknown watch event type {kind!r} for {self.describe()}")
        ref, entry = self._entry(obj)
        self.stats.events += 1
        if entry.rv:
            self.resource_version = entry.rv
        return WatcherEvent(change, self.model, ref, entry, entry.rv)


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

    Returns a :class:`Watcher`; iterate it with ``async for`` (or its :meth:`Watcher.applied`
    objects). ``options`` are the tuning knobs of :class:`Watcher` (``page_size``,
    ``inactivity_timeout``, ``watch_timeout``, ``backoff``, ``strip_managed_fields``,
    ``transform``, ``streaming_list``: ``False`` always lists with paginated LIST). Nothing is
    cached: feed it to :func:`opframe.reflector.reflect` for that.
    """
    return Watcher(
        client,
        model,
        namespace=namespace,
        label_selector=label_selector,
        field_selector=field_selector,
        **options,
    )
