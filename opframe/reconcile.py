"""What a reconciler is: its input (:class:`Context` + the object), its output (:class:`Result`).

A reconciler is level-triggered: it is told *which* object to look at, never *what happened*;
it reads the current state and moves it one safe step toward the spec. Two forms are accepted
by :class:`opframe.Controller`, a class with a ``reconcile`` method or a plain function::

    class WebReconciler:
        async def reconcile(self, ctx: Context, web: Web) -> Result | None:
            ...
            return Result(requeue_after=30)   # look again in 30 s even if nothing changes

    async def reconcile_web(ctx: Context, web: Web) -> None:
        ...

Returning ``None`` (or ``Result()``) means "done until something changes". Raising means "retry
with backoff", except :class:`opframe.TerminalError`, which is logged and counted but not
retried until the object changes again.

When the object is gone from the cache by the time its key is processed, ``reconcile`` is not
called (there is nothing to converge). A reconciler may define ``on_deleted(ctx)`` to be told
(``ctx.ref`` names the object); that is best effort, because a deletion that happened while
the operator was down is never seen. Use a finalizer when cleanup must happen.

:attr:`Context.reasons` lists what triggered this reconcile (coalesced: several events for one
key make one reconcile with several reasons). Use it for logs and metrics, not for decisions.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from opframe.fencing import no_fence
from opframe.objectref import ObjectRef

if TYPE_CHECKING:
    from opframe.cache import Cache
    from opframe.client import Client
    from opframe.events import EventRecorder

__all__ = [
    "Context",
    "DeletionReconciler",
    "Reason",
    "ReasonSource",
    "ReconcileFunc",
    "Reconciler",
    "Result",
]

T_contra = TypeVar("T_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class Result:
    """What a reconcile asks for next.

    Attributes:
        requeue_after: reconcile again after this many seconds (or a ``timedelta``), even if
            nothing changes. Use it to poll external state.

    There is no ``requeue=True``: controller-runtime deprecated it ("it causes confusion and
    there is no good reason to use it"), and kube-rs never had it. To retry with backoff,
    raise; to look again later, give ``requeue_after``.
    """

    requeue_after: float | timedelta | None = None

    @property
    def requeue_after_seconds(self) -> float | None:
        """``requeue_after`` in seconds, or ``None``."""
        if self.requeue_after is None:
            return None
        if isinstance(self.requeue_after, timedelta):
            return self.requeue_after.total_seconds()
        return float(self.requeue_after)


class ReasonSource(StrEnum):
    """Why a key was queued: the role of the watched kind whose event it was, or a timer.

    ``FOR``, ``OWNS`` and ``WATCHES`` are also the roles of a controller's sources
    (``Controller(for_=...)``, ``.owns(...)``, ``.watches(...)``).
    """

    FOR = "for"
    """An event of the primary kind."""
    OWNS = "owns"
    """An event of an owned kind, mapped to its controller owner."""
    WATCHES = "watches"
    """An event of a watched kind, mapped by the user's function."""
    REQUEUE_AFTER = "requeue_after"
    """The ``Result(requeue_after=...)`` timer fired."""
    RETRY = "retry"
    """The backoff timer after a failed reconcile fired."""
    MANUAL = "manual"
    """``controller.enqueue(...)`` (an external trigger)."""


@dataclass(frozen=True, slots=True)
class Reason:
    """One cause of a reconcile.

    Attributes:
        source: what queued the key (:class:`ReasonSource`).
        event: the watch event type (``ADDED``, ``MODIFIED``, ``DELETED``) or ``""``.
        kind: the kind of the object whose event it was, or ``""``.
        ref: that object, or ``None`` for timers and manual triggers.

    Example::

        str(Reason(ReasonSource.OWNS, "MODIFIED", "Pod", ObjectRef("db", "etcd-0")))
        # "MODIFIED Pod db/etcd-0 (owns)"
    """

    source: ReasonSource
    event: str = ""
    kind: str = ""
    ref: ObjectRef | None = None

    def __str__(self) -> str:
        if not self.event:
            return str(self.source)
        return f"{self.event} {self.kind} {self.ref} ({self.source})"


@dataclass(slots=True)
class Context:
    """Everything a reconcile may use besides the object.

    Attributes:
        ref: the key being reconciled (:class:`~opframe.ObjectRef`).
        controller: the controller's name.
        reconcile_id: a short id unique to this reconcile, also in every log line.
        client: the API client (writes, and live reads where the cache is not enough).
        cache: the manager's shared informer cache (reads).
        logger: a logger carrying controller, namespace/name and reconcile id.
        recorder: writes core/v1 Events about objects.
        reasons: what triggered this reconcile, oldest first (at most 32 are kept).
        retries: how many rate-limited retries this key had in a row (0 on a first attempt).
        fence: call ``ctx.fence()`` right before a write made outside ``ctx.client`` (etcd, a
            cloud API): it raises :class:`~opframe.fencing.NotLeader` when leader election
            is on and the lease is not known to be held (see :mod:`opframe.fencing`).
    """

    ref: ObjectRef
    controller: str
    reconcile_id: str
    client: Client
    cache: Cache
    logger: logging.LoggerAdapter[logging.Logger]
    recorder: EventRecorder
    reasons: tuple[Reason, ...] = field(default_factory=tuple)
    retries: int = 0
    fence: Callable[[], None] = no_fence


class Reconciler(Protocol[T_contra]):
    """A class that converges one object of kind ``T`` toward its spec."""

    async def reconcile(self, ctx: Context, obj: T_contra) -> Result | None:
        """Look at ``obj`` (from the cache) and take one safe step; see the module doc."""
        ...


@runtime_checkable
class DeletionReconciler(Protocol):
    """A reconciler that also wants to hear when its object is gone from the cache."""

    async def on_deleted(self, ctx: Context) -> Result | None:
        """Called instead of ``reconcile`` when ``ctx.ref`` is no longer in the cache."""
        ...


ReconcileFunc = Callable[[Context, Any], Awaitable["Result | None"]]
"""A plain ``async def reconcile(ctx, obj) -> Result | None`` function."""
