"""The planner's restore rule, as a table: every initial member of a restored cluster starts
from the snapshot, none joins through raft.

The rule is etcd's disaster-recovery runbook (``Documentation/op-guide/recovery.md``, and
``etcdutl/snapshot/v3_snapshot.go`` which ``etcdutl snapshot restore`` runs): the snapshot is
restored once per member, each with its own ``--name`` and ``--initial-advertise-peer-urls``
and the same ``--initial-cluster`` and ``--initial-cluster-token``; then every member starts
on its restored data dir. The planner creates each pod once (``status.restore.created``).
"""

from __future__ import annotations

from etcd_operator.actions import AddMember, Bootstrap, DeletePod, RestoreMember, Steady, Wait
from etcd_operator.backup.restore import restore_plan
from etcd_operator.models import EtcdCluster
from etcd_operator.naming import peer_url
from etcd_operator.planner import MemberState, Observed, PodState, Policy, plan

PODS = ("c-0", "c-1", "c-2")
POLICY = Policy(member_start_deadline=30.0)


def _observed(**kw: object) -> Observed:
    base: dict[str, object] = {
        "cluster": "c",
        "namespace": "ns",
        "size": 3,
        "version": "3.5.1",
        "restore_members": PODS,
    }
    return Observed(**{**base, **kw})  # type: ignore[arg-type]


def _member(i: int, healthy: bool = True) -> MemberState:
    return MemberState(
        id=i + 1, peer_url=peer_url("c", "ns", f"c-{i}"), name=f"c-{i}", healthy=healthy
    )


def test_the_first_step_of_a_restore_restores_member_0_with_every_member_as_initial_cluster() -> (
    None
):
    action = plan(_observed(), POLICY)
    assert isinstance(action, RestoreMember)
    assert (action.pod, action.members) == ("c-0", PODS)


def test_the_other_members_are_restored_too_not_bootstrapped_or_added() -> None:
    pods = (PodState("c-0", age=1.0),)
    action = plan(_observed(pods=pods, restore_created=frozenset({"c-0"})), POLICY)
    assert isinstance(action, RestoreMember) and action.pod == "c-1"
    assert not isinstance(action, (Bootstrap, AddMember))


def test_restored_pods_starting_before_any_member_answers_are_not_deleted() -> None:
    pods = tuple(PodState(p, age=2.0) for p in PODS)
    action = plan(_observed(pods=pods, restore_created=frozenset(PODS)), POLICY)
    assert isinstance(action, Wait) and not isinstance(action, DeletePod)
    assert "c-0" in action.reason and action.phase == "Creating"


def test_a_restored_pod_created_once_and_gone_is_not_restored_again() -> None:
    pods = (PodState("c-0", ready=True, age=40.0), PodState("c-1", ready=True, age=40.0))
    members = (_member(0), _member(1), _member(2, healthy=False))
    o = _observed(pods=pods, members=members, restore_created=frozenset(PODS))
    action = plan(o, POLICY)
    assert not isinstance(action, RestoreMember)


def test_once_every_restored_member_runs_the_planner_goes_on_as_usual() -> None:
    pods = tuple(PodState(p, ready=True, age=40.0, version="3.5.1") for p in PODS)
    members = tuple(
        MemberState(
            id=i + 1,
            peer_url=peer_url("c", "ns", p),
            name=p,
            healthy=True,
            version="3.5.1",
            leader=i == 0,
        )
        for i, p in enumerate(PODS)
    )
    o = _observed(pods=pods, members=members, restore_created=frozenset(PODS), bootstrapped=True)
    assert isinstance(plan(o, POLICY), Steady)


def test_no_restored_member_answering_past_the_deadline_is_reported() -> None:
    pods = tuple(PodState(p, age=60.0) for p in PODS)
    action = plan(_observed(pods=pods, restore_created=frozenset(PODS)), POLICY)
    assert isinstance(action, Wait) and action.code == "RestoreStalled"


def _cluster(status: dict[str, object] | None = None) -> EtcdCluster:
    return EtcdCluster.model_validate(
        {
            "metadata": {"name": "c", "namespace": "ns"},
            "spec": {"size": 3, "bootstrap": {"fromBackup": {"backupName": "b"}}},
            "status": status,
        }
    )


def test_a_restore_begins_only_on_a_cluster_that_never_formed() -> None:
    assert restore_plan(_cluster()) == (PODS, frozenset())
    assert restore_plan(_cluster({"clusterID": "abc"})) == ((), frozenset())


def test_a_restore_under_way_keeps_its_recorded_members() -> None:
    restoring = {"backupName": "b", "phase": "Restoring", "members": ["c-0"], "created": ["c-0"]}
    assert restore_plan(_cluster({"clusterID": "abc", "restore": restoring})) == (
        ("c-0",),
        frozenset({"c-0"}),
    )
    restored = {**restoring, "phase": "Restored"}
    assert restore_plan(_cluster({"restore": restored})) == ((), frozenset())
