"""Checks on a custom resource beyond its OpenAPI schema, in the real server's words.

- the scale subresource's paths: ``.spec.replicas`` must be a non-negative int32 (a second
  cause on the dotted field ``.spec.replicas``, next to the schema's own), the status replicas
  likewise, the label selector a string;
- ``x-kubernetes-list-type: set`` / ``map`` lists hold no duplicates;
- embedded resources (``x-kubernetes-embedded-resource``) carry ``apiVersion`` and ``kind``.
"""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver import fielderrors as fe
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.schema.nodes import MISSING, Node
from opframe.testing.apiserver.schema.validation import type_name
from opframe.testing.apiserver.schema.visit import walk

__all__ = ["embedded_causes", "list_causes", "scale_causes", "scale_status_causes"]

_MAX_INT32 = 2**31 - 1
_GO_TYPES = {
    "null": "<nil>",
    "boolean": "bool",
    "integer": "int64",
    "number": "float64",
    "string": "string",
    "array": "[]interface {}",
    "object": "map[string]interface {}",
}


def _go_type(value: Any) -> str:
    """Go's ``%T`` of a decoded JSON value."""
    return _GO_TYPES[type_name(value)]


def _nested(obj: dict[str, Any], path: str, expected: str) -> tuple[Any, str | None]:
    """``unstructured.NestedFieldNoCopy`` + type check: (value or MISSING, error text)."""
    fields = path.lstrip(".").split(".")
    val: Any = obj
    for i, name in enumerate(fields):
        if val is None:
            return MISSING, None
        if not isinstance(val, dict):
            where = "." + ".".join(fields[: i + 1])
            return MISSING, (
                f"{where} accessor error: {fe.go_v(val)} is of the type {_go_type(val)}, "
                "expected map[string]interface{}"
            )
        if name not in val:
            return MISSING, None
        val = val[name]
    ok = (
        isinstance(val, int) and not isinstance(val, bool)
        if expected == "int64"
        else (isinstance(val, str))
    )
    if not ok:
        return MISSING, (
            f".{'.'.join(fields)} accessor error: {fe.go_v(val)} is of the type {_go_type(val)}, "
            f"expected {expected}"
        )
    return val, None


def _replicas(obj: dict[str, Any], path: str) -> list[Cause]:
    if not path:
        return []
    value, err = _nested(obj, path, "int64")
    if err is not None:
        return [fe.invalid(path, 0, err)]
    if value is MISSING:
        return []
    if value < 0:
        return [fe.invalid(path, value, "should be a non-negative integer")]
    if value > _MAX_INT32:
        return [fe.invalid(path, value, f"should be less than or equal to {_MAX_INT32}")]
    return []


def scale_status_causes(obj: dict[str, Any], scale: dict[str, Any]) -> list[Cause]:
    """The status half of :func:`scale_causes` (all a ``/status`` write checks)."""
    out = _replicas(obj, scale.get("statusReplicasPath") or "")
    selector = scale.get("labelSelectorPath") or ""
    if selector:
        _, err = _nested(obj, selector, "string")
        if err is not None:
            out.append(fe.invalid(selector, "", err))
    return out


def scale_causes(obj: dict[str, Any], scale: dict[str, Any]) -> list[Cause]:
    """Causes for a CR whose CRD has a scale subresource (``scale`` is that stanza).

    ``Invalid value: 0: .spec.replicas accessor error: three is of the type string, expected
    int64`` on field ``.spec.replicas``, or ``should be a non-negative integer``; the same for
    the status replicas path, and the label selector must be a string.
    """
    return _replicas(obj, scale.get("specReplicasPath") or "") + scale_status_causes(obj, scale)


# --- list-type set / map -------------------------------------------------------------------


def _hashable(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return fe.go_json(value)
    return (type(value).__name__, value)


def _list_checks(x: Any, s: Node, path: str, out: list[Cause]) -> None:
    if not isinstance(x, list):
        return
    if s.list_type == "set":
        seen: set[Any] = set()
        for i, v in enumerate(x):
            key = _hashable(v)
            if key in seen:
                out.append(fe.duplicate(f"{path}[{i}]", v))
            seen.add(key)
    elif s.list_type == "map" and s.map_keys:
        _map_duplicates(x, s, path, out)


def _map_duplicates(x: list[Any], s: Node, path: str, out: list[Cause]) -> None:
    for i, v in enumerate(x):
        if v is not None and not isinstance(v, dict):
            out.append(
                fe.invalid(f"{path}[{i}]", v, "must be an object for an array of list-type map")
            )
            return
    items = s.items
    seen: set[Any] = set()
    for i, v in enumerate(x):
        if v is None:
            continue
        key = []
        for k in s.map_keys:
            if k in v:
                key.append(_hashable(v[k]))
            else:
                prop = items.properties.get(k) if items is not None else None
                default = prop.default if prop is not None else MISSING
                key.append(_hashable(default) if default is not MISSING else ("<unset>", k))
        hk = tuple(key)
        if hk in seen:
            out.append(fe.duplicate(f"{path}[{i}]", {k: v[k] for k in s.map_keys if k in v}))
        seen.add(hk)


def list_causes(obj: Any, node: Node, prefix: str = "") -> list[Cause]:
    """Duplicates in ``x-kubernetes-list-type`` ``set`` and ``map`` lists."""
    out: list[Cause] = []
    walk(
        obj,
        node,
        lambda x, s, path: _list_checks(x, s, path, out),
        enter=lambda s: s.has_list_checks,
        path=prefix,
    )
    return out


# --- embedded resources --------------------------------------------------------------------


def _embedded_resource(x: dict[str, Any], path: str, out: list[Cause]) -> None:
    for name in ("apiVersion", "kind"):
        if name not in x:
            out.append(fe.required(f"{path}.{name}", "must not be empty"))
    for name in ("apiVersion", "kind"):
        if name not in x:
            continue
        v = x[name]
        if not isinstance(v, str):
            out.append(fe.invalid(f"{path}.{name}", v, "must be a string"))
        elif not v:
            out.append(fe.invalid(f"{path}.{name}", v, "must not be empty"))
        elif name == "apiVersion" and v.count("/") > 1:
            out.append(fe.invalid(f"{path}.{name}", v, f"unexpected GroupVersion string: {v}"))


def embedded_causes(obj: Any, node: Node) -> list[Cause]:
    """``apiVersion``/``kind`` errors of embedded resources (``x-kubernetes-embedded-resource``)."""
    out: list[Cause] = []

    def visit(x: Any, s: Node, path: str) -> None:
        if isinstance(x, dict) and s.embedded and path:
            _embedded_resource(x, path, out)

    walk(obj, node, visit, enter=lambda s: s.has_embedded)
    return out
