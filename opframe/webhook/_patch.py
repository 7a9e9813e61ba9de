"""RFC 6902 JSON patches computed from two JSON documents (the mutating webhook's answer).

Only what the patch has to say: objects are compared key by key, lists of the same length
element by element; a list that changed length is replaced whole (a webhook's patch is
applied to the very object it was computed from, so index arithmetic buys nothing).
"""

from __future__ import annotations

from typing import Any

__all__ = ["json_patch"]


def _pointer(path: str, key: str | int) -> str:
    # RFC 6901: "~" is written "~0" and "/" is written "~1", in that order.
    token = str(key).replace("~", "~0").replace("/", "~1")
    return f"{path}/{token}"


def _same(a: Any, b: Any) -> bool:
    # JSON has no 1 == 1.0 == True: a changed type is a change.
    return type(a) is type(b) and a == b


def json_patch(before: Any, after: Any) -> list[dict[str, Any]]:
    """The operations that turn ``before`` into ``after`` (both decoded JSON)."""
    ops: list[dict[str, Any]] = []
    _diff(before, after, "", ops)
    return ops


def _diff(before: Any, after: Any, path: str, ops: list[dict[str, Any]]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before:
            if key not in after:
                ops.append({"op": "remove", "path": _pointer(path, key)})
        for key, value in after.items():
            if key not in before:
                ops.append({"op": "add", "path": _pointer(path, key), "value": value})
            else:
                _diff(before[key], value, _pointer(path, key), ops)
        return
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            _diff(old, new, _pointer(path, index), ops)
        return
    if isinstance(before, (dict, list)) or isinstance(after, (dict, list)):
        if before == after and type(before) is type(after):
            return
        ops.append({"op": "replace", "path": path, "value": after})
        return
    if not _same(before, after):
        ops.append({"op": "replace", "path": path, "value": after})
