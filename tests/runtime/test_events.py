"""The event recorder writes core/v1 Events and aggregates repeats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from opframe.client import Client
from opframe.events import EventRecorder
from opframe.kinds import ConfigMap, Event, Namespace
from opframe.resource import ObjectMeta

from ._sdk import configmap, serve


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with serve() as (_, client):
        yield client


async def events_about(client: Client, name: str, namespace: str = "default") -> list[Event]:
    listed = await client.list(Event, namespace)
    return [e for e in listed.items if e.involved_object.name == name]


async def test_event_references_the_object(client: Client) -> None:
    subject = await client.create(configmap("subject"))
    recorder = EventRecorder(client, "test-operator", instance="host-1")
    await recorder.event(subject, "Normal", "Created", "made it")
    (event,) = await events_about(client, "subject")
    ref = event.involved_object
    assert (ref.kind, ref.name, ref.namespace, ref.uid) == (
        "ConfigMap",
        "subject",
        "default",
        subject.metadata.uid,
    )
    assert (event.type, event.reason, event.message, event.count) == (
        "Normal",
        "Created",
        "made it",
        1,
    )
    assert event.source is not None and event.source.component == "test-operator"
    assert event.reporting_component == "test-operator"
    assert event.first_timestamp is not None and event.last_timestamp is not None


async def test_repeats_increase_the_count_of_one_event(client: Client) -> None:
    subject = await client.create(configmap("subject"))
    recorder = EventRecorder(client, "test-operator")
    for _ in range(3):
        await recorder.warning(subject, "Unhealthy", "member 2 down")
    (event,) = await events_about(client, "subject")
    assert event.count == 3 and event.type == "Warning"


async def test_concurrent_repeats_share_one_event(client: Client) -> None:
    subject = await client.create(configmap("subject"))
    recorder = EventRecorder(client, "test-operator")
    await asyncio.gather(*(recorder.warning(subject, "Unhealthy", "down") for _ in range(5)))
    (event,) = await events_about(client, "subject")
    assert event.count == 5


async def test_different_messages_are_different_events(client: Client) -> None:
    subject = await client.create(configmap("subject"))
    recorder = EventRecorder(client, "test-operator")
    await recorder.normal(subject, "Scaled", "to 3")
    await recorder.normal(subject, "Scaled", "to 5")
    assert sorted(e.message or "" for e in await events_about(client, "subject")) == [
        "to 3",
        "to 5",
    ]


async def test_deleted_event_is_recreated(client: Client) -> None:
    subject = await client.create(configmap("subject"))
    recorder = EventRecorder(client, "test-operator")
    await recorder.normal(subject, "Synced", "ok")
    (event,) = await events_about(client, "subject")
    await client.delete(Event, event.metadata.name or "", "default")
    await recorder.normal(subject, "Synced", "ok")
    (again,) = await events_about(client, "subject")
    assert again.count == 1 and again.metadata.name != event.metadata.name


async def test_memory_is_bounded(client: Client) -> None:
    subject = await client.create(configmap("subject"))
    recorder = EventRecorder(client, "test-operator", max_tracked=2)
    for i in range(4):
        await recorder.normal(subject, "Step", f"step {i}")
    assert len(recorder._series) == 2
    # The forgotten series starts a new Event instead of growing the old one.
    await recorder.normal(subject, "Step", "step 0")
    assert len(await events_about(client, "subject")) == 5


async def test_cluster_scoped_object_events_go_to_default(client: Client) -> None:
    ns = await client.create(Namespace(metadata=ObjectMeta(name="team")))
    await EventRecorder(client, "test-operator").normal(ns, "Seen", "hello")
    (event,) = await events_about(client, "team", namespace="default")
    assert event.involved_object.kind == "Namespace"


async def test_rejected_event_does_not_raise(client: Client) -> None:
    ghost = ConfigMap(metadata=ObjectMeta(name="ghost", namespace="no-such-namespace"))
    await EventRecorder(client, "test-operator").normal(ghost, "Seen", "nobody home")
