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

import copy
import secrets
import uuid
from collections.abc import Awaitable, Callable, Generator
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
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import Registry, storage_key
from opframe.testing.apiserver.registry.storage import Store, StoredObject
from opframe.testing.apiserver.schema import builtin_decoding, custom_resource

__all__ = [
    "CRD_KEY",
    "AdmissionStep",
    "ConcurrentWrite",
    "ConvertStep",
    "DeleteOptions",
    "WriteOptions",
    "Writer",
    "now",
    "rfc3339",
]

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
    #: Warnings for the answer (from admission webhooks).
    warnings: list[str] = field(default_factory=list)


class ConcurrentWrite(StatusError):
    """409: the object changed while the write awaited its webhooks; a write without a
    resourceVersion precondition is retried on the new object (storage GuaranteedUpdate)."""


@dataclass
class AdmissionStep:
    """A point of a write where dynamic admission runs (webhooks, policies).

    ``phase`` is ``"mutate"`` (before the kind's strategy and validation; ``obj`` may be
    changed in place) or ``"validate"`` (after them, before storage: refuse or let through).
    ``obj`` is ``None`` for a DELETE, ``old`` is ``None`` for a CREATE; both are in ``rt``'s
    version. ``name`` is the name the request named (empty for a create by generateName).
    """

    phase: str
    operation: str
    rt: ResourceType
    namespace: str
    name: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None
    options: WriteOptions | DeleteOptions


@dataclass
class ConvertStep:
    """A conversion of ``obj`` to ``api_version`` that a write needs (storage or answer)."""

    rt: ResourceType
    obj: dict[str, Any]
    api_version: str


#: What a write yields to its driver; the driver sends back the converted object (or None).
WriteSteps = Generator[AdmissionStep | ConvertStep, dict[str, Any] | None, Any]

#: Runs the dynamic admission of a step (the async write path): raises StatusError to refuse.
DynamicAdmission = Callable[[AdmissionStep], Awaitable[None]]
#: Converts an object of a CRD with a conversion webhook (``None``: not such a CRD).
AsyncConverter = Callable[
    [ResourceType, list[dict[str, Any]], str], Awaitable[list[dict[str, Any]]]
]


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
        #: Dynamic admission (webhooks) of the ``*_async`` writes, the REST path; the writes
        #: of in-process controllers (``create``/``update``/``delete``) do not run it.
        self.dynamic_admission: DynamicAdmission | None = None
        #: The CRD conversion webhook client, for custom resources whose CRD asks for one.
        self.async_converter: AsyncConverter | None = None
        #: Objects converted by the webhook for reads, by (uid, resourceVersion, apiVersion):
        #: the async read path fills it (:meth:`prefetch`) before encoding synchronously.
        self._converted: dict[tuple[str, str, str], dict[str, Any]] = {}
        #: Validating admission, run after the kind's validation (ValidatingAdmissionPolicy):
        #: called with the operation, the new object (``None`` on delete), the old one
        #: (``None`` on create), the subresource, dry run and the request's warnings.
        self.validating_hooks: list[
            Callable[
                [ResourceType, str, dict[str, Any] | None, dict[str, Any] | None, str, bool,
                 list[str]],
                None,
            ]
        ] = []

    # -- drivers: a write is a generator of steps ----------------------------------------------

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
        out: dict[str, Any] = self._run(
            self._create(rt, obj, namespace, opts, managed_fields_done=managed_fields_done)
        )
        return out

    async def create_async(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        namespace: str,
        opts: WriteOptions,
        *,
        managed_fields_done: bool = False,
    ) -> dict[str, Any]:
        """:meth:`create` with dynamic admission and conversion webhooks (the REST path)."""
        out: dict[str, Any] = await self._run_async(
            self._create(rt, obj, namespace, opts, managed_fields_done=managed_fields_done)
        )
        return out

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
        out: dict[str, Any] = self._run(
            self._update(rt, new, current, opts, managed_fields_done=managed_fields_done)
        )
        return out

    async def update_async(
        self,
        rt: ResourceType,
        new: dict[str, Any],
        current: StoredObject,
        opts: WriteOptions,
        *,
        managed_fields_done: bool = False,
    ) -> dict[str, Any]:
        """:meth:`update` with dynamic admission and conversion webhooks (the REST path)."""
        out: dict[str, Any] = await self._run_async(
            self._update(rt, new, current, opts, managed_fields_done=managed_fields_done)
        )
        return out

    def delete(
        self, rt: ResourceType, current: StoredObject, opts: DeleteOptions
    ) -> tuple[dict[str, Any], bool]:
        """Delete (or start deleting) ``current``; returns (object, removed now)."""
        out: tuple[dict[str, Any], bool] = self._run(self._delete(rt, current, opts))
        return out

    async def delete_async(
        self, rt: ResourceType, current: StoredObject, opts: DeleteOptions
    ) -> tuple[dict[str, Any], bool]:
        """:meth:`delete` with dynamic admission and conversion webhooks (the REST path)."""
        out: tuple[dict[str, Any], bool] = await self._run_async(self._delete(rt, current, opts))
        return out

    def _run(self, steps: WriteSteps) -> Any:
        """Drive a write in process: no dynamic admission, conversion by apiVersion."""
        try:
            step = next(steps)
            while True:
                reply = None
                if isinstance(step, ConvertStep):
                    reply = dict(step.obj, apiVersion=step.api_version)
                step = steps.send(reply)
        except StopIteration as stop:
            return stop.value

    async def _run_async(self, steps: WriteSteps) -> Any:
        """Drive a write, awaiting its admission and conversion steps.

        A step that fails is thrown into the write, so its clean-up (a Service's allocations)
        runs before the error answers the request.
        """
        try:
            step = next(steps)
            while True:
                try:
                    reply = await self._step(step)
                except Exception as e:
                    step = steps.throw(e)
                    continue
                step = steps.send(reply)
        except StopIteration as stop:
            return stop.value

    async def _step(self, step: AdmissionStep | ConvertStep) -> dict[str, Any] | None:
        if isinstance(step, ConvertStep):
            if self.async_converter is None:
                return dict(step.obj, apiVersion=step.api_version)
            return (await self.async_converter(step.rt, [step.obj], step.api_version))[0]
        if self.dynamic_admission is not None:
            await self.dynamic_admission(step)
        return None

    # -- conversion webhooks -------------------------------------------------------------------

    @staticmethod
    def webhook_converted(rt: ResourceType) -> bool:
        """Whether ``rt``'s CRD converts its versions with a webhook."""
        conversion = rt.extra.get("conversion") or {}
        return rt.custom and conversion.get("strategy") == "Webhook"

    def _storage_form(self, rt: ResourceType, obj: dict[str, Any]) -> WriteSteps:
        if self.webhook_converted(rt) and rt.storage_version not in ("", rt.version):
            converted = yield ConvertStep(rt, obj, f"{rt.group}/{rt.storage_version}")
            return converted
        return self._to_storage(rt, obj)

    def _served_form(self, rt: ResourceType, obj: dict[str, Any]) -> WriteSteps:
        if self.webhook_converted(rt) and obj.get("apiVersion") != rt.api_version:
            converted = yield ConvertStep(rt, obj, rt.api_version)
            return converted
        return self.served(rt, obj)

    async def prefetch(self, rt: ResourceType, objs: list[dict[str, Any]]) -> None:
        """Convert ``objs`` for a read through ``rt`` with the CRD's webhook, in one review,
        so that :meth:`served` (synchronous, used by the encoders) finds them."""
        if not self.webhook_converted(rt) or self.async_converter is None:
            return
        todo = [
            o for o in objs
            if o.get("apiVersion") != rt.api_version and _cache_key(o, rt) not in self._converted
        ]  # fmt: skip
        if not todo:
            return
        converted = await self.async_converter(rt, todo, rt.api_version)
        if len(self._converted) > 10_000:
            self._converted.clear()
        for before, after in zip(todo, converted, strict=True):
            self._converted[_cache_key(before, rt)] = after

    # -- helpers ---------------------------------------------------------------------------

    def served(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as ``rt``'s version serves it."""
        if obj.get("apiVersion") == rt.api_version:
            return obj
        if rt.custom:
            cached = self._converted.get(_cache_key(obj, rt))
            if cached is not None:
                return cached
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

    def _create(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        namespace: str,
        opts: WriteOptions,
        *,
        managed_fields_done: bool = False,
    ) -> WriteSteps:
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
        # Admission sees the name of the request: none yet for a generateName.
        requested = str(meta.get("name") or "")
        if not meta.get("name") and meta.get("generateName"):
            prefix = str(meta["generateName"])[:58]
            meta["name"] = prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
        if rt.namespaced:
            self.check_namespace(namespace)
        self._decode(rt, obj, opts)
        t = rfc3339(now())
        if not managed_fields_done:
            self._track(rt, None, obj, opts, t)
        # Mutating admission runs on the decoded, defaulted object, before the strategy
        # (endpoints/handlers/create.go).
        yield AdmissionStep("mutate", "CREATE", rt, namespace, requested, obj, None, opts)
        # The uid exists before the strategy runs (a Job's generated selector names it).
        obj["metadata"]["uid"] = str(uuid.uuid4())
        self._admit(rt, obj, None, opts)
        # From here the strategy may hold allocations (a Service's cluster IPs); a create that
        # does not store the object gives them back, as the real registry reverts its
        # allocation transaction on failure and on dry run (pkg/registry/core/service/storage).
        stored = False
        try:
            meta = obj["metadata"]  # the strategies may have replaced the metadata dict
            # Validating admission: after the strategy's validation, before storage
            # (registry/generic/registry/store.go Create).
            yield AdmissionStep("validate", "CREATE", rt, namespace, requested, obj, None, opts)
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
            so = self.store.put(key, (yield from self._storage_form(rt, obj)), created=True)
            stored = True
        finally:
            if not stored and not rt.custom:
                builtins.on_delete(rt, obj, self.ctx)
        if key == CRD_KEY:
            for hook in self.crd_hooks:
                hook(so.obj, False)
        return (yield from self._served_form(rt, so.obj))

    # -- the steps of a write ----------------------------------------------------------------

    def _unchanged_since(self, rt: ResourceType, current: StoredObject) -> None:
        """409 if another write changed the object while admission webhooks were called
        (the storage's optimistic concurrency; without webhooks no other write runs)."""
        meta = current.meta
        latest = self.store.get(storage_key(rt), meta.get("namespace", ""), meta["name"])
        if latest is None or latest.rv != current.rv:
            error = conflict(rt.plural, meta["name"], rt.group)
            raise ConcurrentWrite(error.code, error.reason, error.message, error.details)

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
        operation = "CREATE" if old is None else "UPDATE"
        for validate in self.validating_hooks:
            validate(rt, operation, obj, old, opts.subresource, opts.dry_run, opts.warnings)

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
            obj.update(copy.deepcopy(old or {}))
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
                obj["status"] = copy.deepcopy(old["status"])
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

    def _update(
        self,
        rt: ResourceType,
        new: dict[str, Any],
        current: StoredObject,
        opts: WriteOptions,
        *,
        managed_fields_done: bool = False,
    ) -> WriteSteps:
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
        old_served = yield from self._served_form(rt, current.obj)
        self._decode(rt, new, opts)
        if not managed_fields_done:
            self._track(rt, old_served, new, opts, rfc3339(now()))
        namespace = old_meta.get("namespace", "")
        # Mutating admission transforms the updated object before the strategy
        # (endpoints/handlers/update.go: a transformer of the updated object info).
        yield AdmissionStep("mutate", "UPDATE", rt, namespace, name, new, old_served, opts)
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
        # Validating admission: even a no-op update is validated (store.go Update).
        yield AdmissionStep("validate", "UPDATE", rt, namespace, name, new, old_served, opts)
        self._unchanged_since(rt, current)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if _same(new, old_served):
            return old_served
        if meta.get("deletionTimestamp") and not _has_finalizers(new):
            if not opts.dry_run:
                self.remove(rt, current)
            return new
        if opts.dry_run:
            return new
        stored_form = yield from self._storage_form(rt, new)
        so = self.store.put(storage_key(rt), stored_form, created=False)
        if storage_key(rt) == CRD_KEY:
            for hook in self.crd_hooks:
                hook(so.obj, False)
        return (yield from self._served_form(rt, so.obj))

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

    def _delete(self, rt: ResourceType, current: StoredObject, opts: DeleteOptions) -> WriteSteps:
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
        old_served = yield from self._served_form(rt, current.obj)
        for validate in self.validating_hooks:
            validate(rt, "DELETE", None, old_served, "", opts.dry_run, [])
        if meta.get("deletionTimestamp"):
            # A deletion already pending is not admitted again (store.go Delete).
            return (yield from self._delete_again(rt, current, opts)), False
        # Admission of a delete sees the object as oldObject, mutating then validating
        # (rest.AdmissionToValidateObjectDeleteFunc).
        namespace = meta.get("namespace", "")
        for step in ("mutate", "validate"):
            yield AdmissionStep(step, "DELETE", rt, namespace, name, None, old_served, opts)
        self._unchanged_since(rt, current)
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
            return ((yield from self._served_form(rt, gone.obj)) if gone else old_served), True
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
            return (yield from self._served_form(rt, new)), False
        so = self.store.put(key, new, created=False)
        if key == "/pods" and grace == 0 and not finalizers:
            self.remove(rt, so)
            return (yield from self._served_form(rt, so.obj)), True
        return (yield from self._served_form(rt, so.obj)), False

    def _delete_again(
        self, rt: ResourceType, current: StoredObject, opts: DeleteOptions
    ) -> WriteSteps:
        """DELETE of an object being deleted: only a shorter grace period changes anything.

        This is how a kubelet finishes a graceful pod deletion: ``gracePeriodSeconds=0``
        once the containers are gone removes the object (unless finalizers remain).
        """
        meta = current.meta
        grace = opts.grace_seconds
        current_grace = meta.get("deletionGracePeriodSeconds")
        if grace is None or current_grace is None or grace >= int(current_grace):
            return (yield from self._served_form(rt, current.obj))
        if grace == 0 and not meta.get("finalizers"):
            if opts.dry_run:
                return (yield from self._served_form(rt, current.obj))
            gone = self.remove(rt, current)
            return (yield from self._served_form(rt, (gone or current).obj))
        new = dict(current.obj)
        new["metadata"] = dict(
            meta,
            deletionTimestamp=rfc3339(now() + timedelta(seconds=grace)),
            deletionGracePeriodSeconds=grace,
        )
        if opts.dry_run:
            return (yield from self._served_form(rt, new))
        so = self.store.put(storage_key(rt), new, created=False)
        return (yield from self._served_form(rt, so.obj))

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


def _cache_key(obj: dict[str, Any], rt: ResourceType) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("uid", "")), str(meta.get("resourceVersion", "")), rt.api_version)


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
