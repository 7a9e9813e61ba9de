"""The Python client libraries users run, as clients of the embedded API server.

One matrix per library (issue 10): discovery, create, replace, patch, list and watch of a
ConfigMap in its own namespace, each through the library's own API and its own kubeconfig
loading, over HTTPS with the server's CA and token. The sync ``kubernetes`` client runs in a
worker thread, since the server shares the test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from opframe.testing.apiserver import ApiServer

DEADLINE = 15.0


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with ApiServer(state_dir=tmp_path / "apiserver", persist=False) as api_server:
        yield api_server


# -- kubernetes (the official client, sync) ----------------------------------------------------


def _kubernetes_flow(kubeconfig: str) -> dict[str, Any]:
    from kubernetes import client, config, watch

    api_client = config.new_client_from_config(config_file=kubeconfig)
    core = client.CoreV1Api(api_client)
    seen: dict[str, Any] = {}
    seen["version"] = client.VersionApi(api_client).get_code().git_version
    seen["groups"] = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="official")))
    cm = core.create_namespaced_config_map(
        "official", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"a": "1"})
    )
    cm.data = {"a": "2"}
    replaced = core.replace_namespaced_config_map("c", "official", cm)
    patched = core.patch_namespaced_config_map("c", "official", {"data": {"b": "3"}})
    seen["data"] = patched.data
    seen["replaced_rv"] = replaced.metadata.resource_version
    listed = core.list_namespaced_config_map("official")
    seen["listed"] = [item.metadata.name for item in listed.items]
    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        "official",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=10,
    )
    core.create_namespaced_config_map("official", {"metadata": {"name": "d"}})
    for event in stream:
        seen["watched"] = (event["type"], event["object"].metadata.name)
        break
    api_client.close()
    return seen


async def test_official_kubernetes_client_runs_the_matrix(server: ApiServer) -> None:
    seen = await asyncio.wait_for(
        asyncio.to_thread(_kubernetes_flow, str(server.kubeconfig)), DEADLINE
    )
    assert seen["version"].startswith("v1.")
    assert {"apps", "coordination.k8s.io"} <= seen["groups"]
    assert seen["data"] == {"a": "2", "b": "3"}
    assert seen["listed"] == ["c"]
    assert seen["watched"] == ("ADDED", "d")


# -- kr8s (async API) ----------------------------------------------------------------------------


async def test_kr8s_runs_the_matrix(server: ApiServer) -> None:
    import kr8s.asyncio
    from kr8s.asyncio.objects import ConfigMap, Namespace

    api = await kr8s.asyncio.api(kubeconfig=str(server.kubeconfig))
    version = await api.version()
    assert version["gitVersion"].startswith("v1.")
    resources = {r["name"] for r in await api.api_resources()}
    assert {"configmaps", "deployments", "leases"} <= resources
    await (await Namespace({"metadata": {"name": "kr8s"}}, api=api)).create()
    cm = await ConfigMap(
        {"metadata": {"name": "c", "namespace": "kr8s"}, "data": {"a": "1"}}, api=api
    )
    await cm.create()
    await cm.patch({"data": {"b": "2"}})
    await cm.refresh()
    assert cm.raw["data"] == {"a": "1", "b": "2"}
    # kr8s has no replace verb; its other write is a JSON patch.
    await cm.patch([{"op": "replace", "path": "/data/a", "value": "3"}], type="json")
    await cm.refresh()
    assert cm.raw["data"] == {"a": "3", "b": "2"}
    listed = [c.name async for c in api.get("configmaps", namespace="kr8s")]
    assert listed == ["c"]

    async def first_event() -> tuple[str, str]:
        async for event, obj in api.watch("configmaps", namespace="kr8s", since=None):
            if obj.name == "d":
                return event, obj.name
        raise AssertionError("the watch ended without the new ConfigMap")

    # A watch from no resourceVersion starts with ADDED for what exists, so "d" is seen
    # whether it is created before or after the watch reaches the server.
    watcher = asyncio.create_task(first_event())
    await (await ConfigMap({"metadata": {"name": "d", "namespace": "kr8s"}}, api=api)).create()
    assert await asyncio.wait_for(watcher, DEADLINE) == ("ADDED", "d")


# -- lightkube (async client) --------------------------------------------------------------------


async def test_lightkube_runs_the_matrix(server: ApiServer) -> None:
    from lightkube import AsyncClient, KubeConfig
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap, Namespace

    client = AsyncClient(config=KubeConfig.from_file(str(server.kubeconfig)))
    try:
        await client.create(Namespace(metadata=ObjectMeta(name="light")))
        cm = await client.create(
            ConfigMap(metadata=ObjectMeta(name="c", namespace="light"), data={"a": "1"})
        )
        cm.data = {"a": "2"}
        await client.replace(cm)
        patched = await client.patch(ConfigMap, "c", {"data": {"b": "3"}}, namespace="light")
        assert patched.data == {"a": "2", "b": "3"}
        names = [c.metadata.name async for c in client.list(ConfigMap, namespace="light")]
        assert names == ["c"]

        async def first_event() -> tuple[str, str]:
            async for op, obj in client.watch(ConfigMap, namespace="light"):
                if obj.metadata.name == "d":
                    return op, obj.metadata.name
            raise AssertionError("the watch ended without the new ConfigMap")

        watcher = asyncio.create_task(first_event())
        await client.create(ConfigMap(metadata=ObjectMeta(name="d", namespace="light")))
        assert await asyncio.wait_for(watcher, DEADLINE) == ("ADDED", "d")
    finally:
        await client.close()
