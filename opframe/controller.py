"""Controllers: watch kinds, map events to keys, and reconcile each key with a pool of workers.

Declare what a controller reconciles and what it watches, then add it to a
:class:`~opframe.Manager`::

    controller = (
        Controller(for_=Web, reconciler=WebReconciler(), max_concurrent_reconciles=4)
        .with_predicates(generation_changed)        # primary: spec changes only
        .owns(ConfigMap)                             # owned objects -> their controller owner
        .watches(Secret, secret_to_webs)             # anything else -> your mapping
    )
    manager.add(controller)

Behaviour, as in controller-runtime:

- each event passing the source's predicates puts the mapped keys on the controller's
  :class:`~opframe.queue.WorkQueue`: many events for one key make one reconcile, and one key is
  never reconciled by two workers at once;
- the reconciler receives the object read from the shared cache (a fresh copy, yours to
  mutate); if the object is gone, ``reconcile`` is not called (see :mod:`opframe.reconcile`);
- :class:`~opframe.Result` ``requeue_after`` schedules the next look; ``requeue`` retries with
  backoff; an exception retries with per-key exponential backoff (5 ms .. 1000 s) and is logged
  with the key; :class:`~opframe.TerminalError` is logged and not retried; nothing a reconciler
  raises (short of cancellation) stops the controller;
- shutdown stops taking keys and lets in-flight reconciles finish.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, cast

from opframe._logging import ContextLogger, logger_for
from opframe.errors import Conflict, NotFound, TerminalError
from opframe.handlers import (
    EventMapper,
    Mapper,
    enqueue_for_object,
    enqueue_for_owner,
    enqueue_mapped,
)
from opframe.metrics import ControllerMetrics, Metrics
from opframe.objectref import ObjectRef
from opframe.predicates import PredicateLike, WatchEvent
from opframe.queue import WorkQueue
from opframe.ratelimit import RateLimiter
from opframe.reconcile import (
    Context,
    DeletionReconciler,
    Reason,
    ReasonSource,
    ReconcileFunc,
    Reconciler,
    Result,
)
from opframe.resource import Resource

if TYPE_CHECKING:
    from opframe.cache import Cache
    from opframe.client import Client
    from opframe.events import EventRecorder

__all__ = ["Controller"]

T = TypeVar("T", bound=Resource)

# Reasons kept per key between two reconciles; a hot key would otherwise grow without bound.
_MAX_REASONS = 32


@dataclass(frozen=True)
class _Source:
    """One watched kind and how its events become keys."""

    kind: type[Any]
    role: ReasonSource  # FOR, OWNS or WATCHES: the Reason.source of its events
    mapper: EventMapper
    predicates: tuple[PredicateLike, ...]
    namespace: str | None
    label_selector: str | Mapping[str, str] | None


class Controller(Generic[T]):
    """Reconciles objects of kind ``for_`` (the primary kind) with ``reconciler``.

    Args:
        for_: the primary resource class; its events enqueue the object itself.
        reconciler: an object with ``async def reconcile(ctx, obj)`` (optionally
            ``on_deleted(ctx)``), or a plain ``async def reconcile(ctx, obj)`` function.
        name: the controller's name in logs and metrics (default: the kind, lower case).
        max_concurrent_reconciles: how many keys are reconciled at once (default 1).
        predicates: filters for the primary kind's events (also :meth:`with_predicates`).
        rate_limiter: the retry backoff (default: client-go's controller rate limiter).
        reconcile_timeout: cancel a reconcile that runs longer (seconds) and retry it.
        namespace: watch the primary kind in this namespace only (default: the manager's).
        label_selector: watch only primaries matching this selector.
    """

    def __init__(
        self,
        for_: type[T],
        reconciler: Reconciler[T] | ReconcileFunc,
        *,
        name: str | None = None,
        max_concurrent_reconciles: int = 1,
        predicates: Sequence[PredicateLike] = (),
        rate_limiter: RateLimiter | None = None,
        reconcile_timeout: float | None = None,
        namespace: str | None = None,
        label_selector: str | Mapping[str, str] | None = None,
    ) -> None:
        if max_concurrent_reconciles < 1:
            raise ValueError("max_concurrent_reconciles must be at least 1")
        self.for_ = for_
        self.reconciler = reconciler
        self.name = name or _kind_of(for_).lower()
        self.max_concurrent_reconciles = max_concurrent_reconciles
        self.reconcile_timeout = reconcile_timeout
        self._rate_limiter = rate_limiter
        self._reconcile = _reconcile_callable(reconciler)
        self._on_deleted = (
            reconciler.on_deleted if isinstance(reconciler, DeletionReconciler) else None
        )
        self._sources: list[_Source] = [
            _Source(
                for_,
                ReasonSource.FOR,
                enqueue_for_object,
                tuple(predicates),
                namespace,
                label_selector,
            )
        ]
        self._reasons: dict[ObjectRef, list[Reason]] = {}
        # Reconcile ids: a random per-process prefix and a counter (a syscall per id is slow).
        self._id_prefix = os.urandom(3).hex()
        self._ids = itertools.count(1)
        self._queue: WorkQueue[ObjectRef] | None = None
        self._bound: _Bound | None = None

    # -- building -----------------------------------------------------------------------------

    def with_predicates(self, *predicates: PredicateLike) -> Self:
        """Add filters for the primary kind's events (all must pass)."""
        primary = self._sources[0]
        self._sources[0] = replace(primary, predicates=primary.predicates + predicates)
        return self

    def owns(
        self,
        kind: type[Any],
        *,
        predicates: Sequence[PredicateLike] = (),
        only_controller: bool = True,
        namespace: str | None = None,
        label_selector: str | Mapping[str, str] | None = None,
    ) -> Self:
        """Watch ``kind`` and reconcile the primary object that owns each one.

        The owner is found through ``metadata.ownerReferences`` (the one with
        ``controller: true`` unless ``only_controller=False``), as written by
        ``set_controller_reference``.
        """
        mapper = enqueue_for_owner(self.for_, only_controller=only_controller)
        self._sources.append(
            _Source(kind, ReasonSource.OWNS, mapper, tuple(predicates), namespace, label_selector)
        )
        return self

    def watches(
        self,
        kind: type[Any],
        mapper: Mapper,
        *,
        predicates: Sequence[PredicateLike] = (),
        namespace: str | None = None,
        label_selector: str | Mapping[str, str] | None = None,
    ) -> Self:
        """Watch ``kind`` and reconcile the keys ``mapper(obj)`` returns for each event."""
        self._sources.append(
            _Source(
                kind,
                ReasonSource.WATCHES,
                enqueue_mapped(mapper),
                tuple(predicates),
                namespace,
                label_selector,
            )
        )
        return self

    # -- lifecycle (driven by the Manager) -----------------------------------------------------

    def setup(
        self,
        *,
        client: Client,
        cache: Cache,
        metrics: Metrics,
        recorder: EventRecorder,
        namespace: str | None = None,
    ) -> None:
        """Declare this controller's informers on ``cache`` and start queueing their events.

        Called by the manager before the cache starts; keys collect in the queue until
        :meth:`run` starts the workers (for instance once leadership is acquired).
        """
        if self._bound is not None:
            raise RuntimeError(f"controller {self.name!r} is already set up")
        controller_metrics = metrics.controller(self.name)
        controller_metrics.max_concurrent.set(self.max_concurrent_reconciles)
        queue_metrics = metrics.queue(self.name)
        queue: WorkQueue[ObjectRef] = WorkQueue(
            rate_limiter=self._rate_limiter, metrics=queue_metrics
        )
        queue_metrics.bind(queue)
        # Each worker holds one key while it works: the keys in flight are the busy workers.
        controller_metrics.active_workers.set_function(lambda: queue.in_flight)
        self._queue = queue
        informers = [
            cache.informer(
                source.kind,
                # The manager's namespace narrows namespaced kinds; cluster-scoped ones have none.
                namespace=source.namespace or (namespace if _namespaced(source.kind) else None),
                label_selector=source.label_selector,
            )
            for source in self._sources
        ]
        primary = informers[0]
        for source, informer in zip(self._sources, informers, strict=True):
            informer.add_handler(self._handler(source))
        self._bound = _Bound(
            client=client,
            cache=cache,
            recorder=recorder,
            store=primary.store,
            metrics=controller_metrics,
            logger=logger_for("controller", controller=self.name),
        )

    async def run(self) -> None:
        """Reconcile with ``max_concurrent_reconciles`` workers until :meth:`shutdown`.

        Returns once the queue is shut down and in-flight reconciles finished; cancelling it
        cancels the reconciles in flight.
        """
        queue, bound = self._require_setup()
        bound.logger.info("starting %d workers", self.max_concurrent_reconciles)
        async with asyncio.TaskGroup() as tg:
            for _ in range(self.max_concurrent_reconciles):
                tg.create_task(self._worker(queue, bound))
        bound.logger.info("stopped")

    def shutdown(self) -> None:
        """Stop taking keys; reconciles in flight finish and :meth:`run` then returns."""
        if self._queue is not None:
            self._queue.shutdown()

    @property
    def queue(self) -> WorkQueue[ObjectRef]:
        """The controller's work queue (available after :meth:`setup`)."""
        return self._require_setup()[0]

    def enqueue(self, request: ObjectRef, reason: Reason | None = None) -> None:
        """Ask for a reconcile of ``request`` (a manual trigger, e.g. from an external event)."""
        self._remember(request, reason or Reason(ReasonSource.MANUAL))
        self.queue.add(request)

    # -- internals ----------------------------------------------------------------------------

    def _require_setup(self) -> tuple[WorkQueue[ObjectRef], _Bound]:
        if self._queue is None or self._bound is None:
            raise RuntimeError(
                f"controller {self.name!r} is not set up: add it to a Manager and run the manager"
            )
        return self._queue, self._bound

    def _handler(self, source: _Source) -> Callable[[WatchEvent], None]:
        predicates = source.predicates
        mapper = source.mapper
        role = source.role
        kind = _kind_of(source.kind)

        def handle(event: WatchEvent) -> None:
            for predicate in predicates:
                if not predicate(event):
                    return
            queue = self._queue
            if queue is None or queue.shutting_down:
                return
            reason = Reason(role, event.type, kind, event.ref)
            for request in mapper(event):
                self._remember(request, reason)
                queue.add(request)

        return handle

    def _remember(self, request: ObjectRef, reason: Reason) -> None:
        reasons = self._reasons.get(request)
        if reasons is None:
            # A one-item list: the common case, and far smaller than a deque per key when an
            # initial list of ten thousand objects enqueues ten thousand keys at once.
            self._reasons[request] = [reason]
            return
        reasons.append(reason)
        if len(reasons) > _MAX_REASONS:
            del reasons[0]

    async def _worker(self, queue: WorkQueue[ObjectRef], bound: _Bound) -> None:
        async for request in queue:
            try:
                await self._process(queue, bound, request)
            finally:
                queue.done(request)

    async def _process(
        self, queue: WorkQueue[ObjectRef], bound: _Bound, request: ObjectRef
    ) -> None:
        reasons = self._reasons.pop(request, None)
        reconcile_id = f"{self._id_prefix}{next(self._ids):06x}"
        logger = bound.logger.bind(
            namespace=request.namespace, name=request.name, reconcile_id=reconcile_id
        )
        ctx = Context(
            ref=request,
            controller=self.name,
            reconcile_id=reconcile_id,
            client=bound.client,
            cache=bound.cache,
            logger=logger,
            recorder=bound.recorder,
            reasons=tuple(reasons) if reasons else (),
            retries=queue.num_requeues(request),
        )
        obj = bound.store.get(request.name, request.namespace)
        call: Awaitable[Result | None]
        if obj is not None:
            call = self._reconcile(ctx, obj)
        elif self._on_deleted is not None:
            call = self._on_deleted(ctx)
        else:
            queue.forget(request)  # gone, and nobody asked to hear about it
            return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("reconciling; triggered by %s", _describe(ctx.reasons))
        started = time.monotonic()
        deadline = asyncio.timeout(self.reconcile_timeout)  # None: no deadline
        try:
            async with deadline:
                result = await call
        except TerminalError as exc:
            bound.metrics.observe("error", time.monotonic() - started)
            bound.metrics.terminal_error()
            logger.error("reconcile failed with a terminal error, not retrying: %s", exc)
            queue.forget(request)
            return
        except Exception as exc:
            bound.metrics.observe("error", time.monotonic() - started)
            if deadline.expired():
                bound.metrics.timeout()
            self._log_failure(logger, exc, ctx, timed_out=deadline.expired())
            self._retry(queue, request, Reason(ReasonSource.RETRY))
            return
        elapsed = time.monotonic() - started
        after = result.requeue_after_seconds if result is not None else None
        if after is not None and after > 0:
            bound.metrics.observe("requeue_after", elapsed)
            queue.forget(request)
            self._remember(request, Reason(ReasonSource.REQUEUE_AFTER))
            queue.add_after(request, after)
        else:
            bound.metrics.observe("success", elapsed)
            queue.forget(request)

    def _log_failure(
        self, logger: ContextLogger, exc: Exception, ctx: Context, *, timed_out: bool
    ) -> None:
        """Log a failed reconcile once, at the level its cause deserves."""
        if timed_out:
            logger.error("reconcile timed out after %ss, retrying", self.reconcile_timeout)
        elif isinstance(exc, NotFound) and _names(exc, ctx.ref, self.for_):
            # Deleted while we worked (typically: our own finalizer removal let it go and the
            # cache had not caught up). The retry finds it gone and stops there.
            logger.info("object deleted during the reconcile: %s", exc.message)
        elif isinstance(exc, Conflict):
            # Optimistic concurrency at work, not a bug: the next attempt reads fresh state.
            logger.info("conflict, retrying: %s", exc.message)
        else:
            logger.error(
                "reconcile failed, retrying (attempt %d; triggered by %s)",
                ctx.retries + 1,
                _describe(ctx.reasons),
                exc_info=exc,
            )

    def _retry(self, queue: WorkQueue[ObjectRef], request: ObjectRef, reason: Reason) -> None:
        self._remember(request, reason)
        queue.add_rate_limited(request)


@dataclass
class _Bound:
    """What a controller gets from its manager at setup."""

    client: Client
    cache: Cache
    recorder: EventRecorder
    store: Any  # the primary informer's store: get(name, namespace) -> T | None
    metrics: ControllerMetrics
    logger: ContextLogger


def _names(error: NotFound, request: ObjectRef, model: type[Any]) -> bool:
    """Whether a 404 is about the very object being reconciled (from its Status details)."""
    details = (error.body or {}).get("details") or {}
    info = getattr(model, "__resource__", None)
    if info is None or details.get("name") != request.name:
        return False
    return details.get("kind") in (info.plural, info.kind, info.kind.lower())


def _describe(reasons: tuple[Reason, ...]) -> str:
    return ", ".join(map(str, reasons)) or "nothing recorded"


def _namespaced(model: type[Any]) -> bool:
    info = getattr(model, "__resource__", None)
    return bool(info.namespaced) if info is not None else True


def _kind_of(model: type[Any]) -> str:
    info = getattr(model, "__resource__", None)
    return str(info.kind) if info is not None else model.__name__


def _reconcile_callable(
    reconciler: Reconciler[Any] | ReconcileFunc,
) -> Callable[[Context, Any], Awaitable[Result | None]]:
    method = getattr(reconciler, "reconcile", None)
    if method is not None and callable(method):
        return cast(Callable[[Context, Any], Awaitable["Result | None"]], method)
    if callable(reconciler):
        return reconciler
    raise TypeError(
        "reconciler must have an async reconcile(ctx, obj) method or be an async function, "
        f"not {type(reconciler).__name__}"
    )
