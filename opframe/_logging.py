"""Structured logging context for controllers: every line names the controller and the object.

A reconcile's logger is a :class:`ContextLogger`. It adds the context twice: as ``extra``
attributes on the record (``controller``, ``namespace``, ``object_name`` (``name`` is taken by
``logging``), ``reconcile_id``) for JSON or
other structured handlers, and as a short ``[controller ns/name #id]`` prefix, so plain text logs
carry it without any handler configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["ContextLogger", "logger_for"]

_ROOT = "opframe"

# LogRecord attributes that a context key must not overwrite (logging raises if it does).
_RENAMED = {"name": "object_name", "msg": "context_msg", "args": "context_args"}


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger adapter that carries key/value context into every record.

    Use :meth:`bind` to derive a logger with more context; the original is unchanged.
    """

    def __init__(self, logger: logging.Logger, context: Mapping[str, object]) -> None:
        super().__init__(logger, dict(context))
        self._prefix: str | None = None  # built on first use: most reconciles log nothing

    @property
    def context(self) -> Mapping[str, object]:
        """The key/value context this logger adds."""
        return self.extra or {}

    def bind(self, **context: object) -> ContextLogger:
        """A logger with this context plus ``context``."""
        return ContextLogger(self.logger, {**self.context, **context})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        """Merge the context into ``extra`` and prefix the message."""
        extra = {_RENAMED.get(k, k): v for k, v in self.context.items()}
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        if self._prefix is None:
            self._prefix = _prefix(self.context)
        if self._prefix and isinstance(msg, str):
            msg = self._prefix + msg
        return msg, kwargs


def _prefix(context: Mapping[str, object]) -> str:
    parts: list[str] = []
    if controller := context.get("controller"):
        parts.append(str(controller))
    name = context.get("name")
    if name:
        namespace = context.get("namespace")
        parts.append(f"{namespace}/{name}" if namespace else str(name))
    if reconcile_id := context.get("reconcile_id"):
        parts.append(f"#{reconcile_id}")
    if not parts:
        return ""
    # The prefix becomes part of a %-format string when the caller passes args, and must read
    # the same when they do not: Kubernetes names cannot hold "%", so drop it from the rest.
    return "[" + " ".join(parts).replace("%", "") + "] "


def logger_for(component: str, **context: object) -> ContextLogger:
    """The logger ``opframe.<component>`` with ``context`` attached."""
    return ContextLogger(logging.getLogger(f"{_ROOT}.{component}"), context)
