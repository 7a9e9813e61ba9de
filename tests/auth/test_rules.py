"""RBAC rule matching and request attributes, rule by rule.

Rules from plugin/pkg/auth/authorizer/rbac/rbac.go (RuleAllows: verbs, apiGroups, resources
with subresources and */subresource, resourceNames, nonResourceURLs with a trailing *) and
staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go (how a path and method
become verb, group, resource, subresource, namespace and name).
"""

from __future__ import annotations

from typing import Any

import pytest

from opframe.testing.apiserver.auth.rbac import rule_allows
from opframe.testing.apiserver.auth.user import Attributes, UserInfo, request_attributes

U = UserInfo("u", groups=("system:authenticated",))


def res(verb: str, resource: str, group: str = "", sub: str = "", name: str = "") -> Attributes:
    return Attributes(U, verb, True, "", group, "v1", resource, sub, "ns", name)


def rule(**kw: Any) -> dict[str, Any]:
    return {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], **kw}


@pytest.mark.parametrize(
    ("attrs", "r", "allowed"),
    [
        (res("get", "pods"), rule(), True),
        (res("list", "pods"), rule(), False),
        (res("list", "pods"), rule(verbs=["*"]), True),
        (res("get", "deployments", "apps"), rule(), False),
        (res("get", "deployments", "apps"), rule(apiGroups=["*"], resources=["*"]), True),
        (res("get", "pods", sub="log"), rule(), False),
        (res("get", "pods", sub="log"), rule(resources=["pods/log"]), True),
        (res("get", "pods"), rule(resources=["pods/log"]), False),
        (res("get", "deployments", "apps", "status"), rule(apiGroups=["apps"],
                                                           resources=["*/status"]), True),
        (res("get", "deployments", "apps", "scale"), rule(apiGroups=["apps"],
                                                          resources=["*/status"]), False),
        (res("get", "pods", sub="status"), rule(resources=["*"]), True),
        (res("get", "pods", name="a"), rule(resourceNames=["a"]), True),
        (res("get", "pods", name="b"), rule(resourceNames=["a"]), False),
        (res("list", "pods"), rule(verbs=["list"], resourceNames=["a"]), False),
    ],
)  # fmt: skip
def test_resource_rule_matching(attrs: Attributes, r: dict[str, Any], allowed: bool) -> None:
    assert rule_allows(attrs, r) is allowed


@pytest.mark.parametrize(
    ("path", "urls", "allowed"),
    [
        ("/healthz", ["/healthz"], True),
        ("/healthz/etcd", ["/healthz"], False),
        ("/healthz/etcd", ["/healthz/*"], True),
        ("/apis/apps/v1", ["/apis/*"], True),
        ("/metrics", ["*"], True),
        ("/metrics", ["/apis/*"], False),
    ],
)
def test_non_resource_url_matching(path: str, urls: list[str], allowed: bool) -> None:
    attrs = Attributes(U, "get", False, path)
    assert rule_allows(attrs, {"verbs": ["get"], "nonResourceURLs": urls}) is allowed


def test_a_resource_rule_grants_no_path() -> None:
    assert not rule_allows(Attributes(U, "get", False, "/api"), rule(resources=["*"]))


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/ns/pods", {}, ("list", "", "pods", "", "ns", "")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"},
         ("watch", "", "pods", "", "ns", "")),
        ("GET", "/api/v1/watch/namespaces/ns/pods", {}, ("watch", "", "pods", "", "ns", "")),
        ("GET", "/api/v1/pods", {}, ("list", "", "pods", "", "", "")),
        ("GET", "/api/v1/namespaces/ns/pods/p/log", {}, ("get", "", "pods", "log", "ns", "p")),
        ("POST", "/api/v1/namespaces/ns/pods/p/exec", {},
         ("create", "", "pods", "exec", "ns", "p")),
        ("DELETE", "/apis/apps/v1/namespaces/ns/deployments", {},
         ("deletecollection", "apps", "deployments", "", "ns", "")),
        ("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale", {},
         ("patch", "apps", "deployments", "scale", "ns", "d")),
        ("GET", "/api/v1/namespaces/ns", {}, ("get", "", "namespaces", "", "ns", "ns")),
        ("PUT", "/api/v1/namespaces/ns/finalize", {},
         ("update", "", "namespaces", "finalize", "ns", "ns")),
        ("GET", "/api/v1/namespaces/ns/pods", {"fieldSelector": "metadata.name=p"},
         ("list", "", "pods", "", "ns", "p")),
    ],
)  # fmt: skip
def test_request_attributes(
    method: str, path: str, query: dict[str, str], expected: tuple[str, ...]
) -> None:
    a = request_attributes(U, method, path, query)
    assert a.resource_request
    assert (a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name) == expected


@pytest.mark.parametrize("path", ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1",
                                  "/healthz", "/openapi/v3"])  # fmt: skip
def test_short_paths_are_non_resource_requests(path: str) -> None:
    a = request_attributes(U, "GET", path, {})
    assert (a.resource_request, a.verb, a.path) == (False, "get", path)
