"""Which CustomResourceDefinitions are Established: one shared CRD watch for a cache.

A cache that follows its CRDs (``Cache(follow_crds=True)``) starts the informer of a custom
kind only while its CRD is Established, and stops it when the CRD goes. Knowing that takes one
list+watch of CRDs (whatever the number of custom kinds), kept by :class:`CrdTracker`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from opframe.resource import KubeModel, Resource

__all__ = ["CrdTracker", "CustomResourceDefinition"]


class CustomResourceDefinitionStatus(KubeModel):
    """What the tracker reads of a CRD's status: its conditions."""

    conditions: list[dict[str, Any]] | None = None


class CustomResourceDefinition(
    Resource, group="apiextensions.k8s.io", version="v1", scope="Cluster", builtin=True
):
    """A CRD, as much of it as following CRDs needs (unknown fields are kept)."""

    spec: dict[str, Any] | None = None
    status: CustomResourceDefinitionStatus | None = None


def is_established(crd: CustomResourceDefinition) -> bool:
    """Established and not being deleted."""
    if crd.metadata.deletion_timestamp:
        return False
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


class CrdTracker:
    """The set of Established CRD names, and a way to wait for one to appear or go.

    Fed by the events of a CRD informer (:meth:`observe`); :meth:`wait` returns when a CRD's
    state is the one asked for (after the first list, so "absent" means absent).
    """

    def __init__(self) -> None:
        self._established: set[str] = set()
        self._changed = asyncio.Event()
        self.synced = False

    def established(self, name: str) -> bool:
        """Whether CRD ``name`` (``plural.group``) is Established now."""
        return name in self._established

    def observe(self, name: str, established: bool) -> None:
        """Record CRD ``name``'s state and wake the waiters if it changed."""
        if established == (name in self._established):
            return
        if established:
            self._established.add(name)
        else:
            self._established.discard(name)
        self._wake()

    def mark_synced(self) -> None:
        """The first list is in: absence now means the CRD is not installed."""
        self.synced = True
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def changed(self) -> None:
        """Return at the next change (a CRD appearing or going, or the first list)."""
        await self._changed.wait()

    async def wait(self, name: str, *, established: bool) -> None:
        """Return once the CRD tracker has synced and ``name``'s state is ``established``."""
        while not (self.synced and self.established(name) == established):
            await self._changed.wait()
