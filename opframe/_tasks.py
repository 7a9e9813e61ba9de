"""Task helpers shared by the runtime and the embedded control plane."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has finished.

    The usual ``task.cancel(); with suppress(CancelledError): await task`` also swallows the
    *caller's* own cancellation if it arrives during the wait, so a cancelled shutdown goes on
    as if nothing happened. Here the task's CancelledError is absorbed and the caller's is not.
    Any other exception of the task propagates.
    """
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
