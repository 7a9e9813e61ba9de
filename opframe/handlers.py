"""Event handlers: from a watch event to the keys (:class:`~opframe.ObjectRef`) to reconcile.

Three mappings, as in controller-runtime's ``handler`` package:

- :func:`enqueue_for_object`: the object itself (``Controller(for_=...)``);
- :func:`enqueue_for_owner`: the owner named by the object's ``ownerReferences``, by default only
  the one with ``controller: true`` (``Controller.owns(...)``);
- :func:`enqueue_mapped`: whatever a user function returns (``Controller.watches(kind, mapper)``).

For a ``MODIFIED`` event both the old and the new object are mapped, so an owner reference or
a label that was removed still triggers the owner it used to point to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opframe.objectref import ObjectRef
from opframe.reflector import ResourceEvent

__all__ = [
    "EventMapper",
    "Mapper",
    "enqueue_for_object",
    "enqueue_for_owner",
    "enqueue_mapped",
]

Mapper = Callable[[Any], Iterable[ObjectRef]]
"""A user function from an object of a watched kind to the keys of primaries to reconcile."""

EventMapper = Callable[[ResourceEvent[Any]], Iterable[ObjectRef]]
"""From a watch event to the keys it triggers."""


def _objects(event: ResourceEvent[Any]) -> Iterable[Any]:
    if event.type == "MODIFIED" and event.old is not None:
        return (event.old, event.object)
    return (event.object,)


def enqueue_for_object(event: ResourceEvent[Any]) -> Iterable[ObjectRef]:
    """The event's own object."""
    # From the event's key: building the typed object is the costly part of an event.
    return (event.ref,)


def enqueue_for_owner(owner: type[Any], *, only_controller: bool = True) -> EventMapper:
    """Map an owned object to its owner of kind ``owner`` through ``ownerReferences``.

    Matches the reference's API group (any version) and kind. The owner's namespace is the
    owned object's namespace (ownership never crosses namespaces), or ``None`` when the owner
    kind is cluster-scoped.

    Args:
        owner: the owner's resource class (it declares group, kind and scope).
        only_controller: follow only the reference with ``controller: true`` (controller-
            runtime's ``OnlyControllerOwner``), the one ``set_controller_reference`` writes.
    """
    info = owner.__resource__
    group, kind, namespaced = info.group, info.kind, info.namespaced

    def map_owner(event: ResourceEvent[Any]) -> Iterable[ObjectRef]:
        found: list[ObjectRef] = []
        for obj in _objects(event):
            for ref in obj.metadata.owner_references or ():
                if only_controller and not ref.controller:
                    continue
                if ref.kind != kind or ref.api_version.rpartition("/")[0] != group:
                    continue
                request = ObjectRef(obj.metadata.namespace if namespaced else "", ref.name)
                if request not in found:
                    found.append(request)
        return found

    return map_owner


def enqueue_mapped(mapper: Mapper) -> EventMapper:
    """Map events through ``mapper`` (applied to the old and the new object of an update)."""

    def map_event(event: ResourceEvent[Any]) -> Iterable[ObjectRef]:
        found: list[ObjectRef] = []
        for obj in _objects(event):
            for request in mapper(obj):
                if request not in found:
                    found.append(request)
        return found

    return map_event
