"""The tutorial's operator (docs/tutorial.md), run as written against the embedded API server.

The code is taken from the page itself, so the page cannot drift from what is tested.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import types
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from opframe.client import Client
from opframe.conditions import is_true
from opframe.crd import install_crds
from opframe.errors import NotFound
from opframe.kinds import ConfigMap
from opframe.testing import eventually
from opframe.testing.apiserver import ApiServer

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"


def tutorial_source() -> str:
    text = TUTORIAL.read_text()
    match = re.search(r'```python title="greeting\.py"\n(.*?)```', text, re.S)
    assert match, "docs/tutorial.md lost its greeting.py code block"
    return match.group(1)


def load_tutorial() -> types.ModuleType:
    module = types.ModuleType("greeting")
    module.__file__ = str(TUTORIAL)
    sys.modules["greeting"] = module  # pydantic resolves the models' annotations through it
    try:
        exec(compile(tutorial_source(), str(TUTORIAL), "exec"), module.__dict__)
    finally:
        del sys.modules["greeting"]
    return module


def test_tutorial_operator_is_under_60_lines_as_the_page_says() -> None:
    lines = len(tutorial_source().splitlines())
    assert lines < 60
    assert f"The whole operator is {lines} lines" in TUTORIAL.read_text()


@asynccontextmanager
async def tutorial_operator(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[types.ModuleType, Client]]:
    greeting = load_tutorial()
    async with ApiServer() as server, await Client.from_kubeconfig(server.kubeconfig) as client:
        await install_crds(client, greeting.Greeting)
        # As `opframe run greeting:manager` would, with the kubeconfig in the environment.
        monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        run = asyncio.create_task(greeting.manager.run(handle_signals=False))
        try:
            yield greeting, client
        finally:
            greeting.manager.stop()
            async with asyncio.timeout(10):
                await run


async def test_tutorial_operator_creates_updates_and_cleans_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with tutorial_operator(monkeypatch) as (greeting, client):
        Greeting = greeting.Greeting
        hello = Greeting.model_validate(
            {"metadata": {"name": "hello", "namespace": "default"}, "spec": {"message": "Hi"}}
        )
        await client.create(hello)

        async def message() -> str | None:
            try:
                cm = await client.get(ConfigMap, "hello", "default")
            except NotFound:
                return None
            return (cm.data or {}).get("message")

        async def ready() -> Any:
            obj = await client.get(Greeting, "hello", "default")
            return obj if is_true(obj.status.conditions, "Ready") else None

        # Create: the ConfigMap appears, owned by the Greeting, and the Greeting is Ready.
        await eventually(lambda: _equals(message, "Hi"), message="ConfigMap never created")
        obj = await eventually(ready, message="Greeting never Ready")
        assert greeting.FINALIZER in (obj.metadata.finalizers or [])
        condition = obj.status.conditions[0]
        assert (condition.reason, condition.observed_generation) == ("Published", 1)
        cm = await client.get(ConfigMap, "hello", "default")
        owner = (cm.metadata.owner_references or [None])[0]
        assert owner is not None and owner.uid == obj.metadata.uid and owner.controller

        # Update: the ConfigMap follows the message; the condition moves to generation 2.
        await client.patch(Greeting, "hello", {"spec": {"message": "Hello"}}, namespace="default")
        await eventually(lambda: _equals(message, "Hello"), message="ConfigMap never updated")

        async def observed_generation_2() -> bool:
            obj = await client.get(Greeting, "hello", "default")
            return obj.status.conditions[0].observed_generation == 2

        await eventually(observed_generation_2, message="condition never observed generation 2")

        # Drift: a deleted ConfigMap is put back.
        await client.delete(ConfigMap, "hello", "default")
        await eventually(lambda: _equals(message, "Hello"), message="ConfigMap never recreated")

        # Delete: the finalizer's cleanup runs, then the Greeting goes away.
        await client.delete(Greeting, "hello", "default")

        async def gone() -> bool:
            try:
                await client.get(Greeting, "hello", "default")
            except NotFound:
                return True
            return False

        await eventually(gone, message="Greeting never deleted (finalizer not removed?)")
        await eventually(lambda: _equals(message, None), message="ConfigMap not cleaned up")


async def _equals(read: Callable[[], Any], expected: Any) -> bool:
    return bool(await read() == expected)


async def test_tutorial_cleanup_runs_once_per_delete(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Removing the last finalizer deletes the object, and the answer keeps the old
    resourceVersion (kube-apiserver ``store.go`` ``shouldDeleteDuringUpdate``); the cache must
    take that answer as the deletion, or the next reconcile sees the finalizer and cleans up
    again (issue 18)."""
    async with tutorial_operator(monkeypatch) as (greeting, client):
        Greeting = greeting.Greeting
        hello = Greeting.model_validate(
            {"metadata": {"name": "bye", "namespace": "default"}, "spec": {"message": "Hi"}}
        )
        await client.create(hello)

        async def finalized() -> bool:
            obj = await client.get(Greeting, "bye", "default")
            return greeting.FINALIZER in (obj.metadata.finalizers or [])

        await eventually(finalized, message="the finalizer was never added")
        with caplog.at_level(logging.INFO, logger="opframe"):
            await client.delete(Greeting, "bye", "default")
            running = greeting.manager.controllers[0]

            async def gone_and_idle() -> bool:
                try:
                    await client.get(Greeting, "bye", "default")
                    return False
                except NotFound:
                    queue = running.queue
                    return len(queue) == 0 and not queue.processing and queue.delayed == 0

            await eventually(
                gone_and_idle, message="Greeting never deleted, or the controller kept busy"
            )
        cleanups = [r for r in caplog.records if "saying goodbye" in r.getMessage()]
        assert len(cleanups) == 1, [r.getMessage() for r in caplog.records]
