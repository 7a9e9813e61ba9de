"""The pure modules the server core calls (schema, patch, apply, built-in kinds, tables).

They are written separately; this module binds each function to the real implementation when
its module provides it and to a small stand-in otherwise, so the core never imports them
directly and keeps working while they evolve.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, cast

from opframe.testing.apiserver import _fallback_builtins, _fallbacks
from opframe.testing.apiserver.status import Cause
from opframe.testing.apiserver.types import ResourceType

__all__ = [
    "BUILTIN_TYPES",
    "apply_defaults",
    "builtin_on_delete",
    "builtin_prepare_create",
    "builtin_prepare_update",
    "event_convert",
    "json_patch",
    "merge_patch",
    "prune",
    "server_side_apply",
    "strategic_merge_patch",
    "structural_errors",
    "to_table",
    "update_managed_fields",
    "validate",
    "validate_crd",
    "validate_object_meta",
]


def _bind(module: str, name: str, fallback: Any) -> Any:
    try:
        mod = importlib.import_module(f"opframe.testing.apiserver.{module}")
    except ImportError:
        return fallback
    return getattr(mod, name, fallback)


def _no_structural_errors(schema: dict[str, Any]) -> list[str]:
    return []


def _no_crd_errors(crd: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    return []


structural_errors = cast(
    Callable[[dict[str, Any]], list[str]],
    _bind("schema", "structural_errors", _no_structural_errors),
)
validate_crd = cast(
    Callable[[dict[str, Any], "dict[str, Any] | None"], list[Cause]],
    _bind("schema", "validate_crd", _no_crd_errors),
)
prune = cast(Callable[[Any, dict[str, Any]], list[str]], _bind("schema", "prune", _fallbacks.prune))
apply_defaults = cast(
    Callable[[Any, dict[str, Any]], None],
    _bind("schema", "apply_defaults", _fallbacks.apply_defaults),
)
validate = cast(Callable[..., list[Cause]], _bind("schema", "validate", _fallbacks.validate))

merge_patch = cast(Callable[[Any, Any], Any], _bind("patch", "merge_patch", _fallbacks.merge_patch))
json_patch = cast(Callable[[Any, Any], Any], _bind("patch", "json_patch", _fallbacks.json_patch))
strategic_merge_patch = cast(
    "Callable[[Any, Any, str, str], Any] | None", _bind("patch", "strategic_merge_patch", None)
)
update_managed_fields = cast(
    Callable[..., None],
    _bind("apply", "update_managed_fields", _fallbacks.update_managed_fields),
)
server_side_apply = cast(
    "Callable[..., dict[str, Any]] | None", _bind("apply", "server_side_apply", None)
)

BUILTIN_TYPES = cast(
    tuple[ResourceType, ...], _bind("builtins", "BUILTIN_TYPES", _fallback_builtins.BUILTIN_TYPES)
)
builtin_prepare_create = cast(
    Callable[..., list[str]],
    _bind("builtins", "prepare_create", _fallback_builtins.prepare_create),
)
builtin_prepare_update = cast(
    Callable[..., list[str]],
    _bind("builtins", "prepare_update", _fallback_builtins.prepare_update),
)
builtin_on_delete = cast(
    Callable[..., None], _bind("builtins", "on_delete", _fallback_builtins.on_delete)
)
validate_object_meta = cast(
    Callable[..., list[Cause]],
    _bind("builtins", "validate_object_meta", _fallback_builtins.validate_object_meta),
)
event_convert = cast(
    "Callable[..., dict[str, Any]] | None", _bind("builtins", "convert_event", None)
)
to_table = cast("Callable[..., dict[str, Any]] | None", _bind("table", "to_table", None))
