"""The EtcdCluster status a reconcile reports: a pure function of what it saw and chose.

Conditions:

- ``Available``: a healthy quorum that survives one more failure (a one-member cluster has
  none to survive, by its size). Never True while quorum is one failure away.
- ``AtRisk``: quorum holds but one more voter failure loses it (a member down or lost, a
  foreign voter that does not answer).
- ``Degraded``: quorum is lost; nothing destructive happens.
- ``Progressing``: the step being taken, or why none is (``Reconciled``, ``Paused``,
  ``UpgradeRefused``, ``ClusterIDMismatch``, ``ImagePullBackOff``...).
- ``ForeignMembers``: members whose peer URL maps to no pod of this cluster, by ID.
"""

from __future__ import annotations

from datetime import UTC, datetime

from etcd_operator import builders
from etcd_operator.actions import Action, Refuse, RemoveMember, RollbackMember, Steady, Wait
from etcd_operator.membership import Member
from etcd_operator.models import ClusterPhase, EtcdCluster, EtcdClusterStatus, MemberStatus
from etcd_operator.naming import ordinal_of, pod_of_peer_url
from etcd_operator.observe import View, member_pod
from etcd_operator.planner import fault_tolerance, foreign_members, quorum
from etcd_operator.versions import Version
from opframe import Condition, set_condition

__all__ = ["next_status"]


def next_status(
    cluster: EtcdCluster, view: View, action: Action, *, executed: bool = True
) -> EtcdClusterStatus:
    """The status after ``action`` (``executed``: it ran, it was not merely planned)."""
    old = cluster.status or EtcdClusterStatus()
    new = old.model_copy(deep=True)
    generation = cluster.metadata.generation
    name = cluster.name
    observed = view.observed
    members = observed.members or ()
    by_id = {m.id: m for m in members}
    new.members = []
    if not view.members:
        # No member answers: keep the members as last seen, none healthy. The planner brings
        # back a member on its persistent volume from this list (etcd_operator.planner).
        new.members = [
            m.model_copy(update={"healthy": False, "leader": False}) for m in old.members
        ]
    for m in sorted(view.members, key=lambda m: _ordinal(name, m)):
        pod = member_pod(name, m)
        new.members.append(
            MemberStatus(
                name=pod or m.name or f"foreign-{m.id:x}",
                id=f"{m.id:x}",
                peer_urls=list(m.peer_urls),
                client_urls=list(m.client_urls),
                version=by_id[m.id].version or None,
                healthy=by_id[m.id].healthy,
                leader=by_id[m.id].leader,
                learner=m.is_learner,
                state=view.waiting.get(pod) if pod else None,
                foreign=not pod,
            )
        )
    voters = [m for m in members if not m.learner]
    ready = [m for m in voters if m.healthy and m.started]
    new.ready_members = len([m for m in ready if pod_of_peer_url(name, m.peer_url)])
    versions = sorted({m.version for m in members if m.version}, key=Version.parse)
    new.current_version = versions[0] if versions else old.current_version
    if view.cluster_id and not old.cluster_id:
        # Recorded once, when the cluster forms; from then on it is what answers is checked
        # against, never overwritten by whatever answers.
        new.cluster_id = f"{view.cluster_id:x}"
    new.selector = builders.cluster_selector(cluster)
    new.observed_generation = generation
    new.phase = ClusterPhase(action.phase if not isinstance(action, Steady) else "Running")
    if isinstance(action, RollbackMember) and executed:
        new.failed_version = action.failed_version
    elif new.failed_version and new.failed_version != cluster.spec.version:
        new.failed_version = None  # the spec moved on: a later try of that version is allowed
    if isinstance(action, RemoveMember) and action.replacement and executed:
        new.last_replacement_time = datetime.now(UTC)

    conditions: list[Condition] = list(new.conditions)
    tolerance = fault_tolerance(members)
    has_quorum = bool(voters) and len(ready) >= quorum(len(voters))
    at_risk = has_quorum and tolerance <= 0 and len(voters) > 1
    available = has_quorum and not at_risk
    set_condition(
        conditions,
        "Available",
        available,
        "QuorumHealthy" if available else ("QuorumAtRisk" if at_risk else "QuorumUnavailable"),
        f"{len(ready)} of {len(voters)} voting members healthy",
        generation,
    )
    set_condition(
        conditions,
        "AtRisk",
        at_risk,
        "OneFailureFromQuorumLoss" if at_risk else "FailureTolerated",
        f"{len(ready)} of {len(voters)} voting members healthy, {quorum(len(voters))} needed"
        if voters
        else "",
        generation,
    )
    degraded = isinstance(action, Wait) and action.degraded
    set_condition(
        conditions,
        "Degraded",
        degraded,
        "QuorumLost"
        if degraded
        else ("MembersUnhealthy" if len(ready) < len(voters) else "AsExpected"),
        action.reason if degraded else "",
        generation,
    )
    _progressing(conditions, action, generation)
    foreign = foreign_members(observed)
    set_condition(
        conditions,
        "ForeignMembers",
        bool(foreign),
        "ForeignMembersFound" if foreign else "NoForeignMembers",
        "; ".join(
            f"member {m.id:x} at {m.peer_url} ({'started' if m.started else 'never started'}"
            f"{', voter' if not m.learner else ', learner'}) maps to no pod of this cluster"
            for m in foreign
        ),
        generation,
    )
    new.conditions = conditions
    return new


def _ordinal(cluster: str, m: Member) -> int:
    """Numeric ordinal of a member's pod; foreign members last."""
    ordinal = ordinal_of(cluster, member_pod(cluster, m))
    return ordinal if ordinal is not None else 1 << 30


def _progressing(conditions: list[Condition], action: Action, generation: int | None) -> None:
    if isinstance(action, Steady):
        set_condition(conditions, "Progressing", False, "Reconciled", action.reason, generation)
    elif isinstance(action, Refuse):
        set_condition(conditions, "Progressing", False, action.code, action.reason, generation)
    elif action.phase == ClusterPhase.PAUSED:
        set_condition(conditions, "Progressing", False, "Paused", action.reason, generation)
    elif isinstance(action, Wait) and action.code:
        set_condition(conditions, "Progressing", False, action.code, action.reason, generation)
    else:
        set_condition(
            conditions, "Progressing", True, type(action).__name__, action.reason, generation
        )
