"""The DaemonSet controller: one pod on every node the DaemonSet fits.

Follows ``pkg/controller/daemon/daemon_controller.go`` (``manage``, ``podsShouldBeOnNode``,
``updateDaemonSetStatus``), ``update.go`` (``rollingUpdate``, ``constructHistory``) and
``util/daemonset_util.go``:

- a node fits when the template's ``nodeSelector`` matches its labels and every
  ``NoSchedule``/``NoExecute`` taint is tolerated (the DaemonSet's own tolerations, plus
  the ones every daemon pod gets: not-ready/unreachable ``NoExecute``, the disk/memory/pid
  pressure, unschedulable and network-unavailable ``NoSchedule``);
- each pod is pinned to its node by required node affinity on ``metadata.name`` (the
  scheduler, here the kubelet, binds it), and carries ``controller-revision-hash`` (the
  template hash) and ``pod-template-generation``; a node with no pod gets one, a node with
  more than one keeps the oldest, a failed pod is deleted to be replaced, a pod on a node
  that no longer fits is deleted;
- each template is a ControllerRevision ``NAME-HASH`` (``revision`` counting up);
- ``RollingUpdate`` (default): old-revision pods are deleted while fewer than
  ``maxUnavailable`` (default 1, a percentage of the desired count rounded up) pods are
  unavailable; with ``maxSurge`` the new pod starts first and the old one goes once the new
  one is available; ``OnDelete`` replaces a pod only when the user deletes it;
- status: ``desiredNumberScheduled``, ``currentNumberScheduled``, ``numberMisscheduled``,
  ``numberReady``, ``updatedNumberScheduled``, ``numberAvailable``, ``numberUnavailable``,
  ``observedGeneration``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from opframe.cache import Cache
from opframe.controller import Controller
from opframe.errors import AlreadyExists, NotFound
from opframe.objectref import ObjectRef
from opframe.reconcile import Context, Result
from opframe.testing.controllers._kinds import ControllerRevision, DaemonSet, Node, Pod, body
from opframe.testing.controllers._revisions import ensure_revision, truncate_history
from opframe.testing.controllers._util import (
    Obj,
    available_in,
    claim,
    compute_hash,
    is_active,
    is_available,
    is_ready,
    labels_of,
    now,
    scaled_value,
)
from opframe.testing.controllers.replicaset import pod_from_template

__all__ = ["DAEMON_TOLERATIONS", "daemon_pod", "daemonset_controller", "node_fits"]

HASH_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"

#: ``AddOrUpdateDaemonPodTolerations``: every daemon pod tolerates these.
DAEMON_TOLERATIONS: tuple[Obj, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)


def _tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol["key"] == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def node_fits(ds: Obj, node: Obj) -> bool:
    """Whether a daemon pod of ``ds`` should run on ``node`` (``NodeShouldRunDaemonPod``)."""
    pod_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    selector = pod_spec.get("nodeSelector") or {}
    node_labels = labels_of(node)
    if any(node_labels.get(k) != v for k, v in selector.items()):
        return False
    tolerations = [*(pod_spec.get("tolerations") or []), *DAEMON_TOLERATIONS]
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
            tolerations, taint
        ):
            return False
    return True


def template_hash(ds: Obj) -> str:
    """The revision hash of the template (``controller.ComputeHash`` with the collision count)."""
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    return compute_hash(spec.get("template") or {}, status.get("collisionCount"))


def daemon_pod(ds: Obj, node_name: str, pod_hash: str) -> Obj:
    """The daemon pod of ``ds`` for ``node_name`` (``CreatePodTemplate`` + node affinity)."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: pod_hash,
                       GENERATION_LABEL: str(ds["metadata"].get("generation", 1))}  # fmt: skip
    pod = pod_from_template(ds, template)
    spec = pod["spec"]
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [term]}
    tolerations = list(spec.get("tolerations") or [])
    for tol in DAEMON_TOLERATIONS:
        if not any(t.get("key") == tol["key"] and t.get("effect") == tol["effect"]
                   for t in tolerations):  # fmt: skip
            tolerations.append(dict(tol))
    spec["tolerations"] = tolerations
    return pod


def _node_of(pod: Obj) -> str | None:
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        name: str = spec["nodeName"]
        return name
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}  # fmt: skip
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                value: str = field["values"][0]
                return value
    return None


def _created(pod: Obj) -> tuple[str, str]:
    return (pod["metadata"].get("creationTimestamp") or "", pod["metadata"]["name"])


class _Reconciler:
    async def reconcile(self, ctx: Context, obj: DaemonSet) -> Result | None:
        ds = body(obj)
        meta, spec = ds["metadata"], ds.get("spec") or {}
        ns = meta.get("namespace", "")
        candidates = [body(p) for p in ctx.cache.list(Pod, ns)]
        owned = await claim(ctx.client, ds, Pod, candidates, spec.get("selector"))
        pod_hash = template_hash(ds)
        if meta.get("deletionTimestamp"):
            return None
        await ensure_revision(ctx, ds, pod_hash, extra_labels={HASH_LABEL: pod_hash})
        nodes = {n.metadata.name or "": body(n) for n in ctx.cache.list(Node)}
        wanted = {name for name, node in nodes.items() if node_fits(ds, node)}
        by_node: dict[str, list[Obj]] = {}
        for pod in owned:
            if pod["metadata"].get("deletionTimestamp"):
                continue
            by_node.setdefault(_node_of(pod) or "", []).append(pod)
        at = now()
        min_ready = int(spec.get("minReadySeconds") or 0)
        for node_name in sorted(set(by_node) | wanted):
            pods = sorted(by_node.get(node_name, []), key=_created)
            failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
            extra = pods[1:] if node_name in wanted else pods
            for pod in [*failed, *(p for p in extra if p not in failed)]:
                with contextlib.suppress(NotFound):
                    await ctx.client.delete(Pod, pod["metadata"]["name"], ns)
                pods.remove(pod)
            by_node[node_name] = pods
            if node_name in wanted and not pods:
                with contextlib.suppress(AlreadyExists):
                    await ctx.client.create(Pod.model_validate(daemon_pod(ds, node_name,
                                                                          pod_hash)))  # fmt: skip
        await self._roll(ctx, ds, by_node, wanted, pod_hash, at)
        result = await self._write_status(ctx, ds, by_node, wanted, pod_hash, at, min_ready)
        used = {labels_of(p).get(HASH_LABEL) for ps in by_node.values() for p in ps}
        await truncate_history(ctx, ds, {f"{meta['name']}-{h}" for h in {pod_hash, *used} if h})
        return result

    async def _roll(
        self, ctx: Context, ds: Obj, by_node: dict[str, list[Obj]], wanted: set[str],
        pod_hash: str, at: datetime,
    ) -> None:  # fmt: skip
        """``rollingUpdate``: replace old-revision pods within the unavailability budget."""
        spec = ds.get("spec") or {}
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        rolling = strategy.get("rollingUpdate") or {}
        desired = len(wanted)
        max_surge = scaled_value(rolling.get("maxSurge"), desired, round_up=True, default=0)
        max_unavailable = scaled_value(rolling.get("maxUnavailable"), desired, round_up=True,
                                       default=1)  # fmt: skip
        min_ready = int(spec.get("minReadySeconds") or 0)
        ns = ds["metadata"].get("namespace", "")
        unavailable = sum(
            1 for n in wanted
            if not any(is_available(p, min_ready, at) for p in by_node.get(n, []))
        )  # fmt: skip
        for node_name in sorted(wanted):
            pods = by_node.get(node_name, [])
            old = [p for p in pods if labels_of(p).get(HASH_LABEL) != pod_hash]
            new = [p for p in pods if labels_of(p).get(HASH_LABEL) == pod_hash]
            if not old:
                continue
            if max_surge > 0:
                if new and is_available(new[0], min_ready, at):
                    for pod in old:
                        with contextlib.suppress(NotFound):
                            await ctx.client.delete(Pod, pod["metadata"]["name"], ns)
                elif not new:
                    with contextlib.suppress(AlreadyExists):
                        await ctx.client.create(Pod.model_validate(
                            daemon_pod(ds, node_name, pod_hash)))  # fmt: skip
                continue
            node_available = any(is_available(p, min_ready, at) for p in pods)
            if node_available and unavailable >= max_unavailable:
                continue
            for pod in old:
                with contextlib.suppress(NotFound):
                    await ctx.client.delete(Pod, pod["metadata"]["name"], ns)
            if node_available:
                unavailable += 1

    async def _write_status(
        self, ctx: Context, ds: Obj, by_node: dict[str, list[Obj]], wanted: set[str],
        pod_hash: str, at: datetime, min_ready: int,
    ) -> Result | None:  # fmt: skip
        """``updateDaemonSetStatus``: counts per node from the pods left after this pass."""
        live = {n: [p for p in ps if is_active(p)] for n, ps in by_node.items()}
        scheduled = {n for n, ps in live.items() if ps}
        ready = available = updated = 0
        for node_name in scheduled & wanted:
            pod = live[node_name][0]
            ready += is_ready(pod)
            available += is_available(pod, min_ready, at)
            updated += any(labels_of(p).get(HASH_LABEL) == pod_hash for p in live[node_name])
        old = ds.get("status") or {}
        status: Obj = {
            **old,
            "desiredNumberScheduled": len(wanted),
            "currentNumberScheduled": len(scheduled & wanted),
            "numberMisscheduled": len(scheduled - wanted),
            "numberReady": ready,
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
            "numberUnavailable": len(wanted) - available,
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        if status != old:
            with contextlib.suppress(NotFound):
                await ctx.client.patch_status(
                    DaemonSet, ds["metadata"]["name"], {"status": status},
                    namespace=ds["metadata"].get("namespace"),
                )  # fmt: skip
        pods = [p for ps in live.values() for p in ps]
        wait = available_in(pods, min_ready, at)
        return Result(requeue_after=wait) if wait is not None else None


def daemonset_controller(cache: Cache) -> Controller[DaemonSet]:
    """The DaemonSet controller, for a :class:`~opframe.Manager` whose cache is ``cache``."""

    def every_daemonset(_: Any) -> Iterator[ObjectRef]:
        for ds in cache.list(DaemonSet):
            yield ObjectRef(ds.metadata.namespace, ds.metadata.name or "")

    return (
        Controller(for_=DaemonSet, reconciler=_Reconciler(), name="daemonset",
                   max_concurrent_reconciles=2)
        .owns(Pod)
        .owns(ControllerRevision)
        .watches(Node, every_daemonset)
    )  # fmt: skip
