"""The controllers of kube-controller-manager that operators rely on, on opframe's Controller.

:class:`ControllerManager` runs them on one :class:`~opframe.Manager` (one shared cache, no
leader election, no probe ports), each written as a user would write an operator:

===================  ==================================================================
``deployment``       Deployment -> ReplicaSets: revisions, rolling update and Recreate,
                     proportional scaling, pause, history cleanup, status and conditions
``replicaset``       ReplicaSet -> pods, adoption and release by selector
``statefulset``      StatefulSet -> ordinal pods and their claims, ordered or parallel,
                     partitioned rolling update, ControllerRevisions when served
``job``/``cronjob``  Job -> pods to completions with backoff; CronJob -> Jobs on schedule
``daemonset``        DaemonSet -> one pod per fitting node, rolling update, revisions
``serviceaccount``   a ``default`` ServiceAccount in every namespace
``endpoints``        Endpoints of selector Services
``endpointslice``    EndpointSlices of selector Services (ready/serving/terminating)
===================  ==================================================================

A controller runs only if the API server serves every kind it handles (discovery is read
at start), so the set grows with the server. Example::

    async with ControllerManager(client) as kcm:
        kcm.running   # ("deployment", "endpoints", ...)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opframe._tasks import cancel_and_wait
from opframe.errors import ApiError, NotFound
from opframe.manager import Manager
from opframe.testing._startup import start_until_ready
from opframe.testing.controllers.cronjob import cronjob_controller
from opframe.testing.controllers.daemonset import daemonset_controller
from opframe.testing.controllers.deployment import deployment_controller
from opframe.testing.controllers.endpoints import endpoints_controller
from opframe.testing.controllers.endpointslice import endpointslice_controller
from opframe.testing.controllers.job import job_controller
from opframe.testing.controllers.replicaset import replicaset_controller
from opframe.testing.controllers.serviceaccount import serviceaccount_controller
from opframe.testing.controllers.statefulset import statefulset_controller

if TYPE_CHECKING:
    from opframe.cache import Cache
    from opframe.client import Client
    from opframe.controller import Controller

__all__ = ["CONTROLLERS", "ControllerManager", "served_resources"]

log = logging.getLogger("opframe.testing.controllers")

Factory = Callable[["Cache", frozenset[str]], "Controller[Any]"]
"""Makes a controller from the manager's cache and the resources the server serves."""

#: Each controller: its name, its factory, and the resources (``group/plural``) it needs.
CONTROLLERS: tuple[tuple[str, Factory, frozenset[str]], ...] = (
    ("serviceaccount", lambda cache, _: serviceaccount_controller(cache),
     frozenset({"/namespaces", "/serviceaccounts"})),
    ("endpoints", lambda cache, _: endpoints_controller(cache),
     frozenset({"/services", "/pods", "/endpoints"})),
    ("endpointslice", lambda cache, _: endpointslice_controller(cache),
     frozenset({"/services", "/pods", "discovery.k8s.io/endpointslices"})),
    ("replicaset", lambda cache, _: replicaset_controller(cache),
     frozenset({"apps/replicasets", "/pods"})),
    ("deployment", lambda cache, _: deployment_controller(cache),
     frozenset({"apps/deployments", "apps/replicasets", "/pods"})),
    ("job", lambda cache, _: job_controller(cache), frozenset({"batch/jobs", "/pods"})),
    ("cronjob", lambda cache, _: cronjob_controller(cache),
     frozenset({"batch/cronjobs", "batch/jobs"})),
    ("daemonset", lambda cache, _: daemonset_controller(cache),
     frozenset({"apps/daemonsets", "apps/controllerrevisions", "/pods", "/nodes"})),
    ("statefulset", lambda cache, served: statefulset_controller(
        cache, revisions="apps/controllerrevisions" in served),
     frozenset({"apps/statefulsets", "/pods", "/persistentvolumeclaims"})),
)  # fmt: skip

_GROUP_VERSIONS = ("/api/v1", "/apis/apps/v1", "/apis/batch/v1", "/apis/discovery.k8s.io/v1")


async def served_resources(client: Client) -> frozenset[str]:
    """The ``group/plural`` of every resource of the groups the controllers use."""
    found: set[str] = set()
    for path in _GROUP_VERSIONS:
        try:
            listing = await client.request("GET", path)
        except NotFound:
            continue
        group = "" if path == "/api/v1" else path.split("/")[2]
        for resource in listing.get("resources") or []:
            if "/" not in resource["name"]:
                found.add(f"{group}/{resource['name']}")
    return frozenset(found)


class ControllerManager:
    """kube-controller-manager for a local cluster: ``async with`` runs the controllers.

    Args:
        client: the client the controllers use (not closed here).
        only: run only these controllers (names from :data:`CONTROLLERS`); default: all
            whose kinds are served.
    """

    def __init__(self, client: Client, *, only: frozenset[str] | None = None) -> None:
        self._client = client
        self._only = only
        self._manager: Manager | None = None
        self._task: asyncio.Task[None] | None = None
        self.running: tuple[str, ...] = ()
        """The names of the controllers started."""

    async def __aenter__(self) -> ControllerManager:
        try:
            served = await served_resources(self._client)
        except ApiError as exc:
            raise RuntimeError(f"controller manager: API discovery failed: {exc}") from exc
        manager = Manager(self._client, health_address=None, metrics_address=None)
        running = []
        for name, factory, needs in CONTROLLERS:
            if self._only is not None and name not in self._only:
                continue
            if needs <= served:
                manager.add(factory(manager.cache, served))
                running.append(name)
            else:
                log.info("controller %s not started: %s not served", name,
                         ", ".join(sorted(needs - served)))  # fmt: skip
        self.running = tuple(running)
        self._manager = manager
        started = asyncio.Event()

        async def run() -> None:
            waiter = asyncio.create_task(_set_when(manager.wait_started(), started))
            try:
                await manager.run(handle_signals=False)
            finally:
                await cancel_and_wait(waiter)

        self._task = await start_until_ready(run(), started, name="controller-manager")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is None or self._manager is None:
            return
        self._manager.stop()
        try:
            async with asyncio.timeout(10):
                await asyncio.shield(self._task)
        except TimeoutError:
            await cancel_and_wait(self._task)


async def _set_when(wait: Any, event: asyncio.Event) -> None:
    await wait
    event.set()
