"""The finalizer helper: add, apply, cleanup on deletion, then release."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from opframe.client import Client
from opframe.errors import Conflict, NotFound
from opframe.finalizers import ensure_finalizer, finalize, has_finalizer, remove_finalizer
from opframe.kinds import ConfigMap

from ._sdk import configmap, serve

NAME = "test.opframe.dev/cleanup"


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with serve() as (_, client):
        yield client


async def test_first_reconcile_adds_the_finalizer_then_applies(client: Client) -> None:
    obj = await client.create(configmap("a"))
    applied: list[ConfigMap] = []

    async def apply(o: ConfigMap) -> str:
        applied.append(o)
        return "applied"

    async def cleanup(o: ConfigMap) -> str:
        raise AssertionError("no cleanup for a live object")

    assert await finalize(client, obj, NAME, apply=apply, cleanup=cleanup) == "applied"
    assert has_finalizer(applied[0], NAME)
    stored = await client.get(ConfigMap, "a", "default")
    assert stored.metadata.finalizers == [NAME]


async def test_deletion_runs_cleanup_then_releases_the_object(client: Client) -> None:
    obj = await client.create(configmap("a"))
    obj, _ = await ensure_finalizer(client, obj, NAME)
    await client.delete(ConfigMap, "a", "default")
    deleting = await client.get(ConfigMap, "a", "default")
    assert deleting.metadata.deletion_timestamp is not None
    cleaned: list[str] = []

    async def apply(o: ConfigMap) -> str:
        raise AssertionError("no apply for an object being deleted")

    async def cleanup(o: ConfigMap) -> str:
        cleaned.append(o.metadata.name or "")
        return "cleaned"

    assert await finalize(client, deleting, NAME, apply=apply, cleanup=cleanup) == "cleaned"
    assert cleaned == ["a"]
    with pytest.raises(NotFound):
        await client.get(ConfigMap, "a", "default")


async def test_failed_cleanup_keeps_the_finalizer(client: Client) -> None:
    obj = await client.create(configmap("a"))
    await ensure_finalizer(client, obj, NAME)
    await client.delete(ConfigMap, "a", "default")
    deleting = await client.get(ConfigMap, "a", "default")

    async def apply(o: ConfigMap) -> None:
        return None

    async def cleanup(o: ConfigMap) -> None:
        raise RuntimeError("backup store unreachable")

    with pytest.raises(RuntimeError, match="unreachable"):
        await finalize(client, deleting, NAME, apply=apply, cleanup=cleanup)
    assert (await client.get(ConfigMap, "a", "default")).metadata.finalizers == [NAME]


async def test_other_finalizers_are_kept(client: Client) -> None:
    obj = configmap("a")
    obj.metadata.finalizers = ["someone.else/keep"]
    obj = await client.create(obj)
    obj, added = await ensure_finalizer(client, obj, NAME)
    assert added and obj.metadata.finalizers == ["someone.else/keep", NAME]
    obj, removed = await remove_finalizer(client, obj, NAME)
    assert removed and obj.metadata.finalizers == ["someone.else/keep"]


async def test_adding_twice_is_a_no_op(client: Client) -> None:
    obj = await client.create(configmap("a"))
    obj, added = await ensure_finalizer(client, obj, NAME)
    again, added_again = await ensure_finalizer(client, obj, NAME)
    assert added and not added_again
    assert again.metadata.resource_version == obj.metadata.resource_version


async def test_stale_object_conflicts_instead_of_clobbering(client: Client) -> None:
    stale = await client.create(configmap("a"))
    await client.patch(ConfigMap, "a", {"metadata": {"finalizers": ["x/y"]}}, namespace="default")
    with pytest.raises(Conflict):
        await ensure_finalizer(client, stale, NAME)
    assert (await client.get(ConfigMap, "a", "default")).metadata.finalizers == ["x/y"]
