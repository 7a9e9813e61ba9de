"""The one exception hierarchy of opframe.

Every error opframe raises derives from :class:`OpframeError`. Errors that come from the
Kubernetes API are :class:`ApiError` subclasses chosen by HTTP status and ``reason``, so
callers catch what they mean::

    try:
        await client.create(obj)
    except AlreadyExists:
        ...

Messages name the object, field or endpoint involved, and what to do where that is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "FieldCause",
    "Forbidden",
    "Gone",
    "Invalid",
    "MethodNotAllowed",
    "NotFound",
    "OpframeError",
    "SchemaError",
    "ServerError",
    "TerminalError",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
]


class OpframeError(Exception):
    """Base class of every error opframe raises."""


class ConfigError(OpframeError):
    """A configuration problem: no kubeconfig, a bad option, an unreachable endpoint."""


class SchemaError(OpframeError):
    """A model cannot be expressed as a structural CRD schema.

    The message names the model and the field, e.g.
    ``EtcdCluster.spec.storage: recursive model 'Node' cannot be expressed``.
    """


class TerminalError(OpframeError):
    """Raised by a reconciler for an error that retrying cannot fix.

    The controller records it (log, metric, optionally an Event) and does not requeue the key
    until the object changes again.
    """


@dataclass(frozen=True)
class FieldCause:
    """One cause of an API error, as in ``Status.details.causes``."""

    reason: str
    message: str
    field: str = ""


class ApiError(OpframeError):
    """An error answer from the Kubernetes API server (a ``Status`` object).

    Attributes:
        status: the HTTP status code.
        reason: the ``Status.reason`` (``NotFound``, ``Conflict``, ...), or ``""``.
        message: the server's message.
        causes: field causes from ``details.causes``.
        body: the decoded ``Status`` body, when the server sent one.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        causes: tuple[FieldCause, ...] = (),
        body: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}" if reason else f"{status}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = causes
        self.body = body
        self.retry_after = retry_after


class BadRequest(ApiError):
    """400: the request was malformed (or rejected by strict field validation)."""


class Unauthorized(ApiError):
    """401: the credentials were missing or wrong."""


class Forbidden(ApiError):
    """403: the identity may not do this (RBAC), or the namespace is terminating."""


class NotFound(ApiError):
    """404: the object, resource or namespace does not exist."""


class MethodNotAllowed(ApiError):
    """405: the verb is not supported on this resource."""


class Conflict(ApiError):
    """409 ``Conflict``: a stale resourceVersion, or a server-side apply field conflict."""


class AlreadyExists(ApiError):
    """409 ``AlreadyExists``: an object with this name exists."""


class Gone(ApiError):
    """410: the requested resourceVersion is too old (``Expired``); relist."""


class UnsupportedMediaType(ApiError):
    """415: the patch type or content type is not supported for this resource."""


class Invalid(ApiError):
    """422: the object failed validation; :attr:`causes` names each field."""


class TooManyRequests(ApiError):
    """429: throttled; :attr:`retry_after` holds the server's ``Retry-After`` in seconds."""


class ServerError(ApiError):
    """5xx: the server failed; retrying later may succeed."""


def api_error_from_status(
    status: int,
    body: dict[str, Any] | None,
    *,
    text: str = "",
    retry_after: float | None = None,
) -> ApiError:
    """Build the typed :class:`ApiError` for an HTTP error answer.

    ``body`` is the decoded ``Status`` object if the server sent JSON, else ``None`` and
    ``text`` holds the raw body.
    """
    reason = ""
    message = text.strip()
    causes: tuple[FieldCause, ...] = ()
    if isinstance(body, dict):
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or message)
        details = body.get("details") or {}
        raw_causes = details.get("causes") or [] if isinstance(details, dict) else []
        causes = tuple(
            FieldCause(
                reason=str(c.get("reason", "")),
                message=str(c.get("message", "")),
                field=str(c.get("field", "")),
            )
            for c in raw_causes
            if isinstance(c, dict)
        )
    cls: type[ApiError]
    if status == 409:
        cls = AlreadyExists if reason == "AlreadyExists" else Conflict
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, ApiError)
    return cls(status, reason, message, causes=causes, body=body, retry_after=retry_after)


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
}
