"""The EtcdCluster reconciler: observe, plan one step, check identity, execute it, report.

Each reconcile reads the owned pods from the cache and the live member list and member status
from etcd (:mod:`etcd_operator.observe`), seals the bootstrap parameters of members that have
started (bookkeeping, see :mod:`etcd_operator.bootstrap`), asks
:func:`etcd_operator.planner.plan` for the next safe step, re-checks right before executing it
that the etcd answering is still the cluster and member the plan was made for, executes it,
records it as an Event, and writes status (:mod:`etcd_operator.status`). Everything it decides
is derived from what it observes and from status; nothing is remembered between reconciles.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence

from etcd_operator import actions as steps
from etcd_operator import bootstrap, builders, carotation, maintenance, settings, tls
from etcd_operator.backup import restore
from etcd_operator.backup.upgrade import gate as upgrade_gate
from etcd_operator.bootstrap import BootstrapParams
from etcd_operator.membership import Channels, EtcdAdmin, EtcdBusy, MembershipError
from etcd_operator.metrics import ClusterMetrics
from etcd_operator.models import EtcdCluster, EtcdClusterStatus
from etcd_operator.naming import peer_url
from etcd_operator.observe import (
    View,
    endpoints_of,
    member_pod,
    observe,
)
from etcd_operator.planner import Policy, plan
from etcd_operator.status import next_status
from opframe import (
    ConfigMap,
    Context,
    NotFound,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    Result,
    Service,
    TerminalError,
    get_condition,
    is_controlled_by,
)

__all__ = ["EtcdClusterReconciler", "IdentityMismatch"]

FIELD_MANAGER = "etcd-operator"


class IdentityMismatch(MembershipError):
    """Right before a step, etcd answered as another cluster or the planned member is not there.

    ``code`` is the condition reason (``ClusterIDMismatch`` or ``MemberIDMismatch``).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _StaleView(MembershipError):
    """The member list moved since the plan was made (a benign race): plan again soon."""


class EtcdClusterReconciler:
    """Reconciles ``EtcdCluster`` objects. ``policy`` holds the planner's deadlines.

    Every etcd write of a step is preceded by ``ctx.fence()`` and every API write goes through
    ``ctx.client``, which a manager with leader election fences the same way: a replica that
    can no longer vouch for its Lease starts no write (see :mod:`opframe.fencing`)::

        reconciler = EtcdClusterReconciler(Policy(unhealthy_grace=10.0))
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        etcd_timeout: float = 1.0,
        steady_interval: float = 10.0,
        busy_interval: float = 0.5,
        certificate_metrics: tls.CertificateMetrics | None = None,
    ) -> None:
        self.policy = policy or Policy()
        self.certificate_metrics = certificate_metrics
        """Where certificate expiry is exposed (bound to the manager's registry)."""
        self.etcd_timeout = etcd_timeout
        self.steady_interval = steady_interval
        self.busy_interval = busy_interval
        self.metrics: ClusterMetrics | None = None
        """Per-cluster metrics, once bound to a manager's registry (``build_manager``)."""
        self.channels = Channels(idle=max(60.0, 3 * steady_interval))
        """gRPC channels to members, kept across reconciles (an idle operator would otherwise
        dial every member of every cluster at each steady requeue); closed by :meth:`close`."""

    async def close(self) -> None:
        """Close the channels kept to members (when the operator stops; idle ones close by
        themselves)."""
        await self.channels.close()

    async def on_deleted(self, ctx: Context) -> Result | None:
        """A deleted cluster's metric series go with it."""
        if self.metrics is not None:
            self.metrics.forget(ctx.ref.namespace or "", ctx.ref.name)
        return None

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
                cluster.namespace,
                label_selector={builders.LABEL_CLUSTER: cluster.name},
            )
            if is_controlled_by(p, cluster)
        ]
        try:
            settings.member_flags(cluster.spec)
        except ValueError as e:
            raise TerminalError(f"EtcdCluster {cluster.ref}: {e}") from None
        # Certificates are bookkeeping like sealing: renewed even while paused, so a paused
        # cluster does not run into an expired certificate.
        certs = await tls.prepare(ctx, cluster)
        for kind, reason, message in certs.events:
            await ctx.recorder.event(cluster, kind, reason, message)
        if certs.status is not None and certs.ca_secret is not None:
            # As recorded on the CA Secret; _rotate_ca says more once it runs.
            certs.status.ca_rotation = carotation.status_of(
                certs.ca_secret, None, dt.datetime.now(dt.UTC)
            )
        if self.certificate_metrics is not None:
            self.certificate_metrics.record(cluster, certs.status)
        scheme = tls.running_client_scheme(cluster, pods)
        endpoints = [e for _, e in sorted(endpoints_of(pods, scheme).items())]
        creds = certs.client if scheme == "https" else None
        async with EtcdAdmin(
            endpoints, timeout=self.etcd_timeout, tls=creds, channels=self.channels
        ) as admin:
            view = await observe(cluster, pods, admin, tls_problem=certs.problem)
            view = _with_trust(view, pods, certs.trust)
            db = await maintenance.observe_db(admin, cluster, view)
            # Bookkeeping like status, not a step: it changes nothing running, only what a
            # member may do if it ever starts again on an empty data dir. Done even while
            # paused, and before the step, so no started member stays unsealed for a step.
            await self._seal(ctx, cluster, view)
            action = plan(view.observed, self.policy)
            action = await upgrade_gate(ctx, cluster, action)  # spec.backup.beforeUpgrade
            ctx.logger.info("step: %s (%s)", type(action).__name__, action.reason)
            mstep: maintenance.Step | None = None
            rotating = False
            try:
                if action.mutates:
                    await self._verify(admin, view, action)
                await self._execute(ctx, cluster, view, action, admin, trust=certs.trust)
                if not action.mutates and not isinstance(action, steps.Refuse):
                    # Database maintenance only when the cluster has nothing else to do.
                    if action.phase != "Paused":
                        mstep = await maintenance.execute(
                            ctx, cluster, admin, maintenance.plan_step(db)
                        )
                        if mstep is not None:
                            ctx.logger.info("maintenance: %s", mstep.reason)
                maintaining = mstep is not None and not isinstance(mstep, maintenance.Skip)
                rotating = await self._rotate_ca(ctx, cluster, certs, view, action, maintaining)
            except IdentityMismatch as e:
                ctx.logger.warning("refused %s: %s", type(action).__name__, e)
                action = steps.Refuse(f"refused {type(action).__name__}: {e}", code=e.code)
            except (EtcdBusy, _StaleView) as e:
                # etcd accepts the next membership change a few seconds after the last one;
                # ask again soon instead of backing off as if something were broken.
                ctx.logger.info("etcd not ready for %s yet: %s", type(action).__name__, e)
                await self._write_status(ctx, cluster, view, action, certs, executed=False, db=db)
                return Result(requeue_after=self.busy_interval)
        await self._record(ctx, cluster, action)
        await self._write_status(ctx, cluster, view, action, certs, db=db, mstep=mstep)
        if rotating or (mstep is not None and not isinstance(mstep, maintenance.Skip)):
            return Result(requeue_after=self.busy_interval)
        after = self.busy_interval
        if isinstance(action, (steps.Steady, steps.Refuse)) or action.phase == "Paused":
            after = self.steady_interval
        # Back when the next certificate renewal is due, not later.
        return Result(requeue_after=min(after, certs.requeue_after or after))

    async def _rotate_ca(
        self,
        ctx: Context,
        cluster: EtcdCluster,
        certs: tls.TLSState,
        view: View,
        action: steps.Action,
        maintaining: bool,
    ) -> bool:
        """Report the CA rotation and take its next step (see :mod:`etcd_operator.carotation`)
        when neither the planner's step nor maintenance changed anything; whether a rotation
        is under way (the reconcile comes back soon: nothing watched tells when a member
        presents new leaves)."""
        secret = certs.ca_secret
        if secret is None or certs.status is None:
            return False
        now = dt.datetime.now(dt.UTC)
        leaves: tuple[str, ...] | None = ()
        if carotation.phase_of(secret) == "NewLeaves":
            leaves = await carotation.old_leaves(view.endpoints, secret, certs.client)
        rotation = carotation.observe_rotation(
            cluster, secret, view.observed, now, leaves, trust=certs.trust
        )
        step = carotation.plan_rotation(rotation)
        idle = not action.mutates and not isinstance(action, steps.Refuse) and not maintaining
        if not idle or action.phase == "Paused":
            # One step per reconcile: the member step goes first, the rotation waits.
            certs.status.ca_rotation = carotation.status_of(
                secret, carotation.Hold(action.reason), now
            )
            return step is not None
        certs.status.ca_rotation = carotation.status_of(secret, step, now)
        if isinstance(step, carotation.Hold):
            if step.warn:
                # Stalled: say so, and look again at the steady pace, not every half second.
                await ctx.recorder.warning(cluster, "CARotationStalled", step.reason)
                return False
            return True
        if step is None:
            return False
        await carotation.advance(ctx, cluster, secret, step, rotation.requested, now)
        if step.to:
            message = f"CA rotation phase {carotation.PHASES.index(step.to) + 1}/3 ({step.to})"
            await ctx.recorder.normal(cluster, "CARotation", f"{message}: {step.reason}")
        else:
            await ctx.recorder.normal(cluster, "CARotationCompleted", step.reason)
        return True

    # -- check ------------------------------------------------------------------------------

    async def _verify(self, admin: EtcdAdmin, view: View, action: steps.Action) -> None:
        """Re-check, right before a step, that etcd is still the cluster the plan was for.

        The cluster ID that answers must be ``status.clusterID`` (or, before it is recorded,
        the one observed), and the member the step is about must still be in the live member
        list under the peer URL planned; a pod to delete must not have become a member.
        """
        expected = view.observed.recorded_cluster_id or view.cluster_id
        if expected is None or isinstance(action, (steps.Bootstrap, steps.RestoreMember)):
            # Nothing formed yet, or a restored member's pod: creating it from the snapshot
            # touches no running member (plan() checked what answers already).
            return
        if isinstance(action, steps.CreatePod) and action.sealed and not view.members:
            return  # nobody answers to ask; sealed parameters can only rejoin this cluster
        live = await admin.membership()
        if live.cluster_id != expected:
            raise IdentityMismatch(
                "ClusterIDMismatch",
                f"etcd at {live.endpoint} answers with cluster ID {live.cluster_id:x}, but "
                f"status.clusterID is {expected:x}",
            )
        target = _target(action)
        if target is not None:
            member_id, url = target
            found = next((m for m in live.members if m.id == member_id), None)
            if found is None:
                raise _StaleView(f"member {member_id:x} is no longer in the member list")
            if url and url not in found.peer_urls:
                raise IdentityMismatch(
                    "MemberIDMismatch",
                    f"member {member_id:x} has peer URLs {', '.join(found.peer_urls)}, not "
                    f"{url} as planned",
                )
        if isinstance(action, steps.DeletePod):
            o = view.observed
            url = peer_url(o.cluster, o.namespace, action.pod, o.peer_scheme)
            if any(url in m.peer_urls for m in live.members):
                raise _StaleView(f"pod {action.pod} has become a member")

    # -- act --------------------------------------------------------------------------------

    async def _execute(
        self,
        ctx: Context,
        cluster: EtcdCluster,
        view: View,
        action: steps.Action,
        admin: EtcdAdmin,
        *,
        trust: str = "",
    ) -> None:
        """Execute ``action``; pods created carry ``trust`` (:data:`tls.TRUST_ANNOTATION`)."""
        ns, name = cluster.namespace, cluster.name
        scheme = tls.peer_scheme(cluster)
        # ctx.client fences its own writes; each etcd write below is fenced by hand.
        if isinstance(action, steps.Bootstrap):
            # ``new`` only here: the planner bootstraps only a cluster that never formed.
            params = BootstrapParams(
                f"{action.pod}={peer_url(name, ns, action.pod, scheme)}", "new"
            )
            await self._create_member_pod(
                ctx, cluster, action.pod, params, action.version, trust=trust
            )
        elif isinstance(action, steps.RestoreMember):
            # Sealed from the start: the init containers restore its data dir before etcd
            # starts, so it never needs to form or join; on an empty data dir it must fail.
            params = bootstrap.sealed(name, ns, action.pod, scheme)
            await self._create_member_pod(
                ctx,
                cluster,
                action.pod,
                params,
                action.version,
                restore_from=action.members,
                trust=trust,
            )
        elif isinstance(action, steps.CreatePod):
            started = action.sealed or any(
                m.name and member_pod(name, m) == action.pod for m in view.members
            )
            # A started member's pod comes back on its persistent volume: if that volume turns
            # out empty, it must not rejoin under its old ID either.
            params = (
                bootstrap.sealed(name, ns, action.pod, scheme)
                if started
                else BootstrapParams(_initial_cluster(cluster, view, action.pod), "existing")
            )
            await self._create_member_pod(
                ctx, cluster, action.pod, params, action.version, trust=trust
            )
        elif isinstance(action, steps.AddMember):
            ctx.fence()
            await admin.add_member(action.peer_url, learner=action.learner)
            # Adding and starting a member is one operation in etcd's runbook; if creating the
            # pod fails here, the next reconcile sees the member without a pod and creates it.
            params = BootstrapParams(_initial_cluster(cluster, view, action.pod), "existing")
            await self._create_member_pod(
                ctx, cluster, action.pod, params, action.version, trust=trust
            )
        elif isinstance(action, steps.PromoteMember):
            ctx.fence()
            if not await admin.promote_member(action.member_id):
                ctx.logger.info("learner %s not caught up yet", action.pod)
        elif isinstance(action, steps.RemoveMember):
            ctx.fence()
            await admin.remove_member(action.member_id)
            if action.pod:
                # The member is out of etcd; only now may its pod (and its data) go.
                await self._delete_member_pod(ctx, cluster, action.pod)
        elif isinstance(action, steps.DeletePod):
            await self._delete_member_pod(ctx, cluster, action.pod)
        elif isinstance(action, steps.RecreatePod):
            # Only the pod: its claim and bootstrap parameters stay, so the heal step brings
            # the same member back on its data with the settings of the current spec.
            await ctx.client.delete(Pod, action.pod, ns)
        elif isinstance(action, steps.MoveLeader):
            leader_pod = next(
                (member_pod(name, m) for m in view.members if m.id == action.from_id), ""
            )
            endpoint = view.endpoints.get(leader_pod)
            if endpoint is None:
                raise MembershipError(f"leader {action.from_id:x} has no reachable endpoint")
            ctx.fence()
            await admin.move_leader(endpoint, action.to_id)
        elif isinstance(action, (steps.UpgradeMember, steps.RollbackMember)):
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
        restore_from: tuple[str, ...] = (),
        trust: str = "",
    ) -> None:
        # The parameters first: the kubelet reads them when it starts the container, and a
        # missing key would hold the container in CreateContainerConfigError.
        await self._write_params(ctx, cluster, params.data(pod))
        if cluster.spec.storage.volume_claim_template is not None:
            await ctx.client.ensure(builders.data_claim(cluster, pod), field_manager=FIELD_MANAGER)
        manifest = builders.member_pod(cluster, pod, version=version)
        if trust:
            # What the member will load at its start (the Secrets as read this reconcile).
            manifest.metadata.annotations = {
                **(manifest.metadata.annotations or {}),
                tls.TRUST_ANNOTATION: trust,
            }
        if restore_from:  # spec.bootstrap.fromBackup: the member starts on the snapshot's data
            manifest = await restore.prepare_member(ctx, cluster, manifest, restore_from)
        await ctx.client.ensure(manifest, field_manager=FIELD_MANAGER)
        if restore_from:
            await restore.record_created(ctx, cluster, pod)

    async def _delete_member_pod(self, ctx: Context, cluster: EtcdCluster, pod: str) -> None:
        ns = cluster.namespace
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
        ns, name = cluster.namespace, bootstrap.config_map_name(cluster.name)
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
            # Created here, or concurrently by someone else: the next patch merges either way.
            await ctx.client.ensure(
                builders.members_config_map(cluster, initial), field_manager=FIELD_MANAGER
            )

    async def _seal(self, ctx: Context, cluster: EtcdCluster, view: View) -> None:
        """Seal the bootstrap parameters of every member that has started (see bootstrap)."""
        ns, name = cluster.namespace, cluster.name
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
            data.update(bootstrap.sealed(name, ns, pod, tls.peer_scheme(cluster)).data(pod))
        await self._write_params(ctx, cluster, data)
        for pod in pods:
            await ctx.recorder.normal(
                cluster,
                "SealMember",
                f"member {pod} has started: a restart on an empty data dir now fails instead "
                "of rejoining under its old ID, so the member gets replaced",
            )

    async def _ensure_services(self, ctx: Context, cluster: EtcdCluster) -> None:
        for svc in (builders.peer_service(cluster), builders.client_service(cluster)):
            # The cache answers the common case without a write on every reconcile.
            if ctx.cache.get(Service, svc.name, cluster.namespace) is None:
                await ctx.client.ensure(svc, field_manager=FIELD_MANAGER)
        pdb = builders.pod_disruption_budget(cluster)
        current = ctx.cache.get(PodDisruptionBudget, pdb.name, cluster.namespace)
        if current is None:
            await ctx.client.ensure(pdb, field_manager=FIELD_MANAGER)
        elif current.spec.min_available != pdb.spec.min_available:
            await ctx.client.patch(
                PodDisruptionBudget,
                pdb.name,
                {"spec": {"minAvailable": pdb.spec.min_available}},
                namespace=cluster.namespace,
                field_manager=FIELD_MANAGER,
            )

    # -- report -----------------------------------------------------------------------------

    async def _record(self, ctx: Context, cluster: EtcdCluster, action: steps.Action) -> None:
        if action.mutates:
            await ctx.recorder.normal(cluster, type(action).__name__, action.reason)
        elif isinstance(action, steps.Refuse):
            await ctx.recorder.warning(cluster, action.code, action.reason)
        elif isinstance(action, steps.Wait) and action.degraded:
            await ctx.recorder.warning(cluster, "QuorumLost", action.reason)
        elif isinstance(action, steps.Wait) and action.code:
            await ctx.recorder.warning(cluster, action.code, action.reason)

    async def _write_status(
        self,
        ctx: Context,
        cluster: EtcdCluster,
        view: View,
        action: steps.Action,
        certs: tls.TLSState,
        *,
        executed: bool = True,
        db: maintenance.DBObserved | None = None,
        mstep: maintenance.Step | None = None,
    ) -> None:
        old = cluster.status or EtcdClusterStatus()
        new = next_status(cluster, view, action, executed=executed)
        new.restore = restore.progressed(new.restore, new.conditions)
        new.tls = certs.status
        tls.report(new.conditions, certs, cluster.metadata.generation)
        backup_time = maintenance.last_backup_time(ctx, cluster)
        maintenance.apply_status(new, cluster, view, db, mstep, backup_time)
        if self.metrics is not None:
            self.metrics.update(cluster, view, db, new)
        if new == old:
            return
        patch = _merge_patch(old.to_dict(), new.to_dict())
        if new.restore == old.restore:
            # The restore steps write status.restore themselves during the reconcile; the
            # copy read at its start must not overwrite what they wrote.
            patch.pop("restore", None)
        await ctx.client.patch_status(
            EtcdCluster,
            cluster.name,
            {"status": patch},
            namespace=cluster.namespace,
            field_manager=FIELD_MANAGER,
        )
        was = get_condition(old.conditions, "ForeignMembers")
        now = get_condition(new.conditions, "ForeignMembers")
        if now is not None and now.status == "True" and (was is None or was.status != "True"):
            await ctx.recorder.warning(cluster, "ForeignMembers", now.message or "")
        await maintenance.record_transitions(ctx, cluster, old, new)


def _with_trust(view: View, pods: Sequence[Pod], trust: str) -> View:
    """``view`` with the pods started with another trust bundle than ``trust`` marked stale."""
    if not trust:
        return view
    stale = frozenset(
        p.name
        for p in pods
        if p.metadata.deletion_timestamp is None
        and (p.metadata.annotations or {}).get(tls.TRUST_ANNOTATION) != trust
    )
    return dataclasses.replace(view, observed=dataclasses.replace(view.observed, stale_trust=stale))


def _merge_patch(old: dict[str, object], new: dict[str, object]) -> dict[str, object]:
    """``new`` as a merge patch over ``old``: a field cleared in ``new`` is sent as null, in
    nested objects too (a merge patch leaves a key it does not name as it was, RFC 7386)."""
    patch: dict[str, object] = dict.fromkeys(old.keys() - new.keys())
    for key, value in new.items():
        was = old.get(key)
        if isinstance(value, dict) and isinstance(was, dict):
            patch[key] = _merge_patch(was, value)
        else:
            patch[key] = value
    return patch


def _target(action: steps.Action) -> tuple[int, str] | None:
    """The member a step acts on, with the peer URL the plan saw it under (``""``: any)."""
    if isinstance(action, steps.RemoveMember):
        return action.member_id, action.peer_url
    if isinstance(
        action,
        (steps.PromoteMember, steps.UpgradeMember, steps.RollbackMember, steps.RecreatePod),
    ):
        return action.member_id, ""
    if isinstance(action, steps.MoveLeader):
        return action.from_id, ""
    return None


def _initial_cluster(cluster: EtcdCluster, view: View, new_pod: str) -> str:
    """``name=peerURL`` of every started member plus the new one (etcd's runbook)."""
    name, ns = cluster.name, cluster.namespace
    entries = {m.name: m.peer_urls[0] for m in view.members if m.name and m.peer_urls}
    entries[new_pod] = peer_url(name, ns, new_pod, tls.peer_scheme(cluster))
    return ",".join(f"{k}={v}" for k, v in sorted(entries.items()))
