"""opframe.resource: declaration on the class, wire round trips, identity accessors."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from opframe import (
    ConfigError,
    DynamicResource,
    ObjectRef,
    dynamic_kind,
    label_selector_matches,
    owner_reference_for,
    resource_info,
)
from opframe.resource import (
    Condition,
    KubeModel,
    ObjectMeta,
    Resource,
    ResourceList,
    pluralize,
    split_api_version,
    wire_name,
)


class WidgetSpec(KubeModel):
    size: int = 1
    peer_urls: list[str] = []


class WidgetStatus(KubeModel):
    cluster_id: str | None = None
    conditions: list[Condition] = []


class Widget(
    Resource,
    group="test.opframe.dev",
    version="v1",
    short_names=("wd",),
    categories=("all",),
):
    spec: WidgetSpec = WidgetSpec()
    status: WidgetStatus | None = None


class Gadget(Resource, group="test.opframe.dev", version="v1", scope="Cluster"):
    spec: dict[str, str] = {}


WIRE: dict[str, Any] = {
    "apiVersion": "test.opframe.dev/v1",
    "kind": "Widget",
    "metadata": {
        "name": "w1",
        "namespace": "default",
        "uid": "5c2f5e4a-1111-2222-3333-444455556666",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2024-05-01T10:00:00Z",
        "labels": {"app": "w"},
        "annotations": {"note": "x"},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "d",
                "uid": "u-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        "finalizers": ["test.opframe.dev/cleanup"],
        "managedFields": [
            {
                "manager": "kubectl",
                "operation": "Apply",
                "apiVersion": "test.opframe.dev/v1",
                "time": "2024-05-01T10:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:size": {}}},
            }
        ],
    },
    "spec": {"size": 3, "peerURLs": ["http://a:2380"]},
    "status": {
        "clusterID": "abc",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastTransitionTime": "2024-05-01T10:00:05Z",
                "reason": "AllMembersReady",
                "message": "3/3 ready",
                "observedGeneration": 3,
            }
        ],
    },
}


def test_wire_names_are_camel_case_with_kubernetes_initialisms() -> None:
    assert wire_name("api_version") == "apiVersion"
    assert wire_name("pod_ip") == "podIP"
    assert wire_name("pod_ips") == "podIPs"
    assert wire_name("cluster_id") == "clusterID"
    assert wire_name("peer_urls") == "peerURLs"
    assert wire_name("insecure_skip_tls_verify") == "insecureSkipTLSVerify"
    assert wire_name("continue_") == "continue"
    assert wire_name("uid") == "uid"
    assert wire_name("system_uuid") == "systemUUID"
    assert wire_name("set_hostname_as_fqdn") == "setHostnameAsFQDN"


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("EtcdCluster", "etcdclusters"),
        ("Policy", "policies"),
        ("Gateway", "gateways"),
        ("Ingress", "ingresses"),
        ("Box", "boxes"),
        ("Patch", "patches"),
        ("Mesh", "meshes"),
    ],
)
def test_plural_is_derived_by_english_rules(kind: str, plural: str) -> None:
    assert pluralize(kind) == plural


def test_class_keywords_declare_the_api_identity() -> None:
    info = Widget.__resource__
    assert (info.group, info.version, info.kind) == ("test.opframe.dev", "v1", "Widget")
    assert info.api_version == "test.opframe.dev/v1"
    assert (info.plural, info.singular) == ("widgets", "widget")
    assert info.short_names == ("wd",)
    assert info.categories == ("all",)
    assert info.scope == "Namespaced"
    assert info.crd_name == "widgets.test.opframe.dev"
    assert info.list_kind == "WidgetList"


def test_status_subresource_follows_the_status_field() -> None:
    assert Widget.__resource__.subresources == {"status"}
    assert Gadget.__resource__.subresources == frozenset()


def test_cluster_scope_is_declared_with_scope_keyword() -> None:
    assert Gadget.__resource__.namespaced is False
    assert Gadget.__resource__.scope == "Cluster"


def test_core_group_api_version_is_the_bare_version() -> None:
    class Thing(Resource, version="v1"):
        pass

    assert Thing.__resource__.api_version == "v1"
    assert split_api_version("v1") == ("", "v1")
    assert split_api_version("apps/v1") == ("apps", "v1")


def test_api_version_and_kind_are_filled_from_the_class() -> None:
    w = Widget(metadata=ObjectMeta(name="w"))
    assert (w.api_version, w.kind) == ("test.opframe.dev/v1", "Widget")


def test_wire_dict_round_trips_unchanged() -> None:
    assert Widget.from_dict(copy.deepcopy(WIRE)).to_dict() == WIRE


def test_round_trip_through_json_text_is_lossless() -> None:
    text = Widget.from_dict(WIRE).model_dump_json(by_alias=True, exclude_none=True)
    assert json.loads(text) == WIRE


def test_attributes_are_snake_case_and_typed() -> None:
    w = Widget.from_dict(WIRE)
    assert w.metadata.resource_version == "42"
    assert w.metadata.creation_timestamp == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert w.metadata.owner_references is not None
    assert w.metadata.owner_references[0].block_owner_deletion is True
    assert w.spec.peer_urls == ["http://a:2380"]
    assert w.status is not None and w.status.cluster_id == "abc"
    assert w.status.conditions[0].observed_generation == 3


def test_unknown_fields_from_a_newer_server_survive_a_round_trip() -> None:
    wire = copy.deepcopy(WIRE)
    wire["metadata"]["futureMeta"] = {"x": 1}
    wire["spec"]["newKnob"] = "on"
    wire["status"]["conditions"][0]["severity"] = "Info"
    wire["topLevelThing"] = [1, 2]
    assert Widget.from_dict(wire).to_dict() == wire


def test_snake_case_names_are_accepted_on_input() -> None:
    w = Widget(spec=WidgetSpec(peer_urls=["u"]), metadata=ObjectMeta(generate_name="w-"))
    assert w.to_dict()["spec"]["peerURLs"] == ["u"]
    assert w.to_dict()["metadata"] == {"generateName": "w-"}


def test_managed_fields_are_hidden_from_repr() -> None:
    assert "managed_fields" not in repr(Widget.from_dict(WIRE).metadata)


def test_ref_is_the_objects_namespace_and_name() -> None:
    assert Widget(metadata=ObjectMeta(name="a", namespace="ns")).ref == ObjectRef("ns", "a")
    assert str(Widget(metadata=ObjectMeta(name="a", namespace="ns")).ref) == "ns/a"


def test_ref_of_a_cluster_scoped_object_has_the_empty_namespace() -> None:
    gadget = Gadget(metadata=ObjectMeta(name="g"))
    assert gadget.ref == ObjectRef("", "g")
    assert gadget.namespace == ""
    assert str(gadget.ref) == "g"


def test_object_ref_normalises_a_missing_namespace_to_empty() -> None:
    assert ObjectRef(None, "g") == ObjectRef("", "g") == ("", "g")
    assert hash(ObjectRef(None, "g")) == hash(("", "g"))


def test_object_ref_parses_its_string_form() -> None:
    assert ObjectRef.parse("ns/a") == ObjectRef("ns", "a")
    assert ObjectRef.parse("g") == ObjectRef("", "g")


def test_name_and_namespace_are_str_for_a_stored_object() -> None:
    widget = Widget.from_dict(WIRE)
    name: str = widget.name
    namespace: str = widget.namespace
    assert (name, namespace) == ("w1", "default")


def test_name_of_an_unnamed_object_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"Widget has no metadata\.name"):
        _ = Widget().name


def test_name_of_a_generated_name_object_says_to_read_it_back() -> None:
    with pytest.raises(ValueError, match="generateName"):
        _ = Widget(metadata=ObjectMeta(generate_name="w-")).name


def test_namespace_of_a_namespaced_object_without_one_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"no metadata\.namespace"):
        _ = Widget(metadata=ObjectMeta(name="w")).namespace


def test_resource_info_builds_object_and_collection_paths() -> None:
    info = resource_info(Widget)
    assert info.path("ns") == "/apis/test.opframe.dev/v1/namespaces/ns/widgets"
    assert (
        info.path("ns", "w", "status") == "/apis/test.opframe.dev/v1/namespaces/ns/widgets/w/status"
    )
    assert resource_info(Gadget).path("ignored", "g") == "/apis/test.opframe.dev/v1/gadgets/g"


def test_resource_info_of_a_plain_class_says_how_to_declare_one() -> None:
    with pytest.raises(ConfigError, match=r"subclass opframe\.Resource"):
        resource_info(dict)


def test_dynamic_kind_keeps_the_raw_body_and_writes_it_back() -> None:
    Certificate = dynamic_kind("cert-manager.io/v1", "Certificate")
    wire = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "tls", "namespace": "web"},
        "spec": {"dnsNames": ["a.example.com"]},
    }
    cert = Certificate.from_dict(wire)
    assert isinstance(cert, DynamicResource)
    assert cert["spec"]["dnsNames"] == ["a.example.com"]
    assert cert.get("status") is None
    assert cert.ref == ObjectRef("web", "tls")
    cert["status"] = {"ready": True}
    assert cert.to_dict() == {**wire, "status": {"ready": True}}


def test_dynamic_kind_declares_the_rest_coordinates_once() -> None:
    Node = dynamic_kind("v1", "Node", scope="Cluster")
    info = resource_info(Node)
    assert (info.group, info.version, info.kind, info.plural, info.namespaced) == (
        "",
        "v1",
        "Node",
        "nodes",
        False,
    )
    assert info.builtin  # no CRD is generated for it


def test_dynamic_kind_twice_is_the_same_class() -> None:
    assert dynamic_kind("example.com/v1", "Box") is dynamic_kind("example.com/v1", "Box")
    assert resource_info(dynamic_kind("example.com/v1", "Box")).plural == "boxes"


def test_mismatching_api_version_is_refused() -> None:
    wire = {**WIRE, "apiVersion": "test.opframe.dev/v2"}
    with pytest.raises(ValidationError, match="does not match Widget"):
        Widget.from_dict(wire)


def test_condition_status_is_true_false_or_unknown() -> None:
    with pytest.raises(ValidationError):
        Condition.from_dict(
            {
                "type": "Ready",
                "status": "Yes",
                "reason": "R",
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            }
        )


def test_owner_reference_points_at_the_object() -> None:
    ref = owner_reference_for(Widget.from_dict(WIRE))
    assert ref.to_dict() == {
        "apiVersion": "test.opframe.dev/v1",
        "kind": "Widget",
        "name": "w1",
        "uid": "5c2f5e4a-1111-2222-3333-444455556666",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_owner_reference_needs_a_uid() -> None:
    with pytest.raises(ValueError, match="no name or uid"):
        owner_reference_for(Widget(metadata=ObjectMeta(name="w")))


def test_list_wrapper_parses_items_and_continue_token() -> None:
    body = {
        "apiVersion": "test.opframe.dev/v1",
        "kind": "WidgetList",
        "metadata": {"resourceVersion": "50", "continue": "tok", "remainingItemCount": 7},
        "items": [WIRE],
    }
    lst = ResourceList[Widget].from_dict(body)
    assert lst.metadata.continue_ == "tok"
    assert isinstance(lst.items[0], Widget)
    assert lst.to_dict() == body


def test_list_kind_is_filled_from_the_item_class() -> None:
    assert ResourceList[Widget]().kind == "WidgetList"


def test_new_version_subclass_inherits_identity_but_not_storage_flag() -> None:
    class CogV1(
        Resource,
        group="reg.opframe.dev",
        version="v1",
        kind="Cog",
        short_names=("cg",),
        storage=False,
    ):
        pass

    class CogV2(CogV1, version="v2"):
        pass

    info = CogV2.__resource__
    assert (info.kind, info.plural, info.short_names) == ("Cog", "cogs", ("cg",))
    assert info.storage is True


def test_subclass_without_keywords_is_the_same_resource() -> None:
    class MyWidget(Widget):
        pass

    assert MyWidget.__resource__ is Widget.__resource__


def test_resource_keywords_without_version_are_refused() -> None:
    with pytest.raises(TypeError, match="need version"):

        class Broken(Resource, group="x.dev"):
            pass


def test_abstract_base_without_keywords_has_no_identity() -> None:
    class Base(Resource):
        pass

    assert not hasattr(Base, "__resource__")


def _expr(op: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": "a", "operator": op, "values": list(values)}]}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (None, {"a": "1"}, False),  # a missing selector matches nothing
        ({}, {"a": "1"}, True),  # an empty one everything
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        (_expr("In", "1", "3"), {"a": "3"}, True),
        (_expr("In", "1"), {}, False),
        (_expr("NotIn", "1"), {}, True),
        (_expr("NotIn", "1"), {"a": "1"}, False),
        (_expr("Exists"), {"a": ""}, True),
        (_expr("DoesNotExist"), {"a": ""}, False),
        (_expr("Gt", "1"), {"a": "2"}, False),
    ],
)  # fmt: skip
def test_label_selector_matches_follows_apimachinery(
    selector: dict[str, Any] | None, labels: dict[str, str], expected: bool
) -> None:
    """apimachinery/pkg/apis/meta/v1/helpers.go LabelSelectorAsSelector: nil selects nothing,
    empty everything; NotIn holds for a missing key; an unknown operator selects nothing."""
    assert label_selector_matches(selector, labels) is expected


def test_label_selector_matches_takes_the_typed_selector() -> None:
    from opframe.kinds import LabelSelector, LabelSelectorRequirement

    typed = LabelSelector(
        match_labels={"app": "web"},
        match_expressions=[LabelSelectorRequirement(key="tier", operator="Exists")],
    )
    assert label_selector_matches(typed, {"app": "web", "tier": "x"})
    assert not label_selector_matches(typed, {"app": "web"})
