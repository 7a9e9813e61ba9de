"""Which webhooks a request calls: rules, match policy, selectors, match conditions.

Pure functions of a webhook's spec and the request's attributes, following
``apiserver/pkg/admission/plugin/webhook/predicates/rules/rules.go`` (operations, groups,
versions, ``resource/subresource`` with ``*``, scope),
``predicates/namespace/matcher.go`` (namespaceSelector),
``predicates/object/matcher.go`` (objectSelector: the new or the old object) and
``plugin/webhook/matchconditions`` (CEL over ``object``, ``oldObject``, ``request``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from opframe.testing.apiserver.builtins.workloads import selector_matches

__all__ = ["Request", "conditions_match", "namespace_matches", "object_matches", "rule_matches"]

_CEL = celpy.Environment()


@dataclass(frozen=True)
class Request:
    """The attributes of a request a rule is matched against."""

    operation: str
    group: str
    version: str
    resource: str
    subresource: str
    #: The request's namespace: a Namespace object's own name for namespaces.
    namespace: str


def rule_matches(rule: dict[str, Any], req: Request) -> bool:
    """Whether a ``RuleWithOperations`` matches the request (``rules.go`` Matcher)."""
    ops = rule.get("operations") or []
    if "*" not in ops and req.operation not in ops:
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and req.group not in groups:
        return False
    versions = rule.get("apiVersions") or []
    if "*" not in versions and req.version not in versions:
        return False
    if not _resource_matches(rule.get("resources") or [], req):
        return False
    return _scope_matches(str(rule.get("scope") or "*"), req)


def _resource_matches(resources: list[str], req: Request) -> bool:
    # "pods" is the main resource only, "pods/status" one subresource, "pods/*" the resource
    # and all its subresources, "*/status" that subresource of every resource, "*/*" all.
    for entry in resources:
        res, _, sub = str(entry).partition("/")
        if (res in ("*", req.resource)) and (sub in ("*", req.subresource)):
            return True
    return False


def _scope_matches(scope: str, req: Request) -> bool:
    # Namespace objects are cluster-scoped although their requests carry a namespace.
    is_namespace = req.group == "" and req.resource == "namespaces"
    if scope == "Namespaced":
        return not is_namespace and req.namespace != ""
    if scope == "Cluster":
        return is_namespace or req.namespace == ""
    return True


def namespace_matches(
    selector: dict[str, Any] | None,
    req: Request,
    namespace_labels: dict[str, str] | None,
) -> bool:
    """``namespaceSelector``: a cluster-scoped object (not a Namespace) always matches; a
    Namespace is matched by its own labels; others by their namespace's labels
    (``namespace_labels``, ``None`` when the namespace does not exist: no match)."""
    if not req.namespace and req.resource != "namespaces":
        return True
    if not selector:
        return True
    if namespace_labels is None:
        return False
    return selector_matches(selector, namespace_labels)


def object_matches(
    selector: dict[str, Any] | None, obj: dict[str, Any] | None, old: dict[str, Any] | None
) -> bool:
    """``objectSelector``: matches if the new or the old object's labels match."""
    if not selector:
        return True
    for candidate in (obj, old):
        if candidate is None:
            continue
        labels = (candidate.get("metadata") or {}).get("labels") or {}
        if selector_matches(selector, labels):
            return True
    return False


class ConditionError(Exception):
    """A match condition failed to evaluate (or did not return a bool)."""


def conditions_match(conditions: list[dict[str, Any]], activation: dict[str, Any]) -> bool:
    """Whether every match condition is true; :class:`ConditionError` for an error.

    As ``matchconditions/matcher.go``: a false condition wins over an error in another.
    """
    errors: list[str] = []
    cel_vars = {k: json_to_cel(v) for k, v in activation.items()}
    for cond in conditions:
        name = str(cond.get("name", ""))
        try:
            program = _CEL.program(_CEL.compile(str(cond.get("expression", ""))))
            result = program.evaluate(cel_vars)
        except Exception as e:  # cel-python raises its own error types
            errors.append(f"failed to evaluate match condition {name!r}: {e}")
            continue
        if isinstance(result, CELEvalError):
            errors.append(f"failed to evaluate match condition {name!r}: {result.args[0]}")
            continue
        if not isinstance(result, celtypes.BoolType):
            errors.append(f"match condition {name!r} must evaluate to bool")
            continue
        if not bool(result):
            return False
    if errors:
        raise ConditionError("; ".join(errors))
    return True
