"""Work queue semantics: dedup, per-key serialisation, delays, rate limiting, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from opframe.queue import QueueShutDown, WorkQueue
from opframe.ratelimit import ExponentialBackoffRateLimiter


class RecordingSink:
    def __init__(self) -> None:
        self.adds = 0
        self.queued_seconds: list[float] = []
        self.work_seconds: list[float] = []
        self.retries = 0

    def added(self) -> None:
        self.adds += 1

    def taken(self, queued_seconds: float) -> None:
        self.queued_seconds.append(queued_seconds)

    def done(self, work_seconds: float) -> None:
        self.work_seconds.append(work_seconds)

    def retried(self) -> None:
        self.retries += 1


async def test_key_added_many_times_is_handed_out_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"
    assert len(queue) == 0


async def test_key_readded_while_processing_is_processed_again_after_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert len(queue) == 0  # held back: "a" is being processed
    queue.done(key)
    assert len(queue) == 1
    assert await queue.get() == "a"


async def test_key_is_never_handed_to_two_workers_at_once() -> None:
    queue: WorkQueue[int] = WorkQueue()
    running: set[int] = set()
    overlaps: list[int] = []
    processed = 0
    enough = asyncio.Event()

    async def worker() -> None:
        nonlocal processed
        async for key in queue:
            if key in running:
                overlaps.append(key)
            running.add(key)
            await asyncio.sleep(0)  # yield so other workers get a chance to collide
            if processed < 400:
                queue.add(key)  # re-add while processing
            processed += 1
            if processed >= 400:
                enough.set()
            running.discard(key)
            queue.done(key)

    for key in range(5):
        queue.add(key)
    async with asyncio.timeout(5):
        async with asyncio.TaskGroup() as tg:
            for _ in range(8):
                tg.create_task(worker())
            await enough.wait()
            queue.shutdown()
    assert overlaps == []


async def test_get_waits_for_an_add() -> None:
    queue: WorkQueue[str] = WorkQueue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.add("a")
    async with asyncio.timeout(1):
        assert await getter == "a"


async def test_add_after_delivers_after_the_delay() -> None:
    queue: WorkQueue[str] = WorkQueue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    queue.add_after("a", 0.05)
    assert len(queue) == 0
    assert queue.delayed == 1
    async with asyncio.timeout(2):
        assert await queue.get() == "a"
    assert loop.time() - start >= 0.05 - 0.001  # a timer may fire a hair early


async def test_add_after_keeps_the_earlier_time_for_one_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 10.0)
    queue.add_after("a", 0.02)
    queue.add_after("a", 5.0)
    assert queue.delayed == 1
    async with asyncio.timeout(2):
        assert await queue.get() == "a"
    assert queue.delayed == 0


async def test_add_after_orders_keys_by_ready_time() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("late", 0.06)
    queue.add_after("early", 0.02)
    async with asyncio.timeout(2):
        assert await queue.get() == "early"
        assert await queue.get() == "late"


async def test_add_rate_limited_backs_off_and_forget_resets() -> None:
    limiter = ExponentialBackoffRateLimiter(0.01, 10.0)
    queue: WorkQueue[str] = WorkQueue(rate_limiter=limiter)
    queue.add_rate_limited("a")
    queue.add_rate_limited("a")  # second retry while the first is waiting: earlier wins
    assert queue.num_requeues("a") == 2
    async with asyncio.timeout(2):
        key = await queue.get()
    queue.done(key)
    queue.forget(key)
    assert queue.num_requeues("a") == 0


async def test_shutdown_stops_getters_and_drops_waiting_keys() -> None:
    queue: WorkQueue[str] = WorkQueue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add_after("later", 0.01)
    queue.shutdown()
    with pytest.raises(QueueShutDown):
        await getter
    queue.add("a")
    assert len(queue) == 0
    with pytest.raises(QueueShutDown):
        await queue.get()


async def test_shutdown_lets_in_flight_keys_finish() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    queue.shutdown()
    drained = asyncio.create_task(queue.wait_drained())
    await asyncio.sleep(0)
    assert not drained.done()
    queue.done(key)
    async with asyncio.timeout(1):
        await drained
    assert len(queue) == 0  # the re-add was dropped, not handed out


async def test_cancelled_getter_passes_its_wakeup_on() -> None:
    queue: WorkQueue[str] = WorkQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add("a")
    first.cancel()
    async with asyncio.timeout(1):
        assert await second == "a"


async def test_metrics_sink_sees_adds_depth_latencies_and_retries() -> None:
    sink = RecordingSink()
    queue: WorkQueue[str] = WorkQueue(metrics=sink)
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert (sink.adds, len(queue)) == (2, 2)
    key = await queue.get()
    assert len(queue) == 1
    assert len(sink.queued_seconds) == 1
    queue.done(key)
    assert len(sink.work_seconds) == 1
    queue.add_rate_limited("c")
    assert sink.retries == 1


async def test_in_flight_measures_report_running_work() -> None:
    queue: WorkQueue[str] = WorkQueue()
    assert queue.longest_running_seconds() == 0.0
    queue.add("a")
    await queue.get()
    assert queue.processing == frozenset({"a"})
    assert queue.in_flight == 1
    assert queue.unfinished_work_seconds() >= 0.0
    assert queue.longest_running_seconds() >= 0.0
