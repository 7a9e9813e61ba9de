"""Garbage collection of ownerReferences and namespace deletion, run in-process."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from opframe.testing import eventually
from opframe.testing.apiserver import ApiServer

NS = "/api/v1/namespaces/default"


class Api:
    """A few REST calls against one server."""

    def __init__(self, server: ApiServer, session: aiohttp.ClientSession) -> None:
        self.url = server.url
        self.s = session

    async def call(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        async with self.s.request(method, self.url + path, json=body, params=params) as resp:
            data = await resp.json()
            assert resp.status < 300, data
            return data

    async def status(self, path: str) -> int:
        async with self.s.get(self.url + path) as resp:
            return resp.status

    async def owner(self, name: str, finalizers: list[str] | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name}
        if finalizers:
            meta["finalizers"] = finalizers
        result: dict[str, Any] = await self.call("POST", NS + "/configmaps", {"metadata": meta})
        return result

    async def dependent(self, name: str, *owners: dict[str, Any]) -> None:
        refs = [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": o["metadata"]["name"],
                "uid": o["metadata"]["uid"],
                "blockOwnerDeletion": True,
            }
            for o in owners
        ]
        meta = {"name": name, "ownerReferences": refs}
        await self.call("POST", NS + "/secrets", {"metadata": meta})


@pytest.fixture
def api(api_server_http: ApiServer, admin_session: aiohttp.ClientSession) -> Api:
    return Api(api_server_http, admin_session)


async def test_background_deletion_removes_dependents(api: Api) -> None:
    owner = await api.owner("parent")
    await api.dependent("child", owner)
    await api.call("DELETE", NS + "/configmaps/parent")

    async def child_gone() -> bool:
        return await api.status(NS + "/secrets/child") == 404

    await eventually(child_gone)


async def test_a_dependent_with_a_live_owner_only_loses_the_dead_reference(api: Api) -> None:
    first, second = await api.owner("first"), await api.owner("second")
    await api.dependent("shared", first, second)
    await api.call("DELETE", NS + "/configmaps/first")

    async def one_owner_left() -> bool:
        refs = (await api.call("GET", NS + "/secrets/shared"))["metadata"]["ownerReferences"]
        return [r["name"] for r in refs] == ["second"]

    await eventually(one_owner_left)


async def test_foreground_deletion_waits_for_dependents(api: Api) -> None:
    owner = await api.owner("parent")
    await api.dependent("child", owner)
    deleting = await api.call(
        "DELETE", NS + "/configmaps/parent", {"propagationPolicy": "Foreground"}
    )
    assert "foregroundDeletion" in deleting["metadata"]["finalizers"]

    async def both_gone() -> bool:
        child = await api.status(NS + "/secrets/child")
        parent = await api.status(NS + "/configmaps/parent")
        return child == parent == 404

    await eventually(both_gone)


async def test_orphan_deletion_keeps_dependents_without_the_reference(api: Api) -> None:
    owner = await api.owner("parent")
    await api.dependent("child", owner)
    await api.call("DELETE", NS + "/configmaps/parent", {"propagationPolicy": "Orphan"})

    async def orphaned() -> bool:
        if await api.status(NS + "/configmaps/parent") != 404:
            return False
        child = await api.call("GET", NS + "/secrets/child")
        return "ownerReferences" not in child["metadata"]

    await eventually(orphaned)


async def test_a_deleted_namespace_takes_its_content_with_it(api: Api) -> None:
    await api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    cm = {"metadata": {"name": "inside"}}
    await api.call("POST", "/api/v1/namespaces/doomed/configmaps", cm)
    terminating = await api.call("DELETE", "/api/v1/namespaces/doomed")
    assert terminating["status"]["phase"] == "Terminating"

    async def gone() -> bool:
        return await api.status("/api/v1/namespaces/doomed") == 404

    await eventually(gone)
    assert await api.status("/api/v1/namespaces/doomed/configmaps/inside") == 404


async def test_foreground_deletion_waits_only_for_blocking_dependents(api: Api) -> None:
    owner = await api.owner("parent")
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "parent",
           "uid": owner["metadata"]["uid"]}  # fmt: skip
    held = {"metadata": {"name": "held", "ownerReferences": [ref], "finalizers": ["x.io/hold"]}}
    await api.call("POST", NS + "/secrets", held)
    await api.call("DELETE", NS + "/configmaps/parent", {"propagationPolicy": "Foreground"})

    async def parent_gone() -> bool:
        return await api.status(NS + "/configmaps/parent") == 404

    # The dependent is stuck on its own finalizer, but it does not block its owner.
    await eventually(parent_gone)
    assert await api.status(NS + "/secrets/held") == 200
