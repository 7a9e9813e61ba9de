"""Object metadata validation: errors.json, cr-validation.json and cr-finalizers.json."""

from __future__ import annotations

import pytest
from apiserver._builtins_transcripts import RUN, FakeContext, request_body, response_body, step

from opframe.testing.apiserver.builtins import (
    builtin_type,
    meta_warnings,
    prepare_create,
    validate_object_meta,
)
from opframe.testing.apiserver.errors import StatusError, invalid
from opframe.testing.apiserver.registry.resource_type import ResourceType

CONFIGMAPS = builtin_type("", "configmaps")
NAMESPACES = builtin_type("", "namespaces")
SERVICE_ACCOUNTS = builtin_type("", "serviceaccounts")
assert CONFIGMAPS is not None and NAMESPACES is not None and SERVICE_ACCOUNTS is not None


def _widget(group: str) -> ResourceType:
    return ResourceType(
        group=group,
        version="v1",
        kind="Widget",
        plural="widgets",
        singular="widget",
        namespaced=True,
        custom=True,
    )


@pytest.mark.parametrize(
    "step_id",
    ["invalid-name", "name-too-long", "missing-name", "invalid-data-key", "invalid-label"],
)
def test_invalid_configmaps_answer_the_recorded_status(step_id: str) -> None:
    body = request_body("errors", step_id)
    body["metadata"]["namespace"] = f"errors-{RUN}"
    with pytest.raises(StatusError) as err:
        prepare_create(CONFIGMAPS, body, FakeContext())
    assert err.value.body() == response_body("errors", step_id)


def test_namespace_gets_finalizer_phase_and_name_label() -> None:
    body = request_body("errors", "create-namespace")
    prepare_create(NAMESPACES, body, FakeContext())
    expected = response_body("errors", "create-namespace")
    assert body["spec"] == expected["spec"] and body["status"] == expected["status"]
    assert body["metadata"]["labels"] == expected["metadata"]["labels"]


def test_service_account_is_stored_as_sent() -> None:
    body = request_body("pod-defaulting", "create-serviceaccount")
    body["metadata"]["namespace"] = f"pod-{RUN}"
    prepare_create(SERVICE_ACCOUNTS, body, FakeContext())
    assert body == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": f"pod-{RUN}"},
    }


def test_custom_resource_name_uses_the_subdomain_rule() -> None:
    group = "cr-validation.conformance.example.com"
    body = request_body("cr-validation", "invalid-name")
    body["metadata"]["namespace"] = f"cr-valid-{RUN}"
    causes = validate_object_meta(_widget(group), body)
    err = invalid("Widget", body["metadata"]["name"], causes, group)
    assert err.body() == response_body("cr-validation", "invalid-name")


def test_no_new_finalizers_while_deleting() -> None:
    group = "cr-finalizers.conformance.example.com"
    recorded = next(s for s in _finalizer_steps() if s["response"].get("status") == 422)
    old = {
        "metadata": {
            "name": "guarded",
            "namespace": "ns",
            "deletionTimestamp": "2024-01-01T00:00:00Z",
            "finalizers": ["conformance.example.com/a"],
        }
    }
    new = {
        "metadata": {
            **old["metadata"],
            "resourceVersion": "3",
            "finalizers": ["conformance.example.com/a", "conformance.example.com/new"],
        }
    }
    causes = validate_object_meta(_widget(group), new, old)
    expected = recorded["response"]["body"]
    assert invalid("Widget", "guarded", causes, group).details == expected["details"]


def _finalizer_steps() -> list[dict]:
    import json

    from apiserver._builtins_transcripts import CONFORMANCE

    data = json.loads((CONFORMANCE / "cr-finalizers.json").read_text())
    return [step("cr-finalizers", s["id"]) for s in data["steps"]]


def test_label_value_too_long_is_reported_on_the_labels_map() -> None:
    body = {"metadata": {"name": "x", "namespace": "ns", "labels": {"k": "v" * 64}}}
    causes = validate_object_meta(CONFIGMAPS, body)
    assert [(c["field"], c["message"]) for c in causes] == [
        ("metadata.labels", f'Invalid value: "{"v" * 64}": must be no more than 63 characters')
    ]


def test_generate_name_may_end_with_a_dash() -> None:
    body = {"metadata": {"generateName": "web-", "name": "web-abcde", "namespace": "ns"}}
    assert validate_object_meta(CONFIGMAPS, body) == []


def test_cluster_scoped_kind_refuses_a_namespace() -> None:
    body = {"metadata": {"name": "x", "namespace": "ns"}}
    causes = validate_object_meta(NAMESPACES, body)
    assert [(c["reason"], c["field"]) for c in causes] == [
        ("FieldValueForbidden", "metadata.namespace")
    ]


def test_finalizer_without_domain_gets_a_warning() -> None:
    warnings = meta_warnings({"metadata": {"finalizers": ["mine", "kubernetes", "a.io/b"]}})
    assert len(warnings) == 1 and '"mine"' in warnings[0]


def test_immutable_uid_on_update_is_reported_by_both_validation_passes() -> None:
    old = {"metadata": {"name": "x", "namespace": "ns", "uid": "a"}}
    new = {"metadata": {"name": "x", "namespace": "ns", "uid": "b", "resourceVersion": "2"}}
    causes = validate_object_meta(CONFIGMAPS, new, old)
    assert [(c["field"], c["message"]) for c in causes] == [
        ("metadata.uid", 'Invalid value: "b": field is immutable')
    ] * 2
