"""The etcd operator runs under its own ServiceAccount token with exactly the generated RBAC
(examples/etcd/deploy/rbac.yaml), never as the admin, and brings a cluster up.

The embedded server enforces RBAC as plugin/pkg/auth/authorizer/rbac/rbac.go does, so any
call the operator makes that the generated rules do not cover would fail with a 403.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml
from etcd_operator.models import EtcdCluster, EtcdClusterSpec, TLSSpec
from etcd_operator.operator import build_manager
from etcd_operator.planner import Policy
from etcd_operator.reconciler import EtcdClusterReconciler
from etcd_operator_demo.demo import settled

from opframe import install_crds
from opframe.client import Client, ConnectionConfig
from opframe.testing import LocalCluster, eventually

pytestmark = pytest.mark.e2e

RBAC_FILE = Path(__file__).parents[2] / "examples" / "etcd" / "deploy" / "rbac.yaml"
SYSTEM = "etcd-operator-system"
_PATHS = {
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}


def _documents() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(RBAC_FILE.read_text()))


def _cluster_rules() -> list[dict[str, Any]]:
    return next(d for d in _documents() if d["kind"] == "ClusterRole")["rules"]  # type: ignore[no-any-return]


async def _apply_rbac(cluster: LocalCluster, drop: int | None = None) -> None:
    """Apply the generated RBAC (without ClusterRole rule number ``drop``)."""
    admin = cluster.client
    await admin.request("POST", "/api/v1/namespaces", body={"metadata": {"name": SYSTEM}})
    for doc in _documents():
        if doc["kind"] == "ClusterRole" and drop is not None:
            del doc["rules"][drop]
        ns = doc["metadata"].get("namespace", "")
        await admin.request("POST", _PATHS[doc["kind"]].format(ns=ns), body=doc)


async def _operator_client(cluster: LocalCluster, tmp_path: Path) -> Client:
    path = f"/api/v1/namespaces/{SYSTEM}/serviceaccounts/etcd-operator/token"
    answer: dict[str, Any] = await cluster.client.request("POST", path, body={"spec": {}})
    token_file = tmp_path / "token"
    token_file.write_text(answer["status"]["token"])
    server = cluster.api_server
    ctx = ssl.create_default_context(cafile=str(server.ca_file))
    return Client(ConnectionConfig(server.url, ssl_context=ctx, token_file=token_file))


async def test_operator_brings_a_cluster_up_under_its_generated_rbac(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        await install_crds(cluster.client, EtcdCluster)
        await _apply_rbac(cluster)
        async with await _operator_client(cluster, tmp_path) as client:
            who = await client.request(
                "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            )  # fmt: skip
            assert who["status"]["userInfo"]["username"] == (
                f"system:serviceaccount:{SYSTEM}:etcd-operator"
            )
            reconciler = EtcdClusterReconciler(
                Policy(member_start_deadline=30.0, unhealthy_grace=3.0),
                steady_interval=1.0,
                busy_interval=0.3,
            )
            manager = build_manager(
                client, reconciler=reconciler, leader_election_namespace=SYSTEM,
                health_address=None, metrics_address=None,
            )  # fmt: skip
            operator = asyncio.create_task(manager.run(handle_signals=False))
            try:
                await cluster.client.create(EtcdCluster(
                    metadata={"name": "lp", "namespace": "default"},
                    spec=EtcdClusterSpec(size=3, version="3.5.1"),
                ))  # fmt: skip

                async def up() -> bool:
                    c = await cluster.client.get(EtcdCluster, "lp", "default")
                    return settled(3, "3.5.1")(c)

                await eventually(up, message="3 members available under the SA", timeout=90)
            finally:
                manager.stop()
                operator.cancel()
                await asyncio.wait({operator}, timeout=30)
    refused = [r.getMessage() for r in caplog.records if "403" in r.getMessage()]
    assert not refused, f"the operator was refused: {refused[:3]}"


def _rule_id(rule: dict[str, Any]) -> str:
    return f"{rule['resources'][0]}:{','.join(rule['verbs'])}"


@pytest.mark.slow
@pytest.mark.parametrize("drop", range(len(_cluster_rules())),
                         ids=[_rule_id(r) for r in _cluster_rules()])  # fmt: skip
async def test_every_generated_rule_is_needed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, drop: int
) -> None:
    """Without any one rule, the operator is refused (a 403 naming the resource)."""
    resource = _cluster_rules()[drop]["resources"][0].split("/")[0]
    caplog.set_level(logging.INFO)
    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        await install_crds(cluster.client, EtcdCluster)
        await _apply_rbac(cluster, drop)
        async with await _operator_client(cluster, tmp_path) as client:
            reconciler = EtcdClusterReconciler(
                Policy(member_start_deadline=30.0, unhealthy_grace=3.0),
                steady_interval=1.0,
                busy_interval=0.3,
            )
            manager = build_manager(
                client, reconciler=reconciler, leader_election_namespace=SYSTEM,
                health_address=None, metrics_address=None,
            )  # fmt: skip
            operator = asyncio.create_task(manager.run(handle_signals=False))
            try:
                await cluster.client.create(EtcdCluster(
                    metadata={"name": "lp", "namespace": "default"},
                    spec=EtcdClusterSpec(
                        size=3, version="3.5.1",
                        # Secrets are touched only for spec.tls.
                        tls=TLSSpec(auto_generate=True) if resource == "secrets" else None,
                    ),
                ))  # fmt: skip

                def _refusal(text: str) -> bool:
                    return ("403" in text or "forbidden" in text.lower()) and resource in text

                async def refused() -> bool:
                    if operator.done():  # the manager gave up (a watch it may not make)
                        return _refusal(repr(operator.exception()))
                    return any(_refusal(r.getMessage()) for r in caplog.records)

                await eventually(refused, message=f"a 403 on {resource}", timeout=60)
            finally:
                manager.stop()
                operator.cancel()
                await asyncio.wait({operator}, timeout=30)
