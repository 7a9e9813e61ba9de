"""The manager running controllers against the embedded API server, over real HTTP."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from opframe import Context, ObjectRef, Result
from opframe.client import Client
from opframe.controller import Controller
from opframe.errors import NotFound
from opframe.kinds import ConfigMap, Lease
from opframe.manager import Manager
from opframe.ownership import set_controller_reference
from opframe.ratelimit import ExponentialBackoffRateLimiter

from ._env import App, app, eventually, running, serve
from ._fakes import Calls


class AppReconciler:
    """Keeps a ConfigMap named after each App, with its replica count."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def reconcile(self, ctx: Context, obj: App) -> None:
        self.calls.record(("reconcile", ctx.ref, [str(r) for r in ctx.reasons]))
        cm = ConfigMap.model_validate(
            {"metadata": {"name": obj.metadata.name, "namespace": obj.metadata.namespace}}
        )
        cm.data = {"replicas": str(obj.spec.replicas)}
        set_controller_reference(obj, cm)
        await ctx.client.apply(cm, field_manager="app-controller", force=True)

    async def on_deleted(self, ctx: Context) -> None:
        self.calls.record(("deleted", ctx.ref, [str(r) for r in ctx.reasons]))


def reconciles(calls: Calls, kind: str = "reconcile") -> list[Any]:
    return [c for c in calls.items if c[0] == kind]


async def test_primary_create_update_delete_are_reconciled() -> None:
    calls = Calls()
    async with serve() as (_, client):
        manager = Manager(client)
        manager.add(Controller(for_=App, reconciler=AppReconciler(calls)))
        async with running(manager):
            await client.create(app("web", replicas=1))
            await calls.wait_for(lambda c: len(c) >= 1)
            assert calls.items[0][1] == ObjectRef("default", "web")
            assert calls.items[0][2] == ["ADDED App default/web (for)"]
            cm = await client.get(ConfigMap, "web", "default")
            assert cm.data == {"replicas": "1"}

            await client.patch(App, "web", {"spec": {"replicas": 3}}, namespace="default")
            await eventually(
                lambda: _configmap_says(client, "web", "3"), message="ConfigMap not updated"
            )
            assert any("MODIFIED App default/web (for)" in c[2] for c in reconciles(calls))

            await client.delete(App, "web", "default")
            await calls.wait_for(lambda c: any(x[0] == "deleted" for x in c))
    deleted = reconciles(calls, "deleted")[0]
    assert deleted[1] == ObjectRef("default", "web")
    assert "DELETED App default/web (for)" in deleted[2]


async def _configmap_says(client: Client, name: str, replicas: str) -> bool:
    try:
        cm = await client.get(ConfigMap, name, "default")
    except NotFound:
        return False
    return (cm.data or {}).get("replicas") == replicas


async def test_owned_object_changes_reconcile_the_owner() -> None:
    calls = Calls()
    async with serve() as (_, client):
        manager = Manager(client)
        manager.add(Controller(for_=App, reconciler=AppReconciler(calls)).owns(ConfigMap))
        async with running(manager):
            await client.create(app("web", replicas=2))
            await eventually(lambda: _configmap_says(client, "web", "2"))
            # Someone edits the owned ConfigMap: the owner is reconciled and repairs it.
            await client.patch(ConfigMap, "web", {"data": {"replicas": "99"}}, namespace="default")
            await calls.wait_for(
                lambda c: any("MODIFIED ConfigMap default/web (owns)" in x[2] for x in c)
            )
            await eventually(lambda: _configmap_says(client, "web", "2"))
            # Deleted: recreated by the next reconcile.
            await client.delete(ConfigMap, "web", "default")
            await calls.wait_for(
                lambda c: any("DELETED ConfigMap default/web (owns)" in x[2] for x in c)
            )
            await eventually(lambda: _configmap_says(client, "web", "2"))


async def test_no_two_concurrent_reconciles_of_one_key_under_load() -> None:
    in_flight: set[ObjectRef] = set()
    overlaps: list[ObjectRef] = []
    calls = Calls()

    async def reconcile(ctx: Context, obj: ConfigMap) -> None:
        if ctx.ref in in_flight:
            overlaps.append(ctx.ref)
        in_flight.add(ctx.ref)
        try:
            await ctx.client.get(ConfigMap, ctx.ref.name, ctx.ref.namespace)  # real I/O
        finally:
            in_flight.discard(ctx.ref)
        calls.record((ctx.ref, (obj.data or {}).get("n")))

    async with serve() as (_, client):
        manager = Manager(client)
        manager.add(Controller(for_=ConfigMap, reconciler=reconcile, max_concurrent_reconciles=8))
        names = [f"load-{i}" for i in range(6)]
        async with running(manager):
            for name in names:
                await client.create(
                    ConfigMap.model_validate(
                        {"metadata": {"name": name, "namespace": "default"}, "data": {"n": "0"}}
                    )
                )

            async def churn(name: str) -> None:
                for n in range(1, 16):
                    await client.patch(
                        ConfigMap, name, {"data": {"n": str(n)}}, namespace="default"
                    )

            async with asyncio.TaskGroup() as tg:
                for name in names:
                    tg.create_task(churn(name))
            # Level-triggered: every key ends up reconciled at its final state.
            await calls.wait_for(
                lambda c: {(r.name, n) for r, n in c} >= {(name, "15") for name in names}
            )
    assert overlaps == []


async def test_probes_and_metrics_endpoints_answer() -> None:
    calls = Calls()
    async with serve() as (_, client):
        manager = Manager(client)
        manager.add(Controller(for_=App, reconciler=AppReconciler(calls), name="apps"))
        async with running(manager):
            await client.create(app("web"))
            await calls.wait_for(lambda c: len(c) >= 1)
            assert manager.health_url and manager.metrics_url
            async with aiohttp.ClientSession() as http:
                for path in ("/healthz", "/readyz"):
                    async with http.get(manager.health_url + path) as response:
                        assert (response.status, await response.text()) == (200, "ok")
                async with http.get(manager.metrics_url + "/metrics") as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"].startswith("text/plain")
                    text = await response.text()
    for series in (
        'controller_runtime_reconcile_total{controller="apps",result="success"}',
        'controller_runtime_reconcile_errors_total{controller="apps"}',
        "controller_runtime_reconcile_time_seconds_bucket{",
        'controller_runtime_active_workers{controller="apps"}',
        'workqueue_depth{controller="apps",name="apps"}',
        'workqueue_adds_total{controller="apps",name="apps"}',
        "workqueue_queue_duration_seconds_bucket{",
        "workqueue_work_duration_seconds_bucket{",
        'workqueue_retries_total{controller="apps",name="apps"}',
    ):
        assert series in text, series


async def test_failing_ready_check_makes_readyz_fail() -> None:
    async with serve() as (_, client):
        manager = Manager(client, metrics_address=None)
        manager.add_ready_check("warm", lambda: False)
        async with running(manager, wait="ready"):
            assert manager.health_url is not None
            async with aiohttp.ClientSession() as http:
                async with http.get(manager.health_url + "/readyz") as response:
                    assert response.status == 500
                    assert "warm" in await response.text()
                async with http.get(manager.health_url + "/healthz") as response:
                    assert response.status == 200


async def _stopped_while_reconciling(
    manager: Manager, reconcile: Any, name: str, started: asyncio.Event
) -> asyncio.Task[None]:
    """``manager`` running a ConfigMap controller, stopped once the reconcile of ConfigMap
    ``name`` has ``started``; its run, still to be awaited."""
    manager.add(Controller(for_=ConfigMap, reconciler=reconcile))
    run = asyncio.create_task(manager.run(handle_signals=False))
    await manager.client.create(
        ConfigMap.model_validate({"metadata": {"name": name, "namespace": "default"}})
    )
    async with asyncio.timeout(10):
        await started.wait()
    manager.stop()
    return run


async def test_stop_lets_in_flight_reconciles_finish() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def reconcile(ctx: Context, obj: ConfigMap) -> None:
        if obj.metadata.name != "slow":
            return
        started.set()
        await release.wait()
        finished.append(ctx.ref.name)

    async with serve() as (_, client):
        run = await _stopped_while_reconciling(Manager(client), reconcile, "slow", started)
        async with asyncio.timeout(10):
            done, _ = await asyncio.wait({run}, timeout=0.2)
            assert not done, "run() returned while a reconcile was in flight"
            release.set()
            await run
    assert finished == ["slow"]


async def test_graceful_shutdown_timeout_cancels_a_stuck_reconcile() -> None:
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def reconcile(ctx: Context, obj: ConfigMap) -> None:
        if obj.metadata.name != "stuck":
            return
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async with serve() as (_, client):
        manager = Manager(client, graceful_shutdown_timeout=0.2)
        run = await _stopped_while_reconciling(manager, reconcile, "stuck", started)
        async with asyncio.timeout(10):
            await run
    assert cancelled == [True]


async def test_manager_without_a_client_connects_through_kubeconfig(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = Calls()

    async def reconcile(ctx: Context, obj: ConfigMap) -> None:
        calls.record(ctx.ref)

    async with serve() as (server, client):
        monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        manager = Manager(health_address=None, metrics_address=None)
        manager.add(Controller(for_=ConfigMap, reconciler=reconcile))
        async with running(manager):
            await client.create(
                ConfigMap.model_validate({"metadata": {"name": "x", "namespace": "default"}})
            )
            await calls.wait_for(lambda c: ObjectRef("default", "x") in c)


def test_controller_names_must_be_unique_in_a_manager() -> None:
    async def reconcile(ctx: Context, obj: ConfigMap) -> None:
        return None

    manager = Manager()
    manager.add(Controller(for_=ConfigMap, reconciler=reconcile))
    with pytest.raises(ValueError, match=r"name=\.\.\."):
        manager.add(Controller(for_=ConfigMap, reconciler=reconcile))


SIGNAL_OPERATOR = """
import asyncio

from opframe.controller import Controller
from opframe.kinds import ConfigMap
from opframe.leaderelection import LeaderElectionConfig
from opframe.manager import Manager


async def reconcile(ctx, cm):
    if cm.metadata.name == "slow" and not (cm.data or {}).get("done"):
        print("slow-started", flush=True)
        await asyncio.sleep(1.0)  # work in flight when SIGTERM arrives
        await ctx.client.patch(ConfigMap, "slow", {"data": {"done": "yes"}}, namespace="default")


manager = Manager(
    leader_election=LeaderElectionConfig(name="sig-operator", retry_period=0.2),
    health_address=None,
    metrics_address=None,
)
manager.add(Controller(for_=ConfigMap, reconciler=reconcile))
"""


async def test_sigterm_to_opframe_run_finishes_in_flight_work_and_releases_the_lease(
    tmp_path: Path,
) -> None:
    (tmp_path / "sigop.py").write_text(SIGNAL_OPERATOR)
    opframe_cli = Path(sys.executable).parent / "opframe"
    async with serve() as (server, client):
        proc = await asyncio.create_subprocess_exec(
            str(opframe_cli),
            "run",
            "sigop:manager",
            cwd=tmp_path,
            env={**os.environ, "KUBECONFIG": str(server.kubeconfig)},
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            await client.create(
                ConfigMap.model_validate({"metadata": {"name": "slow", "namespace": "default"}})
            )
            async with asyncio.timeout(20):
                assert (await proc.stdout.readline()).strip() == b"slow-started"
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(20):
                assert await proc.wait() == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        cm = await client.get(ConfigMap, "slow", "default")
        assert (cm.data or {}).get("done") == "yes", "the in-flight reconcile did not finish"
        lease = await client.get(Lease, "sig-operator", "default")
        assert not lease.spec.holder_identity, "the lease was not released"


async def test_errors_back_off_exponentially_on_the_server() -> None:
    attempts = Calls()

    async def reconcile(ctx: Context, obj: App) -> None:
        attempts.record(asyncio.get_running_loop().time())
        raise RuntimeError("not yet")

    limiter = ExponentialBackoffRateLimiter(0.02, 10.0)
    async with serve() as (_, client):
        manager = Manager(client)
        manager.add(Controller(for_=App, reconciler=reconcile, rate_limiter=limiter))
        async with running(manager):
            await client.create(app("web"))
            await attempts.wait_for(lambda c: len(c) >= 5)
    gaps = [b - a for a, b in itertools.pairwise(attempts.items[:5])]
    # 20 ms doubling; a timer may fire a hair early, hence the millisecond of slack.
    for gap, expected in zip(gaps, (0.02, 0.04, 0.08, 0.16), strict=True):
        assert gap >= expected - 0.001, gaps
    errors = manager.metrics.registry.get_sample_value(
        "controller_runtime_reconcile_errors_total", {"controller": "app"}
    )
    assert errors is not None and errors >= 5


async def test_requeue_after_reconciles_again_without_any_event() -> None:
    times = Calls()

    async def reconcile(ctx: Context, obj: App) -> Result:
        times.record((asyncio.get_running_loop().time(), [r.source for r in ctx.reasons]))
        return Result(requeue_after=0.2)

    async with serve() as (_, client):
        manager = Manager(client)
        manager.add(Controller(for_=App, reconciler=reconcile))
        async with running(manager):
            await client.create(app("web"))
            await times.wait_for(lambda c: len(c) >= 3)
    (t0, _), (t1, reasons1), (t2, _) = times.items[:3]
    assert t1 - t0 >= 0.2 - 0.001 and t2 - t1 >= 0.2 - 0.001  # timers may fire a hair early
    assert reasons1 == ["requeue_after"]


async def test_readyz_reports_an_informer_whose_watch_keeps_failing() -> None:
    async def reconcile(ctx: Context, obj: ConfigMap) -> None:
        return None

    async def readyz(url: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as response:
            return response.status, await response.text()

    async with serve() as (server, client):
        manager = Manager(client, metrics_address=None)
        manager.add(Controller(for_=ConfigMap, reconciler=reconcile))
        async with running(manager):
            url = manager.health_url
            assert url is not None
            assert await readyz(url) == (200, "ok")
            # RBAC revoked, say: every configmaps request is now refused.
            fault = server.faults.add(resource="configmaps", status=403)
            await server.faults.drop_watches("configmaps")

            async def not_ready() -> bool:
                status, text = await readyz(url)
                return status == 500 and "[-]informers failed" in text and "ConfigMap" in text

            await eventually(not_ready, message="readyz never reported the failing informer")
            server.faults.remove(fault)
            # The watcher counts a watch as healthy once something arrives on it.
            await client.create(
                ConfigMap.model_validate({"metadata": {"name": "ping", "namespace": "default"}})
            )

            async def ready_again() -> bool:
                return await readyz(url) == (200, "ok")

            await eventually(ready_again, timeout=15, message="readyz never recovered")
