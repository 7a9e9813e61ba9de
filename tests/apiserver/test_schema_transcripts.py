"""Pruning, defaulting and validation checked against the recorded real-server answers.

Each test takes a CRD schema and a request body straight from a conformance transcript, runs
the schema functions the server runs (prune -> default -> validate) and compares the result
with what kube-apiserver answered: the 422 causes, the ``Warning`` header, the Strict-mode 400
message, or the stored ``spec``.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from opframe.testing.apiserver.errors import invalid
from opframe.testing.apiserver.schema.custom_resource import (
    apply_defaults,
    prune,
    strict_error,
    unknown_field_warnings,
    validate,
    validate_status,
)

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"


@cache
def _transcript(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONFORMANCE / f"{name}.json").read_text())
    return data


def _step(name: str, step_id: str) -> dict[str, Any]:
    for step in _transcript(name)["steps"]:
        if step["id"] == step_id:
            return copy.deepcopy(step)
    raise KeyError(step_id)


def _crd_version(name: str) -> dict[str, Any]:
    crd = _step(name, "create-crd")["request"]["body"]
    version: dict[str, Any] = crd["spec"]["versions"][0]
    return version


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = _crd_version(name)["schema"]["openAPIV3Schema"]
    return schema


def _scale(name: str) -> dict[str, Any]:
    scale: dict[str, Any] = _crd_version(name)["subresources"]["scale"]
    return scale


def _merge_patch(target: Any, patch: Any) -> Any:
    # RFC 7386, enough for the transcripts' bodies.
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


def _create(name: str, step_id: str) -> tuple[dict[str, Any], list[str], list[Any]]:
    """Run a recorded create body through the server's schema steps."""
    obj = _step(name, step_id)["request"]["body"]
    schema = _schema(name)
    unknown = prune(obj, schema)
    apply_defaults(obj, schema)
    causes = validate(obj, schema, scale=_scale(name))
    return obj, unknown, list(causes)


def _recorded_causes(step: dict[str, Any]) -> list[dict[str, str]]:
    causes: list[dict[str, str]] = step["response"]["body"]["details"]["causes"]
    return causes


CR_VALIDATION_422 = [
    "wrong-type",
    "missing-required",
    "enum",
    "minimum",
    "maximum",
    "pattern",
    "nested-required",
    "max-length",
    "number-range",
    "list-map-duplicate",
    "list-set-duplicate",
    "spec-not-object",
    "int-or-string-bool",
]


@pytest.mark.parametrize("step_id", CR_VALIDATION_422)
def test_invalid_create_has_the_recorded_causes_in_order(step_id: str) -> None:
    step = _step("cr-validation", step_id)
    _, _, causes = _create("cr-validation", step_id)
    assert causes == _recorded_causes(step)


@pytest.mark.parametrize("step_id", CR_VALIDATION_422)
def test_invalid_create_has_the_recorded_status_message(step_id: str) -> None:
    step = _step("cr-validation", step_id)
    _, _, causes = _create("cr-validation", step_id)
    body = step["response"]["body"]
    details = body["details"]
    err = invalid(details["kind"], details["name"], causes, details["group"])
    assert err.message == body["message"]


def test_several_errors_are_all_reported_in_any_order() -> None:
    step = _step("cr-validation", "several-errors")
    _, _, causes = _create("cr-validation", "several-errors")
    key = lambda c: (c["field"], c["reason"], c["message"])  # noqa: E731
    assert sorted(causes, key=key) == sorted(_recorded_causes(step), key=key)


CR_VALIDATION_CREATED = [
    "create-defaults",
    "unknown-fields-pruned",
    "int-or-string-int",
    "int-or-string-string",
    "preserve-unknown",
    "null-gets-default",
    "explicit-values-kept",
    "unknown-fields-ignore",
]


@pytest.mark.parametrize("step_id", CR_VALIDATION_CREATED)
def test_valid_create_stores_the_recorded_spec(step_id: str) -> None:
    step = _step("cr-validation", step_id)
    obj, _, causes = _create("cr-validation", step_id)
    assert causes == []
    assert obj["spec"] == step["response"]["body"]["spec"]
    assert set(obj) <= set(step["response"]["body"])


@pytest.mark.parametrize("step_id", CR_VALIDATION_CREATED)
def test_pruned_fields_give_the_recorded_warning_header(step_id: str) -> None:
    step = _step("cr-validation", step_id)
    _, unknown, _ = _create("cr-validation", step_id)
    expected = step["response"]["headers"].get("Warning")
    if step["request"]["query"].get("fieldValidation") == "Ignore":
        expected = None
        assert unknown == ["spec.bogus"]
    got = ", ".join(unknown_field_warnings(unknown)) or None
    if step["request"]["query"].get("fieldValidation") == "Ignore":
        got = None
    assert got == expected


def test_strict_field_validation_answers_the_recorded_bad_request() -> None:
    step = _step("cr-validation", "unknown-fields-strict")
    _, unknown, _ = _create("cr-validation", "unknown-fields-strict")
    err = strict_error("Widget", "v1", unknown)
    assert err.code == step["response"]["status"]
    assert err.body() == step["response"]["body"]


def test_status_write_validates_status_with_paths_relative_to_status() -> None:
    name = "cr-generation-subresources"
    old = _step(name, "status-patch")["response"]["body"]
    patch = _step(name, "status-invalid")["request"]["body"]
    new = _merge_patch(old, patch)
    new["spec"] = copy.deepcopy(old["spec"])
    schema = _schema(name)
    prune(new, schema)
    apply_defaults(new, schema)
    causes = validate_status(new, schema, old=old, scale=_scale(name))
    assert causes == _recorded_causes(_step(name, "status-invalid"))


def test_scale_write_validates_the_main_object_against_the_schema() -> None:
    name = "cr-generation-subresources"
    old = _step(name, "after-scale-put")["response"]["body"]
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 11
    causes = validate(new, _schema(name), old=old, scale=_scale(name))
    assert causes == _recorded_causes(_step(name, "scale-out-of-range"))


def test_merge_patch_null_removal_brings_the_default_back() -> None:
    name = "cr-patch"
    old = _step(name, "create")["response"]["body"]
    step = _step(name, "merge-null-removal")
    new = _merge_patch(old, step["request"]["body"])
    schema = _schema(name)
    assert prune(new, schema) == []
    apply_defaults(new, schema)
    assert validate(new, schema, old=old, scale=_scale(name)) == []
    assert new["spec"] == step["response"]["body"]["spec"]


def test_merge_patch_with_an_invalid_result_has_the_recorded_cause() -> None:
    name = "cr-patch"
    old = _step(name, "merge-replaces-lists")["response"]["body"]
    step = _step(name, "merge-invalid-result")
    new = _merge_patch(old, step["request"]["body"])
    causes = validate(new, _schema(name), old=old, scale=_scale(name))
    assert causes == _recorded_causes(step)


def test_server_side_apply_of_an_invalid_object_has_the_recorded_cause() -> None:
    name = "server-side-apply"
    step = _step(name, "apply-invalid")
    obj = step["request"]["body"]
    schema = _schema(name)
    prune(obj, schema)
    apply_defaults(obj, schema)
    assert validate(obj, schema, scale=_scale(name)) == _recorded_causes(step)


def test_every_recorded_custom_resource_create_passes_or_fails_as_recorded() -> None:
    for path in sorted(CONFORMANCE.glob("*.json")):
        name = path.stem
        data = _transcript(name)
        try:
            schema = _schema(name)
            scale = _crd_version(name).get("subresources", {}).get("scale")
        except KeyError:
            continue
        for step in data["steps"]:
            req = step.get("request") or {}
            body = req.get("body")
            if (
                req.get("method") != "POST"
                or not isinstance(body, dict)
                or body.get("kind") != "Widget"
            ):
                continue
            obj = copy.deepcopy(body)
            prune(obj, schema)
            apply_defaults(obj, schema)
            causes = validate(obj, schema, scale=scale)
            status = step["response"]["status"]
            recorded = step["response"]["body"] or {}
            if status == 201:
                assert causes == [], (name, step["id"])
                assert obj.get("spec") == recorded.get("spec"), (name, step["id"])
            elif status == 422:
                fields = {c["field"] for c in recorded["details"]["causes"]}
                if fields & {"metadata.name", "kind"}:
                    continue  # metadata and kind are checked by the server core
                assert {c["field"] for c in causes} == fields, (name, step["id"])
