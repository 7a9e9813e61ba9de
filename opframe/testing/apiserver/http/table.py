"""``meta.k8s.io/v1`` Table output (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``).

Custom resources print their CRD's ``additionalPrinterColumns`` (evaluated as the simple
JSONPath kube-apiserver accepts there), or an ``Age`` column when there are none; built-ins
print their server-side columns; other kinds get ``Name`` and ``Created At``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from opframe.testing.apiserver.builtins.printers import BUILTIN_PRINTERS, DOCS, age
from opframe.testing.apiserver.registry.resource_type import ResourceType

__all__ = ["evaluate_jsonpath", "to_table"]

_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": DOCS["meta.name"],
    "priority": 0,
}
_CR_COLUMN = "Custom resource definition column (in JSONPath format): "
_TOKEN = re.compile(
    r"""\.(?P<field>(?:\\.|[^.\[\\])+)      # .field (with \. escapes)
      | \[\s*'(?P<quoted>[^']*)'\s*\]       # ['key']
      | \[\s*"(?P<dquoted>[^"]*)"\s*\]      # ["key"]
      | \[\s*(?P<index>-?\d+)\s*\]          # [0]
      | \[\s*\*\s*\]                        # [*]
      | \[\s*\?\(\s*@\.(?P<fpath>[\w.\-/\\]+)\s*(?P<op>==|!=)\s*
            (?:"(?P<fdq>[^"]*)"|'(?P<fsq>[^']*)'|(?P<fnum>[\w.\-]+))\s*\)\s*\]   # filter
    """,
    re.VERBOSE,
)


def _lookup(value: Any, key: str) -> list[Any]:
    if isinstance(value, dict) and key in value:
        return [value[key]]
    return []


def evaluate_jsonpath(obj: Any, path: str) -> list[Any]:
    """All values ``path`` (``.spec.x``, ``[0]``, ``[*]``, ``[?(@.type=="Ready")]``) selects."""
    expr = path.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    expr = expr.removeprefix("$")
    current = [obj]
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            return []
        pos = m.end()
        nxt: list[Any] = []
        for value in current:
            if m.group("field") is not None:
                name = m.group("field").replace("\\.", ".")
                if name == "*":
                    nxt.extend(
                        value.values()
                        if isinstance(value, dict)
                        else value
                        if isinstance(value, list)
                        else []
                    )
                else:
                    nxt.extend(_lookup(value, name))
            elif m.group("quoted") is not None or m.group("dquoted") is not None:
                nxt.extend(_lookup(value, m.group("quoted") or m.group("dquoted") or ""))
            elif m.group("index") is not None:
                i = int(m.group("index"))
                if isinstance(value, list) and -len(value) <= i < len(value):
                    nxt.append(value[i])
            elif m.group("fpath") is not None:
                want = m.group("fdq") if m.group("fdq") is not None else m.group("fsq")
                if want is None:
                    want = m.group("fnum")
                for item in value if isinstance(value, list) else []:
                    got = evaluate_jsonpath(item, "." + m.group("fpath"))
                    text = _text(got[0]) if got else None
                    if (text == want) == (m.group("op") == "=="):
                        nxt.append(item)
            elif isinstance(value, list):
                nxt.extend(value)
            elif isinstance(value, dict):
                nxt.extend(value.values())
        current = nxt
    return current


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _cell(column: dict[str, Any], obj: dict[str, Any]) -> Any:
    values = evaluate_jsonpath(obj, str(column.get("jsonPath", "")))
    if not values or values[0] is None:
        return None
    value = values[0]
    kind = column.get("type")
    if kind == "string":
        return _text(value)
    if kind == "integer":
        return (
            int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        )
    if kind == "number":
        return (
            float(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else None
        )
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "date":
        return age(value) if isinstance(value, str) else None
    return None


def _custom_columns(rt: ResourceType) -> list[dict[str, Any]]:
    columns = list(rt.printer_columns) or [
        {
            "name": "Age",
            "type": "date",
            "jsonPath": ".metadata.creationTimestamp",
            "description": DOCS["meta.creationTimestamp"],
        }
    ]
    return columns


def _row_object(obj: dict[str, Any], include_object: str) -> Any:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def to_table(
    rt: ResourceType,
    objs: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    list_meta: dict[str, Any],
) -> dict[str, Any]:
    """The Table kube-apiserver renders for ``objs`` of ``rt``.

    ``include_object`` is the request's ``includeObject`` (``None``, ``Metadata`` (default) or
    ``Object``); ``list_meta`` becomes the Table's metadata (resourceVersion, continue,
    remainingItemCount).
    """
    if rt.custom:
        columns = _custom_columns(rt)
        definitions = [dict(_NAME_COLUMN)] + [
            {
                "name": c.get("name", ""),
                "type": c.get("type", "string"),
                "format": c.get("format", ""),
                "description": c.get("description") or f"{_CR_COLUMN}{c.get('jsonPath', '')}",
                "priority": c.get("priority", 0),
            }
            for c in columns
        ]
        rows = [
            {
                "cells": [(o.get("metadata") or {}).get("name")] + [_cell(c, o) for c in columns],
                "object": _row_object(o, include_object),
            }
            for o in objs
        ]
    elif (rt.group, rt.plural) in BUILTIN_PRINTERS:
        definitions, printer = BUILTIN_PRINTERS[(rt.group, rt.plural)]
        definitions = [dict(d) for d in definitions]
        rows = [{"cells": printer(o), "object": _row_object(o, include_object)} for o in objs]
    else:
        definitions = [
            dict(_NAME_COLUMN),
            {
                "name": "Created At",
                "type": "date",
                "format": "",
                "description": DOCS["meta.creationTimestamp"],
                "priority": 0,
            },
        ]
        rows = [
            {
                "cells": [
                    (o.get("metadata") or {}).get("name"),
                    (o.get("metadata") or {}).get("creationTimestamp"),
                ],
                "object": _row_object(o, include_object),
            }
            for o in objs
        ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(list_meta),
        "columnDefinitions": definitions,
        "rows": rows,
    }
