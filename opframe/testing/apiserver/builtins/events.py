"""Events: one object served through ``core/v1`` and ``events.k8s.io/v1``.

The server stores an Event once, in core/v1 form; :func:`convert_event` gives either view. Both
APIs validate the core form (so causes name core fields such as ``involvedObject.namespace``),
with the stricter rules for events written through events.k8s.io/v1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opframe.testing.apiserver.builtins.meta import is_dns1123_subdomain, validate_object_meta
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import invalid, required
from opframe.testing.apiserver.registry.resource_type import ResourceType

__all__ = ["CORE_EVENT", "EVENTS_V1", "convert_event", "normalize_core_event", "validate_event"]

CORE_EVENT = "v1"
EVENTS_V1 = "events.k8s.io/v1"

# (core field, events.k8s.io field), in the order the server writes the core form.
_FIELD_MAP = (
    ("involvedObject", "regarding"),
    ("reason", "reason"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("action", "action"),
    ("related", "related"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
)
_TO_CORE = {v1: core for core, v1 in _FIELD_MAP}
_EVENTS_ORDER = (
    "eventTime", "series", "reportingController", "reportingInstance", "action", "reason",
    "regarding", "related", "note", "type", "deprecatedSource", "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp", "deprecatedCount",
)  # fmt: skip


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _time(value: Any) -> str | None:
    parsed = _parse_time(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else None


def _micro_time(value: Any) -> str | None:
    parsed = _parse_time(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if parsed else None


def normalize_core_event(event: dict[str, Any], *, complete: bool = True) -> None:
    """Put a core/v1 Event in stored form: second-precision ``Time`` fields, microsecond
    ``MicroTime`` fields, and (with ``complete``) the zero-valued fields Go always writes
    (``eventTime``, ``source``, ``reportingComponent``...).

    Decoding a request only normalises the values (``complete=False``): the zero-valued
    fields are also in an empty Event, so a writer's managedFields never own them.
    """
    for key in ("firstTimestamp", "lastTimestamp", "eventTime"):
        if key in event or complete:
            convert = _micro_time if key == "eventTime" else _time
            event[key] = convert(event.get(key))
    series = event.get("series")
    if isinstance(series, dict) and series.get("lastObservedTime"):
        series["lastObservedTime"] = _micro_time(series["lastObservedTime"])
    if complete:
        if not isinstance(event.get("involvedObject"), dict):
            event["involvedObject"] = {}
        if not isinstance(event.get("source"), dict):
            event["source"] = {}
        event.setdefault("reportingComponent", "")
        event.setdefault("reportingInstance", "")
    for key in ("reason", "message", "type", "action"):
        if event.get(key) == "":
            del event[key]
    if not event.get("count"):
        event.pop("count", None)
    ordered: dict[str, Any] = {
        k: event[k] for k in ("kind", "apiVersion", "metadata") if k in event
    }
    for core, _ in _FIELD_MAP:
        if core in event:
            ordered[core] = event[core]
    ordered.update({k: v for k, v in event.items() if k not in ordered})
    event.clear()
    event.update(ordered)


def convert_event(obj: dict[str, Any], to_api_version: str) -> dict[str, Any]:
    """``obj`` (either API's form) as ``to_api_version`` (``v1`` or ``events.k8s.io/v1``)."""
    source_is_core = obj.get("apiVersion", CORE_EVENT) == CORE_EVENT
    head = {"kind": "Event", "apiVersion": to_api_version}
    if "metadata" in obj:
        head["metadata"] = obj["metadata"]
    if to_api_version == CORE_EVENT:
        if source_is_core:
            core = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
        else:
            core = {_TO_CORE.get(k, k): v for k, v in obj.items() if k not in head}
        out = {**head, **{k: v for k, v in core.items() if k != "metadata"}}
        normalize_core_event(out)
        return out
    core = dict(obj) if source_is_core else convert_event(obj, CORE_EVENT)
    normalize_core_event(core)
    mapped = {v1: core[c] for c, v1 in _FIELD_MAP if c in core}
    out = dict(head)
    for key in _EVENTS_ORDER:
        if key in mapped:
            out[key] = mapped[key]
    for key in ("reportingController", "reportingInstance"):
        if out.get(key) == "":
            del out[key]
    out.setdefault("regarding", {})
    return out


#: Fields of an events.k8s.io Event that an update may not change (``ValidateEventUpdate``),
#: as (core/v1 field, path in the error).
_IMMUTABLE = (
    ("reason", "reason"), ("message", "message"), ("count", "count"), ("type", "type"),
    ("action", "action"), ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
)  # fmt: skip


def _series_causes(core: dict[str, Any]) -> list[Cause]:
    """``validateEventSeries``: a series counts at least 2 and has a lastObservedTime."""
    series = core.get("series")
    if not isinstance(series, dict):
        return []
    causes: list[Cause] = []
    if not isinstance(series.get("count"), int) or series["count"] < 2:
        causes.append(invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        causes.append(required("series.lastObservedTime"))
    return causes


def _update_causes(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidateEventUpdate`` through events.k8s.io: a changed series is validated again;
    what the event reports (reason, note, type, action, reporter...) is immutable."""
    causes: list[Cause] = []
    if new.get("series") != old.get("series"):
        causes.extend(_series_causes(new))
    for key, path in _IMMUTABLE:
        if (new.get(key) or None) != (old.get(key) or None):
            value = new.get(key)
            causes.append(invalid(path, "" if value is None else value, "field is immutable"))
    return causes


def validate_event(
    rt: ResourceType, core: dict[str, Any], request_version: str, old: dict[str, Any] | None
) -> list[Cause]:
    """Validate a core-form Event written through ``request_version`` (``v1`` or
    ``events.k8s.io/v1``), as ``ValidateEventCreate``/``ValidateEventUpdate`` do."""
    meta = core.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    involved = core.get("involvedObject") or {}
    causes: list[Cause] = []
    controller_field = (
        "reportingComponent" if request_version == CORE_EVENT else "reportingController"
    )
    involved_ns = involved.get("namespace") or ""
    if not core.get("eventTime"):
        if not involved_ns:
            if namespace not in ("", "default"):
                causes.append(
                    invalid(
                        "involvedObject.namespace", involved_ns, "does not match event.namespace"
                    )
                )
        elif namespace != involved_ns:
            causes.append(
                invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
            )
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            causes.append(
                invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
            )
        controller = core.get("reportingComponent") or ""
        if not controller:
            causes.append(required(controller_field))
        instance = core.get("reportingInstance") or ""
        if not instance:
            causes.append(required("reportingInstance"))
        elif len(instance) > 128:
            causes.append(invalid("reportingInstance", "", "can have at most 128 characters"))
        action = core.get("action") or ""
        if not action:
            causes.append(required("action"))
        elif len(action) > 128:
            causes.append(invalid("action", "", "can have at most 128 characters"))
        reason = core.get("reason") or ""
        if not reason:
            causes.append(required("reason"))
        elif len(reason) > 128:
            causes.append(invalid("reason", "", "can have at most 128 characters"))
        if len(core.get("message") or "") > 1024:
            causes.append(invalid("message", "", "can have at most 1024 characters"))
    if namespace:
        causes.extend(invalid("namespace", namespace, m) for m in is_dns1123_subdomain(namespace))
    if request_version == CORE_EVENT:
        return causes
    if old is not None:
        return causes + _update_causes(core, convert_event(old, CORE_EVENT))
    causes.extend(_series_causes(core))
    causes.extend(validate_object_meta(rt, core))
    if not core.get("eventTime"):
        causes.append(required("eventTime"))
    if core.get("type") not in ("Normal", "Warning"):
        causes.append(invalid("type", "", f"has invalid value: {core.get('type') or ''}"))
    for key in ("firstTimestamp", "lastTimestamp", "count"):
        if core.get(key):
            causes.append(invalid(key, "", "needs to be unset"))
    source = core.get("source") or {}
    if source.get("component") or source.get("host"):
        causes.append(invalid("source", "", "needs to be unset"))
    return causes
