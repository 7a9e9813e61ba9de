"""Run the operator under test: a Manager against the test's API server, stopped cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from typing import Any

from opframe.client import Client
from opframe.manager import Manager
from opframe.runner import (
    ManagerFactory,
    StartupError,
    _build,
    _check_all_served,
    _check_target,
)

__all__ = ["OperatorRunner"]


class OperatorRunner:
    """Starts managers with a test's client and stops them all at the end of the test.

    The ``run_operator`` fixture is one of these, used as a function::

        async def test_greeting_gets_its_configmap(client, install_crds, run_operator):
            await install_crds(Greeting)
            manager = await run_operator("greeting:manager")    # or a Manager, or a factory
            ...

    :meth:`start` returns once the manager's cache synced and its workers run; a kind it
    watches that the server does not serve (a CRD not installed) fails at once with the
    message ``opframe run`` prints. The manager runs without signal handlers and with its
    probe servers on free ports.
    """

    def __init__(self, client: Client, *, stop_timeout: float = 10.0) -> None:
        self.client = client
        self.stop_timeout = stop_timeout
        self._running: list[tuple[Manager, asyncio.Task[None]]] = []

    async def __call__(
        self,
        target: Manager | ManagerFactory | str,
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for start-up
    ) -> Manager:
        """Start ``target`` (a Manager, a function returning one, or ``"module:attr"``)."""
        return await self.start(target, timeout=timeout)

    async def start(
        self,
        target: Manager | ManagerFactory | str,
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for start-up
    ) -> Manager:
        """Start ``target`` and wait until its controllers run; see the class docstring."""
        label = target if isinstance(target, str) else ""
        resolved = _resolve(target) if isinstance(target, str) else target
        try:
            _check_target(resolved, label or "the operator")
            manager = await _build(resolved, self.client, label or "the operator")
        except StartupError as exc:
            raise AssertionError(str(exc)) from None
        if manager._client is None:  # connect it to the test's server
            manager._client = self.client
        manager.health_address = manager.health_address and ("127.0.0.1", 0)
        manager.metrics_address = manager.metrics_address and ("127.0.0.1", 0)
        try:
            await _check_all_served(manager, manager.client)
        except StartupError as exc:
            raise AssertionError(f"{exc} (in a test: await install_crds(Model))") from None
        task = asyncio.create_task(manager.run(handle_signals=False), name="operator under test")
        self._running.append((manager, task))
        started = asyncio.ensure_future(manager.wait_started())
        try:
            async with asyncio.timeout(timeout):
                await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise AssertionError(f"the operator did not start within {timeout:g}s") from None
        finally:
            started.cancel()
        if task.done():
            task.result()  # its error, if it failed
            raise AssertionError("the operator stopped before its controllers started")
        return manager

    async def stop_all(self) -> None:
        """Stop every started manager (gracefully, then cancelled); re-raise a crash."""
        errors: list[BaseException] = []
        while self._running:
            manager, task = self._running.pop()
            manager.stop()
            try:
                async with asyncio.timeout(self.stop_timeout):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                errors.append(
                    AssertionError(f"the operator did not stop within {self.stop_timeout:g}s")
                )
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def _resolve(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise AssertionError(f"expected 'module:attr' (e.g. 'greeting:manager'), got {target!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise AssertionError(f"cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AssertionError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj
