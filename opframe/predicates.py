"""Predicates: which watch events are worth a reconcile.

A predicate looks at one :class:`~opframe.ResourceEvent` (``ADDED``, ``MODIFIED`` with the
``old`` object, or ``DELETED``) and answers yes or no. The built-in ones, like
controller-runtime's, only ever filter updates: an object appearing or disappearing always
passes. Combine them with ``&``, ``|`` and ``~``, or with :func:`all_of` / :func:`any_of`;
any ``event -> bool`` callable works too::

    Controller(for_=Web, reconciler=reconcile, predicates=[generation_changed | labels_changed])

    @predicate
    def not_paused(event: ResourceEvent[Any]) -> bool:
        return not event.object.spec.paused

Use :data:`generation_changed` on a primary kind to skip status-only updates (including the
controller's own status writes). Do not use it on kinds without a generation (ConfigMaps):
their updates would all be filtered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opframe.reflector import ResourceEvent

__all__ = [
    "Predicate",
    "PredicateLike",
    "all_of",
    "annotations_changed",
    "any_of",
    "generation_changed",
    "labels_changed",
    "not_",
    "predicate",
    "resource_version_changed",
]


PredicateLike = Callable[["ResourceEvent[Any]"], bool]
"""Anything that can filter events: a :class:`Predicate` or a plain callable."""


class Predicate:
    """A named event filter that combines with ``&`` (and), ``|`` (or) and ``~`` (not)."""

    __slots__ = ("_fn", "name")

    def __init__(self, fn: PredicateLike, name: str | None = None) -> None:
        self._fn = fn
        self.name = name or str(getattr(fn, "__name__", "predicate"))

    def __call__(self, event: ResourceEvent[Any]) -> bool:
        """True if the event should trigger a reconcile."""
        return self._fn(event)

    def __and__(self, other: PredicateLike) -> Predicate:
        return all_of(self, other)

    def __rand__(self, other: PredicateLike) -> Predicate:
        return all_of(other, self)

    def __or__(self, other: PredicateLike) -> Predicate:
        return any_of(self, other)

    def __ror__(self, other: PredicateLike) -> Predicate:
        return any_of(other, self)

    def __invert__(self) -> Predicate:
        return not_(self)

    def __repr__(self) -> str:
        return f"Predicate({self.name})"


def predicate(fn: PredicateLike) -> Predicate:
    """Make a :class:`Predicate` of a function (usable as a decorator)."""
    return Predicate(fn)


def _name(p: PredicateLike) -> str:
    if isinstance(p, Predicate):
        return p.name
    return str(getattr(p, "__name__", repr(p)))


def all_of(*predicates: PredicateLike) -> Predicate:
    """Passes when every predicate passes (no predicates: always)."""
    preds = tuple(predicates)
    return Predicate(lambda e: all(p(e) for p in preds), "(" + " & ".join(map(_name, preds)) + ")")


def any_of(*predicates: PredicateLike) -> Predicate:
    """Passes when at least one predicate passes (no predicates: never)."""
    preds = tuple(predicates)
    return Predicate(lambda e: any(p(e) for p in preds), "(" + " | ".join(map(_name, preds)) + ")")


def not_(p: PredicateLike) -> Predicate:
    """Passes when ``p`` does not."""
    return Predicate(lambda e: not p(e), f"~{_name(p)}")


def _update_changed(attribute: Callable[[Any], object], name: str) -> Predicate:
    """A predicate passing non-updates, and updates where ``attribute`` differs."""

    def changed(event: ResourceEvent[Any]) -> bool:
        if event.type != "MODIFIED" or event.old is None:
            return True
        return attribute(event.old) != attribute(event.object)

    return Predicate(changed, name)


generation_changed = _update_changed(lambda o: o.metadata.generation, "generation_changed")
"""Updates pass only when ``metadata.generation`` changed (a spec change, not status)."""

labels_changed = _update_changed(lambda o: o.metadata.labels or {}, "labels_changed")
"""Updates pass only when ``metadata.labels`` changed."""

annotations_changed = _update_changed(lambda o: o.metadata.annotations or {}, "annotations_changed")
"""Updates pass only when ``metadata.annotations`` changed."""

resource_version_changed = _update_changed(
    lambda o: o.metadata.resource_version, "resource_version_changed"
)
"""Updates pass only when ``metadata.resourceVersion`` changed (drops no-op resyncs)."""
