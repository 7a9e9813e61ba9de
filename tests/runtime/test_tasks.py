"""cancel_and_wait stops a task without swallowing its caller's own cancellation."""

from __future__ import annotations

import asyncio

import pytest

from opframe._tasks import cancel_and_wait


async def test_cancelled_task_is_awaited_and_its_cancellation_absorbed() -> None:
    task = asyncio.create_task(asyncio.Event().wait())
    await cancel_and_wait(task)
    assert task.cancelled()


async def test_callers_own_cancellation_during_the_wait_propagates() -> None:
    started, stopping = asyncio.Event(), asyncio.Event()

    async def slow_to_stop() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopping.set()
            await asyncio.Event().wait()  # cleanup that never ends by itself

    inner = asyncio.create_task(slow_to_stop())
    await started.wait()
    outer = asyncio.create_task(cancel_and_wait(inner))
    await stopping.wait()
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    inner.cancel()
    await asyncio.wait({inner})


async def test_other_exceptions_of_the_task_propagate() -> None:
    started = asyncio.Event()

    async def fails_on_cancel() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    task = asyncio.create_task(fails_on_cancel())
    await started.wait()
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await cancel_and_wait(task)
