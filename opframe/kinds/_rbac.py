"""RBAC kinds (``rbac.authorization.k8s.io/v1``): Role, ClusterRole and their bindings,
re-exported by :mod:`opframe.kinds`::

    role = Role(
        metadata=ObjectMeta(name="reader", namespace="default"),
        rules=[PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "list"])],
    )
    binding = RoleBinding(
        metadata=ObjectMeta(name="reader", namespace="default"),
        role_ref=RoleRef(kind="Role", name="reader"),
        subjects=[Subject(kind="ServiceAccount", name="app", namespace="default")],
    )
"""

from __future__ import annotations

from opframe.kinds._core import LabelSelector, _TypedName
from opframe.resource import KubeModel, Resource

__all__ = [
    "AggregationRule",
    "ClusterRole",
    "ClusterRoleBinding",
    "PolicyRule",
    "Role",
    "RoleBinding",
    "RoleRef",
    "Subject",
]

_RBAC = "rbac.authorization.k8s.io"


class PolicyRule(KubeModel):
    """Verbs allowed on resources (of API groups, optionally by name) or on non-resource URLs."""

    verbs: list[str]
    api_groups: list[str] | None = None
    resources: list[str] | None = None
    resource_names: list[str] | None = None
    non_resource_urls: list[str] | None = None


class AggregationRule(KubeModel):
    """A ClusterRole whose rules are those of the ClusterRoles matching these selectors."""

    cluster_role_selectors: list[LabelSelector] | None = None


class Subject(_TypedName):
    """Who a binding grants to: a ``User``, ``Group`` or ``ServiceAccount`` (with namespace)."""

    namespace: str | None = None


class RoleRef(KubeModel):
    """The Role or ClusterRole a binding grants (it cannot change after creation)."""

    kind: str
    name: str
    api_group: str = _RBAC


class Role(Resource, group=_RBAC, version="v1", builtin=True):
    """A namespaced set of permissions (``rbac.authorization.k8s.io/v1``)."""

    rules: list[PolicyRule] | None = None


class ClusterRole(Resource, group=_RBAC, version="v1", scope="Cluster", builtin=True):
    """A cluster-wide set of permissions, or an aggregation of others."""

    rules: list[PolicyRule] | None = None
    aggregation_rule: AggregationRule | None = None


class RoleBinding(Resource, group=_RBAC, version="v1", builtin=True):
    """Grants a Role (or a ClusterRole, within this namespace) to subjects."""

    role_ref: RoleRef
    subjects: list[Subject] | None = None


class ClusterRoleBinding(Resource, group=_RBAC, version="v1", scope="Cluster", builtin=True):
    """Grants a ClusterRole to subjects in every namespace."""

    role_ref: RoleRef
    subjects: list[Subject] | None = None
