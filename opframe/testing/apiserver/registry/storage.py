"""Object storage of the embedded API server: one global resourceVersion, bounded watch history.

Everything here is synchronous: a write assigns the next resourceVersion, replaces the stored
object and hands the event to the watchers in one step, so no two writes interleave (the
asyncio event loop runs one handler step at a time). That is what makes the resourceVersion
counter global and monotonic, the way etcd's revision is.

Objects are dicts that are never mutated once stored; each stored version caches its JSON
encoding, so a list of 10,000 objects or a watch fanned out to 50 clients serialises every
object version once.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Store", "StoredObject", "WatchEvent", "Watcher", "dumps"]

log = logging.getLogger(__name__)

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes, as the API server writes them."""
    return _ENCODER.encode(obj).encode()


class StoredObject:
    """One version of a stored object; ``obj`` must not be mutated."""

    __slots__ = ("_item", "_raw", "obj", "rv")

    def __init__(self, obj: dict[str, Any], rv: int) -> None:
        self.obj = obj
        self.rv = rv
        self._raw: bytes | None = None
        self._item: bytes | None = None

    @property
    def meta(self) -> dict[str, Any]:
        """The object's metadata."""
        m: dict[str, Any] = self.obj["metadata"]
        return m

    def with_rv(self, rv: int) -> StoredObject:
        """This state stamped with resourceVersion ``rv`` (how a deletion reports the object)."""
        obj = dict(self.obj)
        obj["metadata"] = dict(self.meta, resourceVersion=str(rv))
        return StoredObject(obj, rv)

    def raw(self) -> bytes:
        """The JSON encoding of the whole object (cached)."""
        if self._raw is None:
            self._raw = dumps(self.obj)
        return self._raw

    def item(self) -> bytes:
        """The JSON encoding without ``kind``/``apiVersion`` (built-in list items; cached)."""
        if self._item is None:
            self._item = dumps({k: v for k, v in self.obj.items() if k not in _TYPE_KEYS})
        return self._item


_TYPE_KEYS = frozenset({"kind", "apiVersion"})


@dataclass(slots=True)
class WatchEvent:
    """A change: ``obj`` is the new state (for DELETED the last state with the new rv)."""

    type: str
    key: str
    obj: StoredObject
    prev: StoredObject | None


class Watcher:
    """A subscriber to the events of one resource; ``deliver`` is called synchronously.

    ``close`` is called when the resource stops being served (its CRD was deleted).
    """

    __slots__ = ("close", "deliver")

    def __init__(
        self,
        deliver: Callable[[WatchEvent], None],
        close: Callable[[], None] | None = None,
    ) -> None:
        self.deliver = deliver
        self.close = close


@dataclass
class _Resource:
    """Objects of one resource (all versions share the storage), per namespace."""

    by_ns: dict[str, dict[str, StoredObject]] = field(default_factory=dict)
    sorted_names: dict[str, list[str]] = field(default_factory=dict)
    sorted_ns: list[str] | None = None
    history: deque[WatchEvent] = field(default_factory=deque)
    history_start: int = 0
    watchers: set[Watcher] = field(default_factory=set)
    count: int = 0


class Store:
    """All objects of the server, keyed by ``group/plural``, namespace and name.

    ``history`` bounds the watch history per resource: a watch from an older resourceVersion
    gets 410 Gone. With ``state_dir`` every write is appended to a log there and the objects are
    loaded again on the next start.
    """

    def __init__(self, *, history: int = 10_000, state_dir: Path | None = None) -> None:
        self.rv = 0
        self._history = history
        self._resources: dict[str, _Resource] = {}
        self._log_path = state_dir / "objects.jsonl" if state_dir else None
        self._log: Any = None
        self.on_write: list[Callable[[WatchEvent], None]] = []
        self._rv_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._start_rv = 0
        if self._log_path is not None:
            self._load(self._log_path)
        # Watch history of every resource reaches back to here (server start), unless it is
        # trimmed or the resource appears later (a CRD's).
        self._start_rv = self.rv

    # -- persistence -------------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        if path.exists():
            with path.open("rb") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        log.warning("skipping a torn line at the end of %s", path)
                        continue
                    self.rv = max(self.rv, int(rec.get("rv", 0)))
                    if rec["op"] == "put":
                        obj = rec["obj"]
                        m = obj["metadata"]
                        res = self._res(rec["key"])
                        names = res.by_ns.setdefault(m.get("namespace", ""), {})
                        if m["name"] not in names:
                            res.count += 1
                        names[m["name"]] = StoredObject(obj, int(m["resourceVersion"]))
                    elif rec["op"] == "delete":
                        res = self._res(rec["key"])
                        if res.by_ns.get(rec["ns"], {}).pop(rec["name"], None) is not None:
                            res.count -= 1
        for res in self._resources.values():
            res.history_start = self.rv  # no history survives a restart
            res.sorted_names.clear()
            res.sorted_ns = None
        # Compact: rewrite the log with the current objects only.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(dumps({"op": "rv", "rv": self.rv}) + b"\n")
            for key, res in self._resources.items():
                for names in res.by_ns.values():
                    for so in names.values():
                        fh.write(
                            b'{"op":"put","key":' + dumps(key) + b',"obj":' + so.raw() + b"}\n"
                        )
        os.replace(tmp, path)
        self._log = path.open("ab", buffering=0)

    def close(self) -> None:
        """Close the persistence log."""
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- reads -----------------------------------------------------------------------------

    def _res(self, key: str) -> _Resource:
        res = self._resources.get(key)
        if res is None:
            res = self._resources[key] = _Resource(history_start=self._start_rv)
        return res

    def get(self, key: str, namespace: str, name: str) -> StoredObject | None:
        """The current version of an object, or ``None``."""
        res = self._resources.get(key)
        if res is None:
            return None
        return res.by_ns.get(namespace, {}).get(name)

    def counts(self) -> dict[str, int]:
        """How many objects each resource (storage key) holds."""
        return {key: res.count for key, res in self._resources.items()}

    def count(self, key: str) -> int:
        """How many objects of a resource are stored."""
        res = self._resources.get(key)
        return res.count if res else 0

    def iter_sorted(
        self, key: str, namespace: str | None, start: str = ""
    ) -> Iterator[StoredObject]:
        """Objects in key order (namespace, then name); ``None`` means every namespace.

        ``start`` is the continue position: ``name`` inside one namespace, ``ns/name`` across
        namespaces; objects at or after it are returned.
        """
        res = self._resources.get(key)
        if res is None:
            return
        if namespace is not None:
            yield from self._iter_ns(res, namespace, start)
            return
        if res.sorted_ns is None:
            res.sorted_ns = sorted(ns for ns, names in res.by_ns.items() if names)
        start_ns, _, start_name = start.partition("/") if start else ("", "", "")
        for ns in res.sorted_ns:
            if ns < start_ns:
                continue
            yield from self._iter_ns(res, ns, start_name if ns == start_ns else "")

    @staticmethod
    def _iter_ns(res: _Resource, namespace: str, start: str) -> Iterator[StoredObject]:
        names = res.by_ns.get(namespace)
        if not names:
            return
        order = res.sorted_names.get(namespace)
        if order is None:
            order = res.sorted_names[namespace] = sorted(names)
        i = 0
        if start:
            i = bisect.bisect_left(order, start)
        for name in order[i:]:
            so = names.get(name)
            if so is not None:
                yield so

    def all_objects(self) -> Iterator[tuple[str, StoredObject]]:
        """Every stored object with its resource key (unordered)."""
        for key, res in list(self._resources.items()):
            for names in list(res.by_ns.values()):
                for so in list(names.values()):
                    yield key, so

    # -- writes ----------------------------------------------------------------------------

    def next_rv(self) -> int:
        """Take the next resourceVersion."""
        self.rv += 1
        if self._rv_waiters:
            self._wake_rv_waiters()
        return self.rv

    def _wake_rv_waiters(self) -> None:
        waiting = []
        for rv, fut in self._rv_waiters:
            if rv <= self.rv and not fut.done():
                fut.set_result(None)
            elif not fut.done():
                waiting.append((rv, fut))
        self._rv_waiters = waiting

    async def wait_for_rv(self, rv: int) -> None:
        """Wait until the global resourceVersion reaches ``rv`` (the caller bounds the wait)."""
        if self.rv >= rv:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rv_waiters.append((rv, fut))
        try:
            await fut
        finally:
            self._rv_waiters = [(r, f) for r, f in self._rv_waiters if f is not fut]

    def put(self, key: str, obj: dict[str, Any], *, created: bool) -> StoredObject:
        """Store a new version of ``obj`` with the next resourceVersion and notify watchers.

        ``obj`` becomes owned by the store; its ``metadata.resourceVersion`` is set here.
        """
        rv = self.next_rv()
        m = obj["metadata"]
        m["resourceVersion"] = str(rv)
        so = StoredObject(obj, rv)
        res = self._res(key)
        ns = m.get("namespace", "")
        names = res.by_ns.setdefault(ns, {})
        prev = names.get(m["name"])
        if prev is None:
            res.count += 1
            res.sorted_names.pop(ns, None)
            if len(names) == 0:
                res.sorted_ns = None
        names[m["name"]] = so
        if self._log is not None:
            self._persist(b'{"op":"put","rv":%d,"key":%s,"obj":%s}\n' % (rv, dumps(key), so.raw()))
        self._emit(
            res, WatchEvent("ADDED" if created or prev is None else "MODIFIED", key, so, prev)
        )
        return so

    def remove(self, key: str, namespace: str, name: str) -> StoredObject | None:
        """Delete an object; returns its last state carrying the new resourceVersion."""
        res = self._resources.get(key)
        if res is None:
            return None
        names = res.by_ns.get(namespace)
        prev = names.pop(name, None) if names else None
        if prev is None:
            return None
        res.count -= 1
        res.sorted_names.pop(namespace, None)
        if not names:
            res.sorted_ns = None
        rv = self.next_rv()
        gone = prev.with_rv(rv)
        if self._log is not None:
            self._persist_delete(rv, key, namespace, name)
        self._emit(res, WatchEvent("DELETED", key, gone, prev))
        return gone

    def drop_resource(self, key: str) -> None:
        """Forget a resource entirely (a CRD that was removed) without events."""
        res = self._resources.pop(key, None)
        if res is not None:
            for w in list(res.watchers):
                if w.close is not None:
                    w.close()
        if res is not None and self._log is not None:
            for ns, names in res.by_ns.items():
                for name in names:
                    self._persist_delete(self.rv, key, ns, name)

    def start_history(self, key: str) -> None:
        """Start a resource's watch history now (a CRD's resources have none before it)."""
        res = self._res(key)
        res.history.clear()
        res.history_start = self.rv

    def _persist(self, line: bytes) -> None:
        if self._log is not None:
            self._log.write(line)

    def _persist_delete(self, rv: int, key: str, namespace: str, name: str) -> None:
        self._persist(
            b'{"op":"delete","rv":%d,"key":%s,"ns":%s,"name":%s}\n'
            % (rv, dumps(key), dumps(namespace), dumps(name))
        )

    def _emit(self, res: _Resource, ev: WatchEvent) -> None:
        if len(res.history) >= self._history:
            res.history_start = res.history.popleft().obj.rv
        res.history.append(ev)
        for w in list(res.watchers):
            w.deliver(ev)
        for hook in self.on_write:
            hook(ev)

    # -- watch -------------------------------------------------------------------------------

    def history_since(self, key: str, rv: int) -> list[WatchEvent] | None:
        """Events of a resource after ``rv``; ``None`` if the history no longer reaches back."""
        res = self._res(key)
        if rv < res.history_start:
            return None
        return [ev for ev in res.history if ev.obj.rv > rv]

    def oldest_rv(self, key: str) -> int:
        """The oldest resourceVersion a watch of this resource can start from."""
        return self._res(key).history_start

    def subscribe(self, key: str, watcher: Watcher) -> None:
        """Deliver the future events of a resource to ``watcher``."""
        self._res(key).watchers.add(watcher)

    def unsubscribe(self, key: str, watcher: Watcher) -> None:
        """Stop delivering events to ``watcher``."""
        res = self._resources.get(key)
        if res is not None:
            res.watchers.discard(watcher)

    def watchers(self, key: str | None = None) -> list[Watcher]:
        """Current watchers of one resource or of all."""
        if key is not None:
            res = self._resources.get(key)
            return list(res.watchers) if res else []
        return [w for res in self._resources.values() for w in res.watchers]
