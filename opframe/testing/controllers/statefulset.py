"""The StatefulSet controller: pods ``NAME-0..N-1`` with stable names and their own claims.

Follows ``pkg/controller/statefulset/``: ``stateful_set_control.go`` (the update loop),
``stateful_set_utils.go`` (identity, claims, revisions) and ``stateful_pod_control.go``:

- ``OrderedReady`` (default): pod ``i`` is created only when ``0..i-1`` are Running and
  Ready; scale-down removes the highest ordinal first, one at a time, only while the others
  are healthy. ``Parallel``: every missing pod at once, every condemned pod at once;
- each pod gets ``hostname`` = its name, ``subdomain`` = ``serviceName``, the labels
  ``controller-revision-hash``, ``statefulset.kubernetes.io/pod-name`` and
  ``apps.kubernetes.io/pod-index``, and for each ``volumeClaimTemplates`` entry a claim
  ``CLAIM-NAME-ORDINAL`` created before it and kept when the set scales down (the default
  ``persistentVolumeClaimRetentionPolicy`` is Retain);
- ``RollingUpdate``: once all pods are healthy, the highest-ordinal pod at or above
  ``partition`` not at the update revision is deleted (then recreated from the new
  template), one at a time; ``OnDelete`` leaves that to the user;
- the revision is ``NAME-HASH`` of the template (ControllerRevision objects are written
  when the server serves them); status counts pods per revision and sets
  ``currentRevision`` to the update revision once every pod has it.
"""

from __future__ import annotations

import contextlib
import copy
import re

from opframe.cache import Cache
from opframe.controller import Controller
from opframe.errors import AlreadyExists, NotFound
from opframe.reconcile import Context, Result
from opframe.testing.controllers._kinds import (
    ControllerRevision,
    PersistentVolumeClaim,
    Pod,
    StatefulSet,
    body,
)
from opframe.testing.controllers._revisions import ensure_revision, truncate_history
from opframe.testing.controllers._util import (
    Obj,
    available_in,
    claim,
    compute_hash,
    is_available,
    is_ready,
    now,
    owner_ref,
)
from opframe.testing.controllers.replicaset import pod_from_template

__all__ = [
    "REVISION_LABEL",
    "claim_name",
    "current_revision_needed",
    "stateful_pod",
    "statefulset_controller",
]

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def claim_name(template_name: str, set_name: str, ordinal: int) -> str:
    """``CLAIM-SET-ORDINAL`` (``getPersistentVolumeClaimName``)."""
    return f"{template_name}-{set_name}-{ordinal}"


def _ordinal(set_name: str, pod_name: str) -> int | None:
    match = re.fullmatch(rf"{re.escape(set_name)}-(\d+)", pod_name)
    return int(match.group(1)) if match else None


def revision_name(sts: Obj) -> str:
    """The update revision: ``NAME-HASH`` of the template and collision count."""
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    # Unlike a Deployment's, the count is always hashed, as 0 when unset (``newRevision``).
    pod_hash = compute_hash(spec.get("template") or {}, int(status.get("collisionCount", 0)))
    return f"{sts['metadata']['name']}-{pod_hash}"


def stateful_pod(sts: Obj, ordinal: int, revision: str) -> Obj:
    """Pod ``ordinal`` of ``sts`` at ``revision`` (``newVersionedStatefulSetPod``)."""
    meta, spec = sts["metadata"], sts.get("spec") or {}
    name = f"{meta['name']}-{ordinal}"
    pod = pod_from_template(sts, copy.deepcopy(spec.get("template") or {}), name=name)
    labels = pod["metadata"].setdefault("labels", {})
    labels.update({REVISION_LABEL: revision, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)})
    pod_spec = pod["spec"]
    pod_spec["hostname"] = name
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    volumes = [v for v in pod_spec.get("volumes") or []]
    for template in spec.get("volumeClaimTemplates") or []:
        vname = template["metadata"]["name"]
        volumes = [v for v in volumes if v.get("name") != vname]
        volumes.append({"name": vname, "persistentVolumeClaim": {
            "claimName": claim_name(vname, meta["name"], ordinal)}})  # fmt: skip
    if volumes:
        pod_spec["volumes"] = volumes
    return pod


def _claim_for(sts: Obj, template: Obj, ordinal: int) -> Obj:
    meta = sts["metadata"]
    selector_labels = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    labels = {**(template.get("metadata") or {}).get("labels", {}), **selector_labels}
    claim_meta: Obj = {
        "name": claim_name(template["metadata"]["name"], meta["name"], ordinal),
        "namespace": meta.get("namespace"),
        "labels": labels,
    }
    policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    if policy.get("whenDeleted") == "Delete":
        claim_meta["ownerReferences"] = [owner_ref(sts)]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": claim_meta,
            "spec": copy.deepcopy(template.get("spec") or {})}  # fmt: skip


def current_revision_needed(sts: Obj, ordinal: int) -> bool:
    """Whether a pod created at ``ordinal`` gets the current revision (``isCurrentRevisionNeeded``).

    Only under ``RollingUpdate``: below the ``partition`` when one is set, else below
    ``status.currentReplicas`` (the pods not yet rolled). ``OnDelete`` recreates at the
    update revision.
    """
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return False
    partition = (strategy.get("rollingUpdate") or {}).get("partition")
    if partition is None:
        return ordinal < int(status.get("currentReplicas", 0))
    return ordinal < int(partition)


def _healthy(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return (
        status.get("phase") == "Running" and is_ready(pod)
        and not pod["metadata"].get("deletionTimestamp")
    )  # fmt: skip


class _Reconciler:
    def __init__(self, revisions_served: bool) -> None:
        self.revisions_served = revisions_served

    async def reconcile(self, ctx: Context, obj: StatefulSet) -> Result | None:
        sts = body(obj)
        meta, spec = sts["metadata"], sts.get("spec") or {}
        ns = meta.get("namespace", "")
        if meta.get("deletionTimestamp"):
            return None
        name = meta["name"]
        candidates = [
            body(p) for p in ctx.cache.list(Pod, ns)
            if _ordinal(name, p.metadata.name or "") is not None
        ]  # fmt: skip
        owned = await claim(ctx.client, sts, Pod, candidates, spec.get("selector"))
        pods: dict[int, Obj] = {}
        for pod in owned:
            ordinal = _ordinal(name, pod["metadata"]["name"])
            if ordinal is not None:
                pods[ordinal] = pod
        update_rev = revision_name(sts)
        status = sts.get("status") or {}
        current_rev = status.get("currentRevision") or update_rev
        if self.revisions_served:
            await ensure_revision(ctx, sts, update_rev.removeprefix(f"{name}-"))
        await self._step(ctx, sts, pods, update_rev, current_rev)
        result = await self._write_status(ctx, sts, pods, current_rev, update_rev)
        if self.revisions_served:
            used = {p["metadata"].get("labels", {}).get(REVISION_LABEL) for p in pods.values()}
            await truncate_history(ctx, sts, {current_rev, update_rev, *(u for u in used if u)})
        return result

    async def _step(
        self, ctx: Context, sts: Obj, pods: dict[int, Obj], update_rev: str, current_rev: str
    ) -> None:
        spec = sts.get("spec") or {}
        ns = sts["metadata"].get("namespace", "")
        replicas = int(spec.get("replicas", 1))
        parallel = spec.get("podManagementPolicy") == "Parallel"
        # Failed pods are deleted to be recreated (``isFailed``).
        for ordinal, pod in list(pods.items()):
            if (pod.get("status") or {}).get("phase") == "Failed" and not pod["metadata"].get(
                "deletionTimestamp"
            ):
                with contextlib.suppress(NotFound):
                    await ctx.client.delete(Pod, pod["metadata"]["name"], ns)
                pods.pop(ordinal)
        for ordinal in range(replicas):
            member = pods.get(ordinal)
            if member is None:
                await self._create(ctx, sts, ordinal, update_rev, current_rev)
                if not parallel:
                    return
                continue
            if not parallel and not _healthy(member):
                return  # OrderedReady: wait for this one before the next
        condemned = sorted((o for o in pods if o >= replicas), reverse=True)
        if condemned:
            if not parallel and not all(_healthy(pods[o]) for o in pods if o < replicas):
                return
            for ordinal in condemned if parallel else condemned[:1]:
                pod = pods[ordinal]
                if not pod["metadata"].get("deletionTimestamp"):
                    with contextlib.suppress(NotFound):
                        await ctx.client.delete(Pod, pod["metadata"]["name"], ns)
            return
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        if not all(_healthy(p) for p in pods.values()):
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
        for ordinal in range(replicas - 1, partition - 1, -1):
            member = pods.get(ordinal)
            if member is not None and member["metadata"]["labels"].get(REVISION_LABEL) != (
                update_rev
            ):
                with contextlib.suppress(NotFound):
                    await ctx.client.delete(Pod, member["metadata"]["name"], ns)
                return

    async def _create(
        self, ctx: Context, sts: Obj, ordinal: int, update_rev: str, current_rev: str
    ) -> None:
        revision = update_rev
        if current_rev != update_rev and current_revision_needed(sts, ordinal):
            old = self._revision_set(ctx, sts, current_rev)
            if old is not None:
                sts, revision = old, current_rev
        for template in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            pvc = _claim_for(sts, template, ordinal)
            if ctx.cache.get(PersistentVolumeClaim, pvc["metadata"]["name"],
                             pvc["metadata"]["namespace"]) is None:  # fmt: skip
                with contextlib.suppress(AlreadyExists):
                    await ctx.client.create(PersistentVolumeClaim.model_validate(pvc))
        pod = stateful_pod(sts, ordinal, revision)
        with contextlib.suppress(AlreadyExists):
            await ctx.client.create(Pod.model_validate(pod))

    def _revision_set(self, ctx: Context, sts: Obj, revision: str) -> Obj | None:
        """``sts`` with the template of ControllerRevision ``revision`` (``ApplyRevision``)."""
        if not self.revisions_served:
            return None
        found = ctx.cache.get(ControllerRevision, revision, sts["metadata"].get("namespace"))
        if found is None:
            return None
        template = dict((((body(found).get("data") or {}).get("spec") or {}).get("template")) or {})
        template.pop("$patch", None)
        return {**sts, "spec": {**(sts.get("spec") or {}), "template": template}}

    async def _write_status(
        self, ctx: Context, sts: Obj, pods: dict[int, Obj], current_rev: str, update_rev: str
    ) -> Result | None:
        spec = sts.get("spec") or {}
        at = now()
        min_ready = int(spec.get("minReadySeconds") or 0)
        live = [p for p in ctx.cache.list(Pod, sts["metadata"].get("namespace"))
                if any(o.uid == sts["metadata"]["uid"] for o in p.metadata.owner_references or [])
                and p.metadata.deletion_timestamp is None]  # fmt: skip
        live_pods = [body(p) for p in live]
        del pods

        def at_revision(rev: str) -> int:
            return sum(1 for p in live_pods if p["metadata"]["labels"].get(REVISION_LABEL) == rev)

        old = sts.get("status") or {}
        status: Obj = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(live_pods),
            "readyReplicas": sum(1 for p in live_pods if is_ready(p)),
            "availableReplicas": sum(1 for p in live_pods if is_available(p, min_ready, at)),
            "currentReplicas": at_revision(current_rev),
            "updatedReplicas": at_revision(update_rev),
            "currentRevision": current_rev,
            "updateRevision": update_rev,
            "collisionCount": old.get("collisionCount", 0),
        }
        replicas = int(spec.get("replicas", 1))
        if status["updatedReplicas"] == replicas and status["replicas"] == replicas:
            # completeRollingUpdate: every pod at the update revision.
            status["currentRevision"] = update_rev
            status["currentReplicas"] = status["updatedReplicas"]
        if status != {k: old.get(k) for k in status} or old.keys() - status.keys() - {"conditions"}:
            await ctx.client.patch_status(
                StatefulSet, sts["metadata"]["name"], {"status": status},
                namespace=sts["metadata"].get("namespace"),
            )  # fmt: skip
        wait = available_in(live_pods, min_ready, at)
        return Result(requeue_after=wait) if wait is not None else None


def statefulset_controller(cache: Cache, *, revisions: bool = False) -> Controller[StatefulSet]:
    """The StatefulSet controller; ``revisions``: write ControllerRevision objects."""
    # Claims are read from the cache but trigger nothing: an informer, no watch source.
    cache.informer(PersistentVolumeClaim)
    controller = Controller(
        for_=StatefulSet,
        reconciler=_Reconciler(revisions),
        name="statefulset",
        max_concurrent_reconciles=4,
    ).owns(Pod)
    if revisions:
        controller = controller.owns(ControllerRevision)
    return controller  # fmt: skip
