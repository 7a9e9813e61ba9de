"""Custom resource schemas: the pure functions the API server calls on every CR write.

One import point for the server core; the work is split by idea across sibling modules:
:mod:`.structural` (is a CRD schema acceptable), :mod:`.crdvalidation` (the whole CRD object),
:mod:`.pruning` (unknown fields), :mod:`.defaulting`, :mod:`.openapi` (OpenAPI v3 value
validation), :mod:`.resourcechecks` (scale paths, list sets/maps, embedded resources) and
:mod:`.cel` (``x-kubernetes-validations``).

The real server's order on a create or update of a custom resource, which the transcripts pin
down, is::

    unknown = prune(obj, schema)        # while decoding: Warning / Strict 400 / Ignore
    apply_defaults(obj, schema)         # still while decoding
    ...                                 # metadata, status/spec split, generation
    causes = validate(obj, schema, old=old, scale=scale)   # 422 if any

and for ``/status`` writes :func:`validate_status` instead of :func:`validate`.
"""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import invalid
from opframe.testing.apiserver.schema.cel import BLOCKED_RULES_MESSAGE, cel_causes
from opframe.testing.apiserver.schema.crd_validation import default_crd, validate_crd
from opframe.testing.apiserver.schema.defaulting import apply_defaults
from opframe.testing.apiserver.schema.nodes import MISSING, compile_schema
from opframe.testing.apiserver.schema.pruning import prune, strict_error, unknown_field_warnings
from opframe.testing.apiserver.schema.resource_checks import (
    embedded_causes,
    list_causes,
    scale_causes,
    scale_status_causes,
)
from opframe.testing.apiserver.schema.structural import structural_errors
from opframe.testing.apiserver.schema.validation import validate_node

__all__ = [
    "apply_defaults",
    "default_crd",
    "prune",
    "scale_causes",
    "strict_error",
    "structural_errors",
    "type_meta_causes",
    "unknown_field_warnings",
    "validate",
    "validate_crd",
    "validate_status",
]

#: Cause reasons after which the server does not run CEL rules (it could not type them).
_BLOCKING = (
    "FieldValueNotSupported",
    "FieldValueRequired",
    "FieldValueTooLong",
    "FieldValueTooMany",
    "FieldValueTypeInvalid",
)


def _with_rules(
    causes: list[Cause], obj: Any, schema: dict[str, Any], old: dict[str, Any] | None
) -> list[Cause]:
    node = compile_schema(schema)
    if node.has_embedded:
        causes.extend(embedded_causes(obj, node))
    if node.has_list_checks:
        # Ratcheting: an update may keep duplicates the stored object already had.
        if old is None or not list_causes(old, node):
            causes.extend(list_causes(obj, node))
    if node.has_rules:
        # CEL needs well-typed, bounded values to run; the server skips every rule otherwise.
        if any(c["reason"] in _BLOCKING for c in causes):
            causes.append(invalid("<nil>", None, BLOCKED_RULES_MESSAGE))
        else:
            causes.extend(cel_causes(obj, node, old=MISSING if old is None else old))
    return causes


def validate(
    obj: dict[str, Any],
    schema: dict[str, Any],
    *,
    old: dict[str, Any] | None = None,
    scale: dict[str, Any] | None = None,
) -> list[Cause]:
    """Validate a custom resource against its version's ``openAPIV3Schema``.

    Returns the causes of the 422 in the real server's order and words: OpenAPI schema
    violations, then (if the CRD has a scale subresource, pass its ``scale`` stanza) the scale
    path checks, embedded resources, list-type duplicates, and the ``x-kubernetes-validations``
    rules. ``old`` is the stored object on update: unchanged values are not re-validated
    (ratcheting) and transition rules (``oldSelf``) run. Metadata is not validated here.
    """
    node = compile_schema(schema)
    causes = validate_node(obj, node, old=MISSING if old is None else old)
    if scale:
        causes.extend(scale_causes(obj, scale))
    return _with_rules(causes, obj, schema, old)


def validate_status(
    obj: dict[str, Any],
    schema: dict[str, Any],
    *,
    old: dict[str, Any] | None = None,
    scale: dict[str, Any] | None = None,
) -> list[Cause]:
    """Validate a ``/status`` write: the status against the status schema, then the rest.

    The real server validates ``obj["status"]`` with a validator rooted at the status schema,
    so messages say ``replicas in body ...`` while the field is ``status.replicas``; only the
    status half of the scale checks applies.
    """
    causes: list[Cause] = []
    status_schema = (schema.get("properties") or {}).get("status")
    if isinstance(status_schema, dict) and "status" in obj:
        old_status = old.get("status", MISSING) if old is not None else MISSING
        causes = validate_node(
            obj["status"], compile_schema(status_schema), prefix="status", old=old_status
        )
    if scale:
        causes.extend(scale_status_causes(obj, scale))
    return _with_rules(causes, obj, schema, old)


def type_meta_causes(obj: dict[str, Any], group: str, version: str, kind: str) -> list[Cause]:
    """``kind`` / ``apiVersion`` mismatches of a custom resource body (422 causes).

    When this returns anything the real server reports only these causes, before looking at
    metadata or the schema: ``kind: Invalid value: "Gadget": must be Widget``.
    """
    out: list[Cause] = []
    got_kind = obj.get("kind")
    if got_kind != kind:
        out.append(
            invalid("kind", got_kind if isinstance(got_kind, str) else "", f"must be {kind}")
        )
    expected = f"{group}/{version}" if group else version
    got_api = obj.get("apiVersion")
    if got_api != expected:
        out.append(
            invalid(
                "apiVersion",
                got_api if isinstance(got_api, str) else "",
                f"must be {group}/{version}",
            )
        )
    return out
