"""Backups known to restore (``spec.verify``): each new snapshot restored into a throw-away
single-member ``EtcdCluster``.

The throw-away cluster ``<backup>-verify`` is an ordinary ``EtcdCluster`` with
``spec.bootstrap.fromBackup`` naming the backup, owned by the ``EtcdBackup`` (so the garbage
collector removes it with the backup even if the operator stops half-way). Restoring it runs
exactly the path a real restore runs: the object's SHA-256 and etcd's own hash are checked, the
snapshot goes through ``etcdutl snapshot restore``, and etcd must start on the result. The
backup is verified when the member is healthy and serves the snapshot's data at a revision at
least the one recorded (``status.revision`` is a lower bound, see
:mod:`~etcd_operator.backup.snapshot`); the result goes to ``status.verification`` and the
throw-away cluster is deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime

from etcd_operator.backup.members import member_endpoints
from etcd_operator.backup.models import EtcdBackup, EtcdBackupStatus, VerificationStatus
from etcd_operator.backup.snapshot import SnapshotError, open_snapshot
from etcd_operator.models import EtcdCluster
from opframe import Context, NotFound, get_condition, owner_reference_for

__all__ = ["VERIFY_DEADLINE", "step_verification", "verify_cluster_name"]

VERIFY_DEADLINE = 180.0
"""Seconds the throw-away member may take to become healthy."""


def verify_cluster_name(backup: str) -> str:
    """The throw-away cluster of a backup's verification."""
    return f"{backup[:40]}-verify"


async def step_verification(
    ctx: Context, backup: EtcdBackup, status: EtcdBackupStatus
) -> VerificationStatus | None:
    """Move the verification one step; its result once known, else ``None``."""
    ns = backup.metadata.namespace or "default"
    name = verify_cluster_name(backup.metadata.name or "")
    try:
        probe = await ctx.client.get(EtcdCluster, name, ns)
    except NotFound:
        version = "3.5.1"
        try:
            source = await ctx.client.get(EtcdCluster, backup.spec.cluster_name, ns)
            version = source.spec.version
        except NotFound:
            pass
        await ctx.client.create(
            EtcdCluster.model_validate(
                {
                    "metadata": {
                        "name": name,
                        "namespace": ns,
                        "ownerReferences": [owner_reference_for(backup).to_dict()],
                    },
                    "spec": {
                        "size": 1,
                        "version": version,
                        "bootstrap": {"fromBackup": {"backupName": backup.metadata.name}},
                    },
                }
            )
        )
        return None
    result = await _judge(probe, status, await member_endpoints(ctx, probe))
    if result is not None:
        await ctx.client.delete(EtcdCluster, name, ns)
    return result


async def _judge(
    probe: EtcdCluster, status: EtcdBackupStatus, endpoints: list[str]
) -> VerificationStatus | None:
    now = datetime.now(UTC)
    s = probe.status
    if s is not None and s.restore is not None and s.restore.phase == "Refused":
        return VerificationStatus(verified=False, message=s.restore.message, time=now)
    available = get_condition(s.conditions if s else [], "Available")
    if available is not None and available.status == "True" and endpoints:
        try:
            async with await open_snapshot(endpoints[0]) as conn:
                revision = await conn.current_revision()
        except SnapshotError as e:
            return VerificationStatus(verified=False, message=str(e), time=now)
        recorded = status.revision or 0
        ok = revision >= recorded
        message = (
            f"restored into a throw-away member: healthy at revision {revision}"
            if ok
            else f"restored member at revision {revision}, below the recorded {recorded}"
        )
        return VerificationStatus(verified=ok, revision=revision, message=message, time=now)
    created = probe.metadata.creation_timestamp
    if created is not None and (now - created).total_seconds() > VERIFY_DEADLINE:
        return VerificationStatus(
            verified=False,
            message=f"the restored member did not become healthy within {VERIFY_DEADLINE:.0f}s",
            time=now,
        )
    return None
