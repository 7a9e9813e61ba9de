"""Objects of kinds without a typed class: :func:`dynamic_kind` and :class:`DynamicResource`.

An operator sometimes handles a kind it has no model for (another operator's custom resource,
a built-in opframe does not wrap). :func:`dynamic_kind` makes a resource class from the kind's
REST coordinates alone; its objects keep every field as read, so the class works everywhere a
typed one does (``Client``, ``watch``, ``Cache``, ``Controller``)::

    Certificate = dynamic_kind("cert-manager.io/v1", "Certificate")
    cert = await client.get(Certificate, "web-tls", "default")
    cert["spec"]["dnsNames"]                     # the raw JSON, as a dict
    cert.get("status", {}).get("conditions")
    Controller(for_=Certificate, reconciler=reconcile)

This is kube-rs's ``DynamicObject`` + ``ApiResource``: the identity is declared once (on the
class), the body is raw. ``metadata`` is still the typed :class:`~opframe.ObjectMeta`, so
``obj.name``, ``obj.ref`` and owner references work as for any resource.
"""

from __future__ import annotations

import types
from typing import Any, Literal

from opframe.resource import Resource, pluralize, split_api_version

__all__ = ["DynamicResource", "dynamic_kind"]

_KINDS: dict[tuple[str, str, str, bool], type[DynamicResource]] = {}


class DynamicResource(Resource):
    """Base of the classes :func:`dynamic_kind` makes: metadata typed, the rest raw JSON.

    Top-level fields other than ``apiVersion``, ``kind`` and ``metadata`` (``spec``,
    ``status``, ``data``, ...) are kept as read and written back unchanged; read them with
    ``obj["spec"]`` or ``obj.get("status")`` and set them with ``obj["spec"] = {...}``.
    """

    def __getitem__(self, field: str) -> Any:
        extra = self.__pydantic_extra__ or {}
        try:
            return extra[field]
        except KeyError:
            raise KeyError(f"{self.describe()} has no top-level field {field!r}") from None

    def __setitem__(self, field: str, value: Any) -> None:
        if field in ("apiVersion", "kind", "metadata"):
            raise KeyError(f"set {field!r} through its attribute, not as a raw field")
        if self.__pydantic_extra__ is None:
            self.__pydantic_extra__ = {}
        self.__pydantic_extra__[field] = value

    def __contains__(self, field: object) -> bool:
        return field in (self.__pydantic_extra__ or {})

    def get(self, field: str, default: Any = None) -> Any:
        """The raw top-level ``field`` (``spec``, ``status``, ...), or ``default``."""
        return (self.__pydantic_extra__ or {}).get(field, default)


def dynamic_kind(
    api_version: str,
    kind: str,
    *,
    plural: str | None = None,
    scope: Literal["Namespaced", "Cluster"] = "Namespaced",
) -> type[DynamicResource]:
    """A resource class for ``kind`` in ``api_version``, its objects kept as raw JSON.

    ``plural`` defaults to the English plural of the kind (``Certificate`` ->
    ``certificates``); pass it for irregular names. The same arguments give the same class,
    so two controllers asking for one kind share one informer.

    Example::

        Deployment = dynamic_kind("apps/v1", "Deployment")
        Node = dynamic_kind("v1", "Node", scope="Cluster")
    """
    group, version = split_api_version(api_version)
    if not version or not kind:
        raise ValueError(
            f"dynamic_kind needs an apiVersion and a kind, got {api_version!r}, {kind!r}"
        )
    plural = plural or pluralize(kind)
    key = (api_version, kind, plural, scope == "Namespaced")
    cls = _KINDS.get(key)
    if cls is None:
        keywords = {
            "group": group,
            "version": version,
            "kind": kind,
            "plural": plural,
            "scope": scope,
            # No CRD is generated from a class that declares no schema.
            "builtin": True,
            "status_subresource": False,
        }
        made = types.new_class(kind, (DynamicResource,), keywords)
        made.__module__ = __name__
        made.__qualname__ = f"dynamic_kind({api_version!r}, {kind!r})"
        cls = _KINDS[key] = made
    return cls
