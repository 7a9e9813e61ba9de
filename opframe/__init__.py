"""opframe: an asyncio framework for Kubernetes operators.

The public API is what this module exports; everything else is private.
"""

from __future__ import annotations

from opframe.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    ConfigError,
    Conflict,
    FieldCause,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    OpframeError,
    SchemaError,
    ServerError,
    TerminalError,
    TooManyRequests,
    Unauthorized,
)

__version__ = "0.1.0"

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
    "NotFound",
    "OpframeError",
    "SchemaError",
    "ServerError",
    "TerminalError",
    "TooManyRequests",
    "Unauthorized",
    "__version__",
]
