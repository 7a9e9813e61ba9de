"""The reconcile loop of a running controller: take a key, reconcile it, decide what next.

What happens after a reconcile (controller-runtime's ``reconcileHandler`` in
``pkg/internal/controller/controller.go``, plus two rules of our own):

- success: the key's backoff is forgotten;
- ``Result(requeue_after=d)``: forgotten, and queued again after ``d`` (the reason
  ``requeue_after`` is recorded when that timer fires, not now);
- :class:`~opframe.TerminalError`: forgotten, not retried; logged once and recorded as a
  ``Warning`` Event (reason ``ReconcileError``) on the object, so ``kubectl describe`` shows it;
- :class:`~opframe.fencing.NotLeader`: not retried (the new leader reconciles it);
- any other exception: retried after the rate limiter's per-key delay, logged as one line
  naming the attempt and the delay (the traceback once, at debug level, on the first attempt);
- a :class:`~opframe.Forbidden` (403, a permission the operator lacks) is retried the same
  way, and reported on the object as a ``Warning`` Event and a ``Forbidden`` condition naming
  the verb, resource and namespace to add to the operator's RBAC (``opframe._forbidden``);
  the next reconcile that succeeds sets the condition back to ``False``;
- a failure of a reconcile that an *event* triggered while a retry of that key is already
  scheduled keeps that retry as it is: neither its deadline nor the attempt count moves
  (JOSDK 5.4's rule; controller-runtime would back off further on every event).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from opframe._forbidden import clear_forbidden, describe_forbidden, report_forbidden
from opframe._logging import ContextLogger, logger_for
from opframe.errors import Conflict, Forbidden, NotFound, TerminalError
from opframe.fencing import NotLeader, no_fence
from opframe.objectref import ObjectRef
from opframe.reconcile import Context, Reason, ReasonSource, Result
from opframe.resource import Resource, resource_info

if TYPE_CHECKING:
    from opframe.cache import Cache
    from opframe.client import Client
    from opframe.controller import RunningController
    from opframe.events import EventRecorder
    from opframe.fencing import Fence
    from opframe.metrics import ControllerMetrics

__all__ = ["Worker"]

_RETRY = Reason(ReasonSource.RETRY)
_REQUEUE_AFTER = Reason(ReasonSource.REQUEUE_AFTER)


class Worker:
    """The workers of one running controller and what they share."""

    def __init__(
        self,
        controller: RunningController[Any],
        *,
        reconcile: Callable[[Context, Any], Awaitable[Result | None]],
        on_deleted: Callable[[Context], Awaitable[Result | None]] | None,
        client: Client,
        cache: Cache,
        recorder: EventRecorder,
        metrics: ControllerMetrics,
        fence: Fence | None,
    ) -> None:
        self.controller = controller
        self.queue = controller.queue
        self.reasons = controller.reasons
        self.store = controller.store
        self.spec = controller.spec
        self.reconcile = reconcile
        self.on_deleted = on_deleted
        self.client = client
        self.cache = cache
        self.recorder = recorder
        self.metrics = metrics
        self.fence = fence or no_fence
        self.logger = logger_for("controller", controller=controller.name)
        # Reconcile ids: a random per-process prefix and a counter (a syscall per id is slow).
        self._id_prefix = os.urandom(3).hex()
        self._ids = itertools.count(1)
        # Keys with a retry scheduled, and its deadline (event loop clock).
        self._retry_at: dict[ObjectRef, float] = {}

    async def run(self, workers: int) -> None:
        """Run ``workers`` loops until the queue shuts down and in-flight keys are done."""
        self.logger.info("starting %d workers", workers)
        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(self._loop())
        self.logger.info("stopped")

    async def _loop(self) -> None:
        queue = self.queue
        async for ref in queue:
            try:
                await self._process(ref)
            finally:
                queue.done(ref)

    async def _process(self, ref: ObjectRef) -> None:
        queue = self.queue
        reasons = self.reasons.pop(ref, None)
        if ref in self._retry_at and any(r.source is ReasonSource.RETRY for r in reasons or ()):
            del self._retry_at[ref]  # this is the scheduled retry
        reconcile_id = f"{self._id_prefix}{next(self._ids):06x}"
        logger = self.logger.bind(
            namespace=ref.namespace or None, name=ref.name, reconcile_id=reconcile_id
        )
        ctx = Context(
            ref=ref,
            controller=self.controller.name,
            reconcile_id=reconcile_id,
            client=self.client,
            cache=self.cache,
            logger=logger,
            recorder=self.recorder,
            reasons=tuple(reasons) if reasons else (),
            retries=queue.num_requeues(ref),
            fence=self.fence,
        )
        obj = self.store.get(ref.name, ref.namespace)
        call: Awaitable[Result | None]
        if obj is not None:
            call = self.reconcile(ctx, obj)
        elif self.on_deleted is not None:
            call = self.on_deleted(ctx)
        else:
            self._forget(ref)  # gone, and nobody asked to hear about it
            return
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("reconciling; triggered by %s", _describe(ctx.reasons))
        started = time.monotonic()
        deadline = asyncio.timeout(self.spec.reconcile_timeout)  # None: no deadline
        try:
            async with deadline:
                result = await call
        except TerminalError as exc:
            self.metrics.observe("error", time.monotonic() - started)
            self.metrics.terminal_error()
            logger.error("reconcile failed with a terminal error, not retrying: %s", exc)
            self._forget(ref)
            if obj is not None:
                await self.recorder.warning(obj, "ReconcileError", str(exc))
            return
        except NotLeader as exc:
            self.metrics.observe("error", time.monotonic() - started)
            logger.warning("write refused, not retrying here: %s", exc)
            return
        except Exception as exc:
            self.metrics.observe("error", time.monotonic() - started)
            if deadline.expired():
                self.metrics.timeout()
            self._retry(logger, ref, exc, ctx, timed_out=deadline.expired())
            if isinstance(exc, Forbidden) and obj is not None:
                await report_forbidden(
                    obj, exc, client=self.client, recorder=self.recorder, logger=logger
                )
            return
        elapsed = time.monotonic() - started
        if obj is not None:
            await clear_forbidden(obj, client=self.client, logger=logger)
        after = result.requeue_after_seconds if result is not None else None
        self._forget(ref)
        if after is not None and after > 0:
            self.metrics.observe("requeue_after", elapsed)
            queue.add_after(ref, after, _REQUEUE_AFTER)
        else:
            self.metrics.observe("success", elapsed)

    def _forget(self, ref: ObjectRef) -> None:
        self.queue.forget(ref)
        self._retry_at.pop(ref, None)

    def _retry(
        self,
        logger: ContextLogger,
        ref: ObjectRef,
        exc: Exception,
        ctx: Context,
        *,
        timed_out: bool,
    ) -> None:
        """Schedule the retry (unless one is pending already) and log the failure once."""
        loop = asyncio.get_running_loop()
        pending = self._retry_at.get(ref)
        if pending is not None and pending > loop.time() and self.queue.is_delayed(ref):
            # An event-triggered reconcile failed while a retry waits: keep that retry's
            # deadline and attempt count (they measure the failure, not the event rate).
            delay, attempt, escalated = pending - loop.time(), ctx.retries, False
        else:
            delay = self.queue.add_rate_limited(ref, _RETRY)
            attempt, escalated = ctx.retries + 1, True
            self._retry_at[ref] = loop.time() + delay
        what = f"attempt {attempt}, retrying in {delay:.3g}s" + ("" if escalated else " (kept)")
        if timed_out:
            logger.error("reconcile timed out after %ss (%s)", self.spec.reconcile_timeout, what)
        elif isinstance(exc, NotFound) and _names(exc, ref, self.spec.for_):
            # Deleted while we worked (typically: our own finalizer removal let it go and the
            # cache had not caught up). The retry finds it gone and stops there.
            logger.info("object deleted during the reconcile (%s): %s", what, exc.message)
        elif isinstance(exc, Forbidden):
            # The line an operator's log must show: what to add to its RBAC.
            logger.error("reconcile refused (%s): %s", what, describe_forbidden(exc))
        elif isinstance(exc, Conflict):
            # Optimistic concurrency at work, not a bug: the next attempt reads fresh state.
            logger.info("conflict (%s): %s", what, exc.message)
        else:
            logger.error(
                "reconcile failed (%s; triggered by %s): %s: %s",
                what,
                _describe(ctx.reasons),
                type(exc).__name__,
                exc,
            )
        if attempt == 1 and escalated and logger.isEnabledFor(logging.DEBUG):
            logger.debug("traceback of the first failed attempt", exc_info=exc)


def _names(error: NotFound, ref: ObjectRef, model: type[Resource]) -> bool:
    """Whether a 404 is about the very object being reconciled (from its Status details)."""
    details = (error.body or {}).get("details") or {}
    info = resource_info(model)
    if details.get("name") != ref.name:
        return False
    return details.get("kind") in (info.plural, info.kind, info.kind.lower())


def _describe(reasons: tuple[Reason, ...]) -> str:
    return ", ".join(map(str, reasons)) or "nothing recorded"
