"""Impersonation headers and their own authorization checks.

Rules from staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go: each header is
authorized as verb impersonate (users, groups, uids, userextras in authentication.k8s.io;
serviceaccounts in the core group, by namespace and name); groups without a user are a 400;
a ServiceAccount without groups gets its ServiceAccount groups; system:authenticated is added.
"""

from __future__ import annotations

from opframe.testing.apiserver import ApiServer
from tests.auth._http import call, create_sa, grant, sa_token, user, whoami


async def _impersonator(server: ApiServer, rules: list[dict[str, object]]) -> str:
    """A ServiceAccount token whose ClusterRole holds ``rules``."""
    sa = await create_sa(server, "imp", "proxy")
    assert sa
    await grant(server, None, "imp", rules, {"kind": "ServiceAccount", "name": "proxy",
                                              "namespace": "imp"})  # fmt: skip
    return await sa_token(server, "imp", "proxy")


async def test_impersonating_without_the_verb_is_forbidden(api_server_http: ApiServer) -> None:
    await create_sa(api_server_http, "imp0", "plain")
    token = await sa_token(api_server_http, "imp0", "plain")
    status, out = await whoami(api_server_http, token=token, headers={"Impersonate-User": "x"})
    assert status == 403
    assert out["message"] == (
        'users "x" is forbidden: User "system:serviceaccount:imp0:plain" '
        'cannot impersonate resource "users" in API group "" at the cluster scope'
    )


async def test_impersonate_on_named_users_only(api_server_http: ApiServer) -> None:
    token = await _impersonator(api_server_http, [
        {"apiGroups": [""], "resources": ["users"],
         "verbs": ["impersonate"], "resourceNames": ["carl"]},
    ])  # fmt: skip
    ok, out = await whoami(api_server_http, token=token, headers={"Impersonate-User": "carl"})
    denied, _ = await whoami(api_server_http, token=token, headers={"Impersonate-User": "dan"})
    assert (ok, denied) == (201, 403)
    assert out["status"]["userInfo"] == {"username": "carl", "groups": ["system:authenticated"]}


async def test_each_impersonated_group_is_checked(api_server_http: ApiServer) -> None:
    token = await _impersonator(api_server_http, [
        {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]},
    ])  # fmt: skip
    status, out = await whoami(
        api_server_http, token=token, headers={"Impersonate-User": "e", "Impersonate-Group": "g"}
    )
    assert status == 403
    assert 'cannot impersonate resource "groups"' in out["message"]


async def test_groups_without_a_user_are_a_bad_request(api_server_http: ApiServer) -> None:
    status, out = await whoami(api_server_http, headers={"Impersonate-Group": "g"})
    assert (status, out["reason"]) == (400, "BadRequest")


async def test_impersonating_a_service_account_needs_the_serviceaccounts_rule(
    api_server_http: ApiServer,
) -> None:
    token = await _impersonator(api_server_http, [
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
    ])  # fmt: skip
    status, out = await whoami(
        api_server_http, token=token,
        headers={"Impersonate-User": "system:serviceaccount:other:bot"},
    )  # fmt: skip
    assert status == 201
    assert out["status"]["userInfo"]["groups"] == [
        "system:serviceaccounts", "system:serviceaccounts:other", "system:authenticated",
    ]  # fmt: skip


async def test_impersonated_extra_and_uid(api_server_http: ApiServer) -> None:
    status, out = await whoami(
        api_server_http,
        headers={"Impersonate-User": "f", "Impersonate-Uid": "u-1",
                 "Impersonate-Extra-Scopes": "view"},
    )  # fmt: skip
    assert status == 201
    assert out["status"]["userInfo"] == {
        "username": "f", "uid": "u-1", "groups": ["system:authenticated"],
        "extra": {"scopes": ["view"]},
    }  # fmt: skip


async def test_the_impersonated_user_is_authorized(api_server_http: ApiServer) -> None:
    await call(api_server_http, "POST", "/api/v1/namespaces", {"metadata": {"name": "imp2"}})
    await grant(api_server_http, "imp2", "r",
                [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
                user("gil"))  # fmt: skip
    path = "/api/v1/namespaces/imp2/configmaps"
    ok, _ = await call(api_server_http, "GET", path, headers={"Impersonate-User": "gil"})
    denied, _ = await call(api_server_http, "GET", path, headers={"Impersonate-User": "hal"})
    assert (ok, denied) == (200, 403)
