"""The step planner as a table: observed state in, one safe action out."""

from __future__ import annotations

import itertools

import pytest
from etcd_operator.actions import (
    Action,
    AddMember,
    Bootstrap,
    CreatePod,
    DeletePod,
    MoveLeader,
    PromoteMember,
    Refuse,
    RemoveMember,
    RollbackMember,
    Steady,
    UpgradeMember,
    Wait,
)
from etcd_operator.naming import peer_url
from etcd_operator.planner import MemberState, Observed, PodState, fault_tolerance, plan, quorum

C, NS = "demo", "ns"


def member(
    i: int,
    *,
    healthy: bool = True,
    leader: bool = False,
    learner: bool = False,
    started: bool = True,
    version: str = "3.5.1",
    raft_index: int = 100,
) -> MemberState:
    return MemberState(
        id=0x1000 + i,
        peer_url=peer_url(C, NS, f"{C}-{i}"),
        name=f"{C}-{i}" if started else "",
        learner=learner,
        healthy=healthy,
        leader=leader,
        version=version if started else "",
        raft_index=raft_index,
    )


def pod(i: int, *, ready: bool = True, version: str = "3.5.1", **kw: float | bool) -> PodState:
    return PodState(name=f"{C}-{i}", ready=ready, version=version, **kw)  # type: ignore[arg-type]


def healthy_cluster(
    n: int, *, leader: int = 0, version: str = "3.5.1"
) -> tuple[tuple[PodState, ...], tuple[MemberState, ...]]:
    pods = tuple(pod(i, version=version) for i in range(n))
    members = tuple(member(i, leader=i == leader, version=version) for i in range(n))
    return pods, members


def observed(
    size: int,
    pods: tuple[PodState, ...],
    members: tuple[MemberState, ...] | None,
    *,
    version: str = "3.5.1",
    bootstrapped: bool = True,
    paused: bool = False,
    persistent_storage: bool = False,
    quorum_stable_for: float = float("inf"),
    **extra: object,
) -> Observed:
    return Observed(
        cluster=C,
        namespace=NS,
        size=size,
        version=version,
        pods=pods,
        members=members,
        bootstrapped=bootstrapped,
        paused=paused,
        persistent_storage=persistent_storage,
        quorum_stable_for=quorum_stable_for,
        **extra,  # type: ignore[arg-type]
    )


def test_new_cluster_bootstraps_a_single_seed() -> None:
    step = plan(observed(3, (), None, bootstrapped=False))
    assert step == Bootstrap(step.reason, pod="demo-0", version="3.5.1")


def test_formed_cluster_with_no_member_answering_never_bootstraps_again() -> None:
    step = plan(observed(3, (), None, bootstrapped=True))
    assert isinstance(step, Wait) and step.degraded


def test_paused_cluster_takes_no_step() -> None:
    step = plan(observed(5, *healthy_cluster(3), paused=True))
    assert isinstance(step, Wait) and step.phase == "Paused"


def test_scale_up_adds_the_member_before_its_pod_exists_as_a_learner() -> None:
    step = plan(observed(5, *healthy_cluster(3)))
    assert isinstance(step, AddMember)
    assert step.pod == "demo-3" and step.learner
    assert step.peer_url == "http://demo-3.demo.ns.svc:2380"


def test_member_added_but_pod_missing_gets_its_pod() -> None:
    pods, members = healthy_cluster(3)
    step = plan(observed(4, pods, (*members, member(3, learner=True, started=False))))
    assert step == CreatePod(step.reason, pod="demo-3", version="3.5.1")


def test_learner_caught_up_is_promoted() -> None:
    pods, members = healthy_cluster(3)
    step = plan(observed(4, (*pods, pod(3)), (*members, member(3, learner=True))))
    assert isinstance(step, PromoteMember) and step.pod == "demo-3"


def test_learner_not_caught_up_is_waited_for() -> None:
    pods, members = healthy_cluster(3)
    lagging = member(3, learner=True, raft_index=10)
    step = plan(observed(4, (*pods, pod(3, age=5.0)), (*members, lagging)))
    assert isinstance(step, Wait)


def test_member_never_started_past_the_deadline_is_removed() -> None:
    pods, members = healthy_cluster(3)
    stuck = member(3, learner=True, started=False, healthy=False)
    step = plan(observed(4, (*pods, pod(3, ready=False, age=120.0)), (*members, stuck)))
    assert isinstance(step, RemoveMember) and step.member_id == stuck.id


def test_scale_down_removes_the_highest_ordinal_member_before_its_pod() -> None:
    step = plan(observed(3, *healthy_cluster(5)))
    assert isinstance(step, RemoveMember) and step.pod == "demo-4"


def test_scale_down_moves_leadership_off_the_victim_first() -> None:
    step = plan(observed(3, *healthy_cluster(5, leader=4)))
    assert isinstance(step, MoveLeader)
    assert step.from_id == member(4).id and step.to_id == member(0).id


def test_pod_of_a_removed_member_is_deleted() -> None:
    pods, members = healthy_cluster(5)
    step = plan(observed(3, pods, members[:4]))
    assert step == DeletePod(step.reason, pod="demo-4")


def test_ordinals_compare_numerically_not_as_strings() -> None:
    step = plan(observed(10, *healthy_cluster(11)))
    assert isinstance(step, RemoveMember) and step.pod == "demo-10"


def test_lost_pod_of_ephemeral_member_is_removed_for_replacement() -> None:
    pods, members = healthy_cluster(3)
    step = plan(observed(3, pods[:2], members))
    assert isinstance(step, RemoveMember) and step.pod == "demo-2" and step.phase == "Healing"


def test_lost_pod_of_persistent_member_is_recreated_on_its_volume() -> None:
    pods, members = healthy_cluster(3)
    step = plan(observed(3, pods[:2], members, persistent_storage=True))
    assert step == CreatePod(step.reason, pod="demo-2", version="3.5.1")


def test_replacement_reuses_the_freed_ordinal() -> None:
    pods, members = healthy_cluster(3)
    step = plan(observed(3, (pods[0], pods[2]), (members[0], members[2])))
    assert isinstance(step, AddMember) and step.pod == "demo-1"


def test_majority_down_is_degraded_and_nothing_is_removed() -> None:
    pods, members = healthy_cluster(3)
    down = (members[0], member(1, healthy=False), member(2, healthy=False))
    step = plan(observed(3, pods, down))
    assert isinstance(step, Wait) and step.degraded


def test_two_members_down_in_five_keeps_quorum_and_waits_within_grace() -> None:
    pods, members = healthy_cluster(5)
    ms = (*members[:3], member(3, healthy=False), member(4, healthy=False))
    step = plan(observed(5, pods, ms))
    assert isinstance(step, Wait) and not step.degraded


def test_unhealthy_member_past_grace_is_replaced_when_quorum_allows() -> None:
    pods, members = healthy_cluster(5)
    ms = (*members[:3], member(3, healthy=False), member(4, healthy=False))
    ps = (*pods[:3], pod(3, ready=False, not_ready_for=60.0), pod(4, ready=False))
    step = plan(observed(5, ps, ms))
    assert isinstance(step, RemoveMember) and step.pod == "demo-3"


def test_unhealthy_member_is_not_replaced_right_after_quorum_returns() -> None:
    pods, members = healthy_cluster(3)
    ms = (*members[:2], member(2, healthy=False))
    ps = (*pods[:2], pod(2, ready=False, not_ready_for=60.0))
    step = plan(observed(3, ps, ms, quorum_stable_for=1.0))
    assert isinstance(step, Wait) and not step.degraded
    assert isinstance(plan(observed(3, ps, ms, quorum_stable_for=60.0)), RemoveMember)


def test_unhealthy_member_is_not_removed_when_that_would_lose_quorum() -> None:
    pods, _ = healthy_cluster(2)
    ms = (member(0, leader=True), member(1, healthy=False))
    # Two voters, one healthy: quorum (2) is already lost.
    step = plan(observed(2, (pods[0], pod(1, ready=False, not_ready_for=99.0)), ms))
    assert isinstance(step, Wait) and step.degraded


def test_even_size_scale_up_still_adds_one_member_at_a_time() -> None:
    step = plan(observed(4, *healthy_cluster(2)))
    assert isinstance(step, AddMember) and step.pod == "demo-2"


def test_upgrade_starts_with_the_highest_follower() -> None:
    step = plan(observed(3, *healthy_cluster(3, version="3.5.0"), version="3.5.1"))
    assert isinstance(step, UpgradeMember) and step.pod == "demo-2" and step.version == "3.5.1"


def test_upgrade_moves_leadership_before_upgrading_the_leader() -> None:
    pods, members = healthy_cluster(3, leader=0, version="3.5.1")
    ms = (member(0, leader=True, version="3.5.0"), *members[1:])
    step = plan(observed(3, (pod(0, version="3.5.0"), *pods[1:]), ms, version="3.5.1"))
    assert isinstance(step, MoveLeader) and step.from_id == member(0).id


def test_upgrade_waits_while_a_member_restarts_on_the_new_version() -> None:
    pods, members = healthy_cluster(3, version="3.5.0")
    ps = (*pods[:2], pod(2, version="3.5.1"))
    step = plan(observed(3, ps, members, version="3.5.1"))
    assert isinstance(step, Wait) and step.phase == "Upgrading"


@pytest.mark.parametrize(
    ("current", "target"),
    [("3.5.1", "3.5.0"), ("3.4.23", "3.6.0"), ("3.5.1", "3.4.23")],
)
def test_unsupported_upgrade_paths_are_refused(current: str, target: str) -> None:
    step = plan(observed(3, *healthy_cluster(3, version=current), version=target))
    assert isinstance(step, Refuse)


def test_minor_upgrade_from_3_4_to_3_5_is_allowed() -> None:
    step = plan(observed(3, *healthy_cluster(3, version="3.4.23"), version="3.5.1"))
    assert isinstance(step, UpgradeMember)


def test_stray_pod_is_deleted_before_anything_else() -> None:
    pods, members = healthy_cluster(3)
    step = plan(observed(3, (*pods, pod(7)), members))
    assert step == DeletePod(step.reason, pod="demo-7")


def test_matching_cluster_is_steady() -> None:
    assert isinstance(plan(observed(3, *healthy_cluster(3))), Steady)


def test_every_action_reports_a_phase_and_reason() -> None:
    step: Action = plan(observed(5, *healthy_cluster(3)))
    assert step.phase == "Scaling" and "3 -> 5" in step.reason


def test_new_member_joins_on_the_clusters_current_version_not_a_refused_target() -> None:
    step = plan(observed(5, *healthy_cluster(3, version="3.5.1"), version="3.4.23"))
    assert isinstance(step, AddMember) and step.version == "3.5.1"


def test_new_member_joins_on_the_lowest_version_during_an_upgrade() -> None:
    pods, members = healthy_cluster(3, version="3.5.1")
    ms = (member(0, leader=True, version="3.4.23"), *members[1:])
    step = plan(observed(4, (pod(0, version="3.4.23"), *pods[1:]), ms, version="3.5.1"))
    assert isinstance(step, AddMember) and step.version == "3.4.23"


def test_pre_learner_versions_add_voters() -> None:
    step = plan(observed(5, *healthy_cluster(3, version="3.3.27"), version="3.3.27"))
    assert isinstance(step, AddMember) and not step.learner


def test_upgrade_never_restarts_a_member_while_another_is_unhealthy() -> None:
    pods, members = healthy_cluster(3, version="3.5.0")
    ms = (*members[:2], member(2, healthy=False, version="3.5.0"))
    step = plan(observed(3, pods, ms, version="3.5.1"))
    assert isinstance(step, Wait) and not isinstance(step, UpgradeMember)


def test_single_member_cluster_upgrades_in_place() -> None:
    step = plan(observed(1, *healthy_cluster(1, version="3.5.0"), version="3.5.1"))
    assert isinstance(step, UpgradeMember) and step.pod == "demo-0"


def test_learner_is_dealt_with_before_scaling_down() -> None:
    pods, members = healthy_cluster(5)
    lagging = member(5, learner=True, raft_index=1)
    step = plan(observed(3, (*pods, pod(5, age=1.0)), (*members, lagging)))
    assert isinstance(step, Wait) and "learner" in step.reason


def test_learner_that_never_catches_up_is_removed_after_the_deadline() -> None:
    pods, members = healthy_cluster(3)
    stuck = member(3, learner=True, healthy=False, raft_index=0)
    step = plan(observed(4, (*pods, pod(3, ready=False, age=120.0)), (*members, stuck)))
    assert isinstance(step, RemoveMember) and step.member_id == stuck.id


def test_leader_is_removed_last_and_only_with_no_other_candidate() -> None:
    pods, _ = healthy_cluster(2)
    ms = (member(0), member(1, leader=True))
    step = plan(observed(1, pods, ms))
    assert isinstance(step, MoveLeader) and step.to_id == member(0).id


def test_seed_that_never_starts_is_retried_after_the_deadline() -> None:
    step = plan(observed(3, (pod(0, ready=False, age=120.0),), None, bootstrapped=False))
    assert step == DeletePod(step.reason, pod="demo-0")


def test_pods_beside_the_seed_of_a_forming_cluster_are_removed() -> None:
    step = plan(observed(3, (pod(0, ready=False), pod(1, ready=False)), None, bootstrapped=False))
    assert step == DeletePod(step.reason, pod="demo-1")


def test_paused_cluster_takes_no_step_even_when_members_are_lost() -> None:
    pods, members = healthy_cluster(3)
    step = plan(observed(3, pods[:1], members, paused=True))
    assert isinstance(step, Wait) and not step.mutates and step.phase == "Paused"


def _states() -> list[Observed]:
    """Every mix of healthy/unhealthy/pod-lost members for 1..5 members, sizes 1..5."""
    out = []
    for n in range(1, 6):
        for health in itertools.product(("ok", "sick", "gone"), repeat=n):
            for leader in range(n):
                members = tuple(
                    member(i, healthy=h == "ok", leader=i == leader) for i, h in enumerate(health)
                )
                pods = tuple(
                    pod(i, ready=h == "ok", not_ready_for=0.0 if h == "ok" else 99.0)
                    for i, h in enumerate(health)
                    if h != "gone"
                )
                for size in range(1, 6):
                    out.append(observed(size, pods, members, version="3.5.1"))
    return out


def test_no_step_ever_leaves_fewer_healthy_voters_than_quorum() -> None:
    checked = 0
    for o in _states():
        step = plan(o)
        assert o.members is not None
        voters = [m for m in o.members if not m.learner]
        if isinstance(step, RemoveMember):
            remaining = [m for m in voters if m.id != step.member_id]
            assert sum(m.healthy for m in remaining) >= quorum(len(remaining)), (o, step)
            checked += 1
        elif isinstance(step, UpgradeMember) and len(voters) > 1:
            others = [m for m in voters if m.id != step.member_id]
            assert sum(m.healthy for m in others) >= quorum(len(voters)), (o, step)
        elif isinstance(step, (AddMember, MoveLeader, PromoteMember)):
            assert sum(m.healthy for m in voters) >= quorum(len(voters)), (o, step)
    assert checked > 0  # the table does reach removals


def test_quorum_loss_is_always_reported_as_degraded() -> None:
    for o in _states():
        assert o.members is not None
        healthy = sum(m.healthy for m in o.members)
        if healthy < quorum(len(o.members)):
            step = plan(o)
            assert isinstance(step, Wait) and step.degraded, (o, step)


# -- identity (issue 13.1) ------------------------------------------------------------------

CID = 0xC1D


def test_another_cluster_answering_at_the_member_addresses_gets_no_step() -> None:
    """The stale-operator case: a different etcd cluster now answers on the old addresses;
    its members map to no pod of this cluster, and without the check they would be removed."""
    foreign = tuple(
        MemberState(id=0x9000 + i, peer_url=f"http://other-{i}.other.ns.svc:2380",
                    name=f"other-{i}", healthy=True, leader=i == 0, version="3.5.1")
        for i in range(3)
    )  # fmt: skip
    pods = healthy_cluster(3)[0]
    o = observed(1, pods, foreign, recorded_cluster_id=CID, answering_cluster_ids={0xBAD})
    step = plan(o)
    assert isinstance(step, Refuse) and step.code == "ClusterIDMismatch" and not step.mutates
    assert "bad" in step.reason and "c1d" in step.reason


def test_matching_cluster_id_lets_the_plan_proceed() -> None:
    o = observed(3, *healthy_cluster(5), recorded_cluster_id=CID, answering_cluster_ids={CID})
    assert isinstance(plan(o), RemoveMember)


def test_two_cluster_ids_answering_get_no_step_even_before_one_is_recorded() -> None:
    o = observed(3, *healthy_cluster(5), answering_cluster_ids={1, 2})
    step = plan(o)
    assert isinstance(step, Refuse) and step.code == "ClusterIDMismatch"


def test_a_pod_address_answering_as_another_member_gets_no_step() -> None:
    pods, members = healthy_cluster(5)
    swapped = (*members[:4], MemberState(**{**vars(members[4]), "answered_as": 0x77}))
    step = plan(observed(3, pods, swapped))
    assert isinstance(step, Refuse) and step.code == "MemberIDMismatch"
    assert "77" in step.reason and f"{members[4].id:x}" in step.reason


def test_removal_carries_the_peer_url_it_was_planned_for() -> None:
    step = plan(observed(3, *healthy_cluster(5)))
    assert isinstance(step, RemoveMember) and step.peer_url == peer_url(C, NS, "demo-4")


# -- image and start failures (issue 13.2) ------------------------------------------------------


def test_member_whose_new_image_cannot_be_pulled_is_rolled_back_not_replaced() -> None:
    pods, members = healthy_cluster(3)
    ms = (*members[:2], member(2, healthy=False, version=""))
    ps = (*pods[:2], pod(2, ready=False, version="3.5.100", waiting="ImagePullBackOff",
                          not_ready_for=600.0))  # fmt: skip
    step = plan(observed(3, ps, ms, version="3.5.100"))
    assert isinstance(step, RollbackMember)
    assert (step.pod, step.version, step.failed_version) == ("demo-2", "3.5.1", "3.5.100")


def test_new_image_that_crash_loops_is_rolled_back() -> None:
    pods, members = healthy_cluster(3, version="3.5.0")
    ms = (*members[:2], member(2, healthy=False, version=""))
    ps = (*pods[:2], pod(2, ready=False, version="3.5.1", waiting="CrashLoopBackOff",
                          not_ready_for=600.0))  # fmt: skip
    step = plan(observed(3, ps, ms, version="3.5.1"))
    assert isinstance(step, RollbackMember) and step.version == "3.5.0"


def test_single_member_rolls_back_to_the_recorded_current_version() -> None:
    ps = (pod(0, ready=False, version="3.5.100", waiting="ErrImagePull"),)
    ms = (member(0, healthy=False, leader=True, version=""),)
    o = observed(1, ps, ms, version="3.5.100", current_version="3.5.1")
    step = plan(o)
    assert isinstance(step, RollbackMember) and step.version == "3.5.1"


def test_version_that_failed_is_not_tried_again_until_the_spec_changes() -> None:
    o = observed(3, *healthy_cluster(3), version="3.5.100", failed_version="3.5.100")
    step = plan(o)
    assert isinstance(step, Refuse) and step.code == "UpgradeFailed"
    again = observed(3, *healthy_cluster(3), version="3.5.2", failed_version="3.5.100")
    assert isinstance(plan(again), UpgradeMember)


def test_image_pull_failure_on_the_running_version_is_reported_never_replaced() -> None:
    pods, members = healthy_cluster(3)
    ms = (*members[:2], member(2, healthy=False, version=""))
    ps = (*pods[:2], pod(2, ready=False, waiting="ImagePullBackOff", not_ready_for=999.0))
    step = plan(observed(3, ps, ms))
    assert isinstance(step, Wait) and step.code == "ImagePullBackOff"


def test_seed_that_cannot_pull_its_image_is_reported_not_recreated() -> None:
    ps = (pod(0, ready=False, age=999.0, version="3.5.100", waiting="ImagePullBackOff"),)
    step = plan(observed(3, ps, None, version="3.5.100", bootstrapped=False))
    assert isinstance(step, Wait) and step.code == "ImagePullBackOff"


def test_replacement_budget_allows_one_replacement_per_progress_deadline() -> None:
    pods, members = healthy_cluster(5)
    ms = (*members[:3], member(3, healthy=False), member(4, healthy=False))
    ps = (*pods[:3], pod(3, ready=False, not_ready_for=60.0), pod(4, ready=False))
    step = plan(observed(5, ps, ms, since_last_replacement=5.0))
    assert isinstance(step, Wait) and step.code == "ReplacementBudgetExhausted"
    assert isinstance(plan(observed(5, ps, ms, since_last_replacement=61.0)), RemoveMember)


def test_lost_pod_replacement_also_spends_the_budget() -> None:
    pods, members = healthy_cluster(3)
    step = plan(observed(3, pods[:2], members, since_last_replacement=1.0))
    assert isinstance(step, Wait) and step.code == "ReplacementBudgetExhausted"


# -- foreign members (issue 13.4) ---------------------------------------------------------------

FOREIGN_URL = "http://10.9.9.9:2380"


def foreign(*, started: bool, learner: bool = False, healthy: bool = False) -> MemberState:
    return MemberState(id=0xF0, peer_url=FOREIGN_URL, name="x" if started else "",
                       learner=learner, healthy=healthy)  # fmt: skip


def test_foreign_member_that_never_started_is_removed_when_quorum_allows() -> None:
    pods, members = healthy_cluster(3)
    step = plan(observed(3, pods, (*members, foreign(started=False, learner=True))))
    assert isinstance(step, RemoveMember) and step.member_id == 0xF0 and step.pod == ""


def test_unstarted_foreign_voter_is_not_removed_when_that_would_lose_quorum() -> None:
    # 2 own voters (one down) + 1 foreign voter: removing it leaves 1 of 2 healthy.
    ms = (member(0, leader=True), member(1, healthy=False), foreign(started=False))
    ps = (pod(0), pod(1, ready=False))
    # 3 voters, 1 healthy: quorum already lost, so nothing is removed at all.
    step = plan(observed(2, ps, ms))
    assert isinstance(step, Wait) and step.degraded


def test_started_foreign_voter_is_never_removed_without_the_annotation() -> None:
    pods, members = healthy_cluster(3)
    step = plan(observed(3, pods, (*members, foreign(started=True))))
    assert not isinstance(step, RemoveMember)
    allowed = observed(3, pods, (*members, foreign(started=True)), foreign_removals={0xF0})
    assert isinstance(plan(allowed), RemoveMember)


def test_foreign_member_never_gets_a_pod_and_scaling_still_works() -> None:
    pods, members = healthy_cluster(3)
    with_foreign = (*members, foreign(started=True))
    up = plan(observed(5, pods, with_foreign))
    assert isinstance(up, AddMember) and up.pod == "demo-3"
    down = plan(observed(1, pods, with_foreign))
    assert isinstance(down, (RemoveMember, MoveLeader))
    assert getattr(down, "pod", "demo-") != "" and getattr(down, "member_id", 0) != 0xF0
    for size in range(1, 6):
        step = plan(observed(size, pods, with_foreign))
        assert getattr(step, "pod", "x") != "", step


def test_fault_tolerance_counts_an_unhealthy_foreign_voter() -> None:
    _, members = healthy_cluster(3)
    assert fault_tolerance(members) == 1
    assert fault_tolerance((*members, foreign(started=True))) == 0
