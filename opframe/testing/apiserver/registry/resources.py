"""The resources the server serves: built-in kinds plus those registered by CRDs.

Lookups are by ``(group, version, plural)``; storage is shared by every version of a resource
and keyed by :func:`storage_key`. Discovery documents are built from here (``discovery``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opframe.testing.apiserver.registry.resource_type import ResourceType

__all__ = ["Registry", "storage_key"]


def storage_key(rt: ResourceType) -> str:
    """Where objects of ``rt`` are stored: ``group/plural`` of the stored resource.

    A built-in may name another resource's storage in ``extra["storage"]``: events.k8s.io
    events live with core events.
    """
    shared = rt.extra.get("storage")
    if isinstance(shared, str):
        return shared
    if rt.group == "events.k8s.io" and rt.plural == "events":
        return "/events"
    return f"{rt.group}/{rt.plural}"


@dataclass
class _Group:
    versions: dict[str, dict[str, ResourceType]] = field(default_factory=dict)
    preferred: str = ""
    custom: bool = False


class Registry:
    """Served resource types; CRDs add and remove theirs at run time."""

    def __init__(self, builtins: tuple[ResourceType, ...]) -> None:
        self._groups: dict[str, _Group] = {}
        self._by_crd: dict[str, list[ResourceType]] = {}
        for rt in builtins:
            self._add(rt)

    def _add(self, rt: ResourceType) -> None:
        g = self._groups.setdefault(rt.group, _Group(custom=rt.custom))
        g.versions.setdefault(rt.version, {})[rt.plural] = rt
        if not g.preferred:
            g.preferred = rt.version

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The served type at ``group/version/plural``, or ``None``."""
        g = self._groups.get(group)
        if g is None:
            return None
        return g.versions.get(version, {}).get(plural)

    def group_known(self, group: str) -> bool:
        """Whether any version of ``group`` is served."""
        return group in self._groups

    def group_custom(self, group: str) -> bool:
        """Whether ``group`` is served only by CRDs (unknown paths in it answer plain 404)."""
        g = self._groups.get(group)
        return g is not None and g.custom

    def version_known(self, group: str, version: str) -> bool:
        """Whether ``group/version`` is served."""
        g = self._groups.get(group)
        return g is not None and version in g.versions

    def groups(self) -> list[str]:
        """Served API groups (core ``""`` included), built-ins first, in registration order."""
        return list(self._groups)

    def versions(self, group: str) -> list[str]:
        """Served versions of a group, preferred first."""
        g = self._groups.get(group)
        if g is None:
            return []
        return [g.preferred] + [v for v in g.versions if v != g.preferred]

    def resources(self, group: str, version: str) -> list[ResourceType]:
        """Types served at ``group/version``."""
        g = self._groups.get(group)
        return list(g.versions.get(version, {}).values()) if g else []

    def by_storage(self, key: str) -> list[ResourceType]:
        """Every served type whose objects live under storage ``key``."""
        return [
            rt
            for g in self._groups.values()
            for vs in g.versions.values()
            for rt in vs.values()
            if storage_key(rt) == key
        ]

    def find_plural(self, plural: str, group: str = "") -> ResourceType | None:
        """The preferred-version type of ``plural`` in ``group``."""
        for v in self.versions(group):
            rt = self.lookup(group, v, plural)
            if rt is not None:
                return rt
        return None

    def find_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The type serving ``kind`` at ``apiVersion`` (for ownerReferences)."""
        group, _, version = api_version.rpartition("/")
        g = self._groups.get(group)
        if g is None:
            return None
        for rt in g.versions.get(version, {}).values():
            if rt.kind == kind:
                return rt
        return None

    def all_types(self) -> list[ResourceType]:
        """Every served type."""
        return [
            rt for g in self._groups.values() for vs in g.versions.values() for rt in vs.values()
        ]

    # -- CRDs ------------------------------------------------------------------------------

    def add_crd(self, crd_name: str, types: list[ResourceType], preferred: str) -> None:
        """Serve the types of a CRD (replacing what it served before)."""
        self.remove_crd(crd_name)
        for rt in types:
            self._add(rt)
        if types:
            g = self._groups[types[0].group]
            if preferred in g.versions:
                g.preferred = preferred
        self._by_crd[crd_name] = types

    def remove_crd(self, crd_name: str) -> list[ResourceType]:
        """Stop serving a CRD's types."""
        types = self._by_crd.pop(crd_name, [])
        for rt in types:
            g = self._groups.get(rt.group)
            if g is None:
                continue
            vs = g.versions.get(rt.version)
            if vs is not None:
                vs.pop(rt.plural, None)
                if not vs:
                    del g.versions[rt.version]
            if not g.versions:
                del self._groups[rt.group]
            elif g.preferred not in g.versions:
                g.preferred = next(iter(g.versions))
        return types

    def crd_types(self, crd_name: str) -> list[ResourceType]:
        """The types a CRD currently serves."""
        return list(self._by_crd.get(crd_name, []))
