"""An in-memory stand-in for the informer cache, to test controller semantics alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

from opframe import owner_reference_for
from opframe.controller import Controller, RunningController
from opframe.metrics import Metrics
from opframe.reflector import ResourceEvent
from opframe.resource import KubeModel, ObjectMeta, OwnerReference, Resource


class WebSpec(KubeModel):
    content: str = ""


class Web(Resource, group="test.opframe.dev", version="v1"):
    spec: WebSpec = WebSpec()


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Any] = {}

    def get(self, name: str, namespace: str | None = None) -> Any:
        obj = self.objects.get((namespace or "", name))
        return None if obj is None else obj.model_copy(deep=True)


class FakeInformer:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.handlers: list[Callable[[Any], None]] = []

    def add_handler(self, handler: Callable[[Any], None]) -> None:
        self.handlers.append(handler)

    def emit(self, type_: str, obj: Any, old: Any = None) -> None:
        key = (obj.metadata.namespace or "", obj.metadata.name)
        if type_ == "DELETED":
            self.store.objects.pop(key, None)
        else:
            old = old if old is not None else self.store.objects.get(key)
            self.store.objects[key] = obj
        event = ResourceEvent.of(type_, obj, old if type_ == "MODIFIED" else None)  # type: ignore[arg-type]
        for handler in self.handlers:
            handler(event)


def web(name: str, *, generation: int = 1, namespace: str = "default", **meta: Any) -> Web:
    return Web(
        metadata=ObjectMeta(
            name=name, namespace=namespace, uid=f"uid-{name}", generation=generation, **meta
        ),
        spec=WebSpec(content=name),
    )


def owned_by(owner: Web, *, controller: bool = True) -> OwnerReference:
    return owner_reference_for(owner, controller=controller)


class FakeRecorder:
    """Keeps the Events a controller records instead of writing them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []
        self.recorded = asyncio.Event()

    async def warning(self, obj: Any, reason: str, message: str) -> None:
        self.events.append(("Warning", obj.metadata.name, reason, message))
        self.recorded.set()


class FakeCache:
    def __init__(self) -> None:
        self.informers: dict[type[Any], FakeInformer] = {}
        self.requests: list[tuple[type[Any], dict[str, Any]]] = []
        self.recorder = FakeRecorder()
        self.controller: RunningController[Any] | None = None

    def informer(self, model: type[Any], **options: Any) -> FakeInformer:
        self.requests.append((model, options))
        return self.informers.setdefault(model, FakeInformer())

    @property
    def running(self) -> RunningController[Any]:
        """The running controller made from the description on this cache."""
        assert self.controller is not None
        return self.controller


def make_running(
    controller: Controller[Any],
    cache: FakeCache | None = None,
    metrics: Metrics | None = None,
    namespace: str | None = None,
) -> FakeCache:
    """What Manager.add does, on a fake cache: the running controller is ``cache.running``."""
    cache = cache or FakeCache()
    cache.controller = RunningController(
        controller, cache=cast(Any, cache), metrics=metrics or Metrics(), namespace=namespace
    )
    return cache


@asynccontextmanager
async def started(cache: FakeCache) -> AsyncIterator[FakeCache]:
    """Run the workers of ``cache.running`` for the block."""
    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        tg.create_task(
            cache.running.run(client=cast(Any, None), recorder=cast(Any, cache.recorder))
        )
        try:
            yield cache
        finally:
            cache.running.shutdown()


@asynccontextmanager
async def running(
    controller: Controller[Any], cache: FakeCache | None = None, metrics: Metrics | None = None
) -> AsyncIterator[FakeCache]:
    """Make the controller live on a fake cache and run its workers for the block."""
    async with started(make_running(controller, cache, metrics)) as live:
        yield live


class Calls:
    """Records what reconcilers saw; tests wait on it instead of sleeping."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def record(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, condition: Callable[[list[Any]], bool], deadline: float = 5.0) -> None:
        async with asyncio.timeout(deadline):
            while not condition(self.items):
                self._changed.clear()
                await self._changed.wait()
