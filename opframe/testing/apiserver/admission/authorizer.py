"""The ``authorizer`` CEL variable of admission expressions, answered by the server's RBAC.

Shared by ValidatingAdmissionPolicy (``policy.py``) and webhook ``matchConditions``
(``webhooks.py``), as kube-apiserver binds one authorizer library to both
(``staging/src/k8s.io/apiserver/pkg/cel/library/authz.go``;
``admission/plugin/webhook/matchconditions/matcher.go`` and the policy validator pass the
request's user and the server's authorizer to it):

``authorizer.group(g).resource(r).subresource(s).namespace(n).name(x).check(verb)`` builds a
resource request for the requesting user (``authorizer.serviceAccount(ns, name)`` for a
service account instead) and answers a decision with ``allowed()``, ``reason()``,
``errored()`` and ``error()``; ``authorizer.requestResource`` starts from the resource the
admission request is for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celpy import celtypes

from opframe.testing.apiserver.auth.user import Attributes, UserInfo, service_account_user
from opframe.testing.apiserver.schema import cel as _cel

__all__ = ["FUNCTIONS", "Authorize", "authorizer_value"]

Authorize = Callable[[Attributes], bool]


class _Authz(celtypes.MapType):
    """A request being built: the user, and the attributes named so far."""

    def __init__(
        self, check: Authorize, user: UserInfo, parts: dict[str, str], fields: Any = None
    ) -> None:
        super().__init__(fields or {})
        self.check_fn = check
        self.user = user
        self.parts = parts

    def with_part(self, **kw: str) -> _Authz:
        return _Authz(self.check_fn, self.user, {**self.parts, **kw})


def authorizer_value(
    authorize: Authorize, user: UserInfo, request_resource: dict[str, str] | None = None
) -> Any:
    """The ``authorizer`` variable for ``user``; ``request_resource`` (group, resource,
    subresource, namespace, name of the admission request) backs ``authorizer.requestResource``."""
    fields = {}
    if request_resource is not None:
        fields[celtypes.StringType("requestResource")] = _Authz(
            authorize, user, dict(request_resource)
        )
    return _Authz(authorize, user, {}, fields)


def _group(a: Any, g: Any) -> Any:
    return a.with_part(group=str(g))


def _resource(a: Any, r: Any) -> Any:
    return a.with_part(resource=str(r))


def _subresource(a: Any, r: Any) -> Any:
    return a.with_part(subresource=str(r))


def _namespace(a: Any, n: Any) -> Any:
    return a.with_part(namespace=str(n))


def _name(a: Any, n: Any) -> Any:
    return a.with_part(name=str(n))


def _service_account(a: Any, ns: Any, name: Any) -> Any:
    return _Authz(a.check_fn, service_account_user(str(ns), str(name)), dict(a.parts))


def _check(a: Any, verb: Any) -> Any:
    p = a.parts
    attrs = Attributes(
        user=a.user,
        verb=str(verb),
        resource_request=True,
        api_group=p.get("group", ""),
        resource=p.get("resource", ""),
        subresource=p.get("subresource", ""),
        namespace=p.get("namespace", ""),
        name=p.get("name", ""),
    )
    allowed = bool(a.check_fn(attrs))
    return celtypes.MapType(
        {
            celtypes.StringType("allowed"): celtypes.BoolType(allowed),
            celtypes.StringType("reason"): celtypes.StringType(""),
        }
    )


def _allowed(d: Any) -> Any:
    return d[celtypes.StringType("allowed")]


def _reason(d: Any) -> Any:
    return d[celtypes.StringType("reason")]


def _errored(d: Any) -> Any:
    return celtypes.BoolType(False)  # the in-process authorizer does not fail


def _error(d: Any) -> Any:
    return celtypes.StringType("")


#: The Kubernetes CEL functions (``schema/cel.py``) plus the authorizer's.
FUNCTIONS: dict[str, Any] = {
    **_cel._FUNCTIONS,
    "group": _group,
    "resource": _resource,
    "subresource": _subresource,
    "namespace": _namespace,
    "name": _name,
    "serviceAccount": _service_account,
    "check": _check,
    "allowed": _allowed,
    "reason": _reason,
    "errored": _errored,
    "error": _error,
}
