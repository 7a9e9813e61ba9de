"""REST verbs of the embedded API server: get, list, create, update, patch, delete.

``Handlers.resource`` receives a resolved :class:`~request.Target` and the aiohttp request and
answers exactly as kube-apiserver does (status code, ``Status`` bodies, Warning headers,
Table output). Write semantics live in :mod:`writes`, watches in :mod:`watch`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any

from aiohttp import web

from opframe.testing.apiserver import builtins, protobuf
from opframe.testing.apiserver.errors import (
    StatusError,
    bad_request,
    gone,
    invalid,
    method_not_allowed,
    not_found,
)
from opframe.testing.apiserver.http import table
from opframe.testing.apiserver.http.apply import apply_request
from opframe.testing.apiserver.http.request import (
    Target,
    decode_body,
    dry_run,
    field_manager,
    field_validation,
    flag,
    integer,
    wants,
)
from opframe.testing.apiserver.http.responses import json_response, yaml_response
from opframe.testing.apiserver.http.watch import serve_watch
from opframe.testing.apiserver.merge import patch as patching
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import storage_key
from opframe.testing.apiserver.registry.selectors import parse_field_selector, parse_label_selector
from opframe.testing.apiserver.registry.storage import StoredObject, dumps
from opframe.testing.apiserver.registry.writes import (
    CREATE_ON_UPDATE,
    RETURNS_OBJECT,
    DeleteOptions,
    WriteOptions,
    Writer,
)

__all__ = ["Handlers"]

_JSON = "application/json"
_WRITE_TYPES = ("application/json", "application/yaml")
_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}


def _media(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _encode_continue(rv: int, start: str) -> str:
    # The position just after ``start``: the next page begins at the first key above it.
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00"})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        pad = "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(token + pad))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad_request(
            "continue key is not valid: the provided continue parameter is not valid"
        ) from None


class Handlers:
    """The verbs, bound to one server's writer."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.store = writer.store

    # -- entry -------------------------------------------------------------------------------

    async def resource(self, request: web.Request, target: Target) -> web.StreamResponse:
        """Dispatch a request on a resource path to its verb."""
        method = request.method
        rt = target.rt
        if method == "GET":
            if target.subresource == "scale":
                return self._get_scale(request, target)
            if target.name and not target.legacy_watch:
                return self._get(request, target)
            return await self._list_or_watch(request, target)
        if method == "POST" and not target.name:
            return await self._create(request, target)
        if method == "PUT" and target.name:
            return await self._update(request, target)
        if method == "PATCH" and target.name:
            return await self._patch(request, target)
        if method == "DELETE" and target.name and not target.subresource:
            return await self._delete(request, target)
        if method == "DELETE" and not target.name and "deletecollection" in rt.verbs:
            return await self._delete_collection(request, target)
        raise method_not_allowed()

    # -- reads -------------------------------------------------------------------------------

    def _current(self, target: Target) -> StoredObject:
        so = self.store.get(storage_key(target.rt), target.namespace or "", target.name)
        if so is None:
            raise not_found(target.rt.plural, target.name, target.rt.group)
        return so

    def object_bytes(self, rt: ResourceType, so: StoredObject, *, item: bool = False) -> bytes:
        """The object as ``rt`` serves it, using the cached encoding when possible."""
        if so.obj.get("apiVersion") == rt.api_version:
            return so.item() if item and not rt.custom else so.raw()
        obj = self.writer.served(rt, so.obj)
        if item and not rt.custom:
            obj = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
        return dumps(obj)

    def _get(self, request: web.Request, target: Target) -> web.StreamResponse:
        representation = wants(request.headers.get("Accept", ""))
        so = self._current(target)
        if representation == "table":
            return self._table(request, target.rt, [so], {"resourceVersion": str(self.store.rv)})
        if representation == "yaml":
            return yaml_response(self.object_bytes(target.rt, so))
        return json_response(200, self.object_bytes(target.rt, so))

    async def _list_or_watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        q = request.query
        if target.legacy_watch or flag(q.get("watch")):
            return await serve_watch(self, request, target)
        representation = wants(request.headers.get("Accept", ""))
        page, list_meta = self.select(target, q)
        if representation == "table":
            return self._table(request, target.rt, page, list_meta)
        rt = target.rt
        items = b",".join(self.object_bytes(rt, so, item=True) for so in page)
        if rt.custom:
            list_meta.setdefault("continue", "")
        head = dumps({"kind": rt.list_kind or rt.kind + "List", "apiVersion": rt.api_version})
        body = head[:-1] + b',"metadata":' + dumps(list_meta) + b',"items":[' + items + b"]}"
        if representation == "yaml":
            return yaml_response(body)
        return json_response(200, body)

    def predicate(self, target: Target, q: Any) -> tuple[Any, Any]:
        """The (label, field) predicates of a list or watch request."""
        labels = parse_label_selector(q["labelSelector"]) if q.get("labelSelector") else None
        fields = None
        if q.get("fieldSelector"):
            selectable = tuple(target.rt.extra.get("selectable") or ())
            fields = parse_field_selector(q["fieldSelector"], storage_key(target.rt), selectable)
        return labels, fields

    def select(self, target: Target, q: Any) -> tuple[list[StoredObject], dict[str, Any]]:
        """The page of objects a list request asks for, and the list metadata."""
        labels, fields = self.predicate(target, q)
        rv_param, match = q.get("resourceVersion", ""), q.get("resourceVersionMatch", "")
        if match == "Exact" and rv_param and int(rv_param or 0) != self.store.rv:
            oldest = self.store.oldest_rv(storage_key(target.rt))
            raise gone(f"too old resource version: {rv_param} ({oldest})")
        limit = integer(q.get("limit"), "limit") or 0
        list_rv = self.store.rv
        start = ""
        if q.get("continue"):
            list_rv, start = _decode_continue(q["continue"])
        key = storage_key(target.rt)
        page: list[StoredObject] = []
        it = self.store.iter_sorted(
            key, target.namespace or None if target.rt.namespaced else "", start
        )
        more = False
        remaining = 0
        last = None
        for so in it:
            if limit and len(page) >= limit:
                more = True
                remaining = 1 + sum(1 for _ in it)
                break
            if labels is not None and not labels(so.meta.get("labels") or {}):
                continue
            if fields is not None and not fields(so.obj):
                continue
            page.append(so)
            last = so
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if more and last is not None:
            pos = last.meta["name"]
            if target.rt.namespaced and not target.namespace:
                pos = f"{last.meta.get('namespace', '')}/{pos}"
            meta["continue"] = _encode_continue(list_rv, pos)
            if labels is None and fields is None:
                meta["remainingItemCount"] = remaining
        return page, meta

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

    def _get_scale(self, request: web.Request, target: Target) -> web.StreamResponse:
        so = self._current(target)
        return json_response(200, _to_scale(target.rt, self.writer.served(target.rt, so.obj)))

    # -- writes ------------------------------------------------------------------------------

    def _options(self, request: web.Request, target: Target, options_kind: str) -> WriteOptions:
        q = request.query
        return WriteOptions(
            manager=field_manager(q, request.headers.get("User-Agent", "")),
            dry_run=dry_run(q, q.getall("dryRun", []), options_kind),
            field_validation=field_validation(q),
            subresource=target.subresource,
        )

    async def _body(self, request: web.Request, rt: ResourceType) -> dict[str, Any]:
        media = _media(request)
        if media == protobuf.MEDIA_TYPE and not rt.custom:
            return protobuf.decode_request(await request.read(), rt.api_version, rt.kind)
        if media not in _WRITE_TYPES:
            accepted = ", ".join(_WRITE_TYPES + (() if rt.custom else (protobuf.MEDIA_TYPE,)))
            raise StatusError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                f"include: {accepted}",
            )
        body = decode_body(await request.read(), media, rt.kind)
        if not isinstance(body, dict):
            raise bad_request(
                f"the object provided is unrecognized (must be of type {rt.kind}): couldn't get "
                "version/kind; json parse error: json: cannot unmarshal array into Go value of "
                'type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string '
                '"json:\\"kind,omitempty\\"" }'
            )
        return body

    def encoded(self, rt: ResourceType, obj: dict[str, Any]) -> bytes | dict[str, Any]:
        """The stored encoding of ``obj`` when it is the stored version (no second dumps)."""
        meta = obj.get("metadata") or {}
        so = self.store.get(storage_key(rt), meta.get("namespace", ""), meta.get("name", ""))
        if so is not None and so.obj is obj:
            return so.raw()
        return obj

    async def _create(self, request: web.Request, target: Target) -> web.StreamResponse:
        opts = self._options(request, target, "CreateOptions")
        body = await self._body(request, target.rt)
        obj = self.writer.create(target.rt, body, target.namespace or "", opts)
        return json_response(201, self.encoded(target.rt, obj), opts.warnings)

    async def _update(self, request: web.Request, target: Target) -> web.StreamResponse:
        opts = self._options(request, target, "UpdateOptions")
        body = await self._body(request, target.rt)
        rt = target.rt
        if target.subresource == "scale":
            return self._update_scale(target, body, opts)
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
                obj = self.writer.create(rt, body, target.namespace or "", opts)
                return json_response(201, obj, opts.warnings)
            raise not_found(rt.plural, target.name, rt.group)
        obj = self.writer.update(rt, body, so, opts)
        return json_response(200, self.encoded(rt, obj), opts.warnings)

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
        opts = self._options(request, target, "PatchOptions")
        raw = await request.read()
        if patch_type == "apply":
            return apply_request(self, request, target, raw, opts)
        patch = decode_body(raw, "json", rt.kind)
        so = self.store.get(storage_key(rt), target.namespace or "", target.name)
        if so is None:
            raise not_found(rt.plural, target.name, rt.group)
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
            return self._update_scale(target, new, opts)
        obj = self.writer.update(rt, new, so, opts)
        return json_response(200, self.encoded(rt, obj), opts.warnings)

    def _update_scale(
        self, target: Target, scale: dict[str, Any], opts: WriteOptions
    ) -> web.StreamResponse:
        rt = target.rt
        so = self._current(target)
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
        new = self.writer.update(rt, obj, so, opts)
        return json_response(200, _to_scale(rt, new))

    async def _delete(self, request: web.Request, target: Target) -> web.StreamResponse:
        rt = target.rt
        opts = await self._delete_options(request)
        so = self._current(target)
        obj, removed = self.writer.delete(rt, so, opts)
        if removed and storage_key(rt) not in RETURNS_OBJECT:
            return json_response(200, _success(rt, obj))
        return json_response(200, obj)

    async def _delete_options(self, request: web.Request) -> DeleteOptions:
        q = request.query
        body: dict[str, Any] = {}
        raw = await request.read()
        if raw.strip():
            if _media(request) == protobuf.MEDIA_TYPE:
                decoded = protobuf.decode_request(raw, "meta.k8s.io/v1", "DeleteOptions")
            else:
                decoded = decode_body(raw, _media(request) or "json", "DeleteOptions")
            if isinstance(decoded, dict):
                body = decoded
        pre = body.get("preconditions") or {}
        grace = q.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
        propagation = q.get("propagationPolicy", body.get("propagationPolicy") or "")
        orphan = q.get("orphanDependents", body.get("orphanDependents"))
        if not propagation and flag(orphan):
            propagation = "Orphan"
        values = q.getall("dryRun", []) or list(body.get("dryRun") or [])
        return DeleteOptions(
            propagation=str(propagation or ""),
            grace_seconds=integer(grace, "gracePeriodSeconds"),
            precondition_uid=str(pre.get("uid") or ""),
            precondition_rv=str(pre.get("resourceVersion") or ""),
            dry_run=dry_run(q, values, "DeleteOptions"),
        )

    async def _delete_collection(self, request: web.Request, target: Target) -> web.StreamResponse:
        rt = target.rt
        opts = await self._delete_options(request)
        page, meta = self.select(target, request.query)
        meta.pop("continue", None)
        meta.pop("remainingItemCount", None)
        deleted: list[bytes] = []
        for so in page:
            obj, removed = self.writer.delete(rt, so, opts)
            if removed:
                # The collection answer lists removed objects as they were stored.
                deleted.append(self.object_bytes(rt, so, item=True))
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
