"""`opframe rbac generate`: RBAC derived from what controllers watch and declare.

Rules (opframe.rbac): watched kinds get get/list/watch; Controller.permits adds verbs (on a
subresource when given); Events get create/patch; leader election adds a Role on leases
(get/create/update) in the Lease's namespace; a namespaced manager gets a Role. The
generated rules are then enforced by the embedded server's RBAC authorizer
(plugin/pkg/auth/authorizer/rbac/rbac.go).
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from opframe import ConfigMap, Controller, LeaderElectionConfig, Manager, Pod
from opframe.cli import main
from opframe.rbac import policy_rules, rbac_documents
from opframe.testing.apiserver import ApiServer
from tests.auth._http import call

ETCD = Path(__file__).parents[2] / "examples" / "etcd"
ETCD_ARGS = [
    "rbac", "generate", "etcd_operator.operator:build_controllers", "--name", "etcd-operator",
    "-n", "etcd-operator-system", "--leader-election-namespace", "etcd-operator-system",
]  # fmt: skip


async def _noop(ctx: Any, obj: Any) -> None:
    return None


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def test_the_etcd_operator_rbac_file_is_what_the_code_declares() -> None:
    code, out, err = _cli(ETCD_ARGS)
    assert code == 0, err
    committed = list(yaml.safe_load_all((ETCD / "deploy" / "rbac.yaml").read_text()))
    assert committed == list(yaml.safe_load_all(out)), (
        "examples/etcd/deploy/rbac.yaml is stale: regenerate it with opframe " + " ".join(ETCD_ARGS)
    )


def test_watched_kinds_are_read_and_declared_writes_added() -> None:
    c = Controller(for_=ConfigMap, reconciler=_noop).owns(Pod).permits(Pod, "delete", "create")
    assert policy_rules([c]) == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods"],
         "verbs": ["get", "list", "watch", "create", "delete"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    ]  # fmt: skip


def test_a_subresource_permission_is_its_own_rule() -> None:
    c = Controller(for_=Pod, reconciler=_noop).permits(Pod, "patch", subresource="status")
    assert {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch"]} in (
        policy_rules([c])
    )


def test_an_unknown_verb_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown verb 'destroy'"):
        Controller(for_=Pod, reconciler=_noop).permits(Pod, "destroy")


def test_a_namespaced_manager_with_leader_election_gets_roles() -> None:
    manager = Manager(
        None, namespace="team", leader_election=LeaderElectionConfig(name="op", namespace="ops")
    )
    manager.add(Controller(for_=ConfigMap, reconciler=_noop))
    docs = rbac_documents(manager, name="op", service_account_namespace="ops")
    kinds = [(d["kind"], d["metadata"].get("namespace")) for d in docs]
    assert kinds == [("ServiceAccount", "ops"), ("Role", "team"), ("RoleBinding", "team"),
                     ("Role", "ops"), ("RoleBinding", "ops")]  # fmt: skip
    assert docs[3]["rules"][0]["verbs"] == ["get", "create", "update"]


def test_a_target_that_is_not_an_operator_is_a_one_line_error() -> None:
    code, _, err = _cli(["rbac", "generate", "opframe.rbac:VERBS"])
    assert code == 1
    assert err.startswith("opframe: error: opframe.rbac:VERBS: ") and err.count("\n") == 1


async def test_the_generated_role_is_enough_and_no_more(api_server_http: ApiServer) -> None:
    """Applied to a server, the generated ClusterRole lets the ServiceAccount do what the
    controller declares, and refuses what it does not."""
    _, out, _ = _cli(ETCD_ARGS)
    await call(api_server_http, "POST", "/api/v1/namespaces",
               {"metadata": {"name": "etcd-operator-system"}})  # fmt: skip
    paths = {
        "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
        "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
        "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    }
    for doc in yaml.safe_load_all(out):
        ns = doc["metadata"].get("namespace", "")
        status, body = await call(api_server_http, "POST", paths[doc["kind"]].format(ns=ns), doc)
        assert status == 201, body
    sa = {"Impersonate-User": "system:serviceaccount:etcd-operator-system:etcd-operator"}

    async def can(verb: str, resource: str, group: str = "", sub: str = "") -> bool:
        attrs = {"namespace": "x", "verb": verb, "resource": resource, "group": group,
                 "subresource": sub}  # fmt: skip
        _, r = await call(api_server_http, "POST",
                          "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                          {"spec": {"resourceAttributes": attrs}}, headers=sa)  # fmt: skip
        return bool(r["status"]["allowed"])

    assert await can("watch", "etcdclusters", "etcd.opframe.dev")
    assert await can("patch", "etcdclusters", "etcd.opframe.dev", "status")
    assert await can("delete", "pods")
    assert not await can("delete", "services")
    assert not await can("update", "etcdclusters", "etcd.opframe.dev")
    # The backup controllers read storage credentials by name; spec.tls reads certificate
    # Secrets by name and writes them when generated. Secrets are never listed nor deleted.
    assert await can("get", "secrets")
    assert not await can("list", "secrets")
    assert not await can("delete", "secrets")
