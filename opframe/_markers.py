"""Schema markers: ``typing.Annotated`` metadata that shapes a model's CRD schema.

They are plain frozen values with no behaviour; :mod:`opframe.crd` reads them while it walks a
model, and :mod:`opframe.resource` keeps the class-level ones (printer columns, scale) on
:class:`~opframe.resource.ResourceInfo`. Import them from :mod:`opframe.crd` or :mod:`opframe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "AGE_COLUMN",
    "EmbeddedResource",
    "ListType",
    "MapType",
    "PreserveUnknownFields",
    "PrinterColumn",
    "Scale",
    "Validation",
]


@dataclass(frozen=True)
class PreserveUnknownFields:
    """Keep fields the schema does not name (``x-kubernetes-preserve-unknown-fields: true``).

    Needed for free-form data such as ``dict[str, Any]`` or ``Any``::

        extra: Annotated[dict[str, Any], PreserveUnknownFields()] = {}
    """


@dataclass(frozen=True)
class EmbeddedResource:
    """The field holds a whole Kubernetes object (``x-kubernetes-embedded-resource: true``).

    The API server then checks its ``apiVersion``, ``kind`` and ``metadata``. Combine with
    :class:`PreserveUnknownFields` for an object of any kind::

        template: Annotated[dict[str, Any], EmbeddedResource(), PreserveUnknownFields()]
    """


@dataclass(frozen=True)
class ListType:
    """How the API server merges a list (``x-kubernetes-list-type``).

    ``"atomic"`` (replaced whole), ``"set"`` (unique scalars) or ``"map"`` (items keyed by
    ``keys``, as ``x-kubernetes-list-map-keys``)::

        conditions: Annotated[list[Condition], ListType("map", keys=("type",))] = []
    """

    type: Literal["atomic", "set", "map"]
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type == "map" and not self.keys:
            raise ValueError('ListType("map") needs keys=(...) naming the item key fields')
        if self.type != "map" and self.keys:
            raise ValueError(f'ListType("{self.type}") takes no keys; keys are for "map"')


@dataclass(frozen=True)
class MapType:
    """How the API server merges an object or map (``x-kubernetes-map-type``).

    ``"granular"`` (field by field, the default) or ``"atomic"`` (replaced whole).
    """

    type: Literal["granular", "atomic"]


@dataclass(frozen=True)
class Validation:
    """A CEL validation rule (one entry of ``x-kubernetes-validations``).

    On a field it sees the field's value as ``self``; on a model (a class keyword
    ``validations=(...)`` on a :class:`~opframe.resource.Resource`, or the ``__validations__``
    class attribute of a nested model) it sees the whole object. ``oldSelf`` makes it a
    transition rule::

        size: Annotated[int, Validation("self % 2 == 1", message="size must be odd")]
    """

    rule: str
    message: str | None = None
    message_expression: str | None = None
    reason: (
        Literal[
            "FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"
        ]
        | None
    ) = None
    field_path: str | None = None
    optional_old_self: bool | None = None

    def to_schema(self) -> dict[str, Any]:
        """The rule as it appears in ``x-kubernetes-validations``."""
        out: dict[str, Any] = {"rule": self.rule}
        if self.message is not None:
            out["message"] = self.message
        if self.message_expression is not None:
            out["messageExpression"] = self.message_expression
        if self.reason is not None:
            out["reason"] = self.reason
        if self.field_path is not None:
            out["fieldPath"] = self.field_path
        if self.optional_old_self is not None:
            out["optionalOldSelf"] = self.optional_old_self
        return out


@dataclass(frozen=True)
class PrinterColumn:
    """A column of ``kubectl get`` (one entry of ``additionalPrinterColumns``).

    As a class keyword ``printer_columns=(PrinterColumn("Size", ".spec.size"), ...)`` give the
    ``json_path``; as field metadata (``Annotated[int, PrinterColumn("Size")]``) the path is
    the field's own and the type is inferred from the field. ``type`` is one of ``integer``,
    ``number``, ``string``, ``boolean``, ``date``.
    """

    name: str
    json_path: str | None = None
    type: Literal["integer", "number", "string", "boolean", "date"] | None = None
    description: str | None = None
    format: str | None = None
    priority: int = 0


AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")
"""The ``Age`` column ``kubectl`` shows by default, to repeat when adding columns."""


@dataclass(frozen=True)
class Scale:
    """The ``scale`` subresource: where the replica counts and the selector live.

    Paths are JSON paths such as ``.spec.size``; ``label_selector_path`` must point at a
    string field (the serialized selector), usually under ``.status``.
    """

    spec_replicas_path: str
    status_replicas_path: str
    label_selector_path: str | None = None

    def to_schema(self) -> dict[str, Any]:
        """The subresource as it appears in ``spec.versions[].subresources.scale``."""
        out: dict[str, Any] = {
            "specReplicasPath": self.spec_replicas_path,
            "statusReplicasPath": self.status_replicas_path,
        }
        if self.label_selector_path is not None:
            out["labelSelectorPath"] = self.label_selector_path
        return out
