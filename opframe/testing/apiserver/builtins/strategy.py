"""Create, update and delete of built-in objects: the per-kind steps in the server's order.

Order on create, as kube-apiserver runs it: scheme defaults (when the body is decoded; the
writer's managedFields are computed after this step, see :func:`default_object`), mutating
admission, the create strategy (status reset, generation), validation, then allocation
(cluster IPs). Update: scheme defaults, the update strategy (status or spec kept from the
stored object, generation), validation.
"""

from __future__ import annotations

import copy
from typing import Any

from opframe.testing.apiserver.builtins import (
    cluster,
    events,
    limits,
    networking,
    pods,
    services,
)
from opframe.testing.apiserver.builtins.context import BuiltinContext
from opframe.testing.apiserver.builtins.meta import meta_warnings, validate_object_meta
from opframe.testing.apiserver.builtins.rules import RULES
from opframe.testing.apiserver.errors import Cause, StatusError, invalid
from opframe.testing.apiserver.registry.resource_type import ResourceType

__all__ = ["default_object", "on_delete", "prepare_create", "prepare_update"]

_Obj = dict[str, Any]


def _key(rt: ResourceType) -> tuple[str, str]:
    return (rt.group, rt.plural)


def _generation_keys(key: tuple[str, str]) -> tuple[str, ...]:
    rules = RULES.get(key)
    return rules.generation if rules is not None else ()


def _meta(obj: _Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def default_object(rt: ResourceType, obj: _Obj) -> None:
    """Apply the scheme defaults of ``rt`` to ``obj`` in place (idempotent).

    These are the defaults kube-apiserver applies while decoding a request body, so they are
    part of what the writer's ``managedFields`` entry owns; call this before computing
    managedFields of an Update operation. :func:`prepare_create` and :func:`prepare_update`
    call it again.
    """
    rules = RULES.get(_key(rt))
    if rules is not None and rules.default is not None:
        rules.default(obj)
    if _key(rt) == ("", "events"):
        events.normalize_core_event(obj, complete=False)
    elif _key(rt) == ("events.k8s.io", "events"):
        converted = events.convert_event(obj, events.EVENTS_V1)
        obj.clear()
        obj.update(converted)


def _validate(rt: ResourceType, obj: _Obj, old: _Obj | None) -> list[Cause]:
    key = _key(rt)
    if key in (("", "events"), ("events.k8s.io", "events")):
        core = obj if rt.group == "" else events.convert_event(obj, events.CORE_EVENT)
        return events.validate_event(rt, core, rt.api_version, old)
    causes = validate_object_meta(rt, obj, old)
    rules = RULES.get(key)
    if rules is not None:
        causes.extend(rules.validate(obj))
    return causes


def _raise_if(rt: ResourceType, obj: _Obj, causes: list[Cause]) -> None:
    if not causes:
        return
    name = str(_meta(obj).get("name") or "")
    # The message lists each distinct error once (ErrorList.ToAggregate dedups); the causes
    # keep every occurrence.
    distinct = [
        Cause(reason="", message=m, field=f)
        for f, m in dict.fromkeys((c["field"], c["message"]) for c in causes)
    ]
    summary = invalid(rt.kind, name, distinct, rt.group)
    details = {**(summary.details or {}), "causes": list(causes)}
    raise StatusError(summary.code, summary.reason, summary.message, details)


def _reset_status_on_create(rt: ResourceType, obj: _Obj) -> None:
    key = _key(rt)
    rules = RULES.get(key)
    if rules is not None and rules.initial_status is not None:
        obj["status"] = rules.initial_status()
    if _generation_keys(key):
        _meta(obj)["generation"] = 1


def prepare_create(rt: ResourceType, obj: _Obj, ctx: BuiltinContext) -> list[str]:
    """Default, admit and validate a new built-in object in place; raise ``StatusError``
    (422 ``Invalid`` with causes, 403 from admission, 400 for undecodable values).

    ``obj`` has its final name and namespace. Returns the ``Warning`` header texts. An Event
    written through events.k8s.io/v1 stays in that form; store ``convert_event(obj, "v1")``.
    """
    key = _key(rt)
    default_object(rt, obj)
    if key == ("", "events"):
        events.normalize_core_event(obj)
    namespace = str(_meta(obj).get("namespace") or "")
    if key == ("", "pods"):
        limits.admit_pod_limits(obj, _list(ctx, "limitranges", namespace))
        pods.admit_pod(obj, namespace, ctx)
        pods.prepare_pod_create(obj)
    else:
        _reset_status_on_create(rt, obj)
    rules = RULES.get(key)
    if rules is not None and rules.prepare_create is not None:
        rules.prepare_create(obj)
    if key == ("networking.k8s.io", "ingresses"):
        networking.default_ingress_class_name(obj, _list(ctx, "networking.k8s.io/ingressclasses"))
    _raise_if(rt, obj, _validate(rt, obj, None))
    if key == ("", "services"):
        _raise_if(rt, obj, services.allocate_service_ips(obj, ctx))
    return meta_warnings(obj)


def _list(ctx: BuiltinContext, plural: str, namespace: str = "") -> list[_Obj]:
    # ``list`` is optional on a context (as ``reserve_cluster_ip`` is).
    lister = getattr(ctx, "list", None)
    return list(lister(plural, namespace)) if lister is not None else []


def _spec_changed(rt: ResourceType, new: _Obj, old: _Obj) -> bool:
    keys = _generation_keys(_key(rt))
    if any(k != "annotations" and new.get(k) != old.get(k) for k in keys):
        return True
    if "annotations" in keys:
        return bool(_meta(new).get("annotations") != (old.get("metadata") or {}).get("annotations"))
    return False


def _status_update(rt: ResourceType, new: _Obj, old: _Obj) -> None:
    for k in list(new):
        if k not in ("metadata", "status", "kind", "apiVersion"):
            del new[k]
    for k, v in old.items():
        if k not in ("metadata", "status", "kind", "apiVersion"):
            new[k] = copy.deepcopy(v)
    old_meta = old.get("metadata") or {}
    if _key(rt) == ("", "pods"):
        pods.prepare_pod_status_update(new, old)
        # Old kubelets corrupted owner references through /status; the strategy keeps them.
        _copy_meta(new, old_meta, "ownerReferences")
    elif _key(rt) == ("", "namespaces"):
        cluster.prepare_namespace_update(new, old, "status")
    elif rt.group == "apps":
        # The apps status strategies keep labels: /status must not change what selects.
        _copy_meta(new, old_meta, "labels")


def _copy_meta(new: _Obj, old_meta: dict[str, Any], key: str) -> None:
    if key in old_meta:
        _meta(new)[key] = copy.deepcopy(old_meta[key])
    else:
        _meta(new).pop(key, None)


def _keep_status(new: _Obj, old: _Obj) -> None:
    # Writes to the main endpoint never change the status of kinds with a /status subresource.
    if "status" in old:
        new["status"] = copy.deepcopy(old["status"])
    else:
        new.pop("status", None)


def _main_update(rt: ResourceType, new: _Obj, old: _Obj, ctx: BuiltinContext) -> None:
    key = _key(rt)
    if key == ("", "pods"):
        pods.prepare_pod_update(new, old)
        _keep_status(new, old)
    elif key == ("", "services"):
        services.prepare_service_update(new, old, ctx)
    elif key == ("", "namespaces"):
        cluster.prepare_namespace_update(new, old, "")
    elif "status" in rt.subresources and key != ("", "nodes"):
        _keep_status(new, old)
    elif key == ("", "nodes"):
        new["status"] = copy.deepcopy(old.get("status") or {})


def _update_causes(rt: ResourceType, new: _Obj, old: _Obj) -> list[Cause]:
    key = _key(rt)
    rules = RULES.get(key)
    if rules is not None and rules.validate_update is not None:
        return rules.validate_update(new, old)
    return []


def prepare_update(
    rt: ResourceType, new: _Obj, old: _Obj, ctx: BuiltinContext, subresource: str = ""
) -> list[str]:
    """Default and validate an update of a built-in object in place (``new`` replaces
    ``old``; ``subresource`` is ``""``, ``status``, ``scale`` or ``finalize``).

    The main endpoint keeps the stored status of kinds with a status subresource; ``/status``
    keeps everything but the status. Generation is carried from ``old`` and bumped when the
    spec changes (Deployments: also annotations). Raises ``StatusError`` like
    :func:`prepare_create`; returns warnings.
    """
    key = _key(rt)
    default_object(rt, new)
    if key == ("", "events"):
        events.normalize_core_event(new)
    old_meta = old.get("metadata") or {}
    if _generation_keys(key) and "generation" in old_meta:
        _meta(new)["generation"] = old_meta["generation"]
    rules = RULES.get(key)
    if subresource == "status" and "status" in rt.subresources:
        _status_update(rt, new, old)
        causes = validate_object_meta(rt, new, old)
        if rules is not None and rules.validate_status is not None:
            causes.extend(rules.validate_status(new))
        _raise_if(rt, new, causes)
        return []
    if subresource == "finalize" and key == ("", "namespaces"):
        cluster.prepare_namespace_update(new, old, "finalize")
        _raise_if(rt, new, validate_object_meta(rt, new, old) + cluster.validate_namespace(new))
        return []
    _main_update(rt, new, old, ctx)
    if rules is not None and rules.prepare_update is not None:
        rules.prepare_update(new, old)
    causes = _validate(rt, new, old)
    if key in (("", "events"), ("events.k8s.io", "events")):
        causes = validate_object_meta(rt, new, old) + causes
    _raise_if(rt, new, causes + _update_causes(rt, new, old))
    if _generation_keys(key) and _spec_changed(rt, new, old):
        _meta(new)["generation"] = int(old_meta.get("generation") or 0) + 1
    return meta_warnings(new)


def on_delete(rt: ResourceType, obj: _Obj, ctx: BuiltinContext) -> None:
    """Release what the object held when it is finally removed (a Service's cluster IPs)."""
    if _key(rt) == ("", "services"):
        services.release_service_ips(obj, ctx)
