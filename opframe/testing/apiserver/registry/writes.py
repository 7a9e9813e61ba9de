"""Write semantics shared by every kind: create, update, delete.

These are kube-apiserver's generic registry rules: server-set metadata (uid,
creationTimestamp, resourceVersion, generation), generateName, optimistic concurrency, no-op
updates, the status/spec split of subresources, finalizers and deletionTimestamp, and which
DELETE answers carry the object. Kind-specific defaulting and validation come from the pure
modules (``schema``, ``apply``, ``builtins``); the REST layer (``handlers``) decodes requests
and calls in here, and so do the in-process controllers (garbage collector, CRD and namespace
controllers).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opframe.testing.apiserver import builtins
from opframe.testing.apiserver import fielderrors as fe
from opframe.testing.apiserver.errors import (
    Cause,
    StatusError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    invalid,
    not_found,
)
from opframe.testing.apiserver.fielderrors import invalid as field_invalid
from opframe.testing.apiserver.merge import field_manager
from opframe.testing.apiserver.merge.patch import json_copy
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import Registry, storage_key
from opframe.testing.apiserver.registry.storage import Store, StoredObject
from opframe.testing.apiserver.schema import builtin_decoding, custom_resource

__all__ = ["CRD_KEY", "DeleteOptions", "WriteOptions", "Writer", "now", "rfc3339"]

#: Storage key of CustomResourceDefinitions.
CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"
#: Built-ins whose DELETE answers with the object rather than a Status.
RETURNS_OBJECT = frozenset(
    {"/pods", "/services", "/namespaces", "/resourcequotas", "/serviceaccounts", CRD_KEY}
)
#: Built-ins that PUT may create.
CREATE_ON_UPDATE = frozenset({"/events", "/endpoints", "events.k8s.io/events", "/nodes"})

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_MISSING: Any = object()
#: Metadata the server owns; a client's values are dropped on create.
_SYSTEM_META = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)
#: Metadata an update cannot change; the stored values are kept.
_IMMUTABLE_META = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)


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
    #: The JSON body as sent (strict decoding finds duplicate fields in it); empty otherwise.
    raw_body: bytes = b""
    #: The patch of a patch request (strict decoding errors quote it).
    patch: Any = None


@dataclass
class DeleteOptions:
    """Options of a delete."""

    propagation: str = ""
    grace_seconds: int | None = None
    precondition_uid: str = ""
    precondition_rv: str = ""
    dry_run: bool = False


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
        self.crd_prepare: Callable[[dict[str, Any], dict[str, Any] | None, str], None] | None = None
        #: Deletes CRD objects (Terminating, then cleanup); set by the CRD controller.
        self.crd_delete: Callable[[StoredObject, DeleteOptions], dict[str, Any]] | None = None
        #: Admission checks run before the strategy (RBAC escalation, pod security); they
        #: raise a StatusError to refuse the write, or add ``opts.warnings``.
        self.admission_hooks: list[
            Callable[[ResourceType, dict[str, Any], dict[str, Any] | None, WriteOptions], None]
        ] = []

    # -- helpers ---------------------------------------------------------------------------

    def served(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as ``rt``'s version serves it."""
        if obj.get("apiVersion") == rt.api_version:
            return obj
        if rt.group == "events.k8s.io":
            return builtins.convert_event(obj, rt.api_version)
        convert = rt.extra.get("convert")
        if convert is not None:
            return convert(obj, rt.api_version)  # type: ignore[no-any-return]
        out = dict(obj)
        out["apiVersion"] = rt.api_version
        return out

    def _to_storage(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if rt.group == "events.k8s.io":
            return builtins.convert_event(obj, "v1")
        convert = rt.extra.get("convert")
        if convert is not None and rt.storage_version != rt.version:
            return convert(obj, f"{rt.group}/{rt.storage_version}")  # type: ignore[no-any-return]
        if rt.custom and rt.storage_version and rt.storage_version != rt.version:
            obj["apiVersion"] = f"{rt.group}/{rt.storage_version}"
        return obj

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
        for k in _SYSTEM_META:
            meta.pop(k, None)
        if not meta.get("name") and meta.get("generateName"):
            prefix = str(meta["generateName"])[:58]
            meta["name"] = prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
        if rt.namespaced:
            self.check_namespace(namespace)
        self._decode(rt, obj, opts)
        t = rfc3339(now())
        if not managed_fields_done:
            self._track(rt, None, obj, opts, t)
        # The uid exists before the strategy runs (a Job's generated selector names it).
        obj["metadata"]["uid"] = str(uuid.uuid4())
        self._admit(rt, obj, None, opts)
        # From here the strategy may hold allocations (a Service's cluster IPs); a create that
        # does not store the object gives them back, as the real registry reverts its
        # allocation transaction on failure and on dry run (pkg/registry/core/service/storage).
        stored = False
        try:
            meta = obj["metadata"]  # the strategies may have replaced the metadata dict
            key = storage_key(rt)
            name = meta.get("name", "")
            if self.store.get(key, namespace if rt.namespaced else "", name) is not None:
                raise already_exists(rt.plural, name, rt.group)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta["creationTimestamp"] = t
            if rt.custom or key == CRD_KEY:
                meta["generation"] = 1
            if opts.dry_run:
                return obj
            so = self.store.put(key, self._to_storage(rt, obj), created=True)
            stored = True
        finally:
            if not stored and not rt.custom:
                builtins.on_delete(rt, obj, self.ctx)
        if key == CRD_KEY:
            for hook in self.crd_hooks:
                hook(so.obj, False)
        return self.served(rt, so.obj)

    # -- the steps of a write ----------------------------------------------------------------

    def _decode(self, rt: ResourceType, obj: dict[str, Any], opts: WriteOptions) -> None:
        """What the real server does while decoding a body: type checks, pruning, defaults."""
        kind = obj.get("kind")
        if rt.custom:
            causes = custom_resource.type_meta_causes(obj, rt.group, rt.version, rt.kind)
            if causes:
                raise invalid(str(kind or ""), obj["metadata"].get("name", ""), causes, rt.group)
            unknown = custom_resource.prune(obj, rt.schema or {})
            if unknown:
                if opts.field_validation == "Strict":
                    raise custom_resource.strict_error(rt.kind, rt.version, unknown)
                if opts.field_validation != "Ignore":
                    opts.warnings.extend(f'unknown field "{u}"' for u in unknown)
            custom_resource.apply_defaults(obj, rt.schema or {})
            return
        self._check_group_version(rt, obj)
        if kind and kind != rt.kind:
            version = str(obj.get("apiVersion", "")).rpartition("/")[2]
            raise bad_request(
                f'{kind} in version "{version}" cannot be handled as a {rt.kind}: converting '
                f"({version}.{kind}) to ({rt.group or 'core'}.{rt.kind}): unknown conversion"
            )
        self._decode_builtin(rt, obj, opts)
        obj["kind"] = rt.kind
        obj["apiVersion"] = rt.api_version
        if storage_key(rt) == CRD_KEY:
            custom_resource.default_crd(obj)
        else:
            builtins.default_object(rt, obj)

    def _check_group_version(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """A body of another group version (``endpoints/handlers/create.go``).

        The scheme decodes only kinds registered at the body's version; one that decodes and
        converts (an events.k8s.io Event sent to core/v1) is still not this endpoint's.
        """
        api_version = obj.get("apiVersion")
        if not isinstance(api_version, str) or not api_version or api_version == rt.api_version:
            return
        kind = str(obj.get("kind") or rt.kind)
        served = self.registry.find_kind(api_version, kind)
        if served is None:
            version = api_version.rpartition("/")[2]
            raise bad_request(
                f'{kind} in version "{version}" cannot be handled as a {rt.kind}: no kind '
                f'"{kind}" is registered for version "{api_version}" in scheme '
                '"pkg/api/legacyscheme/scheme.go:30"'
            )
        if storage_key(served) == storage_key(rt):
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version})"
            )

    @staticmethod
    def _decode_builtin(rt: ResourceType, obj: dict[str, Any], opts: WriteOptions) -> None:
        """The Go struct decoding of a built-in: type errors, unknown and duplicate fields."""
        kind = str(obj.get("kind") or rt.kind)
        version = str(obj.get("apiVersion") or rt.version).rpartition("/")[2]
        decoded = builtin_decoding.decode(rt.group, rt.version, rt.kind, obj, opts.raw_body)
        prefix = f'{kind} in version "{version}" cannot be handled as a {rt.kind}: '
        if decoded.type_error:
            raise bad_request(prefix + decoded.type_error)
        if decoded.strict and opts.field_validation == "Strict":
            errors = ", ".join(decoded.strict)
            if opts.patch is None:
                raise bad_request(f"{prefix}strict decoding error: {errors}")
            # A patch is decoded after it is applied: the error names the patch itself.
            cause = fe.invalid("patch", fe.go_v(opts.patch), f"strict decoding error: {errors}")
            raise StatusError(
                422, "Invalid", f' "" is invalid: {fe.cause_text(cause)}', {"causes": [cause]}
            )
        if decoded.strict and opts.field_validation == "Warn":
            opts.warnings.extend(decoded.strict)
        builtin_decoding.drop_unknown(obj, decoded)

    def _track(
        self,
        rt: ResourceType,
        old: dict[str, Any] | None,
        new: dict[str, Any],
        opts: WriteOptions,
        time: str,
    ) -> None:
        """Record the write in managedFields (before the strategy adds fields nobody owns)."""
        ignored: tuple[str, ...] = ()
        if opts.subresource == "status":
            keep = ("status", "metadata", "kind", "apiVersion")
            ignored = tuple(k for k in {*new, *(old or {})} if k not in keep)
        elif "status" in rt.subresources and opts.subresource != "scale":
            ignored = ("status",)
        field_manager.update_managed_fields(
            old,
            new,
            manager=opts.manager,
            operation="Update",
            api_version=rt.api_version,
            subresource=opts.subresource,
            time=time,
            schema=rt.schema if rt.custom else None,
            group=rt.group,
            kind=rt.kind,
            ignored_fields=ignored,
        )
        if opts.subresource == "scale":
            # The real server records writes through /scale without a time.
            for entry in new["metadata"].get("managedFields") or []:
                if entry.get("subresource") == "scale" and entry.get("manager") == opts.manager:
                    entry.pop("time", None)

    def _admit(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        opts: WriteOptions,
    ) -> None:
        """The endpoint's resets, the kind's strategy and validation (422 on failure)."""
        for hook in self.admission_hooks:
            hook(rt, obj, old, opts)
        if rt.custom:
            self._admit_custom(rt, obj, old, opts)
        elif storage_key(rt) == CRD_KEY:
            if self.crd_prepare is not None:
                self.crd_prepare(obj, old, opts.subresource)
        elif old is None:
            opts.warnings.extend(builtins.prepare_create(rt, obj, self.ctx))
        else:
            opts.warnings.extend(builtins.prepare_update(rt, obj, old, self.ctx, opts.subresource))

    @staticmethod
    def _admit_custom(
        rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, opts: WriteOptions
    ) -> None:
        has_status = "status" in rt.subresources
        if has_status and old is None:
            obj.pop("status", None)
        elif has_status and opts.subresource == "status":
            # /status writes nothing but the status (and managedFields).
            managed = obj["metadata"].get("managedFields")
            status = obj.get("status", _MISSING)
            obj.clear()
            obj.update(json_copy(old or {}))
            if managed is not None:
                obj["metadata"]["managedFields"] = managed
            else:
                obj["metadata"].pop("managedFields", None)
            if status is _MISSING:
                obj.pop("status", None)
            else:
                obj["status"] = status
        elif has_status and old is not None:
            if "status" in old:
                obj["status"] = json_copy(old["status"])
            else:
                obj.pop("status", None)
        obj["apiVersion"] = rt.api_version
        name = obj["metadata"].get("name", "")
        causes = list(builtins.validate_object_meta(rt, obj, old))
        if opts.subresource == "status":
            causes += custom_resource.validate_status(obj, rt.schema or {}, old=old, scale=rt.scale)
        else:
            causes += custom_resource.validate(obj, rt.schema or {}, old=old, scale=rt.scale)
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
        old_meta = current.meta
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        name = old_meta["name"]
        rv = meta.get("resourceVersion")
        if rv and rv != old_meta.get("resourceVersion"):
            raise conflict(rt.plural, name, rt.group)
        for k in _IMMUTABLE_META:
            if k == "uid" and meta.get("uid"):
                # rest.BeforeUpdate fills the uid only when the client sent none: a uid in the
                # body is a precondition (kubelet's status patches), checked below.
                continue
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        old_served = self.served(rt, current.obj)
        self._decode(rt, new, opts)
        if not managed_fields_done:
            self._track(rt, old_served, new, opts, rfc3339(now()))
        self._admit(rt, new, old_served, opts)
        meta = new["metadata"]  # the strategies may have replaced the metadata dict
        if meta.get("uid") != old_meta.get("uid"):
            # Kinds whose validation has not already refused it (ValidateObjectMetaUpdate).
            cause = field_invalid("metadata.uid", meta.get("uid"), "field is immutable")
            raise invalid(rt.kind, name, [cause], rt.group)
        self._check_finalizers(rt, new, old_served)
        own_generation = rt.custom or storage_key(rt) == CRD_KEY
        if own_generation and "generation" in old_meta and _spec_changed(rt, new, old_served):
            meta["generation"] = int(old_meta["generation"]) + 1
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
        if storage_key(rt) == CRD_KEY:
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
        # The real server runs this check twice (object meta and strategy) and reports both.
        causes = [
            Cause(reason="FieldValueForbidden", message=msg, field="metadata.finalizers")
            for _ in range(2)
        ]
        raise invalid(rt.kind, new["metadata"].get("name", ""), causes, rt.group)

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
            return self._delete_again(rt, current, opts), False
        key = storage_key(rt)
        if key == CRD_KEY and self.crd_delete:
            return self.crd_delete(current, opts), False
        finalizers = list(meta.get("finalizers") or [])
        propagation = opts.propagation or str(rt.extra.get("default_propagation") or "")
        if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        grace = 0
        if key == "/pods" and (current.obj.get("spec") or {}).get("nodeName"):
            phase = (current.obj.get("status") or {}).get("phase")
            if phase not in ("Succeeded", "Failed"):
                spec_grace = (current.obj.get("spec") or {}).get("terminationGracePeriodSeconds")
                wanted = opts.grace_seconds if opts.grace_seconds is not None else spec_grace
                grace = 30 if wanted is None else int(wanted)
        graceful = key == "/pods" or bool(finalizers) or grace > 0
        if key == "/namespaces":
            graceful = True
        if not graceful:
            if opts.dry_run:
                return old_served, True
            gone = self.remove(rt, current)
            return (self.served(rt, gone.obj) if gone else old_served), True
        # Stored objects are never mutated, so the new version shares everything it does not
        # change with the old one; only the dicts written below are copied.
        new = dict(current.obj)
        nm = new["metadata"] = dict(current.meta)
        t = now()
        nm["deletionTimestamp"] = rfc3339(t + timedelta(seconds=grace))
        nm["deletionGracePeriodSeconds"] = grace
        if finalizers:
            nm["finalizers"] = finalizers
        if "generation" in nm:
            nm["generation"] = int(nm["generation"]) + 1
        if key == "/namespaces":
            new["status"] = dict(new.get("status") or {}, phase="Terminating")
        if opts.dry_run:
            return self.served(rt, new), False
        so = self.store.put(key, new, created=False)
        if key == "/pods" and grace == 0 and not finalizers:
            self.remove(rt, so)
            return self.served(rt, so.obj), True
        return self.served(rt, so.obj), False

    def _delete_again(
        self, rt: ResourceType, current: StoredObject, opts: DeleteOptions
    ) -> dict[str, Any]:
        """DELETE of an object being deleted: only a shorter grace period changes anything.

        This is how a kubelet finishes a graceful pod deletion: ``gracePeriodSeconds=0``
        once the containers are gone removes the object (unless finalizers remain).
        """
        meta = current.meta
        grace = opts.grace_seconds
        current_grace = meta.get("deletionGracePeriodSeconds")
        if grace is None or current_grace is None or grace >= int(current_grace):
            return self.served(rt, current.obj)
        if grace == 0 and not meta.get("finalizers"):
            if opts.dry_run:
                return self.served(rt, current.obj)
            gone = self.remove(rt, current)
            return self.served(rt, (gone or current).obj)
        new = dict(current.obj)
        new["metadata"] = dict(
            meta,
            deletionTimestamp=rfc3339(now() + timedelta(seconds=grace)),
            deletionGracePeriodSeconds=grace,
        )
        if opts.dry_run:
            return self.served(rt, new)
        return self.served(rt, self.store.put(storage_key(rt), new, created=False).obj)

    def remove(self, rt: ResourceType, current: StoredObject) -> StoredObject | None:
        """Remove an object from the store now (finalizers done), telling the hooks.

        Returns its last state carrying the deletion's resourceVersion.
        """
        meta = current.meta
        gone = self.store.remove(storage_key(rt), meta.get("namespace", ""), meta["name"])
        if gone is None:
            return None
        if not rt.custom:
            builtins.on_delete(rt, gone.obj, self.ctx)
        if storage_key(rt) == CRD_KEY:
            for hook in self.crd_hooks:
                hook(gone.obj, True)
        for dhook in self.delete_hooks:
            dhook(rt, gone.obj)
        return gone


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
