"""The list-then-watch loop against the embedded API server: resume, relist, bookmarks.

Most tests read the watcher through a reflector (a store plus ADDED/MODIFIED/DELETED with the
old state), as informers do; the first ones check the watcher's own, store-less stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from opframe import Change, ResourceEvent, Store, WatcherEvent, reflect
from opframe.client import Client
from opframe.kinds import ConfigMap
from opframe.testing.apiserver import ApiServer
from opframe.watch import Backoff, Watcher, watch

from ._sdk import configmap, eventually, serve, take

FAST = Backoff(initial=0.01, maximum=0.05)


@pytest.fixture
async def env() -> AsyncIterator[tuple[ApiServer, Client]]:
    async with serve() as pair:
        yield pair


def names(events: list[ResourceEvent[ConfigMap]]) -> list[tuple[str, str]]:
    return [(e.type, e.name) for e in events]


async def open_reflected(
    client: Client, **options: object
) -> tuple[Watcher[ConfigMap], AsyncIterator[ResourceEvent[ConfigMap]], Store[ConfigMap]]:
    watcher = watch(client, ConfigMap, namespace="default", backoff=FAST, **options)
    store: Store[ConfigMap] = Store(ConfigMap)
    return watcher, reflect(watcher, store), store


async def open_watch(
    client: Client, **options: object
) -> tuple[Watcher[ConfigMap], AsyncIterator[ResourceEvent[ConfigMap]]]:
    watcher, events, _ = await open_reflected(client, **options)
    return watcher, events


def kinds(events: list[WatcherEvent[ConfigMap]]) -> list[tuple[str, str]]:
    return [(e.type, e.ref.name if e.ref else "") for e in events]


def initial_list(*names: str) -> list[tuple[str, str]]:
    """The :func:`kinds` of a framed (re)list of ``names``: Init, one InitApply each, InitDone."""
    return [(Change.INIT, ""), *((Change.INIT_APPLY, n) for n in names), (Change.INIT_DONE, "")]


async def test_watcher_frames_the_initial_list_then_streams_changes(
    env: tuple[ApiServer, Client],
) -> None:
    _, client = env
    await client.create(configmap("a"))
    watcher = watch(client, ConfigMap, namespace="default", backoff=FAST)
    events = aiter(watcher)
    assert kinds(await take(events, 3)) == initial_list("a")
    await client.patch(ConfigMap, "a", {"data": {"v": "2"}}, namespace="default")
    await client.delete(ConfigMap, "a", namespace="default")
    changed, deleted = await take(events, 2)
    assert kinds([changed, deleted]) == [(Change.APPLY, "a"), (Change.DELETE, "a")]
    assert changed.object.data == {"v": "2"}
    await watcher.aclose()


async def test_watcher_relist_after_gone_says_only_what_exists(
    env: tuple[ApiServer, Client],
) -> None:
    """The watcher holds no objects, so it cannot say what vanished: it frames the relist
    (kube-rs' Init/InitApply/InitDone) and a store-keeping consumer infers the rest."""
    server, client = env
    await client.create(configmap("keep"))
    await client.create(configmap("vanish"))
    watcher = watch(client, ConfigMap, namespace="default", backoff=FAST)
    events = aiter(watcher)
    await take(events, 4)
    await client.create(configmap("marker"))
    await take(events, 1)  # the watch stream is open
    server.faults.add(verb="watch", resource="configmaps", status=410, times=1)
    await server.faults.drop_watches("configmaps")
    await client.delete(ConfigMap, "vanish", namespace="default")
    relist = await take(events, 4)
    assert kinds(relist) == initial_list("keep", "marker")
    assert relist[-1].resource_version == watcher.resource_version
    assert watcher.stats.relists == 1
    await watcher.aclose()


async def test_applied_yields_typed_objects(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    await client.create(configmap("a", data={"k": "v"}))
    objects = watch(client, ConfigMap, namespace="default", backoff=FAST).applied()
    first = await anext(objects)
    assert isinstance(first, ConfigMap) and first.data == {"k": "v"}
    await client.create(configmap("b"))
    assert (await anext(objects)).name == "b"
    await objects.aclose()  # type: ignore[attr-defined]


async def test_initial_list_is_delivered_as_added_then_synced(
    env: tuple[ApiServer, Client],
) -> None:
    _, client = env
    await client.create(configmap("a"))
    await client.create(configmap("b"))
    watcher, events = await open_watch(client)
    first = await take(events, 2)
    assert sorted(names(first)) == [("ADDED", "a"), ("ADDED", "b")]
    assert all(e.initial for e in first)
    await client.create(configmap("c"))
    (live,) = await take(events, 1)
    assert names([live]) == [("ADDED", "c")] and not live.initial
    assert watcher.stats.lists == 1


async def test_paginated_initial_list_sees_every_object(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    for i in range(7):
        await client.create(configmap(f"cm-{i}"))
    watcher, events = await open_watch(client, page_size=2)
    got = await take(events, 7)
    assert sorted(e.name for e in got) == [f"cm-{i}" for i in range(7)]
    assert watcher.stats.lists == 1


async def test_modified_and_deleted_carry_old_state(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    _, events, store = await open_reflected(client)
    await client.create(configmap("marker"))
    await take(events, 1)  # listed and watching
    await client.create(configmap("a", data={"v": "1"}))
    await client.patch(ConfigMap, "a", {"data": {"v": "2"}}, namespace="default")
    await client.delete(ConfigMap, "a", namespace="default")
    added, modified, deleted = await take(events, 3)
    assert names([added, modified, deleted]) == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("DELETED", "a"),
    ]
    assert added.old is None
    assert modified.object.data == {"v": "2"}
    assert modified.old is not None and modified.old.data == {"v": "1"}
    assert deleted.object.data == {"v": "2"}
    assert sorted(k.name for k in store.keys()) == ["marker"]


async def test_managed_fields_are_stripped(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    await client.create(configmap("a"), field_manager="me")
    _, events = await open_watch(client)
    (event,) = await take(events, 1)
    assert event.object.metadata.managed_fields is None


async def test_dropped_stream_resumes_without_relisting(env: tuple[ApiServer, Client]) -> None:
    server, client = env
    await client.create(configmap("a"))
    watcher, events = await open_watch(client)
    await take(events, 1)
    await client.create(configmap("b"))
    await take(events, 1)
    assert await server.faults.drop_watches("configmaps") == 1
    await client.create(configmap("c"))
    await client.patch(ConfigMap, "a", {"data": {"v": "x"}}, namespace="default")
    resumed = await take(events, 2)
    assert names(resumed) == [("ADDED", "c"), ("MODIFIED", "a")]
    assert watcher.stats.lists == 1 and watcher.stats.relists == 0
    assert watcher.stats.resumes >= 1


async def test_gone_relists_and_reports_what_changed_meanwhile(
    env: tuple[ApiServer, Client],
) -> None:
    server, client = env
    for name in ("keep", "change", "vanish"):
        await client.create(configmap(name, data={"v": "1"}))
    watcher, events, store = await open_reflected(client)
    await take(events, 3)
    await client.create(configmap("keep-too"))
    await take(events, 1)  # the watch stream is open
    # The watcher falls out of the server's history while disconnected.
    server.faults.add(verb="watch", resource="configmaps", status=410, times=1)
    await server.faults.drop_watches("configmaps")
    await client.delete(ConfigMap, "vanish", namespace="default")
    await client.patch(ConfigMap, "change", {"data": {"v": "2"}}, namespace="default")
    await client.create(configmap("new"))
    diff = await take(events, 3)
    assert sorted(names(diff)) == [("ADDED", "new"), ("DELETED", "vanish"), ("MODIFIED", "change")]
    deleted = next(e for e in diff if e.type == "DELETED")
    assert deleted.object.data == {"v": "1"}  # the last state the watcher knew
    modified = next(e for e in diff if e.type == "MODIFIED")
    assert modified.old is not None and modified.old.data == {"v": "1"}
    assert watcher.stats.relists == 1
    assert sorted(k.name for k in store.keys()) == ["change", "keep", "keep-too", "new"]


async def test_expired_version_in_stream_relists() -> None:
    # A tiny watch history makes the server answer "too old resource version" in the stream.
    async with serve(watch_history=2) as (server, client):
        await client.create(configmap("a"))
        watcher, events = await open_watch(client)
        await take(events, 1)
        await client.create(configmap("b"))
        await take(events, 1)  # the watch stream is open
        await server.faults.drop_watches("configmaps")
        for i in range(5):
            await client.create(configmap(f"cm-{i}"))
        got = await take(events, 5)
        assert sorted(e.name for e in got) == [f"cm-{i}" for i in range(5)]
        assert watcher.stats.relists == 1


async def test_bookmarks_advance_the_resource_version(env: tuple[ApiServer, Client]) -> None:
    server, client = env
    server.watches.bookmark_interval = 0.05
    watcher, events = await open_watch(client)
    await client.create(configmap("a"))
    await take(events, 1)
    created_rv = int(watcher.resource_version or 0)
    # Writes to another kind move the global resourceVersion; only a bookmark tells us.
    await client.request(
        "POST",
        "/api/v1/namespaces/default/secrets",
        body={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},
    )
    async with asyncio.TaskGroup() as group:
        next_event = group.create_task(anext(events))
        await eventually(
            lambda: watcher.stats.bookmarks > 0 and int(watcher.resource_version or 0) > created_rv,
            message="no bookmark moved the resourceVersion",
        )
        await client.create(configmap("b"))
    assert next_event.result().name == "b"


async def test_errors_are_retried_with_backoff(env: tuple[ApiServer, Client]) -> None:
    server, client = env
    server.faults.add(verb="list", resource="configmaps", status=500, times=2)
    await client.create(configmap("a"))
    watcher, events = await open_watch(client, streaming_list=False)
    (event,) = await take(events, 1)
    assert event.name == "a"
    assert watcher.stats.errors == 2
    assert watcher.stats.lists == 1


async def test_silent_stream_is_reconnected(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    watcher, events = await open_watch(client, inactivity_timeout=0.1)
    task_events: list[ResourceEvent[ConfigMap]] = []

    async def consume() -> None:
        async for event in events:
            task_events.append(event)

    async with asyncio.TaskGroup() as group:
        task = group.create_task(consume())
        await eventually(lambda: watcher.stats.resumes >= 2, message="never reconnected")
        await client.create(configmap("late"))
        await eventually(lambda: [e.name for e in task_events] == ["late"])
        task.cancel()
    assert watcher.stats.relists == 0


async def test_repeated_gone_right_after_listing_backs_off(env: tuple[ApiServer, Client]) -> None:
    server, client = env
    server.faults.add(verb="watch", resource="configmaps", status=410, times=3)
    await client.create(configmap("a"))
    watcher, events = await open_watch(client)
    await take(events, 1)
    async with asyncio.TaskGroup() as group:
        next_event = group.create_task(anext(events))
        await eventually(lambda: watcher.stats.watches >= 4, message="never watched again")
        await client.create(configmap("b"))
    assert next_event.result().name == "b"
    # Each 410 forced a relist; from the second in a row on, after a backoff pause.
    assert watcher.stats.errors == 2
    assert watcher.stats.lists == 4


async def test_events_larger_than_a_read_chunk_arrive_whole(env: tuple[ApiServer, Client]) -> None:
    _, client = env
    _, events = await open_watch(client)
    await client.create(configmap("marker"))
    await take(events, 1)
    big = {f"key-{i}": "v" * 1000 for i in range(900)}  # ~900 KiB in one watch line
    await client.create(configmap("big", data=big))
    await client.create(configmap("after"))
    got = await take(events, 2)
    assert [e.name for e in got] == ["big", "after"]
    assert got[0].object.data == big


async def test_no_event_lost_or_reordered_across_drops(env: tuple[ApiServer, Client]) -> None:
    server, client = env
    names_ = [f"counter-{i}" for i in range(3)]
    for name in names_:
        await client.create(configmap(name, data={"n": "0"}))
    watcher, events = await open_watch(client)
    seen: dict[str, list[int]] = {name: [] for name in names_}
    for event in await take(events, 3):
        seen[event.name].append(int((event.object.data or {})["n"]))
    final = 40

    async def consume() -> None:
        async for event in events:
            seen[event.name].append(int((event.object.data or {})["n"]))
            if all(values and values[-1] == final for values in seen.values()):
                return

    async with asyncio.TaskGroup() as group:
        consumer = group.create_task(consume())
        for n in range(1, final + 1):
            for name in names_:
                await client.patch(ConfigMap, name, {"data": {"n": str(n)}}, namespace="default")
            if n % 8 == 0:
                await server.faults.drop_watches("configmaps")
        async with asyncio.timeout(10):
            await consumer
    for name, values in seen.items():
        assert values == sorted(values), f"{name} went back in time: {values}"
        assert values[-1] == final
        # Resumed from the last version each time: every write seen exactly once.
        assert values == list(range(final + 1)), name
    assert watcher.stats.relists == 0 and watcher.stats.resumes >= 1


async def test_aclose_closes_the_stream(env: tuple[ApiServer, Client]) -> None:
    server, client = env
    server.watches.bookmark_interval = 0.05  # the server notices a gone client when it writes
    watcher, events = await open_watch(client)
    await client.create(configmap("a"))
    await take(events, 1)
    await client.create(configmap("b"))
    await take(events, 1)
    assert server.watches.count() == 1
    await watcher.aclose()
    await eventually(lambda: server.watches.count() == 0, message="stream still open")
    with pytest.raises(StopAsyncIteration):
        await anext(watcher)


async def test_initial_list_is_streamed_when_the_server_supports_it(
    env: tuple[ApiServer, Client],
) -> None:
    """client-go's watch-list (staging/src/k8s.io/client-go/tools/cache/reflector.go,
    ``watchList``): a watch with sendInitialEvents=true streams every object, then a bookmark
    annotated k8s.io/initial-events-end ends the list; no LIST request is made."""
    server, client = env
    await client.create(configmap("a"))
    await client.create(configmap("b"))
    server.faults.add(verb="list", resource="configmaps", status=500)  # a LIST would fail
    watcher = watch(client, ConfigMap, namespace="default", backoff=FAST)
    events = aiter(watcher)
    assert kinds(await take(events, 4)) == initial_list("a", "b")
    assert watcher.streaming_supported is True and watcher.stats.errors == 0
    await client.create(configmap("c"))
    assert kinds(await take(events, 1)) == [(Change.APPLY, "c")]
    assert watcher.stats.lists == 1 and watcher.stats.watches == 1
    await watcher.aclose()


async def test_streamed_list_refused_falls_back_to_list(env: tuple[ApiServer, Client]) -> None:
    """A server without the WatchList feature answers sendInitialEvents with 422 Invalid
    (staging/src/k8s.io/apimachinery/pkg/apis/meta/internalversion/validation/validation.go,
    ``ValidateListOptions``); the reflector then lists with LIST, as client-go falls back."""
    server, client = env
    await client.create(configmap("a"))
    server.faults.add(verb="watch", resource="configmaps", status=422, times=1)
    watcher = watch(client, ConfigMap, namespace="default", backoff=FAST)
    events = aiter(watcher)
    assert kinds(await take(events, 3)) == initial_list("a")
    assert watcher.streaming_supported is False and watcher.stats.errors == 0
    await client.create(configmap("b"))
    assert kinds(await take(events, 1)) == [(Change.APPLY, "b")]
    await watcher.aclose()
