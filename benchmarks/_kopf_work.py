"""The kopf side of the real-work benchmark, run by ``kopf run``.

The same work per call as ``_opframe_work.py``: the parent's children are read from a kopf
index (kopf's in-memory cache, ``@kopf.index`` on ConfigMaps by owner uid), one child is
server-side-applied and the status patched only when it changed. The writes use opframe's
``Client`` (aiohttp, the fastest client at hand): kopf is not slowed by its client library,
only by its own machinery. ``@kopf.on.event`` is kopf's level-style handler (no per-object
state written back); posting is off. Prints a ``count`` line every 0.2 s
(calls that wrote a status, i.e. processed a new spec, and all calls).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import kopf

sys.path.insert(0, str(Path(__file__).parent))

from _model import WorkItem

from opframe.client import Client
from opframe.kinds import ConfigMap
from opframe.resource import ObjectMeta

EXPECT = int(os.environ["BENCH_EXPECT"])
_state: dict[str, Any] = {"n": 0, "calls": 0, "first": None, "seen": set(), "client": None}


def _emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def _ticker() -> None:
    while True:
        _emit(event="count", n=_state["n"], calls=_state["calls"], t=time.time())
        await asyncio.sleep(0.2)  # a progress report, not synchronisation


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False
    settings.peering.standalone = True
    settings.watching.server_timeout = 300
    _state["client"] = await Client.from_kubeconfig(os.environ["KUBECONFIG"])
    _state["ticker"] = asyncio.create_task(_ticker())


@kopf.index("", "v1", "configmaps")
def by_owner(meta: kopf.Meta, **_: Any) -> Any:
    return {ref["uid"]: meta.get("name") for ref in meta.get("ownerReferences") or ()}


@kopf.on.event("bench.opframe.dev", "v1", "workitems")
async def work(
    name: str, namespace: str, spec: Any, status: Any, uid: str, by_owner: Any, **_: Any
) -> None:
    if not uid:
        return
    client: Client = _state["client"]
    children = list(by_owner.get(uid, ()))
    revision = int(spec.get("revision", 0))
    child = ConfigMap(
        metadata=ObjectMeta(
            name=f"{name}-0",
            namespace=namespace,
            owner_references=[
                {
                    "apiVersion": WorkItem.__resource__.api_version,
                    "kind": "WorkItem",
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        ),
        data={"revision": str(revision)},
    )
    await client.apply(child, field_manager="bench-work", force=True)
    if status.get("observedRevision") != revision or status.get("children") != len(children):
        body = {"status": {"observedRevision": revision, "children": len(children)}}
        await client.patch_status(WorkItem, name, body, namespace=namespace)
        _state["n"] += 1
    now = time.time()
    _state["calls"] += 1
    if _state["first"] is None:
        _state["first"] = now
        _emit(event="first_reconcile", t=now)
    seen = _state["seen"]
    if len(seen) < EXPECT:
        seen.add(name)
        if len(seen) == EXPECT:
            _emit(event="all_reconciled", t=now, first=_state["first"], count=EXPECT)
