"""Request options as kube-apiserver decodes and validates them: list, write and delete options.

Query parameters are decoded the way apimachinery's parameter codec converts them
(``runtime/conversion.go``): a boolean is false only when absent, ``0`` or ``false``; an
integer that does not parse is a 400 quoting ``strconv.ParseInt``. Parameters the options do
not know are ignored. The decoded options are then checked as
``apimachinery/pkg/apis/meta/v1/validation`` and ``meta/internalversion/validation`` check
them, answering 422 on ``ListOptions``/``CreateOptions``/... of ``meta.k8s.io``.

    opts = list_options(request.query)          # raises StatusError on a bad combination
    manager, dry, validation = write_options(q, "CreateOptions", user_agent)
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opframe.testing.apiserver import fielderrors as fe
from opframe.testing.apiserver.errors import Cause, StatusError, invalid
from opframe.testing.apiserver.http.request import flag, integer
from opframe.testing.apiserver.registry.writes import DeleteOptions

__all__ = [
    "ListOptions",
    "delete_options",
    "list_options",
    "resource_version",
    "too_large_resource_version",
    "write_options",
]

_MAX_UINT64 = 2**64 - 1
#: kube-apiserver's limit on ``fieldManager`` (``FieldManagerMaxLength``).
FIELD_MANAGER_MAX = 128
#: How long a read waits for a future resourceVersion before answering 504 (the cacher's).
RV_WAIT_SECONDS = 3.0


def resource_version(value: str) -> int:
    """A resourceVersion parameter as the storage versioner parses it (``""``/``"0"``: 0).

    Anything ``strconv.ParseUint`` refuses is the real server's 500 without a reason
    (``storage/etcd3/api_object_versioner.go``; kubernetes/kubernetes#139485).
    """
    if value in ("", "0"):
        return 0
    why = ""
    if not value.isascii() or not value.isdigit():
        why = "invalid syntax"
    elif int(value) > _MAX_UINT64:
        why = "value out of range"
    if why:
        message = (
            f"resourceVersion: Invalid value: {fe.go_quote(value)}: strconv.ParseUint: parsing "
            f"{fe.go_quote(value)}: {why}"
        )
        raise StatusError(500, "", message)
    return int(value)


def too_large_resource_version(wanted: int, current: int) -> StatusError:
    """504 for a read at a resourceVersion the storage has not reached (``storage/errors.go``).

    The cacher waits 3 s for it first and asks the client to retry after one second.
    """
    return StatusError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {wanted}, current: {current}",
        {
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
        headers={"Retry-After": "1"},
    )


@dataclass(frozen=True)
class ListOptions:
    """The options of a list or watch (``metainternalversion.ListOptions``)."""

    watch: bool = False
    resource_version: str = ""
    match: str = ""
    send_initial_events: bool | None = None
    allow_bookmarks: bool = False
    limit: int = 0
    continue_token: str = ""
    timeout_seconds: int | None = None
    label_selector: str = ""
    field_selector: str = ""


def _list_causes(opts: ListOptions) -> list[Cause]:
    """``ValidateListOptions`` (list) and ``validateWatchOptions`` (watch)."""
    causes: list[Cause] = []
    match = opts.match
    path = "resourceVersionMatch"
    if opts.watch:
        if opts.send_initial_events is not None and match != "NotOlderThan":
            causes.append(
                fe.forbidden(
                    path, "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
                )
            )
        if match:
            if opts.send_initial_events is None:
                causes.append(
                    fe.forbidden(
                        path,
                        "resourceVersionMatch is forbidden for watch unless "
                        "sendInitialEvents is provided",
                    )
                )
            if match != "NotOlderThan":
                causes.append(fe.not_supported(path, match, ["NotOlderThan"]))
            if opts.continue_token:
                causes.append(
                    fe.forbidden(
                        path, "resourceVersionMatch is forbidden when continue is provided"
                    )
                )
        if opts.send_initial_events is not None and not opts.allow_bookmarks:
            # The watch handler's own check (endpoints/handlers/get.go).
            causes.append(
                fe.forbidden(
                    "allowWatchBookmarks",
                    "sendInitialEvents requires setting allowWatchBookmarks to true",
                )
            )
        return causes
    if match:
        if not opts.resource_version:
            causes.append(
                fe.forbidden(
                    path, "resourceVersionMatch is forbidden unless resourceVersion is provided"
                )
            )
        if opts.continue_token:
            causes.append(
                fe.forbidden(path, "resourceVersionMatch is forbidden when continue is provided")
            )
        if match not in ("Exact", "NotOlderThan"):
            causes.append(fe.not_supported(path, match, ["Exact", "NotOlderThan", ""]))
        if match == "Exact" and opts.resource_version == "0":
            causes.append(
                fe.forbidden(
                    path, 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'
                )
            )
    if opts.send_initial_events is not None:
        causes.append(fe.forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    return causes


def list_options(query: Mapping[str, str], *, watch: bool | None = None) -> ListOptions:
    """Decode and validate the options of a list or watch request (422 on ``ListOptions``)."""
    send = query.get("sendInitialEvents")
    opts = ListOptions(
        watch=flag(query.get("watch")) if watch is None else watch,
        resource_version=query.get("resourceVersion", ""),
        match=query.get("resourceVersionMatch", ""),
        send_initial_events=None if send is None else flag(send),
        allow_bookmarks=flag(query.get("allowWatchBookmarks")),
        limit=max(integer(query.get("limit"), "limit") or 0, 0),
        continue_token=query.get("continue", ""),
        timeout_seconds=integer(query.get("timeoutSeconds"), "timeoutSeconds"),
        label_selector=query.get("labelSelector", ""),
        field_selector=query.get("fieldSelector", ""),
    )
    causes = _list_causes(opts)
    if causes:
        raise invalid("ListOptions", "", causes, "meta.k8s.io")
    return opts


def _field_manager_causes(manager: str) -> list[Cause]:
    """``ValidateFieldManager``: at most 128 bytes, printable characters only."""
    causes: list[Cause] = []
    if len(manager.encode()) > FIELD_MANAGER_MAX:
        causes.append(fe.too_long("fieldManager", FIELD_MANAGER_MAX))
    position = 0
    for ch in manager:
        if not _printable(ch):
            detail = f"invalid character U+{ord(ch):04X} (at position {position})"
            causes.append(fe.invalid("fieldManager", manager, detail))
        position += len(ch.encode())
    return causes


def _printable(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def dry_run_causes(values: list[str]) -> list[Cause]:
    """``ValidateDryRun``: only ``All``."""
    if all(v == "All" for v in values):
        return []
    listed = "[" + ", ".join(json.dumps(v) for v in values) + "]"
    return [
        Cause(
            reason="FieldValueNotSupported",
            message=f'Unsupported value: {listed}: supported values: "All"',
            field="dryRun",
        )
    ]


def write_options(
    query: Any, options_kind: str, user_agent: str, *, patch_type: str = ""
) -> tuple[str, bool, str]:
    """Validated ``(fieldManager, dryRun, fieldValidation)`` of a create, update or patch.

    ``options_kind`` is ``CreateOptions``, ``UpdateOptions`` or ``PatchOptions``; a patch
    names its ``patch_type`` (``apply`` needs a fieldManager, ``force`` is for apply only).
    Without a fieldManager, the manager is derived from the User-Agent as the real server does.
    """
    manager = query.get("fieldManager", "")
    dry = list(query.getall("dryRun", []))
    validation = query.get("fieldValidation", "")
    causes: list[Cause] = []
    if options_kind == "PatchOptions":
        if patch_type != "apply" and "force" in query:
            causes.append(fe.forbidden("force", "may not be specified for non-apply patch"))
        if patch_type == "apply" and not manager:
            causes.append(fe.required("fieldManager", "is required for apply patch"))
    causes += _field_manager_causes(manager)
    causes += dry_run_causes(dry)
    if validation not in ("", "Ignore", "Strict", "Warn"):
        causes.append(
            fe.not_supported("fieldValidation", validation, ["", "Ignore", "Strict", "Warn"])
        )
    if causes:
        raise invalid(options_kind, "", causes, "meta.k8s.io")
    if not manager:
        prefix = user_agent.split("/", 1)[0] if user_agent else ""
        manager = prefix[:FIELD_MANAGER_MAX] or "unknown"
    return manager, bool(dry), validation or "Warn"


_PROPAGATION = ("Foreground", "Background", "Orphan")


def delete_options(query: Any, body: dict[str, Any]) -> DeleteOptions:
    """Validated options of a delete, from the query or a ``DeleteOptions`` body.

    ``ValidateDeleteOptions``: a propagationPolicy of Foreground, Background or Orphan, not
    together with orphanDependents; dryRun only ``All``. A negative gracePeriodSeconds means
    one second (``rest.BeforeDelete``).
    """
    pre = body.get("preconditions") or {}
    grace_raw = query.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
    grace = integer(grace_raw, "gracePeriodSeconds")
    if grace is not None and grace < 0:
        grace = 1
    propagation = query.get("propagationPolicy", body.get("propagationPolicy"))
    orphan = query.get("orphanDependents", body.get("orphanDependents"))
    dry = list(query.getall("dryRun", [])) or list(body.get("dryRun") or [])
    causes: list[Cause] = []
    if orphan is not None and propagation is not None:
        causes.append(
            fe.invalid(
                "propagationPolicy",
                str(propagation),
                "orphanDependents and deletionPropagation cannot be both set",
            )
        )
    if propagation is not None and propagation not in _PROPAGATION:
        causes.append(
            fe.not_supported("propagationPolicy", str(propagation), [*_PROPAGATION, "nil"])
        )
    causes += dry_run_causes(dry)
    if causes:
        raise invalid("DeleteOptions", "", causes, "meta.k8s.io")
    if propagation is None and orphan is not None:
        propagation = "Orphan" if flag(orphan) else ""
    return DeleteOptions(
        propagation=str(propagation or ""),
        grace_seconds=grace,
        precondition_uid=str(pre.get("uid") or ""),
        precondition_rv=str(pre.get("resourceVersion") or ""),
        dry_run=bool(dry),
    )
