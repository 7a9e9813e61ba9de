"""Controllers: a description of what to watch (:class:`Controller`), run by a manager.

Describe what a controller reconciles and what it watches, then add it to a
:class:`~opframe.Manager`, which turns the description into a :class:`RunningController`::

    controller = (
        Controller(for_=Web, reconciler=WebReconciler(), predicates=[generation_changed])
        .owns(ConfigMap)                             # owned objects -> their controller owner
        .watches(Secret, secret_to_webs)             # anything else -> your mapping
    )
    running = manager.add(controller)                # the queue and the typed primary store
    running.enqueue(ObjectRef("default", "blog"))    # a manual trigger

A :class:`Controller` is an immutable value (``owns`` and ``watches`` return a new one), so
one description can be added to two managers. Behaviour, as in controller-runtime:

- each event passing the source's predicates puts the mapped keys on the running
  controller's :class:`~opframe.queue.WorkQueue`: many events for one key make one reconcile,
  and one key is never reconciled by two workers at once;
- the reconciler receives the object read from the shared cache (a fresh copy, yours to
  mutate); if the object is gone, ``reconcile`` is not called (see :mod:`opframe.reconcile`);
- :class:`~opframe.Result` ``requeue_after`` schedules the next look; an exception retries
  with per-key exponential backoff (5 ms .. 1000 s), one log line per attempt;
  :class:`~opframe.TerminalError` is not retried and becomes a ``Warning`` Event on the object;
  nothing a reconciler raises (short of cancellation) stops the controller (see
  :mod:`opframe._worker` for the exact retry rules).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from opframe._worker import Worker
from opframe.handlers import EventMapper, enqueue_for_object, enqueue_for_owner, enqueue_mapped
from opframe.objectref import ObjectRef
from opframe.predicates import PredicateLike
from opframe.queue import WorkQueue
from opframe.ratelimit import RateLimiter
from opframe.rbac import Permission
from opframe.reconcile import (
    Context,
    DeletionReconciler,
    Reason,
    ReasonSource,
    ReconcileFunc,
    Reconciler,
    Result,
)
from opframe.reflector import ResourceEvent
from opframe.resource import Resource, resource_info

if TYPE_CHECKING:
    from opframe._store import Store
    from opframe.cache import Cache, Informer
    from opframe.client import Client
    from opframe.events import EventRecorder
    from opframe.fencing import Fence
    from opframe.metrics import Metrics

__all__ = ["Controller", "RunningController", "Source"]

T = TypeVar("T", bound=Resource)
S = TypeVar("S", bound=Resource)

# Reasons kept per key between two reconciles; a hot key would otherwise grow without bound.
_MAX_REASONS = 32

ReconcileCall = Callable[[Context, Any], Awaitable["Result | None"]]


@dataclass(frozen=True)
class Source:
    """One watched kind and how its events become keys (part of a :class:`Controller`).

    Attributes:
        kind: the watched resource class.
        role: ``FOR``, ``OWNS`` or ``WATCHES``: the :class:`~opframe.ReasonSource` of its events.
        mapper: from an event to the keys of primaries it triggers.
        predicates: all must pass for an event to count.
        namespace: watch this namespace only (``None``: the manager's, or all).
        label_selector: watch only objects matching it.
    """

    kind: type[Resource]
    role: ReasonSource
    mapper: EventMapper
    predicates: tuple[PredicateLike, ...] = ()
    namespace: str | None = None
    label_selector: str | Mapping[str, str] | None = None


@dataclass(frozen=True)
class Controller(Generic[T]):
    """What to reconcile (``for_``), with what (``reconciler``), triggered by what.

    Args:
        for_: the primary resource class; its events enqueue the object itself.
        reconciler: an object with ``async def reconcile(ctx, obj)`` (optionally
            ``on_deleted(ctx)``), or a plain ``async def reconcile(ctx, obj)`` function.
        name: the controller's name in logs and metrics (default: the kind, lower case).
        max_concurrent_reconciles: how many keys are reconciled at once (default 1).
        predicates: filters for the primary kind's events (all must pass).
        rate_limiter: the retry backoff (default: client-go's controller rate limiter); each
            running controller gets its own copy of the default.
        reconcile_timeout: cancel a reconcile that runs longer (seconds) and retry it.
        namespace: watch the primary kind in this namespace only (default: the manager's).
        label_selector: watch only primaries matching this selector.

    Raises:
        TypeError: ``reconciler`` is not async (a plain ``def`` would fail every reconcile).
    """

    for_: type[T]
    reconciler: Reconciler[T] | ReconcileFunc
    name: str = ""
    max_concurrent_reconciles: int = 1
    predicates: Sequence[PredicateLike] = ()
    rate_limiter: RateLimiter | None = None
    reconcile_timeout: float | None = None
    namespace: str | None = None
    label_selector: str | Mapping[str, str] | None = None
    sources: tuple[Source, ...] = field(default=(), repr=False)
    """The watched kinds, primary first (built by the constructor, ``owns``, ``watches``)."""
    permissions: tuple[Permission, ...] = field(default=(), repr=False)
    """The writes the reconciler makes, declared with ``permits`` (for ``opframe rbac``)."""

    def __post_init__(self) -> None:
        if self.max_concurrent_reconciles < 1:
            raise ValueError("max_concurrent_reconciles must be at least 1")
        _reconcile_call(self.reconciler)  # refuse what cannot be awaited, now
        if not self.name:
            object.__setattr__(self, "name", resource_info(self.for_).kind.lower())
        if not self.sources:
            primary = Source(
                self.for_,
                ReasonSource.FOR,
                enqueue_for_object,
                tuple(self.predicates),
                self.namespace,
                self.label_selector,
            )
            object.__setattr__(self, "sources", (primary,))

    def owns(
        self,
        kind: type[Resource],
        *,
        predicates: Sequence[PredicateLike] = (),
        only_controller: bool = True,
        namespace: str | None = None,
        label_selector: str | Mapping[str, str] | None = None,
    ) -> Controller[T]:
        """Also watch ``kind`` and reconcile the primary object that owns each one.

        The owner is found through ``metadata.ownerReferences`` (the one with
        ``controller: true`` unless ``only_controller=False``), as written by
        ``set_controller_reference``. Returns a new description.
        """
        mapper = enqueue_for_owner(self.for_, only_controller=only_controller)
        source = Source(
            kind, ReasonSource.OWNS, mapper, tuple(predicates), namespace, label_selector
        )
        return replace(self, sources=(*self.sources, source))

    def watches(
        self,
        kind: type[S],
        mapper: Callable[[S], Iterable[ObjectRef]],
        *,
        predicates: Sequence[PredicateLike] = (),
        namespace: str | None = None,
        label_selector: str | Mapping[str, str] | None = None,
    ) -> Controller[T]:
        """Also watch ``kind`` and reconcile the keys ``mapper(obj)`` returns.

        On an update the mapper sees the old object and then the new one, so a reference
        that was removed still triggers the primary it pointed to. Returns a new description.
        """
        source = Source(
            kind,
            ReasonSource.WATCHES,
            enqueue_mapped(cast(Callable[[Any], Iterable[ObjectRef]], mapper)),
            tuple(predicates),
            namespace,
            label_selector,
        )
        return replace(self, sources=(*self.sources, source))

    def permits(self, kind: type[Resource], *verbs: str, subresource: str = "") -> Controller[T]:
        """Declare that the reconciler uses ``verbs`` on ``kind`` (or its ``subresource``).

        Watched kinds are read (get, list, watch) without saying so; declare the writes.
        ``opframe rbac generate`` turns the declarations into RBAC rules::

            Controller(for_=Web, reconciler=r).owns(Pod).permits(Pod, "create", "delete")

        Returns a new description; raises ``ValueError`` for an unknown verb.
        """
        permission = Permission(kind, tuple(verbs), subresource)
        return replace(self, permissions=(*self.permissions, permission))


class RunningController(Generic[T]):
    """A :class:`Controller` made live by :meth:`Manager.add <opframe.Manager.add>`.

    It owns the work queue, the reasons recorded per key, and the typed primary store; its
    informers are declared on the manager's cache when it is made, and keys collect in the
    queue until :meth:`run` starts the workers (once the cache synced and, with leader
    election, the lease is held).
    """

    def __init__(
        self,
        spec: Controller[T],
        *,
        cache: Cache,
        metrics: Metrics,
        namespace: str | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self._cache = cache
        self._metrics = metrics.controller(spec.name)
        self._metrics.max_concurrent.set(spec.max_concurrent_reconciles)
        queue_metrics = metrics.queue(spec.name)
        self.queue: WorkQueue[ObjectRef] = WorkQueue(
            rate_limiter=spec.rate_limiter, metrics=queue_metrics, on_timer=self._timer_fired
        )
        """The controller's work queue."""
        queue_metrics.bind(self.queue)
        # Each worker holds one key while it works: the keys in flight are the busy workers.
        self._metrics.active_workers.set_function(lambda: self.queue.in_flight)
        self.reasons: dict[ObjectRef, list[Reason]] = {}
        """What queued each waiting key, oldest first (handed to its next reconcile)."""
        stores = []
        self.informers: list[Informer[Any]] = []
        """The shared informers of the watched kinds, primary first."""
        for source in spec.sources:
            kind = source.kind
            informer = cache.informer(
                kind,
                # The manager's namespace narrows namespaced kinds; cluster-scoped ones have none.
                namespace=source.namespace
                or (namespace if resource_info(kind).namespaced else None),
                label_selector=source.label_selector,
            )
            informer.add_handler(self._handler(source))
            stores.append(informer.store)
            self.informers.append(informer)
        self.store: Store[T] = cast("Store[T]", stores[0])
        """The primary kind's store: what reconciles read their object from."""

    @property
    def waiting_for_crd(self) -> str | None:
        """The primary kind's CRD while it is not installed (cache following CRDs), else None."""
        return self.informers[0].waiting_for_crd

    def release_informers(self) -> None:
        """Give the informers back to the cache: the ones no other controller uses stop."""
        for informer in self.informers:
            self._cache.release(informer)
        self.informers = []

    def enqueue(self, ref: ObjectRef, reason: Reason | None = None) -> None:
        """Ask for a reconcile of ``ref`` (a manual trigger, e.g. from an external event)."""
        self.remember(ref, reason or Reason(ReasonSource.MANUAL))
        self.queue.add(ref)

    def remember(self, ref: ObjectRef, reason: Reason) -> None:
        """Record ``reason`` for the next reconcile of ``ref``."""
        reasons = self.reasons.get(ref)
        if reasons is None:
            # A one-item list: the common case, and far smaller than a deque per key when an
            # initial list of ten thousand objects enqueues ten thousand keys at once.
            self.reasons[ref] = [reason]
            return
        reasons.append(reason)
        if len(reasons) > _MAX_REASONS:
            del reasons[0]

    async def run(
        self, *, client: Client, recorder: EventRecorder, fence: Fence | None = None
    ) -> None:
        """Reconcile with the spec's ``max_concurrent_reconciles`` workers until
        :meth:`shutdown`; then in-flight reconciles finish and this returns.

        ``client`` is what reconciles get as ``ctx.client`` (the manager passes a fenced one
        under leader election), ``fence`` what ``ctx.fence()`` checks.
        """
        spec = self.spec
        worker = Worker(
            self,
            reconcile=_reconcile_call(spec.reconciler),
            on_deleted=(
                spec.reconciler.on_deleted
                if isinstance(spec.reconciler, DeletionReconciler)
                else None
            ),
            client=client,
            cache=self._cache,
            recorder=recorder,
            metrics=self._metrics,
            fence=fence,
        )
        await worker.run(spec.max_concurrent_reconciles)

    def shutdown(self) -> None:
        """Stop taking keys; reconciles in flight finish and :meth:`run` then returns."""
        self.queue.shutdown()

    def _timer_fired(self, ref: ObjectRef, tag: object) -> None:
        # A requeue or retry is a reason once its timer fires, not when it was scheduled: a
        # reconcile an event triggers meanwhile must not claim it.
        if isinstance(tag, Reason):
            self.remember(ref, tag)

    def _handler(self, source: Source) -> Callable[[ResourceEvent[Any]], None]:
        predicates = source.predicates
        mapper = source.mapper
        role = source.role
        kind = resource_info(source.kind).kind
        queue = self.queue
        remember = self.remember

        def handle(event: ResourceEvent[Any]) -> None:
            for predicate in predicates:
                if not predicate(event):
                    return
            if queue.shutting_down:
                return
            reason = Reason(role, event.type, kind, event.ref)
            for ref in mapper(event):
                remember(ref, reason)
                queue.add(ref)

        return handle


def _reconcile_call(reconciler: object) -> ReconcileCall:
    method = getattr(reconciler, "reconcile", None)
    target = method if method is not None and callable(method) else reconciler
    if not callable(target):
        raise TypeError(
            "reconciler must have an async reconcile(ctx, obj) method or be an async function, "
            f"not {type(reconciler).__name__}"
        )
    if not inspect.iscoroutinefunction(target) and not inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 (an object with async __call__)
    ):
        name = getattr(target, "__qualname__", type(target).__name__)
        raise TypeError(
            f"reconciler {name} is not async: declare it 'async def reconcile(ctx, obj)' "
            "(a plain def would fail every reconcile)"
        )
    return cast(ReconcileCall, target)
