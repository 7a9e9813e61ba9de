"""End to end: EtcdBackup snapshots of a real etcd cluster on LocalCluster, stored in a real
S3-compatible server (moto) on loopback, and new clusters restored from them.

The snapshot file format and its check follow etcd's ``etcdutl/snapshot/v3_snapshot.go``
(``db || sha256(db)``, recognised by ``size % 512 == 32``); the restore follows
``etcdutl snapshot restore`` and etcd's disaster-recovery runbook (``etcdutl/snapshot/
v3_snapshot.go``, ``Documentation/op-guide/recovery.md``): every member's data dir restored
from the same snapshot with its own name and peer URL, the same initial cluster and token,
so a new cluster ID and no member joining through raft.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from pathlib import Path

import aetcd
import pytest
from aetcd.utils import prefix_range_end
from backup_env import BackupEnv, S3Server, backup_env, s3_server
from etcd_e2e import NAMESPACE, settled
from etcd_operator.backup.models import EtcdBackup
from etcd_operator.backup.snapshot import SnapshotDigest
from etcd_operator.models import EtcdCluster
from etcd_operator_demo.workload import member_endpoints

from opframe import Event, Invalid, NotFound, PersistentVolumeClaim, Pod, get_condition
from opframe.testing import eventually, find_etcd

__all__ = ["backup_env", "s3_server"]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


async def _put_keys(env: BackupEnv, cluster: str, n: int) -> dict[str, str]:
    endpoint = (await member_endpoints(env.client, NAMESPACE, cluster))[0]
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    written = {f"/test/key-{i}": f"value-{i}" for i in range(n)}
    async with aetcd.Client(host=host, port=int(port)) as etcd:
        for k, v in written.items():
            await etcd.put(k.encode(), v.encode())
    return written


def _object(s3: S3Server, key: str) -> bytes:
    return bytes(s3.boto().get_object(Bucket="backups", Key=key)["Body"].read())  # type: ignore[attr-defined]


async def _available(env: BackupEnv, name: str, size: int) -> None:

    async def ok() -> bool:
        try:
            return settled(size)(await env.client.get(EtcdCluster, name, NAMESPACE))
        except NotFound:
            return False

    await eventually(ok, timeout=90, message=f"{name}: {size} members available")


async def _running(
    env: BackupEnv, name: str, size: int, spec: dict[str, object] | None = None
) -> None:
    """Create an EtcdCluster and wait until its members are available."""
    await env.create_cluster(name, size, spec or {})
    await _available(env, name, size)


async def _source(env: BackupEnv, size: int, *, keys: int) -> dict[str, str]:
    """S3 credentials, the cluster "src" of ``size`` members running, ``keys`` keys written."""
    await env.credentials()
    await _running(env, "src", size)
    return await _put_keys(env, "src", keys)


async def _backed_up(env: BackupEnv, name: str) -> EtcdBackup:
    """Back "src" up to the S3 bucket as ``name``; the finished EtcdBackup."""
    await env.backup(name, "src", env.s3_destination())
    return await env.finished(name)


async def _failed(env: BackupEnv, name: str, reason: str, deadline: float = 60) -> str:
    """Wait until backup ``name`` finished; assert it Failed for ``reason``; its message."""
    b = await env.finished(name, deadline)
    assert b.status is not None and b.status.phase == "Failed", b.status
    failed = get_condition(b.status.conditions, "Failed")
    assert failed is not None and failed.reason == reason, failed
    return failed.message or ""


async def _backup_fails(
    env: BackupEnv, destination: dict[str, object], reason: str, deadline: float = 60
) -> str:
    """A backup of a running one-member "src" to ``destination`` Fails for ``reason`` and
    leaves nothing in the bucket; the Failed condition's message."""
    await _running(env, "src", 1)
    await env.backup("src-fails", "src", destination)
    message = await _failed(env, "src-fails", reason, deadline)
    assert env.s3.keys() == [] and env.s3.uploads_in_progress() == []
    return message


async def _refused(env: BackupEnv, name: str) -> EtcdCluster:
    """Wait until the restore of cluster ``name`` is Refused; it started no member pod."""

    async def refused() -> bool:
        c = await env.client.get(EtcdCluster, name, NAMESPACE)
        return (
            c.status is not None
            and c.status.restore is not None
            and (c.status.restore.phase == "Refused")
        )

    await eventually(refused, timeout=60, message=f"{name}: restore refused")
    pods = await env.client.list(Pod, NAMESPACE)
    assert not any((p.metadata.name or "").startswith(f"{name}-") for p in pods.items)
    return await env.client.get(EtcdCluster, name, NAMESPACE)


async def test_backup_to_s3_succeeds_with_size_revision_and_hash(backup_env: BackupEnv) -> None:
    env = backup_env
    await _source(env, 3, keys=50)

    b = await _backed_up(env, "src-now")

    assert b.status is not None and b.status.phase == "Succeeded", b.status
    assert b.status.location == "s3://backups/etcd/src-now.db"
    data = _object(env.s3, "etcd/src-now.db")
    assert b.status.size_bytes == len(data) > 0
    assert b.status.sha256 == hashlib.sha256(data).hexdigest()
    assert b.status.revision is not None and b.status.revision >= 51
    digest = SnapshotDigest()
    digest.update(data)
    digest.verify()  # etcd's own trailing hash is intact
    complete = get_condition(b.status.conditions, "Complete")
    assert complete is not None and complete.status == "True"
    assert b.status.start_time and b.status.completion_time
    assert env.s3.uploads_in_progress() == []


def _etcdutl() -> str:
    directory = find_etcd("3.5.1")
    assert directory is not None
    return str(directory / "etcdutl")


async def test_stored_snapshot_passes_etcdutl_snapshot_status(backup_env: BackupEnv) -> None:
    env = backup_env
    await _source(env, 1, keys=10)
    b = await _backed_up(env, "one")
    assert b.status is not None and b.status.phase == "Succeeded", b.status
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snap.db"
        path.write_bytes(_object(env.s3, "etcd/one.db"))
        proc = await asyncio.create_subprocess_exec(
            _etcdutl(),
            "snapshot",
            "status",
            str(path),
            "-w",
            "json",
            stdout=asyncio.subprocess.PIPE,
        )
        out = (await proc.communicate())[0].decode()
        assert proc.returncode == 0
    assert f'"revision":{b.status.revision}' in out.replace(" ", "")


async def test_wrong_credentials_fail_the_backup_naming_them(backup_env: BackupEnv) -> None:
    env = backup_env
    await env.credentials("bad", key="AKIAWRONGWRONGWRONG", secret="nope")
    destination = env.s3_destination(secret="bad")
    assert "AWS_ACCESS_KEY_ID" in await _backup_fails(env, destination, "InvalidCredentials")


async def test_unreachable_endpoint_fails_the_backup_naming_the_endpoint(
    backup_env: BackupEnv,
) -> None:
    env = backup_env
    await env.credentials()
    nowhere = "http://127.0.0.1:9"  # the discard port: nothing listens there
    destination = env.s3_destination(endpoint=nowhere)
    assert nowhere in await _backup_fails(env, destination, "EndpointUnreachable", deadline=90)


async def test_backup_of_a_missing_cluster_fails_with_no_healthy_member(
    backup_env: BackupEnv,
) -> None:
    env = backup_env
    await env.credentials()
    await env.create_cluster("idle", 1, {"paused": True})
    await env.backup("idle-now", "idle", env.s3_destination())
    await _failed(env, "idle-now", "NoHealthyMember")
    assert env.s3.keys() == []


async def _read_keys(env: BackupEnv, cluster: str) -> dict[str, str]:
    endpoint = (await member_endpoints(env.client, NAMESPACE, cluster))[0]
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    async with aetcd.Client(host=host, port=int(port)) as etcd:
        got = await etcd.get_prefix(b"/test/")
        return {kv.key.decode(): kv.value.decode() for kv in got}


async def _keys_on_every_member(env: BackupEnv, cluster: str) -> list[dict[str, str]]:
    """The ``/test/`` keys each member holds itself (serializable reads, not via the leader)."""
    out = []
    for endpoint in sorted(await member_endpoints(env.client, NAMESPACE, cluster)):
        host, port = endpoint.removeprefix("http://").rsplit(":", 1)
        async with aetcd.Client(host=host, port=int(port)) as etcd:
            request = etcd._build_get_range_request(
                key=b"/test/", range_end=prefix_range_end(b"/test/"), serializable=True
            )
            resp = await etcd.kvstub.Range(request, timeout=10)
            out.append({kv.key.decode(): kv.value.decode() for kv in resp.kvs})
    return out


async def _restored_from_the_snapshot(env: BackupEnv, cluster: str, size: int) -> None:
    """Every initial member was created from the snapshot: each pod restores it in its init
    containers with the full initial cluster and its own name, and no member was added."""
    c = await env.client.get(EtcdCluster, cluster, NAMESPACE)
    assert c.status is not None and c.status.restore is not None
    pods = [f"{cluster}-{i}" for i in range(size)]
    assert c.status.restore.members == pods
    assert c.status.restore.created == pods
    tokens = set()
    for name in pods:
        pod = await env.client.get(Pod, name, NAMESPACE)
        init = {i.name: i for i in pod.spec.init_containers or []}
        args = init["restore"].args or []
        assert f"--name={name}" in args
        cluster_arg = next(a for a in args if a.startswith("--initial-cluster="))
        assert sorted(e.split("=")[0] for e in cluster_arg.split("=", 1)[1].split(",")) == pods
        tokens |= {a for a in args if a.startswith("--initial-cluster-token=")}
    assert len(tokens) == 1
    events = await env.client.list(Event, NAMESPACE)
    added = [
        e for e in events.items if e.involved_object.name == cluster and e.reason == "AddMember"
    ]
    assert added == [], [e.message for e in added]


async def _gone(env: BackupEnv, name: str) -> None:

    async def gone() -> bool:
        try:
            await env.client.get(EtcdCluster, name, NAMESPACE)
            return False
        except NotFound:
            pods = await env.client.list(Pod, NAMESPACE)
            return not any((p.metadata.name or "").startswith(f"{name}-") for p in pods.items)

    await eventually(gone, timeout=60, message=f"EtcdCluster {name} and its pods deleted")


async def _restored_into_copy(env: BackupEnv, backup: str, written: dict[str, str]) -> None:
    """With "src" deleted, a new three-member "copy" restored from ``backup`` holds exactly
    ``written`` on every member, restored from the snapshot."""
    await env.client.delete(EtcdCluster, "src", NAMESPACE)
    await _gone(env, "src")
    await _running(env, "copy", 3, {"bootstrap": {"fromBackup": {"backupName": backup}}})
    assert await _read_keys(env, "copy") == written
    assert await _keys_on_every_member(env, "copy") == [written] * 3
    await _restored_from_the_snapshot(env, "copy", 3)


async def test_new_cluster_restored_from_s3_backup_has_every_key(backup_env: BackupEnv) -> None:

    env = backup_env
    written = await _source(env, 3, keys=100)
    old = await env.client.get(EtcdCluster, "src", NAMESPACE)
    b = await _backed_up(env, "src-full")
    assert b.status is not None and b.status.phase == "Succeeded", b.status
    await _restored_into_copy(env, "src-full", written)
    c = await env.client.get(EtcdCluster, "copy", NAMESPACE)
    assert c.status is not None and c.status.restore is not None
    assert c.status.restore.phase == "Restored"
    assert c.status.restore.revision == b.status.revision
    assert old.status is not None and c.status.cluster_id != old.status.cluster_id


async def test_restore_from_a_corrupted_object_is_refused(backup_env: BackupEnv) -> None:

    env = backup_env
    await _source(env, 1, keys=10)
    b = await _backed_up(env, "src-b")
    assert b.status is not None and b.status.phase == "Succeeded", b.status
    data = bytearray(_object(env.s3, "etcd/src-b.db"))
    data[4096] ^= 0xFF  # one flipped bit of the database
    env.s3.boto().put_object(Bucket="backups", Key="etcd/src-b.db", Body=bytes(data))  # type: ignore[attr-defined]

    await env.create_cluster("copy", 1, {"bootstrap": {"fromBackup": {"backupName": "src-b"}}})

    c = await _refused(env, "copy")
    assert c.status is not None and c.status.restore is not None
    assert "SHA-256" in c.status.restore.message
    progressing = get_condition(c.status.conditions, "Progressing")
    assert progressing is not None and progressing.reason == "RestoreRefused"


async def test_restore_with_wrong_credentials_is_refused_naming_them(
    backup_env: BackupEnv,
) -> None:
    env = backup_env
    await env.credentials("bad", key="AKIAWRONGWRONGWRONG", secret="nope")
    s3 = env.s3_destination(secret="bad")["s3"]
    source = {"s3": s3, "key": "etcd/anything.db"}
    await env.create_cluster("copy", 3, {"bootstrap": {"fromBackup": source}})

    c = await _refused(env, "copy")
    assert c.status is not None and c.status.restore is not None
    assert "AWS_ACCESS_KEY_ID" in c.status.restore.message


async def test_backup_to_a_volume_restores_into_a_new_cluster(backup_env: BackupEnv) -> None:

    env = backup_env
    await env.client.create(
        PersistentVolumeClaim.model_validate(
            {
                "metadata": {"name": "backups", "namespace": NAMESPACE},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        )
    )
    await _running(env, "src", 3)
    written = await _put_keys(env, "src", 60)
    volume = {"volume": {"claimName": "backups", "path": "etcd"}}
    await env.backup("src-vol", "src", volume)
    b = await env.finished("src-vol", deadline=90)
    assert b.status is not None and b.status.phase == "Succeeded", b.status
    assert b.status.location == "pvc://backups/etcd/src-vol.db"
    assert b.status.size_bytes and b.status.sha256 and b.status.revision
    assert b.status.revision >= 61
    pods = await env.client.list(Pod, NAMESPACE)
    assert not any((p.metadata.name or "").endswith("-snapshot") for p in pods.items)
    await _restored_into_copy(env, "src-vol", written)


async def test_verify_restores_the_snapshot_into_a_throwaway_member(backup_env: BackupEnv) -> None:

    env = backup_env
    await _source(env, 1, keys=20)
    await env.client.create(
        EtcdBackup.model_validate(
            {
                "metadata": {"name": "checked", "namespace": NAMESPACE},
                "spec": {
                    "clusterName": "src",
                    "destination": env.s3_destination(),
                    "verify": True,
                },
            }
        )
    )

    async def verified() -> bool:
        b = await env.client.get(EtcdBackup, "checked", NAMESPACE)
        return b.status is not None and b.status.verification is not None

    await eventually(verified, timeout=120, message="verification recorded")
    b = await env.client.get(EtcdBackup, "checked", NAMESPACE)
    assert b.status is not None and b.status.verification is not None
    v = b.status.verification
    assert v.verified, v.message
    assert v.revision is not None and b.status.revision is not None
    assert v.revision >= b.status.revision
    clusters = await env.client.list(EtcdCluster, NAMESPACE)
    assert {c.metadata.name for c in clusters.items if c.metadata.deletion_timestamp is None} == {
        "src"
    }


async def test_restore_from_a_location_after_its_etcdbackup_is_gone(backup_env: BackupEnv) -> None:
    env = backup_env
    written = await _source(env, 1, keys=30)
    b = await _backed_up(env, "src-loc")
    assert b.status is not None and b.status.phase == "Succeeded", b.status
    await env.client.delete(EtcdBackup, "src-loc", NAMESPACE)  # the object stays
    assert "etcd/src-loc.db" in env.s3.keys()

    s3 = env.s3_destination()["s3"]
    source = {"s3": s3, "key": "etcd/src-loc.db", "sha256": b.status.sha256}
    await _running(env, "copy", 1, {"bootstrap": {"fromBackup": source}})
    assert await _read_keys(env, "copy") == written


async def test_from_backup_needs_exactly_one_source(backup_env: BackupEnv) -> None:
    env = backup_env
    both = {"backupName": "x", "s3": env.s3_destination()["s3"], "key": "k.db"}
    with pytest.raises(Invalid, match="exactly one of backupName and s3"):
        await env.create_cluster("bad", 1, {"bootstrap": {"fromBackup": both}})
