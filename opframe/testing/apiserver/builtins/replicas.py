"""ReplicaSets, DaemonSets, ControllerRevisions (apps/v1) and ReplicationControllers (core/v1),
stored without controllers, and the Scale view of the replicated kinds.

Rules from ``pkg/apis/apps/v1/defaults.go``, ``pkg/apis/core/v1/defaults.go``
(``SetDefaults_ReplicationController``), ``pkg/apis/apps/validation/validation.go``,
``pkg/apis/core/validation/validation.go`` (``ValidateReplicationController*``) and the
registry strategies in ``pkg/registry/apps/{replicaset,daemonset,controllerrevision}`` and
``pkg/registry/core/replicationcontroller``.
"""

from __future__ import annotations

import copy
from typing import Any

from opframe.testing.apiserver.builtins.meta import validate_labels
from opframe.testing.apiserver.builtins.pods import default_pod_template
from opframe.testing.apiserver.builtins.workloads import (
    _int_or_percent,
    _validate_selector_and_template,
    replicated_template_causes,
    selector_mismatch,
)
from opframe.testing.apiserver.builtins.workloads import scale_of as _workload_scale
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import forbidden, invalid, required

__all__ = [
    "TEMPLATE_GENERATION",
    "default_daemonset",
    "default_replicaset",
    "default_replication_controller",
    "prepare_daemonset_update",
    "scale_of",
    "validate_controller_revision",
    "validate_controller_revision_update",
    "validate_daemonset",
    "validate_replicaset",
    "validate_replication_controller",
    "validate_selector_immutable",
]

#: The annotation apps/v1 keeps a DaemonSet's template generation in.
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
_NONNEG = "must be greater than or equal to 0"


def _nonneg(spec: dict[str, Any], key: str, path: str = "spec") -> list[Cause]:
    value = spec.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(f"{path}.{key}", value, _NONNEG)]
    return []


def default_replicaset(obj: dict[str, Any]) -> None:
    """``SetDefaults_ReplicaSet``: one replica; the template's pod defaults."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    default_pod_template(spec.get("template"))


def validate_replicaset(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateReplicaSetSpec``: replicas, minReadySeconds, selector vs template."""
    spec = obj.get("spec") or {}
    causes = _nonneg(spec, "replicas") + _nonneg(spec, "minReadySeconds")
    causes.extend(_validate_selector_and_template(spec, "deployment"))
    return causes


def validate_selector_immutable(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """apps/v1 ``ValidateImmutableField(spec.selector)`` of ReplicaSets and DaemonSets."""
    sel, old_sel = (new.get("spec") or {}).get("selector"), (old.get("spec") or {}).get("selector")
    if sel != old_sel:
        return [invalid("spec.selector", sel, "field is immutable")]
    return []


def default_replication_controller(obj: dict[str, Any]) -> None:
    """``SetDefaults_ReplicationController``: the selector and the object's labels come from
    the template's labels when empty; one replica."""
    spec = obj.setdefault("spec", {})
    template = spec.get("template")
    if isinstance(template, dict):
        labels = (template.get("metadata") or {}).get("labels") or {}
        if labels and not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = obj.setdefault("metadata", {})
        if labels and not meta.get("labels"):
            meta["labels"] = dict(labels)
    spec.setdefault("replicas", 1)
    default_pod_template(template)


def validate_replication_controller(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateReplicationControllerSpec`` and ``ValidatePodTemplateSpecForRC``."""
    spec = obj.get("spec") or {}
    causes = _nonneg(spec, "replicas") + _nonneg(spec, "minReadySeconds")
    selector = spec.get("selector") or {}
    if not selector:
        causes.append(required("spec.selector"))
    causes.extend(validate_labels(selector, "spec.selector"))
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(required("spec.template"))
        return causes
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        causes.append(selector_mismatch(labels))
    causes.extend(
        replicated_template_causes(labels, template.get("spec") or {}, "ReplicationController")
    )
    return causes


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The ``autoscaling/v1`` Scale of a replicated kind (a ReplicationController's selector
    is a plain label map)."""
    if obj.get("kind") == "ReplicationController":
        view = copy.copy(obj)
        spec = dict(obj.get("spec") or {})
        spec["selector"] = {"matchLabels": spec.get("selector") or {}}
        view["spec"] = spec
        return _workload_scale(view)
    return _workload_scale(obj)


def default_daemonset(obj: dict[str, Any]) -> None:
    """``SetDefaults_DaemonSet``: RollingUpdate (maxUnavailable 1, maxSurge 0), ten revisions;
    the template generation annotation of a new object starts at 1."""
    spec = obj.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            rolling = strategy["rollingUpdate"] = {}
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    default_pod_template(spec.get("template"))
    annotations = obj.setdefault("metadata", {}).setdefault("annotations", {})
    annotations.setdefault(TEMPLATE_GENERATION, "1")


def prepare_daemonset_update(new: dict[str, Any], old: dict[str, Any]) -> None:
    """The update strategy: the template generation is the stored one, plus one when the
    template changed."""
    old_gen = ((old.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION)
    try:
        gen = int(old_gen or 0)
    except ValueError:
        gen = 0
    if (new.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template"):
        gen += 1
    if gen:
        new.setdefault("metadata", {}).setdefault("annotations", {})[TEMPLATE_GENERATION] = str(gen)


def _go_strategy(strategy: dict[str, Any]) -> str:
    rolling = strategy.get("rollingUpdate")
    inner = "null"
    if isinstance(rolling, dict):
        inner = "{" + ",".join(f'"{k[0].upper()}{k[1:]}":{rolling[k]!r}' for k in rolling) + "}"
    return f'{{"Type":"{strategy.get("type", "")}","RollingUpdate":{inner}}}'


def validate_daemonset(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateDaemonSetSpec``: selector vs template, update strategy, counters."""
    spec = obj.get("spec") or {}
    causes = [
        forbidden(c["field"], "activeDeadlineSeconds in DaemonSet is not Supported")
        if c["field"] == "spec.template.spec.activeDeadlineSeconds"
        else c
        for c in _validate_selector_and_template(spec, "daemonset")
    ]
    causes.extend(_nonneg(spec, "minReadySeconds"))
    causes.extend(_nonneg(spec, "revisionHistoryLimit"))
    strategy = spec.get("updateStrategy") or {}
    kind = strategy.get("type")
    if kind == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            causes.append(required("spec.updateStrategy.rollingUpdate"))
        else:
            path = "spec.updateStrategy.rollingUpdate"
            for key in ("maxUnavailable", "maxSurge"):
                causes.extend(_int_or_percent(rolling.get(key, 0), f"{path}.{key}"))
            if rolling.get("maxUnavailable") in (0, "0%") and rolling.get("maxSurge") in (0, "0%"):
                causes.append(
                    invalid(
                        f"{path}.maxUnavailable",
                        rolling.get("maxUnavailable"),
                        "may not be 0 when `maxSurge` is 0",
                    )
                )
    elif kind != "OnDelete":
        causes.append(
            Cause(
                reason="FieldValueNotSupported",
                message=f"Unsupported value: {_go_strategy(strategy)}: supported values: "
                '"RollingUpdate", "OnDelete"',
                field="spec.updateStrategy",
            )
        )
    return causes


def validate_controller_revision(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateControllerRevision``: data is mandatory, the revision non-negative."""
    causes: list[Cause] = []
    if obj.get("data") is None:
        causes.append(required("data", "data is mandatory"))
    revision = obj.get("revision", 0)
    if isinstance(revision, int) and revision < 0:
        causes.append(invalid("revision", revision, _NONNEG))
    return causes


def validate_controller_revision_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidateControllerRevisionUpdate``: the data of a revision never changes."""
    if new.get("data") != old.get("data"):
        return [invalid("data", new.get("data"), "field is immutable")]
    return []
