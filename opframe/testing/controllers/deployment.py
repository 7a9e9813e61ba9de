"""The Deployment controller: a ReplicaSet per pod template, rolled from the old to the new.

Follows ``pkg/controller/deployment/``: ``deployment_controller.go`` (what is watched),
``sync.go`` (new/old ReplicaSets, revisions, proportional scaling, cleanup, status),
``rolling.go`` and ``recreate.go`` (the two strategies) and ``progress.go`` (the
``Progressing`` condition and ``progressDeadlineSeconds``). The arithmetic is in
:mod:`._rollout`.

What kubectl builds on it works as on a real cluster: ``rollout status`` reads
``observedGeneration``, the replica counts and ``Progressing``; ``rollout history`` and
``undo`` read the ReplicaSets' ``deployment.kubernetes.io/revision`` annotations and
templates; ``rollout restart`` changes a template annotation; ``rollout pause/resume`` set
``spec.paused``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from opframe.cache import Cache
from opframe.controller import Controller
from opframe.errors import AlreadyExists, NotFound, OpframeError
from opframe.objectref import ObjectRef
from opframe.reconcile import Context, Result
from opframe.testing.controllers import _rollout as ro
from opframe.testing.controllers._kinds import Deployment, Pod, ReplicaSet, body
from opframe.testing.controllers._util import (
    Obj,
    adopting_controller,
    claim,
    compute_hash,
    controller_ref,
    now,
    owner_ref,
    parse_time,
)

__all__ = ["HashCollision", "deployment_controller", "deployment_status", "new_replicaset"]


class HashCollision(OpframeError):
    """The new ReplicaSet's name is taken by another template (retried with a new hash)."""


# Deployment annotations that stay on the Deployment (``skipCopyAnnotation``).
_NOT_COPIED = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    ro.REVISION, ro.REVISION_HISTORY, ro.DESIRED_REPLICAS, ro.MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
})  # fmt: skip


def _copied_annotations(deployment: Obj) -> dict[str, str]:
    annotations = (deployment["metadata"].get("annotations") or {}).items()
    return {k: v for k, v in annotations if k not in _NOT_COPIED}


def _sizing(deployment: Obj) -> dict[str, str]:
    """``desired-replicas`` and ``max-replicas``: what a ReplicaSet was last sized for."""
    surge, _ = ro.fenceposts(deployment)
    desired = ro.replicas_of(deployment)
    return {ro.DESIRED_REPLICAS: str(desired), ro.MAX_REPLICAS: str(desired + surge)}


def new_replicaset(deployment: Obj, revision: int, old: list[Obj]) -> Obj:
    """The ReplicaSet for the Deployment's current template (``getNewReplicaSet``).

    Named ``DEPLOYMENT-HASH`` with ``pod-template-hash: HASH`` added to its template labels
    and selector; sized by the rollout strategy against the ``old`` ReplicaSets.
    """
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    collisions = (deployment.get("status") or {}).get("collisionCount")
    template = copy.deepcopy(spec.get("template") or {})
    pod_hash = compute_hash(template, collisions)
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), ro.DEFAULT_UNIQUE_LABEL: pod_hash}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {
        **(selector.get("matchLabels") or {}),
        ro.DEFAULT_UNIQUE_LABEL: pod_hash,
    }
    annotations = {**_copied_annotations(deployment), ro.REVISION: str(revision)}
    annotations.update(_sizing(deployment))
    rs: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{pod_hash}",
            "namespace": meta.get("namespace"),
            "labels": dict(tmeta["labels"]),
            "annotations": annotations,
            "ownerReferences": [owner_ref(deployment)],
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
    }
    if spec.get("minReadySeconds"):
        rs["spec"]["minReadySeconds"] = spec["minReadySeconds"]
    rs["spec"]["replicas"] = ro.new_rs_replicas(deployment, [*old, rs], rs)
    return rs


def deployment_status(deployment: Obj, new_rs: Obj | None, all_rs: list[Obj], at: datetime) -> Obj:
    """Counts and the ``Available`` condition (``calculateStatus``); zero counts omitted."""

    def total(field: str) -> int:
        return sum(int((rs.get("status") or {}).get(field, 0)) for rs in all_rs)

    desired = ro.replicas_of(deployment)
    available = total("availableReplicas")
    counts = {
        "observedGeneration": deployment["metadata"].get("generation", 0),
        "replicas": total("replicas"),
        "updatedReplicas": int(((new_rs or {}).get("status") or {}).get("replicas", 0)),
        "readyReplicas": total("readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(0, desired - available),
    }
    status: Obj = {k: v for k, v in counts.items() if v}
    old = deployment.get("status") or {}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    status["conditions"] = copy.deepcopy(old.get("conditions") or [])
    _, max_unavailable = ro.fenceposts(deployment)
    if available >= desired - max_unavailable:
        ro.set_condition(status, "Available", "True", "MinimumReplicasAvailable",
                         "Deployment has minimum availability.", at)  # fmt: skip
    else:
        ro.set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                         "Deployment does not have minimum availability.", at)  # fmt: skip
    return status


class _Sync:
    """One pass over one Deployment and its ReplicaSets."""

    def __init__(self, ctx: Context, deployment: Obj, replicasets: list[Obj]) -> None:
        self.ctx = ctx
        self.d = deployment
        self.rs = replicasets
        self.ns: str = deployment["metadata"].get("namespace", "")
        self.name: str = deployment["metadata"]["name"]
        self.requeue: float | None = None

    # -- ReplicaSets ------------------------------------------------------------------------

    async def new_and_old(self, create: bool) -> tuple[Obj | None, list[Obj]]:
        """The ReplicaSet of the current template (created if asked) and the others."""
        template = (self.d.get("spec") or {}).get("template") or {}
        ordered = sorted(self.rs, key=lambda r: (r["metadata"].get("creationTimestamp", ""),
                                                 r["metadata"]["name"]))  # fmt: skip
        new = next((r for r in ordered if ro.template_equal(r["spec"]["template"], template)),
                   None)  # fmt: skip
        old = [r for r in ordered if r is not new]
        revision = max((ro.revision_of(r) for r in old), default=0) + 1
        if new is not None:
            new = await self._refresh_new(new, revision)
        elif create:
            new = await self._create_new(revision, old)
        if new is not None:
            await self._set_deployment_revision(str(ro.revision_of(new)))
        return new, old

    async def _refresh_new(self, rs: Obj, revision: int) -> Obj:
        """``SetNewReplicaSetAnnotations`` on the existing new ReplicaSet."""
        annotations = dict(rs["metadata"].get("annotations") or {})
        wanted = {**annotations, **_copied_annotations(self.d)}
        current = ro.revision_of(rs)
        if current < revision:
            wanted[ro.REVISION] = str(revision)
            if current:
                history = [h for h in wanted.get(ro.REVISION_HISTORY, "").split(",") if h]
                wanted[ro.REVISION_HISTORY] = ",".join([*history, str(current)])
        min_ready = (self.d.get("spec") or {}).get("minReadySeconds")
        spec_change = min_ready != rs["spec"].get("minReadySeconds")
        if wanted == annotations and not spec_change:
            return rs
        patch: Obj = {"metadata": {"annotations": wanted}}
        if spec_change:
            patch["spec"] = {"minReadySeconds": min_ready}
        return await self._patch_rs(rs, patch)

    async def _create_new(self, revision: int, old: list[Obj]) -> Obj:
        rs = new_replicaset(self.d, revision, old)
        try:
            created = body(await self.ctx.client.create(ReplicaSet.model_validate(rs)))
        except AlreadyExists:
            existing = body(await self.ctx.client.get(ReplicaSet, rs["metadata"]["name"], self.ns))
            ref = controller_ref(existing)
            template = (self.d.get("spec") or {}).get("template") or {}
            if (
                ref
                and ref.get("uid") == self.d["metadata"]["uid"]
                and ro.template_equal(existing["spec"]["template"], template)
            ):
                return existing
            # A hash collision: bump collisionCount, so the next pass hashes to a new name.
            status = self.d.get("status") or {}
            count = int(status.get("collisionCount", 0)) + 1
            await self._write_status({**status, "collisionCount": count})
            raise HashCollision(
                f"replica set {rs['metadata']['name']} exists with another template; "
                f"collisionCount is now {count}, the next pass uses a new name"
            ) from None
        self.rs.append(created)
        replicas = ro.replicas_of(created)
        await self.event(
            "ScalingReplicaSet",
            f"Scaled up replica set {created['metadata']['name']} from 0 to {replicas}",
        )
        status = copy.deepcopy(self.d.get("status") or {})
        if (self.d.get("spec") or {}).get("progressDeadlineSeconds") is not None:
            ro.set_condition(
                status,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                f'Created new replica set "{created["metadata"]["name"]}"',
                now(),
            )
            await self._write_status(status)  # fmt: skip
        return created

    async def scale(self, rs: Obj, replicas: int) -> Obj:
        """Set a ReplicaSet's size and the sizing annotations (``scaleReplicaSet``)."""
        before = ro.replicas_of(rs)
        annotations = {**(rs["metadata"].get("annotations") or {}), **_sizing(self.d)}
        if before == replicas and annotations == rs["metadata"].get("annotations"):
            return rs
        patch = {"metadata": {"annotations": annotations}, "spec": {"replicas": replicas}}
        updated = await self._patch_rs(rs, patch)
        if before != replicas:
            verb = "up" if replicas > before else "down"
            await self.event(
                "ScalingReplicaSet",
                f"Scaled {verb} replica set {rs['metadata']['name']} from {before} to {replicas}",
            )
        return updated

    async def _patch_rs(self, rs: Obj, patch: Obj) -> Obj:
        name = rs["metadata"]["name"]
        patch["metadata"]["resourceVersion"] = rs["metadata"]["resourceVersion"]
        updated = body(await self.ctx.client.patch(ReplicaSet, name, patch, namespace=self.ns))
        self.rs = [updated if r["metadata"]["name"] == name else r for r in self.rs]
        return updated

    async def cleanup(self, old: list[Obj]) -> None:
        """Delete old ReplicaSets beyond ``revisionHistoryLimit`` (``cleanupDeployment``)."""
        limit = (self.d.get("spec") or {}).get("revisionHistoryLimit", 10)
        cleanable = [
            r for r in old
            if ro.replicas_of(r) == 0 and not (r.get("status") or {}).get("replicas")
            and not r["metadata"].get("deletionTimestamp")
            and (r.get("status") or {}).get("observedGeneration", 0)
            >= r["metadata"].get("generation", 0)
        ]  # fmt: skip
        for rs in sorted(cleanable, key=ro.revision_of)[: max(0, len(cleanable) - int(limit))]:
            with contextlib.suppress(NotFound):
                await self.ctx.client.delete(ReplicaSet, rs["metadata"]["name"], self.ns)

    # -- the Deployment ---------------------------------------------------------------------

    async def event(self, reason: str, message: str) -> None:
        """An Event about the Deployment."""
        await self.ctx.recorder.normal(Deployment.model_validate(self.d), reason, message)

    async def _set_deployment_revision(self, revision: str) -> None:
        """``SetDeploymentRevision``, written through ``/status`` as the real controller does
        (an annotation change on the main resource would bump the generation)."""
        annotations = self.d["metadata"].get("annotations") or {}
        if annotations.get(ro.REVISION) == revision:
            return
        patch = {"metadata": {"annotations": {ro.REVISION: revision}}}
        updated = await self.ctx.client.patch_status(
            Deployment, self.name, patch, namespace=self.ns
        )
        self.d["metadata"] = body(updated)["metadata"]

    async def _write_status(self, status: Obj) -> None:
        if status == (self.d.get("status") or {}):
            return
        self.d["status"] = status
        # A merge patch of the whole status at our resourceVersion (stale: Conflict, and the
        # retry recomputes); counts now zero are removed (null), as omitempty has them.
        patch = {
            "metadata": {"resourceVersion": self.d["metadata"]["resourceVersion"]},
            "status": {**dict.fromkeys(_STATUS_FIELDS), **status},
        }
        updated = await self.ctx.client.patch_status(Deployment, self.name, patch,
                                                     namespace=self.ns)  # fmt: skip
        self.d["metadata"] = body(updated)["metadata"]

    async def sync_status(self, new: Obj | None, rolling_out: bool) -> None:
        """Write the status; while rolling out, the ``Progressing`` condition too."""
        at = now()
        status = deployment_status(self.d, new, self.rs, at)
        spec = self.d.get("spec") or {}
        deadline = spec.get("progressDeadlineSeconds")
        if rolling_out and deadline is not None and not spec.get("paused"):
            self._progress(status, new, at)
            if not ro.is_complete(self.d, status):
                cond = ro.condition(status, "Progressing") or {}
                since = parse_time(cond.get("lastUpdateTime"))
                if since is not None and cond.get("reason") != "ProgressDeadlineExceeded":
                    left = since.timestamp() + int(deadline) - at.timestamp()
                    self.requeue = max(left, 0.0) + 1.0
        await self._write_status(status)

    def _progress(self, status: Obj, new: Obj | None, at: datetime) -> None:
        old = self.d.get("status") or {}
        rs_name = new["metadata"]["name"] if new is not None else ""
        if ro.is_complete(self.d, status):
            ro.set_condition(
                status,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
                at,
            )
        elif _progressing(old, status):
            message = (
                f'ReplicaSet "{rs_name}" is progressing.'
                if new is not None
                else f'Deployment "{self.name}" is progressing.'
            )
            ro.set_condition(status, "Progressing", "True", "ReplicaSetUpdated", message, at,
                             refresh=True)  # fmt: skip
        elif ro.timed_out(self.d, status, at):
            ro.set_condition(status, "Progressing", "False", "ProgressDeadlineExceeded",
                             f'ReplicaSet "{rs_name}" has timed out progressing.', at)  # fmt: skip

    async def paused_conditions(self) -> None:
        """``checkPausedConditions``: Progressing Unknown while paused, and on resume."""
        spec = self.d.get("spec") or {}
        if spec.get("progressDeadlineSeconds") is None:
            return
        status = copy.deepcopy(self.d.get("status") or {})
        cond = ro.condition(status, "Progressing")
        if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
            return
        paused_cond = cond is not None and cond.get("reason") == "DeploymentPaused"
        if spec.get("paused") and not paused_cond:
            ro.set_condition(status, "Progressing", "Unknown", "DeploymentPaused",
                             "Deployment is paused", now())  # fmt: skip
        elif not spec.get("paused") and paused_cond:
            ro.set_condition(status, "Progressing", "Unknown", "DeploymentResumed",
                             "Deployment is resumed", now())  # fmt: skip
        else:
            return
        await self._write_status(status)


_STATUS_FIELDS = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                  "unavailableReplicas")  # fmt: skip


def _progressing(old: Obj, new: Obj) -> bool:
    """``DeploymentProgressing``: more updated/ready/available pods, or fewer old ones."""

    def g(s: Obj, f: str) -> int:
        return int(s.get(f, 0))

    old_old = g(old, "replicas") - g(old, "updatedReplicas")
    new_old = g(new, "replicas") - g(new, "updatedReplicas")
    return (
        g(new, "updatedReplicas") > g(old, "updatedReplicas")
        or new_old < old_old
        or g(new, "readyReplicas") > g(old, "readyReplicas")
        or g(new, "availableReplicas") > g(old, "availableReplicas")
    )


def _scaling_event(deployment: Obj, replicasets: list[Obj]) -> bool:
    """An active ReplicaSet was sized for another ``replicas`` (``isScalingEvent``)."""
    for rs in replicasets:
        if ro.replicas_of(rs) > 0:
            desired = (rs["metadata"].get("annotations") or {}).get(ro.DESIRED_REPLICAS)
            if desired is not None and desired != str(ro.replicas_of(deployment)):
                return True
    return False


async def _sync_scale(s: _Sync) -> None:
    """``sync``: scale in proportion (paused or a scaling event), no rollout step."""
    new, old = await s.new_and_old(create=False)
    for name, size in ro.proportional_scale(s.d, new, old).items():
        await s.scale(next(r for r in s.rs if r["metadata"]["name"] == name), size)
    new = next((r for r in s.rs if new is not None and r["metadata"]["name"] ==
                new["metadata"]["name"]), None)  # fmt: skip
    if (s.d.get("spec") or {}).get("paused"):
        await s.cleanup([r for r in s.rs if r is not new])
    await s.sync_status(new, rolling_out=False)


async def _rolling(s: _Sync) -> None:
    """``rolloutRolling``: grow the new ReplicaSet, else shrink old ones, one step a pass."""
    new, old = await s.new_and_old(create=True)
    assert new is not None
    target = ro.replicas_of(s.d)
    size = ro.replicas_of(new)
    wanted = target if size > target else ro.new_rs_replicas(s.d, s.rs, new)
    if wanted != size:
        await s.scale(new, wanted)
        await s.sync_status(_find(s, new), rolling_out=True)
        return
    old = [r for r in s.rs if r["metadata"]["name"] != new["metadata"]["name"]]
    shrink = ro.old_scale_down(s.d, s.rs, old, new)
    for name, replicas in shrink.items():
        await s.scale(next(r for r in old if r["metadata"]["name"] == name), replicas)
    status_new = _find(s, new)
    if not shrink and ro.is_complete(s.d, deployment_status(s.d, status_new, s.rs, now())):
        await s.cleanup([r for r in s.rs if r["metadata"]["name"] != new["metadata"]["name"]])
    await s.sync_status(status_new, rolling_out=True)


async def _recreate(s: _Sync, pods: list[Obj]) -> None:
    """``rolloutRecreate``: all old pods gone before the new ReplicaSet is scaled up."""
    new, old = await s.new_and_old(create=False)
    active_old = [r for r in old if ro.replicas_of(r) > 0]
    for rs in active_old:
        await s.scale(rs, 0)
    if active_old:
        await s.sync_status(new, rolling_out=True)
        return
    old_uids = {r["metadata"]["uid"] for r in old}
    if any(
        (controller_ref(p) or {}).get("uid") in old_uids
        and (p.get("status") or {}).get("phase") not in ("Failed", "Succeeded")
        for p in pods
    ):
        await s.sync_status(new, rolling_out=True)
        return
    if new is None:
        new, _ = await s.new_and_old(create=True)
        assert new is not None
    if ro.replicas_of(new) != ro.replicas_of(s.d):
        new = await s.scale(new, ro.replicas_of(s.d))
    if ro.is_complete(s.d, deployment_status(s.d, new, s.rs, now())):
        await s.cleanup([r for r in s.rs if r["metadata"]["name"] != new["metadata"]["name"]])
    await s.sync_status(_find(s, new), rolling_out=True)


def _find(s: _Sync, rs: Obj) -> Obj:
    return next(r for r in s.rs if r["metadata"]["name"] == rs["metadata"]["name"])


async def _reconcile(ctx: Context, obj: Deployment) -> Result | None:
    d = body(obj)
    meta, spec = d["metadata"], d.get("spec") or {}
    if meta.get("deletionTimestamp"):
        return None  # the garbage collector takes the ReplicaSets
    ns = meta.get("namespace", "")
    candidates = [body(r) for r in ctx.cache.list(ReplicaSet, ns)]
    replicasets = await claim(ctx.client, d, ReplicaSet, candidates, spec.get("selector"))
    s = _Sync(ctx, d, replicasets)
    await s.paused_conditions()
    if spec.get("paused") or _scaling_event(d, replicasets):
        await _sync_scale(s)
    elif (spec.get("strategy") or {}).get("type") == "Recreate":
        await _recreate(s, [body(p) for p in ctx.cache.list(Pod, ns)])
    else:
        await _rolling(s)
    return Result(requeue_after=s.requeue) if s.requeue is not None else None


def _pod_to_deployment(cache: Cache) -> Any:
    """A pod event -> the Deployment controlling its ReplicaSet (Recreate waits on pods)."""

    def mapper(pod: Any) -> Iterator[ObjectRef]:
        data = body(pod)
        ref = controller_ref(data)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        ns = data["metadata"].get("namespace", "")
        rs = cache.get(ReplicaSet, ref["name"], ns)
        owner = controller_ref(body(rs)) if rs is not None else None
        if owner is not None and owner.get("kind") == "Deployment":
            yield ObjectRef(ns, owner["name"])

    return mapper


def deployment_controller(cache: Cache) -> Controller[Deployment]:
    """The Deployment controller, for a :class:`~opframe.Manager` whose cache is ``cache``."""
    controller = adopting_controller(Deployment, ReplicaSet, _reconcile, "deployment", cache)
    return controller.watches(Pod, _pod_to_deployment(cache))
