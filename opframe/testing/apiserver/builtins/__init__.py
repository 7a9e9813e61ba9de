"""Built-in kinds of the embedded API server: discovery data, defaulting, admission and
validation as kube-apiserver does them, as pure functions over JSON objects.

The server core calls :func:`prepare_create`, :func:`prepare_update` and :func:`on_delete`
for every built-in write, and :func:`validate_object_meta` for custom resources too.
"""

from opframe.testing.apiserver.builtins.context import SERVICE_CIDR, BuiltinContext
from opframe.testing.apiserver.builtins.events import convert_event
from opframe.testing.apiserver.builtins.kinds import BUILTIN_TYPES, builtin_type
from opframe.testing.apiserver.builtins.meta import meta_warnings, validate_object_meta
from opframe.testing.apiserver.builtins.printers import BUILTIN_PRINTERS
from opframe.testing.apiserver.builtins.printers_kinds import KIND_PRINTERS
from opframe.testing.apiserver.builtins.replicas import scale_of
from opframe.testing.apiserver.builtins.strategy import (
    default_object,
    on_delete,
    prepare_create,
    prepare_update,
)
from opframe.testing.apiserver.builtins.workloads import validate_scale

__all__ = [
    "BUILTIN_TYPES",
    "SERVICE_CIDR",
    "BuiltinContext",
    "builtin_type",
    "convert_event",
    "default_object",
    "meta_warnings",
    "on_delete",
    "prepare_create",
    "prepare_update",
    "scale_of",
    "validate_object_meta",
    "validate_scale",
]

# One table of printers for the server: the later kinds keep theirs in printers_kinds, which
# builds on the helpers of printers (so printers cannot import it).
BUILTIN_PRINTERS.update(KIND_PRINTERS)
