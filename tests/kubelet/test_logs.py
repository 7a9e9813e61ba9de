"""Container logs with kubectl's options, as kubelet's log reader applies them.

Order and meaning follow ``pkg/kubelet/kuberuntime/logs/logs.go`` (``ReadLogs``): the tail is
found first, then records older than ``since`` are skipped, ``timestamps`` prefixes each line
with its RFC3339Nano time, and ``limitBytes`` cuts the output after that many bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opframe.testing.kubelet.logs import LogFile, format_timestamp, parse_timestamp

T0 = parse_timestamp("2026-01-01T00:00:00Z")


def _file(tmp_path: Path, *lines: tuple[float, str]) -> LogFile:
    path = tmp_path / "0.log"
    path.write_text(
        "".join(f"{format_timestamp(T0 + int(at * 1e9))} stdout F {text}\n" for at, text in lines)
    )
    return LogFile(path)


async def _read(log: LogFile, **options: object) -> bytes:
    return b"".join([c async for c in log.read(follow=False, **options)])  # type: ignore[arg-type]


async def test_appended_output_reads_back_as_written(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "log")
    await log.append(b"a\nb")
    await log.append(b"c\n")
    assert await _read(log) == b"a\nbc\n"
    assert log.text() == "a\nbc\n"


async def test_tail_lines_are_the_last_lines(tmp_path: Path) -> None:
    log = _file(tmp_path, (0, "one"), (1, "two"), (2, "three"))
    assert await _read(log, tail_lines=2) == b"two\nthree\n"
    assert await _read(log, tail_lines=0) == b""


async def test_since_skips_older_lines(tmp_path: Path) -> None:
    log = _file(tmp_path, (0, "one"), (1, "two"), (2, "three"))
    assert await _read(log, since_ns=T0 + 1_000_000_000) == b"two\nthree\n"


async def test_tail_is_taken_before_since(tmp_path: Path) -> None:
    log = _file(tmp_path, (0, "one"), (1, "two"), (2, "three"))
    assert await _read(log, tail_lines=2, since_ns=T0 + 2_000_000_000) == b"three\n"


async def test_timestamps_prefix_each_line(tmp_path: Path) -> None:
    log = _file(tmp_path, (0, "one"), (1.5, "two"))
    assert await _read(log, timestamps=True) == (
        b"2026-01-01T00:00:00.000000000Z one\n2026-01-01T00:00:01.500000000Z two\n"
    )


async def test_limit_bytes_cuts_the_output(tmp_path: Path) -> None:
    log = _file(tmp_path, (0, "one"), (1, "two"))
    assert await _read(log, limit_bytes=6) == b"one\ntw"


async def test_follow_stops_at_the_limit(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "log")
    await log.append(b"abc\n")
    chunks = [c async for c in log.read(follow=True, limit_bytes=2)]
    assert chunks == [b"ab"]


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2026-01-01T00:00:00Z", T0),
        ("2026-01-01T00:00:00.25Z", T0 + 250_000_000),
        ("2026-01-01T01:00:00+01:00", T0),
    ],
)
def test_rfc3339_times_parse(text: str, ns: int) -> None:
    assert parse_timestamp(text) == ns
