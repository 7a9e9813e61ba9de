"""Rules every workload controller shares (kube-controller-manager's ``controller_utils.go``).

Pure functions on wire-form dicts: selectors, controller references, pod readiness and
availability, int-or-percent scaling, the pod-template hash; plus the adoption step
(:func:`claim`) that the ``ControllerRefManager`` of ``pkg/controller/controller_ref_manager.go``
performs before a controller counts its pods.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from opframe import label_selector_matches
from opframe.controller import Controller
from opframe.errors import Conflict, NotFound
from opframe.objectref import ObjectRef
from opframe.resource import Resource

if TYPE_CHECKING:
    from opframe.cache import Cache

R = TypeVar("R", bound=Resource)

__all__ = [
    "Obj",
    "adopting_controller",
    "available_in",
    "claim",
    "compute_hash",
    "controller_ref",
    "fnv32a",
    "is_active",
    "is_available",
    "is_ready",
    "labels_of",
    "now",
    "orphan_mapper",
    "owner_ref",
    "parse_time",
    "rfc3339",
    "safe_encode",
    "scaled_value",
    "selector_matches",
    "target_port",
]

Obj = dict[str, Any]

# pkg/util/rand's SafeEncodeString alphabet: no vowels (no words), no 0/1/3 (no look-alikes).
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


def rfc3339(t: datetime) -> str:
    """``metav1.Time`` on the wire: seconds, ``Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp from the wire, or ``None``."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def labels_of(obj: Obj) -> dict[str, str]:
    """``metadata.labels`` (empty when unset)."""
    labels: dict[str, str] = (obj.get("metadata") or {}).get("labels") or {}
    return labels


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """Whether ``labels`` match a ``LabelSelector``; an empty or missing selector matches none.

    (:func:`opframe.label_selector_matches`, plus the controllers' rule: an empty selector
    matches nothing, so a workload never adopts every pod of its namespace.)
    """
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    return label_selector_matches(selector, labels)


def controller_ref(obj: Obj) -> Obj | None:
    """The owner reference with ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            result: Obj = ref
            return result
    return None


def owner_ref(owner: Obj) -> Obj:
    """A controller reference to ``owner`` (blocking its foreground deletion)."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_ready(pod: Obj) -> bool:
    """The pod's ``Ready`` condition is ``True``."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _ready_since(pod: Obj) -> datetime | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return parse_time(cond.get("lastTransitionTime"))
    return None


def is_available(pod: Obj, min_ready_seconds: int, at: datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (podutil ``IsPodAvailable``)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = _ready_since(pod)
    return since is not None and (at - since).total_seconds() >= min_ready_seconds


def available_in(pods: Iterable[Obj], min_ready_seconds: int, at: datetime) -> float | None:
    """Seconds until the next ready-but-not-yet-available pod becomes available, if any."""
    waits = []
    for pod in pods:
        since = _ready_since(pod) if min_ready_seconds > 0 else None
        if since is not None:
            left = min_ready_seconds - (at - since).total_seconds()
            if left > 0:
                waits.append(left)
    return min(waits) if waits else None


def is_active(pod: Obj) -> bool:
    """Neither finished (Succeeded/Failed) nor being deleted (controller_utils ``IsPodActive``)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def scaled_value(value: int | str | None, total: int, *, round_up: bool, default: int) -> int:
    """An int-or-percent against ``total`` (intstr ``GetScaledValueFromIntOrPercent``).

    ``"25%"`` of 10 is 3 rounded up (maxSurge) and 2 rounded down (maxUnavailable).
    """
    if value is None:
        return default
    if isinstance(value, int):
        return value
    if value.endswith("%"):
        percent = int(value[:-1])
        exact = percent * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def fnv32a(data: bytes) -> int:
    """32-bit FNV-1a (``hash/fnv``), the hash kube-controller-manager uses for templates."""
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: each character mapped into a vowel-free alphabet."""
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in text)


def compute_hash(template: Obj, collision_count: int | None) -> str:
    """The ``pod-template-hash`` of a pod template (``controller.ComputeHash``).

    FNV-1a over a canonical rendering of the template, then over the collision count when
    there is one (so a bumped ``status.collisionCount`` gives a new name after a clash),
    printed in decimal and safely encoded. Kubernetes renders the Go struct with spew; we
    render canonical JSON: the same rule, not the same digits.
    """
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += collision_count.to_bytes(4, "little")
    h = fnv32a(data)
    return safe_encode(str(h))


def orphan_mapper(
    cache_list: Callable[[str], Iterable[Resource]], child_kinds: tuple[str, ...] = ()
) -> Callable[[Any], Iterator[ObjectRef]]:
    """Map an object without a controller to every owner candidate whose selector matches it.

    ``cache_list(namespace)`` lists the owner kind's cached objects. This is how a new
    ReplicaSet hears of an orphan pod it should adopt (``addPod`` -> ``getPodReplicaSets``).
    """

    def mapper(obj: Resource) -> Iterator[ObjectRef]:
        data = obj.to_dict()
        if controller_ref(data) is not None:
            return
        labels = labels_of(data)
        namespace = data["metadata"].get("namespace", "")
        for owner in cache_list(namespace):
            spec = owner.to_dict().get("spec") or {}
            if selector_matches(spec.get("selector"), labels):
                yield ObjectRef(namespace, owner.metadata.name or "")

    return mapper


def adopting_controller(
    kind: type[R], owned: type[Resource], reconciler: Any, name: str, cache: Cache
) -> Controller[R]:
    """The controller of ``kind``: it owns ``owned`` objects and hears of orphans of that kind
    its selectors match, to adopt them (kube's ReplicaSet and Deployment controllers both watch
    their children this way, ``addPod``/``addReplicaSet``)."""
    orphans = orphan_mapper(lambda namespace: cache.list(kind, namespace))
    return (
        Controller(for_=kind, reconciler=reconciler, name=name, max_concurrent_reconciles=4)
        .owns(owned)
        .watches(owned, orphans)
    )


async def claim(
    client: Any,
    owner: Obj,
    model: type[Resource],
    candidates: Iterable[Obj],
    selector: Obj | None,
) -> list[Obj]:
    """The objects ``owner`` controls after adopting orphans and releasing mismatches.

    ``controller_ref_manager.go`` ``ClaimObject``: an object controlled by ``owner`` (same
    uid) that still matches is kept; one that no longer matches is released (its reference
    removed); an orphan that matches is adopted (a controller reference added), unless the
    owner is being deleted; objects controlled by someone else are left alone. Returns the
    claimed objects with the references as written.
    """
    meta = owner["metadata"]
    uid = meta["uid"]
    deleting = bool(meta.get("deletionTimestamp"))
    claimed: list[Obj] = []
    for obj in candidates:
        ref = controller_ref(obj)
        matches = selector_matches(selector, labels_of(obj))
        om = obj["metadata"]
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches or deleting:
                claimed.append(obj)
                continue
            patch = {"metadata": {"uid": om["uid"], "ownerReferences": [
                {"$patch": "delete", "uid": uid}]}}  # fmt: skip
            with contextlib.suppress(NotFound, Conflict):
                await client.patch(
                    model, om["name"], patch, namespace=om.get("namespace"),
                    patch_type="strategic",
                )  # fmt: skip
            continue
        if not matches or deleting or om.get("deletionTimestamp"):
            continue
        patch = {"metadata": {"uid": om["uid"], "ownerReferences": [owner_ref(owner)]}}
        try:
            adopted = await client.patch(
                model, om["name"], patch, namespace=om.get("namespace"), patch_type="strategic"
            )
        except (NotFound, Conflict):
            continue  # gone, or changed under us: the next pass looks again
        claimed.append(adopted.to_dict())
    return claimed


def target_port(port: Obj, pod: Obj) -> int | None:
    """The container port a Service ``port`` sends to in ``pod`` (``podutil.FindPort``).

    A number is taken as is; a name is looked up among the pod's container ports of the same
    protocol; ``None`` when the pod has no such port (the pod is then left out).
    """
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    protocol = port.get("protocol", "TCP")
    for container in (pod.get("spec") or {}).get("containers") or []:
        for p in container.get("ports") or []:
            if p.get("name") == target and p.get("protocol", "TCP") == protocol:
                return int(p["containerPort"])
    return None
