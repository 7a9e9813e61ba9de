"""REST verbs of the embedded API server: get, list, create, update, patch, delete.

``Handlers.resource`` receives a resolved :class:`~request.Target` and the aiohttp request and
answers exactly as kube-apiserver does (status code, ``Status`` bodies, Warning headers,
Table output). Write semantics live in :mod:`writes`, watches in :mod:`watch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

from opframe.testing.apiserver import builtins, protobuf
from opframe.testing.apiserver.errors import (
    StatusError,
    bad_request,
    invalid,
    method_not_allowed,
    not_found,
)
from opframe.testing.apiserver.http import table
from opframe.testing.apiserver.http.apply import apply_request
from opframe.testing.apiserver.http.options import (
    RV_WAIT_SECONDS,
    ListOptions,
    delete_options,
    list_options,
    resource_version,
    too_large_resource_version,
    write_options,
)
from opframe.testing.apiserver.http.request import Target, decode_body, flag, wants
from opframe.testing.apiserver.http.responses import json_response, object_bytes, yaml_response
from opframe.testing.apiserver.http.watch import WatchStream
from opframe.testing.apiserver.merge import patch as patching
from opframe.testing.apiserver.registry.reads import list_page
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import storage_key
from opframe.testing.apiserver.registry.selectors import selection
from opframe.testing.apiserver.registry.storage import StoredObject, dumps
from opframe.testing.apiserver.registry.writes import (
    CREATE_ON_UPDATE,
    RETURNS_OBJECT,
    ConcurrentWrite,
    DeleteOptions,
    WriteOptions,
    Writer,
)

__all__ = ["Handlers", "request_verb"]

_JSON = "application/json"
_WRITE_TYPES = ("application/json", "application/yaml")
_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
#: Verbs of a subresource when the resource type does not list them (a CRD's status, scale).
_SUBRESOURCE_VERBS = ("get", "patch", "update")
#: Attempts of a write whose object changed while its webhooks were called.
_RACE_RETRIES = 5


def _media(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def request_verb(method: str, target: Target, query: Any) -> str:
    """The API verb of a request, as ``endpoints/request/requestinfo.go`` names it.

    A GET of a collection is ``list``, or ``watch`` with ``?watch`` (or the legacy
    ``/watch/`` prefix); a GET of one object stays ``get`` even with ``?watch``. A DELETE of a
    collection is ``deletecollection``.
    """
    if method in ("GET", "HEAD"):
        if target.legacy_watch or (not target.name and flag(query.get("watch"))):
            return "watch"
        return "get" if target.name else "list"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
    if method in verbs:
        return verbs[method]
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    return method.lower()


def _allowed(verb: str, target: Target) -> bool:
    """Whether the path takes the verb (405 otherwise), as the real routes are installed."""
    rt = target.rt
    if target.subresource:
        sub_verbs = (rt.extra.get("subresource_verbs") or {}).get(target.subresource)
        return verb in (sub_verbs or _SUBRESOURCE_VERBS)
    if verb == "watch" and target.name and not target.legacy_watch:
        return False
    if verb in ("create", "list", "deletecollection") and target.name:
        return False
    if verb in ("get", "update", "patch", "delete") and not target.name:
        return False
    return verb in rt.verbs


class Handlers:
    """The REST verbs, bound to one server's writer; :meth:`serve` is the one dispatcher."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.store = writer.store

    # -- entry -------------------------------------------------------------------------------

    async def serve(self, request: web.Request, target: Target, verb: str) -> web.StreamResponse:
        """Answer a request on a resource path; ``verb`` is :func:`request_verb`'s."""
        if not _allowed(verb, target):
            raise method_not_allowed()
        if verb == "get":
            return await self._get(request, target)
        if verb in ("list", "watch"):
            opts = list_options(request.query, watch=verb == "watch")
            if verb == "watch":
                return await WatchStream(self.writer, request, target, opts).serve()
            return await self._list(request, target, opts)
        if verb == "create":
            return await self._create(request, target)
        if verb == "update":
            return await self._update(request, target)
        if verb == "patch":
            return await self._patch(request, target)
        if verb == "delete":
            return await self._delete(request, target)
        return await self._delete_collection(request, target)

    # -- reads -------------------------------------------------------------------------------

    def _current(self, target: Target) -> StoredObject:
        so = self.store.get(storage_key(target.rt), target.namespace or "", target.name)
        if so is None:
            raise not_found(target.rt.plural, target.name, target.rt.group)
        return so

    async def _at_least(self, rv: int) -> None:
        """Wait for the storage to reach ``rv`` (the cacher's ``waitUntilFreshAndBlock``)."""
        if rv <= self.store.rv:
            return
        try:
            async with asyncio.timeout(RV_WAIT_SECONDS):
                await self.store.wait_for_rv(rv)
        except TimeoutError:
            raise too_large_resource_version(rv, self.store.rv) from None

    async def _get(self, request: web.Request, target: Target) -> web.StreamResponse:
        await self._at_least(resource_version(request.query.get("resourceVersion", "")))
        representation = wants(request.headers.get("Accept", ""))
        so = self._current(target)
        await self.writer.prefetch(target.rt, [so.obj])
        if target.subresource == "scale":
            return json_response(200, _to_scale(target.rt, self.writer.served(target.rt, so.obj)))
        if representation == "table":
            return self._table(request, target.rt, [so], {"resourceVersion": str(self.store.rv)})
        if representation == "yaml":
            return yaml_response(object_bytes(self.writer, target.rt, so))
        return json_response(200, object_bytes(self.writer, target.rt, so))

    async def _list(
        self, request: web.Request, target: Target, opts: ListOptions
    ) -> web.StreamResponse:
        representation = wants(request.headers.get("Accept", ""))
        page, list_meta = await self.select(target, opts)
        await self.writer.prefetch(target.rt, [so.obj for so in page])
        if representation == "table":
            return self._table(request, target.rt, page, list_meta)
        rt = target.rt
        items = b",".join(object_bytes(self.writer, rt, so, item=True) for so in page)
        if rt.custom:
            list_meta.setdefault("continue", "")
        head = dumps({"kind": rt.list_kind or rt.kind + "List", "apiVersion": rt.api_version})
        body = head[:-1] + b',"metadata":' + dumps(list_meta) + b',"items":[' + items + b"]}"
        if representation == "yaml":
            return yaml_response(body)
        return json_response(200, body)

    async def select(
        self, target: Target, opts: ListOptions
    ) -> tuple[list[StoredObject], dict[str, Any]]:
        """The page of objects a list asks for, and the list metadata."""
        labels, fields = selection(target.rt, opts.label_selector, opts.field_selector)
        rv = resource_version(opts.resource_version)
        if not opts.continue_token:
            await self._at_least(rv)
        # Exact, or the legacy exact read: a resourceVersion with a limit (etcd3 store).
        exact = rv > 0 and (opts.match == "Exact" or (not opts.match and opts.limit > 0))
        return list_page(
            self.store,
            target.rt,
            target.namespace,
            resource_version=str(rv),
            exact=exact,
            limit=opts.limit,
            continue_token=opts.continue_token,
            labels=labels,
            fields=fields,
        )

    def _table(
        self,
        request: web.Request,
        rt: ResourceType,
        objs: list[StoredObject],
        list_meta: dict[str, Any],
    ) -> web.StreamResponse:
        include = request.query.get("includeObject", "Metadata")
        served = [self.writer.served(rt, so.obj) for so in objs]
        return json_response(
            200, table.to_table(rt, served, include_object=include, list_meta=list_meta)
        )

    # -- writes ------------------------------------------------------------------------------

    def _options(
        self, request: web.Request, target: Target, options_kind: str, patch_type: str = ""
    ) -> WriteOptions:
        manager, dry, validation = write_options(
            request.query,
            options_kind,
            request.headers.get("User-Agent", ""),
            patch_type=patch_type,
        )
        return WriteOptions(
            manager=manager,
            dry_run=dry,
            field_validation=validation,
            subresource=target.subresource,
        )

    async def _read(self, request: web.Request, rt: ResourceType) -> tuple[str, bytes]:
        """The media type and bytes of a body (415 for a type the server cannot decode)."""
        # No Content-Type is the first type the server accepts, JSON (negotiation.go).
        media = _media(request) or _JSON
        if media == protobuf.MEDIA_TYPE and not rt.custom:
            return media, await request.read()
        if media not in _WRITE_TYPES:
            accepted = ", ".join(_WRITE_TYPES + (() if rt.custom else (protobuf.MEDIA_TYPE,)))
            raise StatusError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                f"include: {accepted}",
            )
        return media, await request.read()

    @staticmethod
    def _decode(media: str, raw: bytes, rt: ResourceType, opts: WriteOptions) -> dict[str, Any]:
        if media == protobuf.MEDIA_TYPE:
            return protobuf.decode_request(raw, rt.api_version, rt.kind)
        body = decode_body(raw, media, rt.kind)
        if not isinstance(body, dict):
            raise bad_request(
                f"the object provided is unrecognized (must be of type {rt.kind}): couldn't get "
                "version/kind; json parse error: json: cannot unmarshal array into Go value of "
                'type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string '
                '"json:\\"kind,omitempty\\"" }'
            )
        opts.raw_body = raw if media == _JSON else b""
        return body

    def encoded(self, rt: ResourceType, obj: dict[str, Any]) -> bytes | dict[str, Any]:
        """The stored encoding of ``obj`` when it is the stored version (no second dumps)."""
        meta = obj.get("metadata") or {}
        so = self.store.get(storage_key(rt), meta.get("namespace", ""), meta.get("name", ""))
        if so is not None and so.obj is obj:
            return so.raw()
        return obj

    @staticmethod
    @contextlib.contextmanager
    def _warnings_kept(opts: WriteOptions) -> Iterator[None]:
        """An error answer still carries the warnings of the request (unknown fields...)."""
        try:
            yield
        except StatusError as e:
            e.warnings = [*opts.warnings, *e.warnings]
            raise

    async def _create(self, request: web.Request, target: Target) -> web.StreamResponse:
        media, raw = await self._read(request, target.rt)
        opts = self._options(request, target, "CreateOptions")
        body = self._decode(media, raw, target.rt, opts)
        with self._warnings_kept(opts):
            obj = await self.writer.create_async(target.rt, body, target.namespace or "", opts)
        return json_response(201, self.encoded(target.rt, obj), opts.warnings)

    async def _update(self, request: web.Request, target: Target) -> web.StreamResponse:
        media, raw = await self._read(request, target.rt)
        opts = self._options(request, target, "UpdateOptions")
        body = self._decode(media, raw, target.rt, opts)
        rt = target.rt
        if target.subresource == "scale":
            return await self._update_scale(target, body, opts)
        raw_meta = body.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        if meta.get("name", "") != target.name:
            raise bad_request(
                f"the name of the object ({meta.get('name', '')}) does not match the name on "
                f"the URL ({target.name})"
            )
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != target.namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        so = self.store.get(storage_key(rt), target.namespace or "", target.name)
        if so is None:
            if storage_key(rt) in CREATE_ON_UPDATE:
                obj = await self.writer.create_async(rt, body, target.namespace or "", opts)
                return json_response(201, obj, opts.warnings)
            raise not_found(rt.plural, target.name, rt.group)
        if meta.get("resourceVersion"):
            with self._warnings_kept(opts):
                obj = await self.writer.update_async(rt, body, so, opts)
            return json_response(200, self.encoded(rt, obj), opts.warnings)

        async def attempt() -> web.StreamResponse:
            # An unconditional update: applied to the object as it is now.
            current = self.store.get(storage_key(rt), target.namespace or "", target.name)
            if current is None:
                raise not_found(rt.plural, target.name, rt.group)
            with self._warnings_kept(opts):
                obj = await self.writer.update_async(rt, copy.deepcopy(body), current, opts)
            return json_response(200, self.encoded(rt, obj), opts.warnings)

        return await self._retried(attempt, opts, True)

    async def _patch(self, request: web.Request, target: Target) -> web.StreamResponse:
        rt = target.rt
        media = _media(request)
        patch_type = _PATCH_TYPES.get(media)
        if patch_type is None:
            raise StatusError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})
        if patch_type == "strategic" and rt.custom:
            raise StatusError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml",
            )
        opts = self._options(request, target, "PatchOptions", patch_type)
        raw = await request.read()
        # A patch or an apply names a resourceVersion only to make it a precondition.
        unconditional = b"resourceVersion" not in raw
        if patch_type == "apply":
            return await self._retried(
                lambda: apply_request(self.writer, request, target, raw, opts), opts, unconditional
            )
        patch = decode_body(raw, "json", rt.kind)

        async def attempt() -> web.StreamResponse:
            so = self.store.get(storage_key(rt), target.namespace or "", target.name)
            if so is None:
                raise not_found(rt.plural, target.name, rt.group)
            await self.writer.prefetch(rt, [so.obj])
            if target.subresource == "scale":
                current = _to_scale(rt, self.writer.served(rt, so.obj))
            else:
                current = copy.deepcopy(self.writer.served(rt, so.obj))
            if patch_type == "merge":
                if not isinstance(patch, dict):
                    raise bad_request(
                        "json: cannot unmarshal into Go value of type map[string]interface {}"
                    )
                new = patching.merge_patch(current, patch)
            elif patch_type == "json":
                new = patching.json_patch(current, patch)
            else:
                new = patching.strategic_merge_patch(current, patch, rt.group, rt.kind)
            if not isinstance(new, dict):
                raise bad_request("the patched object is not an object")
            if target.subresource == "scale":
                return await self._update_scale(target, new, opts)
            opts.patch = patch
            with self._warnings_kept(opts):
                obj = await self.writer.update_async(rt, new, so, opts)
            return json_response(200, self.encoded(rt, obj), opts.warnings)

        return await self._retried(attempt, opts, unconditional)

    @staticmethod
    async def _retried(
        attempt: Callable[[], Awaitable[web.StreamResponse]],
        opts: WriteOptions,
        unconditional: bool,
    ) -> web.StreamResponse:
        """Run a write again on the new object when another write changed it while its
        webhooks were called, unless the client made its resourceVersion a precondition
        (the storage's GuaranteedUpdate retries the same way)."""
        warnings = list(opts.warnings)
        for n in range(_RACE_RETRIES):
            try:
                return await attempt()
            except ConcurrentWrite:
                if not unconditional or n == _RACE_RETRIES - 1:
                    raise
                opts.warnings[:] = warnings
        raise AssertionError("unreachable")

    async def _update_scale(
        self, target: Target, scale: dict[str, Any], opts: WriteOptions
    ) -> web.StreamResponse:
        rt = target.rt
        so = self._current(target)
        await self.writer.prefetch(rt, [so.obj])
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        obj = copy.deepcopy(self.writer.served(rt, so.obj))
        if rv:
            obj["metadata"]["resourceVersion"] = rv
        replicas = (scale.get("spec") or {}).get("replicas")
        if not rt.custom:
            causes = builtins.validate_scale(scale)
            if causes:
                raise invalid("Scale", target.name, causes, "autoscaling")
        path = (rt.scale or {}).get("specReplicasPath", ".spec.replicas")
        _set_path(obj, path, replicas)
        opts.subresource = "scale"
        opts.raw_body = b""
        new = await self.writer.update_async(rt, obj, so, opts)
        return json_response(200, _to_scale(rt, new))

    async def _delete(self, request: web.Request, target: Target) -> web.StreamResponse:
        rt = target.rt
        opts = await self._delete_options(request)
        so = self._current(target)
        obj, removed = await self.writer.delete_async(rt, so, opts)
        # A kind that orphans by default may say so when the client named no policy (Jobs).
        warning = rt.extra.get("delete_warning") if not opts.propagation else None
        warnings = [*opts.warnings, *([str(warning)] if warning else [])]
        if removed and storage_key(rt) not in RETURNS_OBJECT:
            return json_response(200, _success(rt, obj), warnings)
        return json_response(200, obj, warnings)

    async def _delete_options(self, request: web.Request) -> DeleteOptions:
        body: dict[str, Any] = {}
        raw = await request.read()
        if raw.strip():
            if _media(request) == protobuf.MEDIA_TYPE:
                decoded = protobuf.decode_request(raw, "meta.k8s.io/v1", "DeleteOptions")
            else:
                decoded = decode_body(raw, _media(request) or "json", "DeleteOptions")
            if isinstance(decoded, dict):
                body = decoded
        return delete_options(request.query, body)

    async def _delete_collection(self, request: web.Request, target: Target) -> web.StreamResponse:
        rt = target.rt
        opts = await self._delete_options(request)
        page, meta = await self.select(target, list_options(request.query, watch=False))
        meta.pop("continue", None)
        meta.pop("remainingItemCount", None)
        deleted: list[bytes] = []
        for so in page:
            obj, removed = await self.writer.delete_async(rt, so, opts)
            if removed:
                # The collection answer lists removed objects as they were stored.
                deleted.append(object_bytes(self.writer, rt, so, item=True))
                continue
            deleted.append(
                dumps({k: v for k, v in obj.items() if k not in ("kind", "apiVersion")})
                if not rt.custom
                else dumps(obj)
            )
        if rt.custom:
            meta.setdefault("continue", "")
        head = dumps({"kind": rt.list_kind or rt.kind + "List", "apiVersion": rt.api_version})
        body = (
            head[:-1] + b',"metadata":' + dumps(meta) + b',"items":[' + b",".join(deleted) + b"]}"
        )
        return json_response(200, body)


def _success(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {"name": obj["metadata"]["name"]}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    details["uid"] = obj["metadata"].get("uid", "")
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def _get_path(obj: Any, path: str) -> Any:
    cur = obj
    for p in path.lstrip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.lstrip(".").split(".")
    cur = obj
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = cur[p] = {}
        cur = nxt
    cur[parts[-1]] = value


def _to_scale(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale view of an object."""
    if not rt.custom:
        return builtins.scale_of(obj)
    m = obj["metadata"]
    scale_spec = rt.scale or {}
    spec_path = scale_spec.get("specReplicasPath", ".spec.replicas")
    status_path = scale_spec.get("statusReplicasPath", ".status.replicas")
    replicas = _get_path(obj, spec_path)
    status: dict[str, Any] = {"replicas": _get_path(obj, status_path) or 0}
    sel_path = scale_spec.get("labelSelectorPath")
    selector = _get_path(obj, sel_path) if sel_path else None
    if selector:
        status["selector"] = selector
    meta = {
        "name": m["name"],
        "namespace": m.get("namespace", ""),
        "uid": m.get("uid", ""),
        "resourceVersion": m.get("resourceVersion", ""),
        "creationTimestamp": m.get("creationTimestamp"),
    }
    if not meta["namespace"]:
        del meta["namespace"]
    spec = {"replicas": replicas} if replicas is not None else {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": spec,
        "status": status,
    }
