"""Predicates filter updates only, and combine with &, | and ~."""

from __future__ import annotations

from typing import Any

from opframe import ObjectRef, owner_reference_for
from opframe.handlers import enqueue_for_owner, enqueue_mapped
from opframe.predicates import (
    annotations_changed,
    generation_changed,
    labels_changed,
    predicate,
    resource_version_changed,
)
from opframe.reflector import ResourceEvent

from ._fakes import Web, web


def modified(old: Web, new: Web) -> ResourceEvent[Any]:
    return ResourceEvent.of("MODIFIED", new, old)


def test_generation_changed_passes_spec_changes_only() -> None:
    assert generation_changed(modified(web("a", generation=1), web("a", generation=2)))
    assert not generation_changed(modified(web("a", generation=1), web("a", generation=1)))


def test_builtin_predicates_always_pass_creates_and_deletes() -> None:
    for type_ in ("ADDED", "DELETED"):
        event = ResourceEvent.of(type_, web("a"))  # type: ignore[arg-type]
        assert generation_changed(event)
        assert labels_changed(event)


def test_labels_and_annotations_changed_compare_their_maps() -> None:
    plain = web("a")
    labelled = web("a", labels={"x": "1"})
    annotated = web("a", annotations={"y": "2"})
    assert labels_changed(modified(plain, labelled))
    assert not labels_changed(modified(plain, annotated))
    assert annotations_changed(modified(plain, annotated))
    assert not annotations_changed(modified(plain, labelled))


def test_resource_version_changed_drops_resyncs() -> None:
    one = web("a", resource_version="1")
    two = web("a", resource_version="2")
    assert resource_version_changed(modified(one, two))
    assert not resource_version_changed(modified(one, one))


def test_predicates_combine_with_operators() -> None:
    relabel = modified(web("a"), web("a", labels={"x": "1"}))
    assert (generation_changed | labels_changed)(relabel)
    assert not (generation_changed & labels_changed)(relabel)
    assert (~generation_changed)(relabel)


def test_plain_functions_become_predicates() -> None:
    @predicate
    def named_a(event: Any) -> bool:
        return bool(event.object.metadata.name == "a")

    assert named_a(ResourceEvent.of("ADDED", web("a")))
    assert not (named_a & generation_changed)(ResourceEvent.of("ADDED", web("b")))
    assert "named_a" in repr(named_a & generation_changed)


def test_owner_mapping_follows_only_the_controller_reference_by_default() -> None:
    owner, other = web("owner"), web("other")
    child = web(
        "child",
        owner_references=[
            owner_reference_for(owner, controller=True),
            owner_reference_for(other, controller=False),
        ],
    )
    event = ResourceEvent.of("ADDED", child)
    assert list(enqueue_for_owner(Web)(event)) == [ObjectRef("default", "owner")]
    every = enqueue_for_owner(Web, only_controller=False)(event)
    assert set(every) == {ObjectRef("default", "owner"), ObjectRef("default", "other")}


def test_owner_mapping_ignores_owners_of_other_kinds() -> None:
    ref = owner_reference_for(web("owner")).model_copy(update={"kind": "Other"})
    child = web("child", owner_references=[ref])
    assert list(enqueue_for_owner(Web)(ResourceEvent.of("ADDED", child))) == []


def test_mapper_sees_old_and_new_objects_of_an_update() -> None:
    def by_label(obj: Web) -> list[ObjectRef]:
        target = (obj.metadata.labels or {}).get("web")
        return [ObjectRef("default", target)] if target else []

    old = web("x", labels={"web": "before"})
    new = web("x", labels={"web": "after"})
    mapped = list(enqueue_mapped(by_label)(modified(old, new)))
    assert mapped == [ObjectRef("default", "before"), ObjectRef("default", "after")]
