"""Structural defaulting of custom resources, and the checks a CRD's defaults must pass.

The real server defaults while decoding, right after pruning: a ``null`` for a field that is
not ``nullable`` and has no default is dropped; then every missing field (and every non-nullable
``null``) with a ``default`` gets a copy of it, and defaulting continues inside the value, so
``nested: {default: {}}`` with defaulted children comes out filled in. Items of arrays and values
of ``additionalProperties`` maps are defaulted too.
"""

from __future__ import annotations

import copy
from typing import Any

from opframe.testing.apiserver import fielderrors as fe
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.schema.nodes import MISSING, Node, compile_schema
from opframe.testing.apiserver.schema.visit import walk

__all__ = ["apply_defaults", "default_causes", "drop_nulls"]


def _drop_nulls(x: Any, s: Node, path: str) -> None:
    if isinstance(x, dict):
        for k in list(x):
            sub = s.properties.get(k) or s.additional
            if sub is not None and x[k] is None and not sub.nullable and sub.default is MISSING:
                del x[k]


def drop_nulls(obj: dict[str, Any], schema: dict[str, Any]) -> None:
    """Drop ``null`` values of non-nullable fields that have no default (in place)."""
    walk(obj, compile_schema(schema), _drop_nulls)


def _default(x: Any, s: Node, path: str) -> None:
    """Fill this node's missing children; :func:`walk` then defaults inside them."""
    if isinstance(x, dict):
        for k, prop in s.properties.items():
            if prop.default is MISSING:
                continue
            if k not in x or (x[k] is None and not prop.nullable):
                x[k] = copy.deepcopy(prop.default)
        addl = s.additional
        if addl is not None and not addl.nullable and addl.default is not MISSING:
            for k, v in x.items():
                if v is None and k not in s.properties:
                    x[k] = copy.deepcopy(addl.default)
    elif isinstance(x, list) and s.items is not None:
        items = s.items
        if not items.nullable and items.default is not MISSING:
            for i, v in enumerate(x):
                if v is None:
                    x[i] = copy.deepcopy(items.default)


def apply_defaults(obj: dict[str, Any], schema: dict[str, Any]) -> None:
    """Default ``obj`` in place as the real server does after pruning.

    Non-nullable ``null`` fields without a default are dropped first; missing fields and
    non-nullable ``null`` fields with a default get a deep copy of it; explicit values, zero
    values included, are kept.
    """
    node = compile_schema(schema)
    walk(obj, node, _drop_nulls)
    walk(obj, node, _default, enter=lambda s: s.has_defaults)


# --- defaults inside a CRD schema --------------------------------------------------------


def _check(s: Node, path: str, inside_meta: bool, out: list[Cause]) -> None:
    # Imported here: validation imports the compiled schema machinery this module shares.
    from opframe.testing.apiserver.schema.pruning import prune
    from opframe.testing.apiserver.schema.validation import validate_value

    if s.default is not MISSING and not inside_meta:
        dpath = f"{path}.default"
        value = s.default
        pruned = copy.deepcopy(value)
        if isinstance(pruned, dict):
            wrapper = {"v": pruned}
            prune(wrapper, {"type": "object", "properties": {"v": s.raw}})
            pruned = wrapper["v"]
        if pruned != value:
            out.append(fe.invalid(dpath, value, "must not have unknown fields"))
        else:
            out.extend(validate_value(value, s.raw, prefix=dpath))
    if s.items is not None:
        _check(s.items, f"{path}.items", inside_meta, out)
    for k, sub in s.properties.items():
        sub_meta = inside_meta or (s.embedded and k in ("metadata", "apiVersion", "kind"))
        _check(sub, f"{path}.properties[{k}]", sub_meta, out)


def default_causes(schema: dict[str, Any], path: str) -> list[Cause]:
    """Errors for defaults in a CRD schema that do not validate or that pruning would change."""
    out: list[Cause] = []
    _check(compile_schema(schema), path, False, out)
    return out
