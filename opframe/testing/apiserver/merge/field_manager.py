"""Server-side apply and ``metadata.managedFields``, as kube-apiserver's field manager keeps them.

Field sets and the comparison of objects live in ``fieldset``.

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
defaulted values of a *non-apply* write are owned by the writer, as the transcripts show), then
``update_managed_fields`` with ``ignored_fields`` naming what the endpoint resets (``status`` on
the main resource of a kind with a status subresource, ``spec`` on ``/status``); only after it
run the steps that add fields nobody owns (namespace ``spec.finalizers``, a pod's
service-account token volume, a Service's cluster IP). For apply: ``decode_apply_body``, then
``server_side_apply`` on the live object *before* defaulting the result, so defaults belong to
nobody; then defaulting, the endpoint's reset, validation and the resourceVersion and dry-run
handling as for any write (no ``update_managed_fields`` after an apply).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import msgspec
import yaml

from opframe.testing.apiserver.errors import Cause, StatusError, bad_request, invalid
from opframe.testing.apiserver.merge.fieldset import (
    MISSING,
    Diff,
    Path,
    decode_fields,
    diff,
    encode_fields,
    field_set,
    is_associative,
    is_granular,
    item_element,
    path_string,
)
from opframe.testing.apiserver.merge.patch import json_copy, json_equal
from opframe.testing.apiserver.merge.strategic import Node, root_node

__all__ = ["decode_apply_body", "server_side_apply", "update_managed_fields"]

# kube-apiserver keeps at most this many Update entries; older ones merge into one.
_MAX_UPDATE_MANAGERS = 10
_ANCIENT = "ancient-changes"


# --- managedFields entries ----------------------------------------------------------------


@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str | None
    fields: set[Path]
    decoded: tuple[dict[str, Any], frozenset[Path]] | None = field(
        default=None, repr=False, compare=False
    )
    """The stored ``fieldsV1`` this entry was read from and its paths then: while ``fields``
    still equals them, :meth:`encode` reuses that encoding instead of building it again."""

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
        decoded = self.decoded
        if decoded is not None and self.fields == decoded[1]:
            out["fieldsV1"] = decoded[0]  # stored objects are never mutated: sharing is safe
        else:
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


def _decode_managed(entries: Any, *, stored: bool = False) -> _Managed:
    """Decode managedFields; ``stored``: they are the server's own (canonical) encoding."""
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    out: _Managed = {}
    for raw in entries:
        if not isinstance(raw, dict):
            raise ValueError("a managedFields entry must be an object")
        fields_type = raw.get("fieldsType")
        if fields_type not in (None, "", "FieldsV1"):
            raise ValueError(f"unsupported fieldsType {fields_type!r}")
        fields_v1 = raw.get("fieldsV1") or {}
        paths = _stored_paths(fields_v1) if stored else None
        entry = _Entry(
            manager=str(raw.get("manager") or ""),
            operation=str(raw.get("operation") or ""),
            api_version=str(raw.get("apiVersion") or ""),
            subresource=str(raw.get("subresource") or ""),
            time=raw.get("time"),
            fields=decode_fields(fields_v1) if paths is None else set(paths),
        )
        if paths is not None:
            entry.decoded = (fields_v1, paths)
        previous = out.get(entry.ident)
        if previous is not None:
            entry.fields |= previous.fields
            entry.decoded = None
        out[entry.ident] = entry
    return out


_PATHS: dict[int, tuple[dict[str, Any], frozenset[Path]]] = {}
_MAX_PATHS = 8192


def _stored_paths(fields_v1: dict[str, Any]) -> frozenset[Path]:
    """The paths of a stored ``fieldsV1``, decoded once per stored version.

    Stored objects are never mutated, so a stored ``fieldsV1`` map means the same paths for
    as long as it lives; the cache keeps the map itself, so its ``id`` cannot be reused by
    another while the entry stands. The oldest entries go first beyond ``_MAX_PATHS``.
    """
    hit = _PATHS.get(id(fields_v1))
    if hit is not None and hit[0] is fields_v1:
        return hit[1]
    paths = frozenset(decode_fields(fields_v1))
    if len(_PATHS) >= _MAX_PATHS:
        del _PATHS[next(iter(_PATHS))]
    _PATHS[id(fields_v1)] = (fields_v1, paths)
    return paths


def _same_bytes(a: Any, b: Any) -> bool:
    try:
        return a is not None and msgspec.json.encode(a) == msgspec.json.encode(b)
    except (TypeError, ValueError):
        return False


def _live_managed(obj: dict[str, Any] | None) -> _Managed:
    if not obj:
        return {}
    try:
        return _decode_managed((obj.get("metadata") or {}).get("managedFields") or [], stored=True)
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


# --- Update -------------------------------------------------------------------------------


def _outside(paths: set[Path], ignored: Collection[str]) -> set[Path]:
    if not ignored:
        return paths
    return {p for p in paths if not (p and p[0][2:] in ignored)}


def _without(changes: Diff, ignored: Collection[str]) -> Diff:
    if not ignored:
        return changes
    return Diff(
        _outside(changes.added, ignored),
        _outside(changes.modified, ignored),
        _outside(changes.removed, ignored),
    )


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
    ignored_fields: Collection[str] = (),
) -> None:
    """Record a non-apply write of ``new`` over ``old`` (``None`` for a create) in place.

    ``new["metadata"]["managedFields"]`` is replaced. Managed fields the client sent in ``new``
    are taken as the starting point (clients may edit them; ``[{}]`` clears them), unless they
    are absent, empty, invalid, or the write is to a subresource; the live ones are used then.
    ``group``/``kind`` default to the object's own ``apiVersion``/``kind``; a custom resource
    needs its CRD ``schema`` for list types. ``ignored_fields`` names top-level fields the
    endpoint resets (``status`` on the main
    resource of a kind with a status subresource, ``spec`` on ``/status``): changes to them are
    nobody's.
    """
    if not kind and schema is None:
        # The object names its own type; callers only need to add a custom resource's schema.
        api_version_of_object = str(new.get("apiVersion") or "")
        group = api_version_of_object.rpartition("/")[0]
        kind = str(new.get("kind") or "")
    node = root_node(group, kind, schema)
    managed: _Managed = {}
    sent = (new.get("metadata") or {}).get("managedFields")
    if sent and not subresource:
        try:
            # A patch or an unchanged PUT sends the live entries back: reuse their encoding
            # (compared as bytes: == would take another key order for the same entries).
            live = ((old or {}).get("metadata") or {}).get("managedFields")
            if sent is live or _same_bytes(sent, live):
                managed = _decode_managed(live, stored=True)  # the same entries, decoded once
            else:
                managed = _decode_managed(sent)
        except ValueError:
            managed = {}
    if not managed:
        managed = _live_managed(old)
    changes = _without(diff(_without_managed(old), _without_managed(new), node), ignored_fields)
    changed = changes.added | changes.modified
    for entry in managed.values():
        entry.fields -= changed
        entry.fields -= changes.removed
    if changed:
        entry = _Entry(manager, operation, api_version, subresource, time, set())
        previous = managed.get(entry.ident)
        if previous is not None:
            entry.fields = previous.fields
            # A manager changing the values of fields it already owns (a spec edited again)
            # keeps its set of fields: its stored encoding is reused (see _Entry.encode).
            entry.decoded = previous.decoded
        entry.fields |= changed
        # The real server's scale handler rebuilds its entry without a time.
        entry.time = None if subresource == "scale" else time
        managed[entry.ident] = entry
    _store_managed(new, managed)


# --- Apply --------------------------------------------------------------------------------


_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ApplyLoader(_SafeLoader):  # type: ignore[misc]
    """YAML as the server reads an apply body: timestamps stay strings, as in JSON."""


_ApplyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_ApplyLoader)  # a SafeLoader subclass


def decode_apply_body(body: bytes | str) -> dict[str, Any]:
    """Parse an ``application/apply-patch+yaml`` body (YAML or JSON) into an object.

    Raises the server's ``400`` for a body that is not YAML or not an object.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        # kubectl sends JSON: read it as JSON (faster, and YAML 1.1 rejects some JSON escapes).
        value = json.loads(text) if text.lstrip().startswith("{") else _load_yaml(text)
    except (ValueError, yaml.YAMLError):
        try:
            value = _load_yaml(text)
        except yaml.YAMLError as err:
            raise bad_request(f"error decoding YAML: {err}") from None
    if not isinstance(value, dict):
        what = {list: "array", str: "string", bool: "bool", type(None): "null"}.get(
            type(value), "number"
        )
        raise bad_request(
            "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot "
            f"unmarshal {what} into Go value of type map[string]interface {{}}"
        )
    return value


def _merge(lhs: Any, rhs: Any, node: Node) -> Any:
    if lhs is MISSING or lhs is None:
        return json_copy(rhs)
    if isinstance(lhs, dict) and isinstance(rhs, dict) and is_granular(node):
        out = dict(lhs)
        for key, value in rhs.items():
            out[key] = _merge(lhs.get(key, MISSING), value, node.child(key))
        return out
    if isinstance(lhs, list) and isinstance(rhs, list) and is_associative(node):
        return _merge_list(lhs, rhs, node)
    return json_copy(rhs)


def _merge_list(lhs: list[Any], rhs: list[Any], node: Node) -> list[Any]:
    """Merge list items by key: live order for live-only items, applied order for the rest."""
    lpes = [item_element(v, node) for v in lhs]
    rpes = [item_element(v, node) for v in rhs]
    left = dict(zip(lpes, lhs, strict=True))
    right = dict(zip(rpes, rhs, strict=True))
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
            out.append(_merge(left.get(pe, MISSING), right[pe], node.item()))
            ri += 1
            si += 1 if si < len(shared) and shared[si] == pe else 0
    return out


def _config_errors(value: Any, node: Node, path: Path) -> str:
    """The first reason the applied configuration cannot be typed, as structured-merge-diff
    words it (duplicate list-map keys or set values, a list-map item without its keys)."""
    if is_associative(node) and isinstance(value, list):
        seen: set[str] = set()
        for i, item in enumerate(value):
            if node.list_type == "map" and isinstance(item, dict):
                for key in node.keys:
                    if key not in item and key not in node.key_defaults:
                        return (
                            f"{path_string(path)}: element {i}: associative list with keys has "
                            f'an element that omits key field "{key}" (and doesn\'t have '
                            "default value)"
                        )
            element = item_element(item, node)
            if element in seen:
                return f"{path_string(path)}: duplicate entries for key {path_string((element,))}"
            seen.add(element)
            found = _config_errors(item, node.item(), (*path, element))
            if found:
                return found
    elif isinstance(value, dict) and is_granular(node):
        for key, sub in value.items():
            found = _config_errors(sub, node.child(key), (*path, f"f:{key}"))
            if found:
                return found
    return ""


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
            child = current.get(element[2:], MISSING)
            if isinstance(child, (dict, list)):
                child = current[element[2:]] = type(child)(child)
        elif isinstance(current, list):
            parents.append((current, element, current_node))
            at = [i for i, v in enumerate(current) if item_element(v, current_node) == element]
            current_node = current_node.item()
            child = MISSING
            if at:
                child = current[at[0]]
                if isinstance(child, (dict, list)):
                    child = current[at[0]] = type(child)(child)
        else:
            return
        if child is MISSING:
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
        container[:] = [v for v in container if item_element(v, node) != element]


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
    ignored_fields: Collection[str] = (),
) -> dict[str, Any]:
    """Apply ``applied`` as ``manager`` to ``live`` (``None``: create) and return the result.

    The result carries the new ``managedFields``; it is not defaulted or validated. Raises the
    server's errors: 422 without a field manager, 400 for a wrong apiVersion, name or
    ``managedFields`` in the body, 409 ``Conflict`` with one ``FieldManagerConflict`` cause per
    field another manager owns and this apply would change (unless ``force``).
    ``ignored_fields`` are top-level fields the endpoint resets (see ``update_managed_fields``):
    the applier owns nothing there and they cause no conflict.
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
    problem = _config_errors(applied, node, ())
    if problem:
        # Not a Status error in the real server either: it answers 500 with this text.
        namespace = str(meta.get("namespace") or "")
        version = api_version.rpartition("/")[2]
        raise StatusError(
            500,
            "",
            f"failed to create typed patch object ({namespace}/{name}; {group}/{version}, "
            f"Kind={kind}): {problem}",
        )
    managed = _live_managed(live)
    base = _without_managed(live)
    merged: dict[str, Any] = _merge(base, applied, node) if base else json_copy(applied)
    mine = _outside(field_set(applied, node), ignored_fields)
    me = _Entry(manager, "Apply", api_version, "", time, mine)
    previous = managed.pop(me.ident, None)
    others: set[Path] = set().union(*(e.fields for e in managed.values())) if managed else set()
    if previous is not None:
        _prune(merged, previous.fields - mine - others, others | mine, node)

    changes = _without(diff(base, merged, node), ignored_fields)
    changed = changes.added | changes.modified
    conflicts = {
        ident: (entry, entry.fields & changed)
        for ident, entry in managed.items()
        if entry.fields & changed
    }
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for entry in managed.values():
        entry.fields -= changed
        entry.fields -= changes.removed
    if previous is not None and json_equal(base, merged):
        # The object did not change: the entry keeps the time of the last change it made.
        me.time = previous.time
    managed[me.ident] = me
    _store_managed(merged, managed)
    return merged
