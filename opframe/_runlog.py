"""Logging set-up and identity for the runner: text or JSON lines, and "who are we" for errors."""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from opframe._config import ConnectionConfig

__all__ = ["JsonFormatter", "configure_logging", "identity_of"]

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came from ``extra`` (the context).
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context, the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, log_format: str) -> None:
    """Send the root logger's records to stderr as text or JSON lines, at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def identity_of(config: ConnectionConfig, context: str | None) -> str:
    """Who the client authenticates as, for messages: the kubeconfig user or the service account.

    Best effort and never secret: a name from the kubeconfig, or the ``sub`` claim of the
    service account token (a public identity, ``system:serviceaccount:ns:name``).
    """
    if config.token_file is not None:
        return _token_subject(config.token_file) or "the pod's service account"
    source = config.source
    if not source:
        return "(unknown)"
    first = source.split(os.pathsep)[0]
    try:
        document = yaml.safe_load(Path(first).expanduser().read_text()) or {}
    except (OSError, yaml.YAMLError):
        return "(unknown)"
    wanted = context or document.get("current-context")
    for entry in document.get("contexts") or []:
        if entry.get("name") == wanted:
            return str((entry.get("context") or {}).get("user") or "(none)")
    return "(unknown)"


def _token_subject(path: Path) -> str | None:
    try:
        payload = path.read_text().strip().split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (OSError, IndexError, ValueError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return str(subject) if subject else None
