"""opframe's runtime benchmark, side by side with kopf, on one embedded API server (DESIGN.md §6).

::

    .venv/bin/python benchmarks/run.py            # 10,000 objects (a few minutes)
    .venv/bin/python benchmarks/run.py --quick    # 1,000 objects (well under a minute)
    .venv/bin/python benchmarks/run.py --json     # also one JSON object on the last line

What it measures, in one run against one in-process embedded API server (loopback only):

1. ``json_bytes_per_object``: the compact JSON size of the objects as the server lists them.
2. opframe (a subprocess with a Manager and one no-op controller):
   ``startup_to_first_reconcile_s`` from spawning the process (interpreter start and imports
   included) with all objects existing; ``opframe_reconciles_per_s`` from the first to the last
   of the initial reconciles; then ``latency_p50_ms``/``latency_p99_ms``, the time from a watch
   event reaching the informer to its reconcile starting, while this process patches objects at
   ``--rate`` events per second.
3. kopf (``kopf run`` in a subprocess, ``@kopf.on.event`` no-op handler):
   ``kopf_reconciles_per_s`` measured the same way.
4. ``cache_bytes_per_object``: what a synced informer store holds per object (tracemalloc, in
   a separate subprocess), reads still returning typed models.

Then the production sections (issue 19; ``--sections`` picks them, default all):

5. *scale* (``_production.py``): 100,000 objects, startup to first and to all reconciled, the
   operator's peak RSS (``VmHWM``) against the objects' JSON size; kopf under a deadline.
6. *work*: 10,000 parents with 3 owned ConfigMaps each; a reconcile reads the children from
   the cache, server-side-applies one and patches the status only when it changed; startup,
   then reconciles/s and event -> reconcile latency while specs change at 1,000 and 5,000/s.
7. *controllers*: 1 and 10 controllers in one Manager (informers shared, memory flat).
8. *etcd* (``_etcd_bench.py``): the etcd operator on a LocalCluster with real etcd: 10
   EtcdClusters created at once until all Available, then its CPU with 20 idle clusters.
9. *backup* (``etcd_backup.py``, in its own process, whose memory it measures): snapshot
   throughput to S3 (moto) and peak memory of the backup path for databases of 50 and 200 MB
   (``--backup-sizes``); memory must not grow with the database. Skipped with ``--quick``.

Every figure is printed next to its target. ``--quick`` shrinks every section (and skips
*backup*, which needs minutes to grow a 200 MB database).

Both operators run as subprocesses of this one, which hosts the API server: they get the same
treatment, and the server's own CPU use is shared alike. Nothing here is a test; figures depend
on the machine (and on anything else running on it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _etcd_bench import etcd_section  # noqa: E402
from _model import BenchItem, item  # noqa: E402
from _process import stop  # noqa: E402
from _production import controllers_section, scale_section, work_section  # noqa: E402
from _report import production_rows  # noqa: E402

from opframe.client import Client  # noqa: E402
from opframe.crd import crd_for  # noqa: E402
from opframe.errors import NotFound  # noqa: E402
from opframe.testing.apiserver import ApiServer  # noqa: E402

NAMESPACE = "bench"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def prepare(client: Client, count: int) -> tuple[float, float]:
    """Create the namespace, the CRD and ``count`` objects; return their mean JSON size, with
    and without ``managedFields`` (which the cache strips)."""
    await client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NAMESPACE}})
    await client.request("POST", CRD_PATH, body=crd_for(BenchItem))
    plural = BenchItem.__resource__.plural
    path = f"/apis/{BenchItem.__resource__.group}/v1/namespaces/{NAMESPACE}/{plural}"
    async with asyncio.timeout(30):
        while True:  # the CRD's endpoints appear once it is Established
            try:
                await client.request("GET", path, params={"limit": "1"})
                break
            except NotFound:
                await asyncio.sleep(0.05)
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(32)

    async def create(index: int) -> None:
        async with semaphore:
            await client.create(item(index, NAMESPACE))

    async with asyncio.TaskGroup() as tg:
        for index in range(count):
            tg.create_task(create(index))
    log(f"created {count} objects in {time.perf_counter() - started:.1f}s")
    listed = await client.request("GET", path)
    sizes = [len(json.dumps(o, separators=(",", ":"))) for o in listed["items"]]
    for obj in listed["items"]:
        obj["metadata"].pop("managedFields", None)
    bare = [len(json.dumps(o, separators=(",", ":"))) for o in listed["items"]]
    if not sizes:
        return float("nan"), float("nan")
    return statistics.fmean(sizes), statistics.fmean(bare)


@asynccontextmanager
async def subprocess(
    *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process with piped stdin/stdout, killed on exit if still running."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 20,
        env={**os.environ, **(env or {})},
        cwd=str(HERE),
    )
    try:
        yield proc
    finally:
        await stop(proc)


def _noop(
    script: str, mode: str, kubeconfig: str, count: int, *extra: str
) -> AbstractAsyncContextManager[asyncio.subprocess.Process]:
    """The no-op operator ``script`` in ``mode``, expecting ``count`` objects in NAMESPACE."""
    return subprocess(
        sys.executable,
        str(HERE / script),
        mode,
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        NAMESPACE,
        "--expect",
        str(count),
        *extra,
    )


async def read_event(
    proc: asyncio.subprocess.Process, name: str, deadline: float
) -> dict[str, Any]:
    """The next JSON line from ``proc`` whose ``event`` is ``name`` (other output is skipped)."""
    assert proc.stdout is not None
    async with asyncio.timeout(deadline):
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise RuntimeError(f"subprocess exited before reporting {name!r}")
            try:
                fields = json.loads(line)
            except ValueError:
                continue
            if isinstance(fields, dict) and fields.get("event") == name:
                return fields


async def drive_events(kubeconfig: str, count: int, rate: float, seconds: float) -> float:
    """Patch distinct objects at ``rate`` per second for ``seconds`` (from a subprocess, so
    this process only serves); return the rate the load generator sustained."""
    total = min(int(rate * seconds), count)
    async with subprocess(
        sys.executable,
        str(HERE / "_load.py"),
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        NAMESPACE,
        "--total",
        str(total),
        "--rate",
        str(rate),
    ) as proc:
        load = await read_event(proc, "load", 120)
    if load["failures"]:
        log(f"{load['failures']} patches failed")
    return float(load["completed_rate"])


async def bench_opframe(
    kubeconfig: str, count: int, rate: float, seconds: float, workers: int
) -> dict[str, Any]:
    spawned = time.time()
    script = os.environ.get("BENCH_OPERATOR", "_opframe_noop.py")
    async with _noop(script, "operator", kubeconfig, count, "--workers", str(workers)) as proc:
        first = await read_event(proc, "first_reconcile", 300)
        done = await read_event(proc, "all_reconciled", 600)
        log(f"opframe reconciled {count} objects")
        achieved = await drive_events(kubeconfig, count, rate, seconds)
        # Let the last events arrive; the operator reports what it measured so far.
        await asyncio.sleep(1.0)
        assert proc.stdin is not None
        proc.stdin.write(b"report\n")
        await proc.stdin.drain()
        latency = await read_event(proc, "latency", 60)
    return {
        "startup_to_first_reconcile_s": first["t"] - spawned,
        "reconciles_per_s": count / max(done["t"] - done["first"], 1e-9),
        "latency_p50_ms": latency["p50"] * 1000,
        "latency_p99_ms": latency["p99"] * 1000,
        "latency_samples": latency["samples"],
        "breakdown": {
            "imports": round(first["imported"] - spawned, 3),
            "cache_synced": round(first["synced"] - spawned, 3),
        },
        "achieved_event_rate": achieved,
    }


async def bench_kopf(kubeconfig: str, count: int, deadline: float) -> dict[str, Any]:
    spawned = time.time()
    async with subprocess(
        sys.executable,
        "-m",
        "kopf",
        "run",
        "--standalone",
        "--namespace",
        NAMESPACE,
        "--quiet",
        str(HERE / "_kopf_noop.py"),
        env={"KUBECONFIG": kubeconfig, "BENCH_EXPECT": str(count)},
    ) as proc:
        first = await read_event(proc, "first_reconcile", deadline)
        done = await read_event(proc, "all_reconciled", deadline)
    log(f"kopf handled {count} objects")
    return {
        "startup_to_first_reconcile_s": first["t"] - spawned,
        "reconciles_per_s": count / max(done["t"] - done["first"], 1e-9),
    }


async def bench_memory(kubeconfig: str, count: int) -> dict[str, Any]:
    async with _noop("_opframe_noop.py", "memory", kubeconfig, count) as proc:
        return await read_event(proc, "memory", 600)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    count = args.count or (1000 if args.quick else 10_000)
    seconds = args.seconds or (1.0 if args.quick else 5.0)
    sections = set(args.sections.split(","))
    production: dict[str, Any] = {}
    async with ApiServer() as server:
        kubeconfig = str(server.kubeconfig)
        async with await Client.from_kubeconfig(kubeconfig) as client:
            json_size, json_bare = await prepare(client, count if "base" in sections else 0)
            production |= await _production_sections(args, sections, client, kubeconfig)
            if "base" not in sections:
                return {"result": production, "extra": {}}
            memory = await bench_memory(kubeconfig, count)
            log(f"cache holds {memory['per_object']:.0f} bytes per object")
            ours = await bench_opframe(kubeconfig, count, args.rate, seconds, args.workers)
            kopf: dict[str, Any] = {"reconciles_per_s": float("nan")}
            if not args.skip_kopf:
                try:
                    kopf = await bench_kopf(kubeconfig, count, args.kopf_timeout)
                except (RuntimeError, TimeoutError) as exc:
                    log(f"kopf did not finish: {exc!r}")
    result = {
        "opframe_reconciles_per_s": round(ours["reconciles_per_s"], 1),
        "kopf_reconciles_per_s": round(kopf["reconciles_per_s"], 1),
        "latency_p50_ms": round(ours["latency_p50_ms"], 3),
        "latency_p99_ms": round(ours["latency_p99_ms"], 3),
        "cache_bytes_per_object": round(memory["per_object"], 1),
        "json_bytes_per_object": round(json_size, 1),
        "startup_to_first_reconcile_s": round(ours["startup_to_first_reconcile_s"], 3),
    } | production
    extra = {
        "objects": count,
        "latency_samples": ours["latency_samples"],
        "achieved_event_rate": round(ours["achieved_event_rate"], 1),
        "kopf_startup_to_first_reconcile_s": kopf.get("startup_to_first_reconcile_s"),
        "cache_typed_reads": memory["typed"],
        "json_bytes_without_managed_fields": round(json_bare, 1),
        "opframe_startup_breakdown_s": ours["breakdown"],
        "opframe_workers": args.workers,
    }
    return {"result": result, "extra": extra}


async def _production_sections(
    args: argparse.Namespace, sections: set[str], client: Client, kubeconfig: str
) -> dict[str, Any]:
    """The scale, work and many-controllers sections (``_production.py``), one at a time."""
    out: dict[str, Any] = {}
    q = args.quick
    if "scale" in sections:
        out |= await scale_section(
            client,
            kubeconfig,
            args.scale_count or (2_000 if q else 100_000),
            args.kopf_scale_timeout or (10.0 if q else 120.0),
            args.skip_kopf,
        )
    work_count = args.work_count or (100 if q else 10_000)
    if "work" in sections or "controllers" in sections:
        rates = [float(r) for r in args.work_rates.split(",")]
        out |= await work_section(
            client,
            kubeconfig,
            work_count,
            rates,
            args.work_seconds or (0.5 if q else 5.0),
            args.workers_work,
            args.kopf_scale_timeout or (10.0 if q else 120.0),
            args.skip_kopf or "work" not in sections,
        )
    if "controllers" in sections:
        out |= await controllers_section(kubeconfig, work_count, args.controllers)
    return out


def report(result: dict[str, Any], extra: dict[str, Any]) -> None:
    bare = extra["json_bytes_without_managed_fields"]
    kopf_rate = result["kopf_reconciles_per_s"]
    ratio = result["opframe_reconciles_per_s"] / kopf_rate if kopf_rate > 0 else float("nan")
    rows = [
        ("objects", f"{extra['objects']:,}", ""),
        ("no-op reconciles/s opframe", f"{result['opframe_reconciles_per_s']:,.0f}", ">= 5x kopf"),
        ("no-op handler calls/s kopf", f"{result['kopf_reconciles_per_s']:,.0f}", ""),
        ("opframe / kopf", f"{ratio:.1f}x", ">= 5x"),
        (
            "event -> reconcile p50 / p99",
            f"{result['latency_p50_ms']:.2f} / {result['latency_p99_ms']:.2f} ms",
            "< 5 / < 50 ms",
        ),
        (
            "  at events/s (samples)",
            f"{extra['achieved_event_rate']:,.0f} ({extra['latency_samples']:,})",
            "1,000",
        ),
        (
            "cache bytes per object",
            f"{result['cache_bytes_per_object']:,.0f} "
            f"({result['cache_bytes_per_object'] / result['json_bytes_per_object']:.2f}x JSON)",
            "< 3x JSON",
        ),
        ("JSON bytes per object", f"{result['json_bytes_per_object']:,.0f}", "~2 KiB"),
        (
            "  without managedFields",
            f"{bare:,.0f} ({result['cache_bytes_per_object'] / bare:.2f}x)",
            "",
        ),
        ("startup -> first reconcile", f"{result['startup_to_first_reconcile_s']:.2f} s", "< 3 s"),
        (
            "  imports done / cache synced at",
            f"{extra['opframe_startup_breakdown_s']['imports']:.2f} / "
            f"{extra['opframe_startup_breakdown_s']['cache_synced']:.2f} s",
            "",
        ),
    ]
    kopf_start = extra.get("kopf_startup_to_first_reconcile_s")
    if kopf_start is not None:
        rows.append(("  kopf startup -> first call", f"{kopf_start:.2f} s", ""))
    print_rows(rows)


def print_rows(rows: list[tuple[str, str, str]]) -> None:
    if not rows:
        return
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>24}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>24}  {target}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1,000 objects, shorter load")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--count", type=int, help="number of objects (default 10,000)")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s for latency")
    parser.add_argument("--seconds", type=float, help="seconds of latency load")
    parser.add_argument("--workers", type=int, default=1, help="opframe max_concurrent_reconciles")
    parser.add_argument("--skip-kopf", action="store_true", help="do not run kopf")
    parser.add_argument("--kopf-timeout", type=float, default=600.0, help="seconds for kopf")
    parser.add_argument(
        "--sections",
        default="base,scale,work,controllers,etcd,backup",
        help="comma-separated: base (the 10,000-object no-op run), scale, work, controllers, "
        "etcd, backup",
    )
    parser.add_argument(
        "--backup-sizes", default="50,200", help="backup: database sizes in MB, ascending"
    )
    parser.add_argument("--scale-count", type=int, help="scale objects (default 100,000)")
    parser.add_argument("--kopf-scale-timeout", type=float, help="kopf's deadline (default 120 s)")
    parser.add_argument("--work-count", type=int, help="work parents (default 10,000)")
    parser.add_argument("--work-rates", default="1000,5000", help="spec changes/s, comma-separated")
    parser.add_argument("--work-seconds", type=float, help="seconds of load per rate (default 5)")
    parser.add_argument("--workers-work", type=int, default=16, help="work operator workers")
    parser.add_argument("--controllers", type=int, default=10, help="controllers in one Manager")
    parser.add_argument("--etcd-clusters", type=int, help="EtcdClusters created at once (10)")
    parser.add_argument("--etcd-idle", type=int, help="idle EtcdClusters for the CPU figure (20)")
    parser.add_argument("--etcd-size", type=int, help="members per EtcdCluster (default 3)")
    parser.add_argument("--etcd-window", type=float, help="idle CPU window in s (default 30)")
    return parser.parse_args(argv)


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every section: the embedded-server ones, then the etcd operator on a LocalCluster."""
    sections = set(args.sections.split(","))
    outcome = await main(args)
    if "etcd" in sections:
        q = args.quick
        outcome["result"] |= await etcd_section(
            args.etcd_clusters or (1 if q else 10),
            args.etcd_idle or (2 if q else 20),
            args.etcd_size or (1 if q else 3),
            args.etcd_window or (3.0 if q else 30.0),
            120.0 if q else 180.0,
        )
    if "backup" in sections and not args.quick:
        outcome["result"] |= await backup_section(args.backup_sizes)
    return outcome


async def backup_section(sizes: str) -> dict[str, Any]:
    """``etcd_backup.py`` in a subprocess (its peak RSS is its own); its figures by size."""
    log(f"backup: databases of {sizes} MB (grown with 1 MiB values, then snapshotted to S3)")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "etcd_backup.py"),
        "--sizes",
        sizes,
        "--json",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    lines = out.decode().splitlines()
    if proc.returncode != 0 or not lines:
        log(f"backup: the benchmark failed (exit {proc.returncode})")
        return {}
    for line in lines[:-1]:
        log(f"backup: {line}")
    runs: list[dict[str, float]] = json.loads(lines[-1])
    result: dict[str, Any] = {}
    for r in runs:
        mb = round(r["db_mb"])
        result[f"backup_{mb}mb_mb_per_s"] = r["mb_per_s"]
        result[f"backup_{mb}mb_peak_python_mib"] = r["peak_python_mib"]
        result[f"backup_{mb}mb_peak_rss_mib"] = r["peak_rss_mib"]
        result[f"backup_{mb}mb_snapshot_only_mb_per_s"] = r["snapshot_only_mb_per_s"]
    return result


if __name__ == "__main__":
    arguments = parse_args()
    outcome = asyncio.run(run_all(arguments))
    if outcome["extra"]:
        report(outcome["result"], outcome["extra"])
    print_rows(production_rows(outcome["result"]))
    if arguments.json:
        # A figure that was not measured (kopf skipped, no samples) is null, not NaN.
        print(json.dumps({k: None if v != v else v for k, v in outcome["result"].items()}))
