"""HorizontalPodAutoscalers: stored as autoscaling/v2, served through v2 and v1.

Rules from ``pkg/apis/autoscaling/v2/defaults.go``, ``pkg/apis/autoscaling/validation/
validation.go``, ``pkg/apis/autoscaling/v1/conversion.go`` (what v1 cannot say travels in
``autoscaling.alpha.kubernetes.io/*`` annotations) and ``pkg/registry/autoscaling/
horizontalpodautoscaler/strategy.go``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from opframe.testing.apiserver.builtins.quantity import QuantityError, parse_quantity
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import forbidden, invalid, not_supported, required

__all__ = [
    "convert_hpa",
    "default_hpa",
    "initial_hpa_status",
    "validate_hpa",
    "validate_hpa_status",
]

_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
_CURRENT_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
_CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
_BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
_METRIC_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
_TARGET_TYPES = ("AverageValue", "Utilization", "Value")
# metric type -> the field carrying its source.
_SOURCE_KEY = {
    "ContainerResource": "containerResource",
    "External": "external",
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
}


def _cpu_metric(percent: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    }


def _default_rules(rules: Any, window: int | None, policies: list[dict[str, Any]]) -> Any:
    if not isinstance(rules, dict):
        rules = {}
    if window is not None:
        rules.setdefault("stabilizationWindowSeconds", window)
    rules.setdefault("selectPolicy", "Max")
    if not rules.get("policies"):
        rules["policies"] = copy.deepcopy(policies)
    return rules


def default_hpa(obj: dict[str, Any]) -> None:
    """``SetDefaults_HorizontalPodAutoscaler`` (v2): one replica at least, CPU at 80% when no
    metric is given, and the scale-up/scale-down rules of a given ``behavior``."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if obj.get("apiVersion") == "autoscaling/v1":
        # SetDefaults_HorizontalPodAutoscaler (v1): only the replica floor; the object is
        # stored as v2 (convert_hpa), whose defaults a v2 read then shows.
        return
    if not spec.get("metrics"):
        spec["metrics"] = [_cpu_metric(80)]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _default_rules(
            behavior.get("scaleUp"),
            0,
            [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        )
        behavior["scaleDown"] = _default_rules(
            behavior.get("scaleDown"),
            None,
            [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        )


def initial_hpa_status() -> dict[str, Any]:
    """The empty v2 status a new HPA starts from (``currentMetrics`` has no omitempty)."""
    return {"desiredReplicas": 0, "currentMetrics": None}


def _target_causes(target: Any, path: str) -> list[Cause]:
    """``validateMetricTarget``."""
    target = target if isinstance(target, dict) else {}
    causes: list[Cause] = []
    kind = target.get("type") or ""
    if not kind:
        causes.append(required(f"{path}.type", "must specify a metric target type"))
    if kind not in _TARGET_TYPES:
        causes.append(
            invalid(f"{path}.type", kind, "must be either Utilization, Value, or AverageValue")
        )
    for key in ("value", "averageValue"):
        if key in target and not _positive(target[key]):
            causes.append(invalid(f"{path}.{key}", str(target[key]), "must be positive"))
    util = target.get("averageUtilization")
    if isinstance(util, int) and util < 1:
        causes.append(invalid(f"{path}.averageUtilization", util, "must be greater than 0"))
    return causes


def _positive(value: Any) -> bool:
    try:
        return parse_quantity(str(value))[0] > 0
    except QuantityError:
        return False


def _identifier(metric: Any, path: str) -> list[Cause]:
    name = str((metric or {}).get("name") or "")
    if not name:
        return [required(f"{path}.name", "must specify a metric name")]
    return _segment(name, f"{path}.name")


def _segment(value: str, path: str) -> list[Cause]:
    if value in (".", ".."):
        return [invalid(path, value, f"may not be '{value}'")]
    return [invalid(path, value, f"may not contain '{c}'") for c in ("/", "%") if c in value]


def _one_target(
    target: dict[str, Any], required_key: str, forbidden_key: str, path: str, a: str, b: str
) -> list[Cause]:
    """Exactly one of two target fields: neither is reported on ``required_key``, both on
    ``forbidden_key`` (``ValidateMetricSpec`` words them with the two targets ``a`` and ``b``).
    """
    first, second = target.get(required_key), target.get(forbidden_key)
    if first is None and second is None:
        return [required(f"{path}.{required_key}", f"must set either {a} or {b}")]
    if first is not None and second is not None:
        return [forbidden(f"{path}.{forbidden_key}", f"may not set both {a} and {b}")]
    return []


def _source_causes(kind: str, src: dict[str, Any], path: str) -> list[Cause]:
    target = src.get("target") or {}
    causes: list[Cause] = []
    if kind in ("resource", "containerResource"):
        if not src.get("name"):
            causes.append(required(f"{path}.name", "must specify a resource name"))
        if kind == "containerResource" and not src.get("container"):
            causes.append(required(f"{path}.container", "must specify a container"))
        causes.extend(_target_causes(src.get("target"), f"{path}.target"))
        causes.extend(
            _one_target(
                target, "averageUtilization", "averageValue", f"{path}.target",
                "a target raw value", "a target utilization",
            )
        )  # fmt: skip
        return causes
    if kind == "object":
        ref = src.get("describedObject") or {}
        causes.extend(_reference_causes(ref, f"{path}.describedObject", group_needed=False))
    causes.extend(_identifier(src.get("metric"), f"{path}.metric"))
    causes.extend(_target_causes(src.get("target"), f"{path}.target"))
    value, avg = target.get("value"), target.get("averageValue")
    if kind == "pods" and avg is None:
        causes.append(
            required(f"{path}.target.averageValue", "must specify a positive target averageValue")
        )
    if kind == "object" and value is None and avg is None:
        causes.append(
            required(
                f"{path}.target.averageValue", "must set either a target value or averageValue"
            )
        )
    if kind == "external":
        causes.extend(
            _one_target(
                target, "averageValue", "value", f"{path}.target",
                "a target value for metric", "a per-pod target",
            )
        )  # fmt: skip
    return causes


def _metric_causes(metric: dict[str, Any], path: str) -> list[Cause]:
    """``validateMetricSpec``: a known type, its source (only), the source's target."""
    causes: list[Cause] = []
    kind = metric.get("type") or ""
    if not kind:
        causes.append(required(f"{path}.type", "must specify a metric source type"))
    if kind not in _METRIC_TYPES:
        causes.append(not_supported(f"{path}.type", kind, _METRIC_TYPES))
    present = [
        k
        for k in ("object", "external", "pods", "resource", "containerResource")
        if isinstance(metric.get(k), dict)
    ]
    if present:
        causes.extend(_source_causes(present[0], metric[present[0]], f"{path}.{present[0]}"))
    expected = _SOURCE_KEY.get(kind, "")
    if expected and expected not in present:
        causes.append(
            required(f"{path}.{expected}", "must populate information for the given metric source")
        )
    if len(present) != 1:
        for other in sorted(k for k in present if k != expected):
            causes.append(
                forbidden(f"{path}.{other}", "must populate the given metric source only")
            )
    return causes


def _rules_causes(rules: Any, path: str) -> list[Cause]:
    """``validateScalingRules`` and ``validateScalingPolicy``."""
    if not isinstance(rules, dict):
        return []
    causes: list[Cause] = []
    window = rules.get("stabilizationWindowSeconds")
    if isinstance(window, int) and window < 0:
        causes.append(
            invalid(
                f"{path}.stabilizationWindowSeconds",
                window,
                "must be greater than or equal to zero",
            )
        )
    if isinstance(window, int) and window > 3600:
        causes.append(
            invalid(
                f"{path}.stabilizationWindowSeconds", window, "must be less than or equal to 3600"
            )
        )
    select = rules.get("selectPolicy")
    if select is not None and select not in ("Disabled", "Max", "Min"):
        causes.append(not_supported(f"{path}.selectPolicy", select, ("Disabled", "Max", "Min")))
    policies = rules.get("policies") or []
    if not policies:
        causes.append(required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        p = f"{path}.policies[{i}]"
        kind = (policy or {}).get("type") or ""
        if kind not in ("Percent", "Pods"):
            causes.append(not_supported(f"{p}.type", kind, ("Percent", "Pods")))
        value = (policy or {}).get("value", 0)
        if not isinstance(value, int) or value <= 0:
            causes.append(invalid(f"{p}.value", value, "must be greater than zero"))
        period = (policy or {}).get("periodSeconds", 0)
        if not isinstance(period, int) or period <= 0:
            causes.append(invalid(f"{p}.periodSeconds", period, "must be greater than zero"))
        if isinstance(period, int) and period > 1800:
            causes.append(
                invalid(f"{p}.periodSeconds", period, "must be less than or equal to 1800")
            )
    return causes


def _reference_causes(ref: dict[str, Any], path: str, group_needed: bool) -> list[Cause]:
    """``ValidateCrossVersionObjectReference`` (a scale target also names its API group)."""
    causes: list[Cause] = []
    for key in ("kind", "name"):
        value = str(ref.get(key) or "")
        if not value:
            causes.append(required(f"{path}.{key}"))
        else:
            causes.extend(_segment(value, f"{path}.{key}"))
    api_version = str(ref.get("apiVersion") or "")
    if group_needed and ("/" not in api_version or not api_version.split("/")[0]):
        causes.append(
            invalid(f"{path}.apiVersion", api_version, "apiVersion must specify API group")
        )
    return causes


def validate_hpa(obj: dict[str, Any]) -> list[Cause]:
    """``validateHorizontalPodAutoscalerSpec``: replica bounds, target, metrics, behavior
    (of the v2 form, which a v1 object is converted to, as the internal type is)."""
    if obj.get("apiVersion") == "autoscaling/v1":
        obj = convert_hpa(obj, "autoscaling/v2")
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    low, high = spec.get("minReplicas"), spec.get("maxReplicas", 0)
    if isinstance(low, int) and low < 1:
        causes.append(invalid("spec.minReplicas", low, "must be greater than or equal to 1"))
    if not isinstance(high, int) or high < 1:
        causes.append(invalid("spec.maxReplicas", high, "must be greater than 0"))
    if isinstance(low, int) and isinstance(high, int) and high < low:
        causes.append(
            invalid("spec.maxReplicas", high, "must be greater than or equal to `minReplicas`")
        )
    causes.extend(
        _reference_causes(
            spec.get("scaleTargetRef") or {}, "spec.scaleTargetRef", group_needed=True
        )
    )
    for i, metric in enumerate(spec.get("metrics") or []):
        causes.extend(_metric_causes(metric or {}, f"spec.metrics[{i}]"))
    behavior = spec.get("behavior") or {}
    causes.extend(_rules_causes(behavior.get("scaleUp"), "spec.behavior.scaleUp"))
    causes.extend(_rules_causes(behavior.get("scaleDown"), "spec.behavior.scaleDown"))
    return causes


def validate_hpa_status(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateHorizontalPodAutoscalerStatusUpdate``: non-negative replica counts."""
    if obj.get("apiVersion") == "autoscaling/v1":
        obj = convert_hpa(obj, "autoscaling/v2")
    status = obj.get("status") or {}
    causes: list[Cause] = []
    for key in ("currentReplicas", "desiredReplicas"):
        value = status.get(key, 0)
        if isinstance(value, int) and value < 0:
            causes.append(invalid(f"status.{key}", value, "must be greater than or equal to 0"))
    return causes


def _is_cpu_utilization(metric: Any) -> bool:
    resource = (metric or {}).get("resource") or {}
    target = resource.get("target") or {}
    return bool(
        (metric or {}).get("type") == "Resource"
        and resource.get("name") == "cpu"
        and target.get("type") == "Utilization"
        and target.get("averageUtilization") is not None
    )


def _converting(
    obj: dict[str, Any], api_version: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """What both directions start from: ``obj`` as ``api_version`` without spec and status
    (its metadata a copy), its annotations to edit, its spec, and the new spec with the fields
    both versions have alike (``scaleTargetRef``, ``minReplicas``, ``maxReplicas``)."""
    out = {k: v for k, v in obj.items() if k not in ("spec", "status")}
    out["apiVersion"] = api_version
    out["metadata"] = dict(obj.get("metadata") or {})
    annotations = dict(out["metadata"].get("annotations") or {})
    spec = obj.get("spec") or {}
    new_spec: dict[str, Any] = {"scaleTargetRef": spec.get("scaleTargetRef") or {}}
    if "minReplicas" in spec:
        new_spec["minReplicas"] = spec["minReplicas"]
    new_spec["maxReplicas"] = spec.get("maxReplicas", 0)
    return out, annotations, spec, new_spec


def _to_v1(obj: dict[str, Any]) -> dict[str, Any]:
    out, annotations, spec, v1_spec = _converting(obj, "autoscaling/v1")
    meta = out["metadata"]
    others = []
    for metric in spec.get("metrics") or []:
        if _is_cpu_utilization(metric) and "targetCPUUtilizationPercentage" not in v1_spec:
            v1_spec["targetCPUUtilizationPercentage"] = metric["resource"]["target"][
                "averageUtilization"
            ]
        else:
            others.append(metric)
    if others:
        annotations[_METRICS_ANNOTATION] = json.dumps(others, separators=(",", ":"))
    if spec.get("behavior"):
        annotations[_BEHAVIOR_ANNOTATION] = json.dumps(spec["behavior"], separators=(",", ":"))
    status = obj.get("status") or {}
    v1_status: dict[str, Any] = {}
    for key in ("observedGeneration", "lastScaleTime"):
        if key in status:
            v1_status[key] = status[key]
    v1_status["currentReplicas"] = status.get("currentReplicas", 0)
    v1_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    current = []
    for metric in status.get("currentMetrics") or []:
        resource = (metric or {}).get("resource") or {}
        util = (resource.get("current") or {}).get("averageUtilization")
        if resource.get("name") == "cpu" and util is not None:
            v1_status["currentCPUUtilizationPercentage"] = util
        else:
            current.append(metric)
    if current:
        annotations[_CURRENT_ANNOTATION] = json.dumps(current, separators=(",", ":"))
    if status.get("conditions"):
        annotations[_CONDITIONS_ANNOTATION] = json.dumps(
            status["conditions"], separators=(",", ":")
        )
    if annotations:
        meta["annotations"] = annotations
    out["spec"] = v1_spec
    out["status"] = v1_status
    return out


def _annotation_list(annotations: dict[str, Any], key: str) -> list[Any]:
    try:
        value = json.loads(str(annotations.pop(key)))
    except (KeyError, ValueError):
        return []
    return value if isinstance(value, list) else []


def _to_v2(obj: dict[str, Any]) -> dict[str, Any]:
    out, annotations, spec, v2_spec = _converting(obj, "autoscaling/v2")
    meta = out["metadata"]
    metrics = []
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics.append(_cpu_metric(spec["targetCPUUtilizationPercentage"]))
    metrics.extend(_annotation_list(annotations, _METRICS_ANNOTATION))
    # A v2 read defaults what v1 left unset (no target: CPU at 80%).
    v2_spec["metrics"] = metrics or [_cpu_metric(80)]
    try:
        behavior = json.loads(str(annotations.pop(_BEHAVIOR_ANNOTATION)))
        if isinstance(behavior, dict):
            v2_spec["behavior"] = behavior
    except (KeyError, ValueError):
        pass
    status = obj.get("status") or {}
    v2_status: dict[str, Any] = {
        k: status[k] for k in ("observedGeneration", "lastScaleTime") if k in status
    }
    if status.get("currentReplicas"):
        v2_status["currentReplicas"] = status["currentReplicas"]
    v2_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    current = []
    if status.get("currentCPUUtilizationPercentage") is not None:
        current.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "current": {"averageUtilization": status["currentCPUUtilizationPercentage"]},
                },
            }
        )
    current.extend(_annotation_list(annotations, _CURRENT_ANNOTATION))
    v2_status["currentMetrics"] = current or None
    conditions = _annotation_list(annotations, _CONDITIONS_ANNOTATION)
    if conditions:
        v2_status["conditions"] = conditions
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["spec"] = v2_spec
    out["status"] = v2_status
    return out


def convert_hpa(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    """An HPA as ``api_version`` (``autoscaling/v1`` or ``autoscaling/v2``) serves it."""
    if obj.get("apiVersion") == api_version:
        return obj
    return _to_v1(obj) if api_version == "autoscaling/v1" else _to_v2(obj)
