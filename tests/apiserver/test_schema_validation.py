"""OpenAPI v3 validation of custom resources: one rule per test, the real server's texts."""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.schema.custom_resource import (
    type_meta_causes,
    validate,
    validate_status,
)


def _spec_schema(**props: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": props}},
    }


def _one(schema: dict[str, Any], spec: Any, old: dict[str, Any] | None = None) -> list[Cause]:
    return validate({"spec": spec}, schema, old=old)


def test_wrong_type_is_type_invalid_naming_the_actual_type() -> None:
    assert _one(_spec_schema(n={"type": "integer"}), {"n": "x"}) == [
        {
            "reason": "FieldValueTypeInvalid",
            "message": 'Invalid value: "string": spec.n in body must be of type integer: "string"',
            "field": "spec.n",
        }
    ]


def test_integral_float_is_an_integer() -> None:
    assert _one(_spec_schema(n={"type": "integer"}), {"n": 2.0}) == []


def test_fractional_float_is_not_an_integer() -> None:
    causes = _one(_spec_schema(n={"type": "integer"}), {"n": 2.5})
    assert causes[0]["message"] == (
        'Invalid value: "number": spec.n in body must be of type integer: "number"'
    )


def test_integer_is_a_number() -> None:
    assert _one(_spec_schema(n={"type": "number"}), {"n": 2}) == []


def test_null_for_non_nullable_field_is_type_invalid() -> None:
    causes = _one(_spec_schema(s={"type": "string"}), {"s": None})
    assert causes == [
        {
            "reason": "FieldValueTypeInvalid",
            "message": 'Invalid value: "null": spec.s in body must be of type string: "null"',
            "field": "spec.s",
        }
    ]


def test_null_for_nullable_field_is_valid() -> None:
    assert _one(_spec_schema(s={"type": "string", "nullable": True}), {"s": None}) == []


def test_missing_required_field() -> None:
    schema = _spec_schema(a={"type": "string"})
    schema["properties"]["spec"]["required"] = ["a"]
    assert _one(schema, {}) == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.a"}
    ]


def test_enum_lists_supported_values_quoted() -> None:
    causes = _one(_spec_schema(n={"type": "integer", "enum": [1, 2]}), {"n": 3})
    assert causes == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: 3: supported values: "1", "2"',
            "field": "spec.n",
        }
    ]


def test_exclusive_minimum() -> None:
    schema = _spec_schema(n={"type": "number", "minimum": 1, "exclusiveMinimum": True})
    assert _one(schema, {"n": 1})[0]["message"] == (
        "Invalid value: 1: spec.n in body should be greater than 1"
    )


def test_exclusive_maximum() -> None:
    schema = _spec_schema(n={"type": "number", "maximum": 1.5, "exclusiveMaximum": True})
    assert _one(schema, {"n": 1.5})[0]["message"] == (
        "Invalid value: 1.5: spec.n in body should be less than 1.5"
    )


def test_multiple_of() -> None:
    assert _one(_spec_schema(n={"type": "integer", "multipleOf": 5}), {"n": 7}) == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 7: spec.n in body should be a multiple of 5",
            "field": "spec.n",
        }
    ]


def test_min_length() -> None:
    assert _one(_spec_schema(s={"type": "string", "minLength": 2}), {"s": "a"}) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "a": spec.s in body should be at least 2 chars long',
            "field": "spec.s",
        }
    ]


def test_max_length_counts_characters_not_bytes() -> None:
    assert _one(_spec_schema(s={"type": "string", "maxLength": 2}), {"s": "éé"}) == []


def test_max_items_is_too_many() -> None:
    schema = _spec_schema(l={"type": "array", "maxItems": 2, "items": {"type": "string"}})
    assert _one(schema, {"l": ["a", "b", "c"]}) == [
        {
            "reason": "FieldValueTooMany",
            "message": "Too many: 3: must have at most 2 items",
            "field": "spec.l",
        }
    ]


def test_min_items() -> None:
    schema = _spec_schema(l={"type": "array", "minItems": 1, "items": {"type": "string"}})
    assert _one(schema, {"l": []})[0]["message"] == (
        "Invalid value: 0: spec.l in body should have at least 1 items"
    )


def test_array_item_paths_use_indexes() -> None:
    schema = _spec_schema(l={"type": "array", "items": {"type": "integer"}})
    assert _one(schema, {"l": [1, "x"]})[0]["field"] == "spec.l[1]"
    assert "spec.l[1] in body" in _one(schema, {"l": [1, "x"]})[0]["message"]


def test_additional_properties_values_are_validated() -> None:
    schema = _spec_schema(m={"type": "object", "additionalProperties": {"type": "string"}})
    causes = _one(schema, {"m": {"k": 1}})
    assert [c["field"] for c in causes] == ["spec.m.k"]


def test_max_properties() -> None:
    schema = _spec_schema(
        m={"type": "object", "maxProperties": 2, "additionalProperties": {"type": "string"}}
    )
    assert _one(schema, {"m": {"a": "1", "b": "2", "c": "3"}}) == [
        {
            "reason": "FieldValueTooMany",
            "message": "Too many: 3: must have at most 2 items",
            "field": "spec.m",
        }
    ]


def test_date_time_format() -> None:
    schema = _spec_schema(t={"type": "string", "format": "date-time"})
    assert _one(schema, {"t": "2024-01-02T03:04:05Z"}) == []
    assert _one(schema, {"t": "yesterday"}) == [
        {
            "reason": "FieldValueTypeInvalid",
            "message": 'Invalid value: "yesterday": spec.t in body must be of type date-time: '
            '"yesterday"',
            "field": "spec.t",
        }
    ]


def test_unknown_format_is_ignored() -> None:
    assert _one(_spec_schema(t={"type": "string", "format": "whatever"}), {"t": "x"}) == []


def test_int_or_string_accepts_both() -> None:
    schema = _spec_schema(p={"x-kubernetes-int-or-string": True})
    assert _one(schema, {"p": 1}) == []
    assert _one(schema, {"p": "a"}) == []


def test_list_set_duplicate() -> None:
    schema = _spec_schema(
        l={"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "integer"}}
    )
    assert _one(schema, {"l": [1, 2, 1]}) == [
        {"reason": "FieldValueDuplicate", "message": "Duplicate value: 1", "field": "spec.l[2]"}
    ]


def test_list_set_of_one_and_true_has_no_duplicate() -> None:
    schema = _spec_schema(l={"type": "array", "x-kubernetes-list-type": "set", "items": {}})
    schema["properties"]["spec"]["properties"]["l"]["items"] = {
        "x-kubernetes-preserve-unknown-fields": True
    }
    assert _one(schema, {"l": [1, True]}) == []


def test_list_map_duplicate_with_two_keys() -> None:
    item = {
        "type": "object",
        "required": ["a", "b"],
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
    }
    schema = _spec_schema(
        l={
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["a", "b"],
            "items": item,
        }
    )
    causes = _one(schema, {"l": [{"a": "x", "b": 1}, {"a": "x", "b": 2}, {"a": "x", "b": 1}]})
    assert causes == [
        {
            "reason": "FieldValueDuplicate",
            "message": 'Duplicate value: {"a":"x","b":1}',
            "field": "spec.l[2]",
        }
    ]


def test_unchanged_invalid_value_is_ratcheted_on_update() -> None:
    schema = _spec_schema(n={"type": "integer", "maximum": 5})
    old = {"spec": {"n": 9, "m": 1}}
    assert validate({"spec": {"n": 9, "m": 2}}, schema, old=old) == []


def test_changed_invalid_value_is_reported_on_update() -> None:
    schema = _spec_schema(n={"type": "integer", "maximum": 5})
    old = {"spec": {"n": 9}}
    assert len(validate({"spec": {"n": 8}}, schema, old=old)) == 1


def test_ratcheting_tells_one_from_true() -> None:
    schema = _spec_schema(n={"type": "integer"})
    assert len(validate({"spec": {"n": True}}, schema, old={"spec": {"n": 1}})) == 1


def test_scale_causes_follow_the_schema_causes() -> None:
    schema = _spec_schema(replicas={"type": "integer", "minimum": 0})
    scale = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}
    causes = validate({"spec": {"replicas": -2}}, schema, scale=scale)
    assert [c["field"] for c in causes] == ["spec.replicas", ".spec.replicas"]
    assert causes[1]["message"] == "Invalid value: -2: should be a non-negative integer"


def test_scale_float_replicas_is_an_accessor_error() -> None:
    schema = _spec_schema(replicas={"type": "number"})
    scale = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}
    assert validate({"spec": {"replicas": 1.5}}, schema, scale=scale) == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 0: .spec.replicas accessor error: 1.5 is of the type "
            "float64, expected int64",
            "field": ".spec.replicas",
        }
    ]


def test_scale_label_selector_must_be_a_string() -> None:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    scale = {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    causes = validate({"status": {"selector": 5}}, schema, scale=scale)
    assert causes == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "": .status.selector accessor error: 5 is of the type '
            "int64, expected string",
            "field": ".status.selector",
        }
    ]


def test_status_write_ignores_an_invalid_spec() -> None:
    schema = _spec_schema(n={"type": "integer"})
    schema["properties"]["status"] = {"type": "object", "properties": {"x": {"type": "string"}}}
    obj = {"spec": {"n": "bad"}, "status": {"x": "ok"}}
    assert validate_status(obj, schema, old={"spec": {"n": "bad"}}) == []


def test_embedded_resource_needs_api_version_and_kind() -> None:
    schema = _spec_schema(
        t={
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        }
    )
    assert _one(schema, {"t": {"metadata": {}}}) == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: must not be empty",
            "field": "spec.t.apiVersion",
        },
        {
            "reason": "FieldValueRequired",
            "message": "Required value: must not be empty",
            "field": "spec.t.kind",
        },
    ]


def test_wrong_kind_is_reported_on_the_kind_field() -> None:
    obj = {"apiVersion": "g.example.com/v1", "kind": "Gadget"}
    assert type_meta_causes(obj, "g.example.com", "v1", "Widget") == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "Gadget": must be Widget',
            "field": "kind",
        }
    ]
