"""Minimal stand-ins for the pure modules (schema, patch, apply) while they are written.

Each function here has the signature of the real one; ``integration`` imports the real module
when it exists and these otherwise.
"""

from __future__ import annotations

import copy
from typing import Any

from opframe.testing.apiserver.status import Cause, StatusError

__all__ = [
    "apply_defaults",
    "fields_v1",
    "json_patch",
    "merge_patch",
    "prune",
    "update_managed_fields",
    "validate",
]

_META_SKIP = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)


def fields_v1(obj: dict[str, Any], *, only: str = "", skip: str = "") -> dict[str, Any]:
    """The FieldsV1 set of every field set in ``obj`` (metadata system fields excluded)."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if k in ("kind", "apiVersion") or (only and k != only) or k == skip:
            continue
        if k == "metadata" and isinstance(v, dict):
            sub = {f"f:{mk}": _node(mv) for mk, mv in v.items() if mk not in _META_SKIP}
            if sub:
                out["f:metadata"] = sub
            continue
        out[f"f:{k}"] = _node(v)
    return out


def _node(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        d: dict[str, Any] = {".": {}} if v else {}
        for k, sv in v.items():
            d[f"f:{k}"] = _node(sv)
        return d
    if isinstance(v, list) and v and all(isinstance(i, str) for i in v):
        d = {".": {}}
        for i in v:
            d[f'v:"{i}"'] = {}
        return d
    return {}


def update_managed_fields(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    operation: str,
    api_version: str,
    subresource: str,
    time: str,
) -> None:
    """Record ``manager`` as the owner of every field of ``new`` (crude: no sharing)."""
    meta = new.setdefault("metadata", {})
    entries = [
        e
        for e in (meta.get("managedFields") or [])
        if not (
            e.get("manager") == manager
            and e.get("operation") == operation
            and e.get("subresource", "") == subresource
        )
    ]
    if subresource == "status":
        fields = fields_v1(new, only="status")
    else:
        fields = fields_v1(new, skip="status")
    if fields:
        entry: dict[str, Any] = {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
        }
        if subresource:
            entry["subresource"] = subresource
        entries.append(entry)
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _invalid_patch() -> StatusError:
    return StatusError(
        422, "Invalid", "the server rejected our request due to an error in our request", {}
    )


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, test, move, copy)."""
    if not isinstance(ops, list):
        raise StatusError(400, "BadRequest", "json: cannot unmarshal object into Go value")
    doc = copy.deepcopy(target)

    def parts(path: str) -> list[str]:
        if path == "":
            return []
        return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]

    def parent(path: str) -> tuple[Any, str]:
        ps = parts(path)
        if not ps:
            raise _invalid_patch()
        cur = doc
        for p in ps[:-1]:
            if isinstance(cur, dict) and p in cur:
                cur = cur[p]
            elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
                cur = cur[int(p)]
            else:
                raise _invalid_patch()
        return cur, ps[-1]

    def get(path: str) -> Any:
        c, k = parent(path)
        if isinstance(c, dict) and k in c:
            return c[k]
        if isinstance(c, list) and k.isdigit() and int(k) < len(c):
            return c[int(k)]
        raise _invalid_patch()

    def remove(path: str) -> Any:
        c, k = parent(path)
        if isinstance(c, dict) and k in c:
            return c.pop(k)
        if isinstance(c, list) and k.isdigit() and int(k) < len(c):
            return c.pop(int(k))
        raise _invalid_patch()

    def add(path: str, value: Any) -> None:
        c, k = parent(path)
        if isinstance(c, dict):
            c[k] = value
        elif isinstance(c, list):
            if k == "-":
                c.append(value)
            elif k.isdigit() and int(k) <= len(c):
                c.insert(int(k), value)
            else:
                raise _invalid_patch()
        else:
            raise _invalid_patch()

    for op in ops:
        if not isinstance(op, dict):
            raise _invalid_patch()
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            add(path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            remove(path)
        elif kind == "replace":
            remove(path)
            add(path, copy.deepcopy(op.get("value")))
        elif kind == "test":
            if get(path) != op.get("value"):
                raise _invalid_patch()
        elif kind == "move":
            add(path, remove(op.get("from", "")))
        elif kind == "copy":
            add(path, copy.deepcopy(get(op.get("from", ""))))
        else:
            raise _invalid_patch()
    return doc


def prune(obj: Any, schema: dict[str, Any]) -> list[str]:
    """Stand-in: prunes nothing."""
    return []


def apply_defaults(obj: Any, schema: dict[str, Any]) -> None:
    """Stand-in: applies ``default`` values of object properties."""
    if not isinstance(obj, dict) or schema.get("type") != "object":
        return
    for k, sub in (schema.get("properties") or {}).items():
        if k not in obj and "default" in sub:
            obj[k] = copy.deepcopy(sub["default"])
        if k in obj:
            apply_defaults(obj[k], sub)


def validate(obj: Any, schema: dict[str, Any], *, old: Any = None) -> list[Cause]:
    """Stand-in: validates nothing."""
    return []
