"""Container logs as kubelet keeps them: one file per container instance, in the CRI format.

Each captured line is a record ``<RFC3339Nano timestamp> <stream> <F|P> <content>``; ``P``
marks a partial line (output without its newline yet), ``F`` a full one. The timestamps let
:meth:`LogFile.read` honour ``kubectl logs`` options the way kubelet's log reader does
(``pkg/kubelet/kuberuntime/logs/logs.go``): ``tailLines`` picks the last N records, then
``since`` drops records older than it, ``timestamps`` prefixes each line with its time,
``limitBytes`` cuts the output after that many bytes, and ``follow`` keeps streaming until the
instance exits.

Example::

    log = LogFile(path)
    await log.append(b"hello\\n")
    async for chunk in log.read(follow=False, tail_lines=10, timestamps=True):
        ...
"""

from __future__ import annotations

import asyncio
import calendar
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LogFile", "LogRecord", "format_timestamp", "parse_timestamp"]


def format_timestamp(ns: int) -> str:
    """``ns`` nanoseconds since the epoch as RFC3339Nano (``2026-12-02T12:52:33.000000001Z``)."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def parse_timestamp(text: str) -> int:
    """An RFC3339 (optionally fractional, ``Z`` or offset) time as nanoseconds since the epoch.

    Raises:
        ValueError: not an RFC3339 time.
    """
    value = text.strip()
    offset = 0
    if value.endswith(("Z", "z")):
        value = value[:-1]
    elif len(value) > 6 and value[-6] in "+-" and value[-3] == ":":
        sign = 1 if value[-6] == "+" else -1
        offset = sign * (int(value[-5:-3]) * 3600 + int(value[-2:]) * 60)
        value = value[:-6]
    else:
        raise ValueError(f"not an RFC3339 time: {text!r}")
    whole, _, fraction = value.partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) - offset
    nanos = int((fraction + "000000000")[:9]) if fraction else 0
    if fraction and not fraction.isdigit():
        raise ValueError(f"not an RFC3339 time: {text!r}")
    return seconds * 1_000_000_000 + nanos


@dataclass(frozen=True)
class LogRecord:
    """One record of a CRI log file."""

    timestamp: str
    ns: int
    stream: str
    partial: bool
    content: bytes

    @classmethod
    def parse(cls, line: bytes) -> LogRecord:
        """A record from one line of the file (without its newline)."""
        stamp, stream, tag, content = [*line.split(b" ", 3), b"", b"", b""][:4]
        text = stamp.decode()
        return cls(text, parse_timestamp(text), stream.decode(), tag == b"P", content)

    def render(self, *, timestamps: bool) -> bytes:
        """The record as ``kubectl logs`` prints it."""
        prefix = self.timestamp.encode() + b" " if timestamps else b""
        return prefix + self.content + (b"" if self.partial else b"\n")


class LogFile:
    """A container instance's captured output: a CRI log file plus a way to follow it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        self._size = path.stat().st_size
        self._closed = False
        self._changed = asyncio.Condition()

    async def append(self, data: bytes, stream: str = "stdout") -> None:
        """Record ``data`` (any number of lines, the last one possibly partial); wake readers."""
        stamp = format_timestamp(time.time_ns()).encode()
        head = stamp + b" " + stream.encode()
        records = [
            head + (b" F " + line[:-1] if line.endswith(b"\n") else b" P " + line) + b"\n"
            for line in data.splitlines(keepends=True)
        ]
        blob = b"".join(records)
        with self.path.open("ab") as f:
            f.write(blob)
        async with self._changed:
            self._size += len(blob)
            self._changed.notify_all()

    async def close(self) -> None:
        """Mark the log complete (the container instance has exited)."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()

    def records(self, offset: int = 0) -> tuple[list[LogRecord], int]:
        """The records from byte ``offset`` on, and the offset after the last one."""
        with self.path.open("rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # records are written whole; keep to complete ones
        lines = data[:end].splitlines()
        return [LogRecord.parse(line) for line in lines if line], offset + end

    def text(self) -> str:
        """The captured output as the container wrote it (no timestamps)."""
        records, _ = self.records()
        return b"".join(r.render(timestamps=False) for r in records).decode(errors="replace")

    async def read(
        self,
        *,
        follow: bool,
        tail_lines: int | None = None,
        since_ns: int | None = None,
        timestamps: bool = False,
        limit_bytes: int | None = None,
    ) -> AsyncIterator[bytes]:
        """The log as ``kubectl logs`` asks for it (see the module docstring for the order)."""
        budget = limit_bytes
        records, offset = self.records()
        if tail_lines is not None:
            records = records[-tail_lines:] if tail_lines > 0 else []
        while True:
            chunk = b"".join(_render(records, since_ns, timestamps))
            if budget is not None:
                chunk = chunk[:budget]
                budget -= len(chunk)
            if chunk:
                yield chunk
            if not follow or budget == 0:
                return
            seen = offset

            def grown(seen: int = seen) -> bool:
                return self._size > seen or self._closed

            async with self._changed:
                await self._changed.wait_for(grown)
                done = self._closed and self._size <= offset
            if done:
                return
            records, offset = self.records(offset)


def _render(records: list[LogRecord], since_ns: int | None, timestamps: bool) -> Iterator[bytes]:
    for record in records:
        if since_ns is None or record.ns >= since_ns:
            yield record.render(timestamps=timestamps)
