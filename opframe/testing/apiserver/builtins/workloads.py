"""Deployments, StatefulSets and PodDisruptionBudgets (stored without controllers), and the
``autoscaling/v1`` Scale view of the first two."""

from __future__ import annotations

import re
from typing import Any

from opframe._labels import label_selector_matches
from opframe.testing.apiserver.builtins.meta import (
    frozen_spec_causes,
    is_dns1123_label,
    validate_labels,
)
from opframe.testing.apiserver.builtins.pods import default_pod_template
from opframe.testing.apiserver.builtins.podvalidation import validate_pod_spec
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import (
    forbidden,
    invalid,
    not_supported,
    required,
)

__all__ = [
    "default_deployment",
    "default_statefulset",
    "format_selector",
    "scale_of",
    "selector_matches",
    "validate_deployment",
    "validate_pdb",
    "validate_scale",
    "validate_statefulset",
    "validate_statefulset_update",
]

_NONNEG = "must be greater than or equal to 0"
_PERCENT = re.compile(r"^[0-9]+%$")


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether ``labels`` match a ``LabelSelector`` (apimachinery's rules: the SDK's one
    implementation, :func:`opframe.label_selector_matches`)."""
    return label_selector_matches(selector, labels)


def format_selector(selector: dict[str, Any] | None) -> str:
    """A ``LabelSelector`` as the string selector syntax (``app=web,tier in (a,b)``)."""
    reqs: list[tuple[str, str]] = []
    for key, value in ((selector or {}).get("matchLabels") or {}).items():
        reqs.append((key, f"{key}={value}"))
    for expr in (selector or {}).get("matchExpressions") or []:
        key, op = expr.get("key", ""), expr.get("operator")
        values = ",".join(sorted(expr.get("values") or []))
        text = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                "Exists": key, "DoesNotExist": f"!{key}"}.get(str(op), key)  # fmt: skip
        reqs.append((key, text))
    return ",".join(text for _, text in sorted(reqs))


def _validate_selector_and_template(
    spec: dict[str, Any], kind: str, *, check_restart: bool = True
) -> list[Cause]:
    causes: list[Cause] = []
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not isinstance(selector, dict):
        causes.append(required("spec.selector"))
    else:
        causes.extend(validate_labels(selector.get("matchLabels"), "spec.selector.matchLabels"))
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            causes.append(
                invalid("spec.selector", selector, f"empty selector is invalid for {kind}")
            )
        elif not selector_matches(selector, labels):
            causes.append(selector_mismatch(labels))
    causes.extend(
        replicated_template_causes(
            labels, template.get("spec"), "ReplicaSet", check_restart=check_restart
        )
    )
    return causes


def selector_mismatch(labels: dict[str, Any]) -> Cause:
    """The cause for a pod template whose labels the controller's selector does not select."""
    return invalid(
        "spec.template.metadata.labels", labels, "`selector` does not match template `labels`"
    )


def replicated_template_causes(
    labels: Any, pod_spec: Any, owner: str, *, check_restart: bool = True
) -> list[Cause]:
    """``ValidatePodTemplateSpecForReplicaSet`` / ``...ForRC``: the template of a controller.

    Its labels and pod spec, ``restartPolicy: Always`` (unless ``check_restart`` is off) and
    no ``activeDeadlineSeconds`` (``owner`` names the kind in that message).
    """
    causes = validate_labels(labels, "spec.template.metadata.labels")
    causes.extend(validate_pod_spec(pod_spec, "spec.template.spec", template=True))
    fields = pod_spec if isinstance(pod_spec, dict) else {}
    restart = fields.get("restartPolicy")
    if check_restart and restart and restart != "Always":
        causes.append(not_supported("spec.template.spec.restartPolicy", restart, ("Always",)))
    if fields.get("activeDeadlineSeconds") is not None:
        causes.append(
            forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                f"activeDeadlineSeconds in {owner} is not Supported",
            )
        )
    return causes


def _nonneg(spec: dict[str, Any], key: str) -> list[Cause]:
    value = spec.get(key)
    if isinstance(value, int) and value < 0:
        return [invalid(f"spec.{key}", value, _NONNEG)]
    return []


def default_deployment(obj: dict[str, Any]) -> None:
    """``SetDefaults_Deployment`` and the template's pod defaults."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    default_pod_template(spec.get("template"))


def _int_or_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str):
        if not _PERCENT.match(value):
            return [invalid(path, value, "must be an integer or percentage (e.g '5%')")]
        if int(value[:-1]) > 100:
            return [invalid(path, value, "must not be greater than 100%")]
        return []
    if isinstance(value, int) and value < 0:
        return [invalid(path, value, _NONNEG)]
    return []


def validate_deployment(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateDeploymentSpec``: replicas, selector vs template, strategy, deadlines."""
    spec = obj.get("spec") or {}
    causes = _nonneg(spec, "replicas")
    causes.extend(_validate_selector_and_template(spec, "deployment"))
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type") or ""
    if kind not in ("Recreate", "RollingUpdate"):
        causes.append(not_supported("spec.strategy.type", kind, ("Recreate", "RollingUpdate")))
    if kind == "Recreate" and strategy.get("rollingUpdate") is not None:
        causes.append(
            forbidden(
                "spec.strategy.rollingUpdate",
                "may not be specified when strategy `type` is 'Recreate'",
            )
        )
    rolling = strategy.get("rollingUpdate") or {}
    for key in ("maxUnavailable", "maxSurge"):
        if key in rolling:
            causes.extend(_int_or_percent(rolling[key], f"spec.strategy.rollingUpdate.{key}"))
    if rolling.get("maxUnavailable") in (0, "0%") and rolling.get("maxSurge") in (0, "0%"):
        causes.append(
            invalid(
                "spec.strategy.rollingUpdate.maxUnavailable",
                rolling["maxUnavailable"],
                "may not be 0 when `maxSurge` is 0",
            )
        )
    for key in ("minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        causes.extend(_nonneg(spec, key))
    deadline = spec.get("progressDeadlineSeconds")
    if isinstance(deadline, int) and deadline <= (spec.get("minReadySeconds") or 0):
        causes.append(
            invalid(
                "spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"
            )
        )
    return causes


def default_statefulset(obj: dict[str, Any]) -> None:
    """``SetDefaults_StatefulSet``, the template's pod defaults and the claim templates'."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {})
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        strategy["rollingUpdate"].setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault(
        "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
    )
    default_pod_template(spec.get("template"))
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            claim.setdefault("apiVersion", "v1")
            claim.setdefault("kind", "PersistentVolumeClaim")
            claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
            claim.setdefault("status", {}).setdefault("phase", "Pending")


def validate_statefulset(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateStatefulSetSpec``: replicas, policies, selector vs template."""
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    policy = spec.get("podManagementPolicy") or ""
    if policy not in ("OrderedReady", "Parallel"):
        causes.append(
            not_supported("spec.podManagementPolicy", policy, ("OrderedReady", "Parallel"))
        )
    strategy = (spec.get("updateStrategy") or {}).get("type") or ""
    if strategy not in ("OnDelete", "RollingUpdate"):
        causes.append(
            not_supported("spec.updateStrategy.type", strategy, ("OnDelete", "RollingUpdate"))
        )
    causes.extend(_nonneg(spec, "replicas"))
    causes.extend(_nonneg(spec, "minReadySeconds"))
    service = spec.get("serviceName") or ""
    if isinstance(service, str) and service:
        # Optional; when given, it must be able to name a (headless) Service.
        causes.extend(invalid("spec.serviceName", service, m) for m in is_dns1123_label(service))
    causes.extend(_validate_selector_and_template(spec, "statefulset"))
    return causes


_STS_MUTABLE = (
    "replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy", "minReadySeconds",
)  # fmt: skip


def validate_statefulset_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """Only some StatefulSet spec fields may change."""
    return frozen_spec_causes(
        new,
        old,
        _STS_MUTABLE,
        "updates to statefulset spec for fields other than 'replicas', "
        "'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
    )


def validate_pdb(obj: dict[str, Any]) -> list[Cause]:
    """``ValidatePodDisruptionBudgetSpec``."""
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        causes.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        if spec.get(key) is not None:
            causes.extend(_int_or_percent(spec[key], f"spec.{key}"))
    selector = spec.get("selector")
    if isinstance(selector, dict):
        causes.extend(validate_labels(selector.get("matchLabels"), "spec.selector.matchLabels"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        causes.append(
            not_supported(
                "spec.unhealthyPodEvictionPolicy", policy, ("AlwaysAllow", "IfHealthyBudget")
            )
        )
    return causes


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The ``autoscaling/v1`` Scale of a Deployment or StatefulSet."""
    meta = obj.get("metadata") or {}
    out_meta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                     "creationTimestamp") if k in meta}  # fmt: skip
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": out_meta,
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0),
                   "selector": format_selector(spec.get("selector"))},
    }  # fmt: skip


def validate_scale(scale: dict[str, Any]) -> list[Cause]:
    """Causes for a Scale written to ``/scale`` (replicas must be non-negative)."""
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if isinstance(replicas, int) and replicas < 0:
        return [invalid("spec.replicas", replicas, _NONNEG)]
    return []
