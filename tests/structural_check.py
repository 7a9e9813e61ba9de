"""A test-side oracle: the Kubernetes structural-schema rules, written from the docs.

Independent of both the CRD generator and the embedded API server's checker, so that a bug
shared by those two does not hide. Rules (apiextensions "Specifying a structural schema"):

1. every node has a ``type``, except where ``x-kubernetes-int-or-string`` or
   ``x-kubernetes-preserve-unknown-fields`` is set;
2. no ``$ref``, ``definitions``, ``patternProperties``, ``dependencies``, ``additionalItems``
   and no ``properties`` together with ``additionalProperties``;
3. ``anyOf``/``allOf``/``oneOf``/``not`` only as value validation: inside them no ``type``,
   ``description``, ``default``, ``nullable``, ``additionalProperties`` or ``x-kubernetes-*``
   (the int-or-string ``anyOf [integer, string]`` pattern is the one exception);
4. ``nullable`` only together with a ``type``;
5. ``x-kubernetes-embedded-resource`` only on ``type: object``; list-map keys exist and are
   required or defaulted scalars of the items;
6. at the root, ``metadata`` may only restrict ``name`` and ``generateName``;
7. every ``default`` validates against its node's schema (types, enum, bounds, pattern).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["structural_problems"]

_FORBIDDEN = ("$ref", "definitions", "patternProperties", "dependencies", "additionalItems", "id")
_NOT_IN_JUNCTORS = (
    "type",
    "description",
    "default",
    "nullable",
    "additionalProperties",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
)
_TYPES = {"object", "array", "string", "integer", "number", "boolean"}


def structural_problems(schema: dict[str, Any]) -> list[str]:
    """Every rule ``schema`` (an ``openAPIV3Schema``) breaks, as ``path: problem`` texts."""
    out: list[str] = []
    _node(schema, "openAPIV3Schema", out)
    meta = schema.get("properties", {}).get("metadata")
    if meta is not None:
        extra = set(meta.get("properties", {})) - {"name", "generateName"}
        if extra or set(meta) - {"type", "properties", "description"}:
            out.append("openAPIV3Schema.metadata: only name/generateName may be restricted")
    return out


def _node(node: dict[str, Any], path: str, out: list[str]) -> None:
    for key in _FORBIDDEN:
        if key in node:
            out.append(f"{path}: {key} is forbidden")
    kind = node.get("type")
    free = node.get("x-kubernetes-int-or-string") or node.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if kind is None and not free:
        out.append(f"{path}: type is missing")
    if kind is not None and kind not in _TYPES:
        out.append(f"{path}: unknown type {kind!r}")
    if node.get("nullable") and kind is None:
        out.append(f"{path}: nullable without a type")
    if "properties" in node and "additionalProperties" in node:
        out.append(f"{path}: properties and additionalProperties together")
    if node.get("x-kubernetes-embedded-resource") and kind != "object":
        out.append(f"{path}: embedded resource must be type object")
    for junctor in ("anyOf", "allOf", "oneOf"):
        for i, sub in enumerate(node.get(junctor, [])):
            _value_validation(sub, f"{path}.{junctor}[{i}]", node, out)
    if "not" in node:
        _value_validation(node["not"], f"{path}.not", node, out)
    for name, sub in node.get("properties", {}).items():
        _node(sub, f"{path}.properties[{name}]", out)
    if isinstance(node.get("additionalProperties"), dict):
        _node(node["additionalProperties"], f"{path}.additionalProperties", out)
    if "items" in node:
        _node(node["items"], f"{path}.items", out)
    if kind == "array" and "items" not in node:
        out.append(f"{path}: array without items")
    _list_map(node, path, out)
    if "default" in node:
        out.extend(f"{path}.default: {p}" for p in value_problems(node["default"], node))


def _value_validation(
    sub: dict[str, Any], path: str, parent: dict[str, Any], out: list[str]
) -> None:
    int_or_string = parent.get("x-kubernetes-int-or-string") and sub in (
        {"type": "integer"},
        {"type": "string"},
    )
    for key in _NOT_IN_JUNCTORS:
        if key in sub and not (key == "type" and int_or_string):
            out.append(f"{path}: {key} is forbidden inside a value validation")


def _list_map(node: dict[str, Any], path: str, out: list[str]) -> None:
    keys = node.get("x-kubernetes-list-map-keys")
    if node.get("x-kubernetes-list-type") == "map":
        items = node.get("items", {})
        if not keys:
            out.append(f"{path}: list-type map without list-map-keys")
        for key in keys or ():
            prop = items.get("properties", {}).get(key)
            if prop is None:
                out.append(f"{path}: list-map key {key!r} is not an item property")
            elif key not in items.get("required", []) and "default" not in prop:
                out.append(f"{path}: list-map key {key!r} is neither required nor defaulted")
            elif prop.get("type") not in ("string", "integer", "number", "boolean"):
                out.append(f"{path}: list-map key {key!r} is not a scalar")
    elif keys:
        out.append(f"{path}: list-map-keys without list-type map")


def value_problems(value: Any, schema: dict[str, Any]) -> list[str]:
    """Why ``value`` does not validate against ``schema`` (a small OpenAPI v3 validator)."""
    if value is None:
        return [] if schema.get("nullable") else ["null is not allowed"]
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, (int, str)) and not isinstance(value, bool)
        return [] if ok else [f"{value!r} is neither integer nor string"]
    kind = schema.get("type")
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
    }
    if kind is None:
        return []
    if not checks[kind](value):
        return [f"{value!r} is not of type {kind}"]
    out: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{value!r} not in enum {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        out.append(f"{value!r} below minimum")
    if "maximum" in schema and value > schema["maximum"]:
        out.append(f"{value!r} above maximum")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(f"{value!r} does not match {schema['pattern']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        out.append(f"{value!r} longer than maxLength")
    if kind == "object":
        props = schema.get("properties", {})
        for req in schema.get("required", []):
            if req not in value:
                out.append(f"required field {req!r} missing")
        for k, v in value.items():
            sub = props.get(k) or (
                schema["additionalProperties"]
                if isinstance(schema.get("additionalProperties"), dict)
                else None
            )
            if sub is None:
                if not schema.get("x-kubernetes-preserve-unknown-fields"):
                    out.append(f"unknown field {k!r} (would be pruned)")
                continue
            out.extend(f"{k}: {p}" for p in value_problems(v, sub))
    if kind == "array":
        for i, item in enumerate(value):
            out.extend(f"[{i}]: {p}" for p in value_problems(item, schema["items"]))
    return out
