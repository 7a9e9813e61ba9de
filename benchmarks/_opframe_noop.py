"""The opframe side of the benchmark, run as a subprocess by ``benchmarks/run.py``.

Modes:

- ``operator``: a Manager with one no-op controller for ``BenchItem``. Prints one JSON line at
  the first reconcile and one when ``--expect`` objects were reconciled; then measures, for
  every later reconcile of an object whose watch event arrived meanwhile, the time from the
  event reaching the informer to the reconcile starting. A ``report`` line on stdin prints
  those latencies and exits.
- ``memory``: a bare informer cache under ``tracemalloc``; prints the bytes the synced store
  holds per object.
"""

from __future__ import annotations

import time

STARTED = time.time()  # before the imports: startup includes them

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from _model import BenchItem  # noqa: E402

from opframe.cache import Cache  # noqa: E402
from opframe.client import Client  # noqa: E402
from opframe.controller import Controller  # noqa: E402
from opframe.manager import Manager  # noqa: E402
from opframe.reconcile import Context  # noqa: E402

IMPORTED = time.time()


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def operator(kubeconfig: str, namespace: str, expect: int, workers: int) -> None:
    client = await Client.from_kubeconfig(kubeconfig)
    manager = Manager(client, namespace=namespace, health_address=None, metrics_address=None)
    arrivals: dict[tuple[str, str], float] = {}
    latencies: list[float] = []
    reconciled = 0
    first: float | None = None
    measuring = False
    marks: dict[str, float] = {}

    def on_event(event: Any) -> None:
        # Registered before the controller's handler: stamps the event as the informer gets it.
        if measuring and event.type == "MODIFIED":
            arrivals.setdefault(event.ref, time.perf_counter())

    manager.cache.informer(BenchItem, namespace=namespace).add_handler(on_event)

    async def reconcile(ctx: Context, obj: BenchItem) -> None:
        nonlocal reconciled, first, measuring
        now = time.perf_counter()
        arrived = arrivals.pop(ctx.ref, None)
        if arrived is not None:
            latencies.append(now - arrived)
            return
        reconciled += 1
        if first is None:
            first = time.time()
            emit(event="first_reconcile", t=first, imported=IMPORTED, synced=marks["synced"])
        if reconciled == expect:
            emit(event="all_reconciled", t=time.time(), first=first, count=reconciled)
            measuring = True

    manager.add(Controller(for_=BenchItem, reconciler=reconcile, max_concurrent_reconciles=workers))
    run = asyncio.create_task(manager.run(handle_signals=False))
    await manager.wait_ready()
    marks["synced"] = time.time()  # before any worker runs: they start after this wakes up
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            if line.strip() == b"report":
                ordered = sorted(latencies)
                emit(
                    event="latency",
                    samples=len(ordered),
                    p50=percentile(ordered, 0.50),
                    p99=percentile(ordered, 0.99),
                    max=ordered[-1] if ordered else float("nan"),
                )
                break
    finally:
        manager.stop()
        await run
        await client.close()


async def memory(kubeconfig: str, namespace: str, expect: int) -> None:
    client = await Client.from_kubeconfig(kubeconfig)
    cache = Cache(client)
    informer = cache.informer(BenchItem, namespace=namespace)
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    async with cache:
        await cache.wait_for_sync()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - baseline
        count = len(informer.store)
        sample = informer.store.list()[0]
        emit(
            event="memory",
            bytes=held,
            objects=count,
            per_object=held / max(count, 1),
            typed=type(sample).__name__,
            expected=expect,
        )
    tracemalloc.stop()
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["operator", "memory"])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.mode == "operator":
        asyncio.run(operator(args.kubeconfig, args.namespace, args.expect, args.workers))
    else:
        asyncio.run(memory(args.kubeconfig, args.namespace, args.expect))


if __name__ == "__main__":
    main()
