"""A manager's shutdown reads the error of a task that had already failed.

asyncio reports a failed task whose exception nobody retrieved ("Task exception was never
retrieved") through the loop's exception handler when the task is collected: at the end of
a passing run that looks like a crash. ``Manager.run`` stops its cache task in a ``finally``
after its main task ended; if the cache had failed meanwhile (its connection closed during a
shutdown), that error must be read there.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Iterator
from typing import Any

from opframe.manager import _cancel


async def _fail() -> None:
    raise ConnectionError("Connection closed")


@contextlib.contextmanager
def _reported() -> Iterator[list[dict[str, Any]]]:
    """What the running loop's exception handler is given inside the block."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        yield reported
    finally:
        loop.set_exception_handler(previous)


async def _failed_task(*, stopped: bool) -> None:
    """A task that failed, stopped with ``_cancel`` or not, then collected."""
    task = asyncio.create_task(_fail(), name="opframe cache")
    await asyncio.wait({task})
    if stopped:
        await _cancel(task)
    del task
    gc.collect()


async def test_a_failed_task_stopped_at_shutdown_is_not_reported_as_never_retrieved() -> None:
    with _reported() as reported:
        await _failed_task(stopped=True)
    assert reported == []


async def test_the_check_itself_sees_an_unread_failure() -> None:
    """Without ``_cancel`` the same task is reported: the test above can fail."""
    with _reported() as reported:
        await _failed_task(stopped=False)
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
