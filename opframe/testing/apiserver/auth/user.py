"""Who is asking, and what they ask: the attributes every authorizer decision is made on.

    user = UserInfo("alice", groups=("dev", "system:authenticated"))
    attrs = request_attributes(user, "GET", "/api/v1/namespaces/ns/pods", {})
    attrs.verb, attrs.resource, attrs.namespace  # "list", "pods", "ns"

The attributes are derived from the path and the method alone, as
``staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`` does, so a request for a
resource the server does not serve is still authorized (and then answered 404).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "ANONYMOUS",
    "AUTHENTICATED",
    "MASTERS",
    "UNAUTHENTICATED",
    "Attributes",
    "UserInfo",
    "request_attributes",
    "service_account_user",
]

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated identity (``user.Info``): name, uid, groups and extra values."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """The ``UserInfo`` object of the authentication API (empty fields left out)."""
        fields: dict[str, object] = {
            "username": self.name,
            "uid": self.uid,
            "groups": list(self.groups),
            "extra": {k: list(v) for k, v in self.extra.items()},
        }
        return {k: v for k, v in fields.items() if v}  # omitempty


def service_account_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    """The user a ServiceAccount token authenticates as (without ``system:authenticated``)."""
    return UserInfo(
        f"{SA_PREFIX}{namespace}:{name}",
        uid,
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"),
    )


def split_service_account(username: str) -> tuple[str, str] | None:
    """``(namespace, name)`` of a ServiceAccount user name, or ``None``."""
    if not username.startswith(SA_PREFIX):
        return None
    ns, sep, name = username[len(SA_PREFIX) :].partition(":")
    if not sep or not ns or not name or ":" in name:
        return None
    return ns, name


@dataclass(frozen=True)
class Attributes:
    """What a request asks for (``authorizer.Attributes``)."""

    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


_SPECIAL_VERBS = frozenset({"proxy", "watch"})
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def request_attributes(
    user: UserInfo, method: str, path: str, query: Mapping[str, str]
) -> Attributes:
    """The attributes of ``method path?query`` asked by ``user``."""
    parts = [p for p in path.strip("/").split("/") if p]
    nonresource = Attributes(user, _METHOD_VERBS.get(method, method.lower()), False, path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return nonresource
    prefix, rest = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(rest) < 3:
            return nonresource
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    if rest[0] in _SPECIAL_VERBS:
        if len(rest) < 2:
            return nonresource
        verb, rest = rest[0], rest[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if rest[0] == "namespaces":
        if len(rest) > 1:
            namespace = rest[1]
            if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
                rest = rest[2:]
    resource = rest[0] if rest else ""
    name = rest[1] if len(rest) >= 2 else ""
    sub = rest[2] if len(rest) >= 3 and verb != "proxy" else ""
    if not name and verb == "get":
        verb = "watch" if _truthy(query.get("watch")) else "list"
        selector = query.get("fieldSelector") or ""
        for term in selector.split(","):
            key, op, value = term.partition("=")
            if key.strip() == "metadata.name" and op and value and "," not in value:
                value = value.lstrip("=").strip()
                if value and "/" not in value and value not in (".", ".."):
                    name = value
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user, verb, True, path, group, version, resource, sub, namespace, name)
