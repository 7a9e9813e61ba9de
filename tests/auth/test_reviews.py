"""The access review APIs.

Rules from pkg/registry/authorization/selfsubjectaccessreview, subjectaccessreview,
localsubjectaccessreview and selfsubjectrulesreview (rest.go of each): the review's
attributes are authorized for the requester or the spec's user; reasons name the binding.
"""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver import ApiServer
from tests.auth._http import call, grant, user

AUTHZ = "/apis/authorization.k8s.io/v1"


async def _setup(server: ApiServer) -> None:
    await call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": "rev"}})
    await grant(server, "rev", "r",
                [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"],
                  "resourceNames": ["p1"]}], user("ivy"))  # fmt: skip


def _ssar(attrs: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "spec": {"resourceAttributes": attrs}}  # fmt: skip


async def test_self_review_honours_resource_names(api_server_http: ApiServer) -> None:
    await _setup(api_server_http)
    h = {"Impersonate-User": "ivy"}
    path = f"{AUTHZ}/selfsubjectaccessreviews"
    attrs = {"namespace": "rev", "verb": "get", "resource": "pods"}
    _, named = await call(api_server_http, "POST", path, _ssar({**attrs, "name": "p1"}),
                          headers=h)  # fmt: skip
    _, other = await call(api_server_http, "POST", path, _ssar({**attrs, "name": "p2"}),
                          headers=h)  # fmt: skip
    assert named["status"] == {
        "allowed": True,
        "reason": 'RBAC: allowed by RoleBinding "r/rev" of Role "r" to User "ivy"',
    }
    assert other["status"] == {"allowed": False}


async def test_rules_review_lists_the_role_rules(api_server_http: ApiServer) -> None:
    await _setup(api_server_http)
    body = {"kind": "SelfSubjectRulesReview", "spec": {"namespace": "rev"}}
    status, out = await call(api_server_http, "POST", f"{AUTHZ}/selfsubjectrulesreviews", body,
                             headers={"Impersonate-User": "ivy"})  # fmt: skip
    assert status == 201
    assert {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"],
            "resourceNames": ["p1"]} in out["status"]["resourceRules"]  # fmt: skip


async def test_subject_access_review_by_group(api_server_http: ApiServer) -> None:
    body = {
        "spec": {
            "groups": ["system:masters"],
            "nonResourceAttributes": {"path": "/metrics", "verb": "get"},
        }
    }
    status, out = await call(api_server_http, "POST", f"{AUTHZ}/subjectaccessreviews", body)
    assert (status, out["status"]["allowed"]) == (201, True)


async def test_review_with_both_attribute_kinds_is_invalid(api_server_http: ApiServer) -> None:
    body = {
        "spec": {
            "resourceAttributes": {"verb": "get"},
            "nonResourceAttributes": {"path": "/x", "verb": "get"},
        }
    }
    status, _ = await call(api_server_http, "POST", f"{AUTHZ}/selfsubjectaccessreviews", body)
    assert status == 422


async def test_local_review_namespace_must_match(api_server_http: ApiServer) -> None:
    body = {"spec": {"user": "x", "resourceAttributes": {"namespace": "b", "verb": "get"}}}
    status, out = await call(
        api_server_http, "POST", f"{AUTHZ}/namespaces/a/localsubjectaccessreviews", body
    )
    assert (status, out["reason"]) == (400, "BadRequest")


async def test_a_user_without_basic_user_may_not_review(api_server_http: ApiServer) -> None:
    """system:basic-user is bound to system:authenticated; anonymous has no review rights."""
    status, _ = await call(
        api_server_http,
        "POST",
        f"{AUTHZ}/selfsubjectaccessreviews",
        _ssar({"verb": "get", "resource": "pods"}),
        token=None,
    )
    assert status == 403
