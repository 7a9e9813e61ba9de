"""Keeping each cluster's database in shape: quota warnings, defragmentation, NOSPACE recovery.

etcd refuses every write once a member's database file reaches its backend quota: it raises
the ``NOSPACE`` alarm, and the alarm stays until someone disarms it. etcd's runbook
("Maintenance", etcd.io) is compact the history, defragment every member, then disarm. This
module does that by itself, as pure rules over what a reconcile observed (:class:`DBObserved`
to one :data:`Step`, :func:`plan_step`) plus a small executor (:func:`execute`):

1. Nothing runs unless every member is healthy (a NOSPACE alarm is not ill health, see
   ``etcd_operator.observe``); a due step is *skipped, and said so* otherwise.
2. With a NOSPACE alarm: compact to the current revision (once per revision), then defragment
   every member whose file is above the warning level, followers first and the leader last,
   one member per step; then disarm. When the live data alone is above the warning level
   (``dbSizeInUse`` after compaction), nothing can be reclaimed: ``QuotaPressure`` says the
   quota must be raised (``spec.quotaBackendBytes``), which rolls the members with the new
   quota; the alarm is disarmed once the data fits.
3. Without an alarm, ``spec.defragmentation``: a member qualifies when defragmenting frees at
   least ``minReclaimableBytes`` and ``fragmentedPercent`` of its file (``(dbSize -
   dbSizeInUse) / dbSize``); with a ``schedule``, only within a run that starts at a cron time
   and ends when no member qualifies (a schedule never run first waits for its next time).
   One member per step, the leader last.

The quota counted is the database *file* size (etcd's ``backendQuota.Available`` compares the
backend size plus the request's cost with the quota), which only a defragmentation shrinks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from etcd_operator import settings
from etcd_operator.backup.models import BackupPhase, EtcdBackup
from etcd_operator.backup.schedule import last_slot
from etcd_operator.membership import EtcdAdmin, MembershipError
from etcd_operator.models import EtcdCluster, EtcdClusterStatus, MaintenanceStatus
from etcd_operator.naming import ordinal_of
from etcd_operator.observe import View, member_pod
from opframe import ConfigError, Context, TerminalError, get_condition, set_condition

__all__ = [
    "Compact",
    "CompleteSlot",
    "DBObserved",
    "Defragment",
    "Disarm",
    "MemberDB",
    "Skip",
    "Step",
    "apply_status",
    "execute",
    "human_bytes",
    "observe_db",
    "plan_step",
    "record_transitions",
]

NOSPACE = "NOSPACE"


@dataclass(frozen=True)
class MemberDB:
    """One member's database as its ``Maintenance.Status`` reports it."""

    pod: str
    member_id: int
    endpoint: str
    db_size: int
    in_use: int
    leader: bool = False
    healthy: bool = True
    ordinal: int = 0

    @property
    def reclaimable(self) -> int:
        """Bytes a defragmentation of this member frees."""
        return max(self.db_size - self.in_use, 0)


@dataclass(frozen=True)
class DefragRule:
    """``spec.defragmentation`` in bytes and percent."""

    min_reclaimable: int
    fragmented_percent: int
    schedule: str | None = None


@dataclass(frozen=True)
class DBObserved:
    """What the maintenance rules look at."""

    members: tuple[MemberDB, ...]
    alarms: tuple[tuple[int, str], ...] = ()
    revision: int = 0
    quota: int = settings.DEFAULT_QUOTA_BYTES
    warning_percent: int = 80
    rule: DefragRule | None = None
    all_healthy: bool = True
    last_compaction_revision: int = 0
    slot: datetime | None = None
    """The latest ``schedule`` time at or before now (``None`` without a schedule)."""
    completed_slot: datetime | None = None
    defragmented: frozenset[str] = frozenset()
    """Members defragmented since the last compaction (NOSPACE recovery)."""
    reported: bool = True
    """``Degraded``/``DatabaseQuotaExceeded`` is in status already: the alarm has been said
    (Warning Event) before anything is done about it."""

    @property
    def nospace(self) -> bool:
        """Whether any member has raised the NOSPACE alarm."""
        return any(kind == NOSPACE for _, kind in self.alarms)

    @property
    def limit(self) -> int:
        """The warning level in bytes: ``quota * warning_percent / 100``."""
        return self.quota * self.warning_percent // 100

    @property
    def largest(self) -> int:
        """The largest database file of any member."""
        return max((m.db_size for m in self.members), default=0)

    @property
    def live(self) -> int:
        """The largest in-use size of any member: what no defragmentation can shrink."""
        return max((m.in_use for m in self.members), default=0)

    @property
    def quota_too_small(self) -> bool:
        """Under NOSPACE: compacted, and a member defragmented since is still above the
        warning level. ``dbSizeInUse`` cannot tell beforehand (bbolt counts pages freed by the
        compaction as in use until the file is rewritten), so the defragmentation is the test.
        """
        compacted = self.revision <= self.last_compaction_revision
        over = [m for m in self.members if m.db_size >= self.limit]
        return (
            self.nospace
            and compacted
            and bool(over)
            and all(m.pod in self.defragmented for m in over)
        )


@dataclass(frozen=True)
class _StepBase:
    """What every maintenance step carries: ``reason`` says why, for Events and logs."""

    reason: str


@dataclass(frozen=True)
class Compact(_StepBase):
    """Compact the key space to ``revision`` (physically)."""

    revision: int


@dataclass(frozen=True)
class Defragment(_StepBase):
    """Defragment one member."""

    member: MemberDB
    reclaimed: int | None = None
    """Bytes the run freed, once it has run (``None``: not measured)."""


@dataclass(frozen=True)
class Disarm(_StepBase):
    """Deactivate the NOSPACE alarms: the data fits again."""

    alarms: tuple[tuple[int, str], ...] = field(default=())


@dataclass(frozen=True)
class Skip(_StepBase):
    """A step is due but may not run now; ``reason`` says why (recorded once)."""


@dataclass(frozen=True)
class CompleteSlot(_StepBase):
    """A scheduled defragmentation run has nothing (left) to do: it is finished."""

    slot: datetime


Step = Compact | Defragment | Disarm | Skip | CompleteSlot
"""One maintenance step."""


def plan_step(o: DBObserved) -> Step | None:
    """The one next maintenance step (rules in the module docstring), or ``None``."""
    if o.nospace:
        if not o.reported:
            return None  # this reconcile's status write says it first
        if not o.all_healthy:
            return Skip("NOSPACE recovery waits for every member to be healthy")
        if o.revision > o.last_compaction_revision:
            return Compact(
                f"NOSPACE: compacting the history up to revision {o.revision}", o.revision
            )
        over = [m for m in o.members if m.db_size >= o.limit]
        todo = [m for m in over if m.pod not in o.defragmented]
        if todo:
            m = _leader_last(todo)
            return Defragment(
                f"NOSPACE: defragmenting {m.pod} ({human_bytes(m.db_size)} of "
                f"{human_bytes(o.quota)} quota) after compaction",
                m,
            )
        if over:
            return None  # reported as QuotaPressure/QuotaTooSmall; raising the quota rolls
        nospace = tuple(a for a in o.alarms if a[1] == NOSPACE)
        return Disarm(
            f"NOSPACE: every member's database is below {o.warning_percent}% of the quota "
            f"({human_bytes(o.largest)} of {human_bytes(o.quota)}); disarming the alarm",
            nospace,
        )
    rule = o.rule
    if rule is None:
        return None
    if rule.schedule is not None:
        if o.slot is None or (o.completed_slot is not None and o.slot <= o.completed_slot):
            return None
        if o.completed_slot is None:
            # A schedule never run: its latest time fired before anyone asked for it (at
            # 14:00, "0 3 * * *" last fired at 03:00). Like a new CronJob, the first run is at
            # the next time, not now.
            return CompleteSlot("the first scheduled defragmentation is at the next time", o.slot)
    due = [
        m
        for m in o.members
        if m.db_size
        and m.reclaimable >= rule.min_reclaimable
        and m.reclaimable * 100 >= rule.fragmented_percent * m.db_size
    ]
    if not due:
        if rule.schedule is not None and o.slot is not None:
            return CompleteSlot("no member is over the defragmentation thresholds", o.slot)
        return None
    if not o.all_healthy:
        names = ", ".join(sorted(m.pod for m in o.members if not m.healthy)) or "a member"
        return Skip(f"defragmentation skipped: {names} is not healthy")
    m = _leader_last(due)
    return Defragment(
        f"defragmenting {m.pod}: {human_bytes(m.reclaimable)} of {human_bytes(m.db_size)} "
        f"reclaimable ({m.reclaimable * 100 // m.db_size}%)",
        m,
    )


def _leader_last(members: list[MemberDB]) -> MemberDB:
    """Followers first (highest ordinal first), the leader only when no follower is left."""
    followers = [m for m in members if not m.leader]
    if followers:
        return max(followers, key=lambda m: m.ordinal)
    return members[0]


def human_bytes(n: int) -> str:
    """``12.3Mi``: bytes in binary units, for messages and the ``Database`` column."""
    size = float(n)
    for unit in ("", "Ki", "Mi", "Gi", "Ti"):
        if size < 1024 or unit == "Ti":
            return f"{size:.0f}{unit}" if unit == "" else f"{size:.1f}{unit}"
        size /= 1024
    return str(n)


# -- observe ------------------------------------------------------------------------------


async def observe_db(admin: EtcdAdmin, cluster: EtcdCluster, view: View) -> DBObserved:
    """The database state of ``cluster``: sizes from the view's statuses, the alarm list."""
    name = cluster.name
    states = {m.id: m for m in view.observed.members or ()}
    members: list[MemberDB] = []
    for m in view.members:
        pod = member_pod(name, m)
        s = view.statuses.get(pod) if pod else None
        if s is None or m.is_learner:
            continue
        state = states.get(m.id)
        members.append(
            MemberDB(
                pod=pod,
                member_id=m.id,
                endpoint=view.endpoints.get(pod, ""),
                db_size=s.db_size,
                in_use=s.db_size_in_use,
                leader=bool(state and state.leader),
                healthy=bool(state and state.healthy),
                ordinal=ordinal_of(name, pod) or 0,
            )
        )
    voters = [m for m in view.observed.members or () if not m.learner]
    alarms: list[tuple[int, str]] = []
    if members:
        try:
            alarms = await admin.alarms()
        except MembershipError:
            alarms = []
    spec = cluster.spec
    status = cluster.status or EtcdClusterStatus()
    maint = status.maintenance or MaintenanceStatus()
    rule = None
    slot = None
    if spec.defragmentation is not None:
        d = spec.defragmentation
        rule = DefragRule(
            settings.parse_quantity(d.min_reclaimable_bytes, "spec.defragmentation"),
            d.fragmented_percent,
            d.schedule,
        )
        if d.schedule:
            try:
                slot = last_slot(d.schedule, datetime.now(UTC))
            except TerminalError:
                # The API server checked the shape (five fields); the values are checked here.
                raise TerminalError(
                    f"EtcdCluster {cluster.ref}: spec.defragmentation.schedule {d.schedule!r} "
                    "is not a valid 5-field cron expression (minute hour day-of-month month "
                    "day-of-week, e.g. '0 3 * * *')"
                ) from None
    return DBObserved(
        members=tuple(members),
        alarms=tuple(alarms),
        revision=max((s.revision for s in view.statuses.values()), default=0),
        quota=settings.quota_bytes(spec),
        warning_percent=spec.quota_warning_percent,
        rule=rule,
        all_healthy=bool(voters) and all(m.healthy for m in voters) and len(members) == len(voters),
        last_compaction_revision=maint.last_compaction_revision or 0,
        slot=slot,
        completed_slot=maint.defragmentation_slot,
        defragmented=frozenset(maint.defragmented_since_compaction),
        reported=_reported(status),
    )


def _reported(status: EtcdClusterStatus) -> bool:
    degraded = get_condition(status.conditions, "Degraded")
    return degraded is not None and degraded.reason == "DatabaseQuotaExceeded"


# -- act ----------------------------------------------------------------------------------


async def execute(
    ctx: Context, cluster: EtcdCluster, admin: EtcdAdmin, step: Step | None
) -> Step | None:
    """Run ``step`` (fenced) and record it as an Event; returns the step that ran.

    A defragmentation blocks the member while it runs; the rules ran it only with every member
    healthy, so the others keep quorum.
    """
    if step is None or isinstance(step, (Skip, CompleteSlot)):
        return step
    ctx.fence()
    if isinstance(step, Compact):
        await admin.compact(step.revision)
        await ctx.recorder.normal(cluster, "Compacted", f"compacted to revision {step.revision}")
    elif isinstance(step, Defragment):
        m = step.member
        await admin.defragment(m.endpoint)
        role = "leader" if m.leader else "follower"
        # The run happened: it is recorded even when the member is too busy to report its
        # new size (under load a member answers slowly right after a defragmentation), else
        # it would no longer qualify and its run would go unrecorded for good.
        size, problem = await _size_after_defragment(admin, m.endpoint)
        freed = None if size is None else max(m.db_size - size, 0)
        measured = (
            f"reclaimed {freed} bytes ({human_bytes(m.db_size)} -> {human_bytes(size)})"
            if size is not None
            else f"{human_bytes(m.db_size)} before; its size afterwards is unknown ({problem})"
        )
        await ctx.recorder.normal(
            cluster, "Defragmented", f"defragmented {m.pod} ({role}): {measured}"
        )
        step = Defragment(step.reason, m, reclaimed=freed)
    elif isinstance(step, Disarm):
        for member_id, kind in step.alarms:
            await admin.disarm(member_id, kind)
        await ctx.recorder.normal(
            cluster, "DatabaseQuotaRecovered", f"{step.reason}; writes are accepted again"
        )
    return step


async def _size_after_defragment(admin: EtcdAdmin, endpoint: str) -> tuple[int | None, str]:
    """The member's database file size after its defragmentation, asked a few times."""
    problem = ""
    for attempt in range(_STATUS_ATTEMPTS):
        if attempt:
            await asyncio.sleep(0.5 * attempt)  # a pause between retries, not a sync point
        try:
            return (await admin.status(endpoint)).db_size, ""
        except MembershipError as e:
            problem = str(e)
    return None, problem


_STATUS_ATTEMPTS = 3


# -- report -------------------------------------------------------------------------------


def last_backup_time(ctx: Context, cluster: EtcdCluster) -> datetime | None:
    """Completion time of the latest successful ``EtcdBackup`` of ``cluster`` (from the cache;
    ``None`` when the operator runs without the backup controllers)."""
    try:
        backups = ctx.cache.list(EtcdBackup, cluster.namespace)
    except ConfigError:
        return None
    times = [
        b.status.completion_time
        for b in backups
        if b.spec.cluster_name == cluster.name
        and b.status is not None
        and b.status.phase == BackupPhase.SUCCEEDED
        and b.status.completion_time is not None
    ]
    return max(times, default=None)


def apply_status(
    new: EtcdClusterStatus,
    cluster: EtcdCluster,
    view: View,
    db: DBObserved | None,
    step: Step | None,
    backup_time: datetime | None,
) -> None:
    """Add the database view to ``new``: member sizes, alarms, maintenance times, conditions.

    ``Degraded`` turns True with ``DatabaseQuotaExceeded`` under a NOSPACE alarm (unless quorum
    loss already holds it); ``QuotaPressure`` is True with ``QuotaUsageHigh`` above the warning
    level and ``QuotaTooSmall`` when NOSPACE cannot be recovered without a larger quota.
    """
    if db is None:
        return
    generation = cluster.metadata.generation
    for ms in new.members:
        s = view.statuses.get(ms.name)
        if s is not None:
            ms.db_size, ms.db_size_in_use = s.db_size, s.db_size_in_use
    leader = next((m.pod for m in db.members if m.leader), None)
    new.leader = leader
    if db.members:
        pct = db.largest * 100 // db.quota if db.quota else 0
        new.database = f"{human_bytes(db.largest)}/{human_bytes(db.quota)} ({pct}%)"
    maint = (new.maintenance or MaintenanceStatus()).model_copy(deep=True)
    pods = {m.member_id: m.pod for m in db.members}
    maint.alarms = sorted(f"{kind}:{pods.get(mid, f'{mid:x}')}" for mid, kind in db.alarms)
    now = datetime.now(UTC)
    if isinstance(step, Compact):
        maint.last_compaction_time, maint.last_compaction_revision = now, step.revision
        maint.defragmented_since_compaction = []
    elif isinstance(step, Defragment):
        maint.defragmented_since_compaction = sorted(
            {*maint.defragmented_since_compaction, step.member.pod}
        )
        maint.last_defragmentation_time = now
        maint.last_defragmented_member = step.member.pod
        maint.last_reclaimed_bytes = step.reclaimed
    elif isinstance(step, CompleteSlot):
        maint.defragmentation_slot = step.slot
    elif isinstance(step, Disarm):
        maint.alarms = [a for a in maint.alarms if not a.startswith(NOSPACE)]
    maint.skipped = step.reason if isinstance(step, Skip) else None
    if backup_time is not None:
        maint.last_backup_time = backup_time
    new.maintenance = maint

    conditions = new.conditions
    nospace = db.nospace and not isinstance(step, Disarm)
    degraded = get_condition(conditions, "Degraded")
    quorum_lost = degraded is not None and degraded.status == "True"
    if nospace and not quorum_lost:
        before = get_condition((cluster.status or EtcdClusterStatus()).conditions, "Degraded")
        what = (
            "nothing can be reclaimed: raise spec.quotaBackendBytes"
            if db.quota_too_small
            else "compacting and defragmenting to reclaim space, then disarming"
        )
        set_condition(
            conditions,
            "Degraded",
            True,
            "DatabaseQuotaExceeded",
            f"NOSPACE alarm: etcd refuses writes ({human_bytes(db.largest)} of "
            f"{human_bytes(db.quota)} quota); {what}",
            generation,
        )
        now_cond = get_condition(conditions, "Degraded")
        if (
            now_cond is not None
            and before is not None
            and before.status == "True"
            and before.reason == "DatabaseQuotaExceeded"
        ):
            # status.py set it False first; the condition has been True all along.
            now_cond.last_transition_time = before.last_transition_time
    if nospace and db.quota_too_small:
        set_condition(
            conditions,
            "QuotaPressure",
            True,
            "QuotaTooSmall",
            f"the live data ({human_bytes(db.largest)} after compaction and "
            f"defragmentation) is above {db.warning_percent}% of the quota "
            f"({human_bytes(db.quota)}): nothing more can be reclaimed; raise "
            "spec.quotaBackendBytes (at least "
            f"{human_bytes(db.largest * 100 // db.warning_percent + 1)})",
            generation,
        )
    elif db.largest > db.limit or nospace:
        set_condition(
            conditions,
            "QuotaPressure",
            True,
            "QuotaUsageHigh",
            f"the largest member database is {human_bytes(db.largest)}, above "
            f"{db.warning_percent}% of the quota ({human_bytes(db.quota)})",
            generation,
        )
    else:
        set_condition(
            conditions,
            "QuotaPressure",
            False,
            "QuotaOK",
            f"the largest member database is {human_bytes(db.largest)} of {human_bytes(db.quota)}",
            generation,
        )


async def record_transitions(
    ctx: Context, cluster: EtcdCluster, old: EtcdClusterStatus, new: EtcdClusterStatus
) -> None:
    """Warning Events when a database condition turns on, once per transition."""
    for ctype, reasons in (
        ("Degraded", ("DatabaseQuotaExceeded",)),
        ("QuotaPressure", ("QuotaUsageHigh", "QuotaTooSmall")),
    ):
        was = get_condition(old.conditions, ctype)
        now = get_condition(new.conditions, ctype)
        if now is None or now.status != "True" or now.reason not in reasons:
            continue
        if was is not None and was.status == "True" and was.reason == now.reason:
            continue
        await ctx.recorder.warning(cluster, now.reason, now.message or "")
    old_skip = old.maintenance.skipped if old.maintenance else None
    new_skip = new.maintenance.skipped if new.maintenance else None
    if new_skip and new_skip != old_skip:
        await ctx.recorder.warning(cluster, "DefragmentationSkipped", new_skip)
