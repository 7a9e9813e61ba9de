"""kubernetes_asyncio's own APIs (CoreV1Api, CustomObjectsApi, Watch) against the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from apiserver._crds import crd, create_established, spec_schema
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.rest import ApiException

from opframe.testing.apiserver import ApiServer

GROUP, VERSION, PLURAL = "compat.example.com", "v1", "gadgets"
DEADLINE = 15.0


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    """A client configured from the server's own kubeconfig."""
    async with ApiServer(state_dir=tmp_path / "apiserver", persist=False) as server:
        cfg = client.Configuration()
        await config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
        async with client.ApiClient(cfg) as api_client:
            yield api_client


async def _namespace(api: client.ApiClient, name: str) -> None:
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})


async def test_configmap_crud_through_core_v1(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    await _namespace(api, "crud")
    created = await core.create_namespaced_config_map(
        "crud", {"metadata": {"name": "settings"}, "data": {"a": "1"}}
    )
    assert created.metadata.uid and created.metadata.resource_version
    patched = await core.patch_namespaced_config_map("settings", "crud", {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"}
    listed = await core.list_namespaced_config_map("crud")
    assert [cm.metadata.name for cm in listed.items] == ["settings"]
    await core.delete_namespaced_config_map("settings", "crud")
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_config_map("settings", "crud")
    assert err.value.status == 404


async def test_conflict_on_stale_resource_version(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    await _namespace(api, "occ")
    cm = await core.create_namespaced_config_map("occ", {"metadata": {"name": "c"}, "data": {}})
    cm.data = {"x": "1"}
    await core.replace_namespaced_config_map("c", "occ", cm)
    with pytest.raises(ApiException) as err:
        await core.replace_namespaced_config_map("c", "occ", cm)
    assert err.value.status == 409


async def test_pod_is_defaulted_with_typed_models(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    await _namespace(api, "pods")
    await core.create_namespaced_service_account("pods", {"metadata": {"name": "default"}})
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="p"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="busybox:1.36")]),
    )
    created = await core.create_namespaced_pod("pods", pod)
    assert created.spec.service_account_name == "default"
    assert created.spec.containers[0].image_pull_policy == "IfNotPresent"
    assert created.status.phase == "Pending" and created.status.qos_class == "BestEffort"


async def _gadget_crd(api: client.ApiClient) -> None:
    schema = spec_schema(size={"type": "integer"})
    body = crd(GROUP, "Gadget", VERSION, plural=PLURAL, singular="gadget", schema=schema)
    await create_established(api, body, DEADLINE)


async def test_custom_objects_create_get_patch_list(api: client.ApiClient) -> None:
    await _namespace(api, "cr")
    await _gadget_crd(api)
    objects = client.CustomObjectsApi(api)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Gadget",
        "metadata": {"name": "g"},
        "spec": {"size": 1},
    }
    await objects.create_namespaced_custom_object(GROUP, VERSION, "cr", PLURAL, body)
    patched = await objects.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "cr",
        PLURAL,
        "g",
        {"spec": {"size": 2}},
        _content_type="application/merge-patch+json",
    )
    assert patched["spec"] == {"size": 2} and patched["metadata"]["generation"] == 2
    listed = await objects.list_namespaced_custom_object(GROUP, VERSION, "cr", PLURAL)
    assert [o["metadata"]["name"] for o in listed["items"]] == ["g"]
    with pytest.raises(ApiException) as err:
        await objects.create_namespaced_custom_object(
            GROUP, VERSION, "cr", PLURAL, {**body, "spec": {"size": "big"}}
        )
    assert err.value.status == 422


async def test_watch_streams_added_modified_deleted(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    await _namespace(api, "watched")
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    async def consume() -> None:
        async for event in w.stream(core.list_namespaced_config_map, "watched", timeout_seconds=10):
            obj: Any = event["object"]
            seen.append((event["type"], obj.data.get("v") if obj.data else ""))
            if event["type"] == "DELETED":
                w.stop()

    consumer = asyncio.create_task(consume())
    try:
        await core.create_namespaced_config_map(
            "watched", {"metadata": {"name": "c"}, "data": {"v": "1"}}
        )
        await core.patch_namespaced_config_map("c", "watched", {"data": {"v": "2"}})
        await core.delete_namespaced_config_map("c", "watched")
        async with asyncio.timeout(DEADLINE):
            await consumer
    finally:
        consumer.cancel()
        await w.close()
    assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]
