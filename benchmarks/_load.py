"""The load generator of the latency benchmark, in its own process so the API server's process
only serves: patches ``--total`` objects at ``--rate`` per second, then reports.

``--kind bench`` touches an annotation of distinct BenchItems; ``--kind work`` changes the spec
(``revision``) of WorkItems, cycling through ``--objects`` of them.

With ``--serve`` the process stays up and runs one load per line of standard input, a JSON
object with ``total``, ``rate`` and ``base``: a benchmark that drives several rates starts one
generator (its imports and connections overlap the operator's startup) instead of one per
rate."""

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
    client: Client, namespace: str, total: int, rate: float, kind: str, objects: int, base: int
) -> None:
    """One load: ``total`` patches at ``rate``; prints its ``load`` line."""
    loop = asyncio.get_running_loop()
    if kind == "work":
        names = [work_item(i % objects, namespace).metadata.name or "" for i in range(total)]
    else:
        names = [item(i, namespace).metadata.name or "" for i in range(total)]
    # A server that cannot take the rate must not stretch the window: nothing is sent after
    # its nominal end (plus a second), and what was sent is reported.
    start = loop.time()
    window = total / rate + 1.0
    semaphore = asyncio.Semaphore(128)
    failures = 0
    sent = 0
    late = 0

    async def patch(name: str) -> None:
        nonlocal failures, sent, late
        async with semaphore:
            if loop.time() - start > window:
                # Still queued behind 128 patches in flight when the window closed: a server
                # that cannot take the rate gets fewer patches, not a longer window.
                late += 1
                return
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
    sent_count -= late
    print(
        json.dumps(
            {
                "event": "load",
                "sent": sent_count,
                "failures": failures,
                "scheduled_rate": sent_count / max(scheduled, 1e-9),
                "completed_rate": sent_count / max(finished, 1e-9),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--total", type=int, default=0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--kind", choices=["bench", "work"], default="bench")
    parser.add_argument("--objects", type=int, default=0, help="work: objects to cycle through")
    parser.add_argument("--base", type=int, default=0, help="work: first revision - 1")
    parser.add_argument("--serve", action="store_true", help="one load per stdin line")
    args = parser.parse_args()
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    async with await Client.from_kubeconfig(args.kubeconfig) as client:
        if not args.serve:
            await drive(
                client, args.namespace, args.total, args.rate, args.kind, args.objects, args.base
            )
            return
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            load = json.loads(line)
            await drive(
                client,
                args.namespace,
                int(load["total"]),
                float(load["rate"]),
                args.kind,
                args.objects,
                int(load.get("base", 0)),
            )


if __name__ == "__main__":
    main()
