"""Shared helpers of the SDK integration tests (client, watch, cache, helpers).

Every test runs against the embedded API server over real HTTP, through a Client built from
the kubeconfig the server writes, exactly as an operator would connect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from opframe.client import Client
from opframe.kinds import ConfigMap
from opframe.resource import KubeModel, ObjectMeta, Resource
from opframe.testing.apiserver import ApiServer

T = TypeVar("T")


class WidgetSpec(KubeModel):
    size: int = 1


class WidgetStatus(KubeModel):
    ready: int = 0


class Widget(Resource, group="sdk.opframe.dev", version="v1", register=False):
    """A custom resource with a status subresource."""

    spec: WidgetSpec = WidgetSpec()
    status: WidgetStatus | None = None


WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.sdk.opframe.dev"},
    "spec": {
        "group": "sdk.opframe.dev",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer", "minimum": 0}},
                            },
                            "status": {
                                "type": "object",
                                "properties": {"ready": {"type": "integer"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


@asynccontextmanager
async def serve(**options: Any) -> AsyncIterator[tuple[ApiServer, Client]]:
    """An embedded API server and a client connected through its kubeconfig."""
    async with ApiServer(**options) as server:
        async with await Client.from_kubeconfig(server.kubeconfig) as client:
            yield server, client


async def install_widget_crd(client: Client) -> None:
    """Create the Widget CRD and wait until it is served."""
    await client.request(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=WIDGET_CRD
    )
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.sdk.opframe.dev"
    await eventually(
        lambda: _established(client, path), message="Widget CRD never became Established"
    )


async def _established(client: Client, path: str) -> bool:
    crd = await client.request("GET", path)
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def configmap(
    name: str,
    namespace: str = "default",
    data: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> ConfigMap:
    return ConfigMap(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels), data=data or {}
    )


def widget(name: str, size: int = 1, namespace: str = "default") -> Widget:
    return Widget(metadata=ObjectMeta(name=name, namespace=namespace), spec=WidgetSpec(size=size))


async def eventually(
    check: Callable[[], Any], *, within: float = 5.0, message: str = "condition not met"
) -> None:
    """Wait until ``check()`` (sync or async) is truthy, failing after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(message)
        await asyncio.sleep(0.01)


async def take(iterator: AsyncIterator[T], count: int, *, within: float = 5.0) -> list[T]:
    """The next ``count`` items of ``iterator``, failing after ``within`` seconds."""
    async with asyncio.timeout(within):
        return [await anext(iterator) for _ in range(count)]
