"""The ReplicaSet controller: keep ``spec.replicas`` active pods from the template.

Follows ``pkg/controller/replicaset/replica_set.go`` and ``replica_set_utils.go``:

- pods matching the selector are claimed first (orphans adopted, mismatches released);
- too few active pods: create the missing ones from the template (``generateName``
  ``NAME-``, the template's labels and annotations, a controller reference);
- too many: delete the ones ranked first by ``ActivePods`` order (unscheduled before
  scheduled, Pending before Running, not ready before ready, ready for less time first, more
  restarts first, newest first);
- status: ``replicas`` (active pods), ``fullyLabeledReplicas``, ``readyReplicas``,
  ``availableReplicas`` (ready for ``minReadySeconds``), ``observedGeneration``.

The cache reads the controller's own writes, which is what the real controller's
*expectations* exist for: a created pod is seen by the next pass, never created twice.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from opframe.cache import Cache
from opframe.controller import Controller
from opframe.errors import NotFound
from opframe.reconcile import Context, Result
from opframe.testing.controllers._kinds import Pod, ReplicaSet, body
from opframe.testing.controllers._util import (
    Obj,
    adopting_controller,
    available_in,
    claim,
    is_active,
    is_available,
    is_ready,
    labels_of,
    now,
    owner_ref,
    parse_time,
)

__all__ = ["deletion_order", "pod_from_template", "replicaset_controller", "replicaset_status"]

# replica_set.go's burstReplicas: at most this many creations or deletions per pass.
BURST_REPLICAS = 500


def pod_from_template(owner: Obj, template: Obj, *, name: str | None = None) -> Obj:
    """A pod for ``owner`` from its pod ``template`` (controller_utils ``GetPodFromTemplate``)."""
    meta = owner["metadata"]
    tmeta = template.get("metadata") or {}
    pod_meta: Obj = {"namespace": meta.get("namespace"), "ownerReferences": [owner_ref(owner)]}
    if name is None:
        pod_meta["generateName"] = f"{meta['name']}-"
    else:
        pod_meta["name"] = name
    for key in ("labels", "annotations", "finalizers"):
        if tmeta.get(key):
            pod_meta[key] = dict(tmeta[key]) if key != "finalizers" else list(tmeta[key])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": template.get("spec") or {}}  # fmt: skip


def _rank(pod: Obj) -> tuple[Any, ...]:
    """``ActivePods`` ordering key: the pod to delete first sorts first."""
    status = pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", ""), 0)
    ready = is_ready(pod)
    since = None
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            since = parse_time(cond.get("lastTransitionTime"))
    restarts = sum(int(c.get("restartCount", 0)) for c in status.get("containerStatuses") or [])
    created = parse_time(pod["metadata"].get("creationTimestamp"))
    stamp = created.timestamp() if created else 0.0
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        phase_rank,
        1 if ready else 0,
        # Ready for less time first (a later transition sorts first).
        -(since.timestamp() if ready and since else 0.0),
        -restarts,
        -stamp,
    )


def deletion_order(pods: list[Obj]) -> list[Obj]:
    """``pods`` in the order a ReplicaSet deletes them when it has too many."""
    return sorted(pods, key=_rank)


def replicaset_status(rs: Obj, pods: list[Obj], at: datetime) -> Obj:
    """The status of ``rs`` with ``pods`` its active pods (``calculateStatus``)."""
    spec = rs.get("spec") or {}
    template_labels = labels_of(spec.get("template") or {})
    min_ready = int(spec.get("minReadySeconds") or 0)
    status = dict(rs.get("status") or {})
    status.update(
        replicas=len(pods),
        fullyLabeledReplicas=sum(
            1 for p in pods if all(labels_of(p).get(k) == v for k, v in template_labels.items())
        ),
        readyReplicas=sum(1 for p in pods if is_ready(p)),
        availableReplicas=sum(1 for p in pods if is_available(p, min_ready, at)),
        observedGeneration=rs["metadata"].get("generation", 1),
    )
    return status


async def _reconcile(ctx: Context, obj: ReplicaSet) -> Result | None:
    rs = body(obj)
    meta, spec = rs["metadata"], rs.get("spec") or {}
    ns = meta.get("namespace", "")
    selector = spec.get("selector")
    candidates = [body(p) for p in ctx.cache.list(Pod, ns)]
    owned = await claim(ctx.client, rs, Pod, candidates, selector)
    active = [p for p in owned if is_active(p)]
    if not meta.get("deletionTimestamp"):
        diff = len(active) - int(spec.get("replicas", 1))
        if diff < 0:
            template = spec.get("template") or {}
            for _ in range(min(-diff, BURST_REPLICAS)):
                pod = Pod.model_validate(pod_from_template(rs, template))
                created = await ctx.client.create(pod)
                active.append(body(created))
        elif diff > 0:
            for victim in deletion_order(active)[: min(diff, BURST_REPLICAS)]:
                vm = victim["metadata"]
                with contextlib.suppress(NotFound):
                    await ctx.client.delete(Pod, vm["name"], ns)
                active.remove(victim)
    at = now()
    status = replicaset_status(rs, active, at)
    if status != (rs.get("status") or {}):
        with contextlib.suppress(NotFound):
            await ctx.client.patch_status(
                ReplicaSet, meta["name"], {"status": status}, namespace=ns
            )
    # minReadySeconds: look again when the next ready pod becomes available.
    wait = available_in(active, int(spec.get("minReadySeconds") or 0), at)
    return Result(requeue_after=wait) if wait is not None else None


def replicaset_controller(cache: Cache) -> Controller[ReplicaSet]:
    """The ReplicaSet controller, for a :class:`~opframe.Manager` whose cache is ``cache``."""
    return adopting_controller(ReplicaSet, Pod, _reconcile, "replicaset", cache)
