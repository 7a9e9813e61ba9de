"""``x-kubernetes-validations`` CEL rules on custom resources."""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver.schema.custom_resource import validate


def _schema(rules: list[dict[str, Any]], **spec_props: Any) -> dict[str, Any]:
    props = {
        "replicas": {"type": "integer"},
        "min": {"type": "integer"},
        "name": {"type": "string"},
        "ratio": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
        **spec_props,
    }
    return {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": props, "x-kubernetes-validations": rules}
        },
    }


def test_passing_rule_gives_no_cause() -> None:
    schema = _schema([{"rule": "self.replicas >= self.min"}])
    assert validate({"spec": {"replicas": 3, "min": 1}}, schema) == []


def test_failing_rule_reports_the_rule_on_the_node() -> None:
    schema = _schema([{"rule": "self.replicas >= self.min"}])
    assert validate({"spec": {"replicas": 0, "min": 1}}, schema) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "object": failed rule: self.replicas >= self.min',
            "field": "spec",
        }
    ]


def test_message_replaces_the_rule_text() -> None:
    schema = _schema([{"rule": "self.replicas < 5", "message": "too many"}])
    causes = validate({"spec": {"replicas": 9}}, schema)
    assert causes[0]["message"] == 'Invalid value: "object": too many'


def test_message_expression_is_evaluated() -> None:
    schema = _schema(
        [
            {
                "rule": "self.replicas < 5",
                "message": "static",
                "messageExpression": "'got ' + string(self.replicas)",
            }
        ]
    )
    causes = validate({"spec": {"replicas": 9}}, schema)
    assert causes[0]["message"] == 'Invalid value: "object": got 9'


def test_reason_and_field_path_shape_the_cause() -> None:
    schema = _schema(
        [{"rule": "has(self.name)", "reason": "FieldValueRequired", "fieldPath": ".name"}]
    )
    assert validate({"spec": {}}, schema) == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: failed rule: has(self.name)",
            "field": "spec.name",
        }
    ]


def test_forbidden_reason() -> None:
    schema = _schema([{"rule": "!has(self.name)", "reason": "FieldValueForbidden"}])
    causes = validate({"spec": {"name": "x"}}, schema)
    assert causes[0]["reason"] == "FieldValueForbidden"
    assert causes[0]["message"] == "Forbidden: failed rule: !has(self.name)"


def test_root_rule_reports_nil_field() -> None:
    schema = _schema([])
    schema["x-kubernetes-validations"] = [{"rule": "has(self.spec)"}]
    assert validate({}, schema)[0]["field"] == "<nil>"


def test_string_and_list_functions() -> None:
    rules = [
        {"rule": "self.name.startsWith('ab') && self.name.matches('^[a-z]+$')"},
        {"rule": "self.name.lowerAscii() == 'abc' && self.name.size() == 3"},
        {"rule": "self.tags.all(t, t != '') && self.tags.exists(t, t == 'x')"},
        {"rule": "self.tags.map(t, t + '!').filter(t, t == 'x!').size() == 1"},
        {"rule": "self.tags.join(',') == 'x,y' && self.name.split('b') == ['a', 'c']"},
    ]
    assert validate({"spec": {"name": "abc", "tags": ["x", "y"]}}, _schema(rules)) == []


def test_number_fields_are_doubles_even_when_written_as_integers() -> None:
    schema = _schema([{"rule": "self.ratio > 0.5"}])
    assert validate({"spec": {"ratio": 1}}, schema) == []


def test_rule_on_list_items_reports_the_item_index() -> None:
    schema = _schema(
        [],
        ports={
            "type": "array",
            "items": {"type": "integer", "x-kubernetes-validations": [{"rule": "self > 0"}]},
        },
    )
    causes = validate({"spec": {"ports": [1, 0]}}, schema)
    assert [c["field"] for c in causes] == ["spec.ports[1]"]
    assert causes[0]["message"] == 'Invalid value: "integer": failed rule: self > 0'


def test_transition_rule_is_skipped_on_create() -> None:
    schema = _schema([{"rule": "self.replicas >= oldSelf.replicas"}])
    assert validate({"spec": {"replicas": 1}}, schema) == []


def test_transition_rule_runs_on_update() -> None:
    schema = _schema([{"rule": "self.replicas >= oldSelf.replicas", "message": "no shrink"}])
    old = {"spec": {"replicas": 3}}
    assert validate({"spec": {"replicas": 1}}, schema, old=old) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "object": no shrink',
            "field": "spec",
        }
    ]


def test_unchanged_value_is_not_rechecked_on_update() -> None:
    schema = _schema([{"rule": "self.replicas < 2"}])
    old = {"spec": {"replicas": 5}}
    assert validate({"spec": {"replicas": 5}}, schema, old=old) == []


def test_rules_are_skipped_after_a_type_error() -> None:
    schema = _schema([{"rule": "self.replicas < 2"}])
    causes = validate({"spec": {"replicas": "x"}}, schema)
    assert causes[-1] == {
        "reason": "FieldValueInvalid",
        "message": "Invalid value: null: some validation rules were not checked because the "
        "object was invalid; correct the existing errors to complete validation",
        "field": "<nil>",
    }


def test_evaluation_error_is_reported() -> None:
    schema = _schema([{"rule": "self.replicas > 0"}])
    causes = validate({"spec": {}}, schema)
    assert len(causes) == 1
    assert causes[0]["message"] == (
        'Invalid value: "object": no such key: replicas evaluating rule: self.replicas > 0'
    )
