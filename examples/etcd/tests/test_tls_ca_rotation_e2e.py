"""End to end: the generated CA rotated under writes, real etcd members on LocalCluster.

etcd's rule followed: ``client/pkg/transport/listener.go`` loads the trusted CA file once,
when a listener is built (``NewCertPool`` in ``ServerConfig``/``ClientConfig``), and the key
pair on every handshake; so a member trusts the new CA only once restarted, and a client
certificate of the old CA is refused once every member was restarted without it.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path

import aetcd
import pytest
from etcd_e2e import NAMESPACE, EtcdEnv, member_ids, settled
from etcd_operator import tls
from etcd_operator.builders import LABEL_CLUSTER
from etcd_operator.carotation import ROTATE_CA_ANNOTATION
from etcd_operator.models import (
    EtcdCluster,
    EtcdClusterSpec,
    SecretReference,
    StorageSpec,
    TLSSpec,
)
from etcd_operator_demo.workload import member_endpoints
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

from opframe import Pod, Secret, get_condition
from opframe.testing import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

WRITE_TIMEOUT = 2.0
"""The workload's per-write timeout (etcd_operator_demo.workload.KeyWriter)."""


async def _rotate_under_writes(
    env: EtcdEnv, size: int, tmp_path: Path, storage: StorageSpec | None = None
) -> None:
    await create_generating(
        env, size, f"{size} members with generated certificates", storage=storage or StorageSpec()
    )
    c = await env.get()
    before = member_ids(c)
    # The CA's expiry is reported (and exposed as a metric) like the leaves'.
    assert c.status is not None and c.status.tls is not None
    assert "e2e-ca" in {x.secret for x in c.status.tls.certificates if x.role == "ca"}
    old_client = await client_tls(env, "e2e-client-tls", "e2e")
    old_ca = (await env.client.get(Secret, "e2e-ca", NAMESPACE)).decoded()["tls.crt"]
    async with writing_tls(env, "e2e-client-tls") as writer:
        await env.client.patch(
            EtcdCluster,
            "e2e",
            {"metadata": {"annotations": {ROTATE_CA_ANNOTATION: "first"}}},
            namespace=NAMESPACE,
        )

        async def rotating() -> bool:
            c = await env.get()
            ready = get_condition(c.status.conditions if c.status else [], "CertificatesReady")
            return ready is not None and ready.reason == "RotatingCA"

        await eventually(rotating, message="CertificatesReady says RotatingCA", timeout=30)

        async def completed() -> bool:
            return bool(await env.events("CARotationCompleted"))

        await eventually(completed, message="the CA rotation completed", timeout=240)
        await env.until(settled(size), f"{size} members healthy after the rotation", deadline=60)
    assert writer.longest_gap() < WRITE_TIMEOUT + 1.0, (
        f"writes stopped for {writer.longest_gap():.1f}s"
    )
    assert not await env.events("QuorumLost")
    phases = [e.message or "" for e in await env.events("CARotation")]
    for n, phase in enumerate(("TrustBoth", "NewLeaves", "DropOld"), 1):
        assert any(f"phase {n}/3 ({phase})" in m for m in phases), phases

    def reported_done(c: EtcdCluster) -> bool:
        t = c.status.tls if c.status else None
        ready = get_condition(c.status.conditions if c.status else [], "CertificatesReady")
        return (
            t is not None
            and t.ca_rotation is None
            and ready is not None
            and (ready.reason != "RotatingCA")
        )

    await env.until(reported_done, "status no longer reports a CA rotation", deadline=30)
    ca = await env.client.get(Secret, "e2e-ca", NAMESPACE)
    new_ca = ca.decoded()
    assert new_ca["tls.crt"] != old_ca and new_ca["ca.crt"] == new_ca["tls.crt"]
    assert "next.key" not in new_ca
    for role in tls.ROLES:
        leaf = await env.client.get(Secret, tls.generated_secret_name("e2e", role), NAMESPACE)
        assert leaf.decoded()["ca.crt"] == new_ca["tls.crt"], role
    pods = await env.pod_names()
    assert len(pods) == size
    after = member_ids(await env.get())
    if storage is not None and storage.volume_claim_template is not None:
        # Restarted on their volumes: the same members, with their data.
        assert after == before, "a member on a persistent volume was replaced"
    else:
        # Replaced by surge: no member of before is left.
        assert not set(after.values()) & set(before.values()), (before, after)

    # The old CA's client certificate is refused; the new one works.
    new_client = await client_tls(env, "e2e-client-tls", "e2e")
    stale = tls.ClientTLS(
        ca=new_client.ca,
        cert=old_client.cert,
        key=old_client.key,
        server_name=old_client.server_name,
    )
    endpoint = (await member_endpoints(env.client, NAMESPACE, "e2e", "https"))[0]
    host, port = tls.endpoint_host_port(endpoint)
    async with tls.connect(host, port, tls=new_client, timeout=3) as good:
        await good.put(b"after-rotation", b"ok")
    with pytest.raises(aetcd.exceptions.ClientError):
        async with tls.connect(host, port, tls=stale, timeout=3) as bad:
            await bad.get(b"after-rotation")
    if ETCDCTL is None or KUBECTL is None:
        return
    pod = sorted(pods)[0]
    https = f"--endpoints=https://{pod}.e2e.default.svc:2379"
    ca_file, cert, key = write_client_files(new_client, tmp_path / "new")
    code, out = await etcdctl(
        env, pod, https, f"--cacert={ca_file}", f"--cert={cert}", f"--key={key}", "get", "k"
    )
    assert code == 0, out
    _, old_cert, old_key = write_client_files(stale, tmp_path / "old")
    code, out = await etcdctl(
        env, pod, https, f"--cacert={ca_file}", f"--cert={old_cert}", f"--key={old_key}", "get", "k"
    )
    assert code != 0, out


async def test_ca_rotation_of_one_member_keeps_its_data(etcd_env: EtcdEnv, tmp_path: Path) -> None:
    """A one-member cluster on an emptyDir goes through the surge (a learner added and promoted
    before the old member goes) in phases 1 and 3: its data survives, writes go on."""
    await _rotate_under_writes(etcd_env, 1, tmp_path)


@pytest.mark.chaos
@pytest.mark.skipif(
    os.environ.get("OPFRAME_CHAOS", "") != "long",
    reason="long form (./run chaos): six surge replacements take over a minute",
)
@pytest.mark.parametrize("storage", ["emptyDir", "volumeClaimTemplate"])
async def test_ca_rotation_of_three_members_under_writes(
    etcd_env: EtcdEnv, tmp_path: Path, storage: str
) -> None:
    """Three members, writes throughout: no write fails for longer than the write timeout,
    quorum is never lost, every acknowledged key reads back, the old CA is refused after.
    On emptyDirs members are replaced by surge; on claims restarted on their volumes."""
    spec = StorageSpec.model_validate({storage: {}})
    await _rotate_under_writes(etcd_env, 3, tmp_path, spec)


async def test_supplied_ca_bundle_change_restarts_members_onto_it(etcd_env: EtcdEnv) -> None:
    """Supplied Secrets whose ``ca.crt`` becomes a bundle of the old and a new CA (what
    trust-manager writes first in a rotation): the member is restarted onto it, keeping the
    data, while writes go on; the leaves are left as they are."""
    old_ca = await supply_secrets(etcd_env, "e2e")
    await etcd_env.client.create(
        EtcdCluster(
            metadata={"name": "e2e", "namespace": NAMESPACE},
            spec=EtcdClusterSpec(
                size=1,
                tls=TLSSpec(
                    peer=SecretReference(name="e2e-peer"),
                    server=SecretReference(name="e2e-server"),
                    client=SecretReference(name="e2e-client"),
                ),
            ),
        )
    )
    await etcd_env.until(settled(1), "1 member with supplied certificates", deadline=90)
    new_ca = tls.issue_ca("next CA", dt.datetime.now(dt.UTC))
    bundle = old_ca.cert + new_ca.cert
    want = tls.trust_of([bundle, bundle])
    async with writing_tls(etcd_env, "e2e-client"):
        for role in tls.ROLES:
            s = await etcd_env.client.get(Secret, f"e2e-{role}", NAMESPACE)
            s.data = {**(s.data or {}), "ca.crt": base64.b64encode(bundle).decode()}
            await etcd_env.client.replace(s)

        async def restarted() -> bool:
            pods = await etcd_env.client.list(Pod, NAMESPACE, label_selector={LABEL_CLUSTER: "e2e"})
            return bool(pods.items) and all(
                (p.metadata.annotations or {}).get(tls.TRUST_ANNOTATION) == want
                and p.metadata.deletion_timestamp is None
                for p in pods.items
            )

        await eventually(restarted, message="the member restarted onto the bundle", timeout=90)
        await etcd_env.until(settled(1), "1 member healthy on the bundle", deadline=60)
    assert not await etcd_env.events("QuorumLost")
