"""Requests per second of the embedded API server: get, list of 10,000 objects, create, and
watch fan-out to 50 watchers.

    .venv/bin/python benchmarks/apiserver.py [--objects 10000] [--watchers 50] [--tls]

The server runs in its own process (``python -m opframe.testing.apiserver``) so the client's
work does not count against it; everything stays on 127.0.0.1 and the run is bounded (a few
thousand requests per phase). Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import ssl
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from _process import stop

NAMESPACE = "bench"
WATCH_NAMESPACE = "bench-watch"


async def _start_server(state_dir: Path, tls: bool) -> asyncio.subprocess.Process:
    args = [sys.executable, "-m", "opframe.testing.apiserver", "--state-dir", str(state_dir)]
    if not tls:
        args.append("--plain-http")
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        await proc.stdout.readline()  # the URL, printed once the server listens
    return proc


async def _run_concurrently(
    total: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> float:
    """Run ``one(i)`` for i in range(total) with ``concurrency`` workers; elapsed seconds."""
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            await one(i)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for _ in range(concurrency):
            tg.create_task(worker())
    return time.perf_counter() - started


def _report(name: str, count: int, seconds: float, unit: str = "requests") -> None:
    print(
        f"{name:<34} {count:>7} {unit:<9} {seconds:7.2f} s  {count / seconds:10.0f} {unit}/s",
        flush=True,
    )


def _configmap(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"key": "x" * 200, "other": name},
    }


async def _bench(session: aiohttp.ClientSession, base: str, objects: int, watchers: int) -> None:
    core = f"{base}/api/v1"

    async def post(url: str, body: object) -> None:
        async with session.post(url, json=body) as resp:
            if resp.status != 201:
                raise RuntimeError(f"POST {url}: {resp.status} {await resp.text()}")
            await resp.read()

    for ns in (NAMESPACE, WATCH_NAMESPACE):
        await post(f"{core}/namespaces", {"metadata": {"name": ns}})

    creates = f"{core}/namespaces/{NAMESPACE}/configmaps"
    seconds = await _run_concurrently(
        objects, 32, lambda i: post(creates, _configmap(f"cm-{i:05d}"))
    )
    _report("create configmap (32 concurrent)", objects, seconds)

    gets = min(objects, 5000)

    async def get(_: int) -> None:
        name = f"cm-{random.randrange(objects):05d}"
        async with session.get(f"{creates}/{name}") as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET {name}: {resp.status}")

    _report("get configmap (32 concurrent)", gets, await _run_concurrently(gets, 32, get))

    lists = 20

    async def list_all(_: int) -> None:
        async with session.get(creates) as resp:
            body = await resp.json()
            if len(body["items"]) != objects:
                raise RuntimeError(f"list returned {len(body['items'])} items")

    seconds = await _run_concurrently(lists, 2, list_all)
    _report(f"list of {objects} configmaps", lists, seconds)
    _report("  objects listed", lists * objects, seconds, "objects")

    events = 1000
    watch_url = f"{core}/namespaces/{WATCH_NAMESPACE}/configmaps?watch=true&timeoutSeconds=120"
    ready = asyncio.Semaphore(0)
    received = [0] * watchers

    async def watch(index: int) -> None:
        async with session.get(watch_url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
            ready.release()
            async for _ in resp.content:
                received[index] += 1
                if received[index] == events:
                    return

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(watch(i)) for i in range(watchers)]
        for _ in range(watchers):
            await ready.acquire()
        started = time.perf_counter()
        target = f"{core}/namespaces/{WATCH_NAMESPACE}/configmaps"
        await _run_concurrently(events, 8, lambda i: post(target, _configmap(f"w-{i:05d}")))
        async with asyncio.timeout(120):
            await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started
    _report(f"watch fan-out: {events} creates", events, seconds)
    _report(f"  events delivered to {watchers} watchers", events * watchers, seconds, "events")


async def main(argv: list[str] | None = None) -> None:
    """Start a server process, run every phase once, stop the server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--tls", action="store_true", help="benchmark over HTTPS")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="opframe-bench-") as tmp:
        state_dir = Path(tmp)
        proc = await _start_server(state_dir, args.tls)
        try:
            kubeconfig = (state_dir / "kubeconfig").read_text()
            base = next(
                line.split("server:", 1)[1].strip()
                for line in kubeconfig.splitlines()
                if "server:" in line
            )
            token = (state_dir / "token").read_text().strip()
            ssl_ctx: ssl.SSLContext | bool = False
            if args.tls:
                ssl_ctx = ssl.create_default_context(cafile=str(state_dir / "pki" / "ca.crt"))
            connector = aiohttp.TCPConnector(limit=200, ssl=ssl_ctx)
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
                print(f"embedded API server at {base} (pid {proc.pid}), client pid {os.getpid()}")
                await _bench(session, base, args.objects, args.watchers)
        finally:
            await stop(proc)


if __name__ == "__main__":
    asyncio.run(main())
