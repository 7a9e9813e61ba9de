"""The etcd operator runs under its own ServiceAccount token with exactly the generated RBAC
(examples/etcd/deploy/rbac.yaml), never as the admin; every rule of it is needed, and a missing
one is reported where a user looks (a Warning Event and a condition on the EtcdCluster).

The embedded server enforces RBAC as plugin/pkg/auth/authorizer/rbac/rbac.go does, so any call
the operator makes that the generated rules do not cover fails with a 403 worded as
staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go words it. The
harness (``running_operator`` in examples/etcd/tests/etcd_e2e.py) is the one the whole etcd e2e
suite runs on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from etcd_e2e import (
    E2E_POLICY,
    OPERATOR_ACCOUNT,
    OPERATOR_NAMESPACE,
    RunningOperator,
    operator_client,
    operator_rbac,
    running_operator,
)
from etcd_operator.models import EtcdCluster, EtcdClusterSpec, TLSSpec
from etcd_operator.operator import build_manager
from etcd_operator.reconciler import EtcdClusterReconciler
from etcd_operator_demo.demo import settled

from opframe import Client, Manager, get_condition, install_crds
from opframe._forbidden import describe_forbidden
from opframe.client import ConnectionConfig
from opframe.errors import Forbidden
from opframe.kinds import Event
from opframe.testing import LocalCluster, eventually

pytestmark = pytest.mark.e2e

Rbac = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def _build(client: Client) -> Manager:
    reconciler = EtcdClusterReconciler(E2E_POLICY, steady_interval=1.0, busy_interval=0.3)
    return build_manager(
        client, reconciler=reconciler, leader_election_namespace=OPERATOR_NAMESPACE,
        health_address=None, metrics_address=None,
    )  # fmt: skip


def _rules() -> list[dict[str, Any]]:
    """The ClusterRole's rules the e2e operator runs with: generated from ``_build``'s
    controllers as ``running_operator`` does (the shipped file also grants the backup
    controllers', which a cluster without backups never exercises; test_rbac_generate keeps
    the file equal to the code's)."""
    offline = Client(ConnectionConfig(host="https://127.0.0.1:1"))  # never connected
    docs = operator_rbac(_build(offline))
    return next(d for d in docs if d["kind"] == "ClusterRole")["rules"]  # type: ignore[no-any-return]


@asynccontextmanager
async def _operator_with_a_cluster(
    rbac: Rbac | None = None,
    *,
    tls: TLSSpec | None = None,
) -> AsyncIterator[tuple[LocalCluster, RunningOperator]]:
    """A LocalCluster, the operator under its ServiceAccount, and a 3-member EtcdCluster
    (with ``tls`` as its ``spec.tls``)."""
    async with LocalCluster(backoff_base=0.5, backoff_cap=5.0, heartbeat=2.0) as cluster:
        await install_crds(cluster.client, EtcdCluster)
        async with running_operator(cluster, _build, rbac=rbac) as operator:
            await cluster.client.create(EtcdCluster(
                metadata={"name": "lp", "namespace": "default"},
                spec=EtcdClusterSpec(size=3, version="3.5.1", tls=tls),
            ))  # fmt: skip
            yield cluster, operator


async def test_operator_brings_a_cluster_up_under_its_generated_rbac(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with _operator_with_a_cluster() as (cluster, _):
        async with await operator_client(cluster) as client:
            who = await client.request(
                "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            )  # fmt: skip
        assert who["status"]["userInfo"]["username"] == (
            f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"
        )

        async def up() -> bool:
            return settled(3)(await cluster.client.get(EtcdCluster, "lp", "default"))

        await eventually(up, message="3 members available under the SA", timeout=90)
    refused = [r.getMessage() for r in caplog.records if "403" in r.getMessage()]
    assert not refused, f"the operator was refused: {refused[:3]}"


def _without_verb(resource: str, verb: str) -> Rbac:
    def edit(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for doc in docs:
            for rule in doc.get("rules", []):
                if rule["resources"] == [resource]:
                    rule["verbs"] = [v for v in rule["verbs"] if v != verb]
        return docs

    return edit


@pytest.mark.slow
async def test_a_missing_verb_is_an_event_and_a_condition_on_the_etcdcluster() -> None:
    """Without ``create services`` the reconcile is refused, and the EtcdCluster says what to
    add: a Warning Event and a ``Forbidden`` condition naming verb, resource and namespace."""
    expected = (
        'Forbidden: cannot create services in namespace "default": add the verb to the '
        "operator's Role or ClusterRole (Controller.permits, then opframe rbac generate)"
    )
    async with _operator_with_a_cluster(_without_verb("services", "create")) as (cluster, _):
        admin = cluster.client

        async def reported() -> None:
            c = await admin.get(EtcdCluster, "lp", "default")
            condition = get_condition(c.status.conditions if c.status else None, "Forbidden")
            assert condition is not None and condition.status == "True", c.status
            assert condition.message == expected
            assert condition.reason == "MissingPermission"
            events = (await admin.list(Event, "default")).items
            assert any(
                e.type == "Warning" and e.reason == "Forbidden" and e.message == expected
                and e.involved_object.name == "lp"
                for e in events
            ), [(e.reason, e.message) for e in events]  # fmt: skip

        await eventually(reported, message="the refusal reported on the EtcdCluster", timeout=90)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('pods is forbidden: User "system:serviceaccount:s:o" cannot delete resource "pods" '
         'in API group "" in the namespace "x"', 'cannot delete pods in namespace "x"'),
        ('leases.coordination.k8s.io "l" is forbidden: User "u" cannot update resource '
         '"leases" in API group "coordination.k8s.io" in the namespace "s"',
         'cannot update leases.coordination.k8s.io in namespace "s"'),
        ('etcdclusters.etcd.opframe.dev "a" is forbidden: User "u" cannot patch resource '
         '"etcdclusters/status" in API group "etcd.opframe.dev" in the namespace "d"',
         'cannot patch etcdclusters/status.etcd.opframe.dev in namespace "d"'),
        ('nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the '
         "cluster scope", "cannot list nodes at the cluster scope"),
        ('forbidden: User "u" cannot get path "/metrics"', 'cannot get path "/metrics"'),
    ],
)  # fmt: skip
def test_a_403_is_described_by_verb_resource_and_namespace(message: str, expected: str) -> None:
    """The wording of responsewriters/errors.go forbiddenMessage, turned into what to add."""
    line = describe_forbidden(Forbidden(403, "Forbidden", message))
    assert line.startswith(f"Forbidden: {expected}: add the verb"), line


def test_a_403_of_another_wording_is_passed_on() -> None:
    error = Forbidden(403, "Forbidden", 'unable to create new content in namespace x because '
                      "it is being terminated")  # fmt: skip
    assert describe_forbidden(error) == f"Forbidden: {error.message}"


def _rule_id(rule: dict[str, Any]) -> str:
    return f"{rule['resources'][0]}:{','.join(rule['verbs'])}"


def _without_rule(drop: int) -> Rbac:
    dropped = _rules()[drop]

    def edit(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for doc in docs:
            if doc["kind"] == "ClusterRole":
                doc["rules"] = [r for r in doc["rules"] if r != dropped]
        return docs

    return edit


@pytest.mark.slow
@pytest.mark.parametrize("drop", range(len(_rules())), ids=[_rule_id(r) for r in _rules()])
async def test_every_generated_rule_is_needed(caplog: pytest.LogCaptureFixture, drop: int) -> None:
    """Without any one rule, the operator is refused: a 403 naming the resource, reported on
    the EtcdCluster when a reconcile was refused (Event or condition: one of them may be the
    write refused), else in the operator's log (a kind it may not watch, an Event it may not
    record: no reconcile runs or fails then)."""
    resource = _rules()[drop]["resources"][0]
    caplog.set_level(logging.INFO)
    # Secrets are touched only for spec.tls (certificates read and generated).
    tls = TLSSpec(auto_generate=True) if resource == "secrets" else None
    async with _operator_with_a_cluster(_without_rule(drop), tls=tls) as (cluster, operator):
        admin = cluster.client

        def _refusal(text: str) -> bool:
            return ("403" in text or "forbidden" in text.lower()) and resource in text

        async def refused() -> bool:
            c = await admin.get(EtcdCluster, "lp", "default")
            condition = get_condition(c.status.conditions if c.status else None, "Forbidden")
            if condition is not None and _refusal(condition.message or ""):
                return True
            events = (await admin.list(Event, "default")).items
            if any(e.reason == "Forbidden" and _refusal(e.message or "") for e in events):
                return True
            if operator.task.done():  # the manager gave up (a watch it may not make)
                return _refusal(repr(operator.task.exception()))
            # A watch refused, or an Event not recorded: the log line that says so.
            return any(_refusal(r.getMessage()) for r in caplog.records)

        await eventually(refused, message=f"a 403 on {resource} reported", timeout=90)
