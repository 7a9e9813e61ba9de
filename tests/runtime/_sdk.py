"""Shared helpers of the SDK integration tests (client, watch, cache, helpers).

Every test runs against the embedded API server over real HTTP, through a Client built from
the kubeconfig the server writes, exactly as an operator would connect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from opframe.client import Client
from opframe.kinds import ConfigMap
from opframe.resource import KubeModel, ObjectMeta, Resource
from opframe.testing.apiserver import ApiServer

from ._env import eventually, install_crds

__all__ = [
    "Widget",
    "WidgetSpec",
    "WidgetStatus",
    "configmap",
    "eventually",
    "install_widget_crd",
    "serve",
    "take",
    "widget",
]

T = TypeVar("T")


class WidgetSpec(KubeModel):
    size: int = 1


class WidgetStatus(KubeModel):
    ready: int = 0


class Widget(Resource, group="sdk.opframe.dev", version="v1"):
    """A custom resource with a status subresource."""

    spec: WidgetSpec = WidgetSpec()
    status: WidgetStatus | None = None


@asynccontextmanager
async def serve(**options: Any) -> AsyncIterator[tuple[ApiServer, Client]]:
    """An embedded API server and a client connected through its kubeconfig."""
    async with ApiServer(**options) as server:
        async with await Client.from_kubeconfig(server.kubeconfig) as client:
            yield server, client


async def install_widget_crd(client: Client) -> None:
    """Create the Widget CRD and wait until it is served."""
    await install_crds(client, Widget)


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


async def take(iterator: AsyncIterator[T], count: int, *, within: float = 5.0) -> list[T]:
    """The next ``count`` items of ``iterator``, failing after ``within`` seconds."""
    async with asyncio.timeout(within):
        return [await anext(iterator) for _ in range(count)]
