"""The RBAC authorizer: rules of the Roles and ClusterRoles bound to a user.

    authz = RbacAuthorizer(store)
    decision = authz.authorize(attrs)
    decision.allowed, decision.reason  # True, 'RBAC: allowed by RoleBinding "b/ns" of ...'

Follows ``plugin/pkg/auth/authorizer/rbac/rbac.go`` (RuleAllows and its matchers) and
``pkg/registry/rbac/validation/rule.go`` (VisitRulesFor: ClusterRoleBindings first, then the
RoleBindings of the request's namespace; the describers that name the allowing binding).
Members of ``system:masters`` are allowed before RBAC is asked, with no reason, as the
kube-apiserver's privileged-group authorizer does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opframe.testing.apiserver.auth.user import MASTERS, Attributes, UserInfo
from opframe.testing.apiserver.registry.storage import Store

__all__ = [
    "Decision",
    "RbacAuthorizer",
    "applies_to",
    "rule_allows",
]

RBAC = "rbac.authorization.k8s.io"
ROLES = f"{RBAC}/roles"
CLUSTER_ROLES = f"{RBAC}/clusterroles"
ROLE_BINDINGS = f"{RBAC}/rolebindings"
CLUSTER_ROLE_BINDINGS = f"{RBAC}/clusterrolebindings"


@dataclass(frozen=True)
class Decision:
    """An authorizer's answer; ``reason`` says which binding allowed it."""

    allowed: bool
    reason: str = ""


def _has(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def _resource_matches(rule: dict[str, Any], combined: str, subresource: str) -> bool:
    for res in rule.get("resources") or []:
        if res in ("*", combined):
            return True
        if subresource and res == f"*/{subresource}":
            return True
    return False


def _url_matches(rule: dict[str, Any], path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: dict[str, Any]) -> bool:
    """Whether one PolicyRule grants ``attrs``."""
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return _url_matches(rule, attrs.path)
    combined = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    names = rule.get("resourceNames") or []
    return (
        _has(rule.get("apiGroups"), attrs.api_group)
        and _resource_matches(rule, combined, attrs.subresource)
        and (not names or attrs.name in names)
    )


def applies_to(user: UserInfo, subject: dict[str, Any], binding_namespace: str) -> bool:
    """Whether a binding's subject names ``user`` (rbac.go appliesToUser)."""
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_namespace
        return bool(ns) and user.name == f"system:serviceaccount:{ns}:{name}"
    return False


def _describe_subject(subject: dict[str, Any], binding_namespace: str) -> str:
    name = str(subject.get("name", ""))
    if subject.get("kind") == "ServiceAccount":
        name = f"{name}/{subject.get('namespace') or binding_namespace}"
    return f'{subject.get("kind")} "{name}"'


class RbacAuthorizer:
    """Decides from the RBAC objects in ``store``, read at every request (no cache)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def role_rules(self, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]] | None:
        """The rules of the role a roleRef names (``None`` if it does not exist)."""
        if ref.get("kind") == "ClusterRole":
            so = self.store.get(CLUSTER_ROLES, "", str(ref.get("name", "")))
        elif ref.get("kind") == "Role" and namespace:
            so = self.store.get(ROLES, namespace, str(ref.get("name", "")))
        else:
            return None
        if so is None:
            return None
        return [r for r in so.obj.get("rules") or [] if isinstance(r, dict)]

    def visit(self, user: UserInfo, namespace: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every rule granted to ``user`` in ``namespace`` (``""``: cluster-wide ones only),
        with the description of the binding that grants it."""
        for so in self.store.iter_sorted(CLUSTER_ROLE_BINDINGS, ""):
            yield from self._binding_rules(user, so.obj, "")
        if namespace:
            for so in self.store.iter_sorted(ROLE_BINDINGS, namespace):
                yield from self._binding_rules(user, so.obj, namespace)

    def _binding_rules(
        self, user: UserInfo, binding: dict[str, Any], namespace: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        for subject in binding.get("subjects") or []:
            if not isinstance(subject, dict) or not applies_to(user, subject, namespace):
                continue
            ref = binding.get("roleRef") or {}
            rules = self.role_rules(ref, namespace)
            if rules is None:
                return
            name = binding["metadata"]["name"]
            what = "RoleBinding" if namespace else "ClusterRoleBinding"
            shown = f"{name}/{namespace}" if namespace else name
            source = (
                f'{what} "{shown}" of {ref.get("kind")} "{ref.get("name")}" to '
                f"{_describe_subject(subject, namespace)}"
            )
            for rule in rules:
                yield source, rule
            return

    def rules_for(self, user: UserInfo, namespace: str) -> list[dict[str, Any]]:
        """The rules ``user`` holds in ``namespace`` (RulesFor)."""
        return [rule for _, rule in self.visit(user, namespace)]

    def authorize(self, attrs: Attributes) -> Decision:
        """Allow when some bound rule allows; ``system:masters`` is always allowed."""
        if MASTERS in attrs.user.groups:
            return Decision(True)
        for source, rule in self.visit(attrs.user, attrs.namespace):
            if rule_allows(attrs, rule):
                return Decision(True, f"RBAC: allowed by {source}")
        return Decision(False)
