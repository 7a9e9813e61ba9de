"""Discovery data of the built-in kinds against crd-lifecycle.json's recorded documents."""

from __future__ import annotations

from typing import Any

import pytest
from apiserver._builtins_transcripts import response_body

from opframe.testing.apiserver.builtins import BUILTIN_TYPES, builtin_type
from opframe.testing.apiserver.registry.resource_type import ResourceType


def _resource_entry(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
        "storageVersionHash": rt.extra["storage_version_hash"],
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


@pytest.mark.parametrize("step_id", ["discovery-core-v1", "discovery-apps-v1"])
def test_recorded_resources_are_described_exactly(step_id: str) -> None:
    for recorded in response_body("crd-lifecycle", step_id)["resources"]:
        plural, _, sub = recorded["name"].partition("/")
        group = "" if step_id == "discovery-core-v1" else "apps"
        rt = builtin_type(group, plural)
        assert rt is not None, recorded["name"]
        if sub:
            assert sub in rt.subresources
            assert list(rt.extra["subresource_verbs"][sub]) == recorded["verbs"]
            if "group" in recorded:
                assert rt.extra["subresource_kinds"][sub] == (
                    recorded["group"],
                    recorded["version"],
                    recorded["kind"],
                )
        else:
            assert _resource_entry(rt) == recorded


def test_aggregated_discovery_subresources_are_served() -> None:
    doc = response_body("crd-lifecycle", "discovery-aggregated")
    for group in doc["items"]:
        for version in group["versions"]:
            for res in version["resources"]:
                rt = builtin_type(group["metadata"]["name"], res["resource"])
                if rt is None:
                    continue
                assert rt.short_names == tuple(res.get("shortNames", ()))
                assert {s["subresource"] for s in res.get("subresources", [])} <= rt.subresources


def test_both_event_apis_share_one_storage() -> None:
    core, v1 = builtin_type("", "events"), builtin_type("events.k8s.io", "events")
    assert core is not None and v1 is not None
    assert core.extra["storage"] == v1.extra["storage"] == ("", "events")
    assert core.extra["storage_version_hash"] == v1.extra["storage_version_hash"]


def test_every_builtin_is_unique_and_has_a_list_kind() -> None:
    keys = [(rt.group, rt.version, rt.plural) for rt in BUILTIN_TYPES]
    assert len(keys) == len(set(keys))
    assert all(rt.list_kind == rt.kind + "List" for rt in BUILTIN_TYPES)
