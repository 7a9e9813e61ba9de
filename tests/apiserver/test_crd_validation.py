"""Validation of CustomResourceDefinition objects, with the real server's field paths."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from opframe.testing.apiserver.schema.custom_resource import (
    default_crd,
    structural_errors,
    validate_crd,
)
from tests.apiserver._crds import crd, spec_schema

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"


def _recorded_crds() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(CONFORMANCE.glob("*.json")):
        for step in json.loads(path.read_text())["steps"]:
            body = (step.get("request") or {}).get("body")
            if isinstance(body, dict) and body.get("kind") == "CustomResourceDefinition":
                out.append((f"{path.stem}/{step['id']}", body))
    return out


def _crd() -> dict[str, Any]:
    return crd("example.com", "Widget", schema=spec_schema(n={"type": "integer", "default": 1}))


def _causes(crd: dict[str, Any], old: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    default_crd(crd)
    return [(c["field"], c["message"]) for c in validate_crd(crd, old)]


@pytest.mark.parametrize(
    ("name", "crd"), _recorded_crds(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_recorded_crd_is_valid(name: str, crd: dict[str, Any]) -> None:
    assert _causes(copy.deepcopy(crd)) == []


def test_defaulting_fills_singular_list_kind_and_conversion() -> None:
    crd = _crd()
    default_crd(crd)
    assert crd["spec"]["names"] == {
        "plural": "widgets",
        "kind": "Widget",
        "singular": "widget",
        "listKind": "WidgetList",
    }
    assert crd["spec"]["conversion"] == {"strategy": "None"}


def test_minimal_crd_is_valid() -> None:
    assert _causes(_crd()) == []


def test_name_must_be_plural_dot_group() -> None:
    crd = _crd()
    crd["metadata"]["name"] = "gadgets.example.com"
    assert _causes(crd) == [
        (
            "metadata.name",
            'Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group',
        )
    ]


def test_group_needs_a_dot() -> None:
    crd = _crd()
    crd["spec"]["group"] = "example"
    crd["metadata"]["name"] = "widgets.example"
    assert ("spec.group", 'Invalid value: "example": should be a domain with at least one dot') in (
        _causes(crd)
    )


def test_scope_must_be_cluster_or_namespaced() -> None:
    crd = _crd()
    crd["spec"]["scope"] = "Global"
    assert _causes(crd) == [
        ("spec.scope", 'Unsupported value: "Global": supported values: "Cluster", "Namespaced"')
    ]


def test_exactly_one_storage_version() -> None:
    crd = _crd()
    second = copy.deepcopy(crd["spec"]["versions"][0])
    second["name"] = "v2"
    crd["spec"]["versions"].append(second)
    assert _causes(crd) == [
        ("spec.versions", "Invalid value: must have exactly one version marked as storage version")
    ]


def test_no_versions_means_no_storage_version() -> None:
    crd = _crd()
    crd["spec"]["versions"] = []
    assert [f for f, _ in _causes(crd)] == ["spec.versions"]


def test_version_names_must_be_unique_dns_labels() -> None:
    crd = _crd()
    crd["spec"]["versions"][0]["name"] = "V1"
    fields = [f for f, _ in _causes(crd)]
    assert fields == ["spec.versions[0].name"]


def test_schema_is_required() -> None:
    crd = _crd()
    del crd["spec"]["versions"][0]["schema"]
    assert _causes(crd) == [("spec.versions[0].schema.openAPIV3Schema", "Required value")]


def test_schema_must_be_structural() -> None:
    crd = _crd()
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "x"
    ] = {}
    assert _causes(crd) == [
        (
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[x].type",
            "Required value: must not be empty for specified object fields",
        )
    ]


def test_default_must_validate_against_its_schema() -> None:
    crd = _crd()
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][
        "n"
    ]["default"] = "one"
    assert _causes(crd) == [
        (
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[n].default",
            'Invalid value: "string":  in body must be of type integer: "string"',
        )
    ]


def test_default_must_not_have_unknown_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "o": {"type": "object", "default": {"x": 1}, "properties": {"y": {"type": "integer"}}}
        },
    }
    assert structural_errors(schema) == [
        'spec.versions[0].schema.openAPIV3Schema.properties[o].default: Invalid value: {"x":1}: '
        "must not have unknown fields"
    ]


def test_cel_rule_must_compile() -> None:
    crd = _crd()
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["x-kubernetes-validations"] = [{"rule": "self.n >"}]
    fields = [f for f, _ in _causes(crd)]
    assert fields == [
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    ]


def test_printer_column_type_and_json_path() -> None:
    crd = _crd()
    crd["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "N", "type": "int", "jsonPath": "spec.n"}
    ]
    assert _causes(crd) == [
        (
            "spec.versions[0].additionalPrinterColumns[0].type",
            'Invalid value: "int": must be one of boolean,date,integer,number,string',
        ),
        (
            "spec.versions[0].additionalPrinterColumns[0].JSONPath",
            'Invalid value: "spec.n": must be a simple json path starting with .',
        ),
    ]


def test_scale_spec_replicas_path_must_be_under_spec() -> None:
    crd = _crd()
    crd["spec"]["versions"][0]["subresources"] = {
        "scale": {"specReplicasPath": ".status.n", "statusReplicasPath": ".status.n"}
    }
    assert _causes(crd) == [
        (
            "spec.versions[0].subresources.scale.specReplicasPath",
            'Invalid value: ".status.n": should be a json path under .spec',
        )
    ]


def test_conversion_strategy_must_be_known() -> None:
    crd = _crd()
    crd["spec"]["conversion"] = {"strategy": "Magic"}
    assert _causes(crd) == [
        (
            "spec.conversion.strategy",
            'Unsupported value: "Magic": supported values: "None", "Webhook"',
        )
    ]


def test_kind_and_list_kind_may_not_be_the_same() -> None:
    crd = _crd()
    crd["spec"]["names"]["listKind"] = "Widget"
    assert _causes(crd) == [
        ("spec.names.listKind", 'Invalid value: "Widget": kind and listKind may not be the same')
    ]


def test_group_and_plural_are_immutable() -> None:
    old = _crd()
    default_crd(old)
    new = copy.deepcopy(old)
    new["spec"]["names"]["plural"] = "gizmos"
    new["metadata"]["name"] = "gizmos.example.com"
    assert _causes(new, old) == [
        ("spec.names.plural", 'Invalid value: "gizmos": field is immutable')
    ]


def test_a_stored_version_may_not_disappear() -> None:
    old = _crd()
    default_crd(old)
    new = copy.deepcopy(old)
    new["status"] = {"storedVersions": ["v1beta1", "v1"]}
    fields = [f for f, _ in _causes(new, old)]
    assert fields == ["status.storedVersions[0]"]


def test_old_self_is_refused_inside_an_atomic_list() -> None:
    crd = _crd()
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["l"] = {
        "type": "array",
        "items": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]},
    }
    spec_path = "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[l]"
    assert _causes(crd) == [
        (
            f"{spec_path}.items.x-kubernetes-validations[0].rule",
            f'Invalid value: "self == oldSelf": oldSelf cannot be used on the uncorrelatable '
            f"portion of the schema within {spec_path}",
        )
    ]


def test_old_self_is_allowed_inside_a_list_map() -> None:
    crd = _crd()
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["l"] = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["k"],
        "items": {
            "type": "object",
            "required": ["k"],
            "properties": {"k": {"type": "string"}},
            "x-kubernetes-validations": [{"rule": "self == oldSelf"}],
        },
    }
    assert _causes(crd) == []
