"""A backup of a TLS cluster: the snapshot is streamed over TLS with the client certificate
(etcd's maintenance ``Snapshot`` RPC on a member that requires client certificates), and a
TLS cluster restored from it: ``etcdutl snapshot restore`` writes the member with the peer URL
it will advertise (etcdutl/snapshot ``Restore``: ``--initial-advertise-peer-urls`` goes into
the restored membership), so under TLS that URL must be https, or the restored member would
advertise a scheme its peer listener does not serve."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from backup_env import BackupEnv, backup_env, s3_server
from etcd_e2e import NAMESPACE, settled
from etcd_operator.models import EtcdCluster

from opframe import NotFound, Pod
from opframe.testing import eventually

__all__ = ["backup_env", "s3_server"]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


async def test_backup_of_a_tls_cluster_streams_over_tls_and_restores_into_one(
    backup_env: BackupEnv,
) -> None:
    env = backup_env
    await env.credentials()
    await env.create_cluster("sec", 1, {"tls": {"autoGenerate": True}})

    def available(name: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            try:
                return settled(1)(await env.client.get(EtcdCluster, name, NAMESPACE))
            except NotFound:
                return False

        return check

    await eventually(available("sec"), timeout=90, message="sec: 1 TLS member available")
    await env.backup("sec-now", "sec", env.s3_destination())
    b = await env.finished("sec-now")
    assert b.status is not None and b.status.phase == "Succeeded", b.status
    assert (b.status.member or "").startswith("https://")
    assert b.status.size_bytes and b.status.size_bytes % 512 == 32

    spec = {"tls": {"autoGenerate": True}, "bootstrap": {"fromBackup": {"backupName": "sec-now"}}}
    await env.create_cluster("copy", 1, spec)
    await eventually(
        available("copy"), timeout=120, message="copy: 1 restored TLS member available"
    )
    c = await env.client.get(EtcdCluster, "copy", NAMESPACE)
    assert c.status is not None and c.status.restore is not None, c.status
    assert c.status.restore.phase == "Restored" and c.status.restore.revision == b.status.revision
    pod = await env.client.get(Pod, "copy-0", NAMESPACE)
    init = {i.name: i for i in pod.spec.init_containers or []}
    args = init["restore"].args or []
    assert f"--initial-advertise-peer-urls=https://copy-0.copy.{NAMESPACE}.svc:2380" in args, args
    assert any(a.startswith("--initial-cluster=copy-0=https://") for a in args), args
