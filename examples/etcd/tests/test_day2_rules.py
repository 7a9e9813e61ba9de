"""The day-2 rules as tables: settings flags, the roll of changed settings, maintenance steps.

Rules from etcd's maintenance guide (etcd.io "Maintenance": history compaction, defragmentation
one member at a time, disarming NOSPACE) and etcd's quota check (``server/etcdserver/quota.go``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from etcd_operator import settings
from etcd_operator.actions import MoveLeader, RecreatePod, RemoveMember, Steady, Wait
from etcd_operator.backup.schedule import last_slot
from etcd_operator.maintenance import (
    Compact,
    CompleteSlot,
    DBObserved,
    Defragment,
    DefragRule,
    Disarm,
    MemberDB,
    Skip,
    plan_step,
)
from etcd_operator.models import EtcdClusterSpec
from etcd_operator.naming import peer_url
from etcd_operator.planner import MemberState, Observed, PodState, plan

MI = 1024 * 1024


def test_quantities_parse_to_bytes_and_bad_ones_name_the_field() -> None:
    assert settings.parse_quantity("16Mi", "f") == 16 * MI
    assert settings.parse_quantity("2G", "f") == 2 * 10**9
    assert settings.parse_quantity(123, "f") == 123
    with pytest.raises(ValueError, match=r"spec\.quotaBackendBytes: .16 MB. is not a byte"):
        settings.parse_quantity("16 MB", "spec.quotaBackendBytes")


def test_every_member_gets_the_same_flags_from_the_spec() -> None:
    spec = EtcdClusterSpec.model_validate(
        {"quotaBackendBytes": "16Mi", "autoCompaction": {"mode": "revision", "retention": "100"}}
    )
    flags = settings.member_flags(spec)
    assert flags == [
        "--quota-backend-bytes=16777216",
        "--auto-compaction-mode=revision",
        "--auto-compaction-retention=100",
    ]
    args = ["--name=x", *flags, "--data-dir=/d"]
    assert settings.settings_of_args(args) == " ".join(flags)
    assert settings.member_flags(EtcdClusterSpec()) == []


def test_readiness_never_fails_on_nospace() -> None:
    assert settings.readiness_path("3.4.23") == "/health?exclude=NOSPACE"
    assert settings.readiness_path("3.5.1") == "/health?exclude=NOSPACE"
    assert settings.readiness_path("3.6.0") == "/readyz"


def _observed(
    *,
    leader: int = 0,
    persistent: bool = False,
    stale: set[int] = frozenset(),
    healthy: set[int] | None = None,
    size: int = 3,
) -> Observed:
    names = [f"c-{i}" for i in range(size)]
    members = tuple(
        MemberState(
            id=i + 1,
            peer_url=peer_url("c", "ns", n),
            name=n,
            healthy=healthy is None or i in healthy,
            leader=i == leader,
            version="3.5.1",
            answered_as=i + 1,
        )
        for i, n in enumerate(names)
    )
    pods = tuple(
        PodState(n, ready=True, version="3.5.1", age=100, settings="" if i in stale else "--q=1")
        for i, n in enumerate(names)
    )
    return Observed(
        cluster="c",
        namespace="ns",
        size=size,
        version="3.5.1",
        pods=pods,
        members=members,
        bootstrapped=True,
        persistent_storage=persistent,
        settings="--q=1",
        recorded_cluster_id=None,
    )


@pytest.mark.parametrize(
    ("o", "expected", "pod"),
    [
        (_observed(), Steady, None),
        # followers first, highest ordinal first; a claim keeps the data: a new pod on it
        (_observed(stale={0, 1, 2}, persistent=True), RecreatePod, "c-2"),
        # on an emptyDir the member is replaced (quorum-guarded removal, then scale-up)
        (_observed(stale={0, 1, 2}), RemoveMember, "c-2"),
        # the leader last, leadership moved off first
        (_observed(stale={0}, leader=0, persistent=True), MoveLeader, None),
        # nothing rolls while a member is unhealthy
        (_observed(stale={1}, healthy={0, 1}), Wait, None),
        # a one-member emptyDir cluster cannot restart without losing its data
        (_observed(stale={0}, size=1), Wait, None),
        (_observed(stale={0}, size=1, persistent=True), RecreatePod, "c-0"),
    ],
)
def test_changed_settings_roll_one_member_at_a_time(
    o: Observed, expected: type, pod: str | None
) -> None:
    """planner.py rule 13, the way the upgrade rolls members (rule 12)."""
    step = plan(o)
    assert isinstance(step, expected), step
    if pod is not None:
        assert step.pod == pod  # type: ignore[attr-defined]


def _db(**kw: object) -> DBObserved:
    members = kw.pop(
        "members",
        (
            MemberDB("c-0", 1, "e0", 20 * MI, 1 * MI, leader=True, ordinal=0),
            MemberDB("c-1", 2, "e1", 20 * MI, 1 * MI, ordinal=1),
            MemberDB("c-2", 3, "e2", 20 * MI, 1 * MI, ordinal=2),
        ),
    )
    return DBObserved(members=members, quota=16 * MI, revision=50, **kw)  # type: ignore[arg-type]


NOSPACE = ((1, "NOSPACE"),)


def test_nospace_is_reported_before_anything_is_done() -> None:
    assert plan_step(_db(alarms=NOSPACE, reported=False)) is None


def test_nospace_compacts_then_defragments_followers_then_the_leader_then_disarms() -> None:
    step = plan_step(_db(alarms=NOSPACE))
    assert isinstance(step, Compact) and step.revision == 50
    step = plan_step(_db(alarms=NOSPACE, last_compaction_revision=50))
    assert isinstance(step, Defragment) and step.member.pod == "c-2"
    step = plan_step(
        _db(alarms=NOSPACE, last_compaction_revision=50, defragmented=frozenset({"c-1", "c-2"}))
    )
    assert isinstance(step, Defragment) and step.member.pod == "c-0"
    small = tuple(MemberDB(f"c-{i}", i + 1, "e", MI, MI, leader=i == 0) for i in range(3))
    step = plan_step(_db(alarms=NOSPACE, last_compaction_revision=50, members=small))
    assert isinstance(step, Disarm) and step.alarms == NOSPACE


def test_nospace_with_nothing_to_reclaim_asks_for_a_bigger_quota() -> None:
    done = frozenset({"c-0", "c-1", "c-2"})
    o = _db(alarms=NOSPACE, last_compaction_revision=50, defragmented=done)
    assert plan_step(o) is None
    assert o.quota_too_small


def test_nospace_recovery_waits_for_every_member() -> None:
    assert isinstance(plan_step(_db(alarms=NOSPACE, all_healthy=False)), Skip)


RULE = DefragRule(min_reclaimable=4 * MI, fragmented_percent=50)


def test_defragmentation_needs_both_thresholds_and_runs_the_leader_last() -> None:
    members = (
        MemberDB("c-0", 1, "e", 20 * MI, 2 * MI, leader=True, ordinal=0),
        MemberDB("c-1", 2, "e", 20 * MI, 15 * MI, ordinal=1),  # 25%: under the percentage
        MemberDB("c-2", 3, "e", 6 * MI, 1 * MI, ordinal=2),  # 5 MiB, 83%
    )
    step = plan_step(_db(members=members, rule=RULE))
    assert isinstance(step, Defragment) and step.member.pod == "c-2"
    step = plan_step(_db(members=members[:2], rule=RULE))
    assert isinstance(step, Defragment) and step.member.pod == "c-0"
    assert plan_step(_db(members=members[1:2], rule=RULE)) is None


def test_defragmentation_is_skipped_and_said_so_while_a_member_is_unhealthy() -> None:
    step = plan_step(_db(rule=RULE, all_healthy=False))
    assert isinstance(step, Skip) and "skipped" in step.reason


def test_a_scheduled_defragmentation_runs_only_in_a_run_not_finished() -> None:
    before, slot = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    rule = DefragRule(4 * MI, 50, schedule="0 3 * * *")
    assert plan_step(_db(rule=rule, slot=slot, completed_slot=slot)) is None
    assert isinstance(plan_step(_db(rule=rule, slot=slot, completed_slot=before)), Defragment)
    small = tuple(MemberDB(f"c-{i}", i + 1, "e", MI, MI, leader=i == 0) for i in range(3))
    done = plan_step(_db(rule=rule, slot=slot, completed_slot=before, members=small))
    assert isinstance(done, CompleteSlot) and done.slot == slot  # nothing left: the run ends


def test_a_new_schedule_waits_for_its_next_time_like_a_new_cronjob() -> None:
    # Kubernetes CronJob: a job is started at a schedule time after the CronJob exists, not
    # for the time that fired before it (controller/cronjob/utils.go, mostRecentScheduleTime).
    slot = datetime(2026, 1, 2, 3, tzinfo=UTC)
    step = plan_step(_db(rule=DefragRule(4 * MI, 50, schedule="0 3 * * *"), slot=slot))
    assert isinstance(step, CompleteSlot) and step.slot == slot


@pytest.mark.parametrize(
    ("now", "slot"),
    [
        ("09:01:59.500000", "09:01:00"),  # half a second before 09:02: 09:02 has not fired
        ("09:02:00.000000", "09:02:00"),  # exactly at the time: it has
        ("09:02:00.400000", "09:02:00"),
    ],
)
def test_a_schedule_time_counts_from_the_moment_it_fires_not_before(now: str, slot: str) -> None:
    at = datetime.fromisoformat(f"2026-12-03T{now}+00:00")
    assert last_slot("* * * * *", at) == datetime.fromisoformat(f"2026-12-03T{slot}+00:00")
