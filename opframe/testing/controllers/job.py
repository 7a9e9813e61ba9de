"""The Job controller: run pods to ``completions``, at most ``parallelism`` at once.

Follows ``pkg/controller/job/job_controller.go`` (``syncJob``, ``manageJob``,
``pastBackoffLimitOnFailure``) and ``backoff_utils.go``:

- pods carry ``batch.kubernetes.io/job-name``/``job-name`` and
  ``batch.kubernetes.io/controller-uid``/``controller-uid`` labels and a controller
  reference; ``active`` = pods neither finished nor deleted, ``succeeded``/``failed`` by phase
  (counts never go down: a finished pod deleted later still counted);
- wanted active pods: ``min(parallelism, completions - succeeded)`` (without
  ``completions``: ``parallelism`` until one pod succeeds);
- a failed pod is replaced after a back-off of 10 s doubling per failure (capped at 6 min);
  more failures than ``backoffLimit`` (default 6; with ``restartPolicy: OnFailure`` the
  container restarts count too) fail the Job: ``FailureTarget`` then ``Failed`` with reason
  ``BackoffLimitExceeded``, active pods deleted; ``activeDeadlineSeconds`` likewise with
  ``DeadlineExceeded``;
- ``succeeded >= completions``: ``SuccessCriteriaMet`` then ``Complete`` (reason
  ``CompletionsReached``) and ``completionTime``; a finished Job is left alone.
"""

from __future__ import annotations

import contextlib
import copy
from datetime import datetime

from opframe.cache import Cache
from opframe.controller import Controller
from opframe.errors import NotFound
from opframe.reconcile import Context, Result
from opframe.testing.controllers._kinds import Job, Pod, body
from opframe.testing.controllers._util import (
    Obj,
    claim,
    is_active,
    is_ready,
    now,
    parse_time,
    rfc3339,
)
from opframe.testing.controllers.replicaset import pod_from_template

__all__ = ["finished", "job_controller", "job_labels", "job_plan"]

BACKOFF_CAP = 360.0


def job_labels(job: Obj) -> dict[str, str]:
    """The labels that tie pods to their Job."""
    meta = job["metadata"]
    return {
        "batch.kubernetes.io/controller-uid": meta["uid"],
        "batch.kubernetes.io/job-name": meta["name"],
        "controller-uid": meta["uid"],
        "job-name": meta["name"],
    }


def finished(job: Obj) -> str | None:
    """``"Complete"`` or ``"Failed"`` if the Job has that condition True."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            kind: str = cond["type"]
            return kind
    return None


def _restarts(pods: list[Obj]) -> int:
    return sum(
        int(cs.get("restartCount", 0))
        for p in pods
        for cs in (p.get("status") or {}).get("containerStatuses") or []
    )


def job_plan(job: Obj, pods: list[Obj], at: datetime) -> tuple[Obj, int, str | None]:
    """``(status, pods to add (negative: remove), failure reason)`` for one pass (pure)."""
    spec, old = job.get("spec") or {}, job.get("status") or {}
    active = [p for p in pods if is_active(p)]
    succeeded = max(
        int(old.get("succeeded", 0)),
        sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"),
    )
    failed = max(
        int(old.get("failed", 0)),
        sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed"),
    )
    status: Obj = {k: v for k, v in old.items() if k not in ("active", "ready")}
    status.update(active=len(active), ready=sum(1 for p in active if is_ready(p)),
                  succeeded=succeeded, failed=failed)  # fmt: skip
    status.setdefault("startTime", rfc3339(at))
    restart_policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    counted = failed + (_restarts(active) if restart_policy == "OnFailure" else 0)
    failure: str | None = None
    if counted > int(spec.get("backoffLimit", 6)):
        failure = "BackoffLimitExceeded"
    deadline = spec.get("activeDeadlineSeconds")
    started = parse_time(status["startTime"])
    if deadline is not None and started and (at - started).total_seconds() >= int(deadline):
        failure = "DeadlineExceeded"
    if failure is not None:
        return status, -len(active), failure
    parallelism = int(spec.get("parallelism", 1))
    completions = spec.get("completions")
    if completions is None:
        wanted = 0 if succeeded > 0 else parallelism
    else:
        wanted = max(0, min(parallelism, int(completions) - succeeded))
    return status, wanted - len(active), None


_MESSAGES = {
    "BackoffLimitExceeded": "Job has reached the specified backoff limit",
    "DeadlineExceeded": "Job was active longer than specified deadline",
    "CompletionsReached": "Reached expected number of succeeded pods",
}


def _condition(kind: str, reason: str, at: datetime) -> Obj:
    stamp = rfc3339(at)
    return {"type": kind, "status": "True", "reason": reason, "message": _MESSAGES[reason],
            "lastProbeTime": stamp, "lastTransitionTime": stamp}  # fmt: skip


class _Reconciler:
    def __init__(self, backoff_base: float) -> None:
        self.backoff_base = backoff_base

    async def reconcile(self, ctx: Context, obj: Job) -> Result | None:
        job = body(obj)
        meta, spec = job["metadata"], job.get("spec") or {}
        if finished(job) or meta.get("deletionTimestamp") or spec.get("suspend"):
            return None
        ns = meta.get("namespace", "")
        selector = spec.get("selector") or {"matchLabels": {"controller-uid": meta["uid"]}}
        candidates = [body(p) for p in ctx.cache.list(Pod, ns)]
        pods = await claim(ctx.client, job, Pod, candidates, selector)
        at = now()
        status, delta, failure = job_plan(job, pods, at)
        completions = spec.get("completions")
        requeue: float | None = None
        if failure is not None:
            for pod in (p for p in pods if is_active(p)):
                with contextlib.suppress(NotFound):
                    await ctx.client.delete(Pod, pod["metadata"]["name"], ns)
            status["active"] = 0
            conditions = [_condition("FailureTarget", failure, at), _condition("Failed", failure,
                                                                              at)]  # fmt: skip
            status["conditions"] = [*(status.get("conditions") or []), *conditions]
        elif (
            delta == 0
            and status["active"] == 0
            and (
                (completions is not None and status["succeeded"] >= int(completions))
                or (completions is None and status["succeeded"] > 0)
            )
        ):
            conditions = [_condition("SuccessCriteriaMet", "CompletionsReached", at),
                          _condition("Complete", "CompletionsReached", at)]  # fmt: skip
            status["conditions"] = [*(status.get("conditions") or []), *conditions]
            status["completionTime"] = rfc3339(at)
        elif delta > 0:
            wait = self._backoff_left(pods, status["failed"], at)
            if wait > 0:
                requeue = wait
            else:
                for _ in range(delta):
                    await ctx.client.create(Pod.model_validate(self._pod(job)))
                    status["active"] += 1
        elif delta < 0:
            for pod in [p for p in pods if is_active(p)][:-delta]:
                with contextlib.suppress(NotFound):
                    await ctx.client.delete(Pod, pod["metadata"]["name"], ns)
        if status != (job.get("status") or {}):
            await ctx.client.patch_status(Job, meta["name"], {"status": status}, namespace=ns)
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and failure is None and not finished({"status": status}):
            started = parse_time(status["startTime"])
            if started is not None:
                left = int(deadline) - (at - started).total_seconds()
                requeue = min(requeue or left, left) if left > 0 else requeue
        return Result(requeue_after=requeue) if requeue is not None else None

    def _backoff_left(self, pods: list[Obj], failed: int, at: datetime) -> float:
        """Seconds before a replacement may start (``getRemainingTimePerIndex``)."""
        if failed == 0:
            return 0.0
        delay = min(self.backoff_base * 2.0 ** (failed - 1), BACKOFF_CAP)
        last = None
        for pod in pods:
            if (pod.get("status") or {}).get("phase") != "Failed":
                continue
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                finish = parse_time(((cs.get("state") or {}).get("terminated") or {})
                                    .get("finishedAt"))  # fmt: skip
                if finish is not None and (last is None or finish > last):
                    last = finish
        if last is None:
            return 0.0
        return float(max(0.0, delay - (at - last).total_seconds()))

    def _pod(self, job: Obj) -> Obj:
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), **job_labels(job)}
        pod = pod_from_template(job, template)
        pod["metadata"]["finalizers"] = [
            f for f in pod["metadata"].get("finalizers") or []
            if f != "batch.kubernetes.io/job-tracking"
        ] or None  # fmt: skip
        if pod["metadata"]["finalizers"] is None:
            del pod["metadata"]["finalizers"]
        return pod


def job_controller(cache: Cache, *, backoff_base: float = 10.0) -> Controller[Job]:
    """The Job controller; ``backoff_base``: the first pod-failure back-off in seconds."""
    del cache
    return Controller(for_=Job, reconciler=_Reconciler(backoff_base), name="job",
                      max_concurrent_reconciles=4).owns(Pod)  # fmt: skip
