"""Server-side apply and ``metadata.managedFields``, as kube-apiserver's field manager keeps them.

Field sets are sets of paths; a path is a tuple of the path elements of ``fieldsV1``:
``f:<field>``, ``k:<json of the list-map keys>`` and ``v:<json value>`` (a set item).

**Update** (``update_managed_fields``, every write that is not an apply): the write is compared
with the live object. Paths that were added or changed become the writer's (its entry, keyed by
manager, operation, apiVersion and subresource, gets them and a new ``time``), are taken away
from every other manager, and removed paths are taken from everyone. A create compares with the
Go zero value of the kind, so a struct that always exists (a Deployment's ``spec``) is never
*added* and gets no ``.`` marker. Entries left empty are dropped.

**Apply** (``server_side_apply``): the applied configuration is merged into the live object
(maps field by field, list-maps by key, sets by value, atomic values replaced); fields the
manager applied last time and no longer sends are removed unless another manager owns them;
changed fields owned by other managers are conflicts (409) unless ``force`` moves them. The
manager's entry becomes exactly the set of fields it sent, so a field applied by two managers
with the same value is shared.

Call order for the server core (the real server's): decode the body, then default it (so
defaulted values of a *non-apply* write are owned by the writer, as the transcripts show), reset
what the endpoint ignores (``status`` on the main resource, everything else on ``/status``),
then ``update_managed_fields``; only after it run the steps that add fields nobody owns
(namespace ``spec.finalizers``, the pod's service-account token volume). For apply:
``server_side_apply`` on the live object *before* defaulting the result, so defaults belong to
nobody; then defaulting, validation and the resourceVersion/dry-run handling as for any write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from opframe.testing.apiserver.patch import json_copy, json_equal
from opframe.testing.apiserver.status import Cause, StatusError, bad_request, invalid
from opframe.testing.apiserver.strategic import Node, root_node

__all__ = [
    "Path",
    "decode_fields",
    "encode_fields",
    "field_set",
    "path_string",
    "server_side_apply",
    "update_managed_fields",
]

Path = tuple[str, ...]
_MISSING: Any = object()

# Paths the field manager never tracks (apimachinery's stripMeta set).
_STRIPPED: frozenset[Path] = frozenset(
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

# kube-apiserver keeps at most this many Update entries; older ones merge into one.
_MAX_UPDATE_MANAGERS = 10
_ANCIENT = "ancient-changes"


# --- field sets ---------------------------------------------------------------------------


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


def _item_element(item: Any, node: Node) -> str:
    if node.list_type == "map" and isinstance(item, dict):
        parts = []
        for key in sorted(node.keys):
            value = item.get(key, node.key_defaults.get(key))
            if value is not None:
                parts.append(f'"{key}":{_scalar_json(value)}')
        return "k:{" + ",".join(parts) + "}"
    return "v:" + _scalar_json(item)


def _is_associative(node: Node) -> bool:
    return node.kind == "list" and node.list_type in ("map", "set")


def _is_granular(node: Node) -> bool:
    return node.kind in ("struct", "map", "any") and not node.atomic


def field_set(obj: Any, node: Node) -> set[Path]:
    """The set of fields ``obj`` specifies, as an applied configuration owns them.

    Leaves, list items and free map keys are members; a declared struct field is a member only
    when it is empty or null (its leaves speak for it otherwise).
    """
    out: set[Path] = set()
    _collect(obj, node, (), out)
    return out - _STRIPPED


def _collect(value: Any, node: Node, path: Path, out: set[Path]) -> None:
    if _is_associative(node) and isinstance(value, list):
        for item in value:
            child = (*path, _item_element(item, node))
            _collect(item, node.item(), child, out)
            out.add(child)
        return
    if isinstance(value, dict) and _is_granular(node):
        for key, sub in value.items():
            child = (*path, f"f:{key}")
            _collect(sub, node.child(key), child, out)
            if sub is None or (isinstance(sub, dict) and not sub) or not node.declares(key):
                out.add(child)
        return
    if path:
        out.add(path)


@dataclass
class _Diff:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)


def _container(value: Any, node: Node) -> str:
    """``dict`` or ``list`` when ``value`` is walked field by field, ``""`` for a leaf."""
    if value is _MISSING or value is None:
        if _is_associative(node):
            return "list"
        return "dict" if _is_granular(node) else ""
    if isinstance(value, list) and _is_associative(node):
        return "list"
    if isinstance(value, dict) and _is_granular(node):
        return "dict"
    return ""


def _empty(value: Any) -> bool:
    return value is _MISSING or value is None or (isinstance(value, (dict, list)) and not value)


def _compare(lhs: Any, rhs: Any, node: Node, path: Path, diff: _Diff) -> None:
    lkind, rkind = _container(lhs, node), _container(rhs, node)
    # Two empty containers compare as one value (null and {} differ), as in structured-merge-diff.
    both_empty = _empty(lhs) and _empty(rhs) and not node.zero
    if not lkind or lkind != rkind or both_empty:
        if not path:
            return
        if lhs is _MISSING:
            diff.added.add(path)
        elif rhs is _MISSING:
            diff.removed.add(path)
        elif not json_equal(lhs, rhs):
            diff.modified.add(path)
        return
    if lkind == "list":
        left = {_item_element(v, node): v for v in (lhs if isinstance(lhs, list) else [])}
        right = {_item_element(v, node): v for v in (rhs if isinstance(rhs, list) else [])}
        pairs = [(pe, left.get(pe, _MISSING), right.get(pe, _MISSING)) for pe in left | right]
        child_of: Any = lambda _pe: node.item()  # noqa: E731
    else:
        ld = lhs if isinstance(lhs, dict) else {}
        rd = rhs if isinstance(rhs, dict) else {}
        pairs = []
        for key in ld | rd:
            # A null field is an absent one: typed objects drop it, structural schemas prune it.
            lv, rv = ld.get(key), rd.get(key)
            lv = _MISSING if lv is None else lv
            rv = _MISSING if rv is None else rv
            if lv is _MISSING and rv is _MISSING and key not in node.zero:
                continue
            if key in node.zero:
                # The Go zero value already has this field, so it is never added or removed:
                # a struct as {}, a list or map without omitempty as null.
                zero: Any = {} if node.child(key).kind == "struct" else None
                lv = zero if lv is _MISSING else lv
                rv = zero if rv is _MISSING else rv
            pairs.append((f"f:{key}", lv, rv))
        child_of = lambda pe: node.child(pe[2:])  # noqa: E731
    for pe, lv, rv in pairs:
        child = (*path, pe)
        _compare(lv, rv, child_of(pe), child, diff)
        if lv is _MISSING:
            diff.added.add(child)
        elif rv is _MISSING:
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


# --- managedFields entries ----------------------------------------------------------------


@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    fields: set[Path]

    @property
    def ident(self) -> tuple[str, str, str, str]:
        # An applier is the same manager whatever version it applies through.
        version = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time is not None:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = encode_fields(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out

    def printed(self) -> str:
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


_Managed = dict[tuple[str, str, str, str], _Entry]


def _decode_managed(entries: Any) -> _Managed:
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    out: _Managed = {}
    for raw in entries:
        if not isinstance(raw, dict):
            raise ValueError("a managedFields entry must be an object")
        fields_type = raw.get("fieldsType")
        if fields_type not in (None, "", "FieldsV1"):
            raise ValueError(f"unsupported fieldsType {fields_type!r}")
        entry = _Entry(
            manager=str(raw.get("manager") or ""),
            operation=str(raw.get("operation") or ""),
            api_version=str(raw.get("apiVersion") or ""),
            subresource=str(raw.get("subresource") or ""),
            time=raw.get("time"),
            fields=decode_fields(raw.get("fieldsV1") or {}),
        )
        previous = out.get(entry.ident)
        if previous is not None:
            entry.fields |= previous.fields
        out[entry.ident] = entry
    return out


def _live_managed(obj: dict[str, Any] | None) -> _Managed:
    if not obj:
        return {}
    try:
        return _decode_managed((obj.get("metadata") or {}).get("managedFields") or [])
    except ValueError:
        return {}


def _store_managed(obj: dict[str, Any], managed: _Managed) -> None:
    entries = [e for e in managed.values() if e.fields]
    updates = [e for e in entries if e.operation == "Update"]
    if len(updates) > _MAX_UPDATE_MANAGERS:
        entries = _cap_updates(entries, updates)
    entries.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    # A fresh metadata map: the caller's object may share the old one with the live object.
    meta = obj["metadata"] = dict(obj.get("metadata") or {})
    if entries:
        meta["managedFields"] = [e.encode() for e in entries]
    else:
        meta.pop("managedFields", None)


def _cap_updates(entries: list[_Entry], updates: list[_Entry]) -> list[_Entry]:
    updates.sort(key=lambda e: e.time or "")
    surplus = updates[: len(updates) - _MAX_UPDATE_MANAGERS + 1]
    merged = _Entry(
        manager=_ANCIENT,
        operation="Update",
        api_version=surplus[-1].api_version,
        subresource="",
        time=surplus[-1].time,
        fields=set().union(*(e.fields for e in surplus)),
    )
    gone = {id(e) for e in surplus}
    return [e for e in entries if id(e) not in gone] + [merged]


def _without_managed(obj: dict[str, Any] | None) -> dict[str, Any]:
    if not obj:
        return {}
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


def _diff(live: dict[str, Any], new: dict[str, Any], node: Node) -> _Diff:
    diff = _Diff()
    _compare(live, new, node, (), diff)
    diff.added -= _STRIPPED
    diff.modified -= _STRIPPED
    diff.removed -= _STRIPPED
    return diff


# --- Update -------------------------------------------------------------------------------


def update_managed_fields(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    operation: str,
    api_version: str,
    subresource: str = "",
    time: str,
    schema: dict[str, Any] | None = None,
    group: str = "",
    kind: str = "",
) -> None:
    """Record a non-apply write of ``new`` over ``old`` (``None`` for a create) in place.

    ``new["metadata"]["managedFields"]`` is replaced. Managed fields the client sent in ``new``
    are taken as the starting point (clients may edit them; ``[{}]`` clears them), unless they
    are absent, empty, invalid, or the write is to a subresource; the live ones are used then.
    """
    node = root_node(group, kind, schema)
    managed: _Managed = {}
    sent = (new.get("metadata") or {}).get("managedFields")
    if sent and not subresource:
        try:
            managed = _decode_managed(sent)
        except ValueError:
            managed = {}
    if not managed:
        managed = _live_managed(old)
    diff = _diff(_without_managed(old), _without_managed(new), node)
    changed = diff.added | diff.modified
    for entry in managed.values():
        entry.fields -= changed
        entry.fields -= diff.removed
    if changed:
        entry = _Entry(manager, operation, api_version, subresource, time, set())
        previous = managed.get(entry.ident)
        if previous is not None:
            entry.fields = previous.fields
        entry.fields |= changed
        entry.time = time
        managed[entry.ident] = entry
    _store_managed(new, managed)


# --- Apply --------------------------------------------------------------------------------


def _merge(lhs: Any, rhs: Any, node: Node) -> Any:
    if lhs is _MISSING or lhs is None:
        return json_copy(rhs)
    if isinstance(lhs, dict) and isinstance(rhs, dict) and _is_granular(node):
        out = dict(lhs)
        for key, value in rhs.items():
            out[key] = _merge(lhs.get(key, _MISSING), value, node.child(key))
        return out
    if isinstance(lhs, list) and isinstance(rhs, list) and _is_associative(node):
        return _merge_list(lhs, rhs, node)
    return json_copy(rhs)


def _merge_list(lhs: list[Any], rhs: list[Any], node: Node) -> list[Any]:
    """Merge list items by key: live order for live-only items, applied order for the rest."""
    lpes = [_item_element(v, node) for v in lhs]
    rpes = [_item_element(v, node) for v in rhs]
    left = dict(zip(lpes, lhs, strict=True))
    right: dict[str, Any] = {}
    for pe, item in zip(rpes, rhs, strict=True):
        if pe in right:
            raise StatusError(
                500,
                "",
                f"failed to create typed patch object: {path_string((pe,))}: duplicate entries "
                f"for key {path_string((pe,))}",
            )
        right[pe] = item
    shared = [pe for pe in rpes if pe in left]
    out: list[Any] = []
    done: set[str] = set()
    li = ri = si = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                out.append(_merge(left[pe], right[pe], node.item()))
                done.add(pe)
                li, ri = li + 1, ri + 1
                si += 1 if si < len(shared) and shared[si] == pe else 0
                continue
            if pe in right and si < len(shared) and shared[si] != pe:
                li += 1
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in right:
                out.append(lhs[li])
                li += 1
                continue
            if pe in done:
                li += 1
                continue
        if ri < len(rpes):
            pe = rpes[ri]
            done.add(pe)
            out.append(_merge(left.get(pe, _MISSING), right[pe], node.item()))
            ri += 1
            si += 1 if si < len(shared) and shared[si] == pe else 0
    return out


def _remove(obj: Any, path: Path, node: Node, keep: set[Path]) -> None:
    """Remove ``path`` from ``obj``, and the map or list the removal left empty."""
    parents: list[tuple[Any, str, Node]] = []
    current, current_node = obj, node
    for element in path:
        # Copy each container on the way before changing it: below the fields the apply
        # touched, the merged object shares its maps and lists with the live object.
        if element.startswith("f:") and isinstance(current, dict):
            parents.append((current, element, current_node))
            current_node = current_node.child(element[2:])
            child = current.get(element[2:], _MISSING)
            if isinstance(child, (dict, list)):
                child = current[element[2:]] = type(child)(child)
        elif isinstance(current, list):
            parents.append((current, element, current_node))
            at = [i for i, v in enumerate(current) if _item_element(v, current_node) == element]
            current_node = current_node.item()
            child = _MISSING
            if at:
                child = current[at[0]]
                if isinstance(child, (dict, list)):
                    child = current[at[0]] = type(child)(child)
        else:
            return
        if child is _MISSING:
            return
        current = child
    container, element, container_node = parents[-1]
    _drop_element(container, element, container_node)
    # A map or list the removal emptied goes too (the server nulls it, and nulls are dropped),
    # unless it is a top-level field (spec, metadata) or some manager owns it as a whole.
    if not container and len(parents) >= 3 and path[:-1] not in keep:
        _drop_element(*parents[-2])


def _drop_element(container: Any, element: str, node: Node) -> None:
    if isinstance(container, dict):
        container.pop(element[2:], None)
    else:
        container[:] = [v for v in container if _item_element(v, node) != element]


def _prune(merged: dict[str, Any], stale: set[Path], keep: set[Path], node: Node) -> None:
    for path in sorted(stale, key=len):
        if any(other[: len(path)] == path for other in keep):
            continue
        _remove(merged, path, node, keep)


def _conflict_error(
    conflicts: dict[tuple[str, str, str, str], tuple[_Entry, set[Path]]],
) -> StatusError:
    items = sorted(
        ((entry.printed(), path) for entry, paths in conflicts.values() for path in paths),
        key=lambda item: (item[0], item[1]),
    )
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {who}",
            "field": path_string(p),
        }
        for who, p in items
    ]
    if len(items) == 1:
        who, p = items[0]
        message = f"Apply failed with 1 conflict: conflict with {who}: {path_string(p)}"
    else:
        lines: list[str] = []
        last = None
        for who, p in items:
            if who != last:
                lines.append(f"conflicts with {who}:")
                last = who
            lines.append(f"- {path_string(p)}")
        message = f"Apply failed with {len(items)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, {"causes": causes})


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
    api_version: str,
    schema: dict[str, Any] | None,
    group: str,
    kind: str,
    resource: str,
    name: str,
    time: str,
) -> dict[str, Any]:
    """Apply ``applied`` as ``manager`` to ``live`` (``None``: create) and return the result.

    The result carries the new ``managedFields``; it is not defaulted or validated. Raises the
    server's errors: 422 without a field manager, 400 for a wrong apiVersion, name or
    ``managedFields`` in the body, 409 ``Conflict`` with one ``FieldManagerConflict`` cause per
    field another manager owns and this apply would change (unless ``force``).
    """
    if not manager:
        raise invalid(
            "PatchOptions",
            "",
            [
                Cause(
                    reason="FieldValueRequired",
                    message="Required value: is required for apply patch",
                    field="fieldManager",
                )
            ],
            group="meta.k8s.io",
        )
    if not isinstance(applied, dict):
        raise bad_request("the apply patch must be an object")
    meta = applied.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    meta = meta or {}
    if applied.get("apiVersion") != api_version:
        raise bad_request(
            "Incorrect version specified in apply patch. Specified patch version: "
            f"{applied.get('apiVersion') or ''}, expected: {api_version}"
        )
    if meta.get("name") and meta["name"] != name:
        raise bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )
    if meta.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    del resource  # part of the interface for messages; the checks above do not need it

    node = root_node(group, kind, schema)
    managed = _live_managed(live)
    base = _without_managed(live)
    merged: dict[str, Any] = _merge(base, applied, node) if base else json_copy(applied)
    mine = field_set(applied, node)
    me = _Entry(manager, "Apply", api_version, "", time, mine)
    previous = managed.pop(me.ident, None)
    others: set[Path] = set().union(*(e.fields for e in managed.values())) if managed else set()
    if previous is not None:
        _prune(merged, previous.fields - mine - others, others | mine, node)

    diff = _diff(base, merged, node)
    changed = diff.added | diff.modified
    conflicts = {
        ident: (entry, entry.fields & changed)
        for ident, entry in managed.items()
        if entry.fields & changed
    }
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for entry in managed.values():
        entry.fields -= changed
        entry.fields -= diff.removed
    if previous is not None and json_equal(base, merged):
        # The object did not change: the entry keeps the time of the last change it made.
        me.time = previous.time
    managed[me.ident] = me
    _store_managed(merged, managed)
    return merged
