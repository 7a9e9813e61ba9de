"""The informer store: objects kept as compact JSON bytes, read back as typed models.

Memory is the point of this design. A pydantic model of a 2 KiB custom resource costs several
times its JSON size in Python objects, and a dict costs even more; ten thousand of them is the
usual reason operators get OOM-killed. So each object is stored once as compact JSON bytes
(``managedFields`` stripped) beside the few values the indexes need, and every read builds a
fresh typed model with pydantic's JSON parser. A fresh model per read also means callers own
what they get: mutating it cannot corrupt the cache.

The store has two layers. The *base* is fed only by the watcher, in event order. The
*overlay* holds objects this process wrote itself (read-your-own-writes) until the watch
catches up with them (an own delete leaves a tombstone there); reads see the overlay first,
events and ``old`` values only the base.
"""

from __future__ import annotations

import builtins
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import pydantic_core

from opframe._labels import parse_selector
from opframe.objectref import ObjectRef, make_ref
from opframe.resource import Resource

__all__ = [
    "INDEX_NAMESPACE",
    "INDEX_OWNER",
    "Entry",
    "Indexer",
    "Key",
    "Store",
    "compare_resource_versions",
    "prepare",
]

T = TypeVar("T", bound=Resource)

Key = ObjectRef
"""The store key: the object's :class:`~opframe.ObjectRef` (namespace ``""`` if cluster-scoped)."""

Indexer = Callable[[Any], Iterable[str]]
"""Returns the index values of one object (a typed model)."""

INDEX_NAMESPACE = "namespace"
"""Built-in index: the object's namespace."""

INDEX_OWNER = "owner"
"""Built-in index: the uid of each of the object's owners (``metadata.ownerReferences``)."""

logger = logging.getLogger("opframe.cache")

_MAX_OVERLAY = 10_000
_TOMBSTONE = b""  # an overlay entry with no JSON: deleted by this process
_EMPTY: tuple[str, ...] = ()


def compare_resource_versions(a: str, b: str) -> int | None:
    """-1, 0 or 1 comparing two resourceVersions, ``None`` when they are not comparable.

    resourceVersions are opaque by contract, but every API server in practice (etcd revisions,
    opframe's counter) uses integers; anything else is treated as incomparable.
    """
    if a.isdigit() and b.isdigit():
        x, y = int(a), int(b)
        return (x > y) - (x < y)
    return None


class Entry:
    """One stored object: compact JSON plus what the indexes and selectors need."""

    __slots__ = ("custom", "labels", "owners", "raw", "rv")

    def __init__(
        self,
        raw: bytes,
        rv: str,
        labels: Mapping[str, str] | None,
        owners: tuple[str, ...],
    ) -> None:
        self.raw = raw
        self.rv = rv
        self.labels = labels
        self.owners = owners
        self.custom: dict[str, tuple[str, ...]] | None = None


def prepare(
    obj: dict[str, Any],
    *,
    strip_managed_fields: bool = True,
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> tuple[Key, Entry]:
    """Turn one decoded object into its store key and entry."""
    metadata = obj.get("metadata") or {}
    if strip_managed_fields and "managedFields" in metadata:
        metadata = {k: v for k, v in metadata.items() if k != "managedFields"}
        obj = {**obj, "metadata": metadata}
    if transform is not None:
        obj = transform(obj)
        metadata = obj.get("metadata") or {}
    key = make_ref(sys.intern(metadata.get("namespace") or ""), metadata.get("name") or "")
    labels = metadata.get("labels")
    if labels:
        # Label keys and values repeat across objects; interning stores each string once.
        labels = {sys.intern(k): sys.intern(v) for k, v in labels.items()}
    owners = tuple(
        sys.intern(ref["uid"]) for ref in metadata.get("ownerReferences") or () if "uid" in ref
    )
    # pydantic-core's encoder is about three times faster than json.dumps on these dicts.
    raw = pydantic_core.to_json(obj)
    return key, Entry(raw, str(metadata.get("resourceVersion") or ""), labels or None, owners)


class Store(Generic[T]):
    """An indexed, typed view of the objects one watcher has seen.

    Reads return new model instances (yours to mutate). Writes are for the watcher
    (:meth:`apply`, :meth:`delete`) and for read-your-own-writes (:meth:`observe`).
    """

    def __init__(self, model: type[T]) -> None:
        self.model = model
        self._items: dict[Key, Entry] = {}
        self._overlay: dict[Key, Entry] = {}
        self._indexers: dict[str, Indexer] = {}
        self._by_namespace: dict[str, set[Key]] = {}
        self._by_owner: dict[str, set[Key]] = {}
        self._custom: dict[str, dict[str, set[Key]]] = {}

    # -- reads ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, ObjectRef):
            return False
        overlay = self._overlay.get(key)
        if overlay is not None:
            return overlay.raw != _TOMBSTONE
        return key in self._items

    def keys(self) -> set[Key]:
        """Every key a read can see."""
        keys = set(self._items)
        for key, entry in self._overlay.items():
            if entry.raw == _TOMBSTONE:
                keys.discard(key)
            else:
                keys.add(key)
        return keys

    @property
    def stored_bytes(self) -> int:
        """Total size of the stored JSON (what the objects cost before Python overhead)."""
        return sum(len(e.raw) for e in self._items.values())

    def get(self, name: str, namespace: str | None = None) -> T | None:
        """The object named ``name`` (in ``namespace``), or ``None``."""
        entry = self._lookup(make_ref(namespace or "", name))
        return None if entry is None else self._build(entry)

    def get_raw(self, name: str, namespace: str | None = None) -> bytes | None:
        """The stored JSON of one object, or ``None`` (no model is built)."""
        entry = self._lookup(make_ref(namespace or "", name))
        return None if entry is None else entry.raw

    def list(
        self,
        namespace: str | None = None,
        label_selector: str | Mapping[str, str] | None = None,
    ) -> builtins.list[T]:
        """Objects in ``namespace`` (all when None) matching ``label_selector``."""
        keys: Iterable[Key]
        keys = self._items if namespace is None else self._by_namespace.get(namespace, ())
        entries = self._visible(keys, lambda key, entry: _in_ns(key, namespace))
        if label_selector is not None:
            match = parse_selector(label_selector)
            entries = [e for e in entries if match(e.labels or {})]
        return [self._build(e) for e in entries]

    def by_index(self, index: str, value: str) -> builtins.list[T]:
        """Objects whose ``index`` values include ``value``.

        Built-in indexes: :data:`INDEX_NAMESPACE` and :data:`INDEX_OWNER` (owner uid);
        others are added with :meth:`add_indexer`.
        """
        keys = self._index(index).get(value, ())
        entries = self._visible(keys, lambda key, entry: value in self._values(index, key, entry))
        return [self._build(e) for e in entries]

    def resource_version(self, name: str, namespace: str | None = None) -> str | None:
        """The stored resourceVersion of one object, or ``None``."""
        entry = self._lookup(make_ref(namespace or "", name))
        return None if entry is None else entry.rv

    # -- indexers -------------------------------------------------------------------------

    def add_indexer(self, name: str, indexer: Indexer) -> None:
        """Index objects by ``indexer(obj) -> values``; existing objects are indexed now."""
        if name in (INDEX_NAMESPACE, INDEX_OWNER) or name in self._indexers:
            raise ValueError(f"an index named {name!r} already exists")
        self._indexers[name] = indexer
        self._custom[name] = {}
        for key, entry in self._items.items():
            self._index_custom(key, entry, name, indexer, self._build(entry))
        for key, entry in self._overlay.items():
            self._compute_custom(entry, key)

    def _index(self, name: str) -> dict[str, set[Key]]:
        if name == INDEX_NAMESPACE:
            return self._by_namespace
        if name == INDEX_OWNER:
            return self._by_owner
        try:
            return self._custom[name]
        except KeyError:
            raise KeyError(
                f"no index named {name!r} on the {getattr(self.model, 'kind', self.model)} "
                f"store; add it with add_indexer() (built in: {INDEX_NAMESPACE!r}, "
                f"{INDEX_OWNER!r})"
            ) from None

    def _values(self, index: str, key: Key, entry: Entry) -> tuple[str, ...]:
        if index == INDEX_NAMESPACE:
            return (key[0],)
        if index == INDEX_OWNER:
            return entry.owners
        self._index(index)
        return (entry.custom or {}).get(index, _EMPTY)

    def _index_custom(self, key: Key, entry: Entry, name: str, indexer: Indexer, obj: Any) -> None:
        values = self._run_indexer(name, indexer, obj, key)
        if entry.custom is None:
            entry.custom = {}
        entry.custom[name] = values
        index = self._custom[name]
        for value in values:
            index.setdefault(value, set()).add(key)

    def _compute_custom(self, entry: Entry, key: Key) -> None:
        if self._indexers:
            obj = self._build(entry)
            entry.custom = {
                name: self._run_indexer(name, fn, obj, key) for name, fn in self._indexers.items()
            }

    @staticmethod
    def _run_indexer(name: str, indexer: Indexer, obj: Any, key: Key) -> tuple[str, ...]:
        # A bug in user code must not stop the informer: the object is left out of the index.
        try:
            return tuple(indexer(obj))
        except Exception:
            logger.exception("indexer %r failed on %s; object left out of the index", name, key)
            return _EMPTY

    # -- writes ---------------------------------------------------------------------------

    def entry(self, key: Key) -> Entry | None:
        """The base entry for ``key`` (what the watch last delivered)."""
        return self._items.get(key)

    def apply(self, key: Key, entry: Entry) -> Entry | None:
        """Store ``entry`` from the watch; returns the entry it replaced."""
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = entry
        self._by_namespace.setdefault(key[0], set()).add(key)
        for uid in entry.owners:
            self._by_owner.setdefault(uid, set()).add(key)
        if self._indexers:
            # One model for every indexer, as for own writes (_compute_custom): building it
            # is the costly part of an event, and the indexers only read it.
            obj = self._build(entry)
            for name, indexer in self._indexers.items():
                self._index_custom(key, entry, name, indexer, obj)
        self._catch_up(key, entry.rv)
        return old

    def delete(self, key: Key) -> Entry | None:
        """Remove ``key`` (watch DELETED or vanished on relist); returns the removed entry."""
        self._overlay.pop(key, None)
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def observe(self, key: Key, entry: Entry) -> bool:
        """Record an object this process wrote, if newer than what the store holds.

        Returns ``True`` when reads now see ``entry``.
        """
        current = self._lookup(key)
        if current is not None and compare_resource_versions(entry.rv, current.rv) != 1:
            return False
        if current is None and not entry.rv.isdigit():
            return False
        if len(self._overlay) >= _MAX_OVERLAY:
            # Bounded: forget the oldest write (reads fall back to the watch's view).
            self._overlay.pop(next(iter(self._overlay)))
        self._compute_custom(entry, key)
        self._overlay[key] = entry
        return True

    def observe_deleted(self, key: Key) -> bool:
        """Hide an object this process just deleted until the watch reports the deletion.

        Returns ``True`` if reads now miss it.
        """
        current = self._lookup(key)
        if current is None:
            return False
        self._overlay[key] = Entry(_TOMBSTONE, current.rv, None, ())
        return True

    def forget_overlay(self, not_newer_than: str) -> None:
        """Drop own writes the watch has caught up with (after a relist at this version)."""
        for key, entry in list(self._overlay.items()):
            if compare_resource_versions(entry.rv, not_newer_than) != 1:
                del self._overlay[key]

    def iter_base(self) -> Iterator[tuple[Key, Entry]]:
        """Every (key, entry) of the base layer (a snapshot, safe while mutating)."""
        return iter(list(self._items.items()))

    def build(self, entry: Entry) -> T:
        """A new model from a stored entry."""
        return self._build(entry)

    # -- internals ------------------------------------------------------------------------

    def _build(self, entry: Entry) -> T:
        return self.model.model_validate_json(entry.raw)

    def _lookup(self, key: Key) -> Entry | None:
        overlay = self._overlay.get(key)
        if overlay is None:
            return self._items.get(key)
        return None if overlay.raw == _TOMBSTONE else overlay

    def _visible(
        self, base_keys: Iterable[Key], wanted: Callable[[Key, Entry], bool]
    ) -> builtins.list[Entry]:
        """Entries reads see: base entries of ``base_keys`` unless the overlay shadows them,
        plus overlay entries (own writes) that ``wanted`` accepts."""
        overlay = self._overlay
        if not overlay:
            items = self._items
            return [items[k] for k in base_keys]
        entries = [self._items[k] for k in base_keys if k not in overlay]
        entries.extend(e for k, e in overlay.items() if e.raw != _TOMBSTONE and wanted(k, e))
        return entries

    def _catch_up(self, key: Key, rv: str) -> None:
        overlay = self._overlay.get(key)
        if overlay is None:
            return
        order = compare_resource_versions(overlay.rv, rv)
        # A tombstone stands until the watch shows a newer version (or the deletion); an own
        # write until the watch reaches its version.
        if order is None or order == -1 or (order == 0 and overlay.raw != _TOMBSTONE):
            del self._overlay[key]

    def _unindex(self, key: Key, entry: Entry) -> None:
        _discard(self._by_namespace, key[0], key)
        for uid in entry.owners:
            _discard(self._by_owner, uid, key)
        if entry.custom:
            for name, values in entry.custom.items():
                index = self._custom.get(name)
                if index is not None:
                    for value in values:
                        _discard(index, value, key)


def _discard(index: dict[str, set[Key]], value: str, key: Key) -> None:
    keys = index.get(value)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[value]


def _in_ns(key: Key, namespace: str | None) -> bool:
    return namespace is None or key[0] == namespace
