"""RBAC on the embedded server: bindings, scopes, bootstrap policy, aggregation, modes.

Rules from plugin/pkg/auth/authorizer/rbac/rbac.go and pkg/registry/rbac/validation/rule.go
(a RoleBinding grants in its namespace only, a ClusterRoleBinding everywhere, the reason
names the binding), bootstrappolicy/policy.go (the default roles and bindings) and
pkg/controller/clusterroleaggregation (aggregated ClusterRoles follow their selectors).
"""

from __future__ import annotations

import pytest

from opframe.testing.apiserver import ApiServer
from tests.auth._http import call, grant, user

RBAC = "/apis/rbac.authorization.k8s.io/v1"


async def _ns(server: ApiServer, name: str) -> None:
    status, out = await call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status == 201, out


def _as(name: str, *groups: str) -> dict[str, str]:
    h = {"Impersonate-User": name}
    if groups:
        h["Impersonate-Group"] = groups[0]
    return h


async def test_role_binding_grants_in_its_namespace(api_server_http: ApiServer) -> None:
    await _ns(api_server_http, "rb-a")
    await _ns(api_server_http, "rb-b")
    await grant(api_server_http, "rb-a", "reader",
                [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
                user("ann"))  # fmt: skip
    ok, _ = await call(api_server_http, "GET", "/api/v1/namespaces/rb-a/configmaps",
                       headers=_as("ann"))  # fmt: skip
    other, body = await call(api_server_http, "GET", "/api/v1/namespaces/rb-b/configmaps",
                             headers=_as("ann"))  # fmt: skip
    assert (ok, other) == (200, 403)
    assert body["message"] == (
        'configmaps is forbidden: User "ann" cannot list resource "configmaps" in API group "" '
        'in the namespace "rb-b"'
    )
    assert body["details"] == {"kind": "configmaps"}


async def test_cluster_role_binding_to_a_group_grants_everywhere(
    api_server_http: ApiServer,
) -> None:
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    ops = {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"}
    await grant(api_server_http, None, "pod-lister", rules, ops)
    member, _ = await call(api_server_http, "GET", "/api/v1/pods", headers=_as("bo", "ops"))
    stranger, _ = await call(api_server_http, "GET", "/api/v1/pods", headers=_as("bo"))
    assert (member, stranger) == (200, 403)


async def test_binding_removal_takes_effect_at_once(api_server_http: ApiServer) -> None:
    await _ns(api_server_http, "rb-gone")
    await grant(
        api_server_http,
        "rb-gone",
        "r",
        [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
        user("cy"),
    )
    path = "/api/v1/namespaces/rb-gone/secrets"
    assert (await call(api_server_http, "GET", path, headers=_as("cy")))[0] == 200
    await call(api_server_http, "DELETE", f"{RBAC}/namespaces/rb-gone/rolebindings/r")
    assert (await call(api_server_http, "GET", path, headers=_as("cy")))[0] == 403


async def test_service_account_subject_matches_the_sa_user(api_server_http: ApiServer) -> None:
    await _ns(api_server_http, "rb-sa")
    await grant(api_server_http, "rb-sa", "r",
                [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}],
                {"kind": "ServiceAccount", "name": "bot"})  # fmt: skip
    status, _ = await call(api_server_http, "GET",
                           "/apis/apps/v1/namespaces/rb-sa/deployments/missing",
                           headers=_as("system:serviceaccount:rb-sa:bot"))  # fmt: skip
    assert status == 404  # authorized, then not found


@pytest.mark.parametrize(
    "name", ["cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user",
             "system:public-info-viewer", "system:node"],
)  # fmt: skip
async def test_bootstrap_cluster_roles_exist(api_server_http: ApiServer, name: str) -> None:
    status, out = await call(api_server_http, "GET", f"{RBAC}/clusterroles/{name}")
    assert status == 200
    assert out["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"


async def test_view_is_aggregated_from_labelled_roles(api_server_http: ApiServer) -> None:
    _, view = await call(api_server_http, "GET", f"{RBAC}/clusterroles/view")
    assert {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["namespaces"]} in (
        view["rules"]
    )
    extra_rule = {"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}
    role = {
        "metadata": {"name": "widget-view",
                     "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [extra_rule],
    }  # fmt: skip
    assert (await call(api_server_http, "POST", f"{RBAC}/clusterroles", role))[0] == 201
    for name in ("view", "edit", "admin"):  # edit aggregates view, admin aggregates edit
        _, agg = await call(api_server_http, "GET", f"{RBAC}/clusterroles/{name}")
        assert extra_rule in agg["rules"], name
    await call(api_server_http, "DELETE", f"{RBAC}/clusterroles/widget-view")
    _, view = await call(api_server_http, "GET", f"{RBAC}/clusterroles/view")
    assert extra_rule not in view["rules"]


async def test_edit_bound_in_a_namespace_allows_deployments(api_server_http: ApiServer) -> None:
    await _ns(api_server_http, "rb-edit")
    binding = {
        "metadata": {"name": "dev-edit"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "edit"},
        "subjects": [user("dev")],
    }  # fmt: skip
    status, out = await call(api_server_http, "POST",
                             f"{RBAC}/namespaces/rb-edit/rolebindings", binding)  # fmt: skip
    assert status == 201, out
    status, _ = await call(api_server_http, "GET", "/apis/apps/v1/namespaces/rb-edit/deployments",
                           headers=_as("dev"))  # fmt: skip
    denied, _ = await call(api_server_http, "GET",
                           f"{RBAC}/namespaces/rb-edit/roles", headers=_as("dev"))  # fmt: skip
    assert (status, denied) == (200, 403)


@pytest.mark.parametrize("api_server_authorization", ["AlwaysAllow"])
async def test_always_allow_mode_lets_anonymous_in(api_server_http: ApiServer) -> None:
    status, _ = await call(api_server_http, "GET", "/api/v1/namespaces", token=None)
    assert status == 200


async def test_unknown_authorization_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="authorization='ABAC'"):
        ApiServer(authorization="ABAC")


async def test_the_well_known_role_has_the_name_of_the_policy_it_comes_from(
    api_server_http: ApiServer,
) -> None:
    """Upstream plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go has no role for
    /.well-known; the transcripts' server carries OpenShift's patch of it, which adds
    system:openshift:public-info-viewer bound to everyone. No invented name is created."""
    status, role = await call(
        api_server_http, "GET", f"{RBAC}/clusterroles/system:openshift:public-info-viewer"
    )
    assert status == 200
    assert role["rules"] == [
        {"verbs": ["get"], "nonResourceURLs": ["/.well-known", "/.well-known/*"]}
    ]
    status, _ = await call(api_server_http, "GET", f"{RBAC}/clusterroles/system:well-known-viewer")
    assert status == 404
