"""TLS long forms (``./run chaos``): certificate rotation at the issue's 2-minute validity,
and scaling with generated certificates, under continuous writes.

etcd loads its key pair on every handshake (``client/pkg/transport/listener.go``,
``TLSInfo.baseConfig``'s ``GetCertificate``), so a renewed Secret swapped into the volume by
the kubelet is used without a restart; the short form with a 30 s validity is in
``tests/test_tls_e2e.py``.
"""

from __future__ import annotations

from collections import Counter

import pytest
from chaos.harness import LONG
from etcd_e2e import EtcdEnv, member_ids, settled
from etcd_operator import tls
from tls_env import create_generating, writing_tls

from opframe.testing import eventually

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.e2e,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not LONG, reason="long form: ./run chaos"),
]


async def _renewals(env: EtcdEnv) -> Counter[str]:
    done: Counter[str] = Counter()
    for e in await env.events("CertificateRenewed"):
        done[(e.message or "").split(" ", 1)[0]] += e.count or 1
    return done


async def test_two_minute_certificates_renewed_twice_while_scaling_under_writes(
    etcd_env: EtcdEnv,
) -> None:
    await create_generating(
        etcd_env, 3, "3 members with 2-minute certificates", validity="2m", deadline=120
    )
    async with writing_tls(etcd_env, "e2e-client-tls") as writer:
        await etcd_env.patch({"size": 5})
        await etcd_env.until(settled(5), "scaled to 5 with generated certificates", deadline=120)
        await etcd_env.patch({"size": 3})
        await etcd_env.until(settled(3), "scaled back to 3", deadline=120)
        before = member_ids(await etcd_env.get())

        async def renewed_twice() -> bool:
            done = await _renewals(etcd_env)
            return all(done[role] >= 2 for role in tls.ROLES)

        await eventually(renewed_twice, message="every leaf renewed twice", timeout=400)
        await etcd_env.until(settled(3), "healthy after the renewals", deadline=60)
    assert writer.longest_gap() < 3.0, f"writes stopped for {writer.longest_gap():.1f}s"
    assert member_ids(await etcd_env.get()) == before, "renewal replaced members"
    assert not await etcd_env.events("QuorumLost")
