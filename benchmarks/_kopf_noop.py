"""The kopf side of the benchmark: the equivalent of a no-op reconcile, run by ``kopf run``.

``@kopf.on.event`` is kopf's level-style handler: called for every object on the initial
listing and for every watch event, with no per-object state written back (no annotations, no
finalizers, no status patches), so kopf does the same work as a no-op opframe reconciler: list,
watch, dispatch one handler call per object. Event posting and peering are off. A ``count``
line every 0.2 s says how far it got.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import kopf

EXPECT = int(os.environ["BENCH_EXPECT"])
STARTED = float(os.environ.get("BENCH_STARTED", time.time()))
_state: dict[str, Any] = {"count": 0, "first": None}


def _emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def _ticker() -> None:
    while True:
        _emit(event="count", n=_state["count"], t=time.time())
        await asyncio.sleep(0.2)  # a progress report, not synchronisation


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False
    settings.peering.standalone = True
    settings.watching.server_timeout = 300
    _state["ticker"] = asyncio.create_task(_ticker())


@kopf.on.event("bench.opframe.dev", "v1", "benchitems")
async def noop(**_: Any) -> None:
    now = time.time()
    if _state["first"] is None:
        _state["first"] = now
        _emit(event="first_reconcile", t=now, started=STARTED)
    _state["count"] += 1
    if _state["count"] == EXPECT:
        _emit(event="all_reconciled", t=now, first=_state["first"], count=EXPECT)
