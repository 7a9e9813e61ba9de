"""ControllerRevisions: the template history of StatefulSets and DaemonSets.

Follows ``pkg/controller/history/controller_history.go`` (``NewControllerRevision``,
``FindEqualRevisions``), ``statefulset/stateful_set_control.go`` (``truncateHistory``) and
``daemon/update.go`` (``constructHistory``, ``cleanupHistory``):

- a revision ``OWNER-HASH`` holds the template (``data``), the owner's template labels plus
  ``controller.kubernetes.io/hash``, a controller reference, and ``revision`` one more than
  the highest of the owner's revisions;
- going back to a template that has a revision renumbers that revision as the newest
  rather than writing a second one;
- revisions beyond ``revisionHistoryLimit`` (default 10), oldest first, are deleted, except
  those in use (by a live pod, or the current and update revisions).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from opframe.errors import AlreadyExists, Conflict, NotFound
from opframe.reconcile import Context
from opframe.testing.controllers._kinds import ControllerRevision, body
from opframe.testing.controllers._util import Obj, owner_ref

__all__ = ["HASH_LABEL", "ensure_revision", "owned_revisions", "truncate_history"]

HASH_LABEL = "controller.kubernetes.io/hash"


def owned_revisions(ctx: Context, owner: Obj) -> list[Obj]:
    """The owner's ControllerRevisions, oldest (lowest ``revision``) first."""
    meta = owner["metadata"]
    found = [
        body(r) for r in ctx.cache.list(ControllerRevision, meta.get("namespace"))
        if any(o.uid == meta["uid"] for o in r.metadata.owner_references or [])
    ]  # fmt: skip
    return sorted(found, key=lambda r: (int(r.get("revision", 0)), r["metadata"]["name"]))


async def ensure_revision(
    ctx: Context, owner: Obj, pod_hash: str, *, extra_labels: dict[str, str] | None = None
) -> str:
    """Make sure revision ``OWNER-HASH`` of the owner's template exists and is the newest."""
    meta, spec = owner["metadata"], owner.get("spec") or {}
    name = f"{meta['name']}-{pod_hash}"
    ns = meta.get("namespace")
    history = owned_revisions(ctx, owner)
    newest = max((int(r.get("revision", 0)) for r in history), default=0)
    existing = next((r for r in history if r["metadata"]["name"] == name), None)
    if existing is not None:
        if int(existing.get("revision", 0)) < newest:
            with contextlib.suppress(NotFound, Conflict):
                await ctx.client.patch(ControllerRevision, name, {"revision": newest + 1},
                                       namespace=ns, patch_type="merge")  # fmt: skip
        return name
    template: dict[str, Any] = spec.get("template") or {}
    labels = {**((template.get("metadata") or {}).get("labels") or {}),
              **(extra_labels or {}), HASH_LABEL: pod_hash}  # fmt: skip
    revision = {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": name, "namespace": ns, "labels": labels,
                     "ownerReferences": [owner_ref(owner)]},
        "data": {"spec": {"template": {**template, "$patch": "replace"}}},
        "revision": newest + 1,
    }  # fmt: skip
    with contextlib.suppress(AlreadyExists):
        await ctx.client.create(ControllerRevision.model_validate(revision))
    return name


async def truncate_history(ctx: Context, owner: Obj, in_use: Iterable[str]) -> None:
    """Delete the oldest revisions not ``in_use`` beyond ``revisionHistoryLimit``."""
    limit = (owner.get("spec") or {}).get("revisionHistoryLimit")
    limit = 10 if limit is None else int(limit)
    keep = set(in_use)
    spare = [r for r in owned_revisions(ctx, owner) if r["metadata"]["name"] not in keep]
    for revision in spare[: max(0, len(spare) - limit)]:
        with contextlib.suppress(NotFound):
            await ctx.client.delete(ControllerRevision, revision["metadata"]["name"],
                                    owner["metadata"].get("namespace"))  # fmt: skip
