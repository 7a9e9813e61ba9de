"""`opframe rbac generate` for a manager that follows its CRDs.

Rule (opframe.rbac): ``Manager(follow_crds=True)`` watches every CustomResourceDefinition, so
its RBAC gets get/list/watch on ``customresourcedefinitions`` (apiextensions.k8s.io). CRDs are
cluster-scoped (``NamespaceScoped`` is false in
``staging/src/k8s.io/apiextensions-apiserver/pkg/registry/customresourcedefinition/
strategy.go``) and a RoleBinding only grants requests in its own namespace
(``plugin/pkg/auth/authorizer/rbac/rbac.go``, ``VisitRulesFor``), so a namespaced manager gets
a ClusterRole ``<name>-crds`` of its own. The result is checked against the embedded server's
RBAC authorizer with SelfSubjectAccessReviews.
"""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from opframe import ConfigMap, Controller, Manager
from opframe.cli import main
from opframe.rbac import rbac_documents
from opframe.testing.apiserver import ApiServer
from tests.auth._http import call

CRDS = {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
        "verbs": ["get", "list", "watch"]}  # fmt: skip
PATHS = {
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}


async def _noop(ctx: Any, obj: Any) -> None:
    return None


def _manager(**kw: Any) -> Manager:
    manager = Manager(None, **kw)
    manager.add(Controller(for_=ConfigMap, reconciler=_noop))
    return manager


def test_a_cluster_wide_manager_that_follows_crds_reads_them() -> None:
    docs = rbac_documents(_manager(follow_crds=True), name="op", service_account_namespace="ops")
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    assert CRDS in role["rules"]
    assert [d["kind"] for d in docs] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]


def test_a_manager_that_does_not_follow_crds_gets_no_crd_access() -> None:
    for kw in ({}, {"namespace": "team"}):
        docs = rbac_documents(_manager(**kw), name="op", service_account_namespace="ops")
        rules = [r for d in docs for r in d.get("rules", [])]
        assert all("customresourcedefinitions" not in r["resources"] for r in rules), kw


def test_a_namespaced_manager_gets_a_cluster_role_for_crds() -> None:
    docs = rbac_documents(
        _manager(follow_crds=True, namespace="team"), name="op", service_account_namespace="ops"
    )
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert kinds == [("ServiceAccount", "op"), ("Role", "op"), ("RoleBinding", "op"),
                     ("ClusterRole", "op-crds"), ("ClusterRoleBinding", "op-crds")]  # fmt: skip
    assert docs[3]["rules"] == [CRDS]
    assert all("customresourcedefinitions" not in r["resources"] for r in docs[1]["rules"])
    assert docs[4]["subjects"] == [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]


async def test_the_generated_rbac_lets_a_namespaced_manager_watch_crds(
    api_server_http: ApiServer,
) -> None:
    """Applied to the server, the namespaced manager's ServiceAccount may list and watch CRDs
    (cluster-wide), and may still not write them."""
    docs = rbac_documents(
        _manager(follow_crds=True, namespace="team"), name="op", service_account_namespace="ops"
    )
    for ns in ("ops", "team"):
        status, body = await call(api_server_http, "POST", "/api/v1/namespaces",
                                  {"metadata": {"name": ns}})  # fmt: skip
        assert status == 201, body
    for doc in docs:
        ns = doc["metadata"].get("namespace", "")
        status, body = await call(api_server_http, "POST", PATHS[doc["kind"]].format(ns=ns), doc)
        assert status == 201, body
    sa = {"Impersonate-User": "system:serviceaccount:ops:op"}

    async def can(verb: str) -> bool:
        attrs = {"verb": verb, "resource": "customresourcedefinitions",
                 "group": "apiextensions.k8s.io"}  # fmt: skip
        _, r = await call(api_server_http, "POST",
                          "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                          {"spec": {"resourceAttributes": attrs}}, headers=sa)  # fmt: skip
        return bool(r["status"]["allowed"])

    assert await can("list") and await can("watch") and await can("get")
    assert not await can("create") and not await can("delete")


def test_the_cli_writes_the_crd_rule_for_a_following_manager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``opframe rbac generate module:manager`` on a ``Manager(follow_crds=True)``."""
    (tmp_path / "following_op.py").write_text(
        "from opframe import ConfigMap, Controller, Manager\n"
        "async def _noop(ctx, obj): return None\n"
        "manager = Manager(None, follow_crds=True)\n"
        "manager.add(Controller(for_=ConfigMap, reconciler=_noop))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "following_op", raising=False)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["rbac", "generate", "following_op:manager", "--name", "op", "-n", "ops"])
    assert code == 0, err.getvalue()
    role = next(d for d in yaml.safe_load_all(out.getvalue()) if d["kind"] == "ClusterRole")
    assert CRDS in role["rules"]
