"""Leader election on a Lease between managers sharing one embedded API server.

Timings are short (lease 1 s, renew deadline 0.6 s, retry 0.1 s) so that failover happens
within a test's budget; the algorithm is the same at the 15/10/2 s defaults.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from opframe.client import Client
from opframe.controller import Controller
from opframe.kinds import ConfigMap, Lease
from opframe.leaderelection import LeaderElectionConfig, LeaderElector, LeadershipLost
from opframe.manager import Manager
from opframe.reconcile import Context
from opframe.testing.apiserver import ApiServer

from ._env import eventually

FAST = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}


def config(identity: str, **overrides: Any) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        name="test-operator", namespace="default", identity=identity, **{**FAST, **overrides}
    )


class Candidate:
    """One manager with its own client, counting the reconciles it does."""

    def __init__(self, client: Client, election: LeaderElectionConfig) -> None:
        self.client = client
        self.reconciles = 0
        self.manager = Manager(client, leader_election=election, metrics_address=None)
        self.manager.add(Controller(for_=ConfigMap, reconciler=self.reconcile))
        self.task: asyncio.Task[None] | None = None

    async def reconcile(self, ctx: Context, obj: ConfigMap) -> None:
        assert self.manager.is_leader, "a standby reconciled"
        self.reconciles += 1

    @property
    def leading(self) -> bool:
        return self.manager.is_leader

    def start(self) -> None:
        self.task = asyncio.create_task(self.manager.run(handle_signals=False))


@asynccontextmanager
async def candidates(*configs: LeaderElectionConfig) -> AsyncIterator[list[Candidate]]:
    async with ApiServer() as server:
        clients = [await Client.from_kubeconfig(server.kubeconfig) for _ in configs]
        group = [Candidate(c, cfg) for c, cfg in zip(clients, configs, strict=True)]
        monitor = asyncio.create_task(never_two_leaders(group))
        try:
            for candidate in group:
                candidate.start()
            yield group
        finally:
            monitor.cancel()
            for candidate in group:
                candidate.manager.stop()
            tasks = [c.task for c in group if c.task is not None]
            async with asyncio.timeout(10):
                await asyncio.gather(*tasks, return_exceptions=True)
            for client in clients:
                await client.close()
        if monitor.done() and not monitor.cancelled() and monitor.exception():
            raise AssertionError("two leaders at once") from monitor.exception()


async def never_two_leaders(group: list[Candidate]) -> None:
    """Sample leadership every millisecond for the whole test; fail on any overlap."""
    while True:
        leaders = [c.manager.elector.config.identity for c in group if c.leading]  # type: ignore[union-attr]
        if len(leaders) > 1:
            raise AssertionError(f"two leaders at once: {leaders}")
        await asyncio.sleep(0.001)


async def lease_holder(client: Client) -> str | None:
    lease = await client.get(Lease, "test-operator", "default")
    return lease.spec.holder_identity


async def test_exactly_one_of_two_managers_leads_and_reconciles() -> None:
    async with candidates(config("a"), config("b")) as (a, b):
        await eventually(lambda: a.leading or b.leading, message="nobody acquired the lease")
        leader, standby = (a, b) if a.leading else (b, a)
        await leader.client.create(
            ConfigMap.model_validate({"metadata": {"name": "x", "namespace": "default"}})
        )
        await eventually(lambda: leader.reconciles >= 1)
        await asyncio.sleep(0.5)  # several renew periods: leadership must stay put
        assert leader.leading and not standby.leading
        assert standby.reconciles == 0
        assert await lease_holder(leader.client) == leader.manager.elector.config.identity  # type: ignore[union-attr]
        await standby.manager.wait_ready()  # a standby is ready (caches synced), like CR


async def test_release_on_shutdown_gives_immediate_takeover() -> None:
    # A long lease: without the release, the standby would wait 10 s.
    slow = {"lease_duration": 10.0, "renew_deadline": 6.0, "retry_period": 0.1}
    async with candidates(config("a", **slow), config("b", **slow)) as (a, b):
        await eventually(lambda: a.leading or b.leading)
        leader, standby = (a, b) if a.leading else (b, a)
        loop = asyncio.get_running_loop()
        stopped_at = loop.time()
        leader.manager.stop()
        await eventually(lambda: standby.leading, timeout=3.0, message="no takeover")
        assert loop.time() - stopped_at < 3.0
        assert leader.task is not None and leader.task.done() and leader.task.exception() is None
        lease = await standby.client.get(Lease, "test-operator", "default")
        assert lease.spec.holder_identity == standby.manager.elector.config.identity  # type: ignore[union-attr]
        assert lease.spec.lease_transitions == 1


async def test_crashed_leader_is_replaced_within_the_lease_duration() -> None:
    # release_on_cancel=False: cancelling the run is a crash, the Lease is left as it was.
    async with candidates(
        config("a", release_on_cancel=False), config("b", release_on_cancel=False)
    ) as (a, b):
        await eventually(lambda: a.leading or b.leading)
        leader, standby = (a, b) if a.leading else (b, a)
        loop = asyncio.get_running_loop()
        assert leader.task is not None
        leader.task.cancel()
        crashed_at = loop.time()
        await eventually(lambda: standby.leading, timeout=5.0, message="no failover")
        took = loop.time() - crashed_at
        # lease_duration (1 s) after the last renewal, plus at most one jittered retry.
        assert took < FAST["lease_duration"] + 2.2 * FAST["retry_period"] + 0.5


async def test_partitioned_leader_steps_down_before_the_standby_takes_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with candidates(config("a"), config("b")) as (a, b):
        await eventually(lambda: a.leading or b.leading)
        leader, standby = (a, b) if a.leading else (b, a)

        async def unreachable(*args: Any, **kwargs: Any) -> Any:
            await asyncio.Event().wait()  # the request never comes back

        # Only the leader's client is cut off; the standby still talks to the server.
        monkeypatch.setattr(leader.client, "get", unreachable)
        await eventually(lambda: standby.leading, timeout=5.0, message="no failover")
        assert leader.task is not None
        async with asyncio.timeout(5):
            with pytest.raises(LeadershipLost):
                await leader.task
        # never_two_leaders watched the whole handover.


async def test_leader_status_metric_follows_leadership() -> None:
    async with candidates(config("a"), config("b")) as (a, b):
        await eventually(lambda: a.leading or b.leading)
        leader, standby = (a, b) if a.leading else (b, a)
        sample = "leader_election_master_status"
        labels = {"name": "test-operator"}
        assert leader.manager.metrics.registry.get_sample_value(sample, labels) == 1
        assert standby.manager.metrics.registry.get_sample_value(sample, labels) == 0


def test_config_rejects_timings_that_allow_two_leaders() -> None:
    with pytest.raises(ValueError, match="renew_deadline"):
        LeaderElectionConfig(name="x", lease_duration=5, renew_deadline=5, retry_period=1)
    with pytest.raises(ValueError, match="retry_period"):
        LeaderElectionConfig(name="x", lease_duration=5, renew_deadline=1, retry_period=1)


async def test_elector_alone_acquires_creates_the_lease_and_releases_it() -> None:
    async with ApiServer() as server, await Client.from_kubeconfig(server.kubeconfig) as client:
        elector = LeaderElector(client, config("solo"))
        async with asyncio.timeout(5):
            await elector.acquire()
        lease = await client.get(Lease, "test-operator", "default")
        assert lease.spec.holder_identity == "solo"
        assert lease.spec.lease_duration_seconds == 1
        assert lease.spec.acquire_time is not None and lease.spec.renew_time is not None
        await elector.release()
        assert not elector.is_leader
        assert not await lease_holder(client)
