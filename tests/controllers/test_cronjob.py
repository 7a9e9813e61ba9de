"""The CronJob controller: rules from kubernetes ``pkg/controller/cronjob/utils.go``
(``mostRecentScheduleTime``, ``getJobName``) and ``cronjob_controllerv2.go``
(``syncCronJob``, ``cleanupFinishedJobs``); schedules as ``robfig/cron``'s ``ParseStandard``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opframe.manager import Manager
from opframe.testing.cluster import LocalCluster
from opframe.testing.controllers._cron import parse_schedule
from opframe.testing.controllers.cronjob import (
    SCHEDULED_ANNOTATION,
    cronjob_controller,
    job_name,
    most_recent_schedule,
)
from opframe.testing.controllers.job import job_controller
from opframe.testing.controllers.serviceaccount import serviceaccount_controller
from tests.controllers._helpers import Obj, create, get, list_items, patch, pod_template, wait_for
from tests.runtime._env import eventually

T0 = datetime(2026, 1, 5, 9, 7, tzinfo=UTC)  # a Monday


def test_steps_ranges_and_names_select_the_next_time() -> None:
    """robfig/cron parser.go getRange: ``*/15``, ``9-17``, ``mon-fri``."""
    sched = parse_schedule("*/15 9-17 * * mon-fri")
    assert sched.next_after(T0) == T0.replace(minute=15)
    friday_evening = datetime(2026, 1, 9, 17, 50, tzinfo=UTC)
    assert sched.next_after(friday_evening) == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def test_lists_month_names_and_sunday_as_seven() -> None:
    """parser.go: comma lists, ``JAN``-style names in any case, day-of-week 7 is Sunday."""
    sched = parse_schedule("0,30 12 * Feb 7")
    assert sched.next_after(T0) == datetime(2026, 2, 1, 12, 0, tzinfo=UTC)  # first Feb Sunday


def test_both_day_fields_restricted_match_either() -> None:
    """spec.go dayMatches: day-of-month OR day-of-week when neither is ``*``."""
    sched = parse_schedule("0 0 13 * fri")
    assert sched.next_after(T0) == datetime(2026, 1, 9, tzinfo=UTC)  # a Friday, not the 13th


def test_descriptors_are_schedules() -> None:
    """parser.go parseDescriptor: ``@hourly`` is ``0 * * * *``."""
    assert parse_schedule("@hourly").next_after(T0) == T0.replace(hour=10, minute=0)


@pytest.mark.parametrize("bad", ["* * * *", "60 * * * *", "* * * * funday", "*/0 * * * *"])
def test_bad_schedules_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(ValueError, match=r"fields|minute|day of week"):
        parse_schedule(bad)


def _cj(**spec: Any) -> Obj:
    return {"metadata": {"name": "c", "uid": "u", "creationTimestamp": "2026-01-05T09:00:00Z"},
            "spec": {"schedule": "*/5 * * * *", **spec}, "status": {}}  # fmt: skip


def test_only_the_most_recent_missed_time_runs() -> None:
    """utils.go mostRecentScheduleTime: of 09:05, 09:10, 09:15 missed, 09:15 runs."""
    cj = _cj()
    at = T0.replace(minute=17)
    scheduled, missed, following = most_recent_schedule(cj, parse_schedule("*/5 * * * *"), at)
    assert (scheduled, missed, following) == (T0.replace(minute=15), 3, T0.replace(minute=20))


def test_search_starts_after_the_last_schedule_time() -> None:
    """utils.go: earliest time is status.lastScheduleTime when set."""
    cj = _cj()
    cj["status"]["lastScheduleTime"] = "2026-01-05T09:15:00Z"
    assert most_recent_schedule(cj, parse_schedule("*/5 * * * *"), T0.replace(minute=17))[0] is None


def test_starting_deadline_bounds_how_far_back_the_search_goes() -> None:
    """utils.go: with startingDeadlineSeconds, no time before now-deadline is considered."""
    cj = _cj(startingDeadlineSeconds=60)
    assert most_recent_schedule(cj, parse_schedule("*/5 * * * *"), T0.replace(minute=17))[0] is None


def test_job_name_is_the_scheduled_minute_since_epoch() -> None:
    """utils.go getJobName: ``NAME-<unix seconds / 60>``."""
    assert job_name("c", T0) == f"c-{int(T0.timestamp()) // 60}"


class FastClock:
    """A clock running ``speed`` times real time from ``start``."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start, self.speed, self.t0 = start, speed, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.t0) * self.speed)


@pytest.fixture
def local_cluster_options(local_cluster_options: dict[str, Any]) -> dict[str, Any]:
    """No controller manager of its own: the test runs Job + a fast-clocked CronJob one."""
    return {**local_cluster_options, "controllers": False}


@pytest.fixture
async def clocked(local_cluster: LocalCluster) -> AsyncIterator[Callable[[], datetime]]:
    """ServiceAccount, Job, CronJob controllers; CronJob on a clock at 60x (a minute per second)."""
    clock = FastClock(datetime.now(UTC), 60.0)
    manager = Manager(local_cluster.client, health_address=None, metrics_address=None)
    manager.add(serviceaccount_controller(manager.cache))
    manager.add(job_controller(manager.cache))
    manager.add(cronjob_controller(manager.cache, clock=clock, max_wait=0.2))
    task = asyncio.create_task(manager.run(handle_signals=False))
    try:
        async with asyncio.timeout(30):
            await manager.wait_started()
        yield clock
    finally:
        manager.stop()
        await task


def _cronjob(name: str, command: str, **spec: Any) -> Obj:
    template = pod_template({}, command, restartPolicy="Never")
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "* * * * *",
                     "jobTemplate": {"metadata": {"labels": {"cron": name}},
                                     "spec": {"template": template, "backoffLimit": 0}},
                     **spec}}  # fmt: skip


async def _jobs(local_cluster: LocalCluster, name: str) -> list[Obj]:
    return await list_items(local_cluster.client, "jobs", selector=f"cron={name}")


async def test_each_scheduled_minute_makes_one_named_job(
    local_cluster: LocalCluster, clocked: Callable[[], datetime]
) -> None:
    """cronjob_controllerv2.go syncCronJob: a Job per time, named by its minute, annotated with
    the scheduled timestamp, lastScheduleTime set; finished ones feed lastSuccessfulTime."""
    client = local_cluster.client
    await create(client, "cronjobs", _cronjob("tick", "true"))
    jobs = await wait_for(lambda: _jobs(local_cluster, "tick"), lambda js: len(js) >= 2,
                          within=60, message="two jobs never made")  # fmt: skip
    for job in jobs:
        stamp = datetime.fromisoformat(job["metadata"]["annotations"][SCHEDULED_ANNOTATION])
        assert job["metadata"]["name"] == job_name("tick", stamp)
        assert stamp.second == 0
        assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    cj = await wait_for(lambda: get(client, "cronjobs", "tick"),
                        lambda c: (c.get("status") or {}).get("lastSuccessfulTime"),
                        within=60)  # fmt: skip
    assert cj["status"]["lastScheduleTime"]


async def test_forbid_runs_nothing_while_a_job_is_active(
    local_cluster: LocalCluster, clocked: Callable[[], datetime]
) -> None:
    """concurrencyPolicy Forbid: while one Job is active no other starts; status.active lists it."""
    client = local_cluster.client
    await create(client, "cronjobs", _cronjob("slow", "sleep 3600", concurrencyPolicy="Forbid"))
    cj = await wait_for(lambda: get(client, "cronjobs", "slow"),
                        lambda c: len((c.get("status") or {}).get("active") or []) == 1,
                        within=60)  # fmt: skip
    first = cj["status"]["lastScheduleTime"]
    later = clocked() + timedelta(minutes=3)

    async def three_minutes_on() -> bool:
        return clocked() >= later

    await eventually(three_minutes_on, timeout=30)
    assert len(await _jobs(local_cluster, "slow")) == 1
    cj = await get(client, "cronjobs", "slow")
    assert cj is not None and cj["status"]["lastScheduleTime"] == first


async def test_replace_deletes_the_active_job_for_the_next(
    local_cluster: LocalCluster, clocked: Callable[[], datetime]
) -> None:
    """concurrencyPolicy Replace: the active Job is deleted and the new time's Job replaces it."""
    client = local_cluster.client
    await create(client, "cronjobs", _cronjob("swap", "sleep 3600", concurrencyPolicy="Replace"))
    cj = await wait_for(lambda: get(client, "cronjobs", "swap"),
                        lambda c: len((c.get("status") or {}).get("active") or []) == 1,
                        within=60)  # fmt: skip
    first = cj["status"]["active"][0]["name"]
    cj = await wait_for(lambda: get(client, "cronjobs", "swap"),
                        lambda c: [a["name"] for a in (c["status"].get("active") or [])]
                        not in ([], [first]), within=60)  # fmt: skip
    assert len(cj["status"]["active"]) == 1
    await wait_for(lambda: get(client, "jobs", first), lambda j: j is None
                   or j["metadata"].get("deletionTimestamp"), within=30)  # fmt: skip


async def test_suspended_cronjob_starts_nothing(
    local_cluster: LocalCluster, clocked: Callable[[], datetime]
) -> None:
    """syncCronJob: ``suspend`` true schedules nothing; unsuspended, it runs again."""
    client = local_cluster.client
    await create(client, "cronjobs", _cronjob("held", "true", suspend=True))
    later = clocked() + timedelta(minutes=3)

    async def three_minutes_on() -> bool:
        return clocked() >= later

    await eventually(three_minutes_on, timeout=30)
    assert await _jobs(local_cluster, "held") == []
    await patch(client, "cronjobs", "held", {"spec": {"suspend": False}})
    await wait_for(lambda: _jobs(local_cluster, "held"), lambda js: len(js) >= 1, within=60)


async def test_finished_jobs_beyond_the_history_limits_are_deleted(
    local_cluster: LocalCluster, clocked: Callable[[], datetime]
) -> None:
    """cleanupFinishedJobs: at most successfulJobsHistoryLimit Complete Jobs are kept."""
    client = local_cluster.client
    await create(client, "cronjobs", _cronjob("hist", "true", successfulJobsHistoryLimit=1))
    cj = await wait_for(lambda: get(client, "cronjobs", "hist"),
                        lambda c: (c.get("status") or {}).get("lastSuccessfulTime"),
                        within=60)  # fmt: skip
    seen: set[str] = set()

    async def several_run_but_one_kept() -> bool:
        jobs = await _jobs(local_cluster, "hist")
        seen.update(j["metadata"]["name"] for j in jobs)
        done = [j for j in jobs if (j.get("status") or {}).get("succeeded")
                and not j["metadata"].get("deletionTimestamp")]  # fmt: skip
        return len(seen) >= 3 and len(done) <= 1

    await eventually(several_run_but_one_kept, timeout=60, message="history not limited")
    del cj


def test_time_zone_sets_the_wall_clock_of_the_schedule() -> None:
    """cronjob_controllerv2.go: spec.timeZone is the zone the schedule is read in."""
    cj = _cj(timeZone="Europe/Berlin")
    cj["status"]["lastScheduleTime"] = "2026-01-04T09:00:00Z"
    at = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)  # 09:30 in Berlin (UTC+1)
    scheduled, _, following = most_recent_schedule(cj, parse_schedule("0 9 * * *"), at)
    assert scheduled == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    assert following == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
