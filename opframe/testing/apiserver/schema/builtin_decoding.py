"""Strict decoding of built-in objects, as kube-apiserver's JSON serializer decodes them.

The real server decodes a built-in body into its Go struct (``sigs.k8s.io/json``): a value of
the wrong JSON type is a fatal error naming the Go struct, the field path and the Go type
(``json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type
int32``), whatever ``fieldValidation`` says; unknown and duplicate fields are "strict" errors,
listed in the order they appear (``unknown field "spec.containers[0].imagePullPolice"``,
``duplicate field "spec.replicas"``), which ``fieldValidation`` turns into a 400 (Strict),
``Warning`` headers (Warn, the default) or nothing (Ignore). Unknown fields are dropped.

The field types are those of the published API, read from the ``kubernetes_asyncio`` models
(generated from kube-apiserver's OpenAPI document): JSON names from ``attribute_map``, types
from ``openapi_types``.

    result = decode(group, version, kind, obj, raw_body)
    result.type_error     # the fatal error text, or ""
    result.strict         # ['unknown field "spec.contaners"', ...]
    drop_unknown(obj, result)
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import models

__all__ = ["Decoded", "decode", "drop_unknown"]

#: Integer fields the API declares as int64 (the rest are int32).
_INT64 = frozenset({
    "activeDeadlineSeconds", "terminationGracePeriodSeconds", "deletionGracePeriodSeconds",
    "generation", "observedGeneration", "runAsUser", "runAsGroup", "fsGroup",
    "supplementalGroups", "gracePeriodSeconds", "expirationSeconds", "tolerationSeconds",
    "startingDeadlineSeconds", "revision", "sizeBytes",
})  # fmt: skip
#: Fields holding quantities (``resource.Quantity`` accepts JSON numbers and strings).
_QUANTITY_MAPS = frozenset({
    "limits", "requests", "capacity", "allocatable", "overhead", "hard", "used",
})  # fmt: skip
_QUANTITIES = frozenset({"sizeLimit", "storage"})
#: ``intstr.IntOrString`` fields (the models type them ``object``).
_INT_OR_STRING = frozenset({
    "maxSurge", "maxUnavailable", "minAvailable", "targetPort", "port", "partition",
})  # fmt: skip
#: ``resource.Quantity``'s format (``apimachinery/pkg/api/resource/quantity.go``).
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
QUANTITY_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_VERSIONED = re.compile(r"^[A-Z][a-z]*V\d+(?:alpha\d+|beta\d+)?|^V\d+(?:alpha\d+|beta\d+)?")
#: Root models whose name is not ``V1<Kind>``.
_ROOTS = {("", "Event"): "CoreV1Event", ("events.k8s.io", "Event"): "EventsV1Event"}


@dataclass
class Decoded:
    """What decoding found: the first type error (fatal) and the strict errors, in order."""

    type_error: str = ""
    strict: list[str] = field(default_factory=list)
    unknown: list[tuple[str | int, ...]] = field(default_factory=list)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as the key/value pairs it was written with (duplicates kept)."""


def _go_name(model: str) -> str:
    return _VERSIONED.sub("", model)


@functools.cache
def _fields(model: str) -> dict[str, str] | None:
    """JSON field name -> openapi type of a model, or ``None`` if the model is unknown."""
    cls = getattr(models, model, None)
    if cls is None or not hasattr(cls, "attribute_map"):
        return None
    return {cls.attribute_map[a]: t for a, t in cls.openapi_types.items()}


def _root(group: str, version: str, kind: str) -> str | None:
    name = _ROOTS.get((group, kind)) or f"{version[:1].upper()}{version[1:]}{kind}"
    return name if _fields(name) is not None else None


def _go_type(t: str, name: str) -> str:
    if t.startswith("list["):
        return "[]" + _go_type(t[5:-1], name)
    if t.startswith("dict("):
        return "map[string]" + _go_type(t[t.index(",") + 1 : -1].strip(), name)
    if t == "int":
        return "int64" if name in _INT64 else "int32"
    if t == "str":
        return "string"
    if t == "float":
        return "float64"
    if t == "bool":
        return "bool"
    if t == "datetime":
        return "v1.Time"
    return "v1." + _go_name(t)


def _json_kind(value: Any) -> str:
    if isinstance(value, _Pairs | dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "number"


class _Walk:
    def __init__(self) -> None:
        self.out = Decoded()

    def type_error(self, value: Any, struct: str, names: list[str], t: str, name: str) -> None:
        if self.out.type_error:
            return
        what = _json_kind(value)
        if what == "number" and isinstance(value, float) and not value.is_integer():
            what = f"number {value!r}"
        elif what == "number" and isinstance(value, int) and t == "int":
            what = f"number {value}"  # out of the Go type's range
        self.out.type_error = (
            f"json: cannot unmarshal {what} into Go struct field {struct}.{'.'.join(names)} of "
            f"type {_go_type(t, name)}"
        )

    def fatal(self, message: str) -> None:
        if not self.out.type_error:
            self.out.type_error = message

    def quantity(self, value: Any) -> None:
        """``Quantity.UnmarshalJSON``: a number or a string in the quantity format."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.fatal(QUANTITY_ERROR)
        elif isinstance(value, str) and not _QUANTITY.match(value.strip()):
            self.fatal(QUANTITY_ERROR)

    def int_or_string(self, value: Any) -> None:
        """``IntOrString.UnmarshalJSON``: a string, else an int32 decoded without context."""
        if isinstance(value, str):
            return
        what = _json_kind(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if -(2**31) <= value < 2**31:
                return
            what = f"number {value}"
        elif isinstance(value, float):
            if value.is_integer() and -(2**31) <= value < 2**31:
                return
            what = f"number {value!r}"
        self.fatal(f"json: cannot unmarshal {what} into Go value of type int32")

    def value(
        self,
        value: Any,
        t: str,
        struct: str,
        names: list[str],
        path: tuple[str | int, ...],
        name: str,
    ) -> None:
        if value is None:
            return
        if t == "object":
            if name in _INT_OR_STRING:
                self.int_or_string(value)
            return
        if t.startswith("list["):
            if not isinstance(value, list) or isinstance(value, _Pairs):
                self.type_error(value, struct, names, t, name)
                return
            for i, item in enumerate(value):
                self.value(item, t[5:-1], struct, names, (*path, i), name)
            return
        if t.startswith("dict("):
            if not isinstance(value, _Pairs):
                self.type_error(value, struct, names, t, name)
                return
            inner = t[t.index(",") + 1 : -1].strip()
            if name in _QUANTITY_MAPS:
                for _key, item in value:
                    self.quantity(item)
                return
            for key, item in value:
                self.value(item, inner, struct, names, (*path, key), name)
            return
        if t in ("int", "float"):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if ok and t == "int" and isinstance(value, float) and not value.is_integer():
                ok = False
            if ok and t == "int":
                low, high = _INT_RANGE[_go_type(t, name)]
                ok = low <= value <= high
            if not ok:
                self.type_error(value, struct, names, t, name)
            return
        if t == "str":
            if name in _QUANTITIES:
                self.quantity(value)
                return
            if not isinstance(value, str):
                self.type_error(value, struct, names, t, name)
            return
        if t == "bool":
            if not isinstance(value, bool):
                self.type_error(value, struct, names, t, name)
            return
        if t in ("datetime", "date"):
            return
        fields = _fields(t)
        if fields is None:
            return
        if not isinstance(value, _Pairs):
            self.type_error(value, struct, names, t, name)
            return
        self.object(value, t, fields, names, path)

    def object(
        self,
        pairs: _Pairs,
        model: str,
        fields: dict[str, str],
        names: list[str],
        path: tuple[str | int, ...],
    ) -> None:
        struct = _go_name(model)
        seen: set[str] = set()
        for key, value in pairs:
            here = (*path, key)
            if key in seen:
                self.out.strict.append(f'duplicate field "{_path_text(here)}"')
            seen.add(key)
            t = fields.get(key)
            if t is None:
                self.out.strict.append(f'unknown field "{_path_text(here)}"')
                self.out.unknown.append(here)
                continue
            self.value(value, t, struct, [*names, key], here, key)


def _path_text(path: tuple[str | int, ...]) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out = f"{out}.{p}" if out else p
    return out


def _as_pairs(value: Any) -> Any:
    if isinstance(value, dict):
        return _Pairs((k, _as_pairs(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_as_pairs(v) for v in value]
    return value


def decode(group: str, version: str, kind: str, obj: dict[str, Any], raw: bytes = b"") -> Decoded:
    """Check ``obj`` (or the JSON text ``raw`` it was decoded from) against ``kind``'s fields.

    ``raw`` lets duplicate fields be found; without it ``obj`` is walked (no duplicates).
    Kinds without a published model are not checked.
    """
    model = _root(group, version, kind)
    if model is None:
        return Decoded()
    pairs: Any = None
    if raw:
        try:
            pairs = json.loads(raw, object_pairs_hook=_Pairs)
        except ValueError:
            pairs = None
    if not isinstance(pairs, _Pairs):
        pairs = _as_pairs(obj)
    walk = _Walk()
    fields = _fields(model) or {}
    walk.object(pairs, model, fields, [], ())
    return walk.out


def drop_unknown(obj: dict[str, Any], decoded: Decoded) -> None:
    """Remove the unknown fields ``decoded`` found from ``obj`` (the decoder never sets them)."""
    for path in decoded.unknown:
        cur: Any = obj
        for p in path[:-1]:
            try:
                cur = cur[p]
            except (KeyError, IndexError, TypeError):
                cur = None
                break
        if isinstance(cur, dict):
            cur.pop(str(path[-1]), None)
