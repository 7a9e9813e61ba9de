"""The reported status as a pure function of what a reconcile saw and chose."""

from __future__ import annotations

from etcd_operator.actions import RemoveMember, RollbackMember, Steady
from etcd_operator.membership import Member
from etcd_operator.models import EtcdCluster, EtcdClusterSpec, EtcdClusterStatus
from etcd_operator.naming import peer_url
from etcd_operator.observe import View
from etcd_operator.planner import MemberState, Observed
from etcd_operator.status import next_status

from opframe import get_condition


def _cluster(status: EtcdClusterStatus | None = None, version: str = "3.5.1") -> EtcdCluster:
    return EtcdCluster(
        metadata={"name": "demo", "namespace": "ns", "generation": 2},
        spec=EtcdClusterSpec(size=3, version=version),
        status=status,
    )


def _view(healthy: list[bool], *, cluster_id: int | None = 0xAB, foreign: bool = False) -> View:
    urls = [peer_url("demo", "ns", f"demo-{i}") for i in range(len(healthy))]
    if foreign:
        urls.append("http://10.9.9.9:2380")
        healthy = [*healthy, False]
    members = tuple(Member(0x10 + i, f"m{i}", (u,), (), False) for i, u in enumerate(urls))
    states = tuple(
        MemberState(0x10 + i, u, name=f"m{i}", healthy=h, version="3.5.1" if h else "")
        for i, (u, h) in enumerate(zip(urls, healthy, strict=True))
    )
    o = Observed(cluster="demo", namespace="ns", size=3, version="3.5.1", members=states)
    return View(o, {}, members, cluster_id, {})


def _cond(status: EtcdClusterStatus, kind: str) -> tuple[bool, str]:
    c = get_condition(status.conditions, kind)
    assert c is not None
    return c.status == "True", c.reason or ""


def test_quorum_one_failure_away_is_at_risk_and_not_available() -> None:
    s = next_status(_cluster(), _view([True, True, False]), Steady("x"))
    assert _cond(s, "AtRisk") == (True, "OneFailureFromQuorumLoss")
    assert _cond(s, "Available") == (False, "QuorumAtRisk")


def test_a_healthy_three_member_cluster_is_available_and_not_at_risk() -> None:
    s = next_status(_cluster(), _view([True, True, True]), Steady("x"))
    assert _cond(s, "Available") == (True, "QuorumHealthy")
    assert _cond(s, "AtRisk")[0] is False


def test_a_single_healthy_member_is_available() -> None:
    s = next_status(_cluster(), _view([True]), Steady("x"))
    assert _cond(s, "Available") == (True, "QuorumHealthy")


def test_an_unanswering_foreign_voter_puts_quorum_at_risk_and_is_named() -> None:
    s = next_status(_cluster(), _view([True, True, True], foreign=True), Steady("x"))
    assert _cond(s, "AtRisk")[0] is True
    assert _cond(s, "ForeignMembers") == (True, "ForeignMembersFound")
    assert [m.foreign for m in s.members] == [False, False, False, True]
    assert s.ready_members == 3


def test_a_recorded_cluster_id_is_never_overwritten() -> None:
    s = next_status(_cluster(EtcdClusterStatus(cluster_id="c1d")), _view([True]), Steady("x"))
    assert s.cluster_id == "c1d"
    assert next_status(_cluster(), _view([True]), Steady("x")).cluster_id == "ab"


def test_rollback_records_the_failed_version_until_the_spec_moves_on() -> None:
    step = RollbackMember(
        "x", pod="demo-2", member_id=0x12, version="3.5.1", failed_version="3.5.9"
    )
    s = next_status(_cluster(version="3.5.9"), _view([True, True, True]), step)
    assert s.failed_version == "3.5.9"
    later = next_status(_cluster(s, version="3.5.2"), _view([True, True, True]), Steady("x"))
    assert later.failed_version is None


def test_a_replacement_starts_the_budget_clock_only_when_executed() -> None:
    step = RemoveMember("x", member_id=0x12, pod="demo-2", phase_name="Healing")
    assert next_status(_cluster(), _view([True] * 3), step).last_replacement_time is not None
    planned = next_status(_cluster(), _view([True] * 3), step, executed=False)
    assert planned.last_replacement_time is None
