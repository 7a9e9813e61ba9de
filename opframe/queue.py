"""The work queue between events and reconciles, with controller-runtime's semantics.

Keys (usually :class:`opframe.ObjectRef`) go in; workers take them out::

    queue: WorkQueue[str] = WorkQueue()
    queue.add("default/web")
    queue.add("default/web")          # deduplicated: still one entry
    async for key in queue:           # ends when the queue is shut down
        try:
            ...                       # reconcile key
            queue.forget(key)         # success: reset its backoff
        except Exception:
            queue.add_rate_limited(key)
        finally:
            queue.done(key)           # always: lets a re-added key be handed out again

Guarantees:

- a key added many times before a worker takes it is handed out once;
- a key is never handed to two workers at once: a key added while it is being processed is
  held back and handed out again after :meth:`WorkQueue.done`;
- :meth:`WorkQueue.add_after` delays a key without polling: one timer (an event-loop
  ``call_at`` handle) for the earliest entry of a heap; a key waiting twice keeps the earlier time;
- a delayed add may carry a ``tag``; ``on_timer(key, tag)`` is called when its timer fires
  (the controller records *why* a key came back only once it does, not when it is scheduled);
- :meth:`WorkQueue.add_rate_limited` delays by the :class:`~opframe.ratelimit.RateLimiter`
  (by default max(per-key 5 ms doubling to 1000 s, 10 qps / burst 100 overall));
- :meth:`WorkQueue.shutdown` stops handing out work and drops what was waiting (a level-triggered
  controller finds it again on its next start); keys already taken finish, and
  :meth:`WorkQueue.wait_drained` returns when the last one is done.

The queue is not thread-safe; use it from one event loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Generic, Protocol, TypeVar

from opframe.errors import OpframeError
from opframe.ratelimit import RateLimiter, default_rate_limiter

__all__ = ["QueueMetricsSink", "QueueShutDown", "WorkQueue"]

K = TypeVar("K", bound=Hashable)


class QueueShutDown(OpframeError):
    """Raised by :meth:`WorkQueue.get` once the queue is shut down."""


class QueueMetricsSink(Protocol):
    """Receives the queue's events (see :mod:`opframe.metrics` for the Prometheus one).

    Levels (depth, work in flight) are not pushed: a sink reads them when it needs them from
    ``len(queue)``, :meth:`WorkQueue.unfinished_work_seconds` and
    :meth:`WorkQueue.longest_running_seconds`, which costs nothing per add.
    """

    def added(self) -> None:
        """A new key was accepted (not a duplicate of a waiting one)."""
        ...

    def taken(self, queued_seconds: float) -> None:
        """A worker took a key that had waited ``queued_seconds``."""
        ...

    def done(self, work_seconds: float) -> None:
        """A worker finished a key after ``work_seconds``."""
        ...

    def retried(self) -> None:
        """A key was re-added through the rate limiter."""
        ...


class WorkQueue(Generic[K]):
    """A deduplicating, per-key serialising, delaying, rate-limited work queue.

    Args:
        rate_limiter: decides the delay of :meth:`add_rate_limited`; defaults to
            :func:`opframe.ratelimit.default_rate_limiter`.
        metrics: optional sink for depth, adds, latencies and retries.
        on_timer: called with ``(key, tag)`` when a delayed add's timer fires, just before the
            key is queued.
    """

    def __init__(
        self,
        *,
        rate_limiter: RateLimiter | None = None,
        metrics: QueueMetricsSink | None = None,
        on_timer: Callable[[K, object], None] | None = None,
    ) -> None:
        self.rate_limiter: RateLimiter = rate_limiter or default_rate_limiter()
        self._metrics = metrics
        self._on_timer = on_timer
        self._queue: deque[K] = deque()
        # Keys that need processing: queued, or re-added while being processed.
        self._dirty: dict[K, float] = {}  # key -> when it was added (monotonic)
        self._processing: dict[K, float] = {}  # key -> when a worker took it (monotonic)
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        self._drained: asyncio.Event | None = None
        # Delayed adds: a heap of (ready_at, seq, key) plus the current ready time per key,
        # so a superseded heap entry is recognised and skipped when it pops.
        self._delayed: list[tuple[float, int, K]] = []
        self._ready_at: dict[K, float] = {}
        self._tags: dict[K, object] = {}  # the tag of each key's winning delayed add
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    # -- adding -------------------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue ``key`` now, unless it is already waiting (then this is a no-op)."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty[key] = time.monotonic()
        if self._metrics is not None:
            self._metrics.added()
        if key in self._processing:
            return  # handed out again by done()
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: K, delay: float, tag: object = None) -> None:
        """Queue ``key`` after ``delay`` seconds; if it is already delayed, the earlier wins.

        ``tag`` goes to ``on_timer`` when this add's timer fires (it is dropped with a later
        add that loses to an earlier one).
        """
        if self._shutting_down:
            return
        if delay <= 0:
            if self._on_timer is not None and tag is not None:
                self._on_timer(key, tag)
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + delay
        current = self._ready_at.get(key)
        if current is not None and current <= ready_at:
            return
        self._ready_at[key] = ready_at
        if tag is None:
            self._tags.pop(key, None)
        else:
            self._tags[key] = tag
        heapq.heappush(self._delayed, (ready_at, next(self._seq), key))
        self._arm_timer(loop)

    def add_rate_limited(self, key: K, tag: object = None) -> float:
        """Queue ``key`` after the delay the rate limiter gives it (a retry); the delay."""
        if self._shutting_down:
            return 0.0
        if self._metrics is not None:
            self._metrics.retried()
        delay = self.rate_limiter.when(key)
        self.add_after(key, delay, tag)
        return delay

    def is_delayed(self, key: K) -> bool:
        """Whether ``key`` waits for a delayed add's timer."""
        return key in self._ready_at

    def forget(self, key: K) -> None:
        """Reset the key's retry history (after it was processed successfully)."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """How many rate-limited retries the key had since it was last forgotten."""
        return self.rate_limiter.num_requeues(key)

    # -- taking -------------------------------------------------------------------------------

    async def get(self) -> K:
        """Wait for a key and mark it as being processed; call :meth:`done` when finished.

        Raises:
            QueueShutDown: the queue was shut down.
        """
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDown
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                try:
                    self._getters.remove(getter)
                except ValueError:
                    pass
                # We were woken for an item but are leaving: pass the wake-up on.
                if self._queue:
                    self._wake_one()
                raise
        if self._shutting_down:
            raise QueueShutDown
        key = self._queue.popleft()
        now = time.monotonic()
        added = self._dirty.pop(key)
        self._processing[key] = now
        if self._metrics is not None:
            self._metrics.taken(now - added)
        return key

    def done(self, key: K) -> None:
        """Mark ``key`` as finished; if it was re-added meanwhile, queue it again."""
        started = self._processing.pop(key, None)
        if started is None:
            return
        if self._metrics is not None:
            self._metrics.done(time.monotonic() - started)
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._wake_one()
        if not self._processing and self._drained is not None:
            self._drained.set()

    def __aiter__(self) -> AsyncIterator[K]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[K]:
        while True:
            try:
                key = await self.get()
            except QueueShutDown:
                return
            yield key

    # -- stopping -----------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop handing out keys and drop the waiting ones; keys being processed finish."""
        if self._shutting_down:
            return
        self._shutting_down = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._delayed.clear()
        self._ready_at.clear()
        self._tags.clear()
        self._queue.clear()
        self._dirty.clear()
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)

    async def wait_drained(self) -> None:
        """Wait until no key is being processed (use after :meth:`shutdown`)."""
        if not self._processing:
            return
        if self._drained is None:
            self._drained = asyncio.Event()
        self._drained.clear()
        await self._drained.wait()

    @property
    def shutting_down(self) -> bool:
        """True once :meth:`shutdown` was called."""
        return self._shutting_down

    # -- introspection ------------------------------------------------------------------------

    def __len__(self) -> int:
        """The number of keys ready to be handed out."""
        return len(self._queue)

    @property
    def processing(self) -> frozenset[K]:
        """The keys currently handed out to workers."""
        return frozenset(self._processing)

    @property
    def in_flight(self) -> int:
        """How many keys are handed out to workers right now."""
        return len(self._processing)

    @property
    def delayed(self) -> int:
        """The number of keys waiting for their :meth:`add_after` delay."""
        return len(self._ready_at)

    def unfinished_work_seconds(self) -> float:
        """Total seconds the keys being processed have been running (a stuck-worker signal)."""
        now = time.monotonic()
        return sum(now - started for started in self._processing.values())

    def longest_running_seconds(self) -> float:
        """Seconds the longest-running key being processed has been running."""
        if not self._processing:
            return 0.0
        return time.monotonic() - min(self._processing.values())

    # -- internals ----------------------------------------------------------------------------

    def _wake_one(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def _arm_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._delayed:
            return
        earliest = self._delayed[0][0]
        if self._timer is not None:
            if self._timer.when() <= earliest:
                return
            self._timer.cancel()
        self._timer = loop.call_at(earliest, self._fire_timer, loop)

    def _fire_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        while self._delayed and self._delayed[0][0] <= now:
            ready_at, _, key = heapq.heappop(self._delayed)
            if self._ready_at.get(key) != ready_at:
                continue  # superseded by an earlier add_after of the same key
            del self._ready_at[key]
            tag = self._tags.pop(key, None)
            if self._on_timer is not None and tag is not None:
                self._on_timer(key, tag)
            self.add(key)
        self._arm_timer(loop)
