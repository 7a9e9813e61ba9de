"""The CronJob controller: a Job for each time ``spec.schedule`` fires.

Follows ``pkg/controller/cronjob/cronjob_controllerv2.go`` (``syncCronJob``,
``cleanupFinishedJobs``) and ``utils.go`` (``mostRecentScheduleTime``, ``getJobFromTemplate2``,
``getJobName``):

- ``status.active`` is rebuilt from the Jobs the CronJob controls: an unfinished one is
  listed, a finished one leaves the list, and a ``Complete`` one moves
  ``lastSuccessfulTime`` to its ``completionTime``; references to Jobs gone are dropped;
- nothing is started while ``suspend`` is true or the CronJob is being deleted;
- the time to run is the most recent one the schedule fired after ``lastScheduleTime``
  (else the creation time) and at or before now; missed earlier times are not run. With
  ``startingDeadlineSeconds`` the search starts no earlier than now minus the deadline,
  and a time older than the deadline is missed (``MissedSchedule``), not run;
- ``concurrencyPolicy``: ``Allow`` runs alongside active Jobs, ``Forbid`` skips the time
  while any is active (and retries it until it is too late), ``Replace`` deletes the
  active Jobs first;
- the Job is named ``CRONJOB-MINUTES`` (the scheduled time in minutes since the epoch), so a
  time is never run twice; it copies the template's labels, annotations and spec, gets the
  ``batch.kubernetes.io/cronjob-scheduled-timestamp`` annotation and a controller reference;
  ``lastScheduleTime`` becomes the scheduled time;
- finished Jobs beyond ``successfulJobsHistoryLimit`` (default 3) and
  ``failedJobsHistoryLimit`` (default 1) are deleted, oldest start first.

The clock is injectable (``clock``), so a test runs minutes of schedule in seconds.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opframe.cache import Cache
from opframe.controller import Controller
from opframe.errors import AlreadyExists, NotFound
from opframe.reconcile import Context, Result
from opframe.testing.controllers._cron import Schedule, parse_schedule
from opframe.testing.controllers._kinds import CronJob, Job, body
from opframe.testing.controllers._util import Obj, now, owner_ref, parse_time, rfc3339
from opframe.testing.controllers.job import finished

__all__ = ["SCHEDULED_ANNOTATION", "cronjob_controller", "job_name", "most_recent_schedule"]

log = logging.getLogger("opframe.testing.controllers.cronjob")

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
# utils.go: more missed times than this means a clock or deadline problem (an event only).
TOO_MANY_MISSED = 100


def job_name(cronjob_name: str, scheduled: datetime) -> str:
    """``NAME-MINUTES``: the scheduled time in minutes since the epoch (``getJobName``)."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


def _zone(cj: Obj) -> ZoneInfo | None:
    name = (cj.get("spec") or {}).get("timeZone")
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"spec.timeZone: unknown time zone {name!r}") from exc


def most_recent_schedule(
    cj: Obj, sched: Schedule, at: datetime
) -> tuple[datetime | None, int, datetime | None]:
    """``(time to run or None, times missed, next time after at)`` (``mostRecentScheduleTime``)."""
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    earliest = parse_time(status.get("lastScheduleTime")) or parse_time(
        cj["metadata"].get("creationTimestamp")
    ) or at  # fmt: skip
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None:
        earliest = max(earliest, at - timedelta(seconds=int(deadline)))
    zone = _zone(cj) or UTC
    local_at = at.astimezone(zone)
    latest: datetime | None = None
    missed = 0
    t = sched.next_after(earliest.astimezone(zone))
    while t is not None and t <= local_at:
        if latest is not None and missed == TOO_MANY_MISSED:
            # Only the most recent time runs: skip to a couple of gaps before now.
            t = sched.next_after(max(latest, local_at - 2 * (t - latest))) or t
            if t > local_at:
                break
        latest, missed = t, missed + 1
        t = sched.next_after(t)
    following = sched.next_after(local_at)
    return (
        latest.astimezone(UTC) if latest else None,
        missed,
        following.astimezone(UTC) if following else None,
    )


def _job_for(cj: Obj, scheduled: datetime) -> Obj:
    """The Job to run at ``scheduled`` (``getJobFromTemplate2``)."""
    template = copy.deepcopy((cj.get("spec") or {}).get("jobTemplate") or {})
    tmeta = template.get("metadata") or {}
    zone = _zone(cj) or UTC
    annotations = {**(tmeta.get("annotations") or {}),
                   SCHEDULED_ANNOTATION: scheduled.astimezone(zone).isoformat()}  # fmt: skip
    meta: Obj = {
        "name": job_name(cj["metadata"]["name"], scheduled),
        "namespace": cj["metadata"].get("namespace"),
        "annotations": annotations,
        "ownerReferences": [owner_ref(cj)],
    }
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
            "spec": template.get("spec") or {}}  # fmt: skip


def _ref(job: Obj) -> Obj:
    m = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": m["name"],
            "namespace": m.get("namespace"), "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion")}  # fmt: skip


class _Reconciler:
    def __init__(self, clock: Callable[[], datetime], max_wait: float | None) -> None:
        self.clock = clock
        self.max_wait = max_wait

    async def reconcile(self, ctx: Context, obj: CronJob) -> Result | None:
        cj = body(obj)
        meta, spec = cj["metadata"], cj.get("spec") or {}
        ns = meta.get("namespace", "")
        at = self.clock()
        jobs = [
            body(j) for j in ctx.cache.list(Job, ns)
            if any(o.uid == meta["uid"] and o.controller for o in j.metadata.owner_references or [])
        ]  # fmt: skip
        old = cj.get("status") or {}
        status: Obj = dict(old)
        active = [j for j in jobs if not finished(j)]
        for job in jobs:
            if finished(job) == "Complete":
                done = parse_time((job.get("status") or {}).get("completionTime"))
                last = parse_time(status.get("lastSuccessfulTime"))
                if done is not None and (last is None or done > last):
                    status["lastSuccessfulTime"] = rfc3339(done)
        await self._cleanup(ctx, spec, jobs, ns)
        requeue: float | None = None
        if not meta.get("deletionTimestamp") and not spec.get("suspend"):
            requeue, active = await self._schedule(ctx, cj, status, active, at)
        refs = sorted((_ref(j) for j in active), key=lambda r: r["name"])
        if refs:
            status["active"] = refs
        else:
            status.pop("active", None)
        if status != old:
            with contextlib.suppress(NotFound):
                await ctx.client.patch_status(
                    CronJob, meta["name"], {"status": {**status, "active": refs or None}},
                    namespace=ns,
                )  # fmt: skip
        if requeue is not None and self.max_wait is not None:
            requeue = min(requeue, self.max_wait)
        return Result(requeue_after=requeue) if requeue is not None else None

    async def _schedule(
        self, ctx: Context, cj: Obj, status: Obj, active: list[Obj], at: datetime
    ) -> tuple[float | None, list[Obj]]:
        meta, spec = cj["metadata"], cj.get("spec") or {}
        ns = meta.get("namespace", "")
        try:
            _zone(cj)
            try:
                sched = parse_schedule(str(spec.get("schedule", "")))
            except ValueError as exc:
                raise ValueError(f"spec.schedule {spec.get('schedule')!r}: {exc}") from exc
        except ValueError as exc:
            # cronjob_controllerv2.go: an unparseable schedule or unknown zone starts nothing.
            log.warning("cronjob %s/%s: %s", ns, meta["name"], exc)
            return None, active
        scheduled, missed, following = most_recent_schedule({**cj, "status": status}, sched, at)
        wait = (following - at).total_seconds() + 0.1 if following else None
        if scheduled is None:
            return wait, active
        if missed > TOO_MANY_MISSED:
            log.warning("cronjob %s/%s: %d start times missed", ns, meta["name"], missed)
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < at:
            log.info("cronjob %s/%s: missed the start at %s", ns, meta["name"], scheduled)
            return wait, active
        name = job_name(meta["name"], scheduled)
        if any(j["metadata"]["name"] == name for j in active) or parse_time(
            status.get("lastScheduleTime")
        ) == scheduled:  # fmt: skip
            return wait, active
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and active:
            # Retried until it runs or is too late (the next event is a Job finishing).
            return wait, active
        if policy == "Replace":
            for job in active:
                with contextlib.suppress(NotFound):
                    await ctx.client.delete(Job, job["metadata"]["name"], ns,
                                            propagation_policy="Background")  # fmt: skip
            active = []
        try:
            created = body(await ctx.client.create(Job.model_validate(_job_for(cj, scheduled))))
        except AlreadyExists:
            existing = ctx.cache.get(Job, name, ns)
            if existing is None or not any(
                o.uid == meta["uid"] for o in existing.metadata.owner_references or []
            ):
                return wait, active
            created = body(existing)
        if not finished(created):
            active = [*active, created]
        status["lastScheduleTime"] = rfc3339(scheduled)
        return wait, active

    async def _cleanup(self, ctx: Context, spec: Obj, jobs: list[Obj], ns: str) -> None:
        """Delete the oldest finished Jobs beyond the history limits (``cleanupFinishedJobs``)."""
        for kind, key, default in (("Complete", "successfulJobsHistoryLimit", 3),
                                   ("Failed", "failedJobsHistoryLimit", 1)):  # fmt: skip
            limit = spec.get(key)
            limit = default if limit is None else int(limit)
            done = [j for j in jobs if finished(j) == kind]
            done.sort(key=lambda j: ((j.get("status") or {}).get("startTime") or "",
                                     j["metadata"]["name"]))  # fmt: skip
            for job in done[: max(0, len(done) - limit)]:
                with contextlib.suppress(NotFound):
                    await ctx.client.delete(Job, job["metadata"]["name"], ns,
                                            propagation_policy="Background")  # fmt: skip
                jobs.remove(job)


def cronjob_controller(
    cache: Cache, *, clock: Callable[[], datetime] = now, max_wait: float | None = None
) -> Controller[CronJob]:
    """The CronJob controller.

    Args:
        cache: the manager's cache.
        clock: the current time (tests pass a fast or settable one).
        max_wait: look again at least this often (seconds), for a clock that runs fast.
    """
    del cache
    return Controller(for_=CronJob, reconciler=_Reconciler(clock, max_wait), name="cronjob",
                      max_concurrent_reconciles=2).owns(Job)  # fmt: skip
