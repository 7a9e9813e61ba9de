"""What the benchmark sections share: child operator processes and what they report.

An operator runs as a subprocess printing JSON lines (``{"event": ...}``); :class:`Child`
reads them in the background so that a section can wait for one event, read the latest
``count`` line, and read the process's peak RSS and CPU time from ``/proc``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from _process import stop

__all__ = ["HERE", "Child", "cpu_seconds", "log", "spawn", "vm_hwm"]

HERE = Path(__file__).resolve().parent


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def vm_hwm(pid: int) -> int:
    """Peak resident set size of process ``pid`` in bytes (``VmHWM`` of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far (/proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rpartition(")")[2].split()
    # Fields after the command: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Child:
    """A running operator process and the JSON lines it has printed."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.count = 0
        self.count_at = 0.0
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self._taken: dict[str, int] = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                fields = json.loads(line)
            except ValueError:
                continue
            if not isinstance(fields, dict) or "event" not in fields:
                continue
            if fields["event"] == "count":
                self.count, self.count_at = int(fields["n"]), float(fields["t"])
            else:
                self.events.setdefault(fields["event"], []).append(fields)
            self._changed.set()
        self._changed.set()

    async def wait(self, event: str, deadline: float) -> dict[str, Any]:
        """The next not yet taken ``event`` line (``TimeoutError`` after ``deadline`` s)."""
        async with asyncio.timeout(deadline):
            while True:
                taken = self._taken.get(event, 0)
                got = self.events.get(event, [])
                if len(got) > taken:
                    self._taken[event] = taken + 1
                    return got[taken]
                if self._reader.done():
                    raise RuntimeError(f"{self.name} exited before reporting {event!r}")
                self._changed.clear()
                await self._changed.wait()

    async def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def next_count(self) -> tuple[int, float]:
        """Wait for the next ``count`` line; the count and its time."""
        at = self.count_at
        async with asyncio.timeout(5):
            while self.count_at == at:
                self._changed.clear()
                await self._changed.wait()
        return self.count, self.count_at


@asynccontextmanager
async def spawn(
    args: Sequence[str], name: str, env: dict[str, str] | None = None, *, grace: float = 10.0
) -> AsyncIterator[Child]:
    """Run ``args`` (piped stdin/stdout) as a :class:`Child`; terminated on exit (killed if
    still running ``grace`` seconds later)."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 20,
        env={**os.environ, **(env or {})},
        cwd=str(HERE),
    )
    child = Child(proc, name)
    try:
        yield child
    finally:
        await stop(proc, grace)
        child._reader.cancel()
