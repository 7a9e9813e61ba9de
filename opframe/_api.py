"""Where a model lives in the REST API, and how it crosses the wire.

One place maps a :class:`~opframe.resource.Resource` class to its URL paths and converts
between models and JSON dicts, so the client, the watcher and the cache agree on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

from opframe.errors import ConfigError
from opframe.resource import Resource

__all__ = ["ApiInfo", "api_info", "model_from_dict", "model_from_json", "model_to_dict"]

T = TypeVar("T", bound=Resource)


@dataclass(frozen=True)
class ApiInfo:
    """The REST coordinates of one kind."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, else ``group/version``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The URL path of the collection, or of one object (and its subresource)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            if not name:
                raise ValueError(f"{self.kind}: an empty name has no URL")
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base

    def describe(self, name: str | None, namespace: str | None) -> str:
        """``Kind namespace/name`` for messages."""
        if name is None:
            return self.kind
        return f"{self.kind} {namespace}/{name}" if namespace else f"{self.kind} {name}"


_INFO: dict[type[Any], ApiInfo] = {}


def api_info(model: type[Any]) -> ApiInfo:
    """The :class:`ApiInfo` of a resource class (from its ``__resource__`` declaration)."""
    info = _INFO.get(model)
    if info is None:
        info = _INFO[model] = _api_info(model)
    return info


def _api_info(model: type[Any]) -> ApiInfo:
    declared = getattr(model, "__resource__", None)
    if declared is None:
        raise ConfigError(
            f"{getattr(model, '__name__', model)} is not a resource class: subclass "
            "opframe.Resource and declare group=, version= (and scope=) on it"
        )
    return ApiInfo(
        group=declared.group,
        version=declared.version,
        kind=declared.kind,
        plural=declared.plural,
        namespaced=declared.namespaced,
    )


def model_to_dict(obj: Resource | dict[str, Any]) -> dict[str, Any]:
    """The wire form (camelCase JSON dict) of a model; a dict is passed through."""
    if isinstance(obj, dict):
        return obj
    return obj.to_dict()


def model_from_dict(model: type[T], data: dict[str, Any]) -> T:
    """Build a model from its wire form."""
    return model.model_validate(data)


def model_from_json(model: type[T], data: bytes) -> T:
    """Build a model from its wire form as JSON bytes (pydantic's JSON parser, no dicts)."""
    return model.model_validate_json(data)
