"""Server-side apply requests (``application/apply-patch+yaml``): create or update by apply.

The field-ownership merge itself is the pure ``field_manager.server_side_apply``; this module checks
the request (fieldManager, name), creates the object when it does not exist, and hands the
merged object to the generic write path with its managedFields already computed.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from opframe.testing.apiserver.errors import bad_request
from opframe.testing.apiserver.http.request import Target, flag
from opframe.testing.apiserver.http.responses import json_response
from opframe.testing.apiserver.merge import field_manager
from opframe.testing.apiserver.registry.resources import storage_key
from opframe.testing.apiserver.registry.writes import WriteOptions, Writer, now, rfc3339

__all__ = ["apply_request"]


async def apply_request(
    writer: Writer, request: web.Request, target: Target, raw: bytes, opts: WriteOptions
) -> web.StreamResponse:
    """Answer a server-side apply PATCH (``opts`` validated: the fieldManager is set)."""
    rt = target.rt
    q = request.query
    manager = opts.manager
    applied = field_manager.decode_apply_body(raw)
    raw_meta = applied.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    if meta.get("name", "") and meta["name"] != target.name:
        raise bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL "
            f"({target.name})"
        )
    force = flag(q.get("force"))
    so = writer.store.get(storage_key(rt), target.namespace or "", target.name)
    if so is not None:
        await writer.prefetch(rt, [so.obj])
    live = copy.deepcopy(writer.served(rt, so.obj)) if so is not None else None
    t = rfc3339(now())
    ignored = ("status",) if "status" in rt.subresources and not target.subresource else ()
    merged = field_manager.server_side_apply(
        live,
        applied,
        manager=manager,
        force=force,
        api_version=rt.api_version,
        schema=rt.schema if rt.custom else None,
        group=rt.group,
        kind=rt.kind,
        resource=rt.plural,
        name=target.name,
        time=t,
        ignored_fields=ignored,
    )
    if so is None:
        obj = await writer.create_async(
            rt, merged, target.namespace or "", opts, managed_fields_done=True
        )
        return json_response(201, obj, opts.warnings)
    obj = await writer.update_async(rt, merged, so, opts, managed_fields_done=True)
    return json_response(200, obj, opts.warnings)
