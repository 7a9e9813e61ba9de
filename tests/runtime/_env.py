"""Helpers of the runtime integration tests: an embedded API server, CRDs, running managers.

Waiting is ``opframe.testing.eventually`` and CRDs are installed by ``opframe.install_crds``,
re-exported here for the tests that import them from this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["App", "app", "eventually", "install_crds", "running", "serve"]

from opframe.client import Client
from opframe.crd import install_crds
from opframe.manager import Manager
from opframe.resource import KubeModel, ObjectMeta, Resource
from opframe.testing import eventually
from opframe.testing.apiserver import ApiServer


class AppSpec(KubeModel):
    replicas: int = 1


class AppStatus(KubeModel):
    observed: int = 0


class App(Resource, group="runtime.opframe.dev", version="v1"):
    """A custom resource with a status subresource."""

    spec: AppSpec = AppSpec()
    status: AppStatus | None = None


def app(name: str, replicas: int = 1, namespace: str = "default") -> App:
    return App(metadata=ObjectMeta(name=name, namespace=namespace), spec=AppSpec(replicas=replicas))


@asynccontextmanager
async def serve() -> AsyncIterator[tuple[ApiServer, Client]]:
    """An embedded API server with the App CRD installed, and a client for it."""
    async with ApiServer() as server:
        async with await Client.from_kubeconfig(server.kubeconfig) as client:
            await install_crds(client, App)
            yield server, client


@asynccontextmanager
async def running(manager: Manager, *, wait: str = "started") -> AsyncIterator[asyncio.Task[None]]:
    """Run ``manager`` for the block (until its workers started, or just ready); stop it after."""
    task = asyncio.create_task(manager.run(handle_signals=False))
    waiter = asyncio.ensure_future(
        manager.wait_started() if wait == "started" else manager.wait_ready()
    )
    try:
        async with asyncio.timeout(10):
            done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
            raise AssertionError("the manager stopped before it started")
        yield task
    finally:
        waiter.cancel()
        manager.stop()
        if not task.done():
            async with asyncio.timeout(10):
                await asyncio.gather(task, return_exceptions=True)
