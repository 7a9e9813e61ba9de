"""managedFields of non-apply writes and server-side apply: ownership, conflicts, removal."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from opframe.testing.apiserver.errors import StatusError
from opframe.testing.apiserver.merge.field_manager import (
    decode_apply_body,
    server_side_apply,
    update_managed_fields,
)
from opframe.testing.apiserver.merge.fieldset import decode_fields, encode_fields, path_string

T1, T2 = "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"
GROUP = "example.com"
API = f"{GROUP}/v1"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "size": {"type": "string"},
                "replicas": {"type": "integer", "default": 1},
                "color": {"type": "string"},
                "owner": {"type": "object", "properties": {"name": {"type": "string"}}},
                "tags": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["key"],
                    "items": {
                        "type": "object",
                        "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
                    },
                },
                "aliases": {
                    "type": "array",
                    "x-kubernetes-list-type": "set",
                    "items": {"type": "string"},
                },
                "args": {"type": "array", "items": {"type": "string"}},
            },
        }
    },
}


def _cm(data: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", **meta},
        "data": data,
    }


def _update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str = "m",
    time: str = T1,
    subresource: str = "",
) -> dict[str, Any]:
    new = copy.deepcopy(new)
    update_managed_fields(
        copy.deepcopy(old),
        new,
        manager=manager,
        operation="Update",
        api_version=new["apiVersion"],
        subresource=subresource,
        time=time,
        group=new["apiVersion"].split("/")[0] if "/" in new["apiVersion"] else "",
        kind=new["kind"],
    )
    return new


def _entries(obj: dict[str, Any]) -> dict[str, Any]:
    return {e["manager"]: e for e in obj["metadata"].get("managedFields", [])}


def _widget(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Widget", "metadata": {"name": "w", **meta}, "spec": spec}


def _ssa(
    live: dict[str, Any] | None, body: dict[str, Any], manager: str, **options: Any
) -> dict[str, Any]:
    """``server_side_apply`` of ``body`` on ``live`` as the Widget ``w`` at T1 unless
    ``options`` say otherwise (another kind, name, time, ``force``, ``ignored_fields``)."""
    widget: dict[str, Any] = {
        "force": False, "api_version": API, "schema": SCHEMA, "group": GROUP, "kind": "Widget",
        "resource": "widgets", "name": "w", "time": T1,
    }  # fmt: skip
    return server_side_apply(live, body, manager=manager, **{**widget, **options})


def _apply(
    live: dict[str, Any] | None,
    spec: dict[str, Any],
    manager: str,
    force: bool = False,
    time: str = T1,
    **meta: Any,
) -> dict[str, Any]:
    return _ssa(copy.deepcopy(live), _widget(spec, **meta), manager, force=force, time=time)


def _fields(obj: dict[str, Any], manager: str) -> Any:
    return _entries(obj)[manager]["fieldsV1"]


# --- field sets --------------------------------------------------------------------------


def test_fields_v1_round_trips_and_marks_inner_members_with_a_dot() -> None:
    paths = {("f:data",), ("f:data", "f:a"), ("f:spec", "f:x")}
    encoded = encode_fields(paths)
    assert encoded == {"f:data": {".": {}, "f:a": {}}, "f:spec": {"f:x": {}}}
    assert decode_fields(encoded) == paths


def test_conflict_paths_print_like_the_server() -> None:
    path = ("f:spec", 'k:{"containerPort":80,"protocol":"TCP"}', "f:name")
    assert path_string(path) == '.spec[containerPort=80,protocol="TCP"].name'
    assert path_string(("f:metadata", "f:finalizers", 'v:"a"')) == '.metadata.finalizers[="a"]'


# --- Update ------------------------------------------------------------------------------


def test_create_owns_every_written_field_and_new_maps_get_a_dot() -> None:
    out = _update(None, _cm({"a": "1"}, labels={"x": "1"}))
    assert _fields(out, "m") == {
        "f:data": {".": {}, "f:a": {}},
        "f:metadata": {"f:labels": {".": {}, "f:x": {}}},
    }


def test_struct_of_the_go_zero_value_is_never_added() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"}},
    }
    assert _fields(_update(None, deployment), "m") == {
        "f:spec": {"f:replicas": {}, "f:strategy": {"f:type": {}}}
    }


def test_custom_resource_spec_is_added_with_a_dot() -> None:
    widget = _widget({"size": "s"})
    out = copy.deepcopy(widget)
    update_managed_fields(
        None, out, manager="m", operation="Update", api_version=API, time=T1, schema=SCHEMA
    )
    assert _fields(out, "m") == {"f:spec": {".": {}, "f:size": {}}}


def test_other_manager_takes_the_fields_it_changes() -> None:
    first = _update(None, _cm({"a": "1", "b": "1"}), manager="one")
    second = _update(first, _cm({"a": "2", "b": "1"}), manager="two", time=T2)
    assert _fields(second, "one") == {"f:data": {".": {}, "f:b": {}}}
    assert _fields(second, "two") == {"f:data": {"f:a": {}}}


def test_manager_left_with_nothing_is_dropped() -> None:
    first = _update(None, _cm({"a": "1"}), manager="one")
    without_data = {k: v for k, v in _cm({}, labels={"x": "1"}).items() if k != "data"}
    second = _update(first, without_data, manager="two", time=T2)
    assert set(_entries(second)) == {"two"}


def test_removed_field_leaves_its_owner() -> None:
    first = _update(None, _cm({"a": "1", "b": "1"}), manager="one")
    second = _update(first, _cm({"a": "1"}), manager="two", time=T2)
    assert _fields(second, "one") == {"f:data": {".": {}, "f:a": {}}}
    assert "two" not in _entries(second)


def test_time_changes_only_when_the_writer_changes_something() -> None:
    first = _update(None, _cm({"a": "1"}))
    again = _update(first, _cm({"a": "1"}), time=T2)
    assert _entries(again)["m"]["time"] == T1
    changed = _update(first, _cm({"a": "2"}), time=T2)
    assert _entries(changed)["m"]["time"] == T2


def test_subresource_writes_have_their_own_entry() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    first = _update(None, {**pod, "spec": {"restartPolicy": "Always"}})
    status = _update(first, {**first, "status": {"phase": "Running"}}, subresource="status")
    entries = status["metadata"]["managedFields"]
    assert [(e["manager"], e.get("subresource", "")) for e in entries] == [
        ("m", ""),
        ("m", "status"),
    ]
    assert entries[1]["fieldsV1"] == {"f:status": {"f:phase": {}}}


def test_scale_subresource_entry_has_no_time() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"replicas": 1, "paused": True},
    }
    first = _update(None, deployment)
    scaled = _update(first, {**first, "spec": {"replicas": 3, "paused": True}}, subresource="scale")
    entries = {e.get("subresource", ""): e for e in scaled["metadata"]["managedFields"]}
    assert "time" not in entries["scale"] and "time" in entries[""]


def test_managed_fields_sent_by_the_client_replace_the_live_ones() -> None:
    first = _update(None, _cm({"a": "1"}), manager="one")
    reset = _update(first, {**_cm({"a": "1"}, managedFields=[{}])}, manager="two", time=T2)
    assert "managedFields" not in reset["metadata"]


def test_more_than_ten_update_managers_fold_into_ancient_changes() -> None:
    obj = _update(None, _cm({"k0": "v"}), manager="m0", time="2026-01-01T00:00:00Z")
    for i in range(1, 12):
        data = {f"k{j}": "v" for j in range(i + 1)}
        obj = _update(obj, _cm(data), manager=f"m{i}", time=f"2026-01-01T00:00:{i:02d}Z")
    managers = set(_entries(obj))
    assert len(managers) == 10 and "ancient-changes" in managers and "m11" in managers


# --- Apply -------------------------------------------------------------------------------


def test_apply_creates_and_owns_exactly_what_it_sent() -> None:
    out = _apply(None, {"size": "s", "tags": [{"key": "a", "value": "1"}]}, "alpha")
    assert _entries(out)["alpha"]["operation"] == "Apply"
    assert _fields(out, "alpha") == {
        "f:spec": {"f:size": {}, "f:tags": {'k:{"key":"a"}': {".": {}, "f:key": {}, "f:value": {}}}}
    }
    assert "replicas" not in out["spec"]  # defaults are the server core's, after apply


def test_list_map_entries_of_two_appliers_merge_by_key() -> None:
    live = _apply(None, {"tags": [{"key": "a", "value": "1"}]}, "alpha")
    out = _apply(live, {"tags": [{"key": "b", "value": "2"}]}, "beta")
    assert out["spec"]["tags"] == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]


def test_set_items_of_two_appliers_merge_by_value() -> None:
    live = _apply(None, {"aliases": ["x", "y"]}, "alpha")
    out = _apply(live, {"aliases": ["y", "z"]}, "beta")
    assert out["spec"]["aliases"] == ["x", "y", "z"]


def test_atomic_list_is_replaced_by_the_applier() -> None:
    live = _apply(None, {"args": ["x", "y"]}, "alpha")
    out = _apply(live, {"args": ["z"]}, "beta", force=True)
    assert out["spec"]["args"] == ["z"]
    assert set(_entries(out)) == {"beta"}


def test_same_value_applied_by_two_managers_is_shared() -> None:
    live = _apply(None, {"size": "s"}, "alpha")
    out = _apply(live, {"size": "s"}, "beta")
    assert _fields(out, "alpha") == _fields(out, "beta") == {"f:spec": {"f:size": {}}}


def test_changing_a_field_another_applier_owns_is_a_conflict() -> None:
    live = _apply(None, {"size": "s", "replicas": 2}, "alpha")
    with pytest.raises(StatusError) as caught:
        _apply(live, {"replicas": 5}, "beta")
    assert caught.value.body() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Apply failed with 1 conflict: conflict with "alpha": .spec.replicas',
        "reason": "Conflict",
        "details": {
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": 'conflict with "alpha"',
                    "field": ".spec.replicas",
                }
            ]
        },
        "code": 409,
    }


def test_several_conflicts_are_listed_by_manager() -> None:
    live = _apply(None, {"size": "s", "replicas": 2}, "alpha")
    with pytest.raises(StatusError) as caught:
        _apply(live, {"size": "l", "replicas": 5}, "beta")
    assert caught.value.message == (
        'Apply failed with 2 conflicts: conflicts with "alpha":\n- .spec.replicas\n- .spec.size'
    )


def test_conflict_with_an_update_manager_names_its_api_version() -> None:
    live = _apply(None, {"color": "red"}, "beta")
    edited = copy.deepcopy(live)
    edited["spec"]["color"] = "blue"
    update_managed_fields(
        live, edited, manager="editor", operation="Update", api_version=API, time=T2, schema=SCHEMA
    )
    with pytest.raises(StatusError) as caught:
        _apply(edited, {"color": "red"}, "beta")
    assert caught.value.message == (
        f'Apply failed with 1 conflict: conflict with "editor" using {API}: .spec.color'
    )


def test_force_takes_ownership_from_the_other_manager() -> None:
    live = _apply(None, {"size": "s", "replicas": 2}, "alpha")
    out = _apply(live, {"replicas": 5}, "beta", force=True)
    assert out["spec"]["replicas"] == 5
    assert _fields(out, "alpha") == {"f:spec": {"f:size": {}}}
    assert _fields(out, "beta") == {"f:spec": {"f:replicas": {}}}


def test_field_the_applier_alone_owned_and_stopped_sending_is_removed() -> None:
    live = _apply(None, {"size": "s", "owner": {"name": "ann"}}, "alpha", labels={"team": "a"})
    out = _apply(live, {"size": "s"}, "alpha")
    assert out["spec"] == {"size": "s"}
    assert "labels" not in out["metadata"]


def test_field_still_owned_by_another_manager_stays_when_one_stops_sending_it() -> None:
    live = _apply(_apply(None, {"size": "s"}, "alpha"), {"size": "s", "color": "red"}, "beta")
    out = _apply(live, {"color": "red"}, "beta")
    assert out["spec"]["size"] == "s"
    assert _fields(out, "beta") == {"f:spec": {"f:color": {}}}


def test_apply_that_changes_nothing_keeps_the_entry_time() -> None:
    live = _apply(None, {"size": "s"}, "alpha", time=T1)
    out = _apply(live, {"size": "s"}, "alpha", time=T2)
    assert _entries(out)["alpha"]["time"] == T1


def test_apply_without_a_field_manager_is_a_422_on_patch_options() -> None:
    with pytest.raises(StatusError) as caught:
        _apply(None, {"size": "s"}, "")
    assert caught.value.code == 422
    assert caught.value.message == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
        "is required for apply patch"
    )


def test_apply_of_another_name_is_a_400() -> None:
    with pytest.raises(StatusError) as caught:
        _ssa(None, {"apiVersion": API, "kind": "Widget", "metadata": {"name": "other"}}, "m")
    assert (caught.value.code, caught.value.message) == (
        400,
        "the name of the object (other) does not match the name on the URL (w)",
    )


def test_apply_with_managed_fields_in_the_body_is_a_400() -> None:
    with pytest.raises(StatusError) as caught:
        _apply(None, {"size": "s"}, "m", managedFields=[])
    assert (caught.value.code, caught.value.message) == (400, "metadata.managedFields must be nil")


def test_apply_to_a_pod_keys_ports_by_port_and_defaulted_protocol() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
    }
    out = _ssa(
        None, pod, "m", api_version="v1", schema=None, group="", kind="Pod", resource="pods",
        name="p",
    )  # fmt: skip
    container = _fields(out, "m")["f:spec"]["f:containers"]['k:{"name":"c"}']
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in container["f:ports"]


def test_apply_leaves_the_live_object_unchanged() -> None:
    live = _apply(None, {"size": "s", "owner": {"name": "ann"}}, "alpha", labels={"team": "a"})
    before = copy.deepcopy(live)
    _apply(live, {"size": "s"}, "alpha")
    assert live == before


def test_ignored_fields_are_nobodys_and_never_conflict() -> None:
    live = _ssa(
        None, {**_widget({"size": "s"}), "status": {"phase": "x"}}, "alpha",
        ignored_fields=("status",),
    )  # fmt: skip
    assert _fields(live, "alpha") == {"f:spec": {"f:size": {}}}


def test_update_ignores_changes_to_ignored_fields() -> None:
    first = _update(None, _cm({"a": "1"}))
    new = {**first, "status": {"phase": "x"}}
    update_managed_fields(
        first,
        new,
        manager="other",
        operation="Update",
        api_version="v1",
        time=T2,
        kind="ConfigMap",
        ignored_fields=("status",),
    )
    assert set(_entries(new)) == {"m"}


def test_yaml_apply_body_keeps_timestamps_as_strings() -> None:
    body = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  t: 2024-01-01T00:00:00Z\n"
    )
    assert decode_apply_body(body)["data"] == {"t": "2024-01-01T00:00:00Z"}


@pytest.mark.parametrize("body", ["- a\n- b\n", "key: [unclosed\n"])
def test_apply_body_that_is_not_a_yaml_object_is_a_400(body: str) -> None:
    with pytest.raises(StatusError) as caught:
        decode_apply_body(body)
    assert caught.value.code == 400
    assert caught.value.message.startswith("error decoding YAML: ")


def test_applied_list_map_with_duplicate_keys_is_refused() -> None:
    spec = {"tags": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]}
    with pytest.raises(StatusError) as caught:
        _apply(None, spec, "alpha")
    assert caught.value.code == 500
    assert caught.value.message.endswith('.spec.tags: duplicate entries for key [key="a"]')


def test_applied_list_map_item_without_its_key_is_refused() -> None:
    with pytest.raises(StatusError) as caught:
        _apply(None, {"tags": [{"value": "1"}]}, "alpha")
    assert 'omits key field "key"' in caught.value.message


def test_list_item_the_applier_alone_owned_is_removed_when_no_longer_sent() -> None:
    live = _apply(None, {"tags": [{"key": "a"}, {"key": "b"}], "aliases": ["x", "y"]}, "alpha")
    out = _apply(live, {"tags": [{"key": "a"}], "aliases": ["x"]}, "alpha")
    assert out["spec"] == {"tags": [{"key": "a"}], "aliases": ["x"]}


def test_list_item_another_applier_also_owns_stays() -> None:
    live = _apply(None, {"tags": [{"key": "a"}, {"key": "b"}]}, "alpha")
    live = _apply(live, {"tags": [{"key": "b"}]}, "beta")
    out = _apply(live, {"tags": [{"key": "a"}]}, "alpha")
    assert out["spec"]["tags"] == [{"key": "a"}, {"key": "b"}]


def test_entries_a_write_does_not_touch_keep_their_fields_and_sent_ones_are_normalised() -> None:
    """Every write re-derives each manager's set (``fieldmanager/internal/managedfields.go``
    decodes and re-encodes them); the server reuses a stored encoding while a manager's set is
    unchanged (issue 19), which must give what encoding again would: the other manager's entry
    is unchanged, its own moves, and fieldsV1 a client sends in another form (keys out of
    order, a redundant ``.``) is stored in the canonical form."""
    first = _update(None, _widget({"size": "s", "color": "red"}), manager="a")
    second = _update(first, {**first, "spec": {"size": "m", "color": "red"}}, manager="b", time=T2)
    a, b = _entries(second)["a"], _entries(second)["b"]
    assert a["fieldsV1"] == {"f:spec": {".": {}, "f:color": {}}}
    assert b["fieldsV1"] == {"f:spec": {"f:size": {}}}
    sent = copy.deepcopy(second)
    sent["metadata"]["managedFields"][0]["fieldsV1"] = {"f:spec": {"f:color": {}, ".": {}}}
    third = _update(second, sent, manager="b", time=T2)
    encoded = _entries(third)["a"]["fieldsV1"]
    assert list(encoded["f:spec"]) == [".", "f:color"]
    assert encoded == encode_fields(decode_fields(encoded))
