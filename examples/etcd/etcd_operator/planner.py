"""The step planner: from an observed etcd cluster to the one next safe action.

``plan(observed)`` is a pure function. The reconciler gathers a :class:`Observed` (the owned
pods, etcd's live member list and each member's health and status), calls :func:`plan`, and
executes the single :class:`~etcd_operator.actions.Action` it returns. A missed or repeated
reconcile therefore cannot change the outcome: the next call sees the new state and picks the
next step.

Rules, in priority order (each learned from an operator that got it wrong before us):

1. ``paused`` stops every action (status is still reported).
2. Identity first: once ``status.clusterID`` is recorded, every member that answers must report
   it, and the member answering at a pod's address must be the member whose peer URL names that
   pod. Otherwise the etcd answering is not (only) this cluster, and nothing is done.
3. With no member answering: bootstrap a seed only while the cluster has never formed (no
   cluster ID recorded), otherwise report quorum loss and wait. A seed with an empty data dir
   can never silently form a second cluster.
4. Pods whose peer URL is not in the member list are deleted (a removed member's pod, a stray).
5. With fewer healthy voters than quorum, nothing destructive happens: report ``Degraded``.
6. A foreign member (its peer URL maps to no pod of this cluster) that never started is removed
   when quorum allows; a started one is removed only when the user names it in the
   ``etcd.opframe.dev/remove-foreign-members`` annotation. It never gets a pod.
7. A member whose pod is gone: recreate the pod if its volume survived, otherwise remove the
   member (quorum-guarded) so that a fresh member with new data and a new ID replaces it.
8. A member added but never started past the progress deadline is removed (it must not wedge
   the operator); a learner is promoted once caught up.
9. An image that cannot be pulled or started is not an unhealthy member: a member on a new image
   is rolled back to the version the cluster runs; no member is replaced for its image.
10. A started member unhealthy past the grace period is replaced, quorum-guarded, at most one
    replacement per progress deadline (the replacement budget).
11. Scale up by ``member add`` (as a learner where supported) *before* creating the pod; new
    members run the cluster's current (lowest) version. Scale down by removing the highest
    ordinal from etcd *before* deleting its pod, moving leadership away first.
12. Upgrade one member at a time along supported paths, followers first and the leader last,
    and only while every other member is healthy (the restart must not cost quorum); never to a
    version that already failed to start.
13. Roll members whose day-2 settings (quota, auto-compaction) differ from the spec the same
    way: one at a time, every member healthy, followers first and the leader last. A member on
    a persistent volume gets a new pod on its data; one on an emptyDir is replaced.
14. Restart members started with another trust bundle than their Secrets' ``ca.crt`` holds now
    (etcd loads its trusted CAs once, at start: a CA rotation, or a supplied CA changed), one
    at a time, every member healthy. A member on a persistent volume gets a new pod on its
    data (followers first, the leader last); a member on an emptyDir is replaced by surge: a
    new member is added as a learner first and promoted, and only then is a stale member
    removed (scale-down removes stale members first), so the cluster never has fewer healthy
    voters than its size, and a one-member cluster keeps its data.

Every removal and restart is quorum-guarded: the voters that remain keep a healthy quorum.
"""

from __future__ import annotations

from dataclasses import dataclass

from etcd_operator.actions import (
    Action,
    AddMember,
    Bootstrap,
    CreatePod,
    DeletePod,
    MoveLeader,
    PromoteMember,
    RecreatePod,
    Refuse,
    RemoveMember,
    RestoreMember,
    RollbackMember,
    Steady,
    UpgradeMember,
    Wait,
)
from etcd_operator.naming import ordinal_of, peer_url, pod_name, pod_of_peer_url
from etcd_operator.versions import Version, check_upgrade, supports_learners

__all__ = [
    "IMAGE_FAILURES",
    "MemberState",
    "Observed",
    "PodState",
    "Policy",
    "fault_tolerance",
    "foreign_members",
    "plan",
    "quorum",
]

IMAGE_FAILURES = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
"""Container waiting reasons that mean "this image cannot run here", not "this member is broken"."""


@dataclass(frozen=True)
class PodState:
    """An owned member pod as the cache shows it."""

    name: str
    ready: bool = False
    terminating: bool = False
    version: str = ""
    """The etcd version its image names."""
    age: float = 0.0
    not_ready_for: float = 0.0
    waiting: str = ""
    """The etcd container's waiting reason (``ImagePullBackOff``, ``CrashLoopBackOff``...)."""
    settings: str = ""
    """The day-2 flags its container runs with (:func:`etcd_operator.settings.settings_of_args`)."""


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
    answered_as: int | None = None
    """The member ID reported by whatever answers at this member's pod address (``None``: no
    answer). Anything but ``id`` means another member, or another cluster, sits there."""

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
    peer_scheme: str = "http"
    """``https`` when members talk to each other over TLS (``spec.tls``)."""
    tls_problem: str = ""
    """Why ``spec.tls`` cannot be honoured now (a missing Secret, a plain/TLS switch on a
    running cluster): nothing is done while it is set."""
    tls_problem_code: str = "TLSRefused"
    quorum_stable_for: float = float("inf")
    """Seconds since the cluster last regained quorum (from the ``Degraded`` condition)."""
    recorded_cluster_id: int | None = None
    """``status.clusterID``: the cluster this object formed, once it has formed."""
    answering_cluster_ids: frozenset[int] = frozenset()
    """The cluster IDs in the answers of every etcd member that answered this reconcile."""
    failed_version: str = ""
    """``status.failedVersion``: a version whose image could not be pulled or started."""
    since_last_replacement: float = float("inf")
    """Seconds since the operator last removed a member to replace it."""
    foreign_removals: frozenset[int] = frozenset()
    """IDs of started foreign members the user allows removing (an annotation)."""
    current_version: str = ""
    """``status.currentVersion``: the lowest version members ran when last observed."""
    restore_members: tuple[str, ...] = ()
    """The pods of the initial members of a restore in progress (``spec.bootstrap.fromBackup``,
    see :mod:`etcd_operator.backup.restore`); empty when no restore is under way."""
    restore_created: frozenset[str] = frozenset()
    """Those of ``restore_members`` whose pods were already created from the snapshot."""
    settings: str = ""
    """The day-2 flags the spec asks every member to run with."""
    recorded_members: tuple[str, ...] = ()
    """Pods of the started members ``status.members`` lists (to bring back on their volumes
    when none answers, e.g. the only member of a cluster restarted onto new settings)."""
    stale_trust: frozenset[str] = frozenset()
    """Pods whose member was started with another trust bundle than their Secrets hold now
    (:data:`etcd_operator.tls.TRUST_ANNOTATION`): restarted by rule 14."""


@dataclass(frozen=True)
class Policy:
    """Deadlines of the planner, in seconds.

    ``member_start_deadline`` is also the progress deadline of the replacement budget: at most
    one member is replaced per deadline.
    """

    member_start_deadline: float = 60.0
    unhealthy_grace: float = 20.0
    learner_catchup_ratio: float = 0.9


def quorum(voters: int) -> int:
    """Votes needed for a decision among ``voters`` voting members."""
    return voters // 2 + 1


def fault_tolerance(members: tuple[MemberState, ...]) -> int:
    """How many more voters may fail before quorum is lost (negative: already lost).

    >>> fault_tolerance((MemberState(1, "a", healthy=True), MemberState(2, "b", healthy=True)))
    0
    """
    voters = [m for m in members if not m.learner]
    return sum(m.healthy for m in voters) - quorum(len(voters))


def foreign_members(o: Observed) -> list[MemberState]:
    """Members whose peer URL maps to no pod name of this cluster (added by hand, or stale)."""
    return [m for m in o.members or () if not _pod_of(o, m)]


def plan(o: Observed, policy: Policy = Policy()) -> Action:
    """Return the one next safe step for the observed cluster."""
    if o.paused:
        return Wait("reconciliation is paused (spec.paused)", phase_name="Paused")
    if o.tls_problem:
        # Members started without the TLS asked for (or unable to reach each other) would
        # expose the data or split the cluster; doing nothing, visibly, is the safe answer.
        return Refuse(o.tls_problem, code=o.tls_problem_code)
    refused = _check_identity(o)
    if refused is not None:
        return refused
    live_pods = {p.name: p for p in o.pods if not p.terminating}
    terminating = {p.name for p in o.pods if p.terminating}
    restoring = _plan_restore(o, live_pods, terminating, policy)
    if restoring is not None:
        return restoring
    if o.members is None:
        return _plan_unreachable(o, live_pods, terminating, policy)

    members = sorted(o.members, key=lambda m: _ordinal(o, m))
    url_of = {name: peer_url(o.cluster, o.namespace, name, o.peer_scheme) for name in live_pods}
    member_urls = {m.peer_url for m in members}
    for name in sorted(live_pods, key=lambda n: ordinal_of(o.cluster, n) or 0):
        if url_of[name] not in member_urls:
            return DeletePod(f"pod {name} is not a member of the etcd cluster", pod=name)

    voters = [m for m in members if not m.learner]
    rollback = _plan_rollback(o, voters, live_pods)
    if rollback is not None:
        return rollback
    healthy = [m for m in voters if m.healthy]
    if len(healthy) < quorum(len(voters)):
        return Wait(
            f"quorum lost: {len(healthy)} of {len(voters)} voting members healthy, "
            f"{quorum(len(voters))} needed; no destructive step is taken",
            degraded=True,
            phase_name="Degraded",
        )
    step = _plan_foreign(o, voters)
    if step is not None:
        return step
    own = [m for m in members if _pod_of(o, m)]
    step = _plan_heal(o, own, voters, live_pods, terminating, policy)
    if step is not None:
        return step
    step = _plan_scale(o, members, voters)
    if step is not None:
        return step
    step = _plan_upgrade(o, voters, live_pods)
    if isinstance(step, Steady):
        return (
            _plan_settings(o, voters, live_pods)
            or _plan_trust(o, members, voters, live_pods)
            or step
        )
    return step


def _check_identity(o: Observed) -> Refuse | None:
    """Refuse to act when what answers is not the cluster this object formed."""
    ids = o.answering_cluster_ids
    recorded = o.recorded_cluster_id
    others = sorted(ids - {recorded}) if recorded is not None else []
    if others:
        return Refuse(
            f"etcd at this cluster's member addresses answers with cluster ID {others[0]:x}, "
            f"but status.clusterID is {recorded:x}: it is another cluster; no step is taken",
            code="ClusterIDMismatch",
        )
    if len(ids) > 1:
        a, b = sorted(ids)[:2]
        return Refuse(
            f"members answer with two cluster IDs ({a:x} and {b:x}); no step is taken",
            code="ClusterIDMismatch",
        )
    for m in o.members or ():
        if m.answered_as is not None and m.answered_as != m.id:
            return Refuse(
                f"the address of pod {_pod_of(o, m) or m.peer_url} answers as member "
                f"{m.answered_as:x}, but the member list has {m.id:x} at its peer URL; "
                "no step is taken",
                code="MemberIDMismatch",
            )
    return None


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


def _remove(m: MemberState, reason: str, pod: str, phase: str = "Scaling") -> RemoveMember:
    return RemoveMember(reason, member_id=m.id, pod=pod, peer_url=m.peer_url, phase_name=phase)


def _plan_unreachable(
    o: Observed, live_pods: dict[str, PodState], terminating: set[str], policy: Policy
) -> Action:
    if o.bootstrapped and o.persistent_storage:
        for name in o.recorded_members:
            if name not in live_pods and name not in terminating:
                # Its data is on its claim and its parameters are sealed: it comes back as
                # the same member, never as a new cluster.
                return CreatePod(
                    f"recreate the pod of member {name} on its persistent volume",
                    pod=name,
                    version=o.current_version or o.version,
                    sealed=True,
                    phase_name="Healing",
                )
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
    if pod is not None and pod.waiting in IMAGE_FAILURES:
        return Wait(
            f"seed {seed} cannot pull its image (etcd {pod.version}): {pod.waiting}; "
            "set spec.version to a version with an image",
            code=pod.waiting,
            phase_name="Creating",
        )
    if pod is not None and not pod.ready and pod.age > policy.member_start_deadline:
        return DeletePod(
            f"seed {seed} did not start within {policy.member_start_deadline:.0f}s; retrying",
            pod=seed,
        )
    for name in sorted(live_pods):
        if name != seed:
            return DeletePod(f"pod {name} is not the seed of a cluster still forming", pod=name)
    return Wait(f"waiting for seed member {seed} to start", phase_name="Creating")


def _plan_foreign(o: Observed, voters: list[MemberState]) -> Action | None:
    """Remove a foreign member only if it never started, or the user named it; quorum-guarded."""
    for m in foreign_members(o):
        allowed = not m.started or m.id in o.foreign_removals
        if allowed and _can_remove(voters, m):
            why = "never started" if not m.started else "is named for removal by the user"
            return _remove(
                m,
                f"member {m.id:x} ({m.peer_url}) maps to no pod of this cluster and {why}; "
                "removing it",
                pod="",
                phase="Healing",
            )
    return None


def _plan_heal(
    o: Observed,
    members: list[MemberState],
    voters: list[MemberState],
    live_pods: dict[str, PodState],
    terminating: set[str],
    policy: Policy,
) -> Action | None:
    leader_index = max((m.raft_index for m in members if m.leader), default=0)
    budget_left = o.since_last_replacement > policy.member_start_deadline
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
            if not _can_remove(voters, m):
                return Wait(
                    f"pod {name} is gone but removing its member would lose quorum",
                    degraded=True,
                    phase_name="Degraded",
                )
            if not budget_left:
                return _budget_wait(name, o, policy)
            return _remove(
                m,
                f"pod {name} is gone with its data; removing member {m.id:x} to replace it",
                name,
                "Healing",
            )
        wait = _image_wait(o, m, pod)
        if wait is not None:
            return wait
        if not m.started:
            if pod.age > policy.member_start_deadline and not pod.ready:
                return _remove(
                    m,
                    f"member {name} did not start within {policy.member_start_deadline:.0f}s; "
                    "removing it to retry",
                    name,
                )
            return Wait(f"waiting for new member {name} to start", phase_name="Scaling")
        if m.learner:
            caught_up = m.healthy and m.raft_index >= policy.learner_catchup_ratio * leader_index
            if caught_up:
                return PromoteMember(f"learner {name} has caught up", member_id=m.id, pod=name)
            if pod.age > policy.member_start_deadline and not m.healthy:
                return _remove(
                    m,
                    f"learner {name} did not catch up within "
                    f"{policy.member_start_deadline:.0f}s; removing it to retry",
                    name,
                )
            return Wait(f"waiting for learner {name} to catch up", phase_name="Scaling")
    # Right after quorum returns, members catch up and learn the new leader one by one: give
    # them the grace period before calling any of them broken.
    settled = o.quorum_stable_for > policy.unhealthy_grace
    own_voters = [m for m in members if not m.learner]
    for m in own_voters:
        name = _pod_of(o, m)
        pod = live_pods[name]
        if (
            settled
            and not m.healthy
            and pod.not_ready_for > policy.unhealthy_grace
            and _can_remove(voters, m)
        ):
            if not budget_left:
                return _budget_wait(name, o, policy)
            reason = f"member {name} unhealthy for {pod.not_ready_for:.0f}s; replacing it"
            return _remove(m, reason, name, "Healing")
    unhealthy = [_pod_of(o, m) for m in own_voters if not m.healthy]
    if unhealthy:
        return Wait(
            f"waiting for unhealthy member(s) {', '.join(unhealthy)}",
            phase_name="Healing",
        )
    return None


def _budget_wait(name: str, o: Observed, policy: Policy) -> Wait:
    return Wait(
        f"member {name} needs replacing, but a member was replaced "
        f"{o.since_last_replacement:.0f}s ago: at most one replacement per "
        f"{policy.member_start_deadline:.0f}s",
        code="ReplacementBudgetExhausted",
        phase_name="Healing",
    )


def _plan_rollback(
    o: Observed, voters: list[MemberState], live_pods: dict[str, PodState]
) -> RollbackMember | None:
    """A member on a new image that cannot be pulled or crash-loops goes back to its version.

    The pod was patched in place (never deleted), so the member's data is intact and it
    restarts as the same member. Restoring a known-good version can only help, so this is
    allowed even while quorum is lost (a one-member cluster upgrading to a missing image).
    """
    for m in voters:
        name = _pod_of(o, m)
        pod = live_pods.get(name)
        if pod is None or m.healthy or not m.started:
            continue
        others = [v for v in voters if v.id != m.id and v.version]
        running = _join_version(o, others) if others else (o.current_version or o.version)
        failing = pod.waiting in IMAGE_FAILURES or pod.waiting == "CrashLoopBackOff"
        if pod.version and pod.version != running and failing:
            return RollbackMember(
                f"member {name} cannot run etcd {pod.version} ({pod.waiting}); rolling it "
                f"back to {running} on its intact data",
                pod=name,
                member_id=m.id,
                version=running,
                failed_version=pod.version,
            )
    return None


def _image_wait(o: Observed, m: MemberState, pod: PodState) -> Wait | None:
    """An image that cannot be pulled is reported; it is never a reason to replace a member."""
    if pod.waiting not in IMAGE_FAILURES:
        return None
    return Wait(
        f"member {_pod_of(o, m)} cannot pull its image (etcd {pod.version}): {pod.waiting}; an "
        "image problem is not a broken member, so it is not replaced",
        code=pod.waiting,
        phase_name="Degraded",
    )


def _plan_scale(
    o: Observed, members: list[MemberState], voters: list[MemberState]
) -> Action | None:
    own_voters = [m for m in voters if _pod_of(o, m)]
    if len(own_voters) < o.size:
        return _add_member(o, members, voters, f"scale {len(own_voters)} -> {o.size}")
    if len(own_voters) > o.size:
        # Members that need a restart onto a new trust bundle go first (rule 14's surge),
        # followers before the leader; then the highest ordinal.
        def order(m: MemberState) -> tuple[bool, bool, int]:
            stale = _pod_of(o, m) in o.stale_trust
            return stale, stale and not m.leader, _ordinal(o, m)

        victim = max(own_voters, key=order)
        move = _move_leader_off(o, voters, victim, "removing", "Scaling")
        if move is not None:
            return move
        if not _can_remove(voters, victim):
            return Wait(f"removing {_pod_of(o, victim)} would lose quorum", degraded=True)
        name = _pod_of(o, victim)
        if name in o.stale_trust:
            return _remove(
                victim,
                f"remove member {name}, started with an old trust bundle: its surge "
                "replacement is promoted",
                name,
                "Upgrading",
            )
        return _remove(victim, f"scale {len(own_voters)} -> {o.size}: remove member {name}", name)
    return None


def _add_member(
    o: Observed,
    members: list[MemberState],
    voters: list[MemberState],
    why: str,
    phase: str = "Scaling",
) -> AddMember:
    """``member add`` of a new member on the lowest free ordinal (no member's, and no pod's,
    live or terminating)."""
    used = {_ordinal(o, m) for m in members}
    used |= {ordinal_of(o.cluster, p.name) or 0 for p in o.pods}
    ordinal = next(i for i in range(len(used) + 1) if i not in used)
    name = pod_name(o.cluster, ordinal)
    version = _join_version(o, voters)
    return AddMember(
        f"{why}: add member {name}",
        pod=name,
        peer_url=peer_url(o.cluster, o.namespace, name, o.peer_scheme),
        learner=supports_learners(version),
        version=version,
        phase_name=phase,
    )


def _plan_trust(
    o: Observed,
    members: list[MemberState],
    voters: list[MemberState],
    live_pods: dict[str, PodState],
) -> Action | None:
    """Restart one member started with another trust bundle than the current one (rule 14)."""
    stale = [m for m in voters if _pod_of(o, m) in o.stale_trust and _pod_of(o, m) in live_pods]
    if not stale:
        return None
    unhealthy = [_pod_of(o, m) or f"{m.id:x}" for m in members if not m.healthy or m.learner]
    if unhealthy:
        return Wait(
            "restarting members onto the new trust bundle waits for every member to be "
            f"healthy ({', '.join(unhealthy)} is not)",
            phase_name="Upgrading",
        )
    names = ", ".join(_pod_of(o, m) for m in stale)
    if not o.persistent_storage:
        own_voters = [m for m in voters if _pod_of(o, m)]
        if len(own_voters) > o.size:
            return None  # the surge member is in: scale-down removes a stale member next
        # Removing first would leave the cluster one voter short, and a one-member cluster
        # without its data: add the replacement first (the data comes from the leader).
        return _add_member(
            o,
            members,
            voters,
            f"{names} must restart to load the new trust bundle, and their data is on an "
            "emptyDir: surge (a stale member is removed once the new one is promoted)",
            phase="Upgrading",
        )
    m, name, move = _next_to_restart(o, voters, stale)
    if move is not None:
        return move
    if not _can_restart(voters, m):
        return Wait(f"restarting {name} now would lose quorum", phase_name="Upgrading")
    return RecreatePod(
        f"restart {name} on its volume to load the new trust bundle (etcd reads its trusted "
        "CAs at start only)",
        pod=name,
        member_id=m.id,
    )


def _plan_upgrade(o: Observed, voters: list[MemberState], live_pods: dict[str, PodState]) -> Action:
    own = [m for m in voters if _pod_of(o, m)]
    outdated = [m for m in own if m.version and m.version != o.version]
    if not outdated:
        return Steady(f"{len(own)} members healthy at {o.version}")
    for m in outdated:
        check = check_upgrade(m.version, o.version)
        if not check.allowed:
            return Refuse(f"refusing to change member {_pod_of(o, m)}: {check.reason}")
    if o.failed_version == o.version:
        return Refuse(
            f"etcd {o.version} could not be pulled or started on a member, which was rolled "
            f"back to {_join_version(o, voters)}; set spec.version to a version with a "
            "working image",
            code="UpgradeFailed",
        )
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
    move = _move_leader_off(o, voters, leader, "upgrading", "Upgrading")
    if move is not None:
        return move
    return UpgradeMember(
        f"upgrade {_pod_of(o, leader)} from {leader.version} to {o.version}",
        pod=_pod_of(o, leader),
        member_id=leader.id,
        version=o.version,
    )


def _plan_settings(
    o: Observed, voters: list[MemberState], live_pods: dict[str, PodState]
) -> Action | None:
    """Roll one member whose pod runs other day-2 settings than the spec (rule 13)."""
    stale = [
        m
        for m in voters
        if _pod_of(o, m)
        and _pod_of(o, m) in live_pods
        and live_pods[_pod_of(o, m)].settings != o.settings
    ]
    if not stale:
        return None
    unhealthy = [_pod_of(o, m) or f"{m.id:x}" for m in voters if not m.healthy]
    if unhealthy:
        return Wait(
            f"new settings wait for every member to be healthy ({', '.join(unhealthy)} is not)",
            phase_name="Upgrading",
        )
    if not o.persistent_storage and len(voters) == 1:
        return Wait(
            "new settings (spec.quotaBackendBytes, spec.autoCompaction) need the member "
            "restarted, and a one-member cluster on an emptyDir would lose its data; scale "
            "to 3 members or use spec.storage.volumeClaimTemplate",
            code="SettingsNeedRedundancy",
        )
    m, name, move = _next_to_restart(o, voters, stale)
    if move is not None:
        return move
    reason = f"roll {name} onto the new settings ({o.settings or 'etcd defaults'})"
    if o.persistent_storage:
        if not _can_restart(voters, m):
            return Wait(f"restarting {name} now would lose quorum", phase_name="Upgrading")
        return RecreatePod(reason, pod=name, member_id=m.id)
    if not _can_remove(voters, m):
        return Wait(f"replacing {name} now would lose quorum", phase_name="Upgrading")
    return _remove(m, reason + ": replace it (its data is on an emptyDir)", name, "Upgrading")


def _join_version(o: Observed, voters: list[MemberState]) -> str:
    """The version a new or recreated member runs: the lowest any voter runs.

    The rolling upgrade moves it on later; starting it on ``spec.version`` could mean a
    downgrade or a skipped minor the upgrade rules refuse.
    """
    versions = [m.version for m in voters if m.version]
    return min(versions, key=_version_key) if versions else o.version


def _next_to_restart(
    o: Observed, voters: list[MemberState], stale: list[MemberState]
) -> tuple[MemberState, str, MoveLeader | None]:
    """The stale member to restart next, its pod, and the leader move that must come first.

    Followers go first, highest ordinal first; the leader goes last, once leadership is off it.
    """
    followers = sorted((m for m in stale if not m.leader), key=lambda m: _ordinal(o, m))
    m = followers[-1] if followers else stale[0]
    return m, _pod_of(o, m), _move_leader_off(o, voters, m, "restarting", "Upgrading")


def _can_restart(voters: list[MemberState], m: MemberState) -> bool:
    """Whether taking ``m`` down for a moment (an upgrade restart) keeps a healthy quorum.

    A one-member cluster has no redundancy: its upgrade is a short outage by definition.
    """
    if len(voters) == 1:
        return True
    others = sum(v.healthy for v in voters if v.id != m.id)
    return others >= quorum(len(voters))


def _move_leader_off(
    o: Observed, voters: list[MemberState], m: MemberState, before: str, phase: str
) -> MoveLeader | None:
    """Leadership moves off ``m`` before it is removed or restarted (if it leads, and can)."""
    target = _new_leader(o, voters, m) if m.leader else None
    if target is None:
        return None
    return MoveLeader(
        f"move leadership away from {_pod_of(o, m)} before {before} it",
        from_id=m.id,
        to_id=target.id,
        phase_name=phase,
    )


def _new_leader(o: Observed, voters: list[MemberState], leaving: MemberState) -> MemberState | None:
    candidates = [
        m for m in voters if m.id != leaving.id and m.healthy and m.started and _pod_of(o, m)
    ]
    return min(candidates, key=lambda m: _ordinal(o, m)) if candidates else None


def _version_key(v: str) -> Version:
    return Version.parse(v)


def _plan_restore(
    o: Observed, live_pods: dict[str, PodState], terminating: set[str], policy: Policy
) -> Action | None:
    """A restored cluster starts with every initial member restored from the same snapshot.

    As in etcd's disaster-recovery runbook (``etcdutl snapshot restore`` once per member, the
    same ``--initial-cluster`` and token, each with its own name and peer URL), no member
    joins through raft: each pod is created on its own restored data dir, in ordinal order,
    while the members already created start. A pod is created from the snapshot only once; a
    restored member lost afterwards is healed like any other (its data may hold writes the
    snapshot lacks, and its ID must not come back on older data).
    """
    members = o.restore_members
    if not members:
        return None
    todo = [
        p
        for p in members
        if p not in o.restore_created and p not in live_pods and p not in terminating
    ]
    if todo:
        return RestoreMember(
            f"restore member {todo[0]} from the snapshot "
            f"({len(members) - len(todo) + 1} of {len(members)} initial members)",
            pod=todo[0],
            version=o.version,
            members=members,
        )
    starting = [
        p
        for p in members
        if p in live_pods
        and not live_pods[p].ready
        and live_pods[p].age <= policy.member_start_deadline
    ]
    if starting:
        return Wait(
            f"waiting for restored member(s) {', '.join(starting)} to start",
            phase_name="Creating",
        )
    if o.members is None:
        return Wait(
            f"no restored member answers {policy.member_start_deadline:.0f}s after its pod "
            f"was created: see the logs of the restore init containers of {', '.join(members)}",
            code="RestoreStalled",
            phase_name="Creating",
        )
    return None
