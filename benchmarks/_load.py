"""The load generator of the latency benchmark, in its own process so the API server's process
only serves: patches ``--total`` objects at ``--rate`` per second, then reports.

``--kind bench`` touches an annotation of distinct BenchItems; ``--kind work`` changes the spec
(``revision``) of WorkItems, cycling through ``--objects`` of them."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _model import BenchItem, WorkItem, item, work_item

from opframe.client import Client


async def drive(
    kubeconfig: str, namespace: str, total: int, rate: float, kind: str, objects: int, base: int
) -> None:
    async with await Client.from_kubeconfig(kubeconfig) as client:
        loop = asyncio.get_running_loop()
        if kind == "work":
            names = [work_item(i % objects, namespace).metadata.name or "" for i in range(total)]
        else:
            names = [item(i, namespace).metadata.name or "" for i in range(total)]
        semaphore = asyncio.Semaphore(128)
        failures = 0
        sent = 0

        async def patch(name: str) -> None:
            nonlocal failures, sent
            async with semaphore:
                try:
                    if kind == "work":
                        sent += 1
                        body: dict[str, object] = {"spec": {"revision": base + sent}}
                        await client.patch(WorkItem, name, body, namespace=namespace)
                    else:
                        stamp = repr(time.time())
                        body = {"metadata": {"annotations": {"bench.opframe.dev/sent": stamp}}}
                        await client.patch(BenchItem, name, body, namespace=namespace)
                except Exception:
                    failures += 1

        start = loop.time()
        # A server that cannot take the rate must not stretch the window: stop sending at its
        # nominal end (plus a second) and report what was sent.
        window = total / rate + 1.0
        sent_count = 0
        async with asyncio.TaskGroup() as tg:
            for index, name in enumerate(names):
                if loop.time() - start > window:
                    break
                sent_count += 1
                delay = start + index / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)  # pacing the load, not synchronising
                tg.create_task(patch(name))
            scheduled = loop.time() - start
        finished = loop.time() - start
        print(
            json.dumps(
                {
                    "event": "load",
                    "sent": sent_count,
                    "failures": failures,
                    "scheduled_rate": sent_count / scheduled,
                    "completed_rate": sent_count / finished,
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--kind", choices=["bench", "work"], default="bench")
    parser.add_argument("--objects", type=int, default=0, help="work: objects to cycle through")
    parser.add_argument("--base", type=int, default=0, help="work: first revision - 1")
    args = parser.parse_args()
    asyncio.run(
        drive(
            args.kubeconfig,
            args.namespace,
            args.total,
            args.rate,
            args.kind,
            args.objects,
            args.base,
        )
    )


if __name__ == "__main__":
    main()
