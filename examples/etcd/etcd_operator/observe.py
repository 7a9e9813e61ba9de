"""Observing an etcd cluster: owned pods from the cache, members and identities from etcd.

:func:`observe` turns what one reconcile sees into the planner's :class:`Observed`: pods with
their readiness and container waiting reason, the live member list, and per member its health,
version, and *who answers at its pod's address* (member ID and cluster ID). The identity
answers are what let the planner refuse to act on an etcd that is not this cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from etcd_operator import builders, settings, tls
from etcd_operator.backup.restore import restore_plan
from etcd_operator.membership import EtcdAdmin, EtcdUnreachable, Member, MembershipError
from etcd_operator.membership import MemberStatus as EtcdStatus
from etcd_operator.models import EtcdCluster, EtcdClusterStatus
from etcd_operator.naming import CLIENT_PORT, pod_of_peer_url
from etcd_operator.planner import MemberState, Observed, PodState
from opframe import Pod, get_condition

__all__ = [
    "FOREIGN_REMOVAL_ANNOTATION",
    "View",
    "endpoints_of",
    "member_pod",
    "observe",
    "parse_id",
    "pod_state",
]

FOREIGN_REMOVAL_ANNOTATION = "etcd.opframe.dev/remove-foreign-members"
"""Comma-separated hex IDs of started foreign members the user allows the operator to remove."""


@dataclass(frozen=True)
class View:
    """What one reconcile observed: the planner's input plus details for status."""

    observed: Observed
    endpoints: dict[str, str]
    """Pod name -> client URL on the pod IP."""
    members: tuple[Member, ...]
    cluster_id: int | None
    """The one cluster ID the answering members agree on (``None``: none answered, or several)."""
    waiting: dict[str, str]
    """Pod name -> its etcd container's waiting reason, for pods that have one."""
    statuses: dict[str, EtcdStatus] = field(default_factory=dict)
    """Pod name -> ``Maintenance.Status`` of the member answering there (database sizes)."""


def member_pod(cluster: str, m: Member) -> str:
    """The pod a member's (first) peer URL points at (``""`` for a foreign member)."""
    return pod_of_peer_url(cluster, m.peer_urls[0] if m.peer_urls else "")


def parse_id(text: str | None) -> int | None:
    """A hex member or cluster ID from status (``None`` if unset or not hex)."""
    try:
        return int(text, 16) if text else None
    except ValueError:
        return None


def endpoints_of(pods: Sequence[Pod], scheme: str = "http") -> dict[str, str]:
    """Pod name -> client URL of every running, not terminating, pod with an IP."""
    out: dict[str, str] = {}
    for p in pods:
        ip = p.status.pod_ip if p.status else None
        if ip and p.metadata.deletion_timestamp is None:
            out[p.name] = f"{scheme}://{ip}:{CLIENT_PORT}"
    return out


async def observe(
    cluster: EtcdCluster, pods: Sequence[Pod], admin: EtcdAdmin, *, tls_problem: str = ""
) -> View:
    """Ask etcd about ``cluster`` through its pods' addresses; never raises for etcd errors.

    ``tls_problem`` (from :func:`etcd_operator.tls.prepare`) stops every step, as does a
    member list whose URL schemes disagree with ``spec.tls``.
    """
    name = cluster.name
    endpoints = endpoints_of(pods, tls.running_client_scheme(cluster, pods))
    members: tuple[Member, ...] = ()
    if endpoints:
        try:
            members = tuple(await admin.member_list())
        except EtcdUnreachable:
            members = ()
    # Every pod address is asked who it is, members or not: the cluster IDs that answer are
    # checked against status.clusterID before any step.
    replies = await asyncio.gather(*(_status(admin, e) for e in endpoints.values()))
    answers = dict(zip(endpoints, replies, strict=True))
    cluster_ids = frozenset(s.cluster_id for s in answers.values() if s is not None)
    member_states: tuple[MemberState, ...] | None = None
    if members:
        leader_ids = {s.leader_id for s in answers.values() if s is not None and s.leader_id}
        states = []
        for m in members:
            s = answers.get(member_pod(name, m))
            states.append(
                MemberState(
                    id=m.id,
                    peer_url=m.peer_urls[0] if m.peer_urls else "",
                    name=m.name,
                    learner=m.is_learner,
                    healthy=s is not None and bool(s.leader_id) and not _failing(s.errors),
                    leader=m.id in leader_ids,
                    version=s.version if s is not None else "",
                    raft_index=s.raft_index if s is not None else 0,
                    answered_as=s.member_id if s is not None else None,
                )
            )
        member_states = tuple(states)
    status = cluster.status or EtcdClusterStatus()
    pod_states = tuple(pod_state(p) for p in pods)
    restore_members, restore_created = restore_plan(cluster)
    observed = Observed(
        cluster=name,
        namespace=cluster.namespace,
        size=cluster.spec.size,
        version=cluster.spec.version,
        pods=pod_states,
        members=member_states,
        bootstrapped=bool(status.cluster_id) or member_states is not None,
        paused=cluster.spec.paused,
        persistent_storage=cluster.spec.storage.volume_claim_template is not None,
        peer_scheme=tls.peer_scheme(cluster),
        tls_problem=tls_problem or _url_problem(cluster, members, pods),
        tls_problem_code="TLSInvalid" if tls_problem else "TLSChangeRefused",
        quorum_stable_for=_quorum_stable_for(status),
        recorded_cluster_id=parse_id(status.cluster_id),
        answering_cluster_ids=cluster_ids,
        failed_version=status.failed_version or "",
        since_last_replacement=_seconds_since(status.last_replacement_time),
        foreign_removals=_foreign_removals(cluster),
        current_version=status.current_version or "",
        restore_members=restore_members,
        restore_created=restore_created,
        settings=settings.settings_of_args(settings.member_flags(cluster.spec)),
        recorded_members=tuple(m.name for m in status.members if m.id and not m.foreign),
    )
    agreed = next(iter(cluster_ids)) if len(cluster_ids) == 1 else None
    waiting = {p.name: p.waiting for p in pod_states if p.waiting}
    statuses = {pod: s for pod, s in answers.items() if s is not None}
    return View(observed, endpoints, members, agreed, waiting, statuses)


def _failing(errors: Sequence[str]) -> bool:
    """Whether a member's status errors mean it is broken: a NOSPACE alarm does not (the member
    serves reads and recovers once space is reclaimed, see etcd_operator.maintenance)."""
    return any("alarm:NOSPACE" not in e and "database space exceeded" not in e for e in errors)


async def _status(admin: EtcdAdmin, endpoint: str) -> EtcdStatus | None:
    try:
        return await admin.status(endpoint)
    except MembershipError:
        return None


def pod_state(p: Pod) -> PodState:
    """A pod as the planner sees it: readiness, its image's version, its waiting reason."""
    now = datetime.now(UTC)
    created = p.metadata.creation_timestamp
    age = (now - created).total_seconds() if created else 0.0
    ready = False
    not_ready_for = age
    for c in (p.status.conditions if p.status else None) or []:
        if c.type == "Ready":
            ready = c.status == "True"
            since = c.last_transition_time
            not_ready_for = 0.0 if ready else ((now - since).total_seconds() if since else age)
    image = p.spec.containers[0].image if p.spec.containers else ""
    args = (p.spec.containers[0].args or []) if p.spec.containers else []
    waiting = ""
    for cs in (p.status.container_statuses if p.status else None) or []:
        state = (cs.state or {}).get("waiting") if cs.name == "etcd" else None
        if isinstance(state, dict):
            waiting = str(state.get("reason") or "")
    return PodState(
        name=p.name,
        ready=ready,
        terminating=p.metadata.deletion_timestamp is not None,
        version=builders.version_of_image(image or ""),
        age=age,
        not_ready_for=not_ready_for,
        waiting=waiting,
        settings=settings.settings_of_args(args),
    )


def _quorum_stable_for(status: EtcdClusterStatus) -> float:
    """Seconds since ``Degraded`` last turned False (0 while degraded, inf if never)."""
    degraded = get_condition(status.conditions, "Degraded")
    if degraded is None:
        return float("inf")
    if degraded.status == "True":
        return 0.0
    return _seconds_since(degraded.last_transition_time)


def _seconds_since(when: datetime | None) -> float:
    return (datetime.now(UTC) - when).total_seconds() if when else float("inf")


def _foreign_removals(cluster: EtcdCluster) -> frozenset[int]:
    text = (cluster.metadata.annotations or {}).get(FOREIGN_REMOVAL_ANNOTATION, "")
    ids = (parse_id(part.strip()) for part in text.split(","))
    return frozenset(i for i in ids if i is not None)


def _url_problem(cluster: EtcdCluster, members: Sequence[Member], pods: Sequence[Pod]) -> str:
    """A switch between plain and TLS on a cluster whose members (as etcd lists them, or as
    their pods were started) use the other."""
    peer, client = tls.running_urls(pods)
    for m in members:
        if m.name:
            peer += m.peer_urls
            client += m.client_urls
    return tls.url_problem(cluster, peer, client)
