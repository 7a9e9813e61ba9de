"""Stopping a benchmark's child process: politely first, then for sure."""

from __future__ import annotations

import asyncio

__all__ = ["stop"]


async def stop(proc: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    """Terminate ``proc`` if it still runs, and kill it if it has not exited after ``grace`` s."""
    if proc.returncode is None:
        proc.terminate()
        try:
            async with asyncio.timeout(grace):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
