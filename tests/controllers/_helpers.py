"""Builders and waits shared by the controller tests (raw JSON through the public Client)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from opframe.client import Client
from opframe.errors import NotFound
from opframe.testing.cluster import LocalCluster
from opframe.testing.controllers import served_resources
from tests.runtime._env import eventually

__all__ = [
    "Obj",
    "create",
    "eventually",
    "get",
    "list_items",
    "patch",
    "pod_template",
    "requires",
    "wait_for",
]

Obj = dict[str, Any]

_PATHS = {
    "deployments": "/apis/apps/v1", "replicasets": "/apis/apps/v1",
    "statefulsets": "/apis/apps/v1", "controllerrevisions": "/apis/apps/v1",
    "daemonsets": "/apis/apps/v1", "jobs": "/apis/batch/v1", "cronjobs": "/apis/batch/v1",
    "endpointslices": "/apis/discovery.k8s.io/v1",
}  # fmt: skip


def _path(plural: str, ns: str | None, name: str | None = None) -> str:
    base = _PATHS.get(plural, "/api/v1")
    path = f"{base}/namespaces/{ns}/{plural}" if ns else f"{base}/{plural}"
    return f"{path}/{name}" if name else path


async def requires(cluster: LocalCluster, *plurals: str) -> None:
    """Skip the test unless the API server serves every ``group/plural`` given."""
    served = await served_resources(cluster.client)
    for plural in plurals:
        if plural not in served:
            pytest.skip(f"kind {plural} not served yet")


async def create(client: Client, plural: str, obj: Obj, ns: str = "default") -> Obj:
    """POST ``obj``."""
    result: Obj = await client.request("POST", _path(plural, ns), body=obj)
    return result


async def get(client: Client, plural: str, name: str, ns: str = "default") -> Obj | None:
    """GET one object, ``None`` if missing."""
    try:
        result: Obj = await client.request("GET", _path(plural, ns, name))
    except NotFound:
        return None
    return result


async def patch(client: Client, plural: str, name: str, body: Obj, ns: str = "default") -> Obj:
    """Merge-patch one object."""
    result: Obj = await client.request(
        "PATCH", _path(plural, ns, name), body=body, content_type="application/merge-patch+json"
    )
    return result


async def list_items(
    client: Client, plural: str, ns: str = "default", selector: str | None = None
) -> list[Obj]:
    """The items of a list (optionally by label selector)."""
    params = {"labelSelector": selector} if selector else None
    listing = await client.request("GET", _path(plural, ns), params=params)
    items: list[Obj] = listing.get("items") or []
    return items


async def wait_for(
    probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], *,
    within: float = 30.0, message: str = "condition not met",
) -> Any:  # fmt: skip
    """Wait until ``check(await probe())``; return the last probe result."""
    last: list[Any] = [None]

    async def ok() -> bool:
        last[0] = await probe()
        return bool(check(last[0]))

    try:
        await eventually(ok, timeout=within, message=message)
    except AssertionError as exc:
        raise AssertionError(f"{message}; last seen: {last[0]!r}"[:3000]) from exc
    return last[0]


def pod_template(labels: dict[str, str], command: str = "sleep 3600", **spec: Any) -> Obj:
    """A pod template of one `busybox` container running ``command`` from the host."""
    container = {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", command]}
    return {
        "metadata": {"labels": labels},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 1, **spec},
    }
