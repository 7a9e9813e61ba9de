"""The production-scale sections of ``benchmarks/run.py``: scale, real work, many controllers.

- *scale*: ``--scale-count`` BenchItems (100,000) in their own namespace; the no-op operators
  of the base benchmark start against them: startup to first and to all reconciled, the
  operator process's peak RSS (``VmHWM``) against the objects' JSON size, and kopf the same
  way under a deadline (what it reached is reported when it runs out).
- *children* and *work*: ``--work-count`` WorkItems (10,000) with 3 owned ConfigMaps each; the
  real-work operator (``_opframe_work.py``, ``_kopf_work.py``) starts against them (startup
  to all reconciled, each reconcile doing the real work), then a load generator changes specs
  at each ``--work-rates`` rate: steady-state reconciles/s (reconciles that processed a new
  spec, per second, while the load runs) and, for opframe, event -> reconcile latency.
- *controllers*: 1 and 10 controllers for WorkItem (owning ConfigMaps) in one Manager: the
  informer count and peak RSS must not multiply.

With ``BENCH_SERVER_PROFILE=FILE`` in the environment, the API server (this process) runs
under cProfile, timed in CPU seconds, while the load of opframe's steady phases runs; the
statistics go to FILE (``python -m pstats FILE``).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import HERE, Child, cpu_seconds, log, spawn, vm_hwm
from _model import WorkItem, item, work_item

from opframe.client import Client
from opframe.crd import crd_for
from opframe.errors import NotFound
from opframe.kinds import ConfigMap
from opframe.ownership import set_controller_reference
from opframe.resource import ObjectMeta

__all__ = ["controllers_section", "create_namespace", "scale_section", "work_section"]

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
SCALE_NAMESPACE = "bench-scale"
WORK_NAMESPACE = "bench-work"
CHILDREN = 3
KOPF_GRACE = 0.5
"""Seconds kopf gets to exit once its figures are read before it is killed: it takes about
10 s after SIGTERM, and nothing it does then is measured (waiting for it made ``--quick``
miss its minute)."""


async def create_namespace(client: Client, name: str) -> None:
    await client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": name}})


async def _established(client: Client, path: str) -> None:
    async with asyncio.timeout(30):
        while True:  # the CRD's endpoints appear once it is Established
            try:
                await client.request("GET", path, params={"limit": "1"})
                return
            except NotFound:
                await asyncio.sleep(0.05)


async def _many(count: int, make: Callable[[int], Awaitable[None]], what: str) -> None:
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(32)

    async def one(index: int) -> None:
        async with semaphore:
            await make(index)

    async with asyncio.TaskGroup() as tg:
        for index in range(count):
            tg.create_task(one(index))
    log(f"created {count} {what} in {time.perf_counter() - started:.1f}s")


async def _json_bytes(client: Client, path: str) -> tuple[int, int]:
    """Total compact JSON size of the objects under ``path`` (as listed) and their count."""
    listed = await client.request("GET", path)
    items = listed["items"]
    return sum(len(json.dumps(o, separators=(",", ":"))) for o in items), len(items)


def _noop_args(script: str, kubeconfig: str, namespace: str, count: int) -> list[str]:
    return [
        sys.executable,
        str(HERE / script),
        "operator",
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        namespace,
        "--expect",
        str(count),
    ]


def _kopf_args(script: str, namespace: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "kopf",
        "run",
        "--standalone",
        "--namespace",
        namespace,
        "--quiet",
        str(HERE / script),
    ]


async def _startup(child: Child, spawned: float, count: int, deadline: float) -> dict[str, Any]:
    """Startup figures of a child that reports ``first_reconcile`` and ``all_reconciled``;
    on timeout, how many it had reached."""
    started = time.monotonic()
    try:
        first = await child.wait("first_reconcile", deadline)
        done = await child.wait("all_reconciled", max(1.0, deadline - (time.monotonic() - started)))
    except (TimeoutError, RuntimeError) as exc:
        log(f"{child.name}: not all {count} reconciled within {deadline:.0f}s ({exc!r})")
        return {"first_s": None, "all_s": None, "reached": child.count, "rss": vm_hwm(child.pid)}
    return {
        "first_s": first["t"] - spawned,
        "all_s": done["t"] - spawned,
        "reached": count,
        "rss": vm_hwm(child.pid),
    }


async def scale_section(
    client: Client, kubeconfig: str, count: int, kopf_deadline: float, skip_kopf: bool
) -> dict[str, Any]:
    """100,000 no-op reconciles from a cold start, opframe and kopf."""
    await create_namespace(client, SCALE_NAMESPACE)

    async def make(index: int) -> None:
        await client.create(item(index, SCALE_NAMESPACE))

    await _many(count, make, "BenchItems")
    json_bytes, listed = await _json_bytes(
        client, f"/apis/bench.opframe.dev/v1/namespaces/{SCALE_NAMESPACE}/benchitems"
    )
    assert listed == count, f"listed {listed} of {count}"
    spawned = time.time()
    async with spawn(
        _noop_args("_opframe_noop.py", kubeconfig, SCALE_NAMESPACE, count), "opframe"
    ) as child:
        ours = await _startup(child, spawned, count, 300)
        await child.send("report")
    log(f"scale: opframe reconciled {count} in {ours['all_s']}s, peak RSS {ours['rss'] >> 20} MiB")
    kopf: dict[str, Any] = {"first_s": None, "all_s": None, "reached": None, "rss": None}
    if not skip_kopf:
        spawned = time.time()
        env = {"KUBECONFIG": kubeconfig, "BENCH_EXPECT": str(count)}
        kopf_args = _kopf_args("_kopf_noop.py", SCALE_NAMESPACE)
        async with spawn(kopf_args, "kopf", env, grace=KOPF_GRACE) as child:
            kopf = await _startup(child, spawned, count, kopf_deadline)
        log(f"scale: kopf reached {kopf['reached']} of {count}, all at {kopf['all_s']}")
    return {
        "scale_objects": count,
        "scale_startup_to_first_s": _r(ours["first_s"]),
        "scale_startup_to_all_s": _r(ours["all_s"]),
        "scale_rss_bytes": ours["rss"],
        "scale_json_bytes": json_bytes,
        "scale_kopf_startup_to_first_s": _r(kopf["first_s"]),
        "scale_kopf_startup_to_all_s": _r(kopf["all_s"]),
        "scale_kopf_reached": kopf["reached"],
        "scale_kopf_deadline_s": kopf_deadline,
        "scale_kopf_rss_bytes": kopf["rss"],
    }


async def prepare_work(client: Client, count: int) -> tuple[int, int]:
    """``count`` WorkItems with 3 owned ConfigMaps each; their total JSON size and count."""
    await create_namespace(client, WORK_NAMESPACE)
    await client.request("POST", CRD_PATH, body=crd_for(WorkItem))
    path = f"/apis/bench.opframe.dev/v1/namespaces/{WORK_NAMESPACE}/workitems"
    await _established(client, path)

    async def make(index: int) -> None:
        parent = await client.create(work_item(index, WORK_NAMESPACE))
        for n in range(CHILDREN):
            child = ConfigMap(
                metadata=ObjectMeta(name=f"{parent.metadata.name}-{n}", namespace=WORK_NAMESPACE),
                data={"revision": "0", "role": f"child-{n}"},
            )
            set_controller_reference(parent, child)
            await client.create(child)

    await _many(count, make, f"WorkItems with {CHILDREN} ConfigMaps each")
    parents, listed = await _json_bytes(client, path)
    children, _ = await _json_bytes(client, f"/api/v1/namespaces/{WORK_NAMESPACE}/configmaps")
    return parents + children, listed


def _load_args(kubeconfig: str, count: int) -> list[str]:
    """A load generator (``_load.py --serve``) changing the specs of ``count`` WorkItems."""
    return [
        sys.executable,
        str(HERE / "_load.py"),
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        WORK_NAMESPACE,
        "--kind",
        "work",
        "--objects",
        str(count),
        "--serve",
    ]


async def _steady(
    child: Child,
    load: Child,
    rate: float,
    seconds: float,
    base: int,
    profiler: cProfile.Profile | None = None,
) -> dict[str, Any]:
    """Drive spec changes at ``rate`` through ``load``; reconciles that processed a new spec
    per second, and the CPU milliseconds the API server (this process) and the operator spent
    per spec change.

    CPU time, unlike wall time, does not grow when other work shares the machine, so the CPU
    figures compare runs made under different loads."""
    n0, t0 = await child.next_count()
    server0, operator0 = _own_cpu(), cpu_seconds(child.pid)
    total = int(rate * seconds)
    if profiler is not None:
        profiler.enable()
    await load.send(json.dumps({"total": total, "rate": rate, "base": base}))
    done = await load.wait("load", 120 + seconds * 4)
    n1, t1 = await child.next_count()
    if profiler is not None:
        profiler.disable()
    server, operator = _own_cpu() - server0, cpu_seconds(child.pid) - operator0
    if done["failures"]:
        log(f"{done['failures']} spec patches failed")
    changes = max(int(done["sent"]) - int(done["failures"]), 1)
    return {
        "reconciles_per_s": (n1 - n0) / max(t1 - t0, 1e-9),
        "achieved_rate": float(done["completed_rate"]),
        "server_cpu_ms_per_change": round(server / changes * 1000, 3),
        "operator_cpu_ms_per_reconcile": round(operator / max(n1 - n0, 1) * 1000, 3),
    }


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


async def work_section(
    client: Client,
    kubeconfig: str,
    count: int,
    rates: list[float],
    seconds: float,
    workers: int,
    kopf_deadline: float,
    skip_kopf: bool,
) -> dict[str, Any]:
    """Startup with real work on parents with children, then steady state under load."""
    json_bytes, listed = await prepare_work(client, count)
    assert listed == count, f"listed {listed} of {count}"
    by_rate: dict[str, dict[str, Any]] = {str(int(r)): {} for r in rates}
    spawned = time.time()
    args = _noop_args("_opframe_work.py", kubeconfig, WORK_NAMESPACE, count)
    async with (
        spawn([*args, "--workers", str(workers)], "opframe-work") as child,
        spawn(_load_args(kubeconfig, count), "load") as load,
    ):
        ours = await _startup(child, spawned, count, 300)
        log(f"work: opframe reconciled {count} parents in {ours['all_s']}s")
        profile = os.environ.get("BENCH_SERVER_PROFILE")
        profiler = cProfile.Profile(time.process_time) if profile else None
        for i, rate in enumerate(rates):
            steady = await _steady(child, load, rate, seconds, (i + 1) * 1_000_000, profiler)
            await asyncio.sleep(0.5)  # let the last events arrive before reading latencies
            await child.send("report")
            latency = await child.wait("latency", 30)
            by_rate[str(int(rate))].update(
                opframe_reconciles_per_s=round(steady["reconciles_per_s"], 1),
                opframe_achieved_rate=round(steady["achieved_rate"], 1),
                latency_p50_ms=_ms(latency["p50"]),
                latency_p99_ms=_ms(latency["p99"]),
                latency_samples=latency["samples"],
                server_cpu_ms_per_change=steady["server_cpu_ms_per_change"],
                operator_cpu_ms_per_reconcile=steady["operator_cpu_ms_per_reconcile"],
            )
            log(f"work at {rate:.0f}/s: opframe {by_rate[str(int(rate))]}")
        if profiler is not None and profile:
            profiler.dump_stats(profile)
        ours_rss = vm_hwm(child.pid)
        await child.send("quit")
    kopf: dict[str, Any] = {"first_s": None, "all_s": None, "reached": None}
    if not skip_kopf:
        base = 10_000_000  # revisions above every opframe one: each patch changes the spec
        spawned = time.time()
        env = {"KUBECONFIG": kubeconfig, "BENCH_EXPECT": str(count)}
        kopf_args = _kopf_args("_kopf_work.py", WORK_NAMESPACE)
        async with (
            spawn(kopf_args, "kopf-work", env, grace=KOPF_GRACE) as child,
            spawn(_load_args(kubeconfig, count), "load") as load,
        ):
            kopf = await _startup(child, spawned, count, kopf_deadline)
            log(f"work: kopf reached {kopf['reached']} of {count}, all at {kopf['all_s']}")
            for i, rate in enumerate(rates):
                steady = await _steady(child, load, rate, seconds, base * (i + 1))
                by_rate[str(int(rate))].update(
                    kopf_reconciles_per_s=round(steady["reconciles_per_s"], 1),
                    kopf_achieved_rate=round(steady["achieved_rate"], 1),
                )
                log(f"work at {rate:.0f}/s: kopf {steady}")
    first_rate = by_rate[str(int(rates[0]))]
    top_rate = by_rate[str(int(rates[-1]))]
    return {
        "children_parents": count,
        "children_per_parent": CHILDREN,
        "children_startup_to_first_s": _r(ours["first_s"]),
        "children_startup_to_all_s": _r(ours["all_s"]),
        "children_rss_bytes": ours_rss,
        "children_json_bytes": json_bytes,
        "children_kopf_startup_to_all_s": _r(kopf["all_s"]),
        "children_kopf_reached": kopf["reached"],
        "work_rate": rates[0],
        "work_latency_p50_ms": first_rate.get("latency_p50_ms"),
        "work_latency_p99_ms": first_rate.get("latency_p99_ms"),
        "work_opframe_reconciles_per_s": top_rate.get("opframe_reconciles_per_s"),
        "work_kopf_reconciles_per_s": top_rate.get("kopf_reconciles_per_s"),
        "work_throughput_rate": rates[-1],
        "work_by_rate": by_rate,
    }


async def controllers_section(kubeconfig: str, count: int, controllers: int) -> dict[str, Any]:
    """1 and ``controllers`` controllers over the work objects in one Manager."""
    figures: dict[int, dict[str, Any]] = {}
    for n in (1, controllers):
        args = _noop_args("_opframe_work.py", kubeconfig, WORK_NAMESPACE, count)
        args[2] = "controllers"
        async with spawn([*args, "--controllers", str(n)], f"controllers-{n}") as child:
            report = await child.wait("controllers", 300)
            figures[n] = {"informers": report["informers"], "rss": vm_hwm(child.pid)}
            await child.send("quit")
        log(f"{n} controllers: {figures[n]}")
    return {
        "controllers": controllers,
        "controllers_informers": figures[controllers]["informers"],
        "controllers_rss_bytes": figures[controllers]["rss"],
        "controllers_one_informers": figures[1]["informers"],
        "controllers_one_rss_bytes": figures[1]["rss"],
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _ms(value: float) -> float | None:
    return None if value != value else round(value * 1000, 3)


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")
