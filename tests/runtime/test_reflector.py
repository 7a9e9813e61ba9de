"""The reflector applies a watcher's stream to a store, as kube-rs' ``reflector`` does.

Rules stated here (client-go ``tools/cache/reflector.go`` and ``delta_fifo.go`` ``Replace``;
kube-rs ``kube-runtime/src/reflector/store.rs`` ``apply_watcher_event``): a listed or watched
object the store did not hold is an addition, one it held an update with the old state; at
the end of a relist, what the store held and the list did not mention was deleted meanwhile
(``DeletedFinalStateUnknown``), reported with its last known state.
"""

from __future__ import annotations

from typing import Any

from opframe import Change, ConfigMap, ObjectMeta, Reflector, Store, WatcherEvent
from opframe._store import prepare


def cm(name: str, rv: str, **data: str) -> dict[str, Any]:
    return ConfigMap(
        metadata=ObjectMeta(name=name, namespace="default", resource_version=rv), data=data
    ).to_dict()


def event(change: Change, body: dict[str, Any] | None = None, rv: str = "") -> WatcherEvent[Any]:
    if body is None:
        return WatcherEvent(change, ConfigMap, resource_version=rv)
    ref, entry = prepare(body)
    return WatcherEvent(change, ConfigMap, ref, entry, entry.rv)


def listed(reflector: Reflector[ConfigMap], *bodies: dict[str, Any], rv: str) -> list[Any]:
    """One framed (re)list: the changes it produced, inferred deletions included."""
    changes = [reflector.apply(event(Change.INIT))]
    changes += [reflector.apply(event(Change.INIT_APPLY, body)) for body in bodies]
    changes += reflector.finish_list(rv)
    return [c for c in changes if c is not None]


def test_listed_objects_are_added_and_mark_the_store_synced() -> None:
    reflector = Reflector(Store(ConfigMap))
    changes = listed(reflector, cm("a", "1"), cm("b", "2"), rv="2")
    assert [(c.type, c.name, c.initial) for c in changes] == [
        ("ADDED", "a", True),
        ("ADDED", "b", True),
    ]
    assert reflector.synced
    assert reflector.store.get("a", "default") is not None


def test_watched_update_carries_the_old_state() -> None:
    reflector = Reflector(Store(ConfigMap))
    listed(reflector, cm("a", "1", v="old"), rv="1")
    change = reflector.apply(event(Change.APPLY, cm("a", "2", v="new")))
    assert change is not None and change.type == "MODIFIED" and not change.initial
    assert change.old is not None and change.old.data == {"v": "old"}
    assert change.object.data == {"v": "new"}


def test_watched_delete_removes_and_reports_the_stored_state_as_old() -> None:
    reflector = Reflector(Store(ConfigMap))
    listed(reflector, cm("a", "1", v="stored"), rv="1")
    change = reflector.apply(event(Change.DELETE, cm("a", "3", v="final")))
    assert change is not None and change.type == "DELETED"
    assert change.object.data == {"v": "final"}
    assert change.old is not None and change.old.data == {"v": "stored"}
    assert reflector.store.get("a", "default") is None


def test_relist_infers_the_deletion_of_what_it_no_longer_lists() -> None:
    reflector = Reflector(Store(ConfigMap))
    listed(reflector, cm("keep", "1"), cm("vanish", "2", v="last"), rv="2")
    changes = listed(reflector, cm("keep", "1"), rv="9")
    assert [(c.type, c.name, c.initial) for c in changes] == [("DELETED", "vanish", True)]
    assert changes[0].object.data == {"v": "last"}
    assert [ref.name for ref in reflector.store.keys()] == ["keep"]


def test_relisted_object_at_the_same_version_is_no_change() -> None:
    reflector = Reflector(Store(ConfigMap))
    listed(reflector, cm("a", "1"), rv="1")
    assert listed(reflector, cm("a", "1"), rv="5") == []


def test_relisted_object_at_a_new_version_is_modified() -> None:
    reflector = Reflector(Store(ConfigMap))
    listed(reflector, cm("a", "1", v="1"), rv="1")
    (change,) = listed(reflector, cm("a", "4", v="2"), rv="5")
    assert (change.type, change.initial) == ("MODIFIED", True)
    assert change.old is not None and change.old.data == {"v": "1"}


def test_a_list_interrupted_and_restarted_forgets_the_partial_one() -> None:
    reflector = Reflector(Store(ConfigMap))
    listed(reflector, cm("a", "1"), cm("b", "1"), rv="1")
    reflector.apply(event(Change.INIT))
    reflector.apply(event(Change.INIT_APPLY, cm("a", "1")))
    # The list failed on its second page; the watcher starts again with INIT.
    changes = listed(reflector, cm("b", "1"), rv="3")
    assert [(c.type, c.name) for c in changes] == [("DELETED", "a")]
