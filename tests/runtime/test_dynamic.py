"""Kinds without a typed class (``dynamic_kind``) through the client, a watch and a controller,
against the embedded API server: the body stays raw JSON, the identity is declared once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from opframe import Client, Context, Controller, Manager, ObjectRef, dynamic_kind
from opframe.testing.apiserver import ApiServer

from ._sdk import eventually, serve

RawConfigMap = dynamic_kind("v1", "ConfigMap")


def raw(name: str, **data: str) -> Any:
    return RawConfigMap.model_validate(
        {"metadata": {"name": name, "namespace": "default"}, "data": data}
    )


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    env: tuple[ApiServer, Client]
    async with serve() as env:
        yield env[1]


async def test_a_dynamic_object_is_created_read_and_written_back_whole(client: Client) -> None:
    created = await client.create(raw("a", mode="fast"))
    assert created.metadata.uid
    read = await client.get(RawConfigMap, "a", "default")
    assert read["data"] == {"mode": "fast"}
    read["data"] = {"mode": "slow"}
    replaced = await client.replace(read)
    assert replaced["data"] == {"mode": "slow"}


async def test_a_dynamic_kind_can_be_watched(client: Client) -> None:
    await client.create(raw("w", k="v"))
    from opframe import watch

    objects = watch(client, RawConfigMap, namespace="default").applied()
    first = await anext(objects)
    assert first.ref == ObjectRef("default", "w") and first["data"] == {"k": "v"}
    await objects.aclose()  # type: ignore[attr-defined]


async def test_a_controller_reconciles_a_dynamic_kind(client: Client) -> None:
    seen: list[dict[str, str]] = []

    async def reconcile(ctx: Context, obj: Any) -> None:
        seen.append(obj["data"])

    manager = Manager(client, health_address=None, metrics_address=None, namespace="default")
    manager.add(Controller(for_=RawConfigMap, reconciler=reconcile))
    run = asyncio.create_task(manager.run(handle_signals=False))
    await client.create(raw("c", hello="world"))
    await eventually(lambda: {"hello": "world"} in seen, message="never reconciled")
    manager.stop()
    async with asyncio.timeout(10):
        await run
