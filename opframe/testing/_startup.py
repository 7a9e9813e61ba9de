"""Start a long-running component task and wait until it reports ready (or fails early)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from opframe._tasks import cancel_and_wait

__all__ = ["start_until_ready"]


async def start_until_ready(
    coro: Coroutine[Any, Any, None], ready: asyncio.Event, *, name: str
) -> asyncio.Task[None]:
    """Run ``coro`` as a task and return it once ``ready`` is set.

    If the task ends before ``ready`` is set, its exception is raised here rather than being
    noticed only at shutdown. If waiting fails (the caller is cancelled, or the task failed),
    the task is cancelled before the error propagates, so no task outlives a failed start.
    """
    task = asyncio.create_task(coro, name=name)
    waiter = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
    except BaseException:
        await cancel_and_wait(task)
        raise
    finally:
        waiter.cancel()
    return task
