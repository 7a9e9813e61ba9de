"""What the embedded API server knows about one served resource (built-in or from a CRD)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ResourceType"]


@dataclass(frozen=True)
class ResourceType:
    """One resource at one served version, e.g. ``apps/v1 deployments``.

    ``schema`` is the CRD's ``openAPIV3Schema`` for custom resources and ``None`` for built-ins.
    ``subresources`` names the served subresources (``status``, ``scale``, ``log``, ...).
    ``scale`` holds a CRD's scale subresource paths (``specReplicasPath``...).
    ``printer_columns`` holds a CRD's ``additionalPrinterColumns``.
    """

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    list_kind: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    subresources: frozenset[str] = frozenset()
    custom: bool = False
    schema: dict[str, Any] | None = None
    scale: dict[str, Any] | None = None
    printer_columns: tuple[dict[str, Any], ...] = ()
    storage_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, else ``group/version``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``deployments.apps``, or ``pods`` for the core group (as in error messages)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural
