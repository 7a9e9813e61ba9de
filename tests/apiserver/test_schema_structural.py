"""Structural-schema checks on CRD schemas, with the real server's error texts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opframe.testing.apiserver.schema.custom_resource import structural_errors

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"
ROOT = "spec.versions[0].schema.openAPIV3Schema"


def _crd_schemas() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(CONFORMANCE.glob("*.json")):
        for step in json.loads(path.read_text())["steps"]:
            req = step.get("request") or {}
            body = req.get("body")
            if (
                req.get("method") == "POST"
                and isinstance(body, dict)
                and body.get("kind") == "CustomResourceDefinition"
            ):
                for v in body["spec"]["versions"]:
                    out.append((f"{path.stem}/{v['name']}", v["schema"]["openAPIV3Schema"]))
    return out


@pytest.mark.parametrize(
    ("name", "schema"), _crd_schemas(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_recorded_crd_schema_is_structural(name: str, schema: dict[str, Any]) -> None:
    assert structural_errors(schema) == []


def test_field_without_type_is_required() -> None:
    assert structural_errors({"type": "object", "properties": {"spec": {}}}) == [
        f"{ROOT}.properties[spec].type: Required value: must not be empty for specified object "
        "fields"
    ]


def test_root_without_type_is_required() -> None:
    assert structural_errors({"properties": {}}) == [
        f"{ROOT}.type: Required value: must not be empty at the root"
    ]


def test_array_items_without_type_are_required() -> None:
    errors = structural_errors(
        {"type": "object", "properties": {"xs": {"type": "array", "items": {}}}}
    )
    assert errors == [
        f"{ROOT}.properties[xs].items.type: Required value: must not be empty for specified "
        "array items"
    ]


def test_array_without_items_is_required() -> None:
    assert structural_errors({"type": "object", "properties": {"xs": {"type": "array"}}}) == [
        f"{ROOT}.properties[xs].items: Required value: must be specified"
    ]


def test_int_or_string_and_preserve_unknown_fields_need_no_type() -> None:
    schema = {
        "type": "object",
        "properties": {
            "port": {"x-kubernetes-int-or-string": True},
            "free": {"x-kubernetes-preserve-unknown-fields": True},
            "port2": {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            },
        },
    }
    assert structural_errors(schema) == []


def test_type_inside_any_of_is_forbidden() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "anyOf": [{"type": "string", "description": "x"}]}},
    }
    assert structural_errors(schema) == [
        f"{ROOT}.properties[a].anyOf[0].description: Forbidden: must be empty to be structural",
        f"{ROOT}.properties[a].anyOf[0].type: Forbidden: must be empty to be structural",
    ]


def test_value_validation_over_undeclared_field_is_required() -> None:
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "allOf": [{"properties": {"x": {}}}]}},
    }
    assert structural_errors(schema) == [
        f"{ROOT}.properties[spec].properties[x]: Required value: because it is defined in "
        f"{ROOT}.properties[spec].allOf[0].properties[x]"
    ]


def test_ref_is_not_supported() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object", "$ref": "#/x"}}}
    assert structural_errors(schema) == [
        f"{ROOT}.properties[a].$ref: Forbidden: $ref is not supported"
    ]


def test_properties_and_additional_properties_are_mutually_exclusive() -> None:
    schema = {
        "type": "object",
        "properties": {
            "m": {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": {"type": "string"},
            }
        },
    }
    assert structural_errors(schema) == [
        f"{ROOT}.properties[m].additionalProperties: Forbidden: additionalProperties and "
        "properties are mutual exclusive"
    ]


def test_nullable_needs_a_type() -> None:
    schema = {"type": "object", "properties": {"a": {"nullable": True}}}
    assert structural_errors(schema) == [
        f"{ROOT}.properties[a].type: Required value: must not be empty for specified object fields"
    ]


def test_embedded_resource_needs_type_object() -> None:
    schema = {
        "type": "object",
        "properties": {
            "t": {
                "type": "string",
                "x-kubernetes-embedded-resource": True,
                "x-kubernetes-preserve-unknown-fields": True,
            }
        },
    }
    assert structural_errors(schema) == [
        f'{ROOT}.properties[t].type: Invalid value: "string": must be object if '
        "x-kubernetes-embedded-resource is true"
    ]


def test_root_metadata_may_only_restrict_name() -> None:
    ok = {
        "type": "object",
        "properties": {
            "metadata": {
                "type": "object",
                "properties": {"name": {"type": "string", "maxLength": 5}},
            }
        },
    }
    assert structural_errors(ok) == []
    bad = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}
        },
    }
    assert structural_errors(bad) == [
        f"{ROOT}.properties[metadata]: Forbidden: must not specify anything other than name and "
        "generateName, but metadata is implicitly specified"
    ]


def test_additional_properties_at_root_is_forbidden() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "string"}}
    assert structural_errors(schema) == [
        f"{ROOT}.additionalProperties: Forbidden: must not be used at the root"
    ]


def test_list_map_needs_keys() -> None:
    schema = {
        "type": "object",
        "properties": {
            "l": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object"}}
        },
    }
    assert structural_errors(schema) == [
        f"{ROOT}.properties[l].x-kubernetes-list-map-keys: Required value: must not be empty if "
        "x-kubernetes-list-type is map"
    ]


def test_custom_path_prefix() -> None:
    assert structural_errors({"type": "object", "properties": {"a": {}}}, path="x") == [
        "x.properties[a].type: Required value: must not be empty for specified object fields"
    ]
