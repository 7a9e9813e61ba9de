"""Owner references: one controller per object, same-namespace owners only."""

from __future__ import annotations

import pytest

from opframe.kinds import ConfigMap, Namespace
from opframe.ownership import (
    AlreadyOwnedError,
    controller_of,
    is_controlled_by,
    owner_reference_for,
    set_controller_reference,
    set_owner_reference,
)
from opframe.resource import ObjectMeta


def cm(name: str, namespace: str | None = "default", uid: str | None = None) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, namespace=namespace, uid=uid))


def test_controller_reference_points_at_owner() -> None:
    owner, child = cm("owner", uid="u1"), cm("child")
    set_controller_reference(owner, child)
    ref = controller_of(child)
    assert ref is not None
    assert (ref.api_version, ref.kind, ref.name, ref.uid) == ("v1", "ConfigMap", "owner", "u1")
    assert ref.controller and ref.block_owner_deletion
    assert is_controlled_by(child, owner)


def test_setting_the_same_controller_twice_keeps_one_reference() -> None:
    owner, child = cm("owner", uid="u1"), cm("child")
    set_controller_reference(owner, child)
    set_controller_reference(owner, child)
    assert len(child.metadata.owner_references or []) == 1


def test_second_controller_is_refused() -> None:
    child = cm("child")
    set_controller_reference(cm("a", uid="u1"), child)
    with pytest.raises(AlreadyOwnedError, match="already controlled by ConfigMap a"):
        set_controller_reference(cm("b", uid="u2"), child)


def test_plain_owner_reference_coexists_with_controller() -> None:
    child = cm("child")
    set_controller_reference(cm("a", uid="u1"), child)
    set_owner_reference(cm("b", uid="u2"), child)
    refs = child.metadata.owner_references or []
    assert [(r.uid, bool(r.controller)) for r in refs] == [("u1", True), ("u2", False)]


def test_namespaced_owner_cannot_own_across_namespaces() -> None:
    with pytest.raises(ValueError, match="only owns objects of its own namespace"):
        set_controller_reference(cm("owner", uid="u1"), cm("child", namespace="other"))


def test_cluster_scoped_owner_can_own_namespaced_object() -> None:
    ns = Namespace(metadata=ObjectMeta(name="team", uid="ns-uid"))
    child = cm("child")
    set_controller_reference(ns, child)
    assert is_controlled_by(child, ns)


def test_owner_without_uid_is_refused() -> None:
    with pytest.raises(ValueError, match="no name or uid"):
        owner_reference_for(cm("owner"))
