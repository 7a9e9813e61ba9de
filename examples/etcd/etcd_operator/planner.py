"""The step planner: from an observed etcd cluster to the one next safe action.

``plan(observed)`` is a pure function. The reconciler gathers a :class:`Observed` (the owned
pods, etcd's live member list and each member's health and status), calls :func:`plan`, and
executes the single :class:`Action` it returns. A missed or repeated reconcile therefore cannot
change the outcome: the next call sees the new state and picks the next step.

Rules, in priority order (each learned from an operator that got it wrong before us):

1. ``paused`` stops every action (status is still reported).
2. With no member answering: bootstrap a seed only while the cluster has never formed (no
   cluster ID recorded), otherwise report quorum loss and wait. A seed with an empty data dir
   can never silently form a second cluster.
3. Pods whose peer URL is not in the member list are deleted (a removed member's pod, a stray).
4. With fewer healthy voters than quorum, nothing destructive happens: report ``Degraded``.
5. A member whose pod is gone: recreate the pod if its volume survived, otherwise remove the
   member (quorum-guarded) so that a fresh member with new data and a new ID replaces it.
6. A member added but never started past the progress deadline is removed (it must not wedge
   the operator); a learner is promoted once caught up.
7. A started member unhealthy past the grace period is replaced, quorum-guarded.
8. Scale up by ``member add`` (as a learner where supported) *before* creating the pod; new
   members run the cluster's current (lowest) version. Scale down by removing the highest
   ordinal from etcd *before* deleting its pod, moving leadership away first.
9. Upgrade one member at a time along supported paths, followers first and the leader last,
   and only while every other member is healthy (the restart must not cost quorum).

Every removal and restart is quorum-guarded: the voters that remain keep a healthy quorum.
"""

from __future__ import annotations

from dataclasses import dataclass

from etcd_operator.naming import ordinal_of, peer_url, pod_name, pod_of_peer_url
from etcd_operator.versions import Version, check_upgrade, supports_learners

__all__ = [
    "Action",
    "AddMember",
    "Bootstrap",
    "CreatePod",
    "DeletePod",
    "MemberState",
    "MoveLeader",
    "Observed",
    "PodState",
    "Policy",
    "PromoteMember",
    "Refuse",
    "RemoveMember",
    "Steady",
    "UpgradeMember",
    "Wait",
    "plan",
    "quorum",
]


@dataclass(frozen=True)
class PodState:
    """An owned member pod as the cache shows it."""

    name: str
    ready: bool = False
    terminating: bool = False
    version: str = ""
    age: float = 0.0
    not_ready_for: float = 0.0


@dataclass(frozen=True)
class MemberState:
    """A member from etcd's live member list, joined with its own status and health."""

    id: int
    peer_url: str
    name: str = ""
    learner: bool = False
    healthy: bool = False
    leader: bool = False
    version: str = ""
    raft_index: int = 0

    @property
    def started(self) -> bool:
        """etcd reports an empty name until the member has started and joined."""
        return bool(self.name)


@dataclass(frozen=True)
class Observed:
    """Everything one reconcile knows about a cluster."""

    cluster: str
    namespace: str
    size: int
    version: str
    pods: tuple[PodState, ...] = ()
    members: tuple[MemberState, ...] | None = None
    bootstrapped: bool = False
    paused: bool = False
    persistent_storage: bool = False
    tls_requested: bool = False
    """``spec.tls`` is set: this operator version cannot honour it (see :func:`plan`)."""
    quorum_stable_for: float = float("inf")
    """Seconds since the cluster last regained quorum (from the ``Degraded`` condition)."""


@dataclass(frozen=True)
class Policy:
    """Deadlines of the planner, in seconds."""

    member_start_deadline: float = 60.0
    unhealthy_grace: float = 20.0
    learner_catchup_ratio: float = 0.9


@dataclass(frozen=True)
class Action:
    """Base of every planned step. ``phase`` is the cluster phase the step implies."""

    reason: str

    @property
    def phase(self) -> str:
        """The phase reported in status while this step is the next one."""
        return "Running"

    @property
    def mutates(self) -> bool:
        """Whether executing this action changes anything (Events are recorded for those)."""
        return True


@dataclass(frozen=True)
class Bootstrap(Action):
    """Create the seed pod with ``--initial-cluster-state=new`` (the cluster has never formed)."""

    pod: str
    version: str

    @property
    def phase(self) -> str:
        return "Creating"


@dataclass(frozen=True)
class CreatePod(Action):
    """Create the pod of a member already registered in etcd (state ``existing``)."""

    pod: str
    version: str

    @property
    def phase(self) -> str:
        return "Scaling"


@dataclass(frozen=True)
class AddMember(Action):
    """``member add`` (as a learner where supported) before the new member's pod exists.

    ``version`` is what the new member runs: the cluster's current (lowest) version, so a
    member never joins on a version the cluster has not been upgraded to yet.
    """

    pod: str
    peer_url: str
    learner: bool
    version: str

    @property
    def phase(self) -> str:
        return "Scaling"


@dataclass(frozen=True)
class PromoteMember(Action):
    """``member promote`` of a learner that has caught up with the leader."""

    member_id: int
    pod: str

    @property
    def phase(self) -> str:
        return "Scaling"


@dataclass(frozen=True)
class RemoveMember(Action):
    """``member remove``; its pod is deleted by a later step, once it is not a member."""

    member_id: int
    pod: str
    phase_name: str = "Scaling"

    @property
    def phase(self) -> str:
        return self.phase_name


@dataclass(frozen=True)
class DeletePod(Action):
    """Delete a pod that is not (or no longer) a member."""

    pod: str

    @property
    def phase(self) -> str:
        return "Scaling"


@dataclass(frozen=True)
class MoveLeader(Action):
    """Transfer leadership before the leader is removed or restarted."""

    from_id: int
    to_id: int
    phase_name: str = "Scaling"

    @property
    def phase(self) -> str:
        return self.phase_name


@dataclass(frozen=True)
class UpgradeMember(Action):
    """Restart one member on a new version, keeping its data."""

    pod: str
    member_id: int
    version: str

    @property
    def phase(self) -> str:
        return "Upgrading"


@dataclass(frozen=True)
class Wait(Action):
    """Nothing safe to do now; look again later. ``degraded`` flags quorum trouble."""

    degraded: bool = False
    phase_name: str = "Running"

    @property
    def phase(self) -> str:
        return self.phase_name

    @property
    def mutates(self) -> bool:
        return False


@dataclass(frozen=True)
class Refuse(Action):
    """The spec asks for something unsafe or unsupported (e.g. a downgrade); nothing is done.

    ``code`` is the reason reported in the ``Progressing`` condition and the Warning Event.
    """

    code: str = "UpgradeRefused"

    @property
    def mutates(self) -> bool:
        return False


@dataclass(frozen=True)
class Steady(Action):
    """The cluster matches its spec."""

    @property
    def mutates(self) -> bool:
        return False


def quorum(voters: int) -> int:
    """Votes needed for a decision among ``voters`` voting members."""
    return voters // 2 + 1


def plan(o: Observed, policy: Policy = Policy()) -> Action:
    """Return the one next safe step for the observed cluster."""
    if o.paused:
        return Wait("reconciliation is paused (spec.paused)", phase_name="Paused")
    if o.tls_requested:
        # Running members over plain HTTP when TLS was asked for would expose the cluster's
        # data; doing nothing, visibly, is the safe answer until TLS is supported.
        return Refuse(
            "spec.tls is not supported by this operator version yet; remove spec.tls to run "
            "this cluster over plain HTTP, or use an operator version with TLS support",
            code="TLSUnsupported",
        )
    live_pods = {p.name: p for p in o.pods if not p.terminating}
    terminating = {p.name for p in o.pods if p.terminating}
    if o.members is None:
        return _plan_unreachable(o, live_pods, terminating, policy)

    members = sorted(o.members, key=lambda m: _ordinal(o, m))
    url_of = {name: peer_url(o.cluster, o.namespace, name) for name in live_pods}
    member_urls = {m.peer_url for m in members}
    for name in sorted(live_pods, key=lambda n: ordinal_of(o.cluster, n) or 0):
        if url_of[name] not in member_urls:
            return DeletePod(f"pod {name} is not a member of the etcd cluster", pod=name)

    voters = [m for m in members if not m.learner]
    healthy = [m for m in voters if m.healthy]
    if len(healthy) < quorum(len(voters)):
        return Wait(
            f"quorum lost: {len(healthy)} of {len(voters)} voting members healthy, "
            f"{quorum(len(voters))} needed; no destructive step is taken",
            degraded=True,
            phase_name="Degraded",
        )

    step = _plan_heal(o, members, voters, live_pods, terminating, policy)
    if step is not None:
        return step
    step = _plan_scale(o, members, voters, live_pods, terminating)
    if step is not None:
        return step
    return _plan_upgrade(o, voters, live_pods)


def _ordinal(o: Observed, m: MemberState) -> int:
    name = _pod_of(o, m)
    ordinal = ordinal_of(o.cluster, name) if name else None
    return ordinal if ordinal is not None else 1 << 30


def _pod_of(o: Observed, m: MemberState) -> str:
    """The pod name a member's peer URL points at (``""`` for a foreign URL)."""
    return pod_of_peer_url(o.cluster, m.peer_url)


def _can_remove(voters: list[MemberState], victim: MemberState) -> bool:
    """Whether removing ``victim`` leaves the remaining voters with a healthy quorum."""
    if victim.learner:
        return True
    remaining = [v for v in voters if v.id != victim.id]
    if not remaining:
        return False
    return sum(v.healthy for v in remaining) >= quorum(len(remaining))


def _plan_unreachable(
    o: Observed, live_pods: dict[str, PodState], terminating: set[str], policy: Policy
) -> Action:
    if o.bootstrapped:
        return Wait(
            "no etcd member answers; the cluster may have lost quorum. Waiting for members "
            "to return; no destructive step is taken",
            degraded=True,
            phase_name="Degraded",
        )
    seed = pod_name(o.cluster, 0)
    if not live_pods and not terminating:
        return Bootstrap(
            f"bootstrap a new cluster with seed member {seed} on etcd {o.version}",
            pod=seed,
            version=o.version,
        )
    pod = live_pods.get(seed)
    if pod is not None and not pod.ready and pod.age > policy.member_start_deadline:
        return DeletePod(
            f"seed {seed} did not start within {policy.member_start_deadline:.0f}s; retrying",
            pod=seed,
        )
    for name in sorted(live_pods):
        if name != seed:
            return DeletePod(f"pod {name} is not the seed of a cluster still forming", pod=name)
    return Wait(f"waiting for seed member {seed} to start", phase_name="Creating")


def _plan_heal(
    o: Observed,
    members: list[MemberState],
    voters: list[MemberState],
    live_pods: dict[str, PodState],
    terminating: set[str],
    policy: Policy,
) -> Action | None:
    leader_index = max((m.raft_index for m in members if m.leader), default=0)
    for m in members:
        name = _pod_of(o, m)
        pod = live_pods.get(name)
        if pod is None:
            if name in terminating:
                return Wait(f"waiting for pod {name} to terminate", phase_name="Healing")
            if not m.started or o.persistent_storage:
                why = (
                    "member is registered but its pod does not exist"
                    if not m.started
                    else "recreate the pod of member on its persistent volume"
                )
                return CreatePod(f"{why} ({name})", pod=name, version=_join_version(o, voters))
            if _can_remove(voters, m):
                return RemoveMember(
                    f"pod {name} is gone with its data; removing member {m.id:x} to replace it",
                    member_id=m.id,
                    pod=name,
                    phase_name="Healing",
                )
            return Wait(
                f"pod {name} is gone but removing its member would lose quorum",
                degraded=True,
                phase_name="Degraded",
            )
        if not m.started:
            if pod.age > policy.member_start_deadline and not pod.ready:
                return RemoveMember(
                    f"member {name} did not start within {policy.member_start_deadline:.0f}s; "
                    "removing it to retry",
                    member_id=m.id,
                    pod=name,
                )
            return Wait(f"waiting for new member {name} to start", phase_name="Scaling")
        if m.learner:
            caught_up = m.healthy and m.raft_index >= policy.learner_catchup_ratio * leader_index
            if caught_up:
                return PromoteMember(f"learner {name} has caught up", member_id=m.id, pod=name)
            if pod.age > policy.member_start_deadline and not m.healthy:
                return RemoveMember(
                    f"learner {name} did not catch up within "
                    f"{policy.member_start_deadline:.0f}s; removing it to retry",
                    member_id=m.id,
                    pod=name,
                )
            return Wait(f"waiting for learner {name} to catch up", phase_name="Scaling")
    # Right after quorum returns, members catch up and learn the new leader one by one: give
    # them the grace period before calling any of them broken.
    settled = o.quorum_stable_for > policy.unhealthy_grace
    for m in voters:
        name = _pod_of(o, m)
        pod = live_pods[name]
        if (
            settled
            and not m.healthy
            and pod.not_ready_for > policy.unhealthy_grace
            and _can_remove(voters, m)
        ):
            return RemoveMember(
                f"member {name} unhealthy for {pod.not_ready_for:.0f}s; replacing it",
                member_id=m.id,
                pod=name,
                phase_name="Healing",
            )
    unhealthy = [_pod_of(o, m) for m in voters if not m.healthy]
    if unhealthy:
        return Wait(
            f"waiting for unhealthy member(s) {', '.join(unhealthy)}",
            phase_name="Healing",
        )
    return None


def _plan_scale(
    o: Observed,
    members: list[MemberState],
    voters: list[MemberState],
    live_pods: dict[str, PodState],
    terminating: set[str],
) -> Action | None:
    if len(voters) < o.size:
        used = {_ordinal(o, m) for m in members}
        used |= {ordinal_of(o.cluster, n) or 0 for n in (*live_pods, *terminating)}
        ordinal = next(i for i in range(len(used) + 1) if i not in used)
        name = pod_name(o.cluster, ordinal)
        version = _join_version(o, voters)
        return AddMember(
            f"scale {len(voters)} -> {o.size}: add member {name}",
            pod=name,
            peer_url=peer_url(o.cluster, o.namespace, name),
            learner=supports_learners(version),
            version=version,
        )
    if len(voters) > o.size:
        victim = max(voters, key=lambda m: _ordinal(o, m))
        if victim.leader:
            target = _new_leader(o, voters, victim)
            if target is not None:
                return MoveLeader(
                    f"move leadership away from {_pod_of(o, victim)} before removing it",
                    from_id=victim.id,
                    to_id=target.id,
                )
        if not _can_remove(voters, victim):
            return Wait(f"removing {_pod_of(o, victim)} would lose quorum", degraded=True)
        name = _pod_of(o, victim)
        return RemoveMember(
            f"scale {len(voters)} -> {o.size}: remove member {name}",
            member_id=victim.id,
            pod=name,
        )
    return None


def _plan_upgrade(o: Observed, voters: list[MemberState], live_pods: dict[str, PodState]) -> Action:
    outdated = [m for m in voters if m.version and m.version != o.version]
    if not outdated:
        return Steady(f"{len(voters)} members healthy at {o.version}")
    for m in outdated:
        check = check_upgrade(m.version, o.version)
        if not check.allowed:
            return Refuse(f"refusing to change member {_pod_of(o, m)}: {check.reason}")
    for m in outdated:
        if live_pods[_pod_of(o, m)].version == o.version:
            return Wait(
                f"waiting for {_pod_of(o, m)} to restart on {o.version}", phase_name="Upgrading"
            )
    followers = sorted(
        (m for m in outdated if not m.leader), key=lambda m: _ordinal(o, m), reverse=True
    )
    if followers:
        m = followers[0]
        if not _can_restart(voters, m):
            return Wait(f"restarting {_pod_of(o, m)} now would lose quorum", phase_name="Upgrading")
        return UpgradeMember(
            f"upgrade {_pod_of(o, m)} from {m.version} to {o.version}",
            pod=_pod_of(o, m),
            member_id=m.id,
            version=o.version,
        )
    leader = outdated[0]
    if not _can_restart(voters, leader):
        return Wait(
            f"restarting {_pod_of(o, leader)} now would lose quorum", phase_name="Upgrading"
        )
    target = _new_leader(o, voters, leader)
    if target is not None:
        return MoveLeader(
            f"move leadership away from {_pod_of(o, leader)} before upgrading it",
            from_id=leader.id,
            to_id=target.id,
            phase_name="Upgrading",
        )
    return UpgradeMember(
        f"upgrade {_pod_of(o, leader)} from {leader.version} to {o.version}",
        pod=_pod_of(o, leader),
        member_id=leader.id,
        version=o.version,
    )


def _join_version(o: Observed, voters: list[MemberState]) -> str:
    """The version a new or recreated member runs: the lowest any voter runs.

    The rolling upgrade moves it on later; starting it on ``spec.version`` could mean a
    downgrade or a skipped minor the upgrade rules refuse.
    """
    versions = [m.version for m in voters if m.version]
    return min(versions, key=_version_key) if versions else o.version


def _can_restart(voters: list[MemberState], m: MemberState) -> bool:
    """Whether taking ``m`` down for a moment (an upgrade restart) keeps a healthy quorum.

    A one-member cluster has no redundancy: its upgrade is a short outage by definition.
    """
    if len(voters) == 1:
        return True
    others = sum(v.healthy for v in voters if v.id != m.id)
    return others >= quorum(len(voters))


def _new_leader(o: Observed, voters: list[MemberState], leaving: MemberState) -> MemberState | None:
    candidates = [m for m in voters if m.id != leaving.id and m.healthy and m.started]
    return min(candidates, key=lambda m: _ordinal(o, m)) if candidates else None


def _version_key(v: str) -> Version:
    return Version.parse(v)
