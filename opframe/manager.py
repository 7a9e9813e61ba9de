"""The manager: one lifecycle for the shared cache, the controllers, leader election and probes.

::

    async def main() -> None:
        client = await Client.default()
        manager = Manager(client, leader_election=LeaderElectionConfig(name="web-operator"))
        manager.add(Controller(for_=Web, reconciler=WebReconciler()).owns(ConfigMap))
        await manager.run()      # until SIGTERM/SIGINT, cancellation, or loss of the lease

``run()`` does, in order:

1. declares every controller's informers on the shared :class:`~opframe.cache.Cache` (one
   watch per kind/namespace/selector, whatever the number of controllers asking);
2. serves ``/healthz`` and ``/readyz`` (health address) and ``/metrics`` (metrics address),
   on loopback by default, port 0 meaning "any free port" (see :attr:`Manager.health_url`),
   and the admission and conversion webhooks (:meth:`Manager.add_webhook`) over HTTPS;
3. starts the cache and waits for it to sync; ``/readyz`` then answers 200, leader or not
   (a standby is ready to take over, as in controller-runtime);
4. with leader election, waits for the Lease; then starts the controllers' workers.

Graceful shutdown (SIGTERM, SIGINT or :meth:`Manager.stop`): the controllers stop taking keys,
in-flight reconciles finish (at most ``graceful_shutdown_timeout`` seconds, then they are
cancelled), the Lease is released so a standby takes over at once, and the cache and servers
stop. A second signal, or cancelling the task running ``run()``, stops at once: in-flight
reconciles are cancelled, and the Lease is still released.
Losing the Lease stops the controllers immediately and ``run()`` raises
:class:`~opframe.leaderelection.LeadershipLost`, so the process exits and restarts as a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from opframe._logging import logger_for
from opframe._tasks import cancel_and_wait
from opframe.cache import Cache
from opframe.client import Client
from opframe.controller import Controller, RunningController
from opframe.events import EventRecorder
from opframe.leaderelection import LeaderElectionConfig, LeaderElector
from opframe.metrics import Metrics
from opframe.resource import Resource

if TYPE_CHECKING:
    from opframe.webhook import Webhook, WebhookServer

__all__ = ["Check", "Manager"]

Check = Callable[[], bool]
"""A health or readiness check: returns True when fine."""

R = TypeVar("R")
T = TypeVar("T", bound=Resource)

_log = logger_for("manager")


class Manager:
    """Runs a shared cache, controllers, leader election and the probe/metrics endpoints.

    Args:
        client: the API client (the manager does not close it). Without one, :meth:`run`
            connects with the pod's service account, ``$KUBECONFIG`` or ``~/.kube/config``
            (and closes that client when it returns), so a module can define
            ``manager = Manager()`` for ``opframe run module:manager``.
        leader_election: run controllers only while holding this Lease; ``None`` to always run.
        health_address: ``(host, port)`` for ``/healthz`` and ``/readyz``; ``None`` disables.
        metrics_address: ``(host, port)`` for ``/metrics``; ``None`` disables.
        namespace: watch only this namespace (default: all) unless a controller says otherwise.
        cache: the shared cache (default: ``Cache(client)``).
        metrics: the metrics registry (default: a fresh one per manager).
        sync_timeout: give up (raise ``TimeoutError``) if the cache has not synced by then.
        graceful_shutdown_timeout: how long in-flight reconciles may take to finish on stop.
        webhook_server: the HTTPS server for admission and conversion webhooks
            (:mod:`opframe.webhook`); :meth:`add_webhook` makes a default one if none is given.
            It serves from the start of :meth:`run` on every replica, leader or not.
        follow_crds: run the informers of custom kinds only while their CRD is Established
            (a controller started before its CRD waits for it; a deleted CRD stops its
            informers until it returns). Needs get/list/watch on customresourcedefinitions.
            Ignored when ``cache`` is given (pass ``Cache(follow_crds=True)`` then).
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        leader_election: LeaderElectionConfig | None = None,
        health_address: tuple[str, int] | None = ("127.0.0.1", 0),
        metrics_address: tuple[str, int] | None = ("127.0.0.1", 0),
        namespace: str | None = None,
        cache: Cache | None = None,
        metrics: Metrics | None = None,
        sync_timeout: float = 120.0,
        graceful_shutdown_timeout: float = 30.0,
        webhook_server: WebhookServer | None = None,
        follow_crds: bool = False,
    ) -> None:
        self._client = client
        self.cache: Cache = cache if cache is not None else Cache(client, follow_crds=follow_crds)
        """The shared informer cache (it gets the client when :meth:`run` connects)."""
        self.metrics = metrics if metrics is not None else Metrics()
        self.namespace = namespace
        self.leader_election = leader_election
        self.health_address = health_address
        self.metrics_address = metrics_address
        self.sync_timeout = sync_timeout
        self.graceful_shutdown_timeout = graceful_shutdown_timeout
        self.webhook_server = webhook_server
        self.elector: LeaderElector | None = None
        """The Lease elector, when leader election is configured (and a client is known)."""
        if client is not None and leader_election is not None:
            self.elector = LeaderElector(client, leader_election, metrics=self.metrics)
        self._controllers: list[RunningController[Any]] = []
        self._health_checks: dict[str, Check] = {}
        self._ready_checks: dict[str, Check] = {
            "cache": lambda: self.cache.has_synced,
            # A synced informer whose watch keeps failing serves an ever older state: an
            # operator that looks alive but is deaf. Say so instead of answering "ok".
            "informers": lambda: not self.cache.problems(),
            # Following CRDs: a controller whose primary kind's CRD is missing is not serving.
            "crds": lambda: not self._waiting_controllers(),
        }
        self._owns_client = False
        self._stop = asyncio.Event()
        self._ready = asyncio.Event()
        self._running = False
        self._controllers_started = asyncio.Event()
        self.health_url: str | None = None
        """``http://host:port`` of the health server once :meth:`run` serves it."""
        self.metrics_url: str | None = None
        """``http://host:port`` of the metrics server once :meth:`run` serves it."""

    # -- configuration ------------------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The API client (created by :meth:`run` when none was given)."""
        if self._client is None:
            raise RuntimeError(
                "this manager has no client yet: pass Manager(client) or wait for run(), "
                "which connects with $KUBECONFIG, ~/.kube/config or the pod's service account"
            )
        return self._client

    def add(self, controller: Controller[T]) -> RunningController[T]:
        """Make ``controller`` run here (before :meth:`run`); returns the running controller.

        Its informers are declared on the shared cache now; its workers start in
        :meth:`run`::

            running = manager.add(Controller(for_=Web, reconciler=reconcile).owns(ConfigMap))
            running.enqueue(ObjectRef("default", "blog"))
        """
        if self._running:
            raise RuntimeError("add controllers before Manager.run() starts")
        if any(c.name == controller.name for c in self._controllers):
            raise ValueError(
                f"a controller named {controller.name!r} is already added; pass name=... "
                "to tell them apart (names label metrics and logs)"
            )
        running = RunningController(
            controller, cache=self.cache, metrics=self.metrics, namespace=self.namespace
        )
        self._controllers.append(running)
        return running

    @property
    def controllers(self) -> tuple[RunningController[Any], ...]:
        """The controllers added so far."""
        return tuple(self._controllers)

    def add_webhook(self, webhook: Webhook) -> None:
        """Serve an admission or conversion webhook (before :meth:`run`)::

            manager.add_webhook(ValidatingWebhook(Web, check_web))
            manager.add_webhook(ConversionWebhook(hub=WebV2, spokes=[WebV1]))

        Without a ``webhook_server``, a default :class:`~opframe.webhook.WebhookServer`
        (loopback, port 9443, a self-signed certificate) is made.
        """
        if self._running:
            raise RuntimeError("add webhooks before Manager.run() starts")
        if self.webhook_server is None:
            from opframe.webhook import WebhookServer

            self.webhook_server = WebhookServer()
        self.webhook_server.register(webhook)

    @property
    def webhooks(self) -> tuple[Webhook, ...]:
        """The webhooks added so far (``opframe webhook generate`` reads them)."""
        return self.webhook_server.webhooks if self.webhook_server is not None else ()

    def add_health_check(self, name: str, check: Check) -> None:
        """Make ``/healthz`` fail while ``check()`` is False."""
        self._health_checks[name] = check

    def add_ready_check(self, name: str, check: Check) -> None:
        """Make ``/readyz`` fail while ``check()`` is False (the cache check is built in)."""
        self._ready_checks[name] = check

    def _waiting_controllers(self) -> list[str]:
        """``controller X: waiting for CRD Y`` for each controller whose CRD is missing."""
        return [
            f"controller {c.name}: waiting for CRD {crd}"
            for c in self._controllers
            if (crd := c.waiting_for_crd) is not None
        ]

    # -- state ---------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while the controllers may run: leading, or no leader election configured."""
        if self.elector is None:
            return self._controllers_started.is_set()
        return self.elector.is_leader

    async def wait_ready(self) -> None:
        """Wait until the cache has synced (what ``/readyz`` reports)."""
        await self._ready.wait()

    async def wait_started(self) -> None:
        """Wait until the controllers' workers are started (after acquiring the Lease)."""
        await self._controllers_started.wait()

    def stop(self) -> None:
        """Ask :meth:`run` to shut down gracefully (what SIGTERM does)."""
        self._stop.set()

    # -- running -------------------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = True) -> None:
        """Run until stopped; see the module documentation for the sequence.

        Args:
            handle_signals: on SIGTERM/SIGINT stop gracefully (a second one cancels at once).
                Only possible in the main thread; elsewhere it is skipped.

        Raises:
            LeadershipLost: the Lease could not be renewed; controllers were stopped.
            TimeoutError: the cache did not sync within ``sync_timeout``.
        """
        if self._running:
            raise RuntimeError("this manager is already running")
        self._running = True
        if self._client is None:
            self._client = await Client.default()
            self._owns_client = True
        if not self.cache.has_client:
            self.cache.bind(self._client)
        try:
            await self._run(handle_signals)
        finally:
            if self._owns_client:
                await self.client.close()

    async def _run(self, handle_signals: bool) -> None:
        if self.elector is None and self.leader_election is not None:
            self.elector = LeaderElector(self.client, self.leader_election, metrics=self.metrics)
        async with contextlib.AsyncExitStack() as stack:
            if handle_signals:
                stack.enter_context(self._signals())
            if self.health_address is not None:
                self.health_url = await stack.enter_async_context(
                    _serve(self.health_address, self._health_routes())
                )
            if self.metrics_address is not None:
                self.metrics_url = await stack.enter_async_context(
                    _serve(self.metrics_address, [web.get("/metrics", self._metrics_endpoint)])
                )
            if self.webhook_server is not None:
                await stack.enter_async_context(self.webhook_server.serve())
            cache_task = asyncio.create_task(self.cache.run(), name="opframe cache")
            main = asyncio.create_task(self._run_synced(), name="opframe manager")
            try:
                await asyncio.wait({cache_task, main}, return_when=asyncio.FIRST_COMPLETED)
                if not main.done():
                    cache_task.result()  # a failed cache raises its error here
                    if any(True for _ in self.cache.informers()):
                        raise RuntimeError("the informer cache stopped unexpectedly")
                    await main  # nothing to watch (no controllers): the cache is done at once
                main.result()
            finally:
                await _cancel(main)
                await _cancel(cache_task)
        _log.info("stopped")

    async def _run_synced(self) -> None:
        synced = await self._unless_stopped(self.cache.wait_for_sync(self.sync_timeout))
        if not synced:
            return
        self._ready.set()
        _log.info("cache synced; %d controllers", len(self._controllers))
        if self.elector is None:
            await self._run_controllers()
            return
        elector = self.elector
        try:
            if not await self._unless_stopped(elector.acquire()):
                return
            hold = asyncio.create_task(elector.hold(), name="opframe lease renewal")
            controllers = asyncio.create_task(self._run_controllers(), name="opframe controllers")
            try:
                done, _ = await asyncio.wait(
                    {hold, controllers}, return_when=asyncio.FIRST_COMPLETED
                )
                if hold in done:
                    # Renewal failed: another replica may lead soon. Stop at once, no draining.
                    await _cancel(controllers)
                    hold.result()
                controllers.result()
            finally:
                await _cancel(hold)
                await _cancel(controllers)
        finally:
            await elector.release()

    async def _run_controllers(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(None) as deadline, asyncio.TaskGroup() as tg:
                client, fence = self.client, None
                if self.elector is not None:
                    # Writes of reconciles re-check the lease right before they are sent.
                    fence = self.elector.fence
                    client = client.with_write_guard(fence)
                for controller in self._controllers:
                    work = controller.run(
                        client=client,
                        recorder=EventRecorder(self.client, controller.name),
                        fence=fence,
                    )
                    tg.create_task(work, name=f"controller {controller.name}")
                self._controllers_started.set()

                async def drain_on_stop() -> None:
                    await self._stop.wait()
                    _log.info("shutting down: finishing in-flight reconciles")
                    for controller in self._controllers:
                        controller.shutdown()
                    deadline.reschedule(loop.time() + self.graceful_shutdown_timeout)

                tg.create_task(drain_on_stop(), name="opframe graceful shutdown")
        except TimeoutError:
            _log.warning(
                "in-flight reconciles did not finish within %ss; cancelled them",
                self.graceful_shutdown_timeout,
            )
        finally:
            self._controllers_started.clear()
            for controller in self._controllers:
                controller.shutdown()

    async def _unless_stopped(self, aw: Awaitable[R]) -> bool:
        """Await ``aw`` unless a stop is requested first; True if ``aw`` completed."""
        work = asyncio.ensure_future(aw)
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if work.done():
                work.result()
                return True
            return False
        finally:
            await _cancel(work)
            await _cancel(stopped)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        received = 0
        run_task = asyncio.current_task()

        def on_signal(signum: int) -> None:
            nonlocal received
            received += 1
            if received == 1:
                _log.info("received %s, shutting down", signal.Signals(signum).name)
                self.stop()
            elif run_task is not None:
                _log.warning("second signal: cancelling in-flight work")
                run_task.cancel()

        installed: list[signal.Signals] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
            except (RuntimeError, ValueError, NotImplementedError):
                continue  # not the main thread, or no signals on this platform
            installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    # -- HTTP endpoints ------------------------------------------------------------------------

    def _health_routes(self) -> list[web.RouteDef]:
        async def healthz(_: web.Request) -> web.Response:
            return _checks_response(self._health_checks)

        async def readyz(_: web.Request) -> web.Response:
            response = _checks_response(self._ready_checks)
            if response.status != 200:
                problems = [*self._waiting_controllers(), *self.cache.problems()]
                details = "".join(f"    {problem}\n" for problem in problems)
                response.text = (response.text or "") + details
            return response

        return [web.get("/healthz", healthz), web.get("/readyz", readyz)]

    async def _metrics_endpoint(self, _: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )


def _checks_response(checks: dict[str, Check]) -> web.Response:
    failed = []
    for name, check in checks.items():
        try:
            ok = check()
        except Exception:  # a broken check is a failing check, not a crashed server
            ok = False
        if not ok:
            failed.append(name)
    if failed:
        return web.Response(status=500, text="".join(f"[-]{n} failed\n" for n in failed))
    return web.Response(text="ok")


@contextlib.asynccontextmanager
async def _serve(address: tuple[str, int], routes: list[web.RouteDef]) -> AsyncIterator[str]:
    """Serve ``routes`` on ``address``; yields ``http://host:port`` (the real port if 0)."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, address[0], address[1])
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def _cancel(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` unless it already finished, and wait for it (see ``cancel_and_wait``).

    A task that had already failed has its error read (and logged at debug level) here, so
    asyncio does not report it later as "Task exception was never retrieved". Where that
    error matters, the caller has raised it with ``task.result()`` before.
    """
    if not task.done():
        await cancel_and_wait(task)
    elif not task.cancelled() and (error := task.exception()) is not None:
        name = task.get_name() if isinstance(task, asyncio.Task) else "task"
        _log.debug("%s had already failed when it was stopped: %r", name, error)
