"""Strategic merge patch on the built-in kinds: merge keys, strategies and directives."""

from __future__ import annotations

from typing import Any

import pytest

from opframe.testing.apiserver.errors import StatusError
from opframe.testing.apiserver.merge.patch import strategic_merge_patch


def _pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": list(containers), **spec}}


def _names(obj: dict[str, Any], field: str = "containers") -> list[str]:
    return [c["name"] for c in obj["spec"][field]]


def test_containers_merge_by_name_and_keep_the_others() -> None:
    live = _pod({"name": "a", "image": "x"}, {"name": "b", "image": "y"})
    out = strategic_merge_patch(
        live, {"spec": {"containers": [{"name": "a", "image": "z"}]}}, "", "Pod"
    )
    assert out["spec"]["containers"] == [{"name": "a", "image": "z"}, {"name": "b", "image": "y"}]


def test_new_container_goes_before_the_live_ones() -> None:
    live = _pod({"name": "a"}, {"name": "b"})
    out = strategic_merge_patch(live, {"spec": {"containers": [{"name": "new"}]}}, "", "Pod")
    assert _names(out) == ["new", "a", "b"]


def test_patch_delete_directive_removes_the_item_with_that_key() -> None:
    live = _pod({"name": "a"}, {"name": "b"})
    patch = {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}
    assert _names(strategic_merge_patch(live, patch, "", "Pod")) == ["a"]


def test_patch_replace_directive_in_a_list_replaces_it() -> None:
    live = _pod({"name": "a"}, {"name": "b"})
    patch = {"spec": {"containers": [{"name": "c"}, {"$patch": "replace"}]}}
    assert _names(strategic_merge_patch(live, patch, "", "Pod")) == ["c"]


def test_patch_replace_directive_on_a_map_replaces_it() -> None:
    live = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    patch = {"metadata": {"labels": {"c": "3", "$patch": "replace"}}}
    out = strategic_merge_patch(live, patch, "", "ConfigMap")
    assert out["metadata"]["labels"] == {"c": "3"}


def test_env_merges_by_name_inside_a_merged_container() -> None:
    live = _pod({"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "1"}]})
    patch = {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}]}}
    out = strategic_merge_patch(live, patch, "", "Pod")
    assert out["spec"]["containers"][0]["env"] == [
        {"name": "X", "value": "1"},
        {"name": "Y", "value": "2"},
    ]


def test_set_element_order_reorders_the_merged_list() -> None:
    live = _pod({"name": "a"}, {"name": "b"}, {"name": "c"})
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
            "containers": [{"name": "a", "image": "i"}],
        }
    }
    assert _names(strategic_merge_patch(live, patch, "", "Pod")) == ["c", "a", "b"]


def test_lists_without_merge_strategy_are_replaced() -> None:
    live = _pod({"name": "a", "command": ["x", "y"]}, tolerations=[{"key": "k"}])
    patch = {
        "spec": {"tolerations": [{"key": "j"}], "containers": [{"name": "a", "command": ["z"]}]}
    }
    out = strategic_merge_patch(live, patch, "", "Pod")
    assert out["spec"]["tolerations"] == [{"key": "j"}]
    assert out["spec"]["containers"][0]["command"] == ["z"]


def test_service_ports_merge_by_port_number() -> None:
    live = {"spec": {"ports": [{"port": 80, "name": "http"}]}}
    patch = {"spec": {"ports": [{"port": 443, "name": "https"}]}}
    out = strategic_merge_patch(live, patch, "", "Service")
    assert out["spec"]["ports"] == [{"port": 443, "name": "https"}, {"port": 80, "name": "http"}]


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list_removes() -> None:
    live = {"metadata": {"finalizers": ["a", "b"]}}
    merged = strategic_merge_patch(live, {"metadata": {"finalizers": ["b", "c"]}}, "", "ConfigMap")
    assert merged["metadata"]["finalizers"] == ["a", "b", "c"]
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    assert strategic_merge_patch(live, patch, "", "ConfigMap")["metadata"]["finalizers"] == ["b"]


def test_retain_keys_clears_the_fields_not_listed() -> None:
    live = {
        "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
    }
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    out = strategic_merge_patch(live, patch, "apps", "Deployment")
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_null_deletes_a_map_key() -> None:
    out = strategic_merge_patch(
        {"data": {"a": "1", "h": "2"}}, {"data": {"a": None}}, "", "ConfigMap"
    )
    assert out == {"data": {"h": "2"}}


def test_directives_inside_a_new_item_never_reach_the_result() -> None:
    live = _pod({"name": "a"})
    patch = {"spec": {"containers": [{"name": "b", "resources": {"$patch": "replace"}}]}}
    out = strategic_merge_patch(live, patch, "", "Pod")
    assert out["spec"]["containers"][0] == {"name": "b", "resources": {}}


def test_patch_delete_directive_on_a_map_empties_it() -> None:
    live = {"metadata": {"labels": {"a": "1"}}}
    out = strategic_merge_patch(live, {"metadata": {"labels": {"$patch": "delete"}}}, "", "Secret")
    assert out["metadata"]["labels"] == {}


def test_merge_directive_on_a_list_item_is_refused() -> None:
    patch = {"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}
    with pytest.raises(StatusError) as caught:
        strategic_merge_patch(_pod({"name": "a"}), patch, "", "Pod")
    assert (caught.value.code, caught.value.message) == (
        500,
        "merging lists cannot yet be specified in the patch",
    )


def test_patch_list_out_of_set_element_order_is_refused() -> None:
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b"}, {"name": "a"}],
        }
    }
    with pytest.raises(StatusError) as caught:
        strategic_merge_patch(_pod({"name": "a"}, {"name": "b"}), patch, "", "Pod")
    assert caught.value.message.startswith("The order in patch list:")


def test_new_primitive_items_follow_the_patch_order() -> None:
    live = {"metadata": {"finalizers": ["a", "b"]}}
    out = strategic_merge_patch(live, {"metadata": {"finalizers": ["c", "a"]}}, "", "Secret")
    assert out["metadata"]["finalizers"] == ["c", "a", "b"]


def test_field_outside_retain_keys_is_a_400() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}
    with pytest.raises(StatusError) as caught:
        strategic_merge_patch({}, patch, "apps", "Deployment")
    assert (caught.value.code, caught.value.message) == (400, "invalid patch format of retainKeys")


def test_item_without_its_merge_key_is_refused() -> None:
    with pytest.raises(StatusError) as caught:
        strategic_merge_patch(
            _pod({"name": "a"}), {"spec": {"containers": [{"image": "x"}]}}, "", "Pod"
        )
    assert "does not contain declared merge key: name" in caught.value.message


def test_unknown_patch_directive_is_refused() -> None:
    with pytest.raises(StatusError) as caught:
        strategic_merge_patch({"data": {}}, {"data": {"$patch": "explode"}}, "", "ConfigMap")
    assert "unknown patch type: explode" in caught.value.message


def test_retain_keys_that_is_not_a_list_is_a_400() -> None:
    with pytest.raises(StatusError) as caught:
        strategic_merge_patch(
            {}, {"spec": {"strategy": {"$retainKeys": "type"}}}, "apps", "Deployment"
        )
    assert (caught.value.code, caught.value.message) == (400, "invalid patch format of retainKeys")


def test_list_of_lists_is_a_422() -> None:
    with pytest.raises(StatusError) as caught:
        strategic_merge_patch({}, {"spec": {"tolerations": [[1]]}}, "", "Pod")
    assert (caught.value.code, caught.value.message) == (422, "lists of lists are not supported")


def test_patch_leaves_its_target_unchanged() -> None:
    live = _pod({"name": "a", "image": "x"})
    strategic_merge_patch(live, {"spec": {"containers": [{"name": "a", "image": "y"}]}}, "", "Pod")
    assert live["spec"]["containers"] == [{"name": "a", "image": "x"}]


def test_pdb_selector_with_replace_strategy_is_replaced_whole() -> None:
    live = {"spec": {"selector": {"matchLabels": {"a": "1"}}}}
    patch = {"spec": {"selector": {"matchExpressions": []}}}
    out = strategic_merge_patch(live, patch, "policy", "PodDisruptionBudget")
    assert out["spec"]["selector"] == {"matchExpressions": []}
