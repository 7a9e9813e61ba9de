"""Strict decoding of built-in objects (apimachinery/pkg/runtime/serializer/json/json.go,
sigs.k8s.io/json): type errors are fatal, unknown and duplicate fields are strict errors."""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver.schema.builtin_decoding import decode, drop_unknown


def _pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def test_an_unknown_field_is_named_by_its_path() -> None:
    result = decode("", "v1", "Pod", _pod(containers=[{"name": "a", "imagee": "x"}]))
    assert result.strict == ['unknown field "spec.containers[0].imagee"']


def test_unknown_fields_are_dropped() -> None:
    obj = _pod(contaners=[], containers=[])
    drop_unknown(obj, decode("", "v1", "Pod", obj))
    assert obj["spec"] == {"containers": []}


def test_a_duplicate_field_is_found_in_the_raw_body() -> None:
    raw = b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","name":"q"}}'
    result = decode("", "v1", "Pod", {}, raw)
    assert result.strict == ['duplicate field "metadata.name"']


def test_strict_errors_keep_the_order_of_the_body() -> None:
    raw = b'{"spec":{"zeta":1,"containers":[],"containers":[],"alpha":2}}'
    result = decode("", "v1", "Pod", {}, raw)
    assert result.strict == [
        'unknown field "spec.zeta"',
        'duplicate field "spec.containers"',
        'unknown field "spec.alpha"',
    ]


def test_a_string_for_an_int32_names_the_go_struct_and_type() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "two"}}
    result = decode("apps", "v1", "Deployment", obj)
    assert result.type_error == (
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of "
        "type int32"
    )


def test_an_int64_field_is_named_int64() -> None:
    result = decode("", "v1", "Pod", _pod(terminationGracePeriodSeconds="30"))
    assert result.type_error.endswith("PodSpec.spec.terminationGracePeriodSeconds of type int64")


def test_a_list_given_an_object_names_the_slice_type() -> None:
    result = decode("", "v1", "Pod", _pod(containers={"name": "a"}))
    assert result.type_error == (
        "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type "
        "[]v1.Container"
    )


def test_a_fraction_for_an_integer_quotes_the_number() -> None:
    result = decode("", "v1", "Pod", _pod(activeDeadlineSeconds=1.5))
    assert result.type_error.startswith("json: cannot unmarshal number 1.5 into Go struct field")


def test_quantities_take_numbers() -> None:
    container = {"name": "a", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}
    assert decode("", "v1", "Pod", _pod(containers=[container])).type_error == ""


def test_int_or_string_takes_both() -> None:
    obj = {"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}}}
    result = decode("apps", "v1", "Deployment", obj)
    assert (result.type_error, result.strict) == ("", [])


def test_an_int32_out_of_range_is_a_type_error() -> None:
    """encoding/json: the number does not fit the Go type."""
    obj = {"spec": {"replicas": 3_000_000_000}}
    assert decode("apps", "v1", "Deployment", obj).type_error == (
        "json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec."
        "replicas of type int32"
    )


def test_a_quantity_in_the_wrong_format_is_refused() -> None:
    """api/resource/quantity.go UnmarshalJSON: ErrFormatWrong."""
    container = {"name": "a", "resources": {"limits": {"cpu": "lots"}}}
    assert decode("", "v1", "Pod", _pod(containers=[container])).type_error == (
        "quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_an_int_or_string_given_a_bool_is_refused() -> None:
    """util/intstr IntOrString.UnmarshalJSON: not a string, so an int32."""
    obj = {"spec": {"strategy": {"rollingUpdate": {"maxSurge": True}}}}
    assert decode("apps", "v1", "Deployment", obj).type_error == (
        "json: cannot unmarshal bool into Go value of type int32"
    )
