"""What the kubelet needs of the API on top of :class:`opframe.Client` and :func:`opframe.watch`.

The kubelet works on whole objects as the API server sends them (raw dicts: it only needs the
wire format, as kubelet itself), through the SDK's client and its list-then-watch loop, so a
fix to either is made once. :class:`Mirror` keeps the current objects of one kind and calls
``on_change(type, old, new)`` for every change the watcher reports.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from opframe.client import Client
from opframe.dynamic import DynamicResource, dynamic_kind
from opframe.errors import NotFound
from opframe.watch import Change, Watcher, WatcherEvent, watch

__all__ = [
    "PVC",
    "ConfigMap",
    "Mirror",
    "Obj",
    "Pod",
    "Secret",
    "Service",
    "get_or_none",
    "merge_patch",
]

log = logging.getLogger("opframe.kubelet")

Obj = dict[str, Any]
OnChange = Callable[[str, Obj | None, Obj | None], Awaitable[None]]

Pod = dynamic_kind("v1", "Pod")
Service = dynamic_kind("v1", "Service")
PVC = dynamic_kind("v1", "PersistentVolumeClaim")
Secret = dynamic_kind("v1", "Secret")
ConfigMap = dynamic_kind("v1", "ConfigMap")

MERGE_PATCH = "application/merge-patch+json"


async def get_or_none(client: Client, path: str) -> Obj | None:
    """GET ``path`` as JSON, or ``None`` when it is not found."""
    try:
        found: Obj = await client.request("GET", path)
    except NotFound:
        return None
    return found


async def merge_patch(client: Client, path: str, patch: Obj) -> Obj:
    """A JSON merge patch of ``path``; returns the object as stored."""
    result: Obj = await client.request("PATCH", path, body=patch, content_type=MERGE_PATCH)
    return result


def key_of(namespace: str, name: str) -> str:
    """``namespace/name`` (``name`` for cluster-scoped objects): the mirror's keys."""
    return f"{namespace}/{name}" if namespace else name


class Mirror:
    """The current objects of one kind (all namespaces), fed by the SDK watcher.

    ``items`` maps ``namespace/name`` to the object; ``synced`` is set once the first list
    has been handled. ``on_change`` gets ``ADDED``/``MODIFIED`` (old, new) and ``DELETED``
    (last state, None); a relist reports what changed meanwhile, objects gone included. A
    handler that fails is logged and the mirror goes on. (The mirror is a reflector onto
    raw dicts: the kubelet works on the wire format.)
    """

    def __init__(self, client: Client, model: type[DynamicResource], on_change: OnChange) -> None:
        self._on_change = on_change
        self._watcher: Watcher[DynamicResource] = watch(client, model)
        self.items: dict[str, Obj] = {}
        self.synced = asyncio.Event()
        self._listed: set[str] = set()

    async def run(self) -> None:
        """Follow the watcher until cancelled."""
        try:
            async for event in self._watcher:
                await self._handle(event)
        finally:
            await self._watcher.aclose()

    async def _handle(self, event: WatcherEvent[DynamicResource]) -> None:
        if event.type == Change.INIT:
            self._listed = set()
            return
        if event.type == Change.INIT_DONE:
            for key in [k for k in self.items if k not in self._listed]:
                await self._notify("DELETED", self.items.pop(key), None)
            self.synced.set()
            return
        assert event.ref is not None and event.entry is not None
        key = key_of(event.ref.namespace, event.ref.name)
        obj: Obj = json.loads(event.entry.raw)
        if event.type == Change.DELETE:
            old = self.items.pop(key, None)
            await self._notify("DELETED", old or obj, None)
            return
        if event.type == Change.INIT_APPLY:
            self._listed.add(key)
        old = self.items.get(key)
        if old is not None and _version(old) == _version(obj):
            return  # relisted unchanged
        self.items[key] = obj
        await self._notify("MODIFIED" if old is not None else "ADDED", old, obj)

    async def _notify(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        try:
            await self._on_change(kind, old, new)
        except Exception:
            # One object the handler trips over must not stop the mirror for all the others.
            meta = (new or old or {}).get("metadata") or {}
            log.exception(
                "handling %s of %s/%s failed", kind, meta.get("namespace"), meta.get("name")
            )


def _version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))
