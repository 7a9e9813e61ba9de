"""Render the etcd dashboard's panels from a demo-like run into docs/img/etcd-day2-dashboard.png.

Starts the local control plane and the etcd operator with ``/metrics`` served, creates a
one-member cluster with a 16 MiB quota, scales it to three, overwrites one key until etcd
answers NOSPACE and lets the operator recover; scrapes ``/metrics`` every half second, then
draws the panels of ``examples/etcd/deploy/monitoring/dashboard.json`` with matplotlib::

    pip install -e '.[dashboard]'
    python tools/render_etcd_dashboard.py [out.png]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import aetcd
import aiohttp
from etcd_operator.models import EtcdCluster
from etcd_operator.operator import build_manager
from etcd_operator.planner import Policy
from etcd_operator.reconciler import EtcdClusterReconciler
from etcd_operator_demo.workload import member_endpoints

from opframe import install_crds
from opframe.testing import LocalCluster, eventually

OUT = Path(__file__).parents[1] / "docs" / "img" / "etcd-day2-dashboard.png"
_LINE = re.compile(r"^(etcd_[a-z_]+)\{([^}]*)\} ([0-9.e+-]+)$")
Series = dict[tuple[str, str], list[tuple[float, float]]]


async def _scrape(url: str, t0: float, series: Series) -> None:
    async with aiohttp.ClientSession() as s, s.get(url + "/metrics") as resp:
        text = await resp.text()
    now = time.monotonic() - t0
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and 'cluster="demo"' in m.group(2):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            extra = labels.get("member") or labels.get("type") or ""
            series[(m.group(1), extra)].append((now, float(m.group(3))))


async def _run() -> Series:
    series: Series = defaultdict(list)
    reconciler = EtcdClusterReconciler(Policy(unhealthy_grace=3.0), steady_interval=1.0)
    async with LocalCluster() as cluster:
        await install_crds(cluster.client, EtcdCluster)
        manager = build_manager(cluster.client, reconciler=reconciler, health_address=None)
        operator = asyncio.create_task(manager.run(handle_signals=False))
        await eventually(lambda: manager.metrics_url is not None, timeout=30)
        url = str(manager.metrics_url)
        t0 = time.monotonic()
        stop = asyncio.Event()

        async def scraper() -> None:
            while not stop.is_set():
                with contextlib.suppress(aiohttp.ClientError):
                    await _scrape(url, t0, series)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)

        task = asyncio.create_task(scraper())
        try:
            spec = {"size": 1, "version": "3.5.1", "quotaBackendBytes": "16Mi"}
            await cluster.client.create(
                EtcdCluster.model_validate(
                    {"metadata": {"name": "demo", "namespace": "default"}, "spec": spec}
                )
            )

            async def ready(n: int) -> bool:
                c = await cluster.client.get(EtcdCluster, "demo", "default")
                return c.status is not None and c.status.ready_members == n

            await eventually(lambda: ready(1), timeout=90)
            await cluster.client.patch(
                EtcdCluster, "demo", {"spec": {"size": 3}}, namespace="default"
            )
            await eventually(lambda: ready(3), timeout=120)
            endpoint = (await member_endpoints(cluster.client, "default", "demo"))[0]
            parts = urlsplit(endpoint)
            client = aetcd.Client(host=parts.hostname or "", port=parts.port or 2379)
            await client.connect()
            try:
                for _ in range(200):
                    try:
                        await client.put(b"k", os.urandom(512 * 1024))
                    except Exception as e:
                        if "database space exceeded" in str(e):
                            break
                        raise

                async def writes() -> bool:
                    try:
                        await client.put(b"after", b"ok")
                    except Exception:
                        return False
                    return True

                await eventually(writes, timeout=120)
            finally:
                await client.close()
            await asyncio.sleep(5)  # a tail of steady samples for the picture, not a sync
        finally:
            stop.set()
            await task
            manager.stop()
            operator.cancel()
            await asyncio.wait({operator}, timeout=30)
    return series


def _draw(series: Series, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5), constrained_layout=True)
    panels = [
        (
            "Members",
            [
                ("etcd_cluster_members_desired", "desired"),
                ("etcd_cluster_members_ready", "ready"),
                ("etcd_cluster_members_healthy", "healthy"),
                ("etcd_cluster_learners", "learners"),
            ],
            1.0,
        ),
        (
            "Quorum, leader and leader changes",
            [
                ("etcd_cluster_has_quorum", "has quorum"),
                ("etcd_cluster_has_leader", "has leader"),
                ("etcd_cluster_leader_changes_total", "leader changes"),
            ],
            1.0,
        ),
        (
            "Database size per member (MiB)",
            [("etcd_member_db_size_bytes", "size"), ("etcd_cluster_quota_bytes", "quota")],
            2**20,
        ),
        ("Alarms", [("etcd_cluster_alarms", "")], 1.0),
    ]
    for ax, (title, names, scale) in zip(axes.flat, panels, strict=True):
        for name, label in names:
            for (metric, extra), points in sorted(series.items()):
                if metric != name or not points:
                    continue
                xs, ys = zip(*points, strict=True)
                legend = " ".join(p for p in (extra, label) if p) or metric
                ax.step(xs, [y / scale for y in ys], where="post", label=legend)
        ax.set_title(title)
        ax.set_xlabel("seconds into the run")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("etcd operator metrics: create 1, scale to 3, fill a 16 MiB quota, auto-recover")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)


def main() -> None:
    """Run the demo, then write the PNG (argument 1, or docs/img/etcd-day2-dashboard.png)."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    series = asyncio.run(_run())
    _draw(series, out)
    print(f"wrote {out} ({sum(len(p) for p in series.values())} samples)")


if __name__ == "__main__":
    main()
