"""Server-side apply requests (``application/apply-patch+yaml``): create or update by apply.

The field-ownership merge itself is the pure ``apply.server_side_apply``; this module checks
the request (fieldManager, name), creates the object when it does not exist, and hands the
merged object to the generic write path with its managedFields already computed.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from opframe.testing.apiserver import _pure
from opframe.testing.apiserver.registry import storage_key
from opframe.testing.apiserver.request import Target
from opframe.testing.apiserver.status import Cause, StatusError, bad_request
from opframe.testing.apiserver.writes import WriteOptions, now, rfc3339

if TYPE_CHECKING:
    from opframe.testing.apiserver.handlers import Handlers

__all__ = ["apply_request"]


def _merge_applied(live: Any, applied: Any) -> Any:
    """Stand-in for server_side_apply: set what was applied, keep the rest."""
    if isinstance(live, dict) and isinstance(applied, dict):
        out = dict(live)
        for k, v in applied.items():
            out[k] = _merge_applied(live.get(k), v)
        return out
    return copy.deepcopy(applied)


def apply_request(
    handlers: Handlers, request: web.Request, target: Target, raw: bytes, opts: WriteOptions
) -> web.StreamResponse:
    """Answer a server-side apply PATCH."""
    from opframe.testing.apiserver.handlers import json_response

    rt = target.rt
    q = request.query
    manager = q.get("fieldManager", "")
    if not manager:
        cause = Cause(
            reason="FieldValueRequired",
            message="Required value: is required for apply patch",
            field="fieldManager",
        )
        raise StatusError(
            422,
            "Invalid",
            f'PatchOptions.meta.k8s.io "" is invalid: fieldManager: {cause["message"]}',
            {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [cause]},
        )
    try:
        applied = yaml.safe_load(raw.decode("utf-8", "replace"))
    except yaml.YAMLError as e:
        raise bad_request(f"error decoding YAML: {e}") from None
    if not isinstance(applied, dict):
        raise bad_request("the apply body must be an object")
    meta = applied.get("metadata") if isinstance(applied.get("metadata"), dict) else {}
    if meta.get("name", "") != target.name:
        raise bad_request(
            f"the name of the object ({meta.get('name', '')}) does not match the name on the URL "
            f"({target.name})"
        )
    opts.manager = manager
    force = q.get("force") in ("true", "1")
    so = handlers.store.get(storage_key(rt), target.namespace or "", target.name)
    live = copy.deepcopy(handlers.writer.served(rt, so.obj)) if so is not None else None
    t = rfc3339(now())
    if _pure.server_side_apply is not None:
        merged = _pure.server_side_apply(
            live,
            applied,
            manager=manager,
            force=force,
            api_version=rt.api_version,
            schema=rt.schema,
            group=rt.group,
            kind=rt.kind,
            resource=rt.plural,
            name=target.name,
            time=t,
        )
    else:
        merged = _merge_applied(live or {}, applied)
        _pure.update_managed_fields(
            live,
            merged,
            manager=manager,
            operation="Apply",
            api_version=rt.api_version,
            subresource=target.subresource,
            time=t,
        )
    if so is None:
        obj = handlers.writer.create(
            rt, merged, target.namespace or "", opts, managed_fields_done=True
        )
        return json_response(201, obj, opts.warnings)
    obj = handlers.writer.update(rt, merged, so, opts, managed_fields_done=True)
    return json_response(200, obj, opts.warnings)
