"""Finalizers: run a cleanup step before Kubernetes deletes an object.

:func:`finalize` wraps a reconcile in the two outcomes of kube-rs's ``finalizer`` helper:
while the object lives, the finalizer is added (before anything else happens, so no side
effect can escape cleanup) and ``apply`` runs; once the object is being deleted, ``cleanup``
runs and, only if it succeeded, the finalizer is removed so the deletion completes::

    FINALIZER = "etcd.opframe.dev/cleanup"

    async def reconcile(ctx, cluster):
        return await finalize(
            ctx.client, cluster, FINALIZER,
            apply=lambda c: converge(ctx, c),
            cleanup=lambda c: remove_backups(ctx, c),
        )

Finalizer writes are merge patches carrying the object's ``resourceVersion``, so they fail
with :class:`~opframe.errors.Conflict` instead of clobbering a concurrent change; the
controller then retries with a fresh read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from opframe.client import Client
from opframe.resource import Resource

__all__ = ["ensure_finalizer", "finalize", "has_finalizer", "remove_finalizer"]

T = TypeVar("T", bound=Resource)
R = TypeVar("R")


def has_finalizer(obj: Resource, name: str) -> bool:
    """Whether ``obj`` carries the finalizer ``name``."""
    return name in (obj.metadata.finalizers or ())


async def _write_finalizers(client: Client, obj: T, finalizers: list[str]) -> T:
    meta = obj.metadata
    if not meta.name:
        raise ValueError(f"{obj.kind}: the object has no name; read it from the server first")
    patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta.resource_version}}
    return await client.patch(type(obj), meta.name, patch, namespace=meta.namespace)


async def ensure_finalizer(client: Client, obj: T, name: str) -> tuple[T, bool]:
    """Add the finalizer ``name`` to ``obj`` unless present.

    Returns the object as stored afterwards and whether it was added. Raises ``Conflict`` if
    ``obj`` is stale.
    """
    if has_finalizer(obj, name):
        return obj, False
    updated = await _write_finalizers(client, obj, [*(obj.metadata.finalizers or ()), name])
    return updated, True


async def remove_finalizer(client: Client, obj: T, name: str) -> tuple[T, bool]:
    """Remove the finalizer ``name`` from ``obj`` if present.

    Returns the object as stored afterwards and whether it was removed. When it was the last
    finalizer of an object being deleted, the object is gone once this returns.
    """
    if not has_finalizer(obj, name):
        return obj, False
    remaining = [f for f in obj.metadata.finalizers or () if f != name]
    updated = await _write_finalizers(client, obj, remaining)
    return updated, True


async def finalize(
    client: Client,
    obj: T,
    name: str,
    *,
    apply: Callable[[T], Awaitable[R]],
    cleanup: Callable[[T], Awaitable[R]],
) -> R | None:
    """Run ``apply`` or ``cleanup`` for ``obj`` with the finalizer ``name`` around them.

    - Live object: add the finalizer if missing, then ``apply(obj)`` (with the updated
      object) and return its result.
    - Object being deleted, finalizer present: ``cleanup(obj)``; when it returns, remove the
      finalizer and return its result. If it raises, the finalizer stays and the error
      propagates, so the controller retries the cleanup.
    - Object being deleted without our finalizer: nothing to do; returns ``None``.

    ``cleanup`` must be idempotent: if removing the finalizer fails (``Conflict`` with a
    concurrent change), the controller retries and ``cleanup`` runs again.
    """
    if obj.metadata.deletion_timestamp is None:
        obj, _ = await ensure_finalizer(client, obj, name)
        return await apply(obj)
    if not has_finalizer(obj, name):
        return None
    result = await cleanup(obj)
    await remove_finalizer(client, obj, name)
    return result
