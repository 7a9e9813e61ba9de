"""Pruning of unknown fields and structural defaulting of custom resources."""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver.schema.custom_resource import (
    apply_defaults,
    prune,
    strict_error,
    unknown_field_warnings,
)

SPEC = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "a": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"known": {"type": "object", "properties": {}}},
                },
                "items": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"n": {"type": "integer"}}},
                },
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "properties": {}}},
                },
            },
        }
    },
}


def _obj(spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"}, "spec": spec, **extra}


def test_root_type_and_object_meta_are_never_pruned() -> None:
    obj = _obj({})
    assert prune(obj, SPEC) == []
    assert obj == _obj({})


def test_unknown_fields_are_removed_and_reported_sorted() -> None:
    obj = _obj({"a": "x", "zz": 1, "b": {"c": 1}}, top=1)
    assert prune(obj, SPEC) == ["spec.b", "spec.zz", "top"]
    assert obj == _obj({"a": "x"})


def test_unknown_metadata_fields_come_first() -> None:
    obj = _obj({"zz": 1})
    obj["metadata"]["bogus"] = 1
    assert prune(obj, SPEC) == ["metadata.bogus", "spec.zz"]
    assert obj["metadata"] == {"name": "x"}


def test_additional_properties_keep_every_key() -> None:
    obj = _obj({"labels": {"a": "1", "b": "2"}})
    assert prune(obj, SPEC) == []
    assert obj["spec"]["labels"] == {"a": "1", "b": "2"}


def test_preserve_unknown_fields_keeps_the_subtree_but_prunes_declared_fields() -> None:
    obj = _obj({"free": {"anything": [1, {"x": 2}], "known": {"drop": 1}}})
    assert prune(obj, SPEC) == ["spec.free.known.drop"]
    assert obj["spec"]["free"] == {"anything": [1, {"x": 2}], "known": {}}


def test_array_items_are_pruned_with_their_index_in_the_path() -> None:
    obj = _obj({"items": [{"n": 1}, {"n": 2, "x": 3}]})
    assert prune(obj, SPEC) == ["spec.items[1].x"]


def test_embedded_resource_keeps_type_and_meta_and_prunes_meta_to_object_meta() -> None:
    template = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "junk": 1},
        "spec": {"drop": 1},
        "extra": 2,
    }
    obj = _obj({"template": template})
    assert prune(obj, SPEC) == [
        "spec.template.extra",
        "spec.template.spec.drop",
        "spec.template.metadata.junk",
    ]
    assert obj["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {},
    }


def test_warning_header_values_escape_quotes() -> None:
    assert unknown_field_warnings(["spec.a", "b"]) == [
        '299 - "unknown field \\"spec.a\\""',
        '299 - "unknown field \\"b\\""',
    ]


def test_strict_error_joins_every_unknown_field() -> None:
    err = strict_error("Widget", "v1", ["spec.a", "spec.b"])
    assert err.code == 400
    assert err.message == (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: '
        'unknown field "spec.a", unknown field "spec.b"'
    )


DEFAULTS = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "n": {"type": "integer", "default": 1},
                "s": {"type": "string"},
                "ns": {"type": "string", "nullable": True, "default": "d"},
                "obj": {
                    "type": "object",
                    "default": {},
                    "properties": {"inner": {"type": "string", "default": "i"}},
                },
                "list": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"k": {"type": "string", "default": "kk"}},
                    },
                },
                "map": {
                    "type": "object",
                    "additionalProperties": {"type": "string", "default": "m"},
                },
            },
        }
    },
}


def test_missing_fields_get_defaults_and_defaulting_continues_inside() -> None:
    obj: dict[str, Any] = {"spec": {}}
    apply_defaults(obj, DEFAULTS)
    assert obj["spec"] == {"n": 1, "ns": "d", "obj": {"inner": "i"}}


def test_explicit_zero_values_are_kept() -> None:
    obj: dict[str, Any] = {"spec": {"n": 0, "obj": {"inner": ""}}}
    apply_defaults(obj, DEFAULTS)
    assert obj["spec"]["n"] == 0
    assert obj["spec"]["obj"] == {"inner": ""}


def test_null_of_non_nullable_field_with_default_is_defaulted() -> None:
    obj: dict[str, Any] = {"spec": {"n": None}}
    apply_defaults(obj, DEFAULTS)
    assert obj["spec"]["n"] == 1


def test_null_of_non_nullable_field_without_default_is_dropped() -> None:
    obj: dict[str, Any] = {"spec": {"s": None}}
    apply_defaults(obj, DEFAULTS)
    assert "s" not in obj["spec"]


def test_null_of_nullable_field_is_kept() -> None:
    obj: dict[str, Any] = {"spec": {"ns": None}}
    apply_defaults(obj, DEFAULTS)
    assert obj["spec"]["ns"] is None


def test_array_items_and_map_values_are_defaulted() -> None:
    obj: dict[str, Any] = {"spec": {"list": [{}, {"k": "x"}], "map": {"a": None, "b": "v"}}}
    apply_defaults(obj, DEFAULTS)
    assert obj["spec"]["list"] == [{"k": "kk"}, {"k": "x"}]
    assert obj["spec"]["map"] == {"a": "m", "b": "v"}


def test_defaults_are_copies() -> None:
    first: dict[str, Any] = {"spec": {}}
    second: dict[str, Any] = {"spec": {}}
    apply_defaults(first, DEFAULTS)
    apply_defaults(second, DEFAULTS)
    first["spec"]["obj"]["inner"] = "changed"
    assert second["spec"]["obj"]["inner"] == "i"
    assert DEFAULTS["properties"]["spec"]["properties"]["obj"]["default"] == {}  # type: ignore[index]
