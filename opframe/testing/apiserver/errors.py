"""``Status`` error answers of the embedded API server, shaped as kube-apiserver shapes them.

Every layer of the server (REST handlers, schema validation, patching, built-in kinds) raises
:class:`StatusError`; the HTTP layer turns it into the JSON ``Status`` body and code.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "Cause",
    "StatusError",
    "already_exists",
    "bad_request",
    "conflict",
    "field_path",
    "forbidden",
    "gone",
    "invalid",
    "method_not_allowed",
    "not_found",
]


class Cause(TypedDict):
    """One entry of ``details.causes``: reason (``FieldValueInvalid``...), message, field."""

    reason: str
    message: str
    field: str


class StatusError(Exception):
    """An error answer. ``details`` is the Status ``details`` object, or ``None`` to omit it."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        #: Warnings of the request that failed (sent as ``Warning`` headers with the error).
        self.warnings: list[str] = []
        #: The Status's list metadata (a continue token to go on with, after a 410).
        self.list_meta: dict[str, Any] = {}

    def body(self) -> dict[str, Any]:
        """The ``Status`` object for this error."""
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.list_meta),
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.details is not None:
            out["details"] = self.details
        out["code"] = self.code
        return out


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = kind
    return d


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> StatusError:
    """404 ``NotFound``: ``configmaps "x" not found`` (``widgets.example.com "x"`` for groups)."""
    return StatusError(
        404,
        "NotFound",
        f'{_qualified(resource, group)} "{name}" not found',
        _details(name, group, resource),
    )


def already_exists(resource: str, name: str, group: str = "") -> StatusError:
    """409 ``AlreadyExists``."""
    return StatusError(
        409,
        "AlreadyExists",
        f'{_qualified(resource, group)} "{name}" already exists',
        _details(name, group, resource),
    )


def conflict(resource: str, name: str, group: str = "", why: str = "") -> StatusError:
    """409 ``Conflict``; ``why`` defaults to the stale-resourceVersion text."""
    why = why or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
        _details(name, group, resource),
    )


def invalid(kind: str, name: str, causes: list[Cause], group: str = "") -> StatusError:
    """422 ``Invalid``: ``Kind.group "name" is invalid: [field: msg, ...]``."""
    parts: list[str] = []
    for c in causes:
        # apimachinery's aggregate drops repeated messages; the causes keep every entry.
        text = f"{c['field']}: {c['message']}" if c["field"] else c["message"]
        if text not in parts:
            parts.append(text)
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = _details(name, group, kind)
    details["causes"] = list(causes)
    return StatusError(
        422, "Invalid", f'{_qualified(kind, group)} "{name}" is invalid: {joined}', details
    )


def bad_request(message: str, details: dict[str, Any] | None = None) -> StatusError:
    """400 ``BadRequest``."""
    return StatusError(400, "BadRequest", message, details)


def forbidden(message: str, details: dict[str, Any] | None = None) -> StatusError:
    """403 ``Forbidden``."""
    return StatusError(403, "Forbidden", message, details)


def method_not_allowed() -> StatusError:
    """405 ``MethodNotAllowed``: the resource or subresource does not take this verb."""
    return StatusError(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        {},
    )


def gone(message: str) -> StatusError:
    """410 ``Expired`` (a watch or list from a resourceVersion older than the history)."""
    return StatusError(410, "Expired", message)


def field_path(*parts: str | int) -> str:
    """Join a path the way apimachinery prints it: ``spec.containers[0].image``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out = f"{out}.{p}" if out else p
    return out
