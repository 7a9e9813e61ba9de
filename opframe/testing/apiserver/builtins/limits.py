"""ResourceQuotas, LimitRanges and the LimitRanger admission plugin for pods.

Rules from ``pkg/apis/core/v1/defaults.go`` (``SetDefaults_LimitRangeItem``),
``pkg/apis/core/validation/validation.go`` (``ValidateLimitRange``,
``ValidateResourceQuota``), ``plugin/pkg/admission/limitranger/admission.go`` and
``pkg/registry/core/resourcequota/strategy.go`` (the status is the quota controller's: a new
quota starts with an empty one).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from opframe.testing.apiserver.builtins.meta import is_qualified_name
from opframe.testing.apiserver.builtins.quantity import parse_quantity
from opframe.testing.apiserver.errors import Cause, StatusError
from opframe.testing.apiserver.fielderrors import invalid, not_supported, required

__all__ = [
    "LIMIT_RANGER_ANNOTATION",
    "admit_pod_limits",
    "default_limit_range",
    "validate_limit_range",
    "validate_resource_quota",
]

#: The annotation LimitRanger writes on a pod whose resources it set.
LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"
_LIMIT_TYPES = ("Container", "PersistentVolumeClaim", "Pod")
_QUOTA_SCOPES = (
    "BestEffort",
    "CrossNamespacePodAffinity",
    "NotBestEffort",
    "NotTerminating",
    "PriorityClass",
    "Terminating",
    "VolumeAttributesClass",
)
_INTEGER_RESOURCES = (
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
)


# helper.IsStandardQuotaResourceName / IsStandardContainerResourceName (pkg/apis/core/helper).
_STANDARD_QUOTA = frozenset({
    "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers", "cpu", "memory",
    "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage",
    "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage",
})  # fmt: skip
_STANDARD_CONTAINER = frozenset({"cpu", "memory", "ephemeral-storage", "storage"})


def _name_causes(name: str, path: str, quota: bool) -> list[Cause]:
    """``validateResourceQuotaResourceName`` / ``validateContainerResourceName``."""
    errors = is_qualified_name(name)
    if errors:
        return [invalid(path, name, m) for m in errors]
    if "/" in name:
        return []
    if quota:
        if name in _STANDARD_QUOTA or name.startswith(("requests.hugepages-", "hugepages-")):
            return []
        return [invalid(path, name, "must be a standard resource for quota")]
    if name in _STANDARD_CONTAINER or name.startswith("hugepages-"):
        return []
    return [invalid(path, name, "must be a standard resource type or fully qualified")]


def _q(text: Any) -> Fraction | None:
    try:
        return parse_quantity(str(text))[0]
    except (ValueError, ZeroDivisionError):
        return None


def default_limit_range(obj: dict[str, Any]) -> None:
    """``SetDefaults_LimitRangeItem``: a Container limit defaults to the max, a request to
    the default limit, then to the min."""
    for item in (obj.get("spec") or {}).get("limits") or []:
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        maximum, minimum = item.get("max") or {}, item.get("min") or {}
        default = dict(item.get("default") or {})
        for key, value in maximum.items():
            default.setdefault(key, value)
        request = dict(item.get("defaultRequest") or {})
        for key, value in default.items():
            request.setdefault(key, value)
        for key, value in minimum.items():
            request.setdefault(key, value)
        if default:
            item["default"] = default
        if request:
            item["defaultRequest"] = request


def _quantity_causes(values: Any, path: str, quota: bool = False) -> list[Cause]:
    causes: list[Cause] = []
    for key, value in sorted((values or {}).items()):
        causes.extend(_name_causes(str(key), f"{path}[{key}]", quota))
        amount = _q(value)
        if amount is None:
            causes.append(invalid(f"{path}[{key}]", value, "must be a valid quantity"))
        elif amount < 0:
            causes.append(
                invalid(f"{path}[{key}]", str(value), "must be greater than or equal to 0")
            )
        elif key in _INTEGER_RESOURCES and amount.denominator != 1:
            causes.append(invalid(f"{path}[{key}]", str(value), "must be an integer"))
    return causes


# The order LimitRangeItem bounds must keep (pkg/apis/core/validation ValidateLimitRange), in
# its order of checks: (lower part, its name, higher part, its name, field blamed, value shown).
_ORDER = (
    ("min", "min", "max", "max", "min", "min"),
    ("min", "min", "defaultRequest", "default request", "defaultRequest", "defaultRequest"),
    ("defaultRequest", "default request", "max", "max", "defaultRequest", "defaultRequest"),
    ("defaultRequest", "default request", "default", "default limit", "defaultRequest",
     "defaultRequest"),
    ("min", "min", "default", "default", "default", "min"),
    ("default", "default", "max", "max", "default", "max"),
)  # fmt: skip


def _item_causes(item: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    kind = item.get("type")
    if not kind:
        causes.append(required(f"{path}.type"))
    elif kind not in _LIMIT_TYPES:
        causes.append(not_supported(f"{path}.type", kind, _LIMIT_TYPES))
    parts = {
        k: item.get(k) or {}
        for k in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")
    }
    for part, values in parts.items():
        causes.extend(_quantity_causes(values, f"{path}.{part}"))
    if kind == "Pod":
        for part in ("default", "defaultRequest"):
            if parts[part]:
                causes.append(
                    invalid(
                        f"{path}.{part}", parts[part], "may not be specified when `type` is 'Pod'"
                    )
                )
    ratio = parts["maxLimitRequestRatio"]
    bounded = ("max", "min", "default", "defaultRequest")
    for key in sorted({*ratio}.union(*(parts[p] for p in bounded))):
        for low, low_name, high, high_name, field, shown in _ORDER:
            lo, hi = parts[low].get(key), parts[high].get(key)
            if lo is None or hi is None:
                continue
            lo_q, hi_q = _q(lo), _q(hi)
            if lo_q is not None and hi_q is not None and lo_q > hi_q:
                causes.append(
                    invalid(
                        f"{path}.{field}[{key}]",
                        str(parts[shown][key]),
                        f"{low_name} value {lo} is greater than {high_name} value {hi}",
                    )
                )
        if key in ratio:
            r = _q(ratio[key])
            if r is not None and r < 1:
                causes.append(
                    invalid(
                        f"{path}.maxLimitRequestRatio[{key}]",
                        str(ratio[key]),
                        f"ratio {ratio[key]} is less than 1",
                    )
                )
    return causes


def validate_limit_range(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateLimitRange``: per item a known type, non-negative quantities and
    min <= defaultRequest <= default <= max."""
    causes: list[Cause] = []
    for i, item in enumerate((obj.get("spec") or {}).get("limits") or []):
        causes.extend(_item_causes(item or {}, f"spec.limits[{i}]"))
    return causes


def validate_resource_quota(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateResourceQuotaSpec``: non-negative (integral where counted) hard limits,
    known scopes."""
    spec = obj.get("spec") or {}
    causes = _quantity_causes(spec.get("hard"), "spec.hard", quota=True)
    for i, scope in enumerate(spec.get("scopes") or []):
        if scope not in _QUOTA_SCOPES:
            causes.append(not_supported(f"spec.scopes[{i}]", scope, _QUOTA_SCOPES))
    return causes


def _merge_defaults(container: dict[str, Any], item: dict[str, Any]) -> tuple[list[str], list[str]]:
    resources = container.setdefault("resources", {})
    set_requests: list[str] = []
    set_limits: list[str] = []
    for part, source, record in (
        ("limits", "default", set_limits),
        ("requests", "defaultRequest", set_requests),
    ):
        defaults = item.get(source) or {}
        if not defaults:
            continue
        current = resources.setdefault(part, {})
        for key, value in defaults.items():
            if key not in current:
                current[key] = value
                record.append(key)
        if not current:
            resources.pop(part)
    return sorted(set_requests), sorted(set_limits)


def _container_errors(container: dict[str, Any], item: dict[str, Any]) -> list[str]:
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    errors: list[str] = []
    for key, value in sorted((item.get("min") or {}).items()):
        low = _q(value)
        req, lim = requests.get(key), limits.get(key)
        if req is None:
            errors.append(f"minimum {key} usage per Container is {value}.  No request is specified")
        elif low is not None and (_q(req) or 0) < low:
            errors.append(f"minimum {key} usage per Container is {value}, but request is {req}")
        if lim is not None and low is not None and (_q(lim) or 0) < low:
            errors.append(f"minimum {key} usage per Container is {value}, but limit is {lim}")
    for key, value in sorted((item.get("max") or {}).items()):
        high = _q(value)
        lim = limits.get(key)
        if lim is None:
            errors.append(f"maximum {key} usage per Container is {value}.  No limit is specified")
        elif high is not None and (_q(lim) or 0) > high:
            errors.append(f"maximum {key} usage per Container is {value}, but limit is {lim}")
    for key, value in sorted((item.get("maxLimitRequestRatio") or {}).items()):
        req, lim = _q(requests.get(key, 0)), _q(limits.get(key, 0))
        if req and lim and (_q(value) or 0) < lim / req:
            ratio = f"{float(lim / req):g}"
            errors.append(
                f"{key} max limit to request ratio per Container is {value}, but "
                f"provided ratio is {ratio}"
            )
    return errors


def admit_pod_limits(pod: dict[str, Any], ranges: list[dict[str, Any]]) -> None:
    """LimitRanger on a new pod: fill unset container requests and limits from each
    LimitRange's Container defaults (and say so in an annotation), then refuse (403) a pod
    outside a min/max/ratio."""
    name = str((pod.get("metadata") or {}).get("name") or "")
    spec = pod.get("spec") or {}
    items = [
        item
        for lr in ranges
        for item in ((lr.get("spec") or {}).get("limits") or [])
        if isinstance(item, dict) and item.get("type") == "Container"
    ]
    notes: list[str] = []
    errors: list[str] = []
    for key, label in (("initContainers", "init container"), ("containers", "container")):
        for container in spec.get(key) or []:
            for item in items:
                requests, limits = _merge_defaults(container, item)
                if requests:
                    notes.append(
                        f"{', '.join(requests)} request for {label} {container.get('name')}"
                    )
                if limits:
                    notes.append(f"{', '.join(limits)} limit for {label} {container.get('name')}")
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            for item in items:
                errors.extend(_container_errors(container, item))
    if notes:
        annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[LIMIT_RANGER_ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
    if errors:
        text = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        raise StatusError(
            403,
            "Forbidden",
            f'pods "{name}" is forbidden: {text}',
            {"name": name, "kind": "pods"},
        )
