"""The EtcdCluster reconciler: observe, plan one step, execute it, report.

Each reconcile reads the owned pods from the cache and the live member list and member status
from etcd, seals the bootstrap parameters of members that have started (bookkeeping, see
:mod:`etcd_operator.bootstrap`), asks :func:`etcd_operator.planner.plan` for the next safe
step, executes it, records it as an Event, and writes status and conditions. Everything it
decides is derived from what it observes; nothing is remembered between reconciles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from etcd_operator import bootstrap, builders
from etcd_operator.backup import restore
from etcd_operator.bootstrap import BootstrapParams
from etcd_operator.membership import EtcdAdmin, EtcdBusy, EtcdUnreachable, Member, MembershipError
from etcd_operator.membership import MemberStatus as EtcdStatus
from etcd_operator.models import ClusterPhase, EtcdCluster, EtcdClusterStatus, MemberStatus
from etcd_operator.naming import CLIENT_PORT, ordinal_of, peer_url, pod_of_peer_url
from etcd_operator.planner import (
    Action,
    AddMember,
    Bootstrap,
    CreatePod,
    DeletePod,
    MemberState,
    MoveLeader,
    Observed,
    PodState,
    Policy,
    PromoteMember,
    Refuse,
    RemoveMember,
    Steady,
    UpgradeMember,
    Wait,
    plan,
    quorum,
)
from opframe import (
    AlreadyExists,
    Condition,
    ConfigMap,
    Context,
    NotFound,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    Result,
    Service,
    get_condition,
    is_controlled_by,
    set_condition,
)

__all__ = ["EtcdClusterReconciler"]

FIELD_MANAGER = "etcd-operator"


@dataclass(frozen=True)
class _View:
    """What one reconcile observed: the planner's input plus details for status."""

    observed: Observed
    endpoints: dict[str, str]  # pod name -> client URL on the pod IP
    members: tuple[Member, ...]
    cluster_id: int | None


class EtcdClusterReconciler:
    """Reconciles ``EtcdCluster`` objects. ``policy`` holds the planner's deadlines."""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        etcd_timeout: float = 1.0,
        steady_interval: float = 10.0,
        busy_interval: float = 0.5,
    ) -> None:
        self.policy = policy or Policy()
        self.etcd_timeout = etcd_timeout
        self.steady_interval = steady_interval
        self.busy_interval = busy_interval

    async def reconcile(self, ctx: Context, cluster: EtcdCluster) -> Result:
        """Take one safe step toward ``cluster.spec``."""
        if cluster.metadata.deletion_timestamp is not None:
            return Result()  # owned objects go with it (owner references)
        if not cluster.spec.paused:
            await self._ensure_services(ctx, cluster)
        pods = [
            p
            for p in ctx.cache.list(
                Pod,
                cluster.metadata.namespace,
                label_selector={builders.LABEL_CLUSTER: _name(cluster)},
            )
            if is_controlled_by(p, cluster)
        ]
        endpoints = list(_endpoints(pods).values())
        async with EtcdAdmin(endpoints, timeout=self.etcd_timeout) as admin:
            view = await self._observe(cluster, pods, admin)
            # Bookkeeping like status, not a step: it changes nothing running, only what a
            # member may do if it ever starts again on an empty data dir. Done even while
            # paused, and before the step, so no started member stays unsealed for a step.
            await self._seal(ctx, cluster, view)
            action = plan(view.observed, self.policy)
            ctx.logger.info("step: %s (%s)", type(action).__name__, action.reason)
            try:
                await self._execute(ctx, cluster, view, action, admin)
            except EtcdBusy as e:
                # etcd accepts the next membership change a few seconds after the last one;
                # ask again soon instead of backing off as if something were broken.
                ctx.logger.info("etcd not ready for %s yet: %s", type(action).__name__, e)
                await self._write_status(ctx, cluster, view, action)
                return Result(requeue_after=self.busy_interval)
        await self._record(ctx, cluster, action)
        await self._write_status(ctx, cluster, view, action)
        if isinstance(action, Steady):
            return Result(requeue_after=self.steady_interval)
        if isinstance(action, Refuse) or (isinstance(action, Wait) and action.phase == "Paused"):
            return Result(requeue_after=self.steady_interval)
        return Result(requeue_after=self.busy_interval)

    # -- observe ----------------------------------------------------------------------------

    async def _observe(self, cluster: EtcdCluster, pods: Sequence[Pod], admin: EtcdAdmin) -> _View:
        ns, name = _namespace(cluster), _name(cluster)
        endpoints = _endpoints(pods)
        pod_states = tuple(_pod_state(p) for p in pods)
        members: tuple[Member, ...] = ()
        member_states: tuple[MemberState, ...] | None = None
        cluster_id: int | None = None
        if endpoints:
            try:
                members = tuple(await admin.member_list())
            except EtcdUnreachable:
                members = ()
        if members:
            statuses = await asyncio.gather(
                *(self._status(admin, endpoints.get(_pod_of(name, m))) for m in members)
            )
            leader_ids = {s.leader_id for s in statuses if s is not None and s.leader_id}
            cluster_ids = [s.cluster_id for s in statuses if s is not None]
            cluster_id = cluster_ids[0] if cluster_ids else None
            states = []
            for m, s in zip(members, statuses, strict=True):
                states.append(
                    MemberState(
                        id=m.id,
                        peer_url=m.peer_urls[0] if m.peer_urls else "",
                        name=m.name,
                        learner=m.is_learner,
                        healthy=s is not None and bool(s.leader_id) and not s.errors,
                        leader=m.id in leader_ids,
                        version=s.version if s is not None else "",
                        raft_index=s.raft_index if s is not None else 0,
                    )
                )
            member_states = tuple(states)
        status = cluster.status or EtcdClusterStatus()
        observed = Observed(
            cluster=name,
            namespace=ns,
            size=cluster.spec.size,
            version=cluster.spec.version,
            pods=pod_states,
            members=member_states,
            bootstrapped=bool(status.cluster_id) or member_states is not None,
            paused=cluster.spec.paused,
            persistent_storage=cluster.spec.storage.volume_claim_template is not None,
            tls_requested=_tls_requested(cluster),
            quorum_stable_for=_quorum_stable_for(status),
        )
        return _View(observed, endpoints, members, cluster_id)

    async def _status(self, admin: EtcdAdmin, endpoint: str | None) -> EtcdStatus | None:
        if endpoint is None:
            return None
        try:
            return await admin.status(endpoint)
        except MembershipError:
            return None

    # -- act --------------------------------------------------------------------------------

    async def _execute(
        self, ctx: Context, cluster: EtcdCluster, view: _View, action: Action, admin: EtcdAdmin
    ) -> None:
        ns = _namespace(cluster)
        if isinstance(action, Bootstrap):
            # ``new`` only here: the planner bootstraps only a cluster that never formed.
            url = peer_url(_name(cluster), ns, action.pod)
            params = BootstrapParams(f"{action.pod}={url}", "new")
            await self._create_member_pod(
                ctx, cluster, action.pod, params, action.version, seed=True
            )
        elif isinstance(action, CreatePod):
            started = any(m.name and _pod_of(_name(cluster), m) == action.pod for m in view.members)
            # A started member's pod comes back on its persistent volume: if that volume turns
            # out empty, it must not rejoin under its old ID either.
            params = (
                bootstrap.sealed(_name(cluster), ns, action.pod)
                if started
                else BootstrapParams(_initial_cluster(cluster, view, action.pod), "existing")
            )
            await self._create_member_pod(ctx, cluster, action.pod, params, action.version)
        elif isinstance(action, AddMember):
            await admin.add_member(action.peer_url, learner=action.learner)
            # Adding and starting a member is one operation in etcd's runbook; if creating the
            # pod fails here, the next reconcile sees the member without a pod and creates it.
            params = BootstrapParams(_initial_cluster(cluster, view, action.pod), "existing")
            await self._create_member_pod(ctx, cluster, action.pod, params, action.version)
        elif isinstance(action, PromoteMember):
            if not await admin.promote_member(action.member_id):
                ctx.logger.info("learner %s not caught up yet", action.pod)
        elif isinstance(action, RemoveMember):
            await admin.remove_member(action.member_id)
            # The member is out of etcd; only now may its pod (and its data) go.
            await self._delete_member_pod(ctx, cluster, action.pod)
        elif isinstance(action, DeletePod):
            await self._delete_member_pod(ctx, cluster, action.pod)
        elif isinstance(action, MoveLeader):
            leader_pod = next(
                (_pod_of(_name(cluster), m) for m in view.members if m.id == action.from_id), ""
            )
            endpoint = view.endpoints.get(leader_pod)
            if endpoint is None:
                raise MembershipError(f"leader {action.from_id:x} has no reachable endpoint")
            await admin.move_leader(endpoint, action.to_id)
        elif isinstance(action, UpgradeMember):
            image = builders.image_for(cluster.spec.repository, action.version)
            patch = {"spec": {"containers": [{"name": "etcd", "image": image}]}}
            await ctx.client.patch(
                Pod,
                action.pod,
                patch,
                namespace=ns,
                patch_type="strategic",
                field_manager=FIELD_MANAGER,
            )

    async def _create_member_pod(
        self,
        ctx: Context,
        cluster: EtcdCluster,
        pod: str,
        params: BootstrapParams,
        version: str,
        *,
        seed: bool = False,
    ) -> None:
        # The parameters first: the kubelet reads them when it starts the container, and a
        # missing key would hold the container in CreateContainerConfigError.
        await self._write_params(ctx, cluster, params.data(pod))
        if cluster.spec.storage.volume_claim_template is not None:
            try:
                await ctx.client.create(
                    builders.data_claim(cluster, pod), field_manager=FIELD_MANAGER
                )
            except AlreadyExists:
                pass
        manifest = builders.member_pod(cluster, pod, version=version)
        if seed:  # spec.bootstrap.fromBackup: the seed starts on the snapshot's data
            manifest = await restore.prepare_seed(ctx, cluster, manifest)
        try:
            await ctx.client.create(manifest, field_manager=FIELD_MANAGER)
        except AlreadyExists:
            pass

    async def _delete_member_pod(self, ctx: Context, cluster: EtcdCluster, pod: str) -> None:
        ns = _namespace(cluster)
        try:
            await ctx.client.delete(Pod, pod, ns)
        except NotFound:
            pass
        if cluster.spec.storage.volume_claim_template is not None:
            # A member's data cannot be reused by a new member (it would carry the old ID).
            try:
                await ctx.client.delete(PersistentVolumeClaim, builders.data_claim_name(pod), ns)
            except NotFound:
                pass
        # The member is gone from etcd; a later member of the same name gets fresh parameters.
        await self._write_params(ctx, cluster, dict.fromkeys(bootstrap.keys_of(pod)))

    async def _write_params(
        self, ctx: Context, cluster: EtcdCluster, data: Mapping[str, str | None]
    ) -> None:
        """Merge ``data`` into the members ConfigMap (``None`` deletes a key), creating it."""
        ns, name = _namespace(cluster), bootstrap.config_map_name(_name(cluster))
        for _ in range(2):
            try:
                await ctx.client.patch(
                    ConfigMap, name, {"data": data}, namespace=ns, field_manager=FIELD_MANAGER
                )
                return
            except NotFound:
                pass
            initial = {k: v for k, v in data.items() if v is not None}
            if not initial:
                return  # nothing to delete from a ConfigMap that does not exist
            try:
                await ctx.client.create(
                    builders.members_config_map(cluster, initial), field_manager=FIELD_MANAGER
                )
                return
            except AlreadyExists:
                pass  # created concurrently: patch it

    async def _seal(self, ctx: Context, cluster: EtcdCluster, view: _View) -> None:
        """Seal the bootstrap parameters of every member that has started (see bootstrap)."""
        ns, name = _namespace(cluster), _name(cluster)
        cm_name = bootstrap.config_map_name(name)
        cm = ctx.cache.get(ConfigMap, cm_name, ns)
        pods = bootstrap.to_seal(view.observed, (cm.data or {}) if cm is not None else {})
        if not pods:
            return
        # The cache may not show our last seal yet: confirm before writing and recording.
        try:
            cm = await ctx.client.get(ConfigMap, cm_name, namespace=ns)
        except NotFound:
            cm = None
        pods = bootstrap.to_seal(view.observed, (cm.data or {}) if cm is not None else {})
        if not pods:
            return
        data: dict[str, str | None] = {}
        for pod in pods:
            data.update(bootstrap.sealed(name, ns, pod).data(pod))
        await self._write_params(ctx, cluster, data)
        for pod in pods:
            await ctx.recorder.normal(
                cluster,
                "SealMember",
                f"member {pod} has started: a restart on an empty data dir now fails instead "
                "of rejoining under its old ID, so the member gets replaced",
            )

    async def _ensure_services(self, ctx: Context, cluster: EtcdCluster) -> None:
        ns = _namespace(cluster)
        for svc in (builders.peer_service(cluster), builders.client_service(cluster)):
            if ctx.cache.get(Service, svc.metadata.name or "", ns) is None:
                try:
                    await ctx.client.create(svc, field_manager=FIELD_MANAGER)
                except AlreadyExists:
                    pass
        pdb = builders.pod_disruption_budget(cluster)
        current = ctx.cache.get(PodDisruptionBudget, pdb.metadata.name or "", ns)
        if current is None:
            try:
                await ctx.client.create(pdb, field_manager=FIELD_MANAGER)
            except AlreadyExists:
                pass
        elif current.spec.min_available != pdb.spec.min_available:
            await ctx.client.patch(
                PodDisruptionBudget,
                pdb.metadata.name or "",
                {"spec": {"minAvailable": pdb.spec.min_available}},
                namespace=ns,
                field_manager=FIELD_MANAGER,
            )

    # -- report -----------------------------------------------------------------------------

    async def _record(self, ctx: Context, cluster: EtcdCluster, action: Action) -> None:
        if action.mutates:
            await ctx.recorder.normal(cluster, type(action).__name__, action.reason)
        elif isinstance(action, Refuse):
            await ctx.recorder.warning(cluster, action.code, action.reason)
        elif isinstance(action, Wait) and action.degraded:
            await ctx.recorder.warning(cluster, "QuorumLost", action.reason)

    async def _write_status(
        self, ctx: Context, cluster: EtcdCluster, view: _View, action: Action
    ) -> None:
        old = cluster.status or EtcdClusterStatus()
        new = old.model_copy(deep=True)
        generation = cluster.metadata.generation
        name = _name(cluster)
        members = view.observed.members or ()
        by_id = {m.id: m for m in members}
        new.members = [
            MemberStatus(
                name=_pod_of(name, m) or m.name,
                id=f"{m.id:x}",
                peer_urls=list(m.peer_urls),
                client_urls=list(m.client_urls),
                version=by_id[m.id].version or None,
                healthy=by_id[m.id].healthy,
                leader=by_id[m.id].leader,
                learner=m.is_learner,
            )
            for m in sorted(view.members, key=lambda m: ordinal_of(name, _pod_of(name, m)) or 0)
        ]
        voters = [m for m in members if not m.learner]
        ready = [m for m in voters if m.healthy and m.started]
        new.ready_members = len(ready)
        versions = sorted({m.version for m in members if m.version}, key=_version_key)
        new.current_version = versions[0] if versions else old.current_version
        if view.cluster_id:
            new.cluster_id = f"{view.cluster_id:x}"
        new.selector = builders.cluster_selector(cluster)
        new.observed_generation = generation
        new.phase = ClusterPhase(action.phase if not isinstance(action, Steady) else "Running")
        conditions: list[Condition] = list(new.conditions)
        available = bool(voters) and len(ready) >= quorum(len(voters))
        set_condition(
            conditions,
            "Available",
            available,
            "QuorumHealthy" if available else "QuorumUnavailable",
            f"{len(ready)} of {len(voters)} voting members healthy",
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
        if isinstance(action, Steady):
            set_condition(conditions, "Progressing", False, "Reconciled", action.reason, generation)
        elif isinstance(action, Refuse):
            set_condition(conditions, "Progressing", False, action.code, action.reason, generation)
        elif action.phase == ClusterPhase.PAUSED:
            set_condition(conditions, "Progressing", False, "Paused", action.reason, generation)
        else:
            set_condition(
                conditions, "Progressing", True, type(action).__name__, action.reason, generation
            )
        new.conditions = conditions
        new.restore = restore.progressed(new.restore, available)
        if new == old:
            return
        await ctx.client.patch_status(
            EtcdCluster,
            name,
            {"status": new.to_dict()},
            namespace=_namespace(cluster),
            field_manager=FIELD_MANAGER,
        )


def _name(cluster: EtcdCluster) -> str:
    return cluster.metadata.name or ""


def _namespace(cluster: EtcdCluster) -> str:
    return cluster.metadata.namespace or "default"


def _pod_of(cluster: str, m: Member) -> str:
    """The pod a member's (first) peer URL points at."""
    return pod_of_peer_url(cluster, m.peer_urls[0] if m.peer_urls else "")


def _endpoints(pods: Sequence[Pod]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in pods:
        ip = p.status.pod_ip if p.status else None
        if ip and p.metadata.deletion_timestamp is None:
            out[p.metadata.name or ""] = f"http://{ip}:{CLIENT_PORT}"
    return out


def _pod_state(p: Pod) -> PodState:
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
    return PodState(
        name=p.metadata.name or "",
        ready=ready,
        terminating=p.metadata.deletion_timestamp is not None,
        version=builders.version_of_image(image or ""),
        age=age,
        not_ready_for=not_ready_for,
    )


def _quorum_stable_for(status: EtcdClusterStatus) -> float:
    """Seconds since ``Degraded`` last turned False (0 while degraded, inf if never)."""
    degraded = get_condition(status.conditions, "Degraded")
    if degraded is None:
        return float("inf")
    if degraded.status == "True":
        return 0.0
    since = degraded.last_transition_time
    return (datetime.now(UTC) - since).total_seconds() if since else float("inf")


def _initial_cluster(cluster: EtcdCluster, view: _View, new_pod: str) -> str:
    """``name=peerURL`` of every started member plus the new one (etcd's runbook)."""
    name, ns = _name(cluster), _namespace(cluster)
    entries = {m.name: m.peer_urls[0] for m in view.members if m.name and m.peer_urls}
    entries[new_pod] = peer_url(name, ns, new_pod)
    return ",".join(f"{k}={v}" for k, v in sorted(entries.items()))


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def _tls_requested(cluster: EtcdCluster) -> bool:
    tls = cluster.spec.tls
    return tls is not None and any((tls.peer, tls.server, tls.client))
