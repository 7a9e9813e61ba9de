"""opframe.crd: every construct of the model zoo becomes the structural schema Kubernetes wants."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
import yaml
from pydantic import Field

from opframe.crd import ListType, Scale, crd_for, crd_yaml, crds_for, schema_for
from opframe.errors import SchemaError
from opframe.kinds import Pod
from opframe.resource import KubeModel, Resource
from tests import models_zoo as zoo
from tests.structural_check import structural_problems, value_problems

try:
    from opframe.testing.apiserver.schema.custom_resource import structural_errors
except ImportError:  # the API server's checker is another piece; the oracle still runs
    structural_errors = None  # type: ignore[assignment]

CRD_MODELS: list[tuple[type[Resource], ...]] = [
    (zoo.Gizmo,),
    (zoo.Backup,),
    (zoo.TenantV1Alpha1, zoo.TenantV1),
]


def _spec(model: type[Resource] = zoo.Gizmo) -> dict[str, Any]:
    return schema_for(model)["properties"]["spec"]  # type: ignore[no-any-return]


def _prop(name: str) -> dict[str, Any]:
    return _spec()["properties"][name]  # type: ignore[no-any-return]


@pytest.mark.parametrize("models", CRD_MODELS, ids=lambda ms: ms[0].__name__)
def test_generated_schemas_are_structural(models: tuple[type[Resource], ...]) -> None:
    for version in crd_for(*models)["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        assert structural_problems(schema) == []


@pytest.mark.skipif(structural_errors is None, reason="API server schema checks not available")
@pytest.mark.parametrize("models", CRD_MODELS, ids=lambda ms: ms[0].__name__)
def test_api_server_checker_accepts_generated_schemas(models: tuple[type[Resource], ...]) -> None:
    assert structural_errors is not None
    for version in crd_for(*models)["spec"]["versions"]:
        assert structural_errors(version["schema"]["openAPIV3Schema"]) == []


def test_the_oracle_rejects_what_kubernetes_rejects() -> None:
    bad = {
        "type": "object",
        "properties": {
            "a": {"$ref": "#/definitions/x"},
            "b": {"nullable": True, "x-kubernetes-preserve-unknown-fields": True},
            "c": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "d": {"type": "integer", "default": "three"},
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
        },
    }
    problems = "\n".join(structural_problems(bad))
    for expected in (
        "$ref is forbidden",
        "nullable without a type",
        "type is forbidden inside a value validation",
        "'three' is not of type integer",
        "only name/generateName",
    ):
        assert expected in problems


def test_crd_has_names_scope_and_group() -> None:
    crd = crd_for(zoo.Gizmo)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"] == {"name": "gizmos.zoo.opframe.dev"}
    assert crd["spec"]["group"] == "zoo.opframe.dev"
    assert crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["names"] == {
        "kind": "Gizmo",
        "listKind": "GizmoList",
        "plural": "gizmos",
        "singular": "gizmo",
        "shortNames": ["gz"],
        "categories": ["zoo"],
    }


def test_root_has_type_meta_and_bare_metadata() -> None:
    root = schema_for(zoo.Gizmo)
    assert root["type"] == "object"
    assert root["properties"]["metadata"] == {"type": "object"}
    assert root["properties"]["apiVersion"]["type"] == "string"
    assert root["properties"]["kind"]["type"] == "string"
    assert root["required"] == ["spec"]


def test_model_docstring_is_the_description() -> None:
    assert schema_for(zoo.Gizmo)["description"] == (
        "A gizmo: every construct the CRD generator supports."
    )
    assert _prop("leaf")["description"] == "A nested model."


def test_field_descriptions_come_from_field_and_attribute_docstring() -> None:
    assert _prop("count")["description"] == "Described by Field(description=...)."
    assert _prop("text")["description"] == "A required string, described by an attribute docstring."


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("text", {"type": "string"}),
        ("ratio", {"type": "number", "default": 0.5}),
        ("enabled", {"type": "boolean", "default": True}),
        ("blob", {"type": "string", "format": "byte", "nullable": True}),
        ("when", {"type": "string", "format": "date-time", "nullable": True}),
        ("day", {"type": "string", "format": "date", "nullable": True}),
        ("ident", {"type": "string", "format": "uuid", "nullable": True}),
        ("number", {"type": "number", "default": 1}),
        ("optional_text", {"type": "string", "nullable": True}),
        ("legacy_optional", {"type": "integer", "nullable": True}),
    ],
)
def test_scalar_types(field: str, expected: dict[str, Any]) -> None:
    node = dict(_prop(_wire(field)))
    node.pop("description", None)
    assert node == expected


def _wire(field: str) -> str:
    return zoo.GizmoSpec.model_fields[field].alias or field


def test_required_lists_fields_without_default() -> None:
    assert _spec()["required"] == ["text"]


def test_enums_from_enum_classes_and_literals() -> None:
    assert _prop("color")["enum"] == ["red", "green"]
    assert _prop("color")["type"] == "string"
    assert _prop("color")["default"] == "red"
    assert (_prop("level")["type"], _prop("level")["enum"]) == ("integer", [1, 2])
    assert _prop("mode")["enum"] == ["fast", "slow"]
    assert _prop("either")["enum"] == ["a", "b"]


def test_int_or_string_union() -> None:
    assert _prop("targetPort") == {
        "default": 8080,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
    }


class _SizeSpec(KubeModel):
    size: Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern=r"^[0-9]+Mi$", max_length=8)]


class _Sized(Resource, group="zoo.opframe.dev", version="v1"):
    spec: _SizeSpec


def test_int_or_string_branch_constraints_go_on_the_one_node() -> None:
    # controller-gen's resource.Quantity: the API server applies pattern and lengths to
    # strings and minimum to integers, which is what the pydantic union means.
    size = schema_for(_Sized)["properties"]["spec"]["properties"]["size"]
    assert size == {
        "minimum": 0,
        "maxLength": 8,
        "pattern": "^[0-9]+Mi$",
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
    }
    assert list(size) == ["minimum", "maxLength", "pattern", "anyOf", "x-kubernetes-int-or-string"]
    assert structural_problems(schema_for(_Sized)) == []


def test_lists_sets_and_tuples_are_arrays() -> None:
    assert _prop("tags") == {"type": "array", "items": {"type": "string"}}
    assert _prop("unique")["x-kubernetes-list-type"] == "set"
    assert _prop("frozenItems") == {"type": "array", "items": {"type": "integer"}}


def test_maps_use_additional_properties() -> None:
    assert _prop("labels") == {"type": "object", "additionalProperties": {"type": "string"}}
    assert _prop("limits")["additionalProperties"]["x-kubernetes-int-or-string"] is True
    assert _prop("nestedMap")["additionalProperties"] == {
        "type": "array",
        "items": {"type": "integer"},
    }
    assert _prop("keyedByColor")["additionalProperties"] == {"type": "integer"}


def test_nested_models_are_inlined_without_refs() -> None:
    assert "$ref" not in crd_yaml(zoo.Gizmo)
    leaf = _prop("leaf")
    assert leaf["properties"] == {"value": {"type": "string", "default": "leaf"}}
    assert leaf["default"] == {"value": "leaf"}
    assert _prop("optionalLeaf")["nullable"] is True
    assert _prop("leaves")["items"]["type"] == "object"


def test_plain_pydantic_models_keep_their_field_names() -> None:
    assert "some_field" in _prop("plain")["properties"]


def test_list_and_map_types() -> None:
    ports = _prop("ports")
    assert ports["x-kubernetes-list-type"] == "map"
    assert ports["x-kubernetes-list-map-keys"] == ["name"]
    assert _prop("atomicList")["x-kubernetes-list-type"] == "atomic"
    assert _prop("setList")["x-kubernetes-list-type"] == "set"
    assert _prop("atomicMap")["x-kubernetes-map-type"] == "atomic"
    assert _prop("atomicLeaf")["x-kubernetes-map-type"] == "atomic"


def test_preserve_unknown_fields_and_embedded_resources() -> None:
    assert _prop("free") == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert _prop("anything") == {"x-kubernetes-preserve-unknown-fields": True}
    partly = _prop("partlyKnown")
    assert partly["properties"] and partly["x-kubernetes-preserve-unknown-fields"] is True
    assert _prop("template") == {
        "type": "object",
        "nullable": True,
        "x-kubernetes-embedded-resource": True,
        "x-kubernetes-preserve-unknown-fields": True,
    }


def test_numeric_constraints() -> None:
    assert _prop("bounded") == {
        "type": "integer",
        "default": 5,
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 100,
        "exclusiveMaximum": True,
        "multipleOf": 5,
    }
    assert (_prop("inclusive")["minimum"], _prop("inclusive")["maximum"]) == (0.0, 1.0)
    assert _prop("ports")["items"]["properties"]["port"]["maximum"] == 65535


def test_string_constraints() -> None:
    name = _prop("name")
    assert (name["minLength"], name["maxLength"], name["pattern"]) == (1, 63, "^[a-z][-a-z0-9]*$")
    constrained = _prop("constrained")
    assert (constrained["minLength"], constrained["pattern"]) == (2, "^[A-Z]+$")


def test_collection_length_constraints() -> None:
    assert (_prop("itemsBounded")["minItems"], _prop("itemsBounded")["maxItems"]) == (1, 3)
    assert _prop("propsBounded")["maxProperties"] == 8
    assert _prop("itemConstraints")["items"] == {"type": "integer", "minimum": 0}


def test_defaults_are_written_but_empty_containers_are_not() -> None:
    assert _prop("itemsBounded")["default"] == ["one"]
    assert "default" not in _prop("tags")
    assert "default" not in _prop("labels")
    assert "default" not in _prop("optionalText")


def test_cel_rules_on_fields_models_and_the_resource() -> None:
    assert _prop("odd")["x-kubernetes-validations"] == [
        {"rule": "self % 2 == 1", "message": "must be odd"}
    ]
    assert _prop("immutable")["x-kubernetes-validations"] == [
        {"rule": "self == oldSelf", "message": "immutable", "reason": "FieldValueForbidden"}
    ]
    assert _prop("exclusive")["x-kubernetes-validations"][0]["rule"] == "has(self.a) != has(self.b)"
    assert schema_for(zoo.Gizmo)["x-kubernetes-validations"] == [
        {"rule": "self.metadata.name.size() <= 40", "message": "name too long"}
    ]


def test_excluded_fields_are_not_in_the_schema() -> None:
    assert "hidden" not in _spec()["properties"]


def test_printer_columns_from_fields_then_class() -> None:
    (version,) = crd_for(zoo.Gizmo)["spec"]["versions"]
    assert version["additionalPrinterColumns"] == [
        {"name": "Phase", "type": "string", "jsonPath": ".spec.phase", "priority": 1},
        {"name": "Replicas", "type": "integer", "jsonPath": ".status.replicas"},
        {"name": "Count", "type": "integer", "jsonPath": ".spec.count"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def test_date_time_field_column_is_a_date_column() -> None:
    (version,) = crd_for(zoo.Backup)["spec"]["versions"]
    last = version["additionalPrinterColumns"][0]
    assert last == {"name": "Last", "type": "date", "jsonPath": ".status.lastSnapshotTime"}


def test_status_and_scale_subresources() -> None:
    (version,) = crd_for(zoo.Gizmo)["spec"]["versions"]
    assert version["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.count",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }


def test_no_subresources_without_status_or_scale() -> None:
    (version,) = crd_for(zoo.TenantV1Alpha1, zoo.TenantV1)["spec"]["versions"][1:]
    assert "subresources" not in version


def test_versions_merge_into_one_crd_newest_first_with_one_storage() -> None:
    crd = crd_for(zoo.TenantV1Alpha1, zoo.TenantV1)
    versions = crd["spec"]["versions"]
    assert [(v["name"], v["served"], v["storage"]) for v in versions] == [
        ("v1", True, True),
        ("v1alpha1", True, False),
    ]
    assert versions[1]["deprecated"] is True
    assert "deprecated" in versions[1]["deprecationWarning"]
    assert crd_for(zoo.TenantV1, zoo.TenantV1Alpha1) == crd


def test_crds_for_groups_models_by_kind() -> None:
    crds = crds_for(zoo.Gizmo, zoo.TenantV1, zoo.Backup, zoo.TenantV1Alpha1)
    assert [c["metadata"]["name"] for c in crds] == [
        "gizmos.zoo.opframe.dev",
        "tenants.zoo.opframe.dev",
        "backups.zoo.opframe.dev",
    ]
    assert len(crds[1]["spec"]["versions"]) == 2


def test_yaml_is_one_document_per_crd_and_parses_back() -> None:
    text = crd_yaml(zoo.Gizmo, zoo.Backup)
    assert text.count("---\n") == 2
    assert list(yaml.safe_load_all(text)) == crds_for(zoo.Gizmo, zoo.Backup)


def test_defaults_validate_against_their_schema() -> None:
    for models in CRD_MODELS:
        for version in crd_for(*models)["spec"]["versions"]:
            problems = structural_problems(version["schema"]["openAPIV3Schema"])
            assert [p for p in problems if ".default" in p] == []


def test_a_spec_built_from_defaults_validates_against_the_schema() -> None:
    spec = zoo.GizmoSpec(text="t").to_dict()
    assert value_problems(spec, _spec()) == []


# --- refusals --------------------------------------------------------------------------------


def test_recursive_model_is_refused_naming_model_and_field() -> None:
    with pytest.raises(SchemaError) as err:
        crd_for(zoo.BadRecursive)
    message = str(err.value)
    assert "BadRecursive.spec.root.children[]" in message
    assert "recursive model 'TreeNode'" in message
    assert "field 'children' of TreeNode" in message


def test_union_of_models_is_refused() -> None:
    with pytest.raises(SchemaError, match=r"BadUnion\.spec\.pet .*union of different types"):
        crd_for(zoo.BadUnion)


def test_bare_any_is_refused() -> None:
    with pytest.raises(SchemaError, match=r"BadAny\.spec\.payload .*PreserveUnknownFields"):
        crd_for(zoo.BadAny)


def test_map_of_any_is_refused_without_preserve_unknown_fields() -> None:
    with pytest.raises(SchemaError, match=r"BadMapOfAny\.spec\.settings .*PreserveUnknownFields"):
        crd_for(zoo.BadMapOfAny)


def _resource_with(annotation: Any, **keywords: Any) -> type[Resource]:
    spec = type("OneFieldSpec", (KubeModel,), {"__annotations__": {"x": annotation}})
    namespace = {"__annotations__": {"spec": spec}}
    options = {"group": zoo.GROUP, "version": "v1", **keywords}
    return type("OneField", (Resource,), namespace, **options)


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (dict[int, str], "map keys must be strings"),
        (tuple[int, str], "only homogeneous tuples"),
        (Literal["a", 1], "mix types"),
        (complex, "has no structural schema"),
    ],
)
def test_inexpressible_types_are_refused(annotation: Any, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        crd_for(_resource_with(annotation))


def test_two_storage_versions_are_refused() -> None:
    other = _resource_with(int, version="v2", kind="OneField")
    with pytest.raises(SchemaError, match="exactly one version must be the storage version"):
        crd_for(_resource_with(int), other)


def test_different_kinds_in_one_crd_are_refused() -> None:
    with pytest.raises(SchemaError, match="one CRD serves one kind"):
        crd_for(zoo.Gizmo, zoo.Backup)


def test_builtin_kinds_have_no_crd() -> None:
    with pytest.raises(SchemaError, match="built-in kind v1 Pod"):
        crd_for(Pod)


def test_group_without_a_dot_is_refused() -> None:
    with pytest.raises(SchemaError, match="at least one dot"):
        crd_for(_resource_with(int, group="local"))


def test_scale_path_must_be_an_integer_spec_field() -> None:
    model = _resource_with(str, scale=Scale(".spec.x", ".status.replicas"))
    with pytest.raises(SchemaError, match="must be an integer field"):
        crd_for(model)
    missing = _resource_with(int, scale=Scale(".spec.nope", ".status.replicas"))
    with pytest.raises(SchemaError, match=r"must name a field under \.spec"):
        crd_for(missing)


def test_list_map_key_must_be_an_item_field() -> None:
    with pytest.raises(SchemaError, match="list map key 'nope'"):
        crd_for(_resource_with(Annotated[list[zoo.Port], ListType("map", keys=("nope",))]))


def test_constraint_on_the_wrong_type_is_refused() -> None:
    with pytest.raises(SchemaError, match="pattern on a integer field"):
        crd_for(_resource_with(Annotated[int, Field(pattern="^1$")]))


def test_set_of_objects_is_refused() -> None:
    with pytest.raises(SchemaError, match="set needs scalar items"):
        crd_for(_resource_with(Annotated[list[zoo.Leaf], ListType("set")]))
