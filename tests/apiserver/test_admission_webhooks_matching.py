"""Which requests a webhook's rules and selectors match: the pure matching functions.

Rules of ``apiserver/pkg/admission/plugin/webhook/predicates/rules/rules.go`` and
``predicates/namespace/matcher.go``, stated as tables.
"""

from __future__ import annotations

from typing import Any

import pytest

from opframe.testing.apiserver.admission.matching import (
    Request,
    namespace_matches,
    object_matches,
    rule_matches,
)

POD = Request("CREATE", "", "v1", "pods", "", "default")
POD_STATUS = Request("UPDATE", "", "v1", "pods", "status", "default")
NODE = Request("CREATE", "", "v1", "nodes", "", "")
NAMESPACE = Request("CREATE", "", "v1", "namespaces", "", "team")


def _rule(resources: list[str], **fields: Any) -> dict[str, Any]:
    rule = {"operations": ["*"], "apiGroups": [""], "apiVersions": ["v1"], "resources": resources}
    rule.update(fields)
    return rule


@pytest.mark.parametrize(
    ("resources", "request_", "matches"),
    [
        (["pods"], POD, True),
        (["pods"], POD_STATUS, False),  # the resource alone is not its subresources
        (["pods/status"], POD_STATUS, True),
        (["pods/status"], POD, False),
        (["pods/*"], POD, True),  # "pods/*": the resource and all its subresources
        (["pods/*"], POD_STATUS, True),
        (["*"], POD, True),
        (["*"], POD_STATUS, False),  # "*": every resource, no subresource
        (["*/status"], POD_STATUS, True),
        (["*/*"], POD_STATUS, True),
        (["services"], POD, False),
    ],
)
def test_resources_match_resource_and_subresource(
    resources: list[str], request_: Request, matches: bool
) -> None:
    """``resource/subresource`` with ``*`` on either side (rules.go resource())."""
    assert rule_matches(_rule(resources), request_) is matches


@pytest.mark.parametrize(
    ("scope", "request_", "matches"),
    [
        ("Namespaced", POD, True),
        ("Namespaced", NODE, False),
        ("Namespaced", NAMESPACE, False),  # a Namespace is cluster-scoped
        ("Cluster", NODE, True),
        ("Cluster", NAMESPACE, True),
        ("Cluster", POD, False),
        ("*", NODE, True),
    ],
)
def test_scope_separates_namespaced_and_cluster_objects(
    scope: str, request_: Request, matches: bool
) -> None:
    """``scope``: namespace objects count as cluster-scoped (rules.go scope())."""
    rule = _rule(["*"], scope=scope)
    assert rule_matches(rule, request_) is matches


def test_operations_groups_and_versions_must_all_match() -> None:
    """Each of operations, apiGroups and apiVersions must list the request's or ``*``."""
    assert rule_matches(_rule(["pods"], operations=["CREATE"]), POD)
    assert not rule_matches(_rule(["pods"], operations=["UPDATE"]), POD)
    assert not rule_matches(_rule(["pods"], apiGroups=["apps"]), POD)
    assert not rule_matches(_rule(["pods"], apiVersions=["v2"]), POD)
    assert rule_matches(_rule(["pods"], apiGroups=["*"], apiVersions=["*"]), POD)


def test_namespace_selector_rules() -> None:
    """Cluster-scoped objects other than Namespaces always match; a Namespace is matched by
    its own labels; a missing namespace does not match (namespace/matcher.go)."""
    selector = {"matchLabels": {"team": "a"}}
    assert namespace_matches(selector, NODE, None)
    assert namespace_matches(selector, NAMESPACE, {"team": "a"})
    assert not namespace_matches(selector, POD, {"team": "b"})
    assert not namespace_matches(selector, POD, None)
    assert namespace_matches({}, POD, None)


def test_object_selector_matches_the_new_or_the_old_object() -> None:
    """objectSelector: the new object's labels or the old one's (object/matcher.go)."""
    selector = {"matchLabels": {"watched": "yes"}}
    labelled = {"metadata": {"labels": {"watched": "yes"}}}
    plain: dict[str, Any] = {"metadata": {}}
    assert object_matches(selector, plain, labelled)
    assert object_matches(selector, None, labelled)
    assert not object_matches(selector, plain, plain)


def test_a_match_condition_that_does_not_compile_is_refused() -> None:
    """matchConditions expressions must compile (admissionregistration/validation/
    validation.go validateMatchConditions)."""
    from opframe.testing.apiserver.builtins.admission_config import validate_webhooks

    hook = {
        "name": "v.example.com",
        "clientConfig": {"url": "https://127.0.0.1:1/"},
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "matchConditions": [{"name": "bad", "expression": "object.metadata.name =="}],
    }
    [cause] = validate_webhooks({"webhooks": [hook]})
    assert cause["field"] == "webhooks[0].matchConditions[0].expression"
    assert "compilation failed" in cause["message"]
