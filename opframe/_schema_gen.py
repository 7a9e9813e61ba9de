"""Structural OpenAPI v3 schemas from pydantic models (the engine behind :mod:`opframe.crd`).

The walker reads the models' fields and type annotations directly rather than post-processing
pydantic's JSON Schema: a structural schema is a different language (no ``$ref``, ``nullable``
instead of ``anyOf [.., null]``, ``x-kubernetes-*`` extensions), and walking the types lets
every refusal name the model and field that caused it.
"""

from __future__ import annotations

import enum
import inspect
import types
import uuid
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import GroupedMetadata
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

from opframe._markers import (
    EmbeddedResource,
    ListType,
    MapType,
    PreserveUnknownFields,
    PrinterColumn,
    Validation,
)
from opframe.errors import SchemaError

__all__ = ["FieldColumn", "SchemaBuilder", "description_text", "model_description"]

_NUMERIC_CONSTRAINTS = ("gt", "ge", "lt", "le", "multiple_of")

# The order keys are written in: what a node is, then its constraints, then its children,
# then the Kubernetes extensions. Readers of the YAML find the type right under the name.
_KEY_ORDER = {
    key: i
    for i, key in enumerate(
        (
            "description",
            "type",
            "format",
            "nullable",
            "enum",
            "default",
            "minimum",
            "exclusiveMinimum",
            "maximum",
            "exclusiveMaximum",
            "multipleOf",
            "minLength",
            "maxLength",
            "pattern",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
            "anyOf",
            "items",
            "properties",
            "additionalProperties",
            "required",
            "x-kubernetes-embedded-resource",
            "x-kubernetes-int-or-string",
            "x-kubernetes-preserve-unknown-fields",
            "x-kubernetes-list-type",
            "x-kubernetes-list-map-keys",
            "x-kubernetes-map-type",
            "x-kubernetes-validations",
        )
    )
}


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(node.items(), key=lambda kv: _KEY_ORDER.get(kv[0], len(_KEY_ORDER))))


def model_description(model: type) -> str | None:
    """The first paragraph of the model's own docstring, or None.

    Only the summary: what follows it in a docstring is usually about the Python API
    (examples, attribute names) rather than the wire format ``kubectl explain`` shows.
    """
    doc = model.__dict__.get("__doc__")
    if not doc:
        return None
    return description_text(inspect.cleandoc(doc).split("\n\n")[0])


def description_text(text: str) -> str:
    """Docstring text as a schema description: paragraphs reflowed, ````code```` as ```code```."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    flowed = (" ".join(line.strip() for line in p.splitlines() if line.strip()) for p in paragraphs)
    return "\n\n".join(p for p in flowed if p).replace("``", "`")


@dataclass
class _Markers:
    """What the ``Annotated`` metadata of one node asks for."""

    preserve: bool = False
    embedded: bool = False
    list_type: ListType | None = None
    map_type: MapType | None = None
    validations: list[Validation] = field(default_factory=list)
    column: PrinterColumn | None = None
    constraints: dict[str, Any] = field(default_factory=dict)
    description: str | None = None

    def add(self, meta: Any) -> None:
        if isinstance(meta, PreserveUnknownFields):
            self.preserve = True
        elif isinstance(meta, EmbeddedResource):
            self.embedded = True
        elif isinstance(meta, ListType):
            self.list_type = meta
        elif isinstance(meta, MapType):
            self.map_type = meta
        elif isinstance(meta, Validation):
            self.validations.append(meta)
        elif isinstance(meta, PrinterColumn):
            self.column = meta
        elif isinstance(meta, FieldInfo):
            # Field(...) nested inside a type argument, e.g. list[Annotated[int, Field(ge=1)]].
            self.description = meta.description or self.description
            for inner in meta.metadata:
                self.add(inner)
        elif isinstance(meta, GroupedMetadata) and not hasattr(meta, "pattern"):
            for inner in meta:
                self.add(inner)
        else:
            # annotated_types (Ge, MaxLen...), pydantic's pattern metadata, StringConstraints:
            # read the constraint attributes they share rather than enumerate their classes.
            for name in (*_NUMERIC_CONSTRAINTS, "min_length", "max_length", "pattern"):
                value = getattr(meta, name, None)
                if value is not None:
                    self.constraints[name] = value


@dataclass(frozen=True)
class _Where:
    """Where the walker is: for error messages and printer column paths."""

    root: str
    path: tuple[str, ...] = ()
    model: str | None = None
    field: str | None = None
    json_path: str | None = ""  # None below a list or map: no printer column can point there
    stack: tuple[type[BaseModel], ...] = ()

    def below_collection(self, step: str) -> _Where:
        return _Where(self.root, (*self.path, step), self.model, self.field, None, self.stack)

    def error(self, problem: str) -> SchemaError:
        where = ".".join((self.root, *self.path)).replace(".[", "[").replace(".{", "{")
        owner = f" (field {self.field!r} of {self.model})" if self.model and self.field else ""
        return SchemaError(f"{where}{owner}: {problem}")


@dataclass(frozen=True)
class FieldColumn:
    """A printer column declared on a field, with the JSON path and schema it resolved to."""

    column: PrinterColumn
    json_path: str
    schema: dict[str, Any]


class SchemaBuilder:
    """Builds the structural schema of one model; collects field-level printer columns."""

    def __init__(self, root: str) -> None:
        self._root = root
        self.columns: list[FieldColumn] = []

    def model_schema(
        self,
        model: type[BaseModel],
        where: _Where | None = None,
        *,
        skip: Sequence[str] = (),
    ) -> dict[str, Any]:
        """The object schema of ``model``; fields named in ``skip`` are left out."""
        where = where or _Where(self._root)
        if model in where.stack:
            raise where.error(
                f"recursive model {model.__name__!r} cannot be expressed as a structural schema "
                "(it would be infinitely deep); use a bounded depth of separate models, or "
                "Annotated[dict[str, Any], PreserveUnknownFields()]"
            )
        if not model.__pydantic_complete__:
            try:
                model.model_rebuild(raise_errors=True)
            except Exception as exc:
                raise where.error(f"model {model.__name__!r} is incomplete: {exc}") from exc
        where = _Where(
            where.root, where.path, model.__name__, None, where.json_path, (*where.stack, model)
        )
        node: dict[str, Any] = {}
        description = model_description(model)
        if description:
            node["description"] = description
        node["type"] = "object"
        properties: dict[str, Any] = {}
        required: list[str] = []
        for name, info in model.model_fields.items():
            if name in skip or info.exclude is True:
                continue
            wire = info.serialization_alias or info.alias or name
            child = _Where(
                where.root,
                (*where.path, name),
                model.__name__,
                name,
                None if where.json_path is None else f"{where.json_path}.{wire}",
                where.stack,
            )
            properties[wire] = self._field_schema(info, child)
            if info.is_required():
                required.append(wire)
        if properties:
            node["properties"] = properties
        if required:
            node["required"] = required
        rules = getattr(model, "__validations__", ())
        if rules:
            node["x-kubernetes-validations"] = [v.to_schema() for v in rules]
        return node

    def _field_schema(self, info: FieldInfo, where: _Where) -> dict[str, Any]:
        assert info.annotation is not None
        node = self._schema(info.annotation, list(info.metadata), where)
        if info.description:
            node["description"] = description_text(info.description)
        if not info.is_required():
            default = self._default(info, where)
            if default is not None:
                node["default"] = default
        return _ordered(node)

    def _default(self, info: FieldInfo, where: _Where) -> Any:
        try:
            value = info.get_default(call_default_factory=True, validated_data={})
        except TypeError:
            return None  # a factory that needs other fields' values: no static default
        if value is None:
            return None
        try:
            dumped = TypeAdapter(Any).dump_python(
                value, mode="json", by_alias=True, exclude_none=True
            )
        except Exception as exc:
            raise where.error(f"default {value!r} cannot be serialized: {exc}") from exc
        # Empty containers add nothing a reader needs, and an empty default object would be
        # written into every stored object.
        if isinstance(dumped, (list, dict)) and not dumped:
            return None
        return dumped

    def _schema(self, tp: Any, meta: list[Any], where: _Where) -> dict[str, Any]:
        markers = _Markers()
        for m in meta:
            markers.add(m)
        tp, nullable = self._unwrap(tp, markers)
        node = self._base_schema(tp, markers, where)
        _apply_constraints(node, markers, where)
        if markers.description and "description" not in node:
            node["description"] = description_text(markers.description)
        if markers.embedded:
            node["type"] = "object"
            node["x-kubernetes-embedded-resource"] = True
        if markers.preserve:
            node["x-kubernetes-preserve-unknown-fields"] = True
        if markers.list_type is not None:
            self._apply_list_type(node, markers.list_type, where)
        if markers.map_type is not None:
            if node.get("type") != "object":
                raise where.error("MapType applies to objects and maps only")
            node["x-kubernetes-map-type"] = markers.map_type.type
        if markers.validations:
            node.setdefault("x-kubernetes-validations", [])
            node["x-kubernetes-validations"] += [v.to_schema() for v in markers.validations]
        # A node without a type (int-or-string, free-form) accepts null already; Kubernetes
        # forbids nullable there.
        if nullable and "type" in node:
            node["nullable"] = True
        if markers.column is not None:
            self._add_column(markers.column, node, where)
        return _ordered(node)

    def _unwrap(self, tp: Any, markers: _Markers) -> tuple[Any, bool]:
        """Strip ``Annotated`` (collecting its metadata) and ``None`` from unions."""
        nullable = False
        while True:
            if get_origin(tp) is Annotated:
                base, *extra = get_args(tp)
                for m in extra:
                    markers.add(m)
                tp = base
            elif _is_union(tp) and type(None) in get_args(tp):
                nullable = True
                rest = [a for a in get_args(tp) if a is not type(None)]
                tp = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007
            else:
                return tp, nullable

    def _base_schema(self, tp: Any, markers: _Markers, where: _Where) -> dict[str, Any]:
        origin = get_origin(tp)
        if tp is Any or tp is object:
            if not (markers.preserve or markers.embedded):
                raise where.error(
                    "a bare Any has no structural schema; annotate it with "
                    "PreserveUnknownFields() to keep free-form data"
                )
            return {}
        if _is_union(tp):
            return self._union_schema(get_args(tp), where)
        if origin is Literal:
            return _enum_schema(list(get_args(tp)), where)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum_schema([m.value for m in tp], where)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return self.model_schema(tp, where)
        scalar = _scalar_schema(tp)
        if scalar is not None:
            return scalar
        container = origin or tp
        if isinstance(container, type) and issubclass(container, Mapping):
            return self._map_schema(get_args(tp), markers, where)
        if isinstance(container, type) and issubclass(container, (Sequence, Set)):
            if issubclass(container, (str, bytes)):
                raise where.error(f"unsupported type {tp!r}")
            return self._array_schema(container, get_args(tp), where)
        raise where.error(f"type {tp!r} has no structural schema")

    def _union_schema(self, args: tuple[Any, ...], where: _Where) -> dict[str, Any]:
        branches: list[tuple[Any, _Markers]] = []
        for a in args:
            m = _Markers()
            branches.append((self._unwrap(a, m)[0], m))
        plain = [tp for tp, _ in branches]
        if set(plain) == {int, str}:
            node: dict[str, Any] = {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            }
            # Each branch's constraints go on the one node: the API server applies a value
            # validation only to values of its kind (a pattern to strings, a minimum to
            # numbers), so ``Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern=..)]``
            # means what pydantic means by it; controller-gen writes resource.Quantity so.
            for tp, m in branches:
                part = {"type": "integer" if tp is int else "string"}
                _apply_constraints(part, m, where)
                del part["type"]
                node.update(part)
            return node
        if set(plain) <= {int, float}:
            return {"type": "number"}
        if all(get_origin(a) is Literal for a in plain):
            return _enum_schema([v for a in plain for v in get_args(a)], where)
        names = ", ".join(getattr(a, "__name__", repr(a)) for a in plain)
        raise where.error(
            f"a union of different types ({names}) has no structural schema; use one model "
            "with optional fields for the alternatives (and a CEL rule to require exactly one)"
        )

    def _map_schema(
        self, args: tuple[Any, ...], markers: _Markers, where: _Where
    ) -> dict[str, Any]:
        key, value = args if len(args) == 2 else (str, Any)
        key_type = self._unwrap(key, _Markers())[0]
        if key_type is not str and not _is_string_enum(key_type):
            raise where.error(f"map keys must be strings, not {key_type!r}")
        if value is Any or value is object:
            if not markers.preserve:
                raise where.error(
                    "a map of Any has no structural schema; annotate the field with "
                    "PreserveUnknownFields() to keep free-form data"
                )
            return {"type": "object"}
        items = self._schema(value, [], where.below_collection("{}"))
        return {"type": "object", "additionalProperties": items}

    def _array_schema(
        self, container: type, args: tuple[Any, ...], where: _Where
    ) -> dict[str, Any]:
        if issubclass(container, tuple) and not (len(args) == 2 and args[1] is Ellipsis):
            raise where.error("only homogeneous tuples (tuple[X, ...]) have a schema; use a list")
        item = args[0] if args else Any
        node: dict[str, Any] = {
            "type": "array",
            "items": self._schema(item, [], where.below_collection("[]")),
        }
        if issubclass(container, Set):
            node["x-kubernetes-list-type"] = "set"
            _check_set_items(node, where)
        return node

    def _apply_list_type(self, node: dict[str, Any], list_type: ListType, where: _Where) -> None:
        if node.get("type") != "array":
            raise where.error("ListType applies to lists only")
        node["x-kubernetes-list-type"] = list_type.type
        if list_type.type == "set":
            _check_set_items(node, where)
        if list_type.type != "map":
            return
        items = node["items"]
        if items.get("type") != "object":
            raise where.error('ListType("map") needs a list of objects')
        props = items.get("properties", {})
        for key in list_type.keys:
            if key not in props:
                raise where.error(
                    f"list map key {key!r} is not a field of the items (wire names: "
                    f"{', '.join(props) or 'none'})"
                )
            # Kubernetes requires map keys to be required or defaulted, and scalars.
            if key not in items.get("required", []) and "default" not in props[key]:
                raise where.error(
                    f"list map key {key!r} must be a required field or have a default"
                )
        node["x-kubernetes-list-map-keys"] = list(list_type.keys)

    def _add_column(self, column: PrinterColumn, node: dict[str, Any], where: _Where) -> None:
        if where.json_path is None:
            raise where.error(
                "a PrinterColumn cannot point into a list or map; put it on the class"
            )
        self.columns.append(FieldColumn(column, column.json_path or where.json_path, node))


def _check_set_items(node: dict[str, Any], where: _Where) -> None:
    # The API server only compares scalars (and atomic objects) for set membership.
    items = node["items"]
    scalar = items.get("type") in ("string", "integer", "number", "boolean")
    if not scalar and items.get("x-kubernetes-map-type") != "atomic":
        raise where.error("a list of type set needs scalar items (or MapType('atomic') objects)")


def _is_union(tp: Any) -> bool:
    return get_origin(tp) is Union or isinstance(tp, types.UnionType)


def _is_string_enum(tp: Any) -> bool:
    if get_origin(tp) is Literal:
        return all(isinstance(v, str) for v in get_args(tp))
    return (
        isinstance(tp, type)
        and issubclass(tp, enum.Enum)
        and all(isinstance(m.value, str) for m in tp)
    )


def _scalar_schema(tp: Any) -> dict[str, Any] | None:
    # bool before int: bool is a subclass of int.
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if tp is bytes:
        return {"type": "string", "format": "byte"}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if tp is date:
        return {"type": "string", "format": "date"}
    if tp is uuid.UUID:
        return {"type": "string", "format": "uuid"}
    return None


def _enum_schema(values: list[Any], where: _Where) -> dict[str, Any]:
    values = [v.value if isinstance(v, enum.Enum) else v for v in values]
    kinds = {type(v) for v in values}
    if kinds == {str}:
        return {"type": "string", "enum": values}
    if kinds == {bool}:
        return {"type": "boolean", "enum": values}
    if kinds == {int}:
        return {"type": "integer", "enum": values}
    if kinds <= {int, float}:
        return {"type": "number", "enum": values}
    raise where.error(f"enum values {values!r} mix types; a schema enum has one type")


def _apply_constraints(node: dict[str, Any], markers: _Markers, where: _Where) -> None:
    c = markers.constraints
    if not c:
        return
    kind = node.get("type")
    numeric = {k: c[k] for k in _NUMERIC_CONSTRAINTS if k in c}
    if numeric:
        if kind not in ("integer", "number"):
            raise where.error(
                f"numeric constraints {sorted(numeric)} on a {kind or 'free-form'} field"
            )
        # OpenAPI v3.0 (which Kubernetes speaks): exclusiveMinimum is a flag on minimum.
        if "ge" in c:
            node["minimum"] = c["ge"]
        if "gt" in c:
            node["minimum"] = c["gt"]
            node["exclusiveMinimum"] = True
        if "le" in c:
            node["maximum"] = c["le"]
        if "lt" in c:
            node["maximum"] = c["lt"]
            node["exclusiveMaximum"] = True
        if "multiple_of" in c:
            node["multipleOf"] = c["multiple_of"]
    names = {
        "string": ("minLength", "maxLength"),
        "array": ("minItems", "maxItems"),
        "object": ("minProperties", "maxProperties"),
    }
    for py_name, index in (("min_length", 0), ("max_length", 1)):
        if py_name in c:
            if kind not in names:
                raise where.error(f"{py_name} on a {kind or 'free-form'} field")
            node[names[kind][index]] = c[py_name]
    if "pattern" in c:
        if kind != "string":
            raise where.error(f"pattern on a {kind or 'free-form'} field")
        pattern = c["pattern"]
        node["pattern"] = pattern if isinstance(pattern, str) else pattern.pattern
