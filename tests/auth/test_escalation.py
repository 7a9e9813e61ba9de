"""Escalation prevention on Roles, ClusterRoles and bindings.

Rules from pkg/registry/rbac/validation/rule.go (Covers, BreakdownRule, ruleCovers,
ConfirmNoEscalation and its message), validation/policy_compact.go (one line per compacted
rule), pkg/registry/rbac/escalation_check.go (escalate, bind, system:masters) and
pkg/registry/rbac/clusterrole/policybased/storage.go (aggregationRule needs everything).
"""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver import ApiServer
from opframe.testing.apiserver.auth.escalation import compact_string, covers
from tests.auth._http import call, grant, user

RBAC = "/apis/rbac.authorization.k8s.io/v1"


def r(verbs: list[str], resources: list[str], groups: list[str] | None = None,
      **kw: Any) -> dict[str, Any]:  # fmt: skip
    return {"verbs": verbs, "apiGroups": groups if groups is not None else [""],
            "resources": resources, **kw}  # fmt: skip


def test_wildcards_cover_everything() -> None:
    assert covers([r(["*"], ["*"], ["*"])], [r(["get"], ["pods/log"], ["x"])])[0]


def test_star_slash_subresource_covers_that_subresource() -> None:
    owner = [r(["get"], ["*/status"], ["apps"])]
    assert covers(owner, [r(["get"], ["deployments/status"], ["apps"])])[0]
    assert not covers(owner, [r(["get"], ["deployments"], ["apps"])])[0]


def test_named_rule_does_not_cover_an_unnamed_one() -> None:
    owner = [r(["get"], ["configmaps"], resourceNames=["a"])]
    assert not covers(owner, [r(["get"], ["configmaps"])])[0]
    assert covers(owner, [r(["get"], ["configmaps"], resourceNames=["a"])])[0]


def test_uncovered_rules_are_broken_down() -> None:
    ok, missing = covers([r(["get"], ["pods"])], [r(["get", "list"], ["pods", "secrets"])])
    assert not ok
    assert [compact_string(m) for m in missing] == [
        '{APIGroups:[""], Resources:["pods"], Verbs:["list"]}',
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}',
        '{APIGroups:[""], Resources:["secrets"], Verbs:["list"]}',
    ]


def test_non_resource_urls_with_a_star_cover_their_prefix() -> None:
    owner = [{"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}]
    assert covers(owner, [{"verbs": ["get"], "nonResourceURLs": ["/apis/apps"]}])[0]
    assert not covers(owner, [{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}])[0]


async def _manager(server: ApiServer, ns: str, extra: list[dict[str, Any]]) -> None:
    await call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    rules = [
        r(["create", "get", "list", "update"], ["roles", "rolebindings"],
          ["rbac.authorization.k8s.io"]),
        r(["get"], ["configmaps"]),
        *extra,
    ]  # fmt: skip
    await grant(server, ns, "mgr", rules, user("mo"))


AS_MO = {"Impersonate-User": "mo"}


async def test_creating_a_role_beyond_ones_rights_is_forbidden(
    api_server_http: ApiServer,
) -> None:
    await _manager(api_server_http, "esc1", [])
    role = {"metadata": {"name": "big"}, "rules": [r(["get", "delete"], ["configmaps"])]}
    status, out = await call(api_server_http, "POST", f"{RBAC}/namespaces/esc1/roles", role,
                             headers=AS_MO)  # fmt: skip
    assert status == 403
    assert out["message"] == (
        'roles.rbac.authorization.k8s.io "big" is forbidden: user "mo" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not '
        'currently held:\n{APIGroups:[""], Resources:["configmaps"], Verbs:["delete"]}'
    )
    assert out["details"] == {"name": "big", "group": "rbac.authorization.k8s.io",
                              "kind": "roles"}  # fmt: skip


async def test_a_subset_role_may_be_created(api_server_http: ApiServer) -> None:
    await _manager(api_server_http, "esc2", [])
    role = {"metadata": {"name": "small"}, "rules": [r(["get"], ["configmaps"])]}
    status, _ = await call(api_server_http, "POST", f"{RBAC}/namespaces/esc2/roles", role,
                           headers=AS_MO)  # fmt: skip
    assert status == 201


async def test_escalate_allows_any_rules(api_server_http: ApiServer) -> None:
    await _manager(
        api_server_http, "esc3", [r(["escalate"], ["roles"], ["rbac.authorization.k8s.io"])]
    )
    role = {"metadata": {"name": "big"}, "rules": [r(["*"], ["*"], ["*"])]}
    status, _ = await call(api_server_http, "POST", f"{RBAC}/namespaces/esc3/roles", role,
                           headers=AS_MO)  # fmt: skip
    assert status == 201


async def test_updating_a_role_unchanged_needs_no_rights(api_server_http: ApiServer) -> None:
    await _manager(api_server_http, "esc4", [])
    base = f"{RBAC}/namespaces/esc4/roles"
    role = {"metadata": {"name": "big"}, "rules": [r(["delete"], ["secrets"])]}
    assert (await call(api_server_http, "POST", base, role))[0] == 201
    patch = {"metadata": {"labels": {"a": "b"}}}
    status, _ = await call(api_server_http, "PATCH", f"{base}/big", patch, headers={
        **AS_MO, "Content-Type": "application/merge-patch+json"})  # fmt: skip
    assert status == 403  # no patch verb: an ordinary 403 first
    _, cur = await call(api_server_http, "GET", f"{base}/big")
    cur["metadata"]["labels"] = {"a": "b"}
    status, _ = await call(api_server_http, "PUT", f"{base}/big", cur, headers=AS_MO)
    assert status == 200


async def test_binding_a_role_needs_its_rights_or_bind(api_server_http: ApiServer) -> None:
    await _manager(api_server_http, "esc5",
                   [r(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"],
                      resourceNames=["view"])])  # fmt: skip
    base = f"{RBAC}/namespaces/esc5/rolebindings"

    def binding(name: str, role: str) -> dict[str, Any]:
        return {"metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": role},
                "subjects": [user("zed")]}  # fmt: skip

    ok, _ = await call(api_server_http, "POST", base, binding("v", "view"), headers=AS_MO)
    denied, out = await call(api_server_http, "POST", base, binding("e", "edit"), headers=AS_MO)
    assert (ok, denied) == (201, 403)
    assert "is attempting to grant RBAC permissions not currently held" in out["message"]


async def test_binding_a_missing_role_is_404(api_server_http: ApiServer) -> None:
    await _manager(api_server_http, "esc6", [])
    b = {"metadata": {"name": "g"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ghost"},
         "subjects": [user("zed")]}  # fmt: skip
    status, _ = await call(api_server_http, "POST", f"{RBAC}/namespaces/esc6/rolebindings", b,
                           headers=AS_MO)  # fmt: skip
    assert status == 404


async def test_aggregation_rule_needs_cluster_admin(api_server_http: ApiServer) -> None:
    role = {
        "metadata": {"name": "imp-cr"},
        "rules": [r(["create"], ["clusterroles"], ["rbac.authorization.k8s.io"])],
    }
    bind = {"metadata": {"name": "imp-cr"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "imp-cr"},
            "subjects": [user("agg")]}  # fmt: skip
    assert (await call(api_server_http, "POST", f"{RBAC}/clusterroles", role))[0] == 201
    assert (await call(api_server_http, "POST", f"{RBAC}/clusterrolebindings", bind))[0] == 201
    agg = {
        "metadata": {"name": "mine"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]},
    }
    status, out = await call(api_server_http, "POST", f"{RBAC}/clusterroles", agg,
                             headers={"Impersonate-User": "agg"})  # fmt: skip
    assert status == 403
    assert out["message"].endswith("must have cluster-admin privileges to use the aggregationRule")
