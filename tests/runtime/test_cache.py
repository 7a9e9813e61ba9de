"""The informer cache against the embedded API server: sync, sharing, indexes, own writes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from opframe.cache import INDEX_OWNER, Cache, Informer
from opframe.client import Client
from opframe.errors import ConfigError
from opframe.kinds import ConfigMap, Secret
from opframe.ownership import set_controller_reference
from opframe.reflector import ResourceEvent
from opframe.testing.apiserver import ApiServer
from opframe.watch import Backoff

from ._sdk import configmap, eventually, serve


@pytest.fixture
async def env() -> AsyncIterator[tuple[ApiServer, Client]]:
    async with serve() as pair:
        yield pair


async def test_wait_for_sync_fills_the_store(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    await client.create(configmap("a", data={"k": "v"}))
    cache = Cache(client)
    informer = cache.informer(ConfigMap, namespace="default")
    async with cache:
        await cache.wait_for_sync(timeout=5)
        assert informer.has_synced
        obj = cache.get(ConfigMap, "a", "default")
        assert isinstance(obj, ConfigMap) and obj.data == {"k": "v"}


async def test_same_declaration_shares_one_informer(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    cache = Cache(client)
    first = cache.informer(ConfigMap, label_selector={"app": "x"})
    assert cache.informer(ConfigMap, label_selector="app=x") is first
    assert cache.informer(ConfigMap) is not first
    assert cache.informer(ConfigMap, namespace="default") is not first


async def test_informer_declared_after_start_is_refused(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    cache = Cache(client)
    cache.informer(ConfigMap)
    async with cache:
        assert cache.informer(ConfigMap) is not None  # already declared: fine
        with pytest.raises(ConfigError, match="declare every informer before"):
            cache.informer(Secret)


async def test_reading_an_undeclared_kind_names_the_fix(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    with pytest.raises(ConfigError, match=r"cache\.informer\(Secret"):
        Cache(client).get(Secret, "s", "default")


async def test_handlers_run_in_order_after_the_store_is_updated(
    env: tuple[ApiServer, Client],
) -> None:
    _, client = env
    cache = Cache(client)
    informer = cache.informer(ConfigMap, namespace="default")
    seen: list[tuple[str, str, str | None]] = []

    def handler(event: ResourceEvent[ConfigMap]) -> None:
        stored = informer.store.get(event.name, event.namespace)
        value = None if stored is None else (stored.data or {}).get("v")
        seen.append((event.type, event.name, value))

    informer.add_handler(handler)
    async with cache:
        await cache.wait_for_sync(timeout=5)
        await client.create(configmap("a", data={"v": "1"}))
        await client.patch(ConfigMap, "a", {"data": {"v": "2"}}, namespace="default")
        await client.delete(ConfigMap, "a", namespace="default")
        await eventually(lambda: len(seen) == 3)
    assert seen == [("ADDED", "a", "1"), ("MODIFIED", "a", "2"), ("DELETED", "a", None)]


async def test_failing_handler_does_not_stop_the_informer(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    cache = Cache(client)
    informer = cache.informer(ConfigMap, namespace="default")
    seen: list[str] = []

    def broken(event: ResourceEvent[ConfigMap]) -> None:
        raise RuntimeError("bug in user code")

    informer.add_handler(broken)
    informer.add_handler(lambda event: seen.append(event.name))
    async with cache:
        await client.create(configmap("a"))
        await client.create(configmap("b"))
        await eventually(lambda: seen == ["a", "b"])


async def test_owner_index_finds_children(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    owner = await client.create(configmap("owner"))
    for name in ("c1", "c2"):
        child = configmap(name)
        set_controller_reference(owner, child)
        await client.create(child)
    await client.create(configmap("stranger"))
    cache = Cache(client)
    informer = cache.informer(ConfigMap, namespace="default")
    async with cache:
        await cache.wait_for_sync(timeout=5)
        children = informer.store.by_index(INDEX_OWNER, owner.metadata.uid or "")
        assert sorted(c.metadata.name or "" for c in children) == ["c1", "c2"]


async def test_custom_indexer(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    await client.create(configmap("a", data={"role": "leader"}))
    await client.create(configmap("b", data={"role": "follower"}))
    cache = Cache(client)
    informer = cache.informer(ConfigMap, namespace="default")
    informer.add_indexer("role", lambda cm: [(cm.data or {}).get("role", "")])
    async with cache:
        await cache.wait_for_sync(timeout=5)
        assert [c.metadata.name for c in informer.store.by_index("role", "leader")] == ["a"]


async def test_label_selected_informer_sees_only_matching_objects(
    env: tuple[ApiServer, Client],
) -> None:
    _, client = env
    await client.create(configmap("mine", labels={"app": "etcd"}))
    await client.create(configmap("other", labels={"app": "web"}))
    cache = Cache(client)
    informer = cache.informer(ConfigMap, label_selector="app=etcd")
    async with cache:
        await cache.wait_for_sync(timeout=5)
        assert [c.metadata.name for c in informer.store.list()] == ["mine"]


async def _disconnect(server: ApiServer, informer: Informer[ConfigMap]) -> None:
    """Keep the informer's ConfigMap watch down (its retry is slow): writes from now on reach
    the cache only through the client's own writes."""
    server.faults.add(verb="watch", resource="configmaps", status=500)
    await server.faults.drop_watches("configmaps")
    await eventually(lambda: informer.stats.errors >= 1, message="informer not disconnected")


async def test_own_write_is_read_back_before_the_watch_delivers_it(
    env: tuple[ApiServer, Client],
) -> None:
    server, client = env
    await client.create(configmap("a", data={"v": "1"}))
    # A slow retry keeps the informer disconnected while we write.
    cache = Cache(client, backoff=Backoff(initial=30.0, maximum=30.0))
    informer = cache.informer(ConfigMap, namespace="default")
    async with cache:
        await cache.wait_for_sync(timeout=5)
        await _disconnect(server, informer)
        created = await client.create(configmap("b", data={"v": "new"}))
        patched = await client.patch(ConfigMap, "a", {"data": {"v": "2"}}, namespace="default")
        b = cache.get(ConfigMap, "b", "default")
        a = cache.get(ConfigMap, "a", "default")
        assert b is not None and b.metadata.resource_version == created.metadata.resource_version
        assert a is not None and a.data == {"v": "2"}
        assert a.metadata.resource_version == patched.metadata.resource_version
        assert sorted(c.metadata.name or "" for c in cache.list(ConfigMap, "default")) == [
            "a",
            "b",
        ]


async def test_own_delete_is_read_back_before_the_watch_delivers_it(
    env: tuple[ApiServer, Client],
) -> None:
    server, client = env
    await client.create(configmap("a"))
    cache = Cache(client, backoff=Backoff(initial=30.0, maximum=30.0))
    informer = cache.informer(ConfigMap, namespace="default")
    async with cache:
        await cache.wait_for_sync(timeout=5)
        await _disconnect(server, informer)
        await client.delete(ConfigMap, "a", "default")
        assert cache.get(ConfigMap, "a", "default") is None
        assert cache.list(ConfigMap, "default") == []


async def test_a_write_removing_the_last_finalizer_of_a_deleting_object_reads_as_deleted(
    env: tuple[ApiServer, Client],
) -> None:
    """The answer to that write is the object as it was deleted, with the resourceVersion it
    had (kube-apiserver ``registry/store.go`` ``shouldDeleteDuringUpdate``): not newer than
    the cached copy, yet the object is gone."""
    server, client = env
    held = configmap("a")
    held.metadata.finalizers = ["example.com/hold"]
    await client.create(held)
    cache = Cache(client, backoff=Backoff(initial=30.0, maximum=30.0))
    informer = cache.informer(ConfigMap, namespace="default")
    async with cache:
        await cache.wait_for_sync(timeout=5)
        await client.delete(ConfigMap, "a", "default")
        await eventually(
            lambda: (c := cache.get(ConfigMap, "a", "default")) is not None
            and c.metadata.deletion_timestamp is not None,
            message="the deletion never reached the cache",
        )
        await _disconnect(server, informer)
        await client.patch(ConfigMap, "a", {"metadata": {"finalizers": None}}, namespace="default")
        assert cache.get(ConfigMap, "a", "default") is None


async def test_own_writes_are_not_observed_when_disabled(env: tuple[ApiServer, Client]) -> None:
    server, client = env
    cache = Cache(client, read_own_writes=False, backoff=Backoff(initial=30.0, maximum=30.0))
    informer = cache.informer(ConfigMap, namespace="default")
    async with cache:
        await cache.wait_for_sync(timeout=5)
        await _disconnect(server, informer)
        await client.create(configmap("b"))
        assert cache.get(ConfigMap, "b", "default") is None


async def test_wait_for_sync_times_out_naming_the_error(env: tuple[ApiServer, Client]) -> None:
    server, client = env
    server.faults.add(resource="configmaps", status=403)  # LIST or streamed list alike
    cache = Cache(client, backoff=Backoff(initial=0.01, maximum=0.05))
    cache.informer(ConfigMap)
    async with cache:
        with pytest.raises(TimeoutError, match=r"ConfigMap.*403"):
            await cache.wait_for_sync(timeout=0.5)


async def test_list_without_namespace_spans_namespace_scoped_informers(
    env: tuple[ApiServer, Client],
) -> None:
    _, client = env
    await client.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "team"}})
    await client.create(configmap("a"))
    await client.create(configmap("b", namespace="team"))
    await client.create(configmap("c", namespace="kube-system"))
    cache = Cache(client)
    cache.informer(ConfigMap, namespace="default")
    cache.informer(ConfigMap, namespace="team")
    async with cache:
        await cache.wait_for_sync(timeout=5)
        names = sorted(c.metadata.name or "" for c in cache.list(ConfigMap))
        assert names == ["a", "b"]
        with pytest.raises(ConfigError, match="no informer for ConfigMap in namespace"):
            cache.get(ConfigMap, "c", "kube-system")


async def test_problems_name_failing_informers_until_they_recover(
    env: tuple[ApiServer, Client],
) -> None:
    server, client = env
    cache = Cache(client, backoff=Backoff(initial=0.01, maximum=0.05))
    cache.informer(ConfigMap, namespace="default")
    async with cache:
        await cache.wait_for_sync(timeout=5)
        assert cache.problems() == []
        fault = server.faults.add(verb="watch", resource="configmaps", status=403)
        await server.faults.drop_watches("configmaps")
        await eventually(lambda: cache.problems() != [], message="failure not reported")
        assert "ConfigMap in namespace default" in cache.problems()[0]
        assert "403" in cache.problems()[0]
        server.faults.remove(fault)
        await client.create(configmap("a"))  # something for the recovered watch to deliver
        await eventually(lambda: cache.problems() == [], message="recovery not noticed")


async def test_a_crashed_informer_fails_wait_for_sync(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    await client.create(configmap("a"))

    def broken(obj: dict[str, object]) -> dict[str, object]:
        raise KeyError("bug in a transform")

    cache = Cache(client, transform=broken)
    cache.informer(ConfigMap, namespace="default")
    with pytest.raises(ExceptionGroup) as info:
        async with cache:
            await cache.wait_for_sync(timeout=5)
    assert info.group_contains(KeyError)
