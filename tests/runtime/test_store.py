"""The informer store alone: typed reads, indexes, selectors, own writes (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from opframe._labels import parse_selector
from opframe._store import INDEX_NAMESPACE, INDEX_OWNER, Store, prepare
from opframe.kinds import ConfigMap


def cm(
    name: str,
    rv: int,
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    owners: tuple[str, ...] = (),
    data: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "resourceVersion": str(rv),
        "managedFields": [{"manager": "test", "operation": "Update"}],
    }
    if labels:
        metadata["labels"] = labels
    if owners:
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": u, "uid": u} for u in owners
        ]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or {}}


def fill(*objects: dict[str, Any]) -> Store[ConfigMap]:
    store: Store[ConfigMap] = Store(ConfigMap)
    for obj in objects:
        store.apply(*prepare(obj))
    return store


def test_reads_return_typed_objects_without_managed_fields() -> None:
    store = fill(cm("a", 1, data={"k": "v"}))
    obj = store.get("a", "default")
    assert isinstance(obj, ConfigMap)
    assert obj.data == {"k": "v"}
    assert obj.metadata.managed_fields is None


def test_each_read_is_a_private_copy() -> None:
    store = fill(cm("a", 1, data={"k": "v"}))
    first = store.get("a", "default")
    assert first is not None and first.data is not None
    first.data["k"] = "changed"
    again = store.get("a", "default")
    assert again is not None and again.data == {"k": "v"}


def test_missing_object_reads_none() -> None:
    assert fill().get("a", "default") is None


def test_list_filters_by_namespace_and_labels() -> None:
    store = fill(
        cm("a", 1, labels={"app": "etcd", "tier": "db"}),
        cm("b", 2, labels={"app": "web"}),
        cm("c", 3, namespace="other", labels={"app": "etcd"}),
    )
    assert sorted(o.metadata.name or "" for o in store.list()) == ["a", "b", "c"]
    assert [o.metadata.name for o in store.list("other")] == ["c"]
    names = sorted(o.metadata.name or "" for o in store.list(label_selector="app=etcd"))
    assert names == ["a", "c"]
    assert [o.metadata.name for o in store.list("default", {"app": "etcd"})] == ["a"]


def test_builtin_indexes_by_namespace_and_owner() -> None:
    store = fill(cm("a", 1, owners=("u1",)), cm("b", 2, owners=("u1", "u2")), cm("c", 3))
    assert sorted(o.metadata.name or "" for o in store.by_index(INDEX_OWNER, "u1")) == ["a", "b"]
    assert [o.metadata.name for o in store.by_index(INDEX_OWNER, "u2")] == ["b"]
    assert len(store.by_index(INDEX_NAMESPACE, "default")) == 3


def test_index_follows_updates_and_deletes() -> None:
    store = fill(cm("a", 1, owners=("u1",)))
    store.apply(*prepare(cm("a", 2, owners=("u2",))))
    assert store.by_index(INDEX_OWNER, "u1") == []
    assert [o.metadata.name for o in store.by_index(INDEX_OWNER, "u2")] == ["a"]
    store.delete(("default", "a"))
    assert store.by_index(INDEX_OWNER, "u2") == []
    assert store.by_index(INDEX_NAMESPACE, "default") == []


def test_custom_indexer_covers_existing_and_new_objects() -> None:
    store = fill(cm("a", 1, data={"role": "leader"}))
    store.add_indexer("role", lambda obj: [obj.data.get("role", "")])
    store.apply(*prepare(cm("b", 2, data={"role": "follower"})))
    assert [o.metadata.name for o in store.by_index("role", "leader")] == ["a"]
    assert [o.metadata.name for o in store.by_index("role", "follower")] == ["b"]


def test_unknown_index_names_the_fix() -> None:
    with pytest.raises(KeyError, match="add_indexer"):
        fill().by_index("nope", "x")


def test_own_write_is_visible_until_the_watch_catches_up() -> None:
    store = fill(cm("a", 1, data={"v": "old"}))
    assert store.observe(*prepare(cm("a", 5, data={"v": "mine"})))
    obj = store.get("a", "default")
    assert obj is not None and obj.data == {"v": "mine"}
    # The watch delivers an older version first: reads keep our newer write.
    store.apply(*prepare(cm("a", 3, data={"v": "other"})))
    obj = store.get("a", "default")
    assert obj is not None and obj.data == {"v": "mine"}
    # Then our own write: the overlay is dropped, the base serves it.
    store.apply(*prepare(cm("a", 5, data={"v": "mine"})))
    assert store._overlay == {}


def test_created_object_is_visible_in_lists_and_indexes_before_its_event() -> None:
    store = fill()
    assert store.observe(*prepare(cm("child", 7, owners=("u1",))))
    assert [o.metadata.name for o in store.list()] == ["child"]
    assert [o.metadata.name for o in store.by_index(INDEX_OWNER, "u1")] == ["child"]
    assert len(store) == 1


def test_stale_write_is_ignored() -> None:
    store = fill(cm("a", 9))
    assert not store.observe(*prepare(cm("a", 4)))
    assert store.resource_version("a", "default") == "9"


def test_relist_forgets_writes_it_has_caught_up_with() -> None:
    store = fill()
    store.observe(*prepare(cm("a", 4)))
    store.observe(*prepare(cm("b", 8)))
    store.forget_overlay("6")
    assert set(store._overlay) == {("default", "b")}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=etcd", {"app": "etcd"}, True),
        ("app==etcd", {"app": "web"}, False),
        ("app!=etcd", {}, True),
        ("tier in (db, cache)", {"tier": "cache"}, True),
        ("tier notin (db,cache)", {"tier": "db"}, False),
        ("app,!canary", {"app": "x"}, True),
        ("app,!canary", {"app": "x", "canary": "1"}, False),
        ("app=etcd,tier in (db,cache)", {"app": "etcd", "tier": "web"}, False),
        ("replicas>2", {"replicas": "3"}, True),
    ],
)
def test_label_selector_syntax(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(selector)(labels) is expected


def test_invalid_label_selector_is_rejected() -> None:
    with pytest.raises(ValueError, match="invalid label selector"):
        parse_selector("app in x")


def test_own_delete_hides_the_object_until_the_watch_reports_it() -> None:
    store = fill(cm("a", 3, owners=("u1",)))
    assert store.observe_deleted(("default", "a"))
    assert store.get("a", "default") is None
    assert store.list() == [] and store.by_index(INDEX_OWNER, "u1") == []
    assert ("default", "a") not in store and len(store) == 0
    # An event for the version we deleted does not resurrect it...
    store.apply(*prepare(cm("a", 3, owners=("u1",))))
    assert store.get("a", "default") is None
    # ...the deletion clears the tombstone.
    store.delete(("default", "a"))
    assert store._overlay == {}


def test_recreation_after_own_delete_is_visible() -> None:
    store = fill(cm("a", 3))
    store.observe_deleted(("default", "a"))
    store.apply(*prepare(cm("a", 9, data={"v": "new"})))
    obj = store.get("a", "default")
    assert obj is not None and obj.data == {"v": "new"}


def test_own_write_dropping_an_index_value_leaves_the_index() -> None:
    store = fill(cm("a", 3, owners=("u1",)))
    store.observe(*prepare(cm("a", 4)))
    assert store.by_index(INDEX_OWNER, "u1") == []


def test_failing_indexer_leaves_the_object_out_of_its_index() -> None:
    store = fill(cm("a", 1, data={"role": "leader"}))
    store.add_indexer("role", lambda obj: [obj.data["role"]])
    store.apply(*prepare(cm("b", 2)))  # no "role": the indexer raises KeyError
    assert store.get("b", "default") is not None
    assert [o.metadata.name for o in store.by_index("role", "leader")] == ["a"]
