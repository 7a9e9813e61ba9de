"""kopf, an independent operator framework, runs a small operator against the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kopf
import pytest
from apiserver._crds import crd, create_established
from kubernetes_asyncio import client, config

from opframe.testing.apiserver import ApiServer

GROUP, VERSION, PLURAL, NS = "kopf.compat.example.com", "v1", "gizmos", "kopf-test"
DEADLINE = 20.0


class Seen:
    """What the operator's handlers saw, with a way to wait for an entry."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self.changed = asyncio.Condition()

    async def add(self, kind: str, name: str, value: Any) -> None:
        async with self.changed:
            self.events.append((kind, name, value))
            self.changed.notify_all()

    async def wait_for(self, kind: str, name: str) -> tuple[str, str, Any]:
        async with asyncio.timeout(DEADLINE), self.changed:
            await self.changed.wait_for(lambda: any(e[:2] == (kind, name) for e in self.events))
        return next(e for e in self.events if e[:2] == (kind, name))


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[ApiServer, client.ApiClient]]:
    """A server with the namespace and the Gizmo CRD, and a client for it."""
    async with ApiServer(state_dir=tmp_path / "apiserver", persist=False) as server:
        cfg = client.Configuration()
        await config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
        async with client.ApiClient(cfg) as api:
            await client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
            await _create_crd(api)
            yield server, api


async def _create_crd(api: client.ApiClient) -> None:
    body = crd(GROUP, "Gizmo", VERSION, plural=PLURAL, singular="gizmo")
    await create_established(api, body, DEADLINE)


def _operator(server: ApiServer, seen: Seen) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=server.url, token=server.token, ca_path=str(server.ca_file), default_namespace=NS
        )

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.watching.server_timeout = 10
        settings.networking.request_timeout = 10

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    async def created(name: str, spec: dict[str, Any], **_: Any) -> dict[str, Any]:
        await seen.add("create", name, dict(spec))
        return {"message": "hello"}

    @kopf.on.update(GROUP, VERSION, PLURAL, registry=registry)
    async def updated(name: str, spec: dict[str, Any], **_: Any) -> None:
        await seen.add("update", name, dict(spec))

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    async def deleted(name: str, **_: Any) -> None:
        await seen.add("delete", name, None)

    return registry


@contextlib.asynccontextmanager
async def _running(server: ApiServer, seen: Seen) -> AsyncIterator[None]:
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        kopf.operator(
            registry=_operator(server, seen),
            standalone=True,
            namespaces=[NS],
            stop_flag=stop,
            ready_flag=ready,
        )
    )
    try:
        async with asyncio.timeout(DEADLINE):
            await ready.wait()
        yield
    finally:
        stop.set()
        async with asyncio.timeout(DEADLINE):
            await task


async def _wait_deleted(objects: client.CustomObjectsApi, name: str) -> None:
    """Wait for ``name`` to disappear: list, then watch from the list's resourceVersion."""
    selector = f"metadata.name={name}"
    listed = await objects.list_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, field_selector=selector
    )
    if not listed["items"]:
        return
    response = await objects.list_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        field_selector=selector,
        watch="true",
        resource_version=listed["metadata"]["resourceVersion"],
        _preload_content=False,
    )
    async with asyncio.timeout(DEADLINE):
        async for line in response.content:
            if json.loads(line)["type"] == "DELETED":
                break
    response.close()


async def test_kopf_sees_create_update_and_delete(
    cluster: tuple[ApiServer, client.ApiClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    server, api = cluster
    objects = client.CustomObjectsApi(api)
    seen = Seen()
    async with _running(server, seen):
        await objects.create_namespaced_custom_object(
            GROUP,
            VERSION,
            NS,
            PLURAL,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Gizmo",
                "metadata": {"name": "g1"},
                "spec": {"size": 1},
            },
        )
        assert (await seen.wait_for("create", "g1"))[2] == {"size": 1}
        await objects.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            NS,
            PLURAL,
            "g1",
            {"spec": {"size": 2}},
            _content_type="application/merge-patch+json",
        )
        assert (await seen.wait_for("update", "g1"))[2] == {"size": 2}
        await objects.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "g1")
        await seen.wait_for("delete", "g1")
        # kopf removes its finalizer after the handler; the object then goes away.
        await _wait_deleted(objects, "g1")
