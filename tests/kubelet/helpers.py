"""Helpers of the kubelet tests: pod builders and waiting on pod state with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from opframe.client import Client
from opframe.errors import AlreadyExists
from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet._mirror import get_or_none

Obj = dict[str, Any]


async def ensure_namespace(cluster: LocalCluster, ns: str) -> None:
    """Create namespace ``ns`` and its default ServiceAccount if missing."""
    api = cluster.client
    if await get_or_none(api, f"/api/v1/namespaces/{ns}") is None:
        await api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}})
    if await get_or_none(api, f"/api/v1/namespaces/{ns}/serviceaccounts/default") is None:
        body = {"metadata": {"name": "default"}}
        # LocalCluster's service-account controller may win the race: either is fine.
        with contextlib.suppress(AlreadyExists):
            await api.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", body=body)


async def create(cluster: LocalCluster, plural: str, obj: Obj, ns: str = "default") -> Obj:
    """Create ``obj`` in ``ns`` through the API server."""
    await ensure_namespace(cluster, ns)
    created: Obj = await cluster.client.request(
        "POST", f"/api/v1/namespaces/{ns}/{plural}", body=obj
    )
    return created


async def get_pod(cluster: LocalCluster, name: str, ns: str = "default") -> Obj | None:
    """The pod as the API server has it, or None."""
    return await get_or_none(cluster.client, f"/api/v1/namespaces/{ns}/pods/{name}")


async def wait_pod(
    cluster: LocalCluster,
    name: str,
    check: Callable[[Obj | None], bool],
    *,
    ns: str = "default",
    limit: float = 20.0,
) -> Obj | None:
    """Watch pod ``name`` until ``check(pod)`` holds (None: deleted); fail after ``limit`` s."""
    api = cluster.client
    path = f"/api/v1/namespaces/{ns}/pods"
    async with asyncio.timeout(limit):
        while True:
            listing = await api.request(
                "GET", path, params={"fieldSelector": f"metadata.name={name}"}
            )
            items = listing.get("items") or []
            current = items[0] if items else None
            if check(current):
                return current
            rv = listing["metadata"]["resourceVersion"]
            selector = {"fieldSelector": f"metadata.name={name}"}
            async for event in watch_events(api, path, rv, selector):
                current = None if event["type"] == "DELETED" else event["object"]
                if event["type"] != "BOOKMARK" and check(current):
                    return current


async def watch_events(
    client: Client, path: str, resource_version: str, params: dict[str, str] | None = None
) -> AsyncIterator[Obj]:
    """The raw watch events of collection ``path`` from ``resource_version`` (with bookmarks)."""
    query = {
        **(params or {}),
        "watch": "1",
        "resourceVersion": resource_version,
        "allowWatchBookmarks": "true",
    }
    async with client.stream("GET", path, params=query) as lines:
        async for event in lines:
            yield event


def condition(pod: Obj | None, type_: str) -> str | None:
    """The status of condition ``type_`` of ``pod``."""
    for cond in ((pod or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return str(cond.get("status"))
    return None


def container_status(pod: Obj | None, index: int = 0) -> Obj:
    """``status.containerStatuses[index]`` (empty dict if absent)."""
    statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
    return statuses[index] if len(statuses) > index else {}


def busybox_pod(name: str, script: str, **spec: Any) -> Obj:
    """A pod running ``sh -c script`` from the host."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "containers": [
                {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", script]}
            ],
            **spec,
        },
    }


async def wait_process_gone(pid: int, limit: float = 40.0) -> None:
    """Wait (pidfd, no polling) until process ``pid`` has exited."""

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        loop = asyncio.get_running_loop()
        gone = asyncio.Event()
        loop.add_reader(fd, gone.set)
        try:
            async with asyncio.timeout(limit):
                await gone.wait()
        finally:
            loop.remove_reader(fd)
    finally:
        os.close(fd)
