"""Owner references: how an operator marks the objects it creates as its own.

An owner reference makes the garbage collector delete the object with its owner, and lets a
controller map an event on the object back to the owner to reconcile::

    pod = Pod(metadata=ObjectMeta(name="etcd-0", namespace=cluster.metadata.namespace))
    set_controller_reference(cluster, pod)
    await client.create(pod)

At most one owner reference is the *controller*; :func:`set_controller_reference` refuses
to take an object another controller owns.
"""

from __future__ import annotations

from opframe.errors import OpframeError
from opframe.resource import OwnerReference, Resource

__all__ = [
    "AlreadyOwnedError",
    "controller_of",
    "is_controlled_by",
    "owner_reference_for",
    "set_controller_reference",
    "set_owner_reference",
]


class AlreadyOwnedError(OpframeError):
    """The object already has another controller owner reference."""


def owner_reference_for(
    owner: Resource, *, controller: bool = True, block_owner_deletion: bool = True
) -> OwnerReference:
    """An owner reference to ``owner``, to put on the objects it owns.

    ``owner`` must have been read from the API server (it needs its ``name`` and ``uid``)::

        pod.metadata.owner_references = [owner_reference_for(cluster)]

    Raises:
        ValueError: ``owner`` has no name or uid yet.
    """
    if not owner.metadata.name or not owner.metadata.uid:
        raise ValueError(
            f"{owner.describe()} has no name or uid yet; "
            "use the object as returned by the API server as the owner"
        )
    return OwnerReference(
        api_version=owner.api_version,
        kind=owner.kind,
        name=owner.metadata.name,
        uid=owner.metadata.uid,
        controller=controller,
        block_owner_deletion=block_owner_deletion,
    )


def _check_scope(owner: Resource, obj: Resource) -> None:
    owner_ns = owner.metadata.namespace
    if owner_ns and obj.metadata.namespace != owner_ns:
        where = (
            f"namespace {obj.metadata.namespace!r}"
            if obj.metadata.namespace
            else ("the cluster scope")
        )
        raise ValueError(
            f"{owner.describe()} cannot own {obj.describe()} in {where}: a "
            "namespaced owner only owns objects of its own namespace"
        )


def _upsert(obj: Resource, ref: OwnerReference) -> None:
    refs = list(obj.metadata.owner_references or [])
    for index, existing in enumerate(refs):
        if existing.uid == ref.uid:
            refs[index] = ref
            break
    else:
        refs.append(ref)
    obj.metadata.owner_references = refs


def set_controller_reference(
    owner: Resource, obj: Resource, *, block_owner_deletion: bool = True
) -> None:
    """Make ``owner`` the controller of ``obj`` (in place).

    Replaces an earlier reference to the same owner. Raises :class:`AlreadyOwnedError` if
    another object controls ``obj``, and ``ValueError`` for a namespaced owner of an object
    outside its namespace (the garbage collector would delete it at once).
    """
    _check_scope(owner, obj)
    ref = owner_reference_for(owner, controller=True, block_owner_deletion=block_owner_deletion)
    current = controller_of(obj)
    if current is not None and current.uid != ref.uid:
        raise AlreadyOwnedError(
            f"{obj.describe()} is already controlled by {current.kind} {current.name} "
            f"(uid {current.uid}); an object has at most one controller"
        )
    _upsert(obj, ref)


def set_owner_reference(owner: Resource, obj: Resource) -> None:
    """Add ``owner`` as a non-controller owner of ``obj`` (in place)."""
    _check_scope(owner, obj)
    _upsert(obj, owner_reference_for(owner, controller=False, block_owner_deletion=False))


def controller_of(obj: Resource) -> OwnerReference | None:
    """The owner reference marked ``controller: true``, or ``None``."""
    for ref in obj.metadata.owner_references or ():
        if ref.controller:
            return ref
    return None


def is_controlled_by(obj: Resource, owner: Resource) -> bool:
    """Whether ``owner`` is the controller of ``obj`` (by uid)."""
    ref = controller_of(obj)
    return ref is not None and owner.metadata.uid is not None and ref.uid == owner.metadata.uid
