"""The etcd operator's end-to-end harness: a LocalCluster running the operator.

``etcd_env`` gives each test its own control plane, kubelet and operator (with short planner
deadlines and requeue intervals), plus helpers to create clusters, wait on their status with a
deadline, and run a :class:`~etcd_operator_demo.workload.KeyWriter` through a scenario. The
fixtures are made available to the tests by ``conftest.py``.

The operator never runs as the admin: :func:`running_operator` (the one place that decides
what the e2e operator may do) runs it under its ServiceAccount ``etcd-operator-system/
etcd-operator`` with a bound token and exactly the RBAC generated from the controllers it
runs, as ``opframe rbac generate`` does (for the default manager that is
``deploy/rbac.yaml``, kept equal to the code by ``tests/auth/test_rbac_generate.py``). A call
the reconcilers make but their controllers do not declare (``Controller.permits``) is refused
with a 403 by the embedded API server and fails the test: declare the verb on the controller
and regenerate ``deploy/rbac.yaml``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from etcd_operator.builders import LABEL_CLUSTER
from etcd_operator.models import EtcdCluster, EtcdClusterSpec
from etcd_operator.operator import build_manager
from etcd_operator.planner import Policy
from etcd_operator.reconciler import EtcdClusterReconciler
from etcd_operator_demo import demo
from etcd_operator_demo.workload import KeyWriter, member_endpoints, write_throughout

from opframe import AlreadyExists, Client, Manager, NotFound, Pod, install_crds, rbac_documents
from opframe.client import ConnectionConfig
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


async def kubectl(kubeconfig: Path, *args: str) -> str:
    """Run kubectl against ``kubeconfig``; its output (standard output and error together),
    asserted to have succeeded."""
    p = await asyncio.create_subprocess_exec(
        str(shutil.which("kubectl")),
        *args,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await p.communicate()
    assert p.returncode == 0, out.decode()
    return out.decode()


def settled(size: int, version: str = "3.5.1") -> Callable[[EtcdCluster], bool]:
    """The cluster runs ``size`` healthy voting members on ``version`` and reports it."""
    return demo.settled(size, version)


def member_ids(c: EtcdCluster) -> dict[str, str]:
    """Pod name -> etcd member ID, as the status reports them."""
    return {m.name: m.id or "" for m in (c.status.members if c.status else [])}


#: Where the operator's ServiceAccount lives, as ``deploy/`` ships it.
OPERATOR_NAMESPACE = "etcd-operator-system"
OPERATOR_ACCOUNT = "etcd-operator"
_RBAC_PATHS = {
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}


def operator_rbac(manager: Manager) -> list[dict[str, Any]]:
    """The ServiceAccount and RBAC that ``manager``'s controllers declare (``opframe rbac
    generate``): what the e2e operator runs with."""
    return rbac_documents(
        manager, name=OPERATOR_ACCOUNT, service_account_namespace=OPERATOR_NAMESPACE
    )


async def apply_rbac(cluster: LocalCluster, documents: list[dict[str, Any]]) -> None:
    """Create the operator's namespace and ``documents`` (ServiceAccount, roles, bindings)."""
    admin = cluster.client
    namespaces = {OPERATOR_NAMESPACE} | {
        d["metadata"]["namespace"] for d in documents if d["metadata"].get("namespace")
    }
    for ns in sorted(namespaces):
        with contextlib.suppress(AlreadyExists):
            await admin.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}})
    for doc in documents:
        path = _RBAC_PATHS[doc["kind"]].format(ns=doc["metadata"].get("namespace", ""))
        await admin.request("POST", path, body=doc)


async def operator_client(cluster: LocalCluster) -> Client:
    """A client authenticated as the operator's ServiceAccount (a bound TokenRequest token)."""
    path = f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/serviceaccounts/{OPERATOR_ACCOUNT}/token"
    answer: dict[str, Any] = await cluster.client.request("POST", path, body={"spec": {}})
    token_file = cluster.state_dir / f"{OPERATOR_ACCOUNT}.token"
    token_file.write_text(answer["status"]["token"])
    server = cluster.api_server
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    return Client(ConnectionConfig(server.url, ssl_context=ctx, token_file=token_file))


@dataclass
class RunningOperator:
    """The manager :func:`running_operator` runs, and the task running it."""

    manager: Manager
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def running_operator(
    cluster: LocalCluster,
    build: Callable[[Client], Manager],
    *,
    rbac: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
) -> AsyncIterator[RunningOperator]:
    """Run the manager ``build(client)`` makes under the operator's ServiceAccount.

    The RBAC is generated from that manager's controllers (:func:`operator_rbac`); ``rbac``
    may edit the documents first (the rule-removal test drops one rule). The manager is
    stopped, and must have stopped, when the block ends.
    """
    documents = operator_rbac(build(cluster.client))  # built only to read its controllers
    await apply_rbac(cluster, rbac(documents) if rbac else documents)
    async with await operator_client(cluster) as client:
        manager = build(client)
        operator = asyncio.create_task(manager.run(handle_signals=False))
        try:
            yield RunningOperator(manager, operator)
        finally:
            manager.stop()
            operator.cancel()
            done, _ = await asyncio.wait({operator}, timeout=30)
            assert done, "the operator did not stop within 30 s of being cancelled"


@pytest.fixture
def etcd_reconciler() -> EtcdClusterReconciler:
    """The reconciler under test: short deadlines and requeue intervals."""
    return EtcdClusterReconciler(E2E_POLICY, steady_interval=1.0, busy_interval=0.3)


@pytest_asyncio.fixture
async def etcd_env(etcd_reconciler: EtcdClusterReconciler) -> AsyncIterator[EtcdEnv]:
    """A LocalCluster with the EtcdCluster CRD installed and the operator running under its
    ServiceAccount with its generated RBAC (:func:`running_operator`)."""

    def build(client: Client) -> Manager:
        return build_manager(
            client, reconciler=etcd_reconciler, health_address=None, metrics_address=None
        )

    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        await install_crds(cluster.client, EtcdCluster)
        async with running_operator(cluster, build):
            yield EtcdEnv(cluster)
