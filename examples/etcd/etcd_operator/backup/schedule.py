"""Scheduled backups of an ``EtcdCluster`` (``spec.backup``) and their retention.

For each cluster with ``spec.backup``, the schedule reconciler finds the latest time the cron
expression fired (UTC) and makes sure an ``EtcdBackup`` exists for it, named
``<cluster>-<YYYYMMDDHHMM>`` and owned by the cluster: the deterministic name makes creating
it idempotent, so a missed or repeated reconcile cannot take two backups of one slot (and, as
with a CronJob, slots missed while the operator was down are not made up for, only the latest).
Backups of slots before the cluster existed are never taken.

Retention keeps the ``retention.keep`` newest scheduled backups; each older one that has
finished has its stored object deleted first and then its ``EtcdBackup`` (so a crash in
between leaves an ``EtcdBackup`` to retry from, never an object nobody knows about).

The clock is injectable (``clock=``), so a test can run a schedule of minutes in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from croniter import croniter

from etcd_operator.backup.models import BackupPhase, ClusterBackupSpec, EtcdBackup
from etcd_operator.backup.s3 import S3Store, StorageError
from etcd_operator.backup.storage import object_key, s3_config
from etcd_operator.builders import LABEL_CLUSTER
from etcd_operator.models import EtcdCluster
from opframe import (
    AlreadyExists,
    Context,
    Controller,
    NotFound,
    ObjectMeta,
    Result,
    Secret,
    TerminalError,
    owner_reference_for,
)

__all__ = [
    "LABEL_SCHEDULED",
    "BackupScheduleReconciler",
    "build_schedule_controller",
    "delete_backup",
    "last_slot",
    "next_slot",
    "slot_name",
]

LABEL_SCHEDULED = "etcd.opframe.dev/scheduled"
FIELD_MANAGER = "etcd-operator"


def _cron(expr: str, at: datetime) -> croniter:
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise TerminalError(
            f"spec.backup.schedule {expr!r} is not a 5-field cron expression "
            "(minute hour day-of-month month day-of-week, e.g. '0 */6 * * *')"
        )
    return croniter(expr, at)


def last_slot(expr: str, now: datetime) -> datetime:
    """The latest time at or before ``now`` that ``expr`` fires (UTC)."""
    at = now.astimezone(UTC)
    # croniter's get_prev is strictly before its start: start a microsecond later so that a
    # slot exactly at ``now`` counts as fired (a second later fired it up to a second early).
    prev: datetime = _cron(expr, at + timedelta(microseconds=1)).get_prev(datetime)
    return prev


def next_slot(expr: str, now: datetime) -> datetime:
    """The first time after ``now`` that ``expr`` fires (UTC)."""
    nxt: datetime = _cron(expr, now.astimezone(UTC)).get_next(datetime)
    return nxt


def slot_name(cluster: str, slot: datetime) -> str:
    """``demo-202612021430``: one name per cluster and slot."""
    return f"{cluster}-{slot.astimezone(UTC):%Y%m%d%H%M}"


class BackupScheduleReconciler:
    """Creates the scheduled ``EtcdBackup`` objects of clusters and applies retention.

    ``clock`` gives the current time (UTC); ``max_interval`` bounds how long it sleeps before
    looking again (a test with a fake clock sets it short).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        max_interval: float = 60.0,
    ) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.max_interval = max_interval

    async def reconcile(self, ctx: Context, cluster: EtcdCluster) -> Result:
        """Take the backup of the latest slot if it is missing; delete those beyond ``keep``."""
        spec = cluster.spec.backup
        if spec is None or spec.schedule is None or cluster.metadata.deletion_timestamp:
            return Result()
        now = self.clock()
        slot = last_slot(spec.schedule, now)
        created = cluster.metadata.creation_timestamp
        if created is None or slot >= created:
            await self._ensure(ctx, cluster, spec, slot)
        await self._retain(ctx, cluster, spec)
        wait = (next_slot(spec.schedule, now) - now).total_seconds()
        return Result(requeue_after=max(0.05, min(wait, self.max_interval)))

    async def _ensure(
        self, ctx: Context, cluster: EtcdCluster, spec: ClusterBackupSpec, slot: datetime
    ) -> None:
        assert spec.schedule is not None
        name = slot_name(cluster.metadata.name or "", slot)
        ns = cluster.metadata.namespace or "default"
        if ctx.cache.get(EtcdBackup, name, ns) is not None:
            return
        backup = EtcdBackup.model_validate(
            {
                "metadata": ObjectMeta(
                    name=name,
                    namespace=ns,
                    labels={LABEL_CLUSTER: cluster.metadata.name or "", LABEL_SCHEDULED: "true"},
                    owner_references=[owner_reference_for(cluster)],
                ).to_dict(),
                "spec": {
                    "clusterName": cluster.metadata.name,
                    "destination": spec.destination.to_dict(),
                    "verify": spec.verify,
                },
            }
        )
        try:
            await ctx.client.create(backup, field_manager=FIELD_MANAGER)
        except AlreadyExists:
            return
        await ctx.recorder.normal(cluster, "ScheduleBackup", f"EtcdBackup {name} for {slot:%c}")

    async def _retain(self, ctx: Context, cluster: EtcdCluster, spec: ClusterBackupSpec) -> None:
        ns = cluster.metadata.namespace or "default"
        backups = sorted(
            (
                b
                for b in ctx.cache.list(
                    EtcdBackup,
                    ns,
                    label_selector={
                        LABEL_CLUSTER: cluster.metadata.name or "",
                        LABEL_SCHEDULED: "true",
                    },
                )
                if b.metadata.deletion_timestamp is None
            ),
            key=lambda b: b.metadata.name or "",  # the slot, as YYYYMMDDHHMM, sorts by time
            reverse=True,
        )
        for old in backups[spec.retention.keep :]:
            phase = old.status.phase if old.status else BackupPhase.PENDING
            if phase not in (BackupPhase.SUCCEEDED, BackupPhase.FAILED):
                continue  # still running: retire it once it has finished
            await delete_backup(ctx, old)
            await ctx.recorder.normal(
                cluster, "PruneBackup", f"EtcdBackup {old.metadata.name} beyond keep"
            )


async def delete_backup(ctx: Context, backup: EtcdBackup) -> None:
    """Delete a backup's stored object, then the ``EtcdBackup``."""
    ns = backup.metadata.namespace or "default"
    s3 = backup.spec.destination.s3
    if s3 is not None and backup.status is not None and backup.status.location:
        try:
            config = await s3_config(ctx.client, ns, s3)
            async with S3Store(config) as store:
                await store.delete(object_key(s3, backup.metadata.name or ""))
        except StorageError as e:
            ctx.logger.warning("EtcdBackup %s: object not deleted: %s", backup.metadata.name, e)
            raise
    try:
        await ctx.client.delete(EtcdBackup, backup.metadata.name or "", ns)
    except NotFound:
        pass


def build_schedule_controller(
    reconciler: BackupScheduleReconciler | None = None,
) -> Controller[EtcdCluster]:
    """The controller of ``spec.backup``: EtcdCluster changes and its backups' events."""
    controller = Controller(
        for_=EtcdCluster,
        reconciler=reconciler or BackupScheduleReconciler(),
        name="etcdbackup-schedule",
    ).owns(EtcdBackup)
    # Scheduled backups are created; retention deletes them and, with the storage
    # credentials, their objects.
    return controller.permits(EtcdBackup, "create", "delete").permits(Secret, "get")
