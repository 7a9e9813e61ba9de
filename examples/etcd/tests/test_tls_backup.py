"""A backup of a TLS cluster: the snapshot is streamed over TLS with the client certificate
(etcd's maintenance ``Snapshot`` RPC on a member that requires client certificates)."""

from __future__ import annotations

import pytest
from backup_env import BackupEnv, backup_env, s3_server, wait_until
from etcd_e2e import NAMESPACE, settled
from etcd_operator.models import EtcdCluster

from opframe import NotFound

__all__ = ["backup_env", "s3_server"]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


async def test_backup_of_a_tls_cluster_streams_over_tls(backup_env: BackupEnv) -> None:
    env = backup_env
    await env.credentials()
    await env.create_cluster("sec", 1, {"tls": {"autoGenerate": True}})

    async def available() -> bool:
        try:
            return settled(1)(await env.client.get(EtcdCluster, "sec", NAMESPACE))
        except NotFound:
            return False

    await wait_until(available, "sec: 1 TLS member available", 90)
    await env.backup("sec-now", "sec", env.s3_destination())
    b = await env.finished("sec-now")
    assert b.status is not None and b.status.phase == "Succeeded", b.status
    assert (b.status.member or "").startswith("https://")
    assert b.status.size_bytes and b.status.size_bytes % 512 == 32
