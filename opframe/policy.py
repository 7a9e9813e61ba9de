"""ValidatingAdmissionPolicies generated from what an operator declares: no webhook to run.

Two kinds of policy, each a ``ValidatingAdmissionPolicy`` plus its ``Binding``:

* **Guarded children** (:func:`guard_children`): objects of a kind that carry an
  ownerReference to the operator's custom resource may be changed (``UPDATE``, ``DELETE``)
  only by the operator's ServiceAccount (and the garbage collector); anyone else gets
  ``... denied request: this ConfigMap is managed by its EtcdCluster; change the EtcdCluster
  instead``. For a :class:`~opframe.Controller`, :func:`policy_documents` guards every kind it
  ``owns()``::

      Controller(for_=EtcdCluster, reconciler=r).owns(Pod).owns(Service)

* **Field rules** (:func:`field_rules`): a model's rules that CEL can say, checked at admission
  for the users the policy binds: ``Validation`` markers (the same declaration the CRD
  generator writes into ``x-kubernetes-validations``, ``self`` being the field's value) and
  pydantic constraints (``ge``/``le``/``gt``/``lt``, ``min_length``/``max_length``,
  ``pattern``, ``Literal`` enums). Rules on fields reached through lists or maps are left out
  (their CRD keeps checking them).

``opframe policy generate MODULE:ATTR --service-account NS:NAME`` prints the YAML.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from opframe.controller import Controller
from opframe.crd import crds_for
from opframe.reconcile import ReasonSource
from opframe.resource import Resource, resource_info

__all__ = ["GARBAGE_COLLECTOR", "field_rules", "guard_children", "policy_documents"]

GARBAGE_COLLECTOR = "system:serviceaccount:kube-system:generic-garbage-collector"
"""The user the garbage collector deletes children as (always allowed by guards)."""

_API = "admissionregistration.k8s.io/v1"
_SELF = re.compile(r"\bself\b")
_OLD_SELF = re.compile(r"\boldSelf\b")


def _service_account_user(service_account: str) -> str:
    namespace, sep, name = service_account.partition(":")
    if not sep or not namespace or not name:
        raise ValueError(
            f"service account {service_account!r}: give it as NAMESPACE:NAME (e.g. "
            "etcd-operator-system:etcd-operator)"
        )
    return f"system:serviceaccount:{namespace}:{name}"


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _rule(model: type[Resource], operations: Sequence[str]) -> dict[str, Any]:
    info = resource_info(model)
    return {
        "apiGroups": [info.group],
        "apiVersions": [info.version],
        "operations": list(operations),
        "resources": [info.plural],
    }


def _documents(
    name: str, spec: dict[str, Any], actions: Sequence[str], namespaces: Sequence[str] | None
) -> list[dict[str, Any]]:
    binding: dict[str, Any] = {"policyName": name, "validationActions": list(actions)}
    if namespaces:
        binding["matchResources"] = {
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "In",
                        "values": list(namespaces),
                    }
                ]
            }
        }
    return [
        {
            "apiVersion": _API,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": spec,
        },
        {
            "apiVersion": _API,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": binding,
        },
    ]


def guard_children(
    owner: type[Resource],
    kinds: Iterable[type[Resource]],
    *,
    service_account: str,
    name: str = "",
    also_allow: Sequence[str] = (),
    operations: Sequence[str] = ("UPDATE", "DELETE"),
    actions: Sequence[str] = ("Deny",),
    namespaces: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """A policy and binding that let only ``service_account`` change ``owner``'s children.

    Args:
        owner: the operator's custom resource class (children name it in ownerReferences).
        kinds: the children's classes (``ConfigMap``, ``Pod``...).
        service_account: ``NAMESPACE:NAME`` of the operator's ServiceAccount.
        name: the policy's name (default: ``<owner plural>.<group>-children``).
        also_allow: more usernames that may change children (the garbage collector always may).
        operations: what is guarded (default ``UPDATE`` and ``DELETE``).
        actions: the binding's ``validationActions`` (``Warn`` to try a policy out first).
        namespaces: bind only in these namespaces (default: everywhere).

    Raises:
        ValueError: ``service_account`` is not ``NAMESPACE:NAME`` or ``kinds`` is empty.
    """
    o = resource_info(owner)
    children = list(kinds)
    if not children:
        raise ValueError(f"guard_children({o.kind}): name at least one child kind")
    users = [_service_account_user(service_account), GARBAGE_COLLECTOR, *also_allow]

    # The object as stored decides whether it is owned (so removing the ownerReference is
    # itself an edit the guard refuses); a create has only the new object.
    def owned_in(target: str) -> str:
        return (
            f"has({target}.metadata.ownerReferences) && {target}.metadata.ownerReferences.exists("
            f"r, r.kind == {_quote(o.kind)} && r.apiVersion.startsWith({_quote(o.group + '/')}))"
        )

    owned = f"request.operation != 'CREATE' ? ({owned_in('oldObject')}) : ({owned_in('object')})"
    spec = {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [_rule(kind, operations) for kind in children],
        },
        "matchConditions": [{"name": f"owned-by-{o.singular}", "expression": owned}],
        "validations": [
            {
                "expression": f"request.userInfo.username in [{', '.join(map(_quote, users))}]",
                "messageExpression": (
                    f"'this ' + request.kind.kind + ' is managed by its {o.kind}; change the "
                    f"{o.kind} instead'"
                ),
                "reason": "Forbidden",
            }
        ],
    }
    return _documents(name or f"{o.plural}.{o.group}-children", spec, actions, namespaces)


# -- field rules -------------------------------------------------------------------------------


def _path(parts: Sequence[str]) -> str:
    return "object" + "".join(f".{p}" if p.isidentifier() else f"[{_quote(p)}]" for p in parts)


def _guarded(parts: Sequence[str], expression: str) -> str:
    """``expression`` checked only when the field (and each parent) is set."""
    checks = [f"has({_path(parts[: i + 1])})" for i in range(len(parts))]
    return f"!({' && '.join(checks)}) || ({expression})" if checks else expression


def _constraint_rules(node: dict[str, Any], value: str) -> list[tuple[str, str]]:
    """CEL for a schema node's constraints: (expression, message)."""
    out: list[tuple[str, str]] = []
    size = f"size({value})"
    for key, op, text in (
        ("minimum", ">=", "greater than or equal to"),
        ("maximum", "<=", "less than or equal to"),
    ):
        if key in node:
            exclusive = node.get(f"exclusive{key.capitalize()}")
            out.append(
                (
                    f"{value} {op.rstrip('=') if exclusive else op} {node[key]}",
                    f"should be {text.split(' or ')[0] if exclusive else text} {node[key]}",
                )
            )
    for key, op, unit in (
        ("minLength", ">=", "characters"),
        ("maxLength", "<=", "characters"),
        ("minItems", ">=", "items"),
        ("maxItems", "<=", "items"),
    ):
        if key in node:
            out.append((f"{size} {op} {node[key]}", f"should have {op} {node[key]} {unit}"))
    if "pattern" in node:
        out.append(
            (f"{value}.matches({_quote(node['pattern'])})", f"should match '{node['pattern']}'")
        )
    if "enum" in node:
        values = ", ".join(_quote(v) if isinstance(v, str) else str(v) for v in node["enum"])
        out.append((f"{value} in [{values}]", f"should be one of [{values}]"))
    return out


def _collect(node: dict[str, Any], parts: list[str], out: list[dict[str, Any]]) -> None:
    value = _path(parts)
    field = ".".join(parts) or "object"
    for rule in node.get("x-kubernetes-validations") or []:
        text = str(rule["rule"])
        expression = _SELF.sub(value, text)
        if _OLD_SELF.search(text):
            old = value.replace("object", "oldObject", 1)
            expression = f"request.operation != 'UPDATE' || ({_OLD_SELF.sub(old, expression)})"
        validation: dict[str, Any] = {"expression": _guarded(parts, expression)}
        validation["message"] = rule.get("message") or f"{field}: failed rule: {text}"
        out.append(validation)
    if parts:  # the root's constraints are the API server's business
        for expression, message in _constraint_rules(node, value):
            out.append({"expression": _guarded(parts, expression), "message": f"{field} {message}"})
    for key, child in (node.get("properties") or {}).items():
        if parts == [] and key in ("metadata", "apiVersion", "kind", "status"):
            continue
        _collect(child, [*parts, key], out)


def field_rules(
    model: type[Resource],
    *,
    name: str = "",
    exempt_service_account: str | None = None,
    operations: Sequence[str] = ("CREATE", "UPDATE"),
    actions: Sequence[str] = ("Deny",),
    namespaces: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """A policy and binding checking ``model``'s CEL rules and constraints at admission.

    ``self`` in a field's rule becomes the field's path in ``object`` (``oldSelf`` in
    ``oldObject``, skipped on create); each rule applies only when its field is set. With
    ``exempt_service_account`` (``NAMESPACE:NAME``) the operator's own writes are not checked.

    Raises:
        ValueError: the model has no rule CEL can express.
    """
    info = resource_info(model)
    [crd] = crds_for(model)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == info.version)
    validations: list[dict[str, Any]] = []
    _collect(version["schema"]["openAPIV3Schema"], [], validations)
    if not validations:
        raise ValueError(f"{info.kind} declares no rule CEL can express (Validation, ge=, ...)")
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": [_rule(model, operations)]},
        "validations": validations,
    }
    if exempt_service_account:
        user = _service_account_user(exempt_service_account)
        spec["matchConditions"] = [
            {
                "name": "not-the-operator",
                "expression": f"request.userInfo.username != {_quote(user)}",
            }
        ]
    return _documents(name or f"{info.plural}.{info.group}-fields", spec, actions, namespaces)


def policy_documents(
    target: Controller[Any] | Sequence[Controller[Any]] | type[Resource] | Any,
    *,
    service_account: str,
    actions: Sequence[str] = ("Deny",),
) -> list[dict[str, Any]]:
    """The policies for ``target``: a Manager, a Controller, controllers, or a Resource class.

    Controllers get a :func:`guard_children` policy over the kinds they ``owns()``; a Resource
    class gets its :func:`field_rules` (the operator's service account exempt).
    """
    if isinstance(target, type) and issubclass(target, Resource):
        return field_rules(target, exempt_service_account=service_account, actions=actions)
    from opframe.rbac import _controllers

    # One policy per owner kind: controllers of the same primary share it (names are unique).
    owned: dict[type[Resource], list[type[Resource]]] = {}
    for controller in _controllers(target):
        kinds = owned.setdefault(controller.for_, [])
        for source in controller.sources:
            if source.role is ReasonSource.OWNS and source.kind not in kinds:
                kinds.append(source.kind)
    docs: list[dict[str, Any]] = []
    for owner, kinds in owned.items():
        if kinds:
            docs += guard_children(owner, kinds, service_account=service_account, actions=actions)
    if not docs:
        raise ValueError("nothing to guard: no controller owns() a kind")
    return docs
