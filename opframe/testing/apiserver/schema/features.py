"""OpenAPI features and Kubernetes extensions in a CRD schema: what the server rejects.

apiextensions refuses OpenAPI features it does not implement (``$ref``, ``definitions``,
``patternProperties``, ``uniqueItems``...), misused Kubernetes extensions
(``x-kubernetes-list-type``, ``-list-map-keys``, ``-map-type``) and malformed
``x-kubernetes-validations`` entries, independently of structurality.
"""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver import fielderrors as fe
from opframe.testing.apiserver.errors import Cause

__all__ = ["openapi_causes"]

_OPENAPI_TYPES = ["array", "boolean", "integer", "number", "object", "string"]
_JUNCTORS = ("allOf", "anyOf", "oneOf")
_META_FIELDS = ("apiVersion", "kind", "metadata")
_SUPPORTED_RULE_REASONS = [
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
]


def _key(path: str, name: str) -> str:
    return f"{path}.{name}"


def _type_must_be(path: str, typ: str, detail: str) -> Cause:
    """``type`` is missing (Required) or the wrong one (Invalid) for a feature needing it."""
    if not typ:
        return fe.required(_key(path, "type"), detail)
    return fe.invalid(_key(path, "type"), typ, detail)


def _prop(path: str, name: str) -> str:
    # field.Path.Key: map keys are printed in brackets, unquoted.
    return f"{path}.properties[{name}]"


def _schema(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _props(s: dict[str, Any]) -> dict[str, Any]:
    p = s.get("properties")
    return p if isinstance(p, dict) else {}


def _truthy(s: dict[str, Any], name: str) -> bool:
    return bool(s.get(name))


# --- OpenAPI features the server does not implement (apis/apiextensions/validation) -------


class _Walk:
    """Context of one node in the OpenAPI-level walk."""

    def __init__(self, *, allow_defaults: bool = True, reason: str = "", inside_meta: bool = False):
        self.allow_defaults = allow_defaults
        self.reason = reason
        self.inside_meta = inside_meta

    def without_defaults(self, reason: str) -> _Walk:
        return _Walk(allow_defaults=False, reason=reason, inside_meta=self.inside_meta)

    def in_meta(self) -> _Walk:
        return _Walk(allow_defaults=self.allow_defaults, reason=self.reason, inside_meta=True)


def _openapi_node(s: dict[str, Any], path: str, ctx: _Walk, root: bool, out: list[Cause]) -> None:
    typ = s.get("type")
    if isinstance(typ, str) and typ and typ not in _OPENAPI_TYPES:
        out.append(fe.not_supported(_key(path, "type"), typ, _OPENAPI_TYPES))
    if "default" in s and not ctx.allow_defaults:
        detail = "must not be set" + (f" {ctx.reason}" if ctx.reason else "")
        out.append(fe.forbidden(_key(path, "default"), detail))
    for name, text in (
        ("id", "id is not supported"),
        ("additionalItems", "additionalItems is not supported"),
        ("patternProperties", "patternProperties is not supported"),
        ("definitions", "definitions is not supported"),
        ("dependencies", "dependencies is not supported"),
        ("$ref", "$ref is not supported"),
    ):
        if s.get(name) not in (None, "", {}):
            out.append(fe.forbidden(_key(path, name), text))
    if typ == "null":
        out.append(
            fe.forbidden(
                _key(path, "type"), "type cannot be set to null, use nullable as an alternative"
            )
        )
    items = s.get("items")
    if isinstance(items, list):
        out.append(
            fe.forbidden(_key(path, "items"), "items must be a schema object and not an array")
        )
    if ctx.inside_meta and _truthy(s, "x-kubernetes-embedded-resource"):
        out.append(
            fe.forbidden(
                _key(path, "x-kubernetes-embedded-resource"),
                "must not be used inside of resource meta",
            )
        )
    if s.get("uniqueItems") is True:
        out.append(
            fe.forbidden(
                _key(path, "uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )
        )
    addl = s.get("additionalProperties")
    if addl is not None:
        if _props(s) and (addl is False or isinstance(addl, dict)):
            out.append(
                fe.forbidden(
                    _key(path, "additionalProperties"),
                    "additionalProperties and properties are mutual exclusive",
                )
            )
        if isinstance(addl, dict):
            sub_ctx = ctx
            if ctx.inside_meta:
                sub_ctx = ctx.without_defaults(
                    "inside additionalProperties applying to object metadata"
                )
            _openapi_node(addl, _key(path, "additionalProperties"), sub_ctx, False, out)
    embedded = _truthy(s, "x-kubernetes-embedded-resource")
    for name, sub in _props(s).items():
        if not isinstance(sub, dict):
            continue
        sub_ctx = ctx
        if (root or embedded) and name in _META_FIELDS:
            sub_ctx = sub_ctx.in_meta()
            if root:
                sub_ctx = sub_ctx.without_defaults(f"in top-level {name}")
        _openapi_node(sub, _prop(path, name), sub_ctx, False, out)
    not_ = _schema(s.get("not"))
    if not_ is not None:
        _openapi_node(not_, _key(path, "not"), ctx, False, out)
    for junctor in _JUNCTORS:
        subs = s.get(junctor)
        if isinstance(subs, list):
            for i, sub in enumerate(subs):
                if isinstance(sub, dict):
                    _openapi_node(sub, f"{path}.{junctor}[{i}]", ctx, False, out)
    if isinstance(items, dict):
        _openapi_node(items, _key(path, "items"), ctx, False, out)
    _extension_checks(s, path, out)


def _extension_checks(s: dict[str, Any], path: str, out: list[Cause]) -> None:
    typ = s.get("type") or ""
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        out.append(
            fe.invalid(
                _key(path, "x-kubernetes-preserve-unknown-fields"),
                False,
                "must be true or undefined",
            )
        )
    map_type = s.get("x-kubernetes-map-type")
    if map_type is not None and typ != "object":
        out.append(_type_must_be(path, typ, "must be object if x-kubernetes-map-type is specified"))
    if map_type is not None and map_type not in ("atomic", "granular"):
        out.append(
            fe.not_supported(_key(path, "x-kubernetes-map-type"), map_type, ["atomic", "granular"])
        )
    list_type = s.get("x-kubernetes-list-type")
    items = _schema(s.get("items"))
    if list_type is not None and typ != "array":
        out.append(_type_must_be(path, typ, "must be array if x-kubernetes-list-type is specified"))
    elif list_type == "set" and items is not None:
        if (
            items.get("type") == "array"
            and items.get("x-kubernetes-list-type", "atomic") != "atomic"
        ):
            out.append(
                fe.invalid(
                    _key(path, "items.x-kubernetes-list-type"),
                    items.get("x-kubernetes-list-type"),
                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                )
            )
        if items.get("type") == "object" and items.get("x-kubernetes-map-type") != "atomic":
            out.append(
                fe.invalid(
                    _key(path, "items.x-kubernetes-map-type"),
                    items.get("x-kubernetes-list-type"),
                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                )
            )
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        out.append(
            fe.not_supported(
                _key(path, "x-kubernetes-list-type"), list_type, ["atomic", "set", "map"]
            )
        )
    keys = s.get("x-kubernetes-list-map-keys") or []
    if keys:
        detail = "must be map if x-kubernetes-list-map-keys is non-empty"
        if list_type is None:
            out.append(fe.required(_key(path, "x-kubernetes-list-type"), detail))
        elif list_type != "map":
            out.append(fe.invalid(_key(path, "x-kubernetes-list-type"), list_type, detail))
    if list_type == "map":
        _list_map_checks(s, items, keys, path, out)
    if list_type in ("set", "map") and items is not None:
        _map_set_item_checks(items, list_type, keys, path, out)
    _rule_checks(s, path, out)


def _list_map_checks(
    s: dict[str, Any], items: dict[str, Any] | None, keys: list[Any], path: str, out: list[Cause]
) -> None:
    if not keys:
        out.append(
            fe.required(
                _key(path, "x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            )
        )
    if s.get("items") is None:
        out.append(
            fe.required(_key(path, "items"), "must have a schema if x-kubernetes-list-type is map")
        )
    if items is None:
        return
    if items.get("type") != "object":
        out.append(
            fe.invalid(
                _key(path, "items.type"),
                items.get("type", ""),
                "must be object if parent array's x-kubernetes-list-type is map",
            )
        )
        return
    seen: set[str] = set()
    iprops = _props(items)
    for k in keys:
        sub = iprops.get(k)
        if isinstance(sub, dict):
            if sub.get("type") in ("array", "object"):
                out.append(
                    fe.invalid(
                        _key(_prop(_key(path, "items"), str(k)), "type"),
                        "object",
                        "must be a scalar type if parent array's x-kubernetes-list-type is map",
                    )
                )
        else:
            out.append(
                fe.invalid(
                    _key(path, "x-kubernetes-list-map-keys"),
                    keys,
                    "entries must all be names of item properties",
                )
            )
        if k in seen:
            out.append(
                fe.invalid(
                    _key(path, "x-kubernetes-list-map-keys"),
                    keys,
                    "must not contain duplicate entries",
                )
            )
        seen.add(k)


def _map_set_item_checks(
    items: dict[str, Any], list_type: str, keys: list[Any], path: str, out: list[Cause]
) -> None:
    if items.get("nullable"):
        out.append(
            fe.forbidden(
                _key(path, "items.nullable"),
                f"cannot be nullable when x-kubernetes-list-type is {list_type}",
            )
        )
    if list_type != "map":
        return
    required = set(items.get("required") or [])
    iprops = _props(items)
    for k in keys:
        sub = iprops.get(k)
        if not isinstance(sub, dict):
            continue
        kpath = _prop(_key(path, "items"), str(k))
        if k not in required and "default" not in sub:
            out.append(
                fe.required(
                    _key(kpath, "default"),
                    "this property is in x-kubernetes-list-map-keys, so it must have a default "
                    "or be a required property",
                )
            )
        if sub.get("nullable"):
            out.append(
                fe.forbidden(
                    _key(kpath, "nullable"),
                    "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                )
            )


def _rule_checks(s: dict[str, Any], path: str, out: list[Cause]) -> None:
    rules = s.get("x-kubernetes-validations")
    if not isinstance(rules, list):
        return
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        rpath = f"{path}.x-kubernetes-validations[{i}]"
        text = str(rule.get("rule") or "").strip()
        message = rule.get("message")
        msg = str(message or "").strip()
        if not text:
            out.append(fe.required(_key(rpath, "rule"), "rule is not specified"))
        elif message and not msg:
            out.append(
                fe.invalid(_key(rpath, "message"), message, "must be non-empty if specified")
            )
        elif "\n" in msg or "\r" in msg:
            out.append(fe.invalid(_key(rpath, "message"), message, "must not contain line breaks"))
        elif ("\n" in text or "\r" in text) and not msg:
            out.append(
                fe.required(
                    _key(rpath, "message"), "message must be specified if rule contains line breaks"
                )
            )
        expr = rule.get("messageExpression")
        if expr and not str(expr).strip():
            out.append(
                fe.required(
                    _key(rpath, "messageExpression"),
                    "messageExpression must be non-empty if specified",
                )
            )
        reason = rule.get("reason")
        if reason is not None and reason not in _SUPPORTED_RULE_REASONS:
            out.append(fe.not_supported(_key(rpath, "reason"), reason, _SUPPORTED_RULE_REASONS))
        fpath = rule.get("fieldPath")
        if fpath and not str(fpath).strip():
            out.append(
                fe.invalid(_key(rpath, "fieldPath"), fpath, "must be non-empty if specified")
            )


def openapi_causes(schema: dict[str, Any], path: str) -> list[Cause]:
    """Unsupported OpenAPI features and misused extensions in ``schema``, in walk order."""
    out: list[Cause] = []
    if schema.get("nullable"):
        out.append(fe.forbidden(_key(path, "nullable"), "nullable cannot be true at the root"))
    _openapi_node(schema, path, _Walk(), True, out)
    return out
