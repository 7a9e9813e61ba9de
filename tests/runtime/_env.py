"""Helpers of the runtime integration tests: an embedded API server, CRDs, running managers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from opframe.client import Client
from opframe.crd import crd_for
from opframe.manager import Manager
from opframe.resource import KubeModel, ObjectMeta, Resource
from opframe.testing.apiserver import ApiServer

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


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
            await install_crd(client, App)
            yield server, client


async def install_crd(client: Client, model: type[Resource]) -> None:
    """Create the CRD of ``model`` and wait until it is Established."""
    crd = crd_for(model)
    await client.request("POST", CRD_PATH, body=crd)
    path = f"{CRD_PATH}/{crd['metadata']['name']}"

    async def established() -> bool:
        body = await client.request("GET", path)
        conditions = (body.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    await eventually(established, message=f"CRD {crd['metadata']['name']} never Established")


async def eventually(
    check: Callable[[], Any], *, within: float = 10.0, message: str = "condition not met"
) -> None:
    """Wait until ``check()`` (sync or async) is truthy; fail with ``message`` after ``within``.

    Used for state that lives in the API server, which tells no one when it changes.
    """
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
