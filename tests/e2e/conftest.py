"""e2e: operators written with opframe, on a local cluster whose `busybox` runs host tools."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from opframe.testing._cluster_fixtures import assert_no_leaked_processes
from opframe.testing.kubelet import ImageResolver, LocalImage


@pytest.fixture(scope="session", autouse=True)
def _no_leaked_processes() -> Iterator[None]:
    """After the controller tests, none of the processes their pods started is alive."""
    yield
    assert_no_leaked_processes()


@pytest.fixture
def local_cluster_options() -> dict[str, Any]:
    """Fast back-off, and a `busybox` image that runs commands from the host."""
    resolver = ImageResolver()
    resolver.register("busybox*", LocalImage.host())
    return {"resolver": resolver, "backoff_base": 0.3, "heartbeat": 1.0}
