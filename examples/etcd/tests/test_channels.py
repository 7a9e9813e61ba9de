"""The operator's gRPC channels to members, kept across reconciles (``Channels``), against a
real etcd process.

The rules: a channel is reused while it works; a transport failure closes it, so the next
reconcile dials afresh as soon as the member is back (gRPC's own reconnect backoff would keep a
reused channel failing for seconds after that); a channel no reconcile used for ``idle``
seconds is closed, one still in use is not.
"""

from __future__ import annotations

import pytest
from etcd_operator.membership import Channels, EtcdAdmin, MembershipError
from etcd_procs import ETCD_35, ETCD_NOT_READY, etcd_cluster, seed_healthy

from opframe.testing import eventually


async def _member_id(channels: Channels, endpoint: str) -> int:
    async with EtcdAdmin([endpoint], channels=channels) as admin:
        return (await admin.status(endpoint)).member_id


async def test_one_channel_serves_every_reconcile_and_stays_open_between_them() -> None:
    channels = Channels()
    async with etcd_cluster(ETCD_35) as procs:
        seed = procs[0]
        async with EtcdAdmin([seed.client_url]) as plain:
            await seed_healthy(plain, seed)
        async with EtcdAdmin([seed.client_url], channels=channels) as first:
            await first.member_list()
            client = await first._client(seed.client_url)
        async with EtcdAdmin([seed.client_url], channels=channels) as second:
            assert await second._client(seed.client_url) is client  # the same channel
            await second.member_list()  # and it still works after the first admin closed
        assert len(channels) == 1
        await channels.close()
        assert len(channels) == 0


async def test_a_transport_failure_closes_the_channel_and_the_member_is_reached_when_back() -> (
    None
):
    channels = Channels()
    async with etcd_cluster(ETCD_35) as procs:
        seed = procs[0]
        async with EtcdAdmin([seed.client_url]) as plain:
            await seed_healthy(plain, seed)
        before = await _member_id(channels, seed.client_url)
        seed.stop()
        with pytest.raises(MembershipError, match=seed.client_url.removeprefix("http://")):
            await _member_id(channels, seed.client_url)
        assert len(channels) == 0  # not kept for the next reconcile
        seed.start(f"m0={seed.peer_url}", "existing")  # same data dir, same member
        after = await eventually(
            lambda: _member_id(channels, seed.client_url),
            message="member answers again",
            timeout=15,
            retry_on=ETCD_NOT_READY,
        )
        assert after == before
        await channels.close()


async def test_an_idle_channel_is_closed_but_not_one_in_use() -> None:
    channels = Channels(idle=0.0)
    async with etcd_cluster(ETCD_35) as procs:
        seed = procs[0]
        async with EtcdAdmin([seed.client_url]) as plain:
            await seed_healthy(plain, seed)
        other = seed.client_url + "/"  # another key (the same member)
        async with EtcdAdmin([seed.client_url], channels=channels) as busy:
            await busy.member_list()
            async with EtcdAdmin([other], channels=channels) as admin:
                await admin.status(other)  # the sweep runs: `busy`'s channel is in use
            assert len(channels) == 2
            await busy.member_list()
        async with EtcdAdmin([other], channels=channels) as admin:
            await admin.status(other)  # now the first, released and idle, is closed
        assert len(channels) == 1
        await channels.close()
