"""Recording Kubernetes Events (``core/v1``) about the objects an operator manages.

::

    recorder = EventRecorder(client, "etcd-operator")
    await recorder.event(cluster, "Normal", "MemberAdded", "added member etcd-3")
    await recorder.warning(cluster, "QuorumLost", "1/3 members healthy")

Repeats are aggregated the way client-go's event correlator does it: the same (object,
type, reason, message) within ``aggregation_window`` seconds patches the existing Event's
``count`` and ``lastTimestamp`` instead of creating another object, so a reconcile loop that
reports the same problem every few seconds leaves one Event, not thousands. The recorder
remembers at most ``max_tracked`` recent Events (least recently used are forgotten).

Recording never fails a reconcile: an Event the server rejects is logged and dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from opframe.client import Client
from opframe.errors import ApiError, NotFound
from opframe.kinds import Event, EventSource, ObjectReference
from opframe.resource import ObjectMeta, Resource

__all__ = ["EventRecorder", "EventType"]

logger = logging.getLogger("opframe.events")

EventType = Literal["Normal", "Warning"]
"""The two Event types Kubernetes knows."""

_MAX_MESSAGE = 1024
_Key = tuple[str, str, str, str, str, str, str]


@dataclass
class _Series:
    name: str
    namespace: str
    count: int
    last: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class EventRecorder:
    """Writes Events on behalf of ``component`` (shown as the Event's source).

    Args:
        client: the client to write with.
        component: the reporting component, e.g. the operator's name.
        instance: the reporting instance (default: the host name).
        aggregation_window: repeats within this many seconds update the same Event.
        max_tracked: how many distinct Events are remembered for aggregation.
    """

    def __init__(
        self,
        client: Client,
        component: str,
        *,
        instance: str | None = None,
        aggregation_window: float = 600.0,
        max_tracked: int = 4096,
    ) -> None:
        self.client = client
        self.component = component
        self.instance = instance or os.environ.get("POD_NAME") or socket.gethostname()
        self.aggregation_window = aggregation_window
        self.max_tracked = max_tracked
        self._series: OrderedDict[_Key, _Series] = OrderedDict()

    async def normal(self, obj: Resource, reason: str, message: str) -> None:
        """Record a ``Normal`` Event."""
        await self.event(obj, "Normal", reason, message)

    async def warning(self, obj: Resource, reason: str, message: str) -> None:
        """Record a ``Warning`` Event."""
        await self.event(obj, "Warning", reason, message)

    async def event(self, obj: Resource, type: EventType, reason: str, message: str) -> None:
        """Record an Event about ``obj``, aggregating repeats."""
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        meta = obj.metadata
        key: _Key = (
            obj.api_version,
            obj.kind,
            meta.namespace or "",
            meta.name or "",
            meta.uid or "",
            type + "/" + reason,
            message,
        )
        series = self._series.get(key)
        if series is None:
            # Created before any await, so concurrent repeats share one series (and one lock).
            # Events of cluster-scoped objects live in "default", as client-go puts them.
            series = self._series[key] = _Series(
                name="", namespace=meta.namespace or "default", count=0, last=0.0
            )
            while len(self._series) > self.max_tracked:
                self._series.popitem(last=False)
        self._series.move_to_end(key)
        try:
            async with series.lock:
                fresh = time.monotonic() - series.last <= self.aggregation_window
                if series.name and fresh and await self._bump(series):
                    return
                await self._create(series, obj, type, reason, message)
        except ApiError as exc:
            logger.warning(
                "could not record %s event %s on %s: %s", type, reason, obj.describe(), exc
            )

    async def _bump(self, series: _Series) -> bool:
        count = series.count + 1
        patch = {"count": count, "lastTimestamp": _timestamp().strftime("%Y-%m-%dT%H:%M:%SZ")}
        try:
            await self.client.patch(Event, series.name, patch, namespace=series.namespace)
        except NotFound:
            # Events expire (one hour by default); start a new one.
            return False
        series.count = count
        series.last = time.monotonic()
        return True

    async def _create(
        self, series: _Series, obj: Resource, type: EventType, reason: str, message: str
    ) -> None:
        meta = obj.metadata
        namespace = series.namespace
        now = _timestamp()
        event = Event(
            metadata=ObjectMeta(
                name=f"{meta.name}.{time.time_ns():x}{secrets.token_hex(2)}",
                namespace=namespace,
            ),
            involved_object=ObjectReference(
                api_version=obj.api_version,
                kind=obj.kind,
                name=meta.name,
                namespace=meta.namespace,
                uid=meta.uid,
                resource_version=meta.resource_version,
            ),
            reason=reason,
            message=message,
            type=type,
            count=1,
            first_timestamp=now,
            last_timestamp=now,
            source=EventSource(component=self.component, host=self.instance),
            reporting_component=self.component,
            reporting_instance=self.instance,
        )
        created = await self.client.create(event)
        series.name = created.metadata.name or ""
        series.count = 1
        series.last = time.monotonic()


def _timestamp() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
