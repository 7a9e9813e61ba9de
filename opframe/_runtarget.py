"""What a manager will watch, read before it runs (for the runner's start-up checks)."""

from __future__ import annotations

from typing import Any

from opframe.controller import Controller, RunningController, Source
from opframe.manager import Manager
from opframe.resource import resource_info

__all__ = ["rebuilt_for_namespace", "watched_kinds"]


def _description(controller: RunningController[Any]) -> Controller[Any]:
    # A running controller keeps the Controller it was made from as ``spec``.
    return controller.spec


def _sources(controller: RunningController[Any]) -> tuple[Source, ...]:
    return tuple(_description(controller).sources)


def watched_kinds(manager: Manager) -> list[tuple[type[Any], str | None]]:
    """Each distinct (kind, namespace) the manager's controllers watch (None: all)."""
    seen: list[tuple[type[Any], str | None]] = []
    for controller in manager.controllers:
        for source in _sources(controller):
            kind = source.kind
            namespace = source.namespace or (
                manager.namespace if resource_info(kind).namespaced else None
            )
            if (kind, namespace) not in seen:
                seen.append((kind, namespace))
    return seen


def rebuilt_for_namespace(manager: Manager, namespace: str) -> Manager:
    """``manager`` narrowed to ``namespace``: the same controllers, checks and settings.

    A controller's informers are declared when it is added, with the namespace the manager
    had then; a flag given later needs the controllers added again to a manager that has it.
    """
    if not manager.controllers:
        manager.namespace = namespace
        return manager
    rebuilt = Manager(
        manager._client,
        leader_election=manager.leader_election,
        health_address=manager.health_address,
        metrics_address=manager.metrics_address,
        namespace=namespace,
        sync_timeout=manager.sync_timeout,
        graceful_shutdown_timeout=manager.graceful_shutdown_timeout,
    )
    for name, check in manager._health_checks.items():
        rebuilt.add_health_check(name, check)
    for name, check in manager._ready_checks.items():
        if name not in rebuilt._ready_checks:
            rebuilt.add_ready_check(name, check)
    for controller in manager.controllers:
        rebuilt.add(_description(controller))
    return rebuilt
