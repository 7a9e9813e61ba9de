"""RBAC for an operator, derived from what its controllers declare.

    controller = (
        Controller(for_=Web, reconciler=WebReconciler())
        .owns(ConfigMap)
        .permits(ConfigMap, "create", "patch")          # the writes the reconciler makes
        .permits(Web, "patch", subresource="status")
    )
    docs = rbac_documents(manager_or_controllers, name="web-operator",
                          service_account_namespace="web-system")
    print(dump_yaml(docs))          # or: opframe rbac generate mymodule:manager

How the rules are decided (nothing is guessed from the reconciler's code):

- every watched kind (``for_``, ``owns``, ``watches``) gets ``get``, ``list``, ``watch``:
  the shared cache lists and watches it, reads go to it;
- :meth:`~opframe.Controller.permits` adds the declared verbs (on a subresource such as
  ``status`` or ``finalizers`` when given);
- Events get ``create`` and ``patch`` (the event recorder creates them and patches repeats);
- with leader election, a Role in the Lease's namespace gets ``get``, ``create``,
  ``update`` on ``leases`` (coordination.k8s.io);
- a manager limited to one namespace gets a Role and RoleBinding there; otherwise a
  ClusterRole and ClusterRoleBinding;
- a manager that follows its CRDs (``Manager(follow_crds=True)``) gets ``get``, ``list``,
  ``watch`` on ``customresourcedefinitions`` (apiextensions.k8s.io), in a ClusterRole
  ``<name>-crds`` of its own when it is namespaced, since CRDs are cluster-scoped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opframe.resource import Resource, resource_info

if TYPE_CHECKING:
    from opframe.controller import Controller
    from opframe.leaderelection import LeaderElectionConfig
    from opframe.manager import Manager

__all__ = ["Permission", "policy_rules", "rbac_documents"]

#: The verbs a permission may name, in the order rules list them.
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
_RBAC_V1 = "rbac.authorization.k8s.io/v1"
_RBAC = "rbac.authorization.k8s.io"
#: What a manager that follows its CRDs (``Manager(follow_crds=True)``) reads: one watch on
#: every CustomResourceDefinition tells which custom kinds are Established.
CRD_RULE: dict[str, Any] = {
    "apiGroups": ["apiextensions.k8s.io"],
    "resources": ["customresourcedefinitions"],
    "verbs": ["get", "list", "watch"],
}


@dataclass(frozen=True)
class Permission:
    """Verbs a controller's reconciler uses on ``kind`` (or on one of its subresources).

    Example::

        Permission(Pod, ("create", "delete"))
        Permission(Web, ("patch",), subresource="status")
    """

    kind: type[Resource]
    verbs: tuple[str, ...]
    subresource: str = ""

    def __post_init__(self) -> None:
        unknown = [v for v in self.verbs if v not in VERBS]
        if unknown:
            raise ValueError(
                f"permits({resource_info(self.kind).kind}): unknown verb {unknown[0]!r}; "
                f"use one of {', '.join(VERBS)}"
            )
        if not self.verbs:
            raise ValueError(f"permits({resource_info(self.kind).kind}): name at least one verb")


def _controllers(target: Any) -> list[Controller[Any]]:
    from opframe.controller import Controller
    from opframe.manager import Manager

    if isinstance(target, Manager):
        return [running.spec for running in target.controllers]
    if isinstance(target, Controller):
        return [target]
    if isinstance(target, Iterable):
        out = list(target)
        if all(isinstance(c, Controller) for c in out):
            return out
    raise TypeError(
        f"{type(target).__name__} is not a Manager, a Controller or a list of Controllers"
    )


def policy_rules(
    controllers: Sequence[Controller[Any]], *, events: bool = True
) -> list[dict[str, Any]]:
    """The PolicyRules the ``controllers`` need, one per resource, in declaration order."""
    verbs: dict[tuple[str, str], set[str]] = {}

    def add(kind: type[Resource], wanted: Iterable[str], sub: str = "") -> None:
        info = resource_info(kind)
        key = (info.group, info.plural + (f"/{sub}" if sub else ""))
        verbs.setdefault(key, set()).update(wanted)

    for controller in controllers:
        for source in controller.sources:
            add(source.kind, ("get", "list", "watch"))
        for permission in controller.permissions:
            add(permission.kind, permission.verbs, permission.subresource)
    if events:
        verbs.setdefault(("", "events"), set()).update(("create", "patch"))
    return [
        {"apiGroups": [group], "resources": [resource],
         "verbs": [v for v in VERBS if v in wanted]}
        for (group, resource), wanted in verbs.items()
    ]  # fmt: skip


def _with_crd_rule(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rules`` with get/list/watch on CRDs, merged into a rule already naming them."""
    for rule in rules:
        if (
            rule["apiGroups"] == CRD_RULE["apiGroups"]
            and rule["resources"] == CRD_RULE["resources"]
        ):
            wanted = set(rule["verbs"]) | set(CRD_RULE["verbs"])
            rule["verbs"] = [v for v in VERBS if v in wanted]
            return rules
    return [*rules, {k: list(v) for k, v in CRD_RULE.items()}]


def _binding(kind: str, name: str, role_kind: str, sa: str, sa_ns: str, ns: str = "") -> Any:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {
        "apiVersion": _RBAC_V1,
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": _RBAC, "kind": role_kind, "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": sa_ns}],
    }


def rbac_documents(
    target: Manager | Controller[Any] | Sequence[Controller[Any]],
    *,
    name: str,
    service_account_namespace: str,
    service_account: str = "",
    leader_election: LeaderElectionConfig | None = None,
    namespace: str | None = None,
) -> list[dict[str, Any]]:
    """ServiceAccount, (Cluster)Role and binding, and the leader-election Role, as objects.

    ``target``: a Manager (its controllers, namespace and leader election are used) or
    controllers; ``leader_election``/``namespace`` override or complete what it says.
    A Manager that follows its CRDs (``follow_crds=True``) also gets get/list/watch on
    ``customresourcedefinitions``: in its ClusterRole, or in a ``<name>-crds`` ClusterRole
    when it is namespaced (CRDs are cluster-scoped).
    """
    from opframe.manager import Manager

    sa = service_account or name
    follow_crds = False
    if isinstance(target, Manager):
        follow_crds = target.cache.crds is not None
        leader_election = leader_election or target.leader_election
        namespace = namespace if namespace is not None else target.namespace
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": sa, "namespace": service_account_namespace}},
    ]  # fmt: skip
    rules = policy_rules(_controllers(target))
    if follow_crds and not namespace:
        rules = _with_crd_rule(rules)
    if namespace:
        docs.append(
            {
                "apiVersion": _RBAC_V1,
                "kind": "Role",
                "metadata": {"name": name, "namespace": namespace},
                "rules": rules,
            }
        )
        docs.append(_binding("RoleBinding", name, "Role", sa, service_account_namespace,
                             namespace))  # fmt: skip
        if follow_crds:
            # CRDs are cluster-scoped: a Role cannot grant them, a ClusterRole of its own does.
            crds = f"{name}-crds"
            docs.append({"apiVersion": _RBAC_V1, "kind": "ClusterRole",
                         "metadata": {"name": crds}, "rules": _with_crd_rule([])})  # fmt: skip
            docs.append(_binding("ClusterRoleBinding", crds, "ClusterRole", sa,
                                 service_account_namespace))  # fmt: skip
    else:
        docs.append({"apiVersion": _RBAC_V1, "kind": "ClusterRole",
                     "metadata": {"name": name}, "rules": rules})  # fmt: skip
        docs.append(_binding("ClusterRoleBinding", name, "ClusterRole", sa,
                             service_account_namespace))  # fmt: skip
    if leader_election is not None:
        lease_ns = leader_election.namespace
        role = f"{name}-leader-election"
        docs.append({
            "apiVersion": _RBAC_V1, "kind": "Role",
            "metadata": {"name": role, "namespace": lease_ns},
            "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                       "verbs": ["get", "create", "update"]}],
        })  # fmt: skip
        docs.append(_binding("RoleBinding", role, "Role", sa, service_account_namespace,
                             lease_ns))  # fmt: skip
    return docs
