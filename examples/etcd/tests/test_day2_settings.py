"""Against real etcd 3.4 and 3.5: the readiness path the member pods use passes at NOSPACE,
on the client listener and on the plain ``--listen-metrics-urls`` one TLS members are probed
on, and the maintenance calls recover a full member (compact, defragment, disarm).

etcd's health handler (``server/etcdserver/api/etcdhttp``) fails ``/health`` on any raised
alarm and leaves out the alarms named by ``exclude``; the runbook is etcd.io "Maintenance".
"""

from __future__ import annotations

import os
import signal

import aiohttp
import pytest
from etcd_operator import settings
from etcd_operator.maintenance import _size_after_defragment
from etcd_operator.membership import EtcdAdmin
from etcd_procs import BINARIES, ETCD_35, ETCD_NOT_READY, etcd_cluster, loopback_address

from opframe.testing import eventually

pytestmark = pytest.mark.slow


async def _get(url: str) -> int:
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        return resp.status


@pytest.mark.parametrize("binary", BINARIES)
async def test_readiness_passes_at_nospace_and_the_runbook_recovers_writes(
    binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETCD_QUOTA_BACKEND_BYTES", str(4 * 1024 * 1024))
    # The listener TLS members are probed on (etcd_operator.tls.member_args): its /health is
    # the same handler (etcdhttp), so the day-2 path must pass there too.
    metrics = f"http://{loopback_address()}:2381"
    monkeypatch.setenv("ETCD_LISTEN_METRICS_URLS", metrics)
    async with etcd_cluster(binary) as procs, EtcdAdmin([procs[0].client_url], timeout=5) as a:
        url = procs[0].client_url
        status = await eventually(lambda: a.status(url), retry_on=ETCD_NOT_READY, timeout=30)
        version = status.version
        client = await a._client(url)
        for _ in range(200):
            try:
                await client.put(b"k", os.urandom(256 * 1024))
            except Exception as e:
                assert "database space exceeded" in str(e), e
                break
        else:
            raise AssertionError("200 writes never reached the quota")
        assert [kind for _, kind in await a.alarms()] == ["NOSPACE"]
        assert await _get(url + "/health") == 503
        assert await _get(url + settings.readiness_path(version)) == 200
        assert await _get(metrics + "/health") == 503
        assert await _get(metrics + settings.readiness_path(version)) == 200
        before = await a.status(url)
        assert await a.compact(before.revision)
        assert not await a.compact(before.revision)  # compacted that far already
        await a.defragment(url)
        after = await a.status(url)
        assert after.db_size < before.db_size
        for member_id, kind in await a.alarms():
            await a.disarm(member_id, kind)
        assert await a.alarms() == []
        await client.put(b"after", b"ok")
        assert await _get(url + "/health") == 200


async def test_a_member_slow_to_answer_after_its_defragmentation_is_reported_unmeasured() -> None:
    """The size after a defragmentation is asked a few times; a member that does not answer
    (frozen here, as a starved member is) yields no size and the reason, so the run is
    still recorded (``maintenance.execute``) instead of failing the reconcile."""
    async with (
        etcd_cluster(ETCD_35) as procs,
        EtcdAdmin([procs[0].client_url], timeout=1) as a,
    ):
        url = procs[0].client_url
        await eventually(lambda: a.status(url), retry_on=ETCD_NOT_READY, timeout=30)
        await a.defragment(url)
        size, problem = await _size_after_defragment(a, url)
        assert size is not None and size > 0 and problem == ""
        proc = procs[0].proc
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)
        try:
            size, problem = await _size_after_defragment(a, url)
        finally:
            proc.send_signal(signal.SIGCONT)
        assert size is None and url in problem, problem
