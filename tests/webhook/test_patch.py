"""The JSON patch a mutating webhook answers: RFC 6902 operations, RFC 6901 pointers.

Each case is checked by applying the patch with the embedded API server's own RFC 6902
implementation (``opframe/testing/apiserver/merge/patch.py``), which is separate code.
"""

from __future__ import annotations

from typing import Any

import pytest

from opframe.testing.apiserver.merge.patch import json_patch as apply_patch
from opframe.webhook._patch import json_patch

CASES: list[tuple[str, Any, Any]] = [
    ("add a key", {"a": 1}, {"a": 1, "b": {"c": [1]}}),
    ("remove a key", {"a": 1, "b": 2}, {"a": 1}),
    ("replace nested", {"a": {"b": {"c": 1}}}, {"a": {"b": {"c": 2}}}),
    ("int to float is a change", {"a": 1}, {"a": 1.0}),
    ("int to bool is a change", {"a": 1}, {"a": True}),
    ("same-length list element-wise", {"l": [1, {"x": 1}, 3]}, {"l": [1, {"x": 2}, 3]}),
    ("list grows", {"l": [1]}, {"l": [1, 2]}),
    ("list shrinks", {"l": [1, 2]}, {"l": []}),
    ("escaped keys", {"m": {}}, {"m": {"a/b": 1, "c~d": 2}}),
    ("escaped key replaced", {"m": {"a/b": 1}}, {"m": {"a/b": 2}}),
    ("object to scalar", {"a": {"b": 1}}, {"a": "flat"}),
    ("null to value", {"a": None}, {"a": 0}),
]


@pytest.mark.parametrize(("case", "before", "after"), CASES, ids=[c[0] for c in CASES])
def test_applying_the_patch_gives_the_new_document(case: str, before: Any, after: Any) -> None:
    result = apply_patch(before, json_patch(before, after))
    assert result == after
    assert type(result) is type(after)
    assert [type(v) for v in result.values()] == [type(v) for v in after.values()]


def test_equal_documents_give_an_empty_patch() -> None:
    doc = {"a": [1, {"b": None}], "c": "d"}
    assert json_patch(doc, {"a": [1, {"b": None}], "c": "d"}) == []


def test_pointers_escape_tilde_then_slash() -> None:
    assert json_patch({}, {"a~/b": 1}) == [{"op": "add", "path": "/a~0~1b", "value": 1}]
