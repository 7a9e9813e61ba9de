"""The opframe real-work operator of the benchmark, run as a subprocess by ``benchmarks/run.py``.

Modes:

- ``operator``: a Manager with one controller for ``WorkItem`` owning ConfigMaps. Each reconcile
  does what docs/tutorial.md's operator does: reads the parent's children from the cache (the
  built-in owner index), server-side-applies one child ConfigMap, and patches the status only
  when it changed. Prints ``first_reconcile`` and ``all_reconciled`` (every parent reconciled
  once), a ``count`` line every 0.2 s (reconciles that wrote a status, i.e. processed a new
  spec, and all reconciles), and on ``report`` (stdin) the
  event -> reconcile latencies of spec changes (from the watch event reaching the informer to
  the reconcile starting).
- ``controllers``: ``--controllers`` controllers in one Manager, all for ``WorkItem`` owning
  ConfigMaps, no-op reconcilers; prints the informer count and the store sizes once every
  parent was reconciled by every controller (the parent reads VmHWM).
"""

from __future__ import annotations

import time

STARTED = time.time()  # before the imports: startup includes them

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from _model import WorkItem  # noqa: E402

from opframe._store import INDEX_OWNER  # noqa: E402
from opframe.client import Client  # noqa: E402
from opframe.controller import Controller  # noqa: E402
from opframe.kinds import ConfigMap  # noqa: E402
from opframe.manager import Manager  # noqa: E402
from opframe.ownership import set_controller_reference  # noqa: E402
from opframe.predicates import generation_changed  # noqa: E402
from opframe.reconcile import Context  # noqa: E402
from opframe.resource import ObjectMeta  # noqa: E402

IMPORTED = time.time()
FIELD_MANAGER = "bench-work"


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def work(ctx: Context, obj: WorkItem) -> bool:
    """The tutorial's reconcile: children from the cache, one apply, status only if changed."""
    meta = obj.metadata
    name, namespace = meta.name or "", meta.namespace or ""
    children = ctx.cache.by_index(ConfigMap, INDEX_OWNER, meta.uid or "")
    child = ConfigMap(
        metadata=ObjectMeta(name=f"{name}-0", namespace=namespace),
        data={"revision": str(obj.spec.revision)},
    )
    set_controller_reference(obj, child)
    await ctx.client.apply(child, field_manager=FIELD_MANAGER, force=True)
    status = obj.status
    if status.observed_revision != obj.spec.revision or status.children != len(children):
        body = {"status": {"observedRevision": obj.spec.revision, "children": len(children)}}
        await ctx.client.patch_status(WorkItem, name, body, namespace=namespace)
        return True
    return False


async def _ticker(counter: dict[str, int]) -> None:
    while True:
        emit(event="count", n=counter["n"], calls=counter["calls"], t=time.time())
        await asyncio.sleep(0.2)  # a progress report, not synchronisation


async def _stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def operator(kubeconfig: str, namespace: str, expect: int, workers: int) -> None:
    client = await Client.from_kubeconfig(kubeconfig)
    manager = Manager(client, namespace=namespace, health_address=None, metrics_address=None)
    arrivals: dict[Any, float] = {}
    latencies: list[float] = []
    seen: set[Any] = set()
    counter = {"n": 0, "calls": 0}  # n: reconciles that wrote a new status
    first: float | None = None
    state = {"measuring": False}

    def on_event(event: Any) -> None:
        # Registered before the controller's handler: stamps a spec change as it arrives.
        if state["measuring"] and event.type == "MODIFIED":
            old = event.old
            if old is None or old.metadata.generation != event.object.metadata.generation:
                arrivals.setdefault(event.ref, time.perf_counter())

    manager.cache.informer(WorkItem, namespace=namespace).add_handler(on_event)

    async def reconcile(ctx: Context, obj: WorkItem) -> None:
        nonlocal first
        arrived = arrivals.pop(ctx.ref, None)
        if arrived is not None:
            latencies.append(time.perf_counter() - arrived)
        if await work(ctx, obj):
            counter["n"] += 1
        counter["calls"] += 1
        if first is None:
            first = time.time()
            emit(event="first_reconcile", t=first, imported=IMPORTED)
        if len(seen) < expect:
            seen.add(ctx.ref)
            if len(seen) == expect:
                emit(event="all_reconciled", t=time.time(), first=first, count=expect)
                state["measuring"] = True

    manager.add(
        Controller(
            for_=WorkItem,
            reconciler=reconcile,
            max_concurrent_reconciles=workers,
            predicates=[generation_changed],
        ).owns(ConfigMap)
    )
    run = asyncio.create_task(manager.run(handle_signals=False))
    ticker = asyncio.create_task(_ticker(counter))
    reader = await _stdin_lines()
    try:
        while line := await reader.readline():
            if line.strip() == b"report":
                ordered = sorted(latencies)
                latencies.clear()
                emit(
                    event="latency",
                    samples=len(ordered),
                    p50=percentile(ordered, 0.50),
                    p99=percentile(ordered, 0.99),
                    max=ordered[-1] if ordered else float("nan"),
                )
            elif line.strip() == b"quit":
                break
    finally:
        ticker.cancel()
        manager.stop()
        await run
        await client.close()


async def controllers(kubeconfig: str, namespace: str, expect: int, count: int) -> None:
    client = await Client.from_kubeconfig(kubeconfig)
    manager = Manager(client, namespace=namespace, health_address=None, metrics_address=None)
    done = asyncio.Event()
    seen: dict[str, set[Any]] = {}

    def make(name: str) -> Any:
        refs = seen[name] = set()

        async def reconcile(ctx: Context, obj: WorkItem) -> None:
            refs.add(ctx.ref)
            if all(len(s) >= expect for s in seen.values()):
                done.set()

        return reconcile

    for n in range(count):
        name = f"work-{n}"
        manager.add(Controller(for_=WorkItem, reconciler=make(name), name=name).owns(ConfigMap))
    run = asyncio.create_task(manager.run(handle_signals=False))
    await done.wait()
    informers = list(manager.cache.informers())
    emit(
        event="controllers",
        controllers=count,
        informers=len(informers),
        stored=sum(len(i.store) for i in informers),
        t=time.time(),
    )
    reader = await _stdin_lines()
    await reader.readline()
    manager.stop()
    await run
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["operator", "controllers"])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--controllers", type=int, default=10)
    args = parser.parse_args()
    if args.mode == "operator":
        asyncio.run(operator(args.kubeconfig, args.namespace, args.expect, args.workers))
    else:
        asyncio.run(controllers(args.kubeconfig, args.namespace, args.expect, args.controllers))


if __name__ == "__main__":
    main()
