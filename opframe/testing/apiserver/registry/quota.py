"""The resource quota controller: ``status.hard`` and ``status.used`` of every ResourceQuota.

kube-apiserver leaves a quota's status empty; kube-controller-manager's resource quota
controller (``pkg/controller/resourcequota``, with the evaluators of
``pkg/quota/v1/evaluator/core``) fills it in and keeps it current. This one recomputes the
quotas of a namespace after any write there, off the request path. It counts; it does not
refuse writes over a quota (that is the ResourceQuota admission plugin, not run here).

:func:`quota_usage` is the pure part: the ``used`` map of one quota over a namespace's objects.

Example::

    used = quota_usage({"spec": {"hard": {"pods": "10"}}}, {"/pods": [pod]})
    assert used == {"pods": "1"}
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from opframe.testing.apiserver.builtins.quantity import (
    QuantityError,
    canonical_quantity,
    parse_quantity,
)
from opframe.testing.apiserver.errors import StatusError
from opframe.testing.apiserver.registry.resources import Registry, storage_key
from opframe.testing.apiserver.registry.storage import Store, WatchEvent
from opframe.testing.apiserver.registry.writes import WriteOptions, Writer

__all__ = ["QuotaController", "quota_usage"]

log = logging.getLogger(__name__)

_QUOTAS = "/resourcequotas"
_MANAGER = "kube-controller-manager"
# Object counts under their legacy names (``pods``) as well as ``count/<resource>``.
_LEGACY = {
    "pods": "/pods", "services": "/services", "configmaps": "/configmaps",
    "secrets": "/secrets", "persistentvolumeclaims": "/persistentvolumeclaims",
    "replicationcontrollers": "/replicationcontrollers", "resourcequotas": "/resourcequotas",
}  # fmt: skip
_POD_RESOURCES = {
    "cpu": ("requests", "cpu"), "memory": ("requests", "memory"),
    "requests.cpu": ("requests", "cpu"), "requests.memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory"),
    "ephemeral-storage": ("requests", "ephemeral-storage"),
    "requests.ephemeral-storage": ("requests", "ephemeral-storage"),
    "limits.ephemeral-storage": ("limits", "ephemeral-storage"),
}  # fmt: skip
_BINARY = (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10))


def _format(value: Fraction, binary: bool) -> str:
    if value == 0:
        return "0"
    if binary and value.denominator == 1:
        for suffix, bits in _BINARY:
            if value % (2**bits) == 0:
                return f"{value // 2**bits}{suffix}"
        return str(value.numerator)
    nanos = value * 10**9
    return canonical_quantity(f"{-(-nanos.numerator // nanos.denominator)}n")


def _amount(text: Any) -> tuple[Fraction, bool]:
    try:
        value, fmt = parse_quantity(str(text))
    except QuantityError:
        return Fraction(0), False
    return value, fmt == "BinarySI"


def _terminal(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _pod_matches(pod: dict[str, Any], scopes: list[str]) -> bool:
    spec = pod.get("spec") or {}
    qos = (pod.get("status") or {}).get("qosClass")
    for scope in scopes:
        terminating = spec.get("activeDeadlineSeconds") is not None
        if scope == "Terminating" and not terminating:
            return False
        if scope == "NotTerminating" and terminating:
            return False
        if scope == "BestEffort" and qos != "BestEffort":
            return False
        if scope == "NotBestEffort" and qos == "BestEffort":
            return False
    return True


def _pod_total(pod: dict[str, Any], part: str, name: str) -> tuple[Fraction, bool]:
    """A pod's effective request or limit: the larger of its containers' sum and its biggest
    init container, plus its overhead (``resourcehelper.PodRequests``)."""
    spec = pod.get("spec") or {}
    binary = False

    def of(container: Any) -> Fraction:
        nonlocal binary
        value = ((container or {}).get("resources") or {}).get(part, {}).get(name)
        if value is None:
            return Fraction(0)
        amount, is_binary = _amount(value)
        binary = binary or is_binary
        return amount

    total = sum((of(c) for c in spec.get("containers") or []), Fraction(0))
    init = max((of(c) for c in spec.get("initContainers") or []), default=Fraction(0))
    overhead = (spec.get("overhead") or {}).get(name)
    extra = _amount(overhead)[0] if overhead is not None else Fraction(0)
    return max(total, init) + extra, binary


def quota_usage(
    quota: dict[str, Any], objects: Mapping[str, list[dict[str, Any]]]
) -> dict[str, str]:
    """The ``status.used`` of ``quota`` over one namespace's ``objects`` (by storage key:
    ``/pods``, ``apps/deployments``...): one entry per resource of ``spec.hard``."""
    spec = quota.get("spec") or {}
    scopes = list(spec.get("scopes") or [])
    pods = [p for p in objects.get("/pods", []) if not _terminal(p) and _pod_matches(p, scopes)]
    used: dict[str, str] = {}
    for resource in spec.get("hard") or {}:
        if resource in ("pods", "count/pods"):
            used[resource] = str(len(pods))
        elif resource in _LEGACY:
            used[resource] = str(len(objects.get(_LEGACY[resource], [])))
        elif resource.startswith("count/"):
            plural, _, group = resource[len("count/") :].partition(".")
            used[resource] = str(len(objects.get(f"{group}/{plural}", [])))
        elif resource in _POD_RESOURCES:
            part, name = _POD_RESOURCES[resource]
            totals = [_pod_total(p, part, name) for p in pods]
            value = sum((t[0] for t in totals), Fraction(0))
            used[resource] = _format(value, any(t[1] for t in totals))
        elif resource == "services.nodeports":
            used[resource] = str(sum(
                1 for s in objects.get("/services", []) for port in (s.get("spec") or {})
                .get("ports") or [] if port.get("nodePort")
            ))  # fmt: skip
        elif resource == "services.loadbalancers":
            used[resource] = str(sum(
                1 for s in objects.get("/services", [])
                if (s.get("spec") or {}).get("type") == "LoadBalancer"
            ))  # fmt: skip
        elif resource == "requests.storage" or resource.endswith(
            ".storageclass.storage.k8s.io/requests.storage"
        ):
            wanted = resource.split(".storageclass.", 1)[0] if "storageclass" in resource else None
            claims = [
                c for c in objects.get("/persistentvolumeclaims", [])
                if wanted is None or (c.get("spec") or {}).get("storageClassName") == wanted
            ]  # fmt: skip
            amounts = [
                _amount(((c.get("spec") or {}).get("resources") or {}).get("requests", {})
                        .get("storage", "0"))
                for c in claims
            ]  # fmt: skip
            used[resource] = _format(sum((a[0] for a in amounts), Fraction(0)),
                                     any(a[1] for a in amounts))  # fmt: skip
        else:
            used[resource] = "0"
    return used


class QuotaController:
    """Keeps ``status`` of the ResourceQuotas of a store current (``hard`` from the spec,
    ``used`` from :func:`quota_usage`), as kube-controller-manager does."""

    def __init__(self, store: Store, registry: Registry, writer: Writer) -> None:
        self.store = store
        self.registry = registry
        self.writer = writer
        self._dirty: set[str] = set()
        self._scheduled = False
        self._closed = False
        store.on_write.append(self._on_write)
        for so in list(store.iter_sorted(_QUOTAS, None)):
            self._mark(str(so.meta.get("namespace") or ""))

    def close(self) -> None:
        """Stop recomputing."""
        self._closed = True
        self._dirty.clear()

    def _on_write(self, ev: WatchEvent) -> None:
        namespace = str(ev.obj.meta.get("namespace") or "")
        if not namespace:
            return
        if ev.key == _QUOTAS and ev.type == "MODIFIED" and ev.prev is not None:
            # Our own status write: recompute only if the spec changed.
            if (ev.prev.obj.get("spec") or {}) == (ev.obj.obj.get("spec") or {}):
                return
        self._mark(namespace)

    def _mark(self, namespace: str) -> None:
        if self._closed or not namespace:
            return
        if not any(True for _ in self.store.iter_sorted(_QUOTAS, namespace)):
            return
        self._dirty.add(namespace)
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._run()
            return
        self._scheduled = True
        loop.call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        while self._dirty and not self._closed:
            namespace = self._dirty.pop()
            try:
                self._sync(namespace)
            except StatusError as e:
                log.debug("quota sync of %s failed: %s", namespace, e.message)
            except Exception:
                log.exception("quota sync of %s failed", namespace)

    def _objects(self, namespace: str) -> dict[str, list[dict[str, Any]]]:
        keys = {storage_key(rt) for rt in self.registry.all_types() if rt.namespaced}
        return {
            key: [so.obj for so in self.store.iter_sorted(key, namespace)
                  if not so.meta.get("deletionTimestamp") or key != "/pods"]
            for key in keys
        }  # fmt: skip

    def _sync(self, namespace: str) -> None:
        rt = self.registry.find_plural("resourcequotas")
        if rt is None:
            return
        objects = self._objects(namespace)
        for so in list(self.store.iter_sorted(_QUOTAS, namespace)):
            if so.meta.get("deletionTimestamp"):
                continue
            hard = copy.deepcopy((so.obj.get("spec") or {}).get("hard") or {})
            status = {"hard": hard, "used": quota_usage(so.obj, objects)}
            if so.obj.get("status") == status:
                continue
            new = copy.deepcopy(self.writer.served(rt, so.obj))
            new["status"] = status
            self.writer.update(rt, new, so, WriteOptions(manager=_MANAGER, subresource="status"))
