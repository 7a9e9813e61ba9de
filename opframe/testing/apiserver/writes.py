"""Write semantics shared by every kind: create, update, delete.

These are kube-apiserver's generic registry rules: server-set metadata (uid,
creationTimestamp, resourceVersion, generation), generateName, optimistic concurrency, no-op
updates, the status/spec split of subresources, finalizers and deletionTimestamp, and which
DELETE answers carry the object. Kind-specific defaulting and validation come from the pure
modules through ``_pure``; the REST layer (``handlers``) decodes requests and calls in here,
and so do the in-process controllers (garbage collector, CRD and namespace controllers).
"""

from __future__ import annotations

import copy
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opframe.testing.apiserver import _pure
from opframe.testing.apiserver.registry import Registry, storage_key
from opframe.testing.apiserver.status import (
    Cause,
    bad_request,
    conflict,
    forbidden,
    invalid,
    not_found,
)
from opframe.testing.apiserver.storage import Store, StoredObject
from opframe.testing.apiserver.types import ResourceType

__all__ = ["DeleteOptions", "WriteOptions", "Writer", "now", "rfc3339"]

#: Built-ins whose objects carry metadata.generation (bumped on spec changes).
GENERATION = frozenset(
    {
        "/pods",
        "/replicationcontrollers",
        "apps/deployments",
        "apps/statefulsets",
        "apps/replicasets",
        "apps/daemonsets",
        "batch/jobs",
        "batch/cronjobs",
        "policy/poddisruptionbudgets",
        "networking.k8s.io/ingresses",
        "networking.k8s.io/networkpolicies",
        "autoscaling/horizontalpodautoscalers",
        "apiextensions.k8s.io/customresourcedefinitions",
    }
)
#: Built-ins whose DELETE answers with the object rather than a Status.
RETURNS_OBJECT = frozenset(
    {"/pods", "/services", "/namespaces", "apiextensions.k8s.io/customresourcedefinitions"}
)
#: Built-ins that PUT may create.
CREATE_ON_UPDATE = frozenset({"/events", "/endpoints", "events.k8s.io/events", "/nodes"})

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> datetime:
    """The current time (UTC, whole seconds as the API server stores them)."""
    return datetime.now(UTC).replace(microsecond=0)


def rfc3339(t: datetime) -> str:
    """``2024-01-01T00:00:00Z``."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WriteOptions:
    """Options of a create/update/patch: field manager, dry run, field validation."""

    manager: str = ""
    dry_run: bool = False
    field_validation: str = "Warn"
    subresource: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class DeleteOptions:
    """Options of a delete."""

    propagation: str = ""
    grace_seconds: int | None = None
    precondition_uid: str = ""
    precondition_rv: str = ""
    dry_run: bool = False


def _qualified_kind(rt: ResourceType) -> str:
    return rt.kind


class Writer:
    """Applies writes to the store with the API server's generic semantics."""

    def __init__(self, store: Store, registry: Registry, ctx: Any) -> None:
        self.store = store
        self.registry = registry
        self.ctx = ctx
        #: Called after a CRD object is written (registration) or removed.
        self.crd_hooks: list[Callable[[dict[str, Any], bool], None]] = []
        #: Called with every object removed from the store (garbage collector).
        self.delete_hooks: list[Callable[[ResourceType, dict[str, Any]], None]] = []
        #: Prepares CRD objects (defaults + validation); set by the CRD controller.
        self.crd_prepare: Callable[[dict[str, Any], dict[str, Any] | None], None] | None = None
        #: Deletes CRD objects (Terminating, then cleanup); set by the CRD controller.
        self.crd_delete: Callable[[StoredObject, DeleteOptions], dict[str, Any]] | None = None

    # -- helpers ---------------------------------------------------------------------------

    def served(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as ``rt``'s version serves it."""
        if obj.get("apiVersion") == rt.api_version:
            return obj
        if rt.group == "events.k8s.io" and _pure.event_convert is not None:
            return _pure.event_convert(obj, rt.api_version)
        out = dict(obj)
        out["apiVersion"] = rt.api_version
        return out

    def _to_storage(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if rt.group == "events.k8s.io" and _pure.event_convert is not None:
            return _pure.event_convert(obj, "v1")
        if rt.custom and rt.storage_version and rt.storage_version != rt.version:
            obj["apiVersion"] = f"{rt.group}/{rt.storage_version}"
        return obj

    def has_generation(self, rt: ResourceType) -> bool:
        """Whether objects of ``rt`` carry metadata.generation."""
        return rt.custom or storage_key(rt) in GENERATION

    def check_namespace(self, namespace: str) -> None:
        """404 if the namespace is missing, 403 if it is being deleted."""
        ns = self.store.get("/namespaces", "", namespace)
        if ns is None:
            raise not_found("namespaces", namespace)
        if ns.meta.get("deletionTimestamp"):
            raise forbidden(
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
                {"name": namespace, "kind": "namespaces"},
            )

    # -- create ----------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        namespace: str,
        opts: WriteOptions,
        *,
        managed_fields_done: bool = False,
    ) -> dict[str, Any]:
        """Create ``obj``; returns the stored object (without resourceVersion on dry run)."""
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        for k in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
        ):
            meta.pop(k, None)
        if not meta.get("name") and meta.get("generateName"):
            prefix = str(meta["generateName"])[:58]
            meta["name"] = prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
        if rt.namespaced:
            self.check_namespace(namespace)
        self._prepare(rt, obj, None, opts)
        meta = obj["metadata"]  # the strategies may have replaced the metadata dict
        key = storage_key(rt)
        name = meta.get("name", "")
        if self.store.get(key, namespace if rt.namespaced else "", name) is not None:
            from opframe.testing.apiserver.status import already_exists

            raise already_exists(rt.plural, name, rt.group)
        t = now()
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = rfc3339(t)
        if self.has_generation(rt):
            meta["generation"] = 1
        if not managed_fields_done:
            _pure.update_managed_fields(
                None,
                obj,
                manager=opts.manager,
                operation="Update",
                api_version=rt.api_version,
                subresource="",
                time=rfc3339(t),
            )
        if opts.dry_run:
            return obj
        so = self.store.put(storage_key(rt), self._to_storage(rt, obj), created=True)
        if storage_key(rt) == "apiextensions.k8s.io/customresourcedefinitions":
            for hook in self.crd_hooks:
                hook(so.obj, False)
        return self.served(rt, so.obj)

    # -- validation ------------------------------------------------------------------------

    def _prepare(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        opts: WriteOptions,
    ) -> None:
        """Kind checks, status split, pruning, defaulting and validation."""
        kind = obj.get("kind")
        name = obj["metadata"].get("name", "")
        if rt.custom:
            self._prepare_custom(rt, obj, old, opts, kind, name)
            return
        if kind and kind != rt.kind:
            api_version = obj.get("apiVersion", "")
            version = api_version.rpartition("/")[2]
            raise bad_request(
                f'{kind} in version "{version}" cannot be handled as a {rt.kind}: converting '
                f"({version}.{kind}) to ({rt.group or 'core'}.{rt.kind}): unknown conversion"
            )
        obj["kind"] = rt.kind
        obj["apiVersion"] = rt.api_version
        if storage_key(rt) == "apiextensions.k8s.io/customresourcedefinitions":
            if self.crd_prepare is not None:
                self.crd_prepare(obj, old)
            return
        if old is None:
            warnings = _pure.builtin_prepare_create(rt, obj, self.ctx)
        else:
            warnings = _pure.builtin_prepare_update(rt, obj, old, self.ctx, opts.subresource)
        self._field_warnings(rt, warnings, opts)

    def _field_warnings(self, rt: ResourceType, warnings: list[str], opts: WriteOptions) -> None:
        unknown = [w for w in warnings if w.startswith("unknown field ")]
        if unknown and opts.field_validation == "Strict":
            raise bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                "strict decoding error: " + ", ".join(unknown)
            )
        if opts.field_validation == "Ignore":
            warnings = [w for w in warnings if not w.startswith("unknown field ")]
        opts.warnings.extend(warnings)

    def _prepare_custom(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        opts: WriteOptions,
        kind: Any,
        name: str,
    ) -> None:
        if kind != rt.kind:
            bad = str(kind or "")
            raise invalid(
                bad,
                name,
                [
                    Cause(
                        reason="FieldValueInvalid",
                        message=f'Invalid value: "{bad}": must be {rt.kind}',
                        field="kind",
                    )
                ],
                rt.group,
            )
        obj["apiVersion"] = rt.api_version
        has_status = "status" in rt.subresources
        if has_status and old is None and opts.subresource != "status":
            obj.pop("status", None)
        elif has_status and old is not None:
            if opts.subresource == "status":
                managed = obj["metadata"].get("managedFields")
                status = obj.get("status")
                obj.clear()
                obj.update(copy.deepcopy(old))
                obj["apiVersion"] = rt.api_version
                if managed is not None:
                    obj["metadata"]["managedFields"] = managed
                if status is None:
                    obj.pop("status", None)
                else:
                    obj["status"] = status
            elif "status" in old:
                obj["status"] = copy.deepcopy(old["status"])
            else:
                obj.pop("status", None)
        schema = rt.schema or {}
        unknown = _pure.prune(obj, schema)
        if unknown:
            self._field_warnings(rt, [f'unknown field "{u}"' for u in unknown], opts)
        causes = list(_pure.validate_object_meta(rt, obj, old))
        _pure.apply_defaults(obj, schema)
        causes += _pure.validate(obj, schema, old=old)
        have = {c["field"] for c in causes}
        causes += [c for c in _scale_causes(rt, obj) if c["field"] not in have]
        if causes:
            raise invalid(rt.kind, name, causes, rt.group)

    # -- update ----------------------------------------------------------------------------

    def update(
        self,
        rt: ResourceType,
        new: dict[str, Any],
        current: StoredObject,
        opts: WriteOptions,
        *,
        managed_fields_done: bool = False,
    ) -> dict[str, Any]:
        """Replace ``current`` by ``new``; no-op updates keep the resourceVersion."""
        old = current.obj
        old_meta = current.meta
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        name = old_meta["name"]
        rv = meta.get("resourceVersion")
        if rv and rv != old_meta.get("resourceVersion"):
            raise conflict(rt.plural, name, rt.group)
        for k in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        old_served = self.served(rt, old)
        self._prepare(rt, new, old_served, opts)
        meta = new["metadata"]  # the strategies may have replaced the metadata dict
        self._check_finalizers(rt, new, old_served)
        if "generation" in old_meta and _spec_changed(rt, new, old_served):
            meta["generation"] = int(old_meta["generation"]) + 1
        if not managed_fields_done:
            _pure.update_managed_fields(
                old_served,
                new,
                manager=opts.manager,
                operation="Update",
                api_version=rt.api_version,
                subresource=opts.subresource,
                time=rfc3339(now()),
            )
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if _same(new, old_served):
            return old_served
        if meta.get("deletionTimestamp") and not _has_finalizers(new):
            if not opts.dry_run:
                self.remove(rt, current)
            return new
        if opts.dry_run:
            return new
        so = self.store.put(storage_key(rt), self._to_storage(rt, new), created=False)
        if storage_key(rt) == "apiextensions.k8s.io/customresourcedefinitions":
            for hook in self.crd_hooks:
                hook(so.obj, False)
        return self.served(rt, so.obj)

    @staticmethod
    def _check_finalizers(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> None:
        if not old["metadata"].get("deletionTimestamp"):
            return
        before = set(old["metadata"].get("finalizers") or [])
        added = [f for f in new["metadata"].get("finalizers") or [] if f not in before]
        if not added:
            return
        listed = ", ".join(f'"{f}"' for f in added)
        msg = (
            "Forbidden: no new finalizers can be added if the object is being deleted, found new "
            f"finalizers []string{{{listed}}}"
        )
        cause = Cause(reason="FieldValueForbidden", message=msg, field="metadata.finalizers")
        # The real server runs this check twice (object meta and strategy) and reports both.
        raise invalid(rt.kind, new["metadata"].get("name", ""), [cause, dict(cause)], rt.group)  # type: ignore[list-item]

    # -- delete ----------------------------------------------------------------------------

    def delete(
        self, rt: ResourceType, current: StoredObject, opts: DeleteOptions
    ) -> tuple[dict[str, Any], bool]:
        """Delete (or start deleting) ``current``; returns (object, removed now)."""
        meta = current.meta
        name = meta["name"]
        if opts.precondition_uid and opts.precondition_uid != meta.get("uid"):
            raise conflict(
                rt.kind,
                name,
                rt.group,
                f"Precondition failed: UID in precondition: {opts.precondition_uid}, UID in "
                f"object meta: {meta.get('uid')}",
            )
        if opts.precondition_rv and opts.precondition_rv != meta.get("resourceVersion"):
            raise conflict(
                rt.kind,
                name,
                rt.group,
                f"the ResourceVersion in the precondition ({opts.precondition_rv}) does not match "
                f"the ResourceVersion in record ({meta.get('resourceVersion')}). The object might "
                "have been modified",
            )
        old_served = self.served(rt, current.obj)
        if meta.get("deletionTimestamp"):
            return old_served, False
        key = storage_key(rt)
        if key == "apiextensions.k8s.io/customresourcedefinitions" and self.crd_delete:
            return self.crd_delete(current, opts), False
        finalizers = list(meta.get("finalizers") or [])
        propagation = opts.propagation
        if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        grace = 0
        if key == "/pods" and (current.obj.get("spec") or {}).get("nodeName"):
            phase = (current.obj.get("status") or {}).get("phase")
            if phase not in ("Succeeded", "Failed"):
                spec_grace = (current.obj.get("spec") or {}).get("terminationGracePeriodSeconds")
                grace = opts.grace_seconds if opts.grace_seconds is not None else spec_grace
                grace = 30 if grace is None else int(grace)
        graceful = key == "/pods" or bool(finalizers) or grace > 0
        if key == "/namespaces":
            graceful = True
        if not graceful:
            if opts.dry_run:
                return old_served, True
            self.remove(rt, current)
            return old_served, True
        new = copy.deepcopy(current.obj)
        nm = new["metadata"]
        t = now()
        nm["deletionTimestamp"] = rfc3339(t + timedelta(seconds=grace))
        nm["deletionGracePeriodSeconds"] = grace
        if finalizers:
            nm["finalizers"] = finalizers
        if "generation" in nm:
            nm["generation"] = int(nm["generation"]) + 1
        if key == "/namespaces":
            new.setdefault("status", {})["phase"] = "Terminating"
        if opts.dry_run:
            return self.served(rt, new), False
        so = self.store.put(key, new, created=False)
        if key == "/pods" and grace == 0 and not finalizers:
            self.remove(rt, so)
            return self.served(rt, so.obj), True
        return self.served(rt, so.obj), False

    def remove(self, rt: ResourceType, current: StoredObject) -> None:
        """Remove an object from the store now (finalizers done), telling the hooks."""
        meta = current.meta
        gone = self.store.remove(storage_key(rt), meta.get("namespace", ""), meta["name"])
        if gone is None:
            return
        if not rt.custom:
            _pure.builtin_on_delete(rt, gone.obj, self.ctx)
        if storage_key(rt) == "apiextensions.k8s.io/customresourcedefinitions":
            for hook in self.crd_hooks:
                hook(gone.obj, True)
        for dhook in self.delete_hooks:
            dhook(rt, gone.obj)


def _has_finalizers(obj: dict[str, Any]) -> bool:
    if obj["metadata"].get("finalizers"):
        return True
    return obj.get("kind") == "Namespace" and bool((obj.get("spec") or {}).get("finalizers"))


def _spec_changed(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> bool:
    skip = {"metadata", "kind", "apiVersion"}
    if not rt.custom or "status" in rt.subresources:
        skip.add("status")
    keys = (set(new) | set(old)) - skip
    return any(new.get(k) != old.get(k) for k in keys)


def _strip_times(meta: dict[str, Any]) -> dict[str, Any]:
    mf = meta.get("managedFields")
    if not mf:
        return meta
    out = dict(meta)
    out["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in mf]
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for k, v in a.items():
        if k == "metadata":
            if _strip_times(v) != _strip_times(b[k]):
                return False
        elif v != b[k]:
            return False
    return True


def _go_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return "<nil>"


def _go_print(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, list):
        return "[" + " ".join(_go_print(i) for i in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_print(x)}" for k, x in sorted(v.items())) + "]"
    return str(v)


def _scale_causes(rt: ResourceType, obj: dict[str, Any]) -> list[Cause]:
    """The checks of a CRD's scale subresource paths (spec and status replicas)."""
    if not rt.scale:
        return []
    out: list[Cause] = []
    for path_key in ("specReplicasPath", "statusReplicasPath"):
        path = rt.scale.get(path_key)
        if not path:
            continue
        parts = path.lstrip(".").split(".")
        jp = "." + ".".join(parts)
        cur: Any = obj
        err = ""
        value: Any = 0
        for i, p in enumerate(parts):
            if not isinstance(cur, dict):
                err = (
                    f"{jp} accessor error: {_go_print(cur)} is of the type {_go_type(cur)}, "
                    "expected map[string]interface{}"
                )
                break
            if p not in cur:
                cur = None
                break
            cur = cur[p]
            if i == len(parts) - 1:
                if isinstance(cur, bool) or not isinstance(cur, int):
                    if isinstance(cur, float) and cur.is_integer():
                        value = int(cur)
                    else:
                        err = (
                            f"{jp} accessor error: {_go_print(cur)} is of the type "
                            f"{_go_type(cur)}, expected int64"
                        )
                else:
                    value = cur
        if err:
            out.append(
                Cause(reason="FieldValueInvalid", message=f"Invalid value: 0: {err}", field=path)
            )
        elif cur is not None and value < 0:
            out.append(
                Cause(
                    reason="FieldValueInvalid",
                    message=f"Invalid value: {value}: should be a non-negative integer",
                    field=path,
                )
            )
    return out
