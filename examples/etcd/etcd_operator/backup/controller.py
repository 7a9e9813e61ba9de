"""The ``EtcdBackup`` reconciler: one snapshot, streamed from a healthy member to storage.

A backup runs once: ``Pending`` -> ``Running`` -> ``Succeeded`` or ``Failed``, both final.
The snapshot is taken from a healthy member (followers first, to spare the leader) through
etcd's maintenance ``Snapshot`` RPC and streamed to the destination as it arrives; its
SHA-256 and etcd's own integrity hash are checked on the way, and an upload whose snapshot
turns out short or corrupt, that fails or is cancelled, is aborted, so a failed backup leaves
no object behind.

An operator killed mid-upload cannot abort: its multipart upload stays in progress, its
backup ``Running``. So each attempt first aborts the uploads in progress of its own object (a
backup's attempts never overlap: one worker per key, one leader), and, once per destination
after the operator starts, the uploads under the destination's prefix that belong to
backups of the namespace that are no longer running (``Succeeded`` or ``Failed``, final) are
aborted too (S3's ``ListMultipartUploads``). Uploads of keys no ``EtcdBackup`` names are
left alone: they may be another writer's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from etcd_operator import tls
from etcd_operator.backup.members import member_endpoints
from etcd_operator.backup.models import BackupPhase, EtcdBackup, EtcdBackupStatus
from etcd_operator.backup.restore import BACKUP_MOUNT, fetch_container
from etcd_operator.backup.s3 import S3Store, StorageError
from etcd_operator.backup.snapshot import SnapshotDigest, SnapshotError, open_snapshot
from etcd_operator.backup.storage import location_of, object_key, s3_config, volume_file
from etcd_operator.backup.verify import step_verification
from etcd_operator.builders import LABEL_CLUSTER
from etcd_operator.models import EtcdCluster
from opframe import (
    Context,
    Controller,
    NotFound,
    ObjectMeta,
    Pod,
    Result,
    Secret,
    generation_changed,
    owner_reference_for,
    set_condition,
)
from opframe.kinds import (
    PersistentVolumeClaimVolumeSource,
    PodSpec,
    Volume,
    VolumeMount,
)

__all__ = [
    "EtcdBackupReconciler",
    "build_backup_controller",
    "snapshot_pod",
    "snapshot_pod_name",
]

FIELD_MANAGER = "etcd-operator"


class _Failed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class EtcdBackupReconciler:
    """Takes the snapshot an ``EtcdBackup`` asks for, once.

    To S3 the operator streams the snapshot itself. To a volume it runs a snapshot pod that
    mounts the claim (the operator cannot reach a PersistentVolume from its own pod on a real
    cluster, and on the local kubelet a claim is a directory only the kubelet manages); the
    pod streams the snapshot from the member into the volume, checks it the same way and
    prints its size, hash and revision, which the operator reads from the pod's log.
    ``poll_interval`` is how often a running snapshot pod is looked at.
    """

    def __init__(self, *, poll_interval: float = 1.0) -> None:
        self.poll_interval = poll_interval
        self._swept: set[tuple[str, str | None, str, str]] = set()
        """Destinations (namespace, endpoint, bucket, prefix) swept since this process began."""

    async def reconcile(self, ctx: Context, backup: EtcdBackup) -> Result:
        """Run the backup unless it already finished."""
        status = backup.status or EtcdBackupStatus()
        if backup.metadata.deletion_timestamp is not None:
            return Result()
        if status.phase in (BackupPhase.SUCCEEDED, BackupPhase.FAILED):
            await self._sweep(ctx, backup)
        if status.phase == BackupPhase.SUCCEEDED and backup.spec.verify:
            if status.verification is not None:
                return Result()
            result = await step_verification(ctx, backup, status)
            if result is None:
                return Result(requeue_after=self.poll_interval)
            status = status.model_copy(update={"verification": result})
            await self._write(ctx, backup, status)
            if result.verified:
                await ctx.recorder.normal(backup, "BackupVerified", result.message)
            else:
                await ctx.recorder.warning(backup, "VerificationFailed", result.message)
            return Result()
        if status.phase in (BackupPhase.SUCCEEDED, BackupPhase.FAILED):
            return Result()
        status = status.model_copy(deep=True)
        if status.phase != BackupPhase.RUNNING or status.start_time is None:
            status.phase = BackupPhase.RUNNING
            status.start_time = datetime.now(UTC)
            await self._write(ctx, backup, status)
        try:
            if backup.spec.destination.volume is not None:
                if not await self._run_pod(ctx, backup, status):
                    return Result(requeue_after=self.poll_interval)
            else:
                await self._run(ctx, backup, status)
        except _Failed as e:
            self._finish(backup, status, BackupPhase.FAILED, e.reason, str(e))
            await ctx.recorder.warning(backup, e.reason, str(e))
        else:
            self._finish(
                backup,
                status,
                BackupPhase.SUCCEEDED,
                "SnapshotStored",
                f"{status.size_bytes} bytes at revision {status.revision} from {status.member}",
            )
            await ctx.recorder.normal(backup, "SnapshotStored", f"stored at {status.location}")
        await self._write(ctx, backup, status)
        if status.phase == BackupPhase.SUCCEEDED and backup.spec.verify:
            return Result(requeue_after=0.1)  # verification starts now
        return Result()

    async def _sweep(self, ctx: Context, backup: EtcdBackup) -> None:
        """Once per destination and process: abort uploads left in progress under its prefix
        by backups of this namespace that have finished (a killed operator's, or one whose
        abort failed)."""
        s3 = backup.spec.destination.s3
        ns = backup.metadata.namespace or "default"
        if s3 is None:
            return
        where = (ns, s3.endpoint, s3.bucket, s3.prefix)
        if where in self._swept:
            return
        self._swept.add(where)

        def finished(key: str) -> bool:
            name = key.removeprefix(s3.prefix).removesuffix(".db")
            other = ctx.cache.get(EtcdBackup, name, ns)
            if other is None or other.status is None or object_key(s3, name) != key:
                return False
            d = other.spec.destination.s3
            same = d is not None and (d.endpoint, d.bucket, d.prefix) == where[1:]
            # Final phases only: a cached "Pending" may be a backup starting right now.
            return same and other.status.phase in (BackupPhase.SUCCEEDED, BackupPhase.FAILED)

        try:
            config = await s3_config(ctx.client, ns, s3)
            async with S3Store(config) as store:
                aborted = await store.abort_uploads(s3.prefix, finished)
        except StorageError as e:
            ctx.logger.warning(
                "stale uploads under s3://%s/%s not swept: %s", s3.bucket, s3.prefix, e
            )
            return
        for key in aborted:
            ctx.logger.info("aborted the stale multipart upload of s3://%s/%s", s3.bucket, key)

    async def _run(self, ctx: Context, backup: EtcdBackup, status: EtcdBackupStatus) -> None:
        ns = backup.metadata.namespace or "default"
        name = backup.metadata.name or ""
        s3 = backup.spec.destination.s3
        assert s3 is not None  # the CRD requires exactly one of s3 and volume
        try:
            config = await s3_config(ctx.client, ns, s3)
        except StorageError as e:
            raise _Failed(e.reason, str(e)) from e
        key = object_key(s3, name)
        try:
            # An earlier attempt's upload still in progress was cut short with its process
            # (attempts of one backup never run at once): abort it before starting anew.
            async with S3Store(config) as store:
                for stale in await store.abort_uploads(key, lambda k: k == key):
                    ctx.logger.info(
                        "aborted an earlier attempt's upload of s3://%s/%s", s3.bucket, stale
                    )
        except StorageError as e:
            raise _Failed(e.reason, str(e)) from e
        cluster = await _source_cluster(ctx, backup)
        try:
            creds = await tls.client_credentials(ctx, cluster)
        except ValueError as e:
            raise _Failed("TLSInvalid", str(e)) from e
        endpoints = await _healthy_endpoints(ctx, cluster)
        errors: list[str] = []
        async with S3Store(config) as store:
            for endpoint in endpoints:
                digest = SnapshotDigest()
                try:
                    async with await open_snapshot(endpoint, tls=creds) as snap:
                        await store.upload(key, _checked(snap.chunks(), digest))
                        revision = snap.revision
                except SnapshotError as e:
                    errors.append(str(e))  # aborted upload: try the next member
                    continue
                except StorageError as e:
                    raise _Failed(e.reason, str(e)) from e
                status.location = location_of(s3, name)
                status.size_bytes = digest.size
                status.sha256 = digest.sha256
                status.revision = revision
                status.member = endpoint
                return
        raise _Failed("NoHealthyMember", "no member gave a complete snapshot: " + "; ".join(errors))

    async def _run_pod(self, ctx: Context, backup: EtcdBackup, status: EtcdBackupStatus) -> bool:
        """Drive the snapshot pod one step; ``True`` once it has finished (status filled)."""
        ns = backup.metadata.namespace or "default"
        name = backup.metadata.name or ""
        volume = backup.spec.destination.volume
        assert volume is not None
        pod_name = snapshot_pod_name(name)
        try:
            pod = await ctx.client.get(Pod, pod_name, ns)
        except NotFound:
            pod = None
        if pod is None:
            cluster = await _source_cluster(ctx, backup)
            if tls.enabled(cluster):
                raise _Failed(
                    "TLSUnsupported",
                    f"EtcdCluster {ns}/{cluster.metadata.name} uses TLS: a volume destination's "
                    "snapshot pod has no client certificate yet; use an s3 destination",
                )
            endpoints = await _healthy_endpoints(ctx, cluster)
            await ctx.client.create(snapshot_pod(backup, endpoints[0]), field_manager=FIELD_MANAGER)
            status.member = endpoints[0]
            await self._write(ctx, backup, status)
            return False
        phase = pod.status.phase if pod.status else None
        if phase not in ("Succeeded", "Failed"):
            return False
        try:
            result = await ctx.client.request(
                "GET",
                f"/api/v1/namespaces/{ns}/pods/{pod_name}/log",
                params={"container": "snapshot", "tailLines": "1"},
            )
        except Exception as e:  # a log that is not our one JSON line
            result = {"reason": "SnapshotFailed", "message": f"snapshot pod {pod_name}: {e}"}
        await ctx.client.delete(Pod, pod_name, ns)
        if phase == "Failed" or not isinstance(result, dict) or "sha256" not in result:
            r = result if isinstance(result, dict) else {}
            raise _Failed(
                str(r.get("reason", "SnapshotFailed")),
                str(r.get("message", f"snapshot pod {pod_name} failed")),
            )
        status.location = f"pvc://{volume.claim_name}/{volume_file(volume.path, name)}"
        status.size_bytes = int(result["sizeBytes"])
        status.sha256 = str(result["sha256"])
        status.revision = int(result["revision"])
        return True

    def _finish(
        self,
        backup: EtcdBackup,
        status: EtcdBackupStatus,
        phase: BackupPhase,
        reason: str,
        message: str,
    ) -> None:
        status.phase = phase
        status.completion_time = datetime.now(UTC)
        gen = backup.metadata.generation
        ok = phase == BackupPhase.SUCCEEDED
        set_condition(status.conditions, "Complete", ok, reason, message, gen)
        set_condition(status.conditions, "Failed", not ok, reason, message, gen)

    async def _write(self, ctx: Context, backup: EtcdBackup, status: EtcdBackupStatus) -> None:
        await ctx.client.patch_status(
            EtcdBackup,
            backup.metadata.name or "",
            {"status": status.to_dict()},
            namespace=backup.metadata.namespace,
            field_manager=FIELD_MANAGER,
        )


def snapshot_pod_name(backup: str) -> str:
    """The snapshot pod of a backup to a volume."""
    return f"{backup[:53]}-snapshot"


def snapshot_pod(backup: EtcdBackup, endpoint: str) -> Pod:
    """A pod mounting the destination claim that saves a snapshot of ``endpoint`` into it."""
    volume = backup.spec.destination.volume
    assert volume is not None
    name = backup.metadata.name or ""
    return Pod(
        metadata=ObjectMeta(
            name=snapshot_pod_name(name),
            namespace=backup.metadata.namespace,
            labels={LABEL_CLUSTER: backup.spec.cluster_name, "etcd.opframe.dev/backup": name},
            owner_references=[owner_reference_for(backup)],
        ),
        spec=PodSpec(
            restart_policy="Never",
            containers=[
                fetch_container(
                    "snapshot",
                    [
                        "save",
                        f"--endpoint={endpoint}",
                        f"--out={BACKUP_MOUNT}/{volume_file(volume.path, name)}",
                    ],
                    [VolumeMount(name="backup", mount_path=BACKUP_MOUNT)],
                )
            ],
            volumes=[
                Volume(
                    name="backup",
                    persistent_volume_claim=PersistentVolumeClaimVolumeSource(
                        claim_name=volume.claim_name
                    ),
                )
            ],
        ),
    )


async def _source_cluster(ctx: Context, backup: EtcdBackup) -> EtcdCluster:
    """The EtcdCluster ``backup`` is of (``ClusterNotFound`` when it does not exist)."""
    ns = backup.metadata.namespace or "default"
    try:
        return await ctx.client.get(EtcdCluster, backup.spec.cluster_name, ns)
    except NotFound:
        raise _Failed(
            "ClusterNotFound", f"EtcdCluster {ns}/{backup.spec.cluster_name} does not exist"
        ) from None


async def _healthy_endpoints(ctx: Context, cluster: EtcdCluster) -> list[str]:
    """The client URLs of ``cluster``'s healthy members (``NoHealthyMember`` when none is)."""
    endpoints = await member_endpoints(ctx, cluster)
    if not endpoints:
        raise _Failed(
            "NoHealthyMember",
            f"EtcdCluster {cluster.metadata.namespace}/{cluster.metadata.name} has no healthy "
            "member to take a snapshot from: wait until it is Available",
        )
    return endpoints


async def _checked(chunks: AsyncIterator[bytes], digest: SnapshotDigest) -> AsyncIterator[bytes]:
    """Pass ``chunks`` through ``digest``; at the end, verify etcd's hash (which, raising
    inside the upload, aborts it)."""
    async for chunk in chunks:
        digest.update(chunk)
        yield chunk
    digest.verify()


def build_backup_controller(
    reconciler: EtcdBackupReconciler | None = None, *, max_concurrent_reconciles: int = 2
) -> Controller[EtcdBackup]:
    """The EtcdBackup controller (a backup runs once, so status writes need not trigger it)."""
    controller = Controller(
        for_=EtcdBackup,
        reconciler=reconciler or EtcdBackupReconciler(),
        name="etcdbackup",
        max_concurrent_reconciles=max_concurrent_reconciles,
        # Not on its own status writes: a backup that is Running must not start again.
        predicates=[generation_changed],
    )
    # What the reconciler writes or reads live (opframe rbac generate reads this): its status,
    # the snapshot pod and its log (volume destinations), the storage credentials, and the
    # throw-away cluster of a verification.
    return (
        controller.permits(EtcdBackup, "patch", subresource="status")
        .permits(Pod, "get", "list", "create", "delete")
        .permits(Pod, "get", subresource="log")
        .permits(Secret, "get")
        .permits(EtcdCluster, "get", "create", "delete")
    )
