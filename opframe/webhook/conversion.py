"""CRD conversion webhooks: hub and spokes, as controller-runtime does it.

One version of a kind is the *hub*; every other served version is a *spoke* that knows how
to convert itself to the hub and back::

    class WebV1(Resource, group="demo.example.com", version="v1", kind="Web", storage=False):
        spec: WebSpecV1                       # replicas: int

        def convert_to_hub(self) -> WebV2:
            return WebV2(metadata=self.metadata, spec=WebSpecV2(scale=self.spec.replicas))

        @classmethod
        def convert_from_hub(cls, hub: WebV2) -> WebV1:
            return cls(metadata=hub.metadata, spec=WebSpecV1(replicas=hub.spec.scale))

    class WebV2(Resource, group="demo.example.com", version="v2", kind="Web"):
        spec: WebSpecV2

    manager.add_webhook(ConversionWebhook(hub=WebV2, spokes=[WebV1]))

A spoke-to-spoke conversion goes through the hub. The server answers
``apiextensions.k8s.io/v1`` ``ConversionReview``: ``response.uid`` echoes the request,
``convertedObjects`` are in the order of ``request.objects``, and ``result.status`` is
``Success`` or ``Failure`` with a message (the API server then fails the read or write).

Metadata follows kube-apiserver's rules (``apiextensions-apiserver/pkg/apiserver/conversion/
webhook_converter.go``): a conversion may change only labels and annotations. So the SDK keeps
every other metadata field of the object it was sent, and refuses (``Failure``) a conversion
that changed the name, namespace or uid. Labels and annotations are the converted object's when
it has them, else the original's.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar

from pydantic import ValidationError

from opframe._logging import logger_for
from opframe.errors import OpframeError
from opframe.resource import Resource, ResourceInfo, resource_info
from opframe.webhook.admission import ReviewError, _one_line

__all__ = ["CONVERSION_REVIEW_VERSION", "ConversionError", "ConversionWebhook", "Convertible"]

CONVERSION_REVIEW_VERSION = "apiextensions.k8s.io/v1"
"""The ConversionReview version served (listed in ``conversionReviewVersions``)."""

H = TypeVar("H", bound=Resource)
_log = logger_for("webhook")


class Convertible(Protocol[H]):
    """What a spoke version defines: conversion to the hub ``H`` and back."""

    def convert_to_hub(self) -> H:
        """This object as the hub version."""
        ...

    @classmethod
    def convert_from_hub(cls, hub: H) -> Self:
        """The hub object as this version."""
        ...


class ConversionError(OpframeError):
    """Raised by a conversion function for an object it cannot convert; the API server
    fails the read or write with this message."""


@dataclass(frozen=True)
class ConversionWebhook:
    """Converts one kind between its versions through ``hub`` (served at ``path``).

    Args:
        hub: the hub version's resource class (often the storage version).
        spokes: the other versions; each defines ``convert_to_hub(self)`` and the classmethod
            ``convert_from_hub(cls, hub)`` (see :class:`Convertible`).
        path: the URL path (default ``/convert``; all kinds may share it).

    Raises:
        TypeError: a spoke lacks a conversion method, is async, or is another kind.
    """

    hub: type[Resource]
    spokes: Sequence[type[Resource]]
    path: str = "/convert"

    def __post_init__(self) -> None:
        hub = resource_info(self.hub)
        object.__setattr__(self, "spokes", tuple(self.spokes))
        if not self.spokes:
            raise TypeError(f"ConversionWebhook({hub.kind}): name at least one spoke version")
        seen = {hub.version}
        for spoke in self.spokes:
            info = resource_info(spoke)
            where = f"ConversionWebhook(hub={self.hub.__name__}): spoke {spoke.__name__}"
            if (info.group, info.kind) != (hub.group, hub.kind):
                raise TypeError(f"{where} is {info.group}/{info.kind}, not {hub.group}/{hub.kind}")
            if info.version in seen:
                raise TypeError(f"{where}: version {info.version} is declared twice")
            seen.add(info.version)
            for method in ("convert_to_hub", "convert_from_hub"):
                function = getattr(spoke, method, None)
                if not callable(function):
                    raise TypeError(f"{where} must define {method}() (see opframe.Convertible)")
                if inspect.iscoroutinefunction(function):
                    raise TypeError(f"{where}.{method} must be a plain def: conversion is pure")

    @property
    def info(self) -> ResourceInfo:
        """The hub's :class:`~opframe.ResourceInfo` (group and kind of every version)."""
        return resource_info(self.hub)

    def model_for(self, api_version: str) -> type[Resource] | None:
        """The resource class of ``api_version`` (``group/version``) among hub and spokes."""
        for model in (self.hub, *self.spokes):
            if resource_info(model).api_version == api_version:
                return model
        return None

    def convert(self, obj: Mapping[str, Any], desired_api_version: str) -> dict[str, Any]:
        """Convert one object (wire JSON) to ``desired_api_version``; returns wire JSON.

        Raises:
            ConversionError: an unknown version, an object that does not parse, a conversion
                that failed or changed the name, namespace or uid.
        """
        source = self._model(str(obj.get("apiVersion")), "object")
        target = self._model(desired_api_version, "desiredAPIVersion")
        described = f"{self.info.kind} {_describe(obj)}"
        if obj.get("kind") != self.info.kind:
            raise ConversionError(f"{described}: kind {obj.get('kind')!r} is not {self.info.kind}")
        if source is target:
            return dict(obj)
        try:
            typed = source.model_validate(obj)
        except ValidationError as exc:
            raise ConversionError(
                f"{described} is not a valid {source.__name__}: {_one_line(exc)}"
            ) from None
        hub = typed if source is self.hub else typed.convert_to_hub()  # type: ignore[attr-defined]
        converted = hub if target is self.hub else target.convert_from_hub(hub)  # type: ignore[attr-defined]
        if not isinstance(converted, target):
            raise ConversionError(
                f"{described}: converting to {desired_api_version} gave "
                f"{type(converted).__name__}, not {target.__name__}"
            )
        out = converted.to_dict()
        out["metadata"] = _restore_metadata(
            obj.get("metadata") or {}, out.get("metadata") or {}, described, desired_api_version
        )
        return out

    def _model(self, api_version: str, where: str) -> type[Resource]:
        model = self.model_for(api_version)
        if model is None:
            known = ", ".join(resource_info(m).api_version for m in (self.hub, *self.spokes))
            raise ConversionError(
                f"{where} {api_version!r} is not a version of {self.info.kind} this webhook "
                f"converts ({known}); add its model to ConversionWebhook(spokes=...)"
            )
        return model

    def review(self, body: Any) -> dict[str, Any]:
        """Answer one ``ConversionReview`` (decoded JSON) with the reply."""
        request = _conversion_request(body)
        desired = str(request.get("desiredAPIVersion") or "")
        converted: list[dict[str, Any]] = []
        result: dict[str, Any] = {"status": "Success"}
        try:
            for obj in request.get("objects") or []:
                if not isinstance(obj, dict):
                    raise ConversionError("request.objects holds something that is not an object")
                converted.append(self.convert(obj, desired))
        except ConversionError as exc:
            converted, result = [], {"status": "Failure", "message": str(exc)}
        except Exception as exc:
            _log.exception("conversion of %s to %s failed", self.info.kind, desired)
            converted = []
            result = {"status": "Failure",
                      "message": f"converting {self.info.kind} to {desired} failed: "
                                 f"{type(exc).__name__}: {exc}"}
        return {
            "apiVersion": CONVERSION_REVIEW_VERSION,
            "kind": "ConversionReview",
            "response": {"uid": request["uid"], "convertedObjects": converted, "result": result},
        }


def _conversion_request(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict) or body.get("kind") != "ConversionReview" or body.get(
        "apiVersion"
    ) != CONVERSION_REVIEW_VERSION:
        got = (body.get("apiVersion"), body.get("kind")) if isinstance(body, dict) else body
        raise ReviewError(
            f"expected apiVersion {CONVERSION_REVIEW_VERSION} kind ConversionReview, got "
            f"{got!r}; list only v1 in conversionReviewVersions"
        )
    request = body.get("request")
    if not isinstance(request, dict) or not request.get("uid"):
        raise ReviewError("ConversionReview has no request with a uid")
    return request


def _describe(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    name = meta.get("name") or "<unnamed>"
    return f"{meta['namespace']}/{name}" if meta.get("namespace") else name


def _restore_metadata(
    original: Mapping[str, Any], converted: Mapping[str, Any], described: str, desired: str
) -> dict[str, Any]:
    for key in ("name", "namespace", "uid"):
        if converted.get(key) and converted.get(key) != original.get(key):
            raise ConversionError(
                f"{described}: converting to {desired} changed metadata.{key} "
                f"({original.get(key)!r} -> {converted.get(key)!r}); a conversion may change "
                "only labels and annotations"
            )
    out = dict(original)
    for key in ("labels", "annotations"):
        value = converted.get(key)
        if value is not None:
            if not all(isinstance(v, str) for v in value.values()):
                raise ConversionError(f"{described}: metadata.{key} values must be strings")
            out[key] = dict(value)
        elif key in original:
            out[key] = original[key]
    return out
