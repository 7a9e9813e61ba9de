"""Fixtures of the test folders that run pods (controllers, e2e, kubelet): a fast local
cluster whose `busybox` runs host tools, and a check that no pod process outlives them.

A folder's ``conftest.py`` imports them; each folder then runs its own leak check at the end
of the session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from opframe.testing._cluster_fixtures import assert_no_leaked_processes
from opframe.testing.kubelet import ImageResolver, LocalImage

__all__ = ["local_cluster_options", "no_leaked_processes"]


@pytest.fixture(scope="session", autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """After the folder's tests, none of the processes their pods started is alive."""
    yield
    assert_no_leaked_processes()


@pytest.fixture
def local_cluster_options() -> dict[str, Any]:
    """Fast back-off, and a `busybox` image that runs commands from the host."""
    resolver = ImageResolver()
    resolver.register("busybox*", LocalImage.host())
    return {"resolver": resolver, "backoff_base": 0.3, "heartbeat": 1.0}
