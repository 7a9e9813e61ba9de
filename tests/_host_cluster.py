"""Fixtures of the test folders that run pods (controllers, e2e, kubelet): a fast local
cluster whose `busybox` runs host tools, and a check that no pod process outlives them.

A folder's ``conftest.py`` imports them."""

from __future__ import annotations

from typing import Any

import pytest

from opframe.testing.kubelet import ImageResolver, LocalImage

__all__ = ["local_cluster_options", "no_leaked_processes"]


@pytest.fixture(scope="session", autouse=True)
def no_leaked_processes(local_process_leak_check: None) -> None:
    """After the tests, none of the processes their pods started is alive (the plugin's
    ``local_process_leak_check``, made automatic for the folder)."""


@pytest.fixture
def local_cluster_options() -> dict[str, Any]:
    """Fast back-off, and a `busybox` image that runs commands from the host."""
    resolver = ImageResolver()
    resolver.register("busybox*", LocalImage.host())
    return {"resolver": resolver, "backoff_base": 0.3, "heartbeat": 1.0}
