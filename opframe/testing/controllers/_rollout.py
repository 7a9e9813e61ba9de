"""The Deployment controller's arithmetic, as pure functions on wire-form dicts.

Rules from ``pkg/controller/deployment/util/deployment_util.go`` (fenceposts, revisions,
template equality, new ReplicaSet size, proportional scaling, completeness and progress),
``rolling.go`` (old ReplicaSets scaled down) and ``progress.go`` (conditions).
"""

from __future__ import annotations

import copy
import math
from datetime import datetime, timedelta

from opframe.testing.controllers._util import Obj, parse_time, rfc3339, scaled_value

__all__ = [
    "DEFAULT_UNIQUE_LABEL",
    "DESIRED_REPLICAS",
    "MAX_REPLICAS",
    "REVISION",
    "REVISION_HISTORY",
    "condition",
    "fenceposts",
    "is_complete",
    "new_rs_replicas",
    "old_scale_down",
    "proportional_scale",
    "replicas_of",
    "revision_of",
    "set_condition",
    "template_equal",
    "timed_out",
]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
DEFAULT_UNIQUE_LABEL = "pod-template-hash"


def replicas_of(obj: Obj) -> int:
    """``spec.replicas`` (1 when unset, the API default)."""
    return int((obj.get("spec") or {}).get("replicas", 1))


def revision_of(rs: Obj) -> int:
    """A ReplicaSet's ``deployment.kubernetes.io/revision`` (0 when missing or unparsable)."""
    text = ((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0")
    return int(text) if str(text).isdigit() else 0


def _strategy(deployment: Obj) -> Obj:
    strategy: Obj = (deployment.get("spec") or {}).get("strategy") or {}
    return strategy


def fenceposts(deployment: Obj) -> tuple[int, int]:
    """``(maxSurge, maxUnavailable)`` resolved against ``spec.replicas`` (``ResolveFenceposts``).

    Surge rounds up, unavailable rounds down; if both come out 0, unavailable is 1 (a rollout
    must be able to move). Recreate deployments have neither.
    """
    strategy = _strategy(deployment)
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    desired = replicas_of(deployment)
    surge = scaled_value(rolling.get("maxSurge", "25%"), desired, round_up=True, default=0)
    unavailable = scaled_value(
        rolling.get("maxUnavailable", "25%"), desired, round_up=False, default=0
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _semantic(value: object) -> object:
    """A value as ``apiequality.Semantic`` compares it: null, empty map and empty list are
    the same as absent (kubectl sends ``creationTimestamp: null`` in templates)."""
    if isinstance(value, dict):
        out = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def template_equal(a: Obj, b: Obj) -> bool:
    """Pod templates semantically equal but for ``pod-template-hash`` (``EqualIgnoreHash``)."""
    a, b = copy.deepcopy(a), copy.deepcopy(b)
    for t in (a, b):
        ((t.get("metadata") or {}).get("labels") or {}).pop(DEFAULT_UNIQUE_LABEL, None)
    return _semantic(a) == _semantic(b)


def new_rs_replicas(deployment: Obj, all_rs: list[Obj], new_rs: Obj) -> int:
    """How many replicas the new ReplicaSet may have now (``NewRSNewReplicas``).

    RollingUpdate: grow up to ``replicas + maxSurge`` pods in all; Recreate: all at once.
    """
    desired = replicas_of(deployment)
    if _strategy(deployment).get("type", "RollingUpdate") != "RollingUpdate":
        return desired
    surge, _ = fenceposts(deployment)
    current = sum(replicas_of(rs) for rs in all_rs)
    max_total = desired + surge
    if current >= max_total:
        return replicas_of(new_rs)
    room = min(max_total - current, desired - replicas_of(new_rs))
    return replicas_of(new_rs) + room


def old_scale_down(deployment: Obj, all_rs: list[Obj], old_rs: list[Obj], new_rs: Obj) -> Obj:
    """New ``spec.replicas`` per old ReplicaSet name for one rolling step (``rolling.go``).

    ``reconcileOldReplicaSets``: the most that may go is all pods - minAvailable - the new
    ReplicaSet's unavailable pods; unhealthy old pods go first (``cleanupUnhealthyReplicas``,
    oldest ReplicaSet first), then available ones while more than minAvailable are
    available (``scaleDownOldReplicaSetsForRollingUpdate``).
    """
    if sum(replicas_of(rs) for rs in old_rs) == 0:
        return {}
    _, max_unavailable = fenceposts(deployment)
    min_available = replicas_of(deployment) - max_unavailable
    all_pods = sum(replicas_of(rs) for rs in all_rs)
    new_unavailable = replicas_of(new_rs) - _available(new_rs)
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    oldest_first = sorted(old_rs, key=_created)
    sizes = {rs["metadata"]["name"]: replicas_of(rs) for rs in old_rs}
    cleaned = 0
    for rs in oldest_first:
        if cleaned >= max_scaled_down:
            break
        name, replicas = rs["metadata"]["name"], sizes[rs["metadata"]["name"]]
        if replicas == 0 or replicas == _available(rs):
            continue
        count = min(max_scaled_down - cleaned, replicas - _available(rs))
        sizes[name] = replicas - count
        cleaned += count
    available = sum(_available(rs) for rs in all_rs)
    if available > min_available:
        total = available - min_available
        done = 0
        for rs in oldest_first:
            if done >= total:
                break
            name = rs["metadata"]["name"]
            if sizes[name] == 0:
                continue
            count = min(sizes[name], total - done)
            sizes[name] -= count
            done += count
    return {k: v for k, v in sizes.items() if v != replicas_of(_by_name(old_rs, k))}


def _by_name(rs_list: list[Obj], name: str) -> Obj:
    return next(rs for rs in rs_list if rs["metadata"]["name"] == name)


def _available(rs: Obj) -> int:
    return int((rs.get("status") or {}).get("availableReplicas", 0))


def _created(rs: Obj) -> tuple[str, str]:
    meta = rs["metadata"]
    return (meta.get("creationTimestamp") or "", meta["name"])


def proportional_scale(deployment: Obj, new_rs: Obj | None, old_rs: list[Obj]) -> Obj:
    """New sizes per ReplicaSet name after ``spec.replicas`` changed (``sync.go`` ``scale``).

    One active ReplicaSet (or none: the newest) takes ``replicas``; a saturated new one
    means the old ones go to 0; otherwise the pods to add (or remove) so that all
    ReplicaSets total ``replicas + maxSurge`` are shared in proportion to each one's size
    against the ``max-replicas`` it was last sized for, biggest first (newest first on ties
    when growing, oldest first when shrinking), the rounding leftover to the first.
    """
    desired = replicas_of(deployment)
    everything = ([new_rs] if new_rs is not None else []) + old_rs
    active = [rs for rs in everything if replicas_of(rs) > 0]
    only = active[0] if len(active) == 1 else None
    if not active and everything:
        only = new_rs if new_rs is not None else max(old_rs, key=_created)
    if only is not None:
        return {only["metadata"]["name"]: desired} if replicas_of(only) != desired else {}
    if new_rs is not None and _saturated(deployment, new_rs):
        return {rs["metadata"]["name"]: 0 for rs in old_rs if replicas_of(rs) != 0}
    surge, _ = fenceposts(deployment)
    allowed = desired + surge
    sizes = {rs["metadata"]["name"]: replicas_of(rs) for rs in active}
    to_add = allowed - sum(sizes.values())
    if to_add == 0:
        return {}
    if to_add > 0:  # ReplicaSetsBySizeNewer
        order = sorted(active, key=lambda rs: (-replicas_of(rs), _negated_created(rs)))
    else:  # ReplicaSetsBySizeOlder
        order = sorted(active, key=lambda rs: (-replicas_of(rs), _created(rs)))
    status_replicas = int((deployment.get("status") or {}).get("replicas", 0))
    added = 0
    for rs in order:
        if to_add == added:
            break
        name, size = rs["metadata"]["name"], replicas_of(rs)
        annotated = (rs["metadata"].get("annotations") or {}).get(MAX_REPLICAS)
        base = int(annotated) if annotated and str(annotated).isdigit() else status_replicas
        if desired == 0:
            fraction = -size
        else:
            fraction = (_round_half_away(size * allowed / base) if base else size) - size
        left = to_add - added
        part = min(fraction, left) if to_add > 0 else max(fraction, left)
        sizes[name] += part
        added += part
    if to_add != added:
        first = order[0]["metadata"]["name"]
        sizes[first] = max(0, sizes[first] + to_add - added)
    return {k: v for k, v in sizes.items() if v != replicas_of(_by_name(active, k))}


def _saturated(deployment: Obj, rs: Obj) -> bool:
    """``IsSaturated``: the new ReplicaSet is sized for and has all of ``replicas``."""
    desired = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
    return (
        replicas_of(rs) == replicas_of(deployment)
        and str(desired) == str(replicas_of(deployment))
        and _available(rs) == replicas_of(deployment)
    )


def _negated_created(rs: Obj) -> tuple[float, str]:
    created = parse_time(rs["metadata"].get("creationTimestamp"))
    return (-(created.timestamp() if created else 0.0), rs["metadata"]["name"])


def _round_half_away(x: float) -> int:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def is_complete(deployment: Obj, status: Obj) -> bool:
    """All replicas updated and available, at the current generation (``DeploymentComplete``)."""
    desired = replicas_of(deployment)
    return bool(
        status.get("updatedReplicas", 0) == desired
        and status.get("replicas", 0) == desired
        and status.get("availableReplicas", 0) == desired
        and status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
    )


def condition(status: Obj, kind: str) -> Obj | None:
    """The condition of type ``kind`` in ``status``."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            found: Obj = cond
            return found
    return None


def set_condition(
    status: Obj,
    kind: str,
    value: str,
    reason: str,
    message: str,
    at: datetime,
    *,
    refresh: bool = False,
) -> None:
    """Set a Deployment condition (``SetDeploymentCondition``).

    Same status and reason: nothing changes, unless ``refresh`` (progress was made: the
    ``lastUpdateTime`` moves, which restarts the progress deadline). Otherwise the condition
    is replaced, keeping ``lastTransitionTime`` while the status stays the same.
    """
    current = condition(status, kind)
    same = current is not None and current.get("status") == value
    if same and current is not None and current.get("reason") == reason and not refresh:
        return
    stamp = rfc3339(at)
    new = {"type": kind, "status": value, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
           "reason": reason, "message": message}  # fmt: skip
    if current is not None and current.get("status") == value:
        new["lastTransitionTime"] = current.get("lastTransitionTime", stamp)
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    status["conditions"].append(new)


def timed_out(deployment: Obj, status: Obj, at: datetime) -> bool:
    """The rollout made no progress for ``progressDeadlineSeconds`` (``DeploymentTimedOut``)."""
    deadline = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    cond = condition(status, "Progressing")
    if deadline is None or cond is None or cond.get("reason") == "NewReplicaSetAvailable":
        return False
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + timedelta(seconds=int(deadline)) < at
