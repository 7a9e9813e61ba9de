"""Probe checks and kubelet's thresholds; the CrashLoopBackOff schedule."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from aiohttp import web

from opframe.testing.kubelet.container import Backoff, should_restart
from opframe.testing.kubelet.probes import ProbeResult, ProbeSpec, ProbeWorker, check_once


async def _no_exec(argv: Sequence[str], limit: float) -> tuple[int, str]:
    return 1, "no exec here"


async def _serve(status: int) -> tuple[web.AppRunner, int]:
    async def health(request: web.Request) -> web.Response:
        return web.Response(status=status, text="{}")

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


async def test_http_probe_succeeds_on_2xx_by_named_port() -> None:
    runner, port = await _serve(200)
    try:
        spec = ProbeSpec.from_dict({"httpGet": {"path": "/health", "port": "client"}})
        result = await check_once(
            spec, pod_ip="127.0.0.1", ports={"client": port}, run_exec=_no_exec
        )
        assert result.ok
    finally:
        await runner.cleanup()


async def test_http_probe_fails_on_5xx_with_the_status_in_the_message() -> None:
    runner, port = await _serve(503)
    try:
        spec = ProbeSpec.from_dict({"httpGet": {"path": "/health", "port": port}})
        result = await check_once(spec, pod_ip="127.0.0.1", ports={}, run_exec=_no_exec)
        assert not result.ok
        assert "statuscode: 503" in result.message
    finally:
        await runner.cleanup()


async def test_tcp_probe_fails_on_a_closed_port() -> None:
    spec = ProbeSpec.from_dict({"tcpSocket": {"port": 1}})
    assert not (await check_once(spec, pod_ip="127.0.0.1", ports={}, run_exec=_no_exec)).ok


async def test_exec_probe_uses_the_exit_code() -> None:
    async def ok(argv: Sequence[str], limit: float) -> tuple[int, str]:
        return 0, ""

    spec = ProbeSpec.from_dict({"exec": {"command": ["true"]}})
    assert (await check_once(spec, pod_ip="127.0.0.1", ports={}, run_exec=ok)).ok


async def test_result_flips_only_after_failure_threshold() -> None:
    outcomes = iter([True, False, False, False, True])
    changes: list[bool] = []
    flipped = asyncio.Event()

    async def check() -> ProbeResult:
        return ProbeResult(next(outcomes, True))

    async def on_change(result: ProbeResult) -> None:
        changes.append(result.ok)
        if not result.ok:
            flipped.set()

    spec = ProbeSpec(handler={}, period=0.01, failure_threshold=3)
    worker = ProbeWorker(spec, initial=False, check=check, on_change=on_change)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(5):
            await flipped.wait()
    finally:
        task.cancel()
    assert changes == [True, False]


def test_backoff_restarts_at_once_then_doubles_to_the_cap() -> None:
    backoff = Backoff(10, 40)
    assert [backoff.next_delay(1) for _ in range(5)] == [0, 10, 20, 40, 40]


def test_backoff_resets_after_a_long_run() -> None:
    backoff = Backoff(10, 40)
    backoff.next_delay(1)
    backoff.next_delay(1)
    assert backoff.next_delay(81) == 0


@pytest.mark.parametrize(
    ("policy", "code", "init", "restart"),
    [
        ("Always", 0, False, True),
        ("Always", 1, False, True),
        ("Always", 0, True, False),
        ("OnFailure", 0, False, False),
        ("OnFailure", 2, False, True),
        ("Never", 2, False, False),
        ("Never", 2, True, False),
    ],
)
def test_restart_policy_decides_restarts(policy: str, code: int, init: bool, restart: bool) -> None:
    assert should_restart(policy, code, init) is restart


async def test_unknown_startup_result_reports_failure_after_threshold() -> None:
    changes: list[bool] = []
    flipped = asyncio.Event()

    async def check() -> ProbeResult:
        return ProbeResult(False, "down")

    async def on_change(result: ProbeResult) -> None:
        changes.append(result.ok)
        flipped.set()

    spec = ProbeSpec(handler={}, period=0.01, failure_threshold=2)
    task = asyncio.create_task(
        ProbeWorker(spec, initial=None, check=check, on_change=on_change).run()
    )
    try:
        async with asyncio.timeout(5):
            await flipped.wait()
    finally:
        task.cancel()
    assert changes == [False]
