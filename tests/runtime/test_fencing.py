"""Leader-guarded writes: a real LeaderElector on the embedded API server, short timings.

The rule (client-go ``tools/leaderelection/leaderelection.go``): a leader that has not renewed
within ``renewDeadline`` must stop acting as leader, and ``renewDeadline < leaseDuration``
keeps that before any standby may take over. The fence applies the same test right before
each write, so a leader frozen past its deadline (a GC pause, SIGSTOP) cannot write when it
wakes, even if it has not noticed yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from opframe import (
    Client,
    ConfigMap,
    Context,
    Controller,
    LeaderElectionConfig,
    LeaderElector,
    Manager,
    NotFound,
    NotLeader,
    ObjectMeta,
)
from opframe.testing.apiserver import ApiServer

from ._env import eventually

FAST = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}


def config(identity: str) -> LeaderElectionConfig:
    return LeaderElectionConfig(name="fenced", namespace="default", identity=identity, **FAST)


def cm(name: str) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, namespace="default"), data={"k": "v"})


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    async with ApiServer() as server:
        yield server


@pytest.fixture
async def client(server: ApiServer) -> AsyncIterator[Client]:
    async with await Client.from_kubeconfig(server.kubeconfig) as client:
        yield client


async def exists(client: Client, name: str) -> bool:
    try:
        await client.get(ConfigMap, name, "default")
    except NotFound:
        return False
    return True


async def test_a_renewing_leader_passes_the_fence_and_writes(client: Client) -> None:
    elector = LeaderElector(client, config("a"))
    await elector.acquire()
    hold = asyncio.create_task(elector.hold())
    try:
        elector.fence()
        await client.with_write_guard(elector.fence).create(cm("written"))
        assert await exists(client, "written")
    finally:
        hold.cancel()
        await asyncio.gather(hold, return_exceptions=True)


async def test_a_leader_that_stopped_renewing_is_fenced_past_its_renew_deadline(
    client: Client,
) -> None:
    elector = LeaderElector(client, config("a"))
    await elector.acquire()  # and never renews: as if frozen right after acquiring
    await eventually(lambda: not elector.holds_lease(), timeout=5, message="never fenced")
    assert elector.is_leader  # it has not noticed: only the fence knows
    with pytest.raises(NotLeader, match=r"past renew_deadline=0\.6s"):
        elector.fence()
    with pytest.raises(NotLeader):
        await client.with_write_guard(elector.fence).create(cm("late"))
    assert not await exists(client, "late")


async def test_a_frozen_leader_cannot_write_once_another_took_the_lease(
    server: ApiServer, client: Client
) -> None:
    frozen = LeaderElector(client, config("frozen"))
    await frozen.acquire()
    async with await Client.from_kubeconfig(server.kubeconfig) as other_client:
        other = LeaderElector(other_client, config("other"))
        async with asyncio.timeout(10):
            await other.acquire()  # succeeds only after the frozen one's lease expired
        other.fence()
        fenced = client.with_write_guard(frozen.fence)
        for write in (fenced.create(cm("stale")), fenced.delete(ConfigMap, "x", "default")):
            with pytest.raises(NotLeader):
                await write
        assert not await exists(client, "stale")
        await other.release()


async def test_without_leadership_the_fence_refuses(client: Client) -> None:
    elector = LeaderElector(client, config("never"))
    with pytest.raises(NotLeader, match="not the leader of lease default/fenced"):
        elector.fence()


async def _context_of_a_finished_run(manager: Manager) -> Context:
    """Run ``manager`` with a ConfigMap controller until it reconciles once (whose fence
    passes then), stop it; the Context that reconcile was given."""
    seen: list[Context] = []

    async def reconcile(ctx: Context, obj: ConfigMap) -> None:
        ctx.fence()  # while running (and leading, with leader election): passes
        seen.append(ctx)

    manager.add(Controller(for_=ConfigMap, reconciler=reconcile))
    await manager.client.create(cm("trigger"))
    run = asyncio.create_task(manager.run(handle_signals=False))
    await eventually(lambda: bool(seen), message="never reconciled")
    manager.stop()
    async with asyncio.timeout(10):
        await run
    return seen[0]


async def test_reconciles_under_leader_election_get_a_fenced_client_and_fence(
    client: Client,
) -> None:
    manager = Manager(client, leader_election=config("m"), metrics_address=None)
    ctx = await _context_of_a_finished_run(manager)
    # The lease is released now: what the reconcile was given refuses to write.
    with pytest.raises(NotLeader):
        ctx.fence()
    with pytest.raises(NotLeader):
        await ctx.client.create(cm("after-release"))
    assert not await exists(client, "after-release")


async def test_without_leader_election_the_fence_lets_writes_through(client: Client) -> None:
    ctx = await _context_of_a_finished_run(Manager(client, metrics_address=None))
    ctx.fence()
    await ctx.client.create(cm("free"))
    assert await exists(client, "free")
