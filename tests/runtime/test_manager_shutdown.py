"""A manager's shutdown reads the error of a task that had already failed.

asyncio reports a failed task whose exception nobody retrieved ("Task exception was never
retrieved") through the loop's exception handler when the task is collected: at the end of
a passing run that looks like a crash. ``Manager.run`` stops its cache task in a ``finally``
after its main task ended; if the cache had failed meanwhile (its connection closed during a
shutdown), that error must be read there.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from opframe.manager import _cancel


async def _fail() -> None:
    raise ConnectionError("Connection closed")


async def test_a_failed_task_stopped_at_shutdown_is_not_reported_as_never_retrieved() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        task = asyncio.create_task(_fail(), name="opframe cache")
        await asyncio.wait({task})
        await _cancel(task)
        del task
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert reported == []


async def test_the_check_itself_sees_an_unread_failure() -> None:
    """Without ``_cancel`` the same task is reported: the test above can fail."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        task = asyncio.create_task(_fail(), name="opframe cache")
        await asyncio.wait({task})
        del task
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert [c["message"] for c in reported] == ["Task exception was never retrieved"]


async def test_a_running_task_is_cancelled_and_awaited() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(forever())
    await started.wait()
    await _cancel(task)
    assert task.cancelled()
