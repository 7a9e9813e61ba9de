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

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
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


def assert_no_leaked_processes(grace: float = 5.0) -> None:
    """Fail if a process group started by a local kubelet in this process is still alive.

    A group killed a moment ago may take the kernel a little while to finish, so the check
    waits up to ``grace`` seconds for the groups to go before it fails, naming their commands.
    """
    deadline = time.monotonic() + grace
    alive = live_process_groups()
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)  # a synchronous check at teardown; /proc offers nothing to wait on
        alive = live_process_groups()
    assert not alive, f"local kubelet processes still alive: {_commands(alive)}"


def _commands(groups: list[int]) -> str:
    named = []
    for pgid in groups:
        try:
            raw = Path(f"/proc/{pgid}/cmdline").read_bytes()
        except OSError:
            raw = b"?"
        command = raw.replace(b"\0", b" ").decode(errors="replace").strip()
        named.append(f"{pgid} ({command})")
    return ", ".join(named)


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
