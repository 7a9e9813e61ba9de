"""Is a CRD schema structural? The checks apiextensions runs on ``openAPIV3Schema``.

A structural schema (the only kind ``apiextensions.k8s.io/v1`` accepts) names a ``type`` at every
node except under ``x-kubernetes-int-or-string`` / ``x-kubernetes-preserve-unknown-fields``, uses
``anyOf``/``allOf``/``oneOf``/``not`` only as value validations over fields declared outside them,
and restricts ``metadata`` at the root to ``name``/``generateName``. The server also rejects
OpenAPI features it does not implement (``$ref``, ``definitions``, ``patternProperties``...) and
defaults that do not validate or that pruning would change.

Errors carry the real server's texts, e.g.
``spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be
empty for specified object fields``.
"""

from __future__ import annotations

import re
from typing import Any

from opframe.testing.apiserver import fielderrors as fe
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.schema.defaulting import default_causes
from opframe.testing.apiserver.schema.features import (  # same schema nodes, same field paths
    _JUNCTORS,
    _key,
    _prop,
    _props,
    _schema,
    _truthy,
    openapi_causes,
)

__all__ = ["schema_causes", "structural_causes", "structural_errors"]

DEFAULT_PATH = "spec.versions[0].schema.openAPIV3Schema"

_FORBIDDEN_GENERICS = (
    ("type", "must be empty to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"),
    ("externalDocs", "must be undefined to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
    ("x-kubernetes-validations", "must be empty to be structural"),
)
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


# --- structural invariants (apiextensions pkg/apiserver/schema/validation.go) -------------


def _is_meta_only(meta: dict[str, Any]) -> bool:
    """Whether a root ``metadata`` schema only restricts name/generateName."""
    rest = {k: v for k, v in meta.items() if k not in ("type", "default")}
    props = rest.pop("properties", None)
    if props:
        if not isinstance(props, dict) or not set(props) <= {"name", "generateName"}:
            return False
    return not rest


def _structural_node(s: dict[str, Any], level: str, path: str, out: list[Cause]) -> None:
    typ = s.get("type") or ""
    items = s.get("items")
    if typ == "array" and items is None:
        out.append(fe.required(_key(path, "items"), "must be specified"))
    if isinstance(items, dict):
        _structural_node(items, "item", _key(path, "items"), out)
    for name, sub in _props(s).items():
        if isinstance(sub, dict):
            _structural_node(sub, "field", _prop(path, name), out)
    addl = s.get("additionalProperties")
    if addl is not None and addl is not True:
        if level == "root":
            out.append(
                fe.forbidden(_key(path, "additionalProperties"), "must not be used at the root")
            )
        if isinstance(addl, dict):
            _structural_node(addl, "field", _key(path, "additionalProperties"), out)
    int_or_string = _truthy(s, "x-kubernetes-int-or-string")
    embedded = _truthy(s, "x-kubernetes-embedded-resource")
    preserve = _truthy(s, "x-kubernetes-preserve-unknown-fields")
    if int_or_string and preserve:
        out.append(
            fe.invalid(
                _key(path, "x-kubernetes-preserve-unknown-fields"),
                True,
                "must be false if x-kubernetes-int-or-string is true",
            )
        )
    if int_or_string and embedded:
        out.append(
            fe.invalid(
                _key(path, "x-kubernetes-embedded-resource"),
                True,
                "must be false if x-kubernetes-int-or-string is true",
            )
        )
    any_of = s.get("anyOf")
    all_of = s.get("allOf")
    skip_any_of = any_of == _INT_OR_STRING_ANY_OF
    skip_first = (
        isinstance(all_of, list)
        and bool(all_of)
        and isinstance(all_of[0], dict)
        and all_of[0].get("anyOf") == _INT_OR_STRING_ANY_OF
    )
    _value_validation(s, skip_any_of, skip_first, path, out)
    if embedded and typ != "object":
        if not typ:
            out.append(
                fe.required(
                    _key(path, "type"), "must be object if x-kubernetes-embedded-resource is true"
                )
            )
        else:
            out.append(
                fe.invalid(
                    _key(path, "type"),
                    typ,
                    "must be object if x-kubernetes-embedded-resource is true",
                )
            )
    elif not typ and not int_or_string and not preserve:
        detail = {
            "root": "must not be empty at the root",
            "item": "must not be empty for specified array items",
            "field": "must not be empty for specified object fields",
        }[level]
        out.append(fe.required(_key(path, "type"), detail))
    if embedded and addl is not None and addl is not True:
        out.append(
            fe.forbidden(
                _key(path, "additionalProperties"),
                "must not be used if x-kubernetes-embedded-resource is set",
            )
        )
    if level == "root" and typ and typ != "object":
        out.append(fe.invalid(_key(path, "type"), typ, "must be object at the root"))
    check_meta = level == "root" or embedded
    props = _props(s)
    for name in ("kind", "apiVersion"):
        sub = props.get(name)
        if check_meta and isinstance(sub, dict) and sub.get("type", "") != "string":
            out.append(
                fe.invalid(_key(_prop(path, name), "type"), sub.get("type", ""), "must be string")
            )
    meta = props.get("metadata")
    if isinstance(meta, dict):
        mpath = _prop(path, "metadata")
        if check_meta and meta.get("type", "") != "object":
            out.append(fe.invalid(_key(mpath, "type"), meta.get("type", ""), "must be object"))
        if level == "root" and not _is_meta_only(meta):
            out.append(
                fe.forbidden(
                    mpath,
                    "must not specify anything other than name and generateName, but metadata "
                    "is implicitly specified",
                )
            )
    if embedded and not preserve and not props:
        out.append(
            fe.required(
                _key(path, "properties"),
                "must not be empty if x-kubernetes-embedded-resource is true without "
                "x-kubernetes-preserve-unknown-fields",
            )
        )


def _value_validation(
    s: dict[str, Any],
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    path: str,
    out: list[Cause],
) -> None:
    for junctor in _JUNCTORS:
        subs = s.get(junctor)
        if not isinstance(subs, list) or (junctor == "anyOf" and skip_any_of):
            continue
        for i, sub in enumerate(subs):
            if isinstance(sub, dict):
                skip = junctor == "allOf" and i == 0 and skip_first_all_of_any_of
                _nested_value_validation(sub, skip, f"{path}.{junctor}[{i}]", out)
    not_ = s.get("not")
    if isinstance(not_, dict):
        _nested_value_validation(not_, False, _key(path, "not"), out)
    pattern = s.get("pattern")
    if isinstance(pattern, str) and pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            out.append(
                fe.invalid(
                    _key(path, "pattern"),
                    pattern,
                    f"must be a valid regular expression, but isn't: {exc}",
                )
            )


def _nested_value_validation(
    v: dict[str, Any], skip_any_of: bool, path: str, out: list[Cause]
) -> None:
    _value_validation(v, skip_any_of, False, path, out)
    items = v.get("items")
    if isinstance(items, dict):
        _nested_value_validation(items, False, _key(path, "items"), out)
    for name, sub in _props(v).items():
        if isinstance(sub, dict):
            _nested_value_validation(sub, False, _prop(path, name), out)
    for name, detail in _FORBIDDEN_GENERICS:
        value = v.get(name)
        if value is None or value is False or value == "" or value == []:
            continue
        out.append(fe.forbidden(_key(path, name), detail))
    if "metadata" in _props(v):
        out.append(
            fe.forbidden(_prop(path, "metadata"), "must not be specified in a nested context")
        )


def _completeness(s: dict[str, Any] | None, path: str, out: list[Cause]) -> None:
    if s is None:
        return
    _completeness(_schema(s.get("items")), _key(path, "items"), out)
    for name, sub in _props(s).items():
        _completeness(_schema(sub), _prop(path, name), out)
    addl = _schema(s.get("additionalProperties"))
    if addl is not None:
        _completeness(addl, _key(path, "additionalProperties"), out)
    _value_completeness(s, s, path, path, out)


def _value_completeness(
    v: dict[str, Any], s: dict[str, Any] | None, spath: str, vpath: str, out: list[Cause]
) -> None:
    if s is None:
        out.append(fe.required(spath, f"because it is defined in {vpath}"))
        return
    not_ = _schema(v.get("not"))
    if not_ is not None:
        _nested_completeness(not_, s, spath, _key(vpath, "not"), out)
    for junctor in ("allOf", "anyOf", "oneOf"):
        subs = v.get(junctor)
        if isinstance(subs, list):
            for i, sub in enumerate(subs):
                if isinstance(sub, dict):
                    _nested_completeness(sub, s, spath, f"{vpath}.{junctor}[{i}]", out)


def _nested_completeness(
    v: dict[str, Any], s: dict[str, Any] | None, spath: str, vpath: str, out: list[Cause]
) -> None:
    _value_completeness(v, s, spath, vpath, out)  # reports a missing ``s``
    if s is None:
        return
    items = _schema(v.get("items"))
    if items is not None:
        _nested_completeness(
            items, _schema(s.get("items")), _key(spath, "items"), _key(vpath, "items"), out
        )
    sprops = _props(s)
    for name, sub in _props(v).items():
        if not isinstance(sub, dict):
            continue
        if name not in sprops:
            out.append(
                fe.required(_prop(spath, name), f"because it is defined in {_prop(vpath, name)}")
            )
        else:
            _nested_completeness(
                sub, _schema(sprops[name]), _prop(spath, name), _prop(vpath, name), out
            )


def structural_causes(schema: dict[str, Any], path: str = DEFAULT_PATH) -> list[Cause]:
    """The structural-schema violations of ``schema``, sorted as the server sorts them."""
    out: list[Cause] = []
    _structural_node(schema, "root", path, out)
    _completeness(schema, path, out)
    # The real server sorts by the error text because it walks Go maps.
    out.sort(key=fe.cause_text)
    return out


# --- defaults ------------------------------------------------------------------------------


def schema_causes(schema: dict[str, Any], path: str = DEFAULT_PATH) -> list[Cause]:
    """Every error the server reports for one version's ``openAPIV3Schema``, in its order.

    Structural violations (sorted) come first, then the defaults' errors (only for a structural
    schema), then unsupported OpenAPI features, list/map type and rule-shape errors.
    """
    out = structural_causes(schema, path)
    if not out:
        out.extend(default_causes(schema, path))
    out.extend(openapi_causes(schema, path))
    return out


def structural_errors(schema: dict[str, Any], *, path: str = DEFAULT_PATH) -> list[str]:
    """Why ``schema`` cannot be a CRD version's ``openAPIV3Schema``, as ``path: message`` texts.

    An empty list means the server would accept it. ``path`` is the field path of the schema
    inside the CRD (the first version by default). For ``{"type": "object", "properties":
    {"spec": {}}}`` the one error is ``spec.versions[0].schema.openAPIV3Schema.properties[spec]
    .type: Required value: must not be empty for specified object fields``.
    """
    return [fe.cause_text(c) for c in schema_causes(schema, path)]
