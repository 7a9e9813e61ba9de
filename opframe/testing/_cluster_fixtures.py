"""pytest fixtures for LocalCluster: API server + local kubelet (see opframe.testing.plugin).

- ``local_cluster``: a fresh :class:`~opframe.testing.cluster.LocalCluster` per test, torn
  down with every process it started. Customise it by overriding ``local_cluster_options``
  in a ``conftest.py``::

      @pytest.fixture
      def local_cluster_options() -> dict[str, object]:
          resolver = ImageResolver()
          resolver.register("example.com/app:*", LocalImage.of("/opt/app"))
          return {"resolver": resolver, "backoff_base": 0.2}

- ``local_process_leak_check``: asserts at the end of the session that no container process
  started by a kubelet of this test run is alive (use it from a session-scoped autouse
  fixture, or call :func:`assert_no_leaked_processes` yourself).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet.runtime import live_process_groups

__all__ = [
    "assert_no_leaked_processes",
    "local_cluster",
    "local_cluster_options",
    "local_process_leak_check",
]


def assert_no_leaked_processes() -> None:
    """Fail if a process group started by a local kubelet in this process is still alive."""
    alive = live_process_groups()
    assert not alive, f"local kubelet processes still alive (process groups {alive})"


@pytest.fixture
def local_cluster_options() -> dict[str, Any]:
    """Keyword arguments for the ``local_cluster`` fixture's LocalCluster (override me)."""
    return {"backoff_base": 1.0, "heartbeat": 2.0}


@pytest_asyncio.fixture
async def local_cluster(local_cluster_options: dict[str, Any]) -> AsyncIterator[LocalCluster]:
    """A running LocalCluster (API server + kubelet) for one test."""
    async with LocalCluster(**local_cluster_options) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def local_process_leak_check() -> Iterator[None]:
    """Session fixture: after the last test, no kubelet-started process may be alive."""
    yield
    assert_no_leaked_processes()
