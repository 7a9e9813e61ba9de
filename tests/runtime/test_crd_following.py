"""Controllers that follow their CRDs, and reference-counted shared informers.

Against the embedded API server over real HTTP: a controller started before its CRD exists
waits (``/readyz`` says for which CRD), reconciles once the CRD is applied, stops its informer
without a warning when the CRD is deleted, and resumes when it is applied again.
"""

from __future__ import annotations

import logging

import aiohttp
import pytest

from opframe import Context
from opframe.cache import Cache
from opframe.client import Client
from opframe.controller import Controller
from opframe.crd import crds_for, install_crds
from opframe.kinds import ConfigMap
from opframe.manager import Manager
from opframe.testing.apiserver import ApiServer

from ._env import App, app, eventually, running
from ._fakes import Calls

CRD_NAME = "apps.runtime.opframe.dev"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class Recorder:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def reconcile(self, ctx: Context, obj: App) -> None:
        self.calls.record(("reconcile", obj.metadata.name))


async def _readyz(manager: Manager) -> tuple[int, str]:
    assert manager.health_url is not None
    async with aiohttp.ClientSession() as http, http.get(manager.health_url + "/readyz") as r:
        return r.status, await r.text()


async def _delete_crd(server: ApiServer) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.delete(f"{server.url}{CRDS}/{CRD_NAME}") as r:
            assert r.status == 200, await r.text()

        async def gone() -> bool:
            async with http.get(f"{server.url}{CRDS}/{CRD_NAME}") as r:
                return r.status == 404

        await eventually(gone, timeout=30, message="CRD not deleted")


async def test_a_controller_started_before_its_crd_follows_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="opframe")
    calls = Calls()
    async with (
        ApiServer(tls=False) as server,
        await Client.from_kubeconfig(server.kubeconfig) as client,
    ):
        manager = Manager(client, follow_crds=True, metrics_address=None)
        controller = manager.add(Controller(for_=App, reconciler=Recorder(calls)).owns(ConfigMap))
        async with running(manager):
            status, text = await _readyz(manager)
            assert status == 500
            assert f"controller app: waiting for CRD {CRD_NAME}" in text
            waiting = [r for r in caplog.records if "waiting for CRD" in r.getMessage()]
            assert len(waiting) == 1, "the wait is logged once"

            await install_crds(client, App)
            await client.create(app("first"))
            await calls.wait_for(lambda c: ("reconcile", "first") in c, deadline=30)

            async def ready() -> bool:
                return (await _readyz(manager))[0] == 200

            await eventually(ready, timeout=30, message="readyz not ok once the CRD is in")

            await _delete_crd(server)
            await eventually(
                lambda: controller.waiting_for_crd == CRD_NAME and not controller.store.list(),
                timeout=30,
                message="informer did not go back to waiting",
            )
            status, text = await _readyz(manager)
            assert status == 500 and f"waiting for CRD {CRD_NAME}" in text

            await install_crds(client, App)
            await client.create(app("second"))
            await calls.wait_for(lambda c: ("reconcile", "second") in c, deadline=30)
            # The owned ConfigMap informer (a built-in kind) never stopped.
            assert controller.informers[1].running
    noisy = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("opframe") and r.levelno >= logging.WARNING
    ]
    assert noisy == []


def test_each_user_counts_and_the_last_release_drops_the_informer() -> None:
    cache = Cache()
    first = cache.informer(ConfigMap, namespace="default")
    second = cache.acquire(ConfigMap, namespace="default")
    assert first is second
    assert cache.users(first) == 2
    cache.release(first)
    assert cache.users(first) == 1
    assert list(cache.informers()) == [first]
    cache.release(second)
    assert cache.users(first) == 0
    assert list(cache.informers()) == []
    with pytest.raises(ValueError, match="not one of this cache's"):
        cache.release(first)


def test_informers_differing_in_scope_are_counted_apart() -> None:
    cache = Cache()
    everywhere = cache.acquire(ConfigMap)
    one = cache.acquire(ConfigMap, namespace="default")
    assert everywhere is not one
    cache.release(one)
    assert list(cache.informers()) == [everywhere]


async def test_an_informer_acquired_while_running_starts_and_its_last_release_stops_it() -> None:
    async with ApiServer() as server, await Client.from_kubeconfig(server.kubeconfig) as client:
        cache = Cache(client)
        cache.informer(ConfigMap, namespace="kube-system")
        async with cache:
            await cache.wait_for_sync(30)
            shared = cache.acquire(ConfigMap, namespace="default")
            again = cache.acquire(ConfigMap, namespace="default")
            await shared.wait_for_sync(30)
            assert shared.running
            await client.create(
                ConfigMap.model_validate({"metadata": {"name": "x", "namespace": "default"}})
            )
            await eventually(lambda: shared.store.get("x", "default") is not None, timeout=30)
            cache.release(shared)
            assert shared.running, "another user still holds it"
            cache.release(again)
            await eventually(lambda: not shared.running, timeout=30, message="not stopped")


def test_a_model_reports_the_crd_it_follows() -> None:
    cache = Cache(follow_crds=True)
    informer = cache.informer(App)
    assert informer.crd == CRD_NAME == crds_for(App)[0]["metadata"]["name"]
    assert informer.waiting_for_crd == CRD_NAME
    assert cache.informer(ConfigMap).crd is None
    assert cache.waiting_for_crds() == [f"App: waiting for CRD {CRD_NAME}"]
