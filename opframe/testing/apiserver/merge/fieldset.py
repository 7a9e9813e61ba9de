"""Field sets: which fields of an object a manager owns, as ``managedFields`` records them.

A path is a tuple of the path elements of ``fieldsV1``: ``f:<field>``, ``k:<json of the
list-map keys>`` (an item of a list keyed by fields) and ``v:<json value>`` (an item of a set).
``field_set`` gives the fields an applied configuration specifies; ``diff`` compares two objects
as structured-merge-diff does (added, modified and removed paths); ``encode_fields`` and
``decode_fields`` convert to and from ``fieldsV1``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from opframe.testing.apiserver.merge.patch import json_equal
from opframe.testing.apiserver.merge.strategic import Node

__all__ = [
    "MISSING",
    "STRIPPED",
    "Diff",
    "Path",
    "decode_fields",
    "diff",
    "encode_fields",
    "field_set",
    "is_associative",
    "is_granular",
    "item_element",
    "path_string",
]

Path = tuple[str, ...]
# Marks an absent value (``None`` is JSON null).
MISSING: Any = object()

# Paths the field manager never tracks (apimachinery's stripMeta set).
STRIPPED: frozenset[Path] = frozenset(
    {("f:apiVersion",), ("f:kind",), ("f:metadata",)}
    | {
        ("f:metadata", f"f:{name}")
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    }
)


def _key_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _scalar_json(value: Any) -> str:
    # The common key values (plain names, numbers) without the cost of json.dumps.
    if isinstance(value, str):
        if value.isprintable() and '"' not in value and "\\" not in value:
            return f'"{value}"'
    elif isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _key_json(value)


def item_element(item: Any, node: Node) -> str:
    """The path element of a list item: ``k:{...}`` in a list-map, ``v:...`` in a set."""
    if node.list_type == "map" and isinstance(item, dict):
        parts = []
        for key in sorted(node.keys):
            value = item.get(key, node.key_defaults.get(key))
            if value is not None:
                parts.append(f'"{key}":{_scalar_json(value)}')
        return "k:{" + ",".join(parts) + "}"
    return "v:" + _scalar_json(item)


def is_associative(node: Node) -> bool:
    """Whether the items of this list are merged one by one (a list-map or a set)."""
    return node.kind == "list" and node.list_type in ("map", "set")


def is_granular(node: Node) -> bool:
    """Whether this map or struct is merged field by field (not one atomic value)."""
    return node.kind in ("struct", "map", "any") and not node.atomic


def field_set(obj: Any, node: Node) -> set[Path]:
    """The set of fields ``obj`` specifies, as an applied configuration owns them.

    Leaves, list items and free map keys are members; a declared struct field is a member only
    when it is empty or null (its leaves speak for it otherwise).
    """
    out: set[Path] = set()
    _collect(obj, node, (), out)
    return out - STRIPPED


def _collect(value: Any, node: Node, path: Path, out: set[Path]) -> None:
    if is_associative(node) and isinstance(value, list):
        for item in value:
            child = (*path, item_element(item, node))
            _collect(item, node.item(), child, out)
            out.add(child)
        return
    if isinstance(value, dict) and is_granular(node):
        for key, sub in value.items():
            child = (*path, f"f:{key}")
            _collect(sub, node.child(key), child, out)
            if sub is None or (isinstance(sub, dict) and not sub) or not node.declares(key):
                out.add(child)
        return
    if path:
        out.add(path)


@dataclass
class Diff:
    """What changed between two objects, as sets of paths."""

    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)


def _container(value: Any, node: Node) -> str:
    """``dict`` or ``list`` when ``value`` is walked field by field, ``""`` for a leaf."""
    if value is MISSING or value is None:
        if is_associative(node):
            return "list"
        return "dict" if is_granular(node) else ""
    if isinstance(value, list) and is_associative(node):
        return "list"
    if isinstance(value, dict) and is_granular(node):
        return "dict"
    return ""


def _empty(value: Any) -> bool:
    return value is MISSING or value is None or (isinstance(value, (dict, list)) and not value)


def _compare(lhs: Any, rhs: Any, node: Node, path: Path, diff: Diff) -> None:
    # Most of an object is unchanged by a write; the C-level == skips those subtrees whole.
    if lhs is rhs or (type(lhs) is type(rhs) and lhs == rhs):
        return
    lkind, rkind = _container(lhs, node), _container(rhs, node)
    # Two empty containers compare as one value (null and {} differ), as in structured-merge-diff.
    both_empty = _empty(lhs) and _empty(rhs) and not node.zero
    if not lkind or lkind != rkind or both_empty:
        if not path:
            return
        if lhs is MISSING:
            diff.added.add(path)
        elif rhs is MISSING:
            diff.removed.add(path)
        elif not json_equal(lhs, rhs):
            diff.modified.add(path)
        return
    if lkind == "list":
        left = {item_element(v, node): v for v in (lhs if isinstance(lhs, list) else [])}
        right = {item_element(v, node): v for v in (rhs if isinstance(rhs, list) else [])}
        pairs = [(pe, left.get(pe, MISSING), right.get(pe, MISSING)) for pe in left | right]
        child_of: Any = lambda _pe: node.item()  # noqa: E731
    else:
        ld = lhs if isinstance(lhs, dict) else {}
        rd = rhs if isinstance(rhs, dict) else {}
        pairs = []
        for key in ld | rd:
            # A null field is an absent one: typed objects drop it, structural schemas prune it.
            lv, rv = ld.get(key), rd.get(key)
            lv = MISSING if lv is None else lv
            rv = MISSING if rv is None else rv
            if lv is MISSING and rv is MISSING and key not in node.zero:
                continue
            if key in node.zero:
                # The Go zero value already has this field, so it is never added or removed:
                # a struct as {}, a list or map without omitempty as null. Only where the
                # parent exists: under an absent pointer (a ReplicationController's
                # template) every field is added.
                zero: Any = {} if node.child(key).kind == "struct" else None
                lv = zero if lv is MISSING and lhs is not MISSING else lv
                rv = zero if rv is MISSING and rhs is not MISSING else rv
                if lv is MISSING and rv is MISSING:
                    continue
            pairs.append((f"f:{key}", lv, rv))
        child_of = lambda pe: node.child(pe[2:])  # noqa: E731
    for pe, lv, rv in pairs:
        child = (*path, pe)
        _compare(lv, rv, child_of(pe), child, diff)
        if lv is MISSING:
            diff.added.add(child)
        elif rv is MISSING:
            diff.removed.add(child)


def encode_fields(paths: set[Path]) -> dict[str, Any]:
    """``fieldsV1`` for a set of paths: nested objects, ``.`` marking inner members."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:
        node = tree
        for element in path:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return _sorted_tree(tree)


def _sorted_tree(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted_tree(tree[k]) for k in sorted(tree)}


def decode_fields(fields_v1: Any) -> set[Path]:
    """The set of paths a ``fieldsV1`` object holds."""
    if not isinstance(fields_v1, dict):
        raise ValueError("fieldsV1 must be an object")
    out: set[Path] = set()
    _decode(fields_v1, (), out)
    return out


def _decode(tree: dict[str, Any], path: Path, out: set[Path]) -> None:
    if not tree and path:
        out.add(path)
        return
    for key, sub in tree.items():
        if key == ".":
            if path:
                out.add(path)
            continue
        if not isinstance(sub, dict) or key[:2] not in ("f:", "k:", "v:", "i:"):
            raise ValueError(f"invalid fieldsV1 element {key!r}")
        _decode(sub, (*path, key), out)


def path_string(path: Path) -> str:
    """A path as the server prints it in conflicts: ``.spec.tags[key="env"]``."""
    out = []
    for element in path:
        kind, body = element[:2], element[2:]
        if kind == "f:":
            out.append("." + body)
        elif kind == "k:":
            keys = json.loads(body)
            out.append("[" + ",".join(f"{k}={_key_json(v)}" for k, v in keys.items()) + "]")
        elif kind == "v:":
            out.append(f"[={body}]")
        else:
            out.append(f"[{body}]")
    return "".join(out)


def diff(live: dict[str, Any], new: dict[str, Any], node: Node) -> Diff:
    """The paths ``new`` adds, modifies and removes compared with ``live`` (metadata the
    field manager never tracks excluded)."""
    out = Diff()
    _compare(live, new, node, (), out)
    out.added -= STRIPPED
    out.modified -= STRIPPED
    out.removed -= STRIPPED
    return out
