"""CPU cost of the embedded API server's write path: milliseconds of server CPU per write.

    .venv/bin/python benchmarks/writes.py [--objects 1000] [--patches 3000] [--profile FILE]

The server runs in this process; a load generator (``_load.py``, a subprocess) merge-patches
the specs of ``--objects`` WorkItems (the real-work benchmark's custom resource) ``--patches``
times, and this process's own CPU time (user + system, not wall time) is divided by the
writes. CPU time rather than wall time because the machine is shared: other processes slow a
run down but do not add to its CPU seconds, so a before/after pair stays comparable under
load. With ``--profile`` the write phase runs under cProfile and the statistics go to FILE.
Prints one line per figure; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import HERE, log, spawn
from _model import WorkItem, work_item
from _production import _established, _many, create_namespace

from opframe.client import Client
from opframe.crd import crd_for
from opframe.testing.apiserver import ApiServer

NAMESPACE = "bench-writes"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


async def main(args: argparse.Namespace) -> None:
    async with ApiServer() as server, await Client.from_kubeconfig(server.kubeconfig) as client:
        await create_namespace(client, NAMESPACE)
        await client.request("POST", CRD_PATH, body=crd_for(WorkItem))
        await _established(client, f"/apis/bench.opframe.dev/v1/namespaces/{NAMESPACE}/workitems")

        async def make(index: int) -> None:
            await client.create(work_item(index, NAMESPACE))

        await _many(args.objects, make, "WorkItems")
        load = [
            sys.executable,
            str(HERE / "_load.py"),
            "--kubeconfig",
            str(server.kubeconfig),
            "--namespace",
            NAMESPACE,
            "--kind",
            "work",
            "--objects",
            str(args.objects),
            "--base",
            "1000",
            "--total",
            str(args.patches),
            "--rate",
            str(args.rate),
        ]
        profiler = cProfile.Profile() if args.profile else None
        cpu, wall = _cpu(), time.monotonic()
        if profiler is not None:
            profiler.enable()
        async with spawn(load, "load") as child:
            done = await child.wait("load", 600)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        cpu, wall = _cpu() - cpu, time.monotonic() - wall
        writes = int(done["sent"]) - int(done["failures"])
        log(f"{writes} patches, {done['failures']} failed")
        print(f"server CPU per patch       {cpu / max(writes, 1) * 1000:8.3f} ms")
        print(f"patches/s (wall, shared)   {writes / wall:8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--patches", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=5000.0, help="patches/s requested")
    parser.add_argument("--profile", help="write cProfile statistics of the write phase here")
    asyncio.run(main(parser.parse_args()))
