"""The reflector: a watcher's stream applied to a store, as changes with their old state.

kube-rs' ``reflector``: the :mod:`opframe.watch` stream says what the server sent, the store
remembers what was known, and the reflector, standing between them, says what *changed*::

    store: Store[Pod] = Store(Pod)
    async for change in reflect(watch(client, Pod), store):
        print(change.type, change.ref, change.old is not None)
    store.get("web-0", "default")   # what the stream has delivered so far

Rules:

- a listed or watched object the store did not hold is ``ADDED``; one it held is
  ``MODIFIED`` with ``old`` (a listed object at the very resourceVersion the store holds is
  no change, and yields nothing);
- a watched deletion is ``DELETED`` with the final state as ``object`` and the stored one
  as ``old``;
- at ``INIT_DONE`` every object the store held and the (re)list did not mention is gone
  while the watch was down: ``DELETED`` with ``initial=True`` and its last known state
  (client-go's ``DeletedFinalStateUnknown``). Own writes the list has caught up with are
  forgotten then (see :mod:`opframe._store`).

The store is updated before the change is yielded, so a handler that reads the store sees it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Generic, Literal, TypeVar

from opframe._store import Entry, Store
from opframe.objectref import ObjectRef
from opframe.resource import Resource, resource_info
from opframe.watch import Change, WatcherEvent

__all__ = ["ChangeType", "Reflector", "ResourceEvent", "reflect"]

T = TypeVar("T", bound=Resource)

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]
"""What happened to the object, as far as the store knows."""


class ResourceEvent(Generic[T]):
    """One change to one object, as the store saw it (what informer handlers receive).

    Attributes:
        type: ``ADDED``, ``MODIFIED`` or ``DELETED``.
        ref: the object's :class:`~opframe.ObjectRef` (namespace ``""`` if cluster-scoped).
        initial: ``True`` for changes found by a (re)list rather than by the watch stream. A
            ``DELETED`` change with ``initial`` was inferred from a relist: its object is the
            last state the store knew, not the object's final state.

    ``object`` (the new state, or the last state for ``DELETED``) and ``old`` (the previous
    state when known) are built lazily from the store's JSON on first access and then shared
    by every handler of the event: treat them as read-only.
    """

    __slots__ = ("_model", "_obj", "_old", "_old_raw", "_raw", "initial", "ref", "type")

    def __init__(
        self,
        type: ChangeType,
        model: type[T],
        ref: ObjectRef,
        raw: bytes,
        old_raw: bytes | None = None,
        *,
        initial: bool = False,
    ) -> None:
        self.type: ChangeType = type
        self.ref = ref
        self.initial = initial
        self._model = model
        self._raw = raw
        self._old_raw = old_raw
        self._obj: T | None = None
        self._old: T | None = None

    @classmethod
    def of(
        cls, type: ChangeType, obj: T, old: T | None = None, *, initial: bool = False
    ) -> ResourceEvent[T]:
        """An event for models at hand (tests of predicates and mappers, synthetic events)::

        ResourceEvent.of("MODIFIED", new_pod, old_pod)
        """
        meta = obj.metadata
        event = cls(
            type, _type_of(obj), ObjectRef(meta.namespace, meta.name or ""), b"", initial=initial
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
        return f"ResourceEvent({self.type} {resource_info(self._model).kind} {self.ref})"


def _type_of(obj: T) -> type[T]:
    return type(obj)


class Reflector(Generic[T]):
    """Applies watcher events to ``store`` one at a time; see the module doc for the rules.

    :func:`reflect` is the loop around it. ``synced`` turns true at the first ``INIT_DONE``.
    """

    __slots__ = ("_listed", "model", "store", "synced")

    def __init__(self, store: Store[T]) -> None:
        self.store = store
        self.model = store.model
        self.synced = False
        self._listed: set[ObjectRef] | None = None  # keys seen since INIT, during a list

    def apply(self, event: WatcherEvent[T]) -> ResourceEvent[T] | None:
        """Apply one ``APPLY``/``DELETE``/``INIT``/``INIT_APPLY`` event; the change, if any."""
        change = event.type
        ref, entry = event.ref, event.entry
        if change is Change.APPLY or change is Change.INIT_APPLY:
            assert ref is not None and entry is not None
            initial = change is Change.INIT_APPLY
            if initial:
                if self._listed is not None:
                    self._listed.add(ref)
                known = self.store.entry(ref)
                if known is not None and known.rv == entry.rv:
                    return None
            old = self.store.apply(ref, entry)
            return ResourceEvent(
                "ADDED" if old is None else "MODIFIED",
                self.model,
                ref,
                entry.raw,
                _raw(old),
                initial=initial,
            )
        if change is Change.DELETE:
            assert ref is not None and entry is not None
            old = self.store.delete(ref)
            return ResourceEvent("DELETED", self.model, ref, entry.raw, _raw(old))
        if change is Change.INIT:
            self._listed = set()
        return None

    def finish_list(self, resource_version: str) -> list[ResourceEvent[T]]:
        """``INIT_DONE``: forget what the list did not mention; the inferred deletions."""
        listed = self._listed or set()
        self._listed = None
        gone: list[ResourceEvent[T]] = []
        for ref, old in self.store.iter_base():
            if ref not in listed:
                self.store.delete(ref)
                gone.append(
                    ResourceEvent("DELETED", self.model, ref, old.raw, old.raw, initial=True)
                )
        self.store.forget_overlay(resource_version)
        self.synced = True
        return gone


async def reflect(
    stream: AsyncIterable[WatcherEvent[T]], store: Store[T]
) -> AsyncIterator[ResourceEvent[T]]:
    """Apply ``stream`` to ``store``, yielding each change after the store has it.

    ::

        async for change in reflect(watch(client, Pod), Store(Pod)):
            ...
    """
    reflector = Reflector(store)
    async for event in stream:
        if event.type is Change.INIT_DONE:
            for gone in reflector.finish_list(event.resource_version):
                yield gone
            continue
        change = reflector.apply(event)
        if change is not None:
            yield change


def _raw(entry: Entry | None) -> bytes | None:
    return None if entry is None else entry.raw
