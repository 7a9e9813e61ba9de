"""The etcd operator's end-to-end harness: a LocalCluster running the operator.

``etcd_env`` gives each test its own control plane, kubelet and operator (with short planner
deadlines and requeue intervals), plus helpers to create clusters, wait on their status with a
deadline, and run a :class:`~etcd_operator_demo.workload.KeyWriter` through a scenario. The
fixtures are made available to the tests by ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from etcd_operator.builders import LABEL_CLUSTER
from etcd_operator.models import EtcdCluster, EtcdClusterSpec
from etcd_operator.operator import build_manager
from etcd_operator.planner import Policy
from etcd_operator.reconciler import EtcdClusterReconciler
from etcd_operator_demo import demo
from etcd_operator_demo.workload import KeyWriter, member_endpoints, write_throughout

from opframe import Client, NotFound, Pod, install_crds
from opframe.kinds import Event
from opframe.testing import LocalCluster, eventually

NAMESPACE = "default"
log = logging.getLogger("etcd-e2e")

# Short deadlines so that failure scenarios finish in seconds; the defaults are for real clusters.
E2E_POLICY = Policy(member_start_deadline=30.0, unhealthy_grace=3.0)


@dataclass
class EtcdEnv:
    """One test's control plane with the operator running, and scenario helpers."""

    cluster: LocalCluster

    @property
    def client(self) -> Client:
        return self.cluster.client

    async def create(self, name: str = "e2e", size: int = 3, version: str = "3.5.1") -> None:
        """Create an EtcdCluster."""
        await self.client.create(
            EtcdCluster(
                metadata={"name": name, "namespace": NAMESPACE},
                spec=EtcdClusterSpec(size=size, version=version),
            )
        )

    async def get(self, name: str = "e2e") -> EtcdCluster:
        return await self.client.get(EtcdCluster, name, NAMESPACE)

    async def patch(self, spec: dict[str, object], name: str = "e2e") -> None:
        await self.client.patch(EtcdCluster, name, {"spec": spec}, namespace=NAMESPACE)

    async def until(
        self,
        check: Callable[[EtcdCluster], bool],
        what: str,
        deadline: float = 60.0,
        name: str = "e2e",
    ) -> float:
        """Wait until ``check(cluster)`` holds; return the seconds it took."""
        start = time.monotonic()

        async def holds() -> bool:
            try:
                return check(await self.get(name))
            except NotFound:
                return False

        await eventually(holds, message=what, timeout=deadline)
        took = time.monotonic() - start
        log.info("%s after %.1fs", what, took)
        return took

    async def endpoints(self, name: str = "e2e") -> list[str]:
        """Client URLs of the cluster's running member pods."""
        return await member_endpoints(self.client, NAMESPACE, name)

    async def pod_names(self, name: str = "e2e") -> set[str]:
        pods = await self.client.list(Pod, NAMESPACE, label_selector={LABEL_CLUSTER: name})
        return {p.name for p in pods.items}

    async def events(self, reason: str, name: str = "e2e") -> list[Event]:
        """Events about the EtcdCluster with ``reason``."""
        events = await self.client.list(Event, NAMESPACE)
        return [e for e in events.items if e.reason == reason and e.involved_object.name == name]

    @contextlib.asynccontextmanager
    async def writing(self, name: str = "e2e") -> AsyncIterator[KeyWriter]:
        """Write keys throughout the block; afterwards every acknowledged key must read back."""
        async with write_throughout(lambda: self.endpoints(name)) as writer:
            yield writer


def settled(size: int, version: str = "3.5.1") -> Callable[[EtcdCluster], bool]:
    """The cluster runs ``size`` healthy voting members on ``version`` and reports it."""
    return demo.settled(size, version)


def member_ids(c: EtcdCluster) -> dict[str, str]:
    """Pod name -> etcd member ID, as the status reports them."""
    return {m.name: m.id or "" for m in (c.status.members if c.status else [])}


@pytest.fixture
def etcd_reconciler() -> EtcdClusterReconciler:
    """The reconciler under test: short deadlines and requeue intervals."""
    return EtcdClusterReconciler(E2E_POLICY, steady_interval=1.0, busy_interval=0.3)


@pytest_asyncio.fixture
async def etcd_env(etcd_reconciler: EtcdClusterReconciler) -> AsyncIterator[EtcdEnv]:
    """A LocalCluster with the EtcdCluster CRD installed and the operator running."""
    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        await install_crds(cluster.client, EtcdCluster)
        manager = build_manager(
            cluster.client, reconciler=etcd_reconciler, health_address=None, metrics_address=None
        )
        operator = asyncio.create_task(manager.run(handle_signals=False))
        try:
            yield EtcdEnv(cluster)
        finally:
            manager.stop()
            operator.cancel()
            done, _ = await asyncio.wait({operator}, timeout=30)
            assert done, "the operator did not stop within 30 s of being cancelled"
