"""Watch behaviour beyond the transcripts: history bounds, bookmarks, dropped streams, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from opframe.testing.apiserver import ApiServer
from tests.apiserver._crds import OBJECT, gizmo_crd

CM = "/api/v1/namespaces/default/configmaps"


@asynccontextmanager
async def _client(server: ApiServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {server.token}"}) as s:
        yield s


async def _create(s: aiohttp.ClientSession, server: ApiServer, name: str) -> dict[str, Any]:
    async with s.post(server.url + CM, json={"metadata": {"name": name}}) as resp:
        assert resp.status == 201
        body: dict[str, Any] = await resp.json()
        return body


async def _events(resp: aiohttp.ClientResponse, n: int) -> list[dict[str, Any]]:
    out = []
    async with asyncio.timeout(10):
        while len(out) < n:
            line = await resp.content.readline()
            if not line:
                break
            out.append(json.loads(line))
    return out


async def test_watch_older_than_the_history_gets_410() -> None:
    async with ApiServer(tls=False, watch_history=3) as server, _client(server) as s:
        first = await _create(s, server, "c0")
        for i in range(1, 5):
            await _create(s, server, f"c{i}")
        rv = first["metadata"]["resourceVersion"]
        async with s.get(server.url + CM, params={"watch": "1", "resourceVersion": rv}) as resp:
            events = await _events(resp, 2)
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410


async def test_watch_within_the_history_replays_it() -> None:
    async with ApiServer(tls=False, watch_history=3) as server, _client(server) as s:
        await _create(s, server, "c0")
        second = await _create(s, server, "c1")
        await _create(s, server, "c2")
        rv = second["metadata"]["resourceVersion"]
        async with s.get(server.url + CM, params={"watch": "1", "resourceVersion": rv}) as resp:
            events = await _events(resp, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "c2")]


async def test_bookmarks_carry_the_current_resource_version() -> None:
    async with ApiServer(tls=False, bookmark_interval=0.05) as server, _client(server) as s:
        made = await _create(s, server, "b")
        params = {"watch": "true", "allowWatchBookmarks": "true", "resourceVersion": "0"}
        async with s.get(server.url + CM, params=params) as resp:
            events = await _events(resp, 2)
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) >= int(
        made["metadata"]["resourceVersion"]
    )


async def test_dropping_watches_ends_open_streams(api_server_http: ApiServer) -> None:
    server = api_server_http
    async with _client(server) as s:
        await _create(s, server, "seen")
        async with s.get(server.url + CM, params={"watch": "true"}) as resp:
            # The initial ADDED event proves the stream is registered.
            assert [e["type"] for e in await _events(resp, 1)] == ["ADDED"]
            assert await server.faults.drop_watches(resource="configmaps") == 1
            async with asyncio.timeout(10):
                rest = await resp.content.read()
    assert rest == b""


async def test_a_fault_answers_429_with_retry_after_the_given_times(
    api_server_http: ApiServer,
) -> None:
    server = api_server_http
    server.faults.add(verb="list", resource="configmaps", status=429, retry_after=2, times=1)
    async with _client(server) as s:
        async with s.get(server.url + CM) as resp:
            assert (resp.status, resp.headers["Retry-After"]) == (429, "2")
            assert (await resp.json())["reason"] == "TooManyRequests"
        async with s.get(server.url + CM) as resp:
            assert resp.status == 200


async def test_a_410_fault_on_a_watch_expires_it_as_the_real_server_does(
    api_server_http: ApiServer,
) -> None:
    server = api_server_http
    server.faults.add(verb="watch", resource="configmaps", status=410, times=1)
    async with _client(server) as s, s.get(server.url + CM, params={"watch": "1"}) as resp:
        assert resp.status == 200
        events = await _events(resp, 2)
    assert [(e["type"], e["object"]["code"]) for e in events] == [("ERROR", 410)]


@pytest.mark.parametrize(("status", "reason"), [(500, "InternalError"), (410, "Expired")])
async def test_a_fault_answers_errors_as_status_objects(
    api_server_http: ApiServer, status: int, reason: str
) -> None:
    server = api_server_http
    server.faults.add(verb="get", resource="configmaps", status=status)
    async with _client(server) as s, s.get(server.url + CM + "/x") as resp:
        assert resp.status == status
        assert (await resp.json())["reason"] == reason


async def test_latency_delays_only_matching_requests(api_server_http: ApiServer) -> None:
    server = api_server_http
    server.faults.latency(resource="configmaps", seconds=0.3)
    loop = asyncio.get_running_loop()
    async with _client(server) as s:
        start = loop.time()
        async with s.get(server.url + "/api/v1/namespaces") as resp:
            assert resp.status == 200
        fast = loop.time() - start
        start = loop.time()
        async with s.get(server.url + CM) as resp:
            assert resp.status == 200
        slow = loop.time() - start
    assert slow >= 0.3 > fast


async def test_watch_from_a_list_before_the_first_write_of_a_kind(
    api_server_http: ApiServer,
) -> None:
    server = api_server_http
    async with _client(server) as s:
        async with s.get(server.url + CM) as resp:
            listed = (await resp.json())["metadata"]["resourceVersion"]
        await _create(s, server, "first")
        params = {"watch": "1", "resourceVersion": listed}
        async with s.get(server.url + CM, params=params) as resp:
            events = await _events(resp, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "first")]


async def test_deleting_a_crd_ends_watches_of_its_resources(api_server_http: ApiServer) -> None:
    server = api_server_http
    crd = gizmo_crd(schema=OBJECT)
    crds = server.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    gizmos = server.url + "/apis/example.com/v1/namespaces/default/gizmos"
    async with _client(server) as s:
        async with s.post(crds, json=crd) as resp:
            assert resp.status == 201
        async with s.post(gizmos, json={"kind": "Gizmo", "apiVersion": "example.com/v1",
                                        "metadata": {"name": "g"}}) as resp:  # fmt: skip
            assert resp.status == 201
        async with s.get(gizmos, params={"watch": "true"}) as resp:
            assert [e["type"] for e in await _events(resp, 1)] == ["ADDED"]
            async with s.delete(crds + "/gizmos.example.com") as deleted:
                assert deleted.status == 200
            async with asyncio.timeout(10):
                rest = [json.loads(line) for line in (await resp.content.read()).splitlines()]
    assert [e["type"] for e in rest] == ["DELETED"]


async def test_a_streaming_list_without_bookmarks_is_invalid(api_server_http: ApiServer) -> None:
    server = api_server_http
    params = {"watch": "1", "sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"}
    async with _client(server) as s, s.get(server.url + CM, params=params) as resp:
        body = await resp.json()
    assert resp.status == 422
    assert [c["field"] for c in body["details"]["causes"]] == ["allowWatchBookmarks"]


async def test_a_watch_from_a_future_version_sends_only_newer_events(
    api_server_http: ApiServer,
) -> None:
    """storage/cacher/cache_watcher.go: events at or below the watch's version are skipped."""
    server = api_server_http
    async with _client(server) as s:
        future = str(server.store.rv + 2)
        params = {"watch": "1", "resourceVersion": future}
        async with s.get(server.url + CM, params=params) as resp:
            await _create(s, server, "before-1")
            await _create(s, server, "before-2")
            await _create(s, server, "after")
            events = await _events(resp, 1)
    assert [e["object"]["metadata"]["name"] for e in events] == ["after"]


@pytest.mark.parametrize("version", ["", "0"])
async def test_send_initial_events_false_from_version_zero_starts_at_now(
    api_server_http: ApiServer, version: str
) -> None:
    """storage/cacher/watch_cache.go getAllEventsSinceLocked: resourceVersion 0 (or unset)
    replays the current state only when sendInitialEvents is absent; with
    sendInitialEvents=false the watch starts from the current version, no ADDED for what
    exists."""
    server = api_server_http
    params = {
        "watch": "1",
        "sendInitialEvents": "false",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
        "resourceVersion": version,
    }
    async with _client(server) as s:
        await _create(s, server, "existing")
        async with s.get(server.url + CM, params=params) as resp:
            assert resp.status == 200
            await _create(s, server, "created-after")
            events = await _events(resp, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "created-after")
    ]


async def test_a_watch_without_send_initial_events_from_version_zero_lists_first(
    api_server_http: ApiServer,
) -> None:
    """The legacy rule kept by getAllEventsSinceLocked: no sendInitialEvents and version 0
    send the current state as ADDED first (and no initial-events-end bookmark)."""
    server = api_server_http
    async with _client(server) as s:
        await _create(s, server, "existing")
        params = {"watch": "1", "resourceVersion": "0", "allowWatchBookmarks": "true"}
        async with s.get(server.url + CM, params=params) as resp:
            events = await _events(resp, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "existing")]
