"""One identity for one object: :class:`ObjectRef` ``(namespace, name)``.

The same value is the work queue's key, the informer store's key, ``ResourceEvent.ref``,
``Context.ref`` and ``Resource.ref``; nothing translates between spellings::

    ref = ObjectRef("default", "web")
    str(ref)                     # "default/web"
    ObjectRef("", "node-1")      # a cluster-scoped object: namespace ""
    web.ref == ref               # for a Web read from the API server

Like controller-runtime's ``types.NamespacedName``, a cluster-scoped object has the namespace
``""``. ``ObjectRef(None, name)`` is accepted and normalised to ``""``, so a value built from
``metadata.namespace`` (``None`` when unset) finds the same key.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ObjectRef"]


class _Fields(NamedTuple):
    namespace: str
    name: str


class ObjectRef(_Fields):
    """The key of one object: its namespace (``""`` if cluster-scoped) and its name.

    A tuple underneath: keys are hashed several times per watch event, and a tuple hashes
    in C. It compares equal to the plain tuple ``(namespace, name)``.

    Example::

        queue.add(ObjectRef(pod.namespace, pod.name))
        cache.get(Pod, ref.name, ref.namespace)
    """

    __slots__ = ()

    def __new__(cls, namespace: str | None, name: str) -> ObjectRef:
        return tuple.__new__(cls, (namespace or "", name))

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def __repr__(self) -> str:
        return f"ObjectRef({self.namespace!r}, {self.name!r})"

    @classmethod
    def parse(cls, text: str) -> ObjectRef:
        """``"ns/name"`` -> ``ObjectRef("ns", "name")``; ``"name"`` -> cluster-scoped."""
        namespace, _, name = text.rpartition("/")
        if not name:
            raise ValueError(f"{text!r} is not 'namespace/name' or 'name'")
        return cls(namespace, name)


def make_ref(namespace: str, name: str) -> ObjectRef:
    """An :class:`ObjectRef` from an already normalised namespace (the store's hot path)."""
    return tuple.__new__(ObjectRef, (namespace, name))
