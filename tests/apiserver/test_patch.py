"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902) as kube-apiserver applies them."""

from __future__ import annotations

from typing import Any

import pytest

from opframe.testing.apiserver.errors import StatusError
from opframe.testing.apiserver.merge.patch import json_copy, json_equal, json_patch, merge_patch

GENERIC_422 = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "the server rejected our request due to an error in our request",
    "reason": "Invalid",
    "details": {},
    "code": 422,
}


def test_merge_patch_null_removes_a_key() -> None:
    assert merge_patch({"a": 1, "b": 2}, {"b": None}) == {"a": 1}


def test_merge_patch_merges_nested_objects() -> None:
    assert merge_patch({"m": {"x": 1}}, {"m": {"y": 2}}) == {"m": {"x": 1, "y": 2}}


def test_merge_patch_replaces_lists_whole() -> None:
    assert merge_patch({"l": [1, 2, 3]}, {"l": [4]}) == {"l": [4]}


def test_merge_patch_does_not_change_its_arguments() -> None:
    target = {"m": {"x": 1}}
    patch = {"m": {"x": None, "l": [1]}}
    merge_patch(target, patch)
    assert target == {"m": {"x": 1}} and patch == {"m": {"x": None, "l": [1]}}


def test_merge_patch_that_is_not_an_object_replaces_the_document() -> None:
    assert merge_patch({"a": 1}, [1, 2]) == [1, 2]


def test_merge_patch_null_inside_a_new_object_is_dropped() -> None:
    assert merge_patch({}, {"m": {"x": None, "y": 1}}) == {"m": {"y": 1}}


def test_json_patch_add_replace_remove() -> None:
    doc = {"data": {"a": "1", "c": "3"}}
    ops = [
        {"op": "add", "path": "/data/e", "value": "5"},
        {"op": "replace", "path": "/data/a", "value": "10"},
        {"op": "remove", "path": "/data/c"},
    ]
    assert json_patch(doc, ops) == {"data": {"a": "10", "e": "5"}}


def test_json_patch_tilde_escapes_name_slash_and_tilde() -> None:
    doc: dict[str, Any] = {"a": {}}
    ops = [
        {"op": "add", "path": "/a/example.com~1c", "value": 1},
        {"op": "add", "path": "/a/x~0y", "value": 2},
    ]
    assert json_patch(doc, ops) == {"a": {"example.com/c": 1, "x~y": 2}}


def test_json_patch_dash_appends_to_a_list() -> None:
    assert json_patch({"l": [1]}, [{"op": "add", "path": "/l/-", "value": 2}]) == {"l": [1, 2]}


def test_json_patch_add_inserts_at_an_index() -> None:
    assert json_patch({"l": [1, 3]}, [{"op": "add", "path": "/l/1", "value": 2}]) == {
        "l": [1, 2, 3]
    }


def test_json_patch_move_and_copy() -> None:
    doc = {"a": {"x": 1}, "b": {}}
    ops = [
        {"op": "copy", "from": "/a/x", "path": "/b/y"},
        {"op": "move", "from": "/a/x", "path": "/b/z"},
    ]
    assert json_patch(doc, ops) == {"a": {}, "b": {"y": 1, "z": 1}}


def test_json_patch_failing_test_applies_nothing_and_is_a_generic_422() -> None:
    doc = {"data": {"a": "10"}}
    ops = [
        {"op": "add", "path": "/data/g", "value": "7"},
        {"op": "test", "path": "/data/a", "value": "999"},
    ]
    with pytest.raises(StatusError) as caught:
        json_patch(doc, ops)
    assert caught.value.body() == GENERIC_422
    assert doc == {"data": {"a": "10"}}


@pytest.mark.parametrize(
    "op",
    [
        {"op": "remove", "path": "/data/nope"},
        {"op": "replace", "path": "/data/nope", "value": 1},
        {"op": "add", "path": "/missing/child", "value": 1},
        {"op": "add", "path": "/l/5", "value": 1},
        {"op": "add", "path": "/l/01", "value": 1},
        {"op": "add", "path": "no-slash", "value": 1},
        {"op": "frobnicate", "path": "/data"},
    ],
)
def test_json_patch_operation_that_cannot_apply_is_a_generic_422(op: dict[str, Any]) -> None:
    with pytest.raises(StatusError) as caught:
        json_patch({"data": {}, "l": [0]}, [op])
    assert caught.value.body() == GENERIC_422


def test_json_patch_body_that_is_not_a_list_is_a_400() -> None:
    with pytest.raises(StatusError) as caught:
        json_patch({}, {"op": "add"})
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")
    assert "jsonpatch.Patch" in caught.value.message


def test_json_patch_test_compares_json_values_not_python_ones() -> None:
    with pytest.raises(StatusError):
        json_patch({"a": True}, [{"op": "test", "path": "/a", "value": 1}])
    assert json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}]) == {"a": 1}


def test_json_patch_negative_index_counts_from_the_end() -> None:
    assert json_patch({"l": [1, 2, 3]}, [{"op": "remove", "path": "/l/-1"}]) == {"l": [1, 2]}


def test_json_equal_distinguishes_booleans_from_numbers() -> None:
    assert not json_equal(True, 1)
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})


def test_json_patch_test_for_null_passes_on_a_missing_member() -> None:
    assert json_patch({"a": {}}, [{"op": "test", "path": "/a/b", "value": None}]) == {"a": {}}


@pytest.mark.parametrize(
    "doc",
    [
        {"spec": {"replicas": 3, "ratio": 0.1, "tiny": 1e-7, "on": True, "off": None}},
        {"big": 2**70, "negative": -(2**64), "list": [[1, 2], {"a": [3.5]}]},
        {"off": False, "text": "é<>&", "empty": {}, "none": []},
    ],
)
def test_json_copy_is_an_equal_document_that_shares_nothing(doc: dict[str, Any]) -> None:
    """The write path copies the live object before patching it: the copy must be equal
    value for value (integers beyond 64 bits included) and mutating it must leave the
    original untouched."""
    copy = json_copy(doc)
    assert copy == doc
    assert [type(v) for v in copy.values()] == [type(v) for v in doc.values()]
    copy.setdefault("added", 1)
    for value in copy.values():
        if isinstance(value, dict):
            value["changed"] = True
        elif isinstance(value, list):
            value.append("changed")
    assert "added" not in doc
    assert all("changed" not in v for v in doc.values() if isinstance(v, dict | list))
