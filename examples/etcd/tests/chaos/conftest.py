"""The chaos suite's fixtures and its figures table (printed at the end of the run)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from chaos.harness import FIGURES
from etcd_e2e import EtcdEnv
from etcd_operator.models import EtcdCluster

from opframe import install_crds
from opframe.testing import LocalCluster


@pytest_asyncio.fixture
async def plane() -> AsyncIterator[EtcdEnv]:
    """A LocalCluster with the CRD installed and no operator: scenarios run operator processes."""
    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        await install_crds(cluster.client, EtcdCluster)
        yield EtcdEnv(cluster)


@pytest_asyncio.fixture
async def persistent_plane() -> AsyncIterator[EtcdEnv]:
    """:func:`plane` with a state directory, so its API server can be restarted in place
    (:meth:`~opframe.testing.LocalCluster.restart_api_server`)."""
    with tempfile.TemporaryDirectory(prefix="opframe-chaos-") as state:
        async with LocalCluster(
            Path(state), backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0
        ) as cluster:
            await install_crds(cluster.client, EtcdCluster)
            yield EtcdEnv(cluster)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    write = terminalreporter.write_line
    write("")
    write("chaos figures: scenario | writes acknowledged | lost | converge s | longest gap s")
    for f in FIGURES:
        write(
            f"  {f.scenario:<44} {f.acknowledged:>7} {f.lost:>4} "
            f"{f.converge_s:>8.1f} {f.longest_gap_s:>8.2f}"
        )
