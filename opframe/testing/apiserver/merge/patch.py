"""The three patch formats of ``PATCH``: JSON merge patch, JSON patch and strategic merge patch.

Each function is pure: it returns a new document and never changes its arguments, so a patch
that fails half way leaves nothing applied. Errors are the real server's answers:

- JSON patch: a body that is not a list of operations is ``400 BadRequest``; an operation that
  cannot be applied (failing ``test``, missing path, bad index) is ``422 Invalid`` with the
  generic message and empty ``details``, as kube-apiserver wraps every error of its JSON patch
  library.
- strategic merge patch: malformed directives are ``400`` or ``422`` with the texts of
  apimachinery's ``mergepatch`` errors; the remaining errors (a missing merge key, an unknown
  ``$patch`` value) reach the client as ``500`` with the error text, as they do from the real
  server.

Server steps that follow a patch (defaulting, validation, resourceVersion precondition, no-op
detection) belong to the caller.
"""

from __future__ import annotations

from typing import Any

import msgspec

from opframe.testing.apiserver.errors import StatusError, bad_request
from opframe.testing.apiserver.fielderrors import go_v
from opframe.testing.apiserver.merge.strategic import Node, root_node

__all__ = ["json_copy", "json_equal", "json_patch", "merge_patch", "strategic_merge_patch"]


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON document (dicts, lists, scalars).

    Packed and unpacked by msgspec's MessagePack codec, in C: several times faster than a
    copy walked in Python (and many times faster than ``copy.deepcopy``), and every scalar
    comes back as it was (floats bit for bit, NaN included). A document MessagePack cannot
    hold (an integer beyond 64 bits) is copied by the walk instead."""
    if isinstance(value, dict | list):
        try:
            return _DECODE(_ENCODE(value))
        except (TypeError, ValueError, OverflowError):
            pass
    return _walk_copy(value)


def _walk_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _walk_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk_copy(v) for v in value]
    return value


_ENCODE = msgspec.msgpack.Encoder().encode
_DECODE = msgspec.msgpack.Decoder().decode


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch: objects merge, ``null`` deletes, the rest replaces.

    >>> merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}})
    {'a': 1, 'b': {'d': 3}}
    """
    if not isinstance(patch, dict):
        return json_copy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            out[key] = merge_patch(out.get(key), value)
        else:
            out[key] = json_copy(value)
    return out


def json_equal(a: Any, b: Any) -> bool:
    """JSON value equality: ``1 == 1.0`` but ``true != 1``, objects by content."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(json_equal, a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and bool(a == b)


# --- JSON patch (RFC 6902) ---------------------------------------------------------------


class _PatchFailed(Exception):
    """One operation could not be applied; the server answers with the generic 422."""


def _invalid() -> StatusError:
    return StatusError(
        422, "Invalid", "the server rejected our request due to an error in our request", {}
    )


_GO_TYPES = {dict: "object", str: "string", int: "number", float: "number", bool: "bool"}


def json_patch(target: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch; all operations or none.

    >>> json_patch({"a": {"b~c": 1}}, [{"op": "replace", "path": "/a/b~0c", "value": 2}])
    {'a': {'b~c': 2}}
    """
    if not isinstance(operations, list):
        what = _GO_TYPES.get(type(operations), "null" if operations is None else "value")
        raise bad_request(f"json: cannot unmarshal {what} into Go value of type jsonpatch.Patch")
    if any(not isinstance(op, dict) for op in operations):
        raise bad_request(
            "json: cannot unmarshal into Go value of type jsonpatch.Operation: "
            "an operation is not an object"
        )
    doc = json_copy(target)
    try:
        for op in operations:
            doc = _apply_operation(doc, op)
    except _PatchFailed:
        raise _invalid() from None
    return doc


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise _PatchFailed("path is not a string")
    if path == "":
        return []
    if not path.startswith("/"):
        raise _PatchFailed(f"JSON pointer must start with /: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if token == "-" and for_add:
        return len(container)
    if not token or not (token.lstrip("-").isdigit()) or (token[0] == "0" and len(token) > 1):
        raise _PatchFailed(f"invalid array index {token!r}")
    idx = int(token)
    limit = len(container) if for_add else len(container) - 1
    if idx < 0:
        # The server's JSON patch library accepts negative indices counted from the end.
        if idx < -len(container):
            raise _PatchFailed("index out of range")
        idx += len(container)
    if idx > limit:
        raise _PatchFailed("index out of range")
    return idx


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise _PatchFailed(f"missing key {token!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, for_add=False)]
        else:
            raise _PatchFailed("path goes through a scalar")
    return node


def _existing(doc: Any, tokens: list[str]) -> tuple[Any, str | int]:
    """The container holding the value ``tokens`` (non-empty) point at, and its key there."""
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _PatchFailed(f"missing key {last!r}")
        return parent, last
    if isinstance(parent, list):
        return parent, _index(parent, last, for_add=False)
    raise _PatchFailed("path goes through a scalar")


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent, key = _existing(doc, tokens)
    return parent[key]


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise _PatchFailed("path goes through a scalar")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise _PatchFailed("cannot remove the whole document")
    parent, key = _existing(doc, tokens)
    del parent[key]
    return doc


def _apply_operation(doc: Any, op: dict[str, Any]) -> Any:
    kind = op.get("op")
    tokens = _pointer(op.get("path"))
    # A missing "value" is JSON null for the server's library, not an error.
    value = json_copy(op.get("value"))
    if kind == "add":
        return _add(doc, tokens, value)
    if kind == "remove":
        return _remove(doc, tokens)
    if kind == "replace":
        _get(doc, tokens)
        if not tokens:
            return value
        return _add(_remove(doc, tokens), tokens, value)
    if kind == "test":
        if value is None and tokens:
            # The server's library treats a missing member as null for "test".
            parent = _parent(doc, tokens)
            if isinstance(parent, dict) and parent.get(tokens[-1]) is None:
                return doc
        if not json_equal(_get(doc, tokens), value):
            raise _PatchFailed("test failed")
        return doc
    if kind in ("move", "copy"):
        source = _pointer(op.get("from"))
        moved = json_copy(_get(doc, source))
        if kind == "move":
            if tokens[: len(source)] == source and tokens != source:
                raise _PatchFailed("cannot move a value into itself")
            doc = _remove(doc, source)
        return _add(doc, tokens, moved)
    raise _PatchFailed(f"unexpected operation {kind!r}")


# --- strategic merge patch ---------------------------------------------------------------

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_RETAIN = "$retainKeys"
_PATCH = "$patch"


def _smp_error(message: str) -> StatusError:
    # Errors apimachinery does not classify reach the client as a bare 500 with their text.
    return StatusError(500, "", message)


def _unprocessable(message: str) -> StatusError:
    return StatusError(422, "Invalid", message, {})


def strategic_merge_patch(
    target: dict[str, Any], patch: dict[str, Any], group: str, kind: str
) -> dict[str, Any]:
    """Apply a strategic merge patch to a built-in object.

    Lists merge by their ``patchMergeKey`` where the type says ``patchStrategy: merge`` and are
    replaced otherwise; directives: ``$patch: replace|merge|delete`` on maps and list items,
    ``$setElementOrder/<list>``, ``$deleteFromPrimitiveList/<list>``, ``$retainKeys``.

    >>> pod = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}
    >>> strategic_merge_patch(pod, {"spec": {"containers": [{"name": "a", "image": "y"}]}},
    ...                       "", "Pod")["spec"]["containers"]
    [{'name': 'a', 'image': 'y'}, {'name': 'b'}]
    """
    if not isinstance(patch, dict):
        raise bad_request("invalid JSON document")
    node = root_node(group, kind, None)
    return _smp_map(json_copy(target) if isinstance(target, dict) else {}, patch, node)


def _smp_map(original: dict[str, Any], patch: dict[str, Any], node: Node) -> dict[str, Any]:
    """Merge ``patch`` into ``original`` (owned by the caller)."""
    if _PATCH in patch:
        directive = patch[_PATCH]
        if directive == "replace":
            replaced: dict[str, Any] = _strip({k: v for k, v in patch.items() if k != _PATCH})
            return replaced
        if directive == "delete":
            # apimachinery empties the map; the key itself stays.
            return {}
        raise _smp_error(f"unknown patch type: {directive} in map: {go_v(patch)}")
    if _RETAIN in patch:
        retain = patch[_RETAIN]
        if not isinstance(retain, list):
            raise bad_request("invalid patch format of retainKeys")
        for key, value in patch.items():
            if not key.startswith("$") and value is not None and key not in retain:
                raise bad_request("invalid patch format of retainKeys")
        original = {k: v for k, v in original.items() if k in retain}
    orders: dict[str, Any] = {}
    deletions: dict[str, Any] = {}
    for key, value in patch.items():
        if key.startswith(_ORDER):
            if not isinstance(value, list):
                raise bad_request("invalid patch format of setElementOrder list")
            orders[key[len(_ORDER) :]] = value
        elif key.startswith(_DELETE_PRIMITIVE):
            if not isinstance(value, list):
                raise bad_request("invalid patch format of primitive list")
            deletions[key[len(_DELETE_PRIMITIVE) :]] = value
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            original.pop(key, None)
            continue
        child = node.child(key)
        current = original.get(key)
        if isinstance(value, dict) and "replace" in child.strategy:
            original[key] = _strip(value)
        elif isinstance(value, dict):
            original[key] = _smp_map(current if isinstance(current, dict) else {}, value, child)
        elif isinstance(value, list):
            original[key] = _smp_list(
                current if isinstance(current, list) else [], value, child, orders.get(key)
            )
        else:
            original[key] = value
    for key, values in deletions.items():
        current = original.get(key)
        if isinstance(current, list):
            original[key] = [v for v in current if not any(json_equal(v, d) for d in values)]
    for key, order in orders.items():
        current = original.get(key)
        if key not in patch and isinstance(current, list) and current:
            child = node.child(key)
            original[key] = _normalize(current, [], order, current, child.merge_key)
    return original


def _strip(value: Any) -> Any:
    """Drop directives and nulls from a value that is inserted whole."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _item_key(item: Any, merge_key: str) -> Any:
    if not isinstance(item, dict) or merge_key not in item:
        raise _smp_error(f"map: {go_v(item)} does not contain declared merge key: {merge_key}")
    return item[merge_key]


def _smp_list(
    original: list[Any], patch: list[Any], node: Node, order: list[Any] | None
) -> list[Any]:
    if any(isinstance(v, list) for v in patch):
        raise _unprocessable("lists of lists are not supported")
    if "merge" not in node.strategy:
        return [_strip(v) for v in patch]
    key = node.merge_key
    if order is not None:
        _check_order(patch, order, key)
    if not key:
        # Primitives: the union, ordered like the patch (or $setElementOrder) and the live list.
        merged = list(original)
        for value in patch:
            if not any(json_equal(value, v) for v in merged):
                merged.append(value)
        wanted = order if order is not None else patch
        in_patch = [v for v in merged if any(json_equal(v, p) for p in wanted)]
        server_only = [v for v in merged if not any(json_equal(v, p) for p in wanted)]
        return _normalize(in_patch, server_only, wanted, original, "")
    merged = list(original)
    plain: list[dict[str, Any]] = []
    for item in patch:
        if not isinstance(item, dict):
            raise _smp_error(f"expected a map in a list merged by {key}, got {go_v(item)}")
        if _PATCH not in item:
            plain.append(item)
            continue
        directive = item[_PATCH]
        if directive == "delete":
            wanted_key = _item_key(item, key)
            merged = [v for v in merged if not (isinstance(v, dict) and v.get(key) == wanted_key)]
        elif directive == "replace":
            return [_strip(v) for v in patch if not (isinstance(v, dict) and _PATCH in v)]
        elif directive == "merge":
            raise _smp_error("merging lists cannot yet be specified in the patch")
        else:
            raise _smp_error(f"unknown patch type: {directive} in map: {go_v(item)}")
    for item in plain:
        wanted_key = _item_key(item, key)
        at = next(
            (i for i, v in enumerate(merged) if isinstance(v, dict) and v.get(key) == wanted_key),
            -1,
        )
        if at >= 0:
            merged[at] = _smp_map(dict(merged[at]), item, node.item())
        else:
            merged.append(_smp_map({}, item, node.item()))
    patch_order: list[Any] = order if order is not None else plain
    wanted_keys = [v.get(key) for v in patch_order if isinstance(v, dict)]
    in_patch = [v for v in merged if isinstance(v, dict) and v.get(key) in wanted_keys]
    server_only = [v for v in merged if not (isinstance(v, dict) and v.get(key) in wanted_keys)]
    return _normalize(in_patch, server_only, patch_order, original, key)


def _check_order(patch: list[Any], order: list[Any], key: str) -> None:
    """The patch list must name its items in the relative order ``$setElementOrder`` gives."""
    items = [v for v in patch if not (isinstance(v, dict) and _PATCH in v)]
    i = 0
    for wanted in order:
        if i < len(items) and _position([wanted], items[i], key) == 0:
            i += 1
    if i < len(items):
        raise _smp_error(
            f"The order in patch list:\n{go_v(patch)}\n doesn't match "
            f"{_ORDER[:-1]} list:\n{go_v(order)}\n"
        )


def _position(items: list[Any], value: Any, key: str) -> int:
    for i, v in enumerate(items):
        if key:
            if isinstance(v, dict) and isinstance(value, dict) and v.get(key) == value.get(key):
                return i
        elif json_equal(v, value):
            return i
    return -1


def _normalize(
    from_patch: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    key: str,
) -> list[Any]:
    """Order a merged list: patch order first, live order for the rest, interleaved.

    The items the patch names keep the patch's (or ``$setElementOrder``'s) relative order; the
    server-only items keep their live order and are slotted in before the first patch item that
    came after them in the live list, which is what apimachinery's ``mergeSortedSlice`` does.
    """
    big = len(patch_order) + len(server_order) + 1

    def by(order: list[Any]) -> Any:
        def rank(v: Any) -> int:
            pos = _position(order, v, key)
            return pos if pos >= 0 else big

        return rank

    left = sorted(server_only, key=by(server_order))
    right = sorted(from_patch, key=by(patch_order))
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _position(server_order, left[i], key)
            ri = _position(server_order, right[j], key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out
