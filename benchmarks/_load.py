"""The load generator of the latency benchmark, in its own process so the API server's process
only serves: patches ``--total`` distinct objects at ``--rate`` per second, then reports."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _model import BenchItem, item

from opframe.client import Client


async def drive(kubeconfig: str, namespace: str, total: int, rate: float) -> None:
    async with await Client.from_kubeconfig(kubeconfig) as client:
        loop = asyncio.get_running_loop()
        names = [item(i, namespace).metadata.name or "" for i in range(total)]
        semaphore = asyncio.Semaphore(128)
        failures = 0

        async def patch(name: str) -> None:
            nonlocal failures
            async with semaphore:
                body = {"metadata": {"annotations": {"bench.opframe.dev/sent": repr(time.time())}}}
                try:
                    await client.patch(BenchItem, name, body, namespace=namespace)
                except Exception:
                    failures += 1

        start = loop.time()
        async with asyncio.TaskGroup() as tg:
            for index, name in enumerate(names):
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
                    "sent": total,
                    "failures": failures,
                    "scheduled_rate": total / scheduled,
                    "completed_rate": total / finished,
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
    args = parser.parse_args()
    asyncio.run(drive(args.kubeconfig, args.namespace, args.total, args.rate))


if __name__ == "__main__":
    main()
