"""batch/v1 Jobs and CronJobs as kube-apiserver stores them (no job controller here).

Rules from ``pkg/apis/batch/v1/defaults.go`` (``SetDefaults_Job``, ``SetDefaults_CronJob``),
``pkg/apis/batch/validation/validation.go`` and the strategies in
``pkg/registry/batch/{job,cronjob}/strategy.go`` (the generated selector and labels).
"""

from __future__ import annotations

import copy
from typing import Any, TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opframe.testing.apiserver.builtins.cron import schedule_errors
from opframe.testing.apiserver.builtins.meta import validate_labels
from opframe.testing.apiserver.builtins.pods import default_pod_template
from opframe.testing.apiserver.builtins.podvalidation import validate_pod_spec
from opframe.testing.apiserver.builtins.workloads import selector_matches
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import invalid, not_supported, required

__all__ = [
    "CONTROLLER_UID",
    "JOB_NAME",
    "default_cronjob",
    "default_job",
    "generate_job_selector",
    "validate_cronjob",
    "validate_job",
    "validate_job_status",
    "validate_job_update",
]

#: The label (and selector key) the strategy ties a Job's pods to it with.
CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
#: The label carrying the Job's name on its pods.
JOB_NAME = "batch.kubernetes.io/job-name"
_LEGACY_UID, _LEGACY_NAME = "controller-uid", "job-name"
_NONNEG = "must be greater than or equal to 0"
_MAX_INDEXED = 100_000
_INT32_MAX = 2**31 - 1


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _nonneg(spec: dict[str, Any], key: str, path: str) -> list[Cause]:
    value = spec.get(key)
    if _int(value) and value < 0:
        return [invalid(f"{path}.{key}", value, _NONNEG)]
    return []


def _default_job_spec(spec: dict[str, Any]) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = _INT32_MAX if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    policy = spec.get("podFailurePolicy")
    if isinstance(policy, dict):
        for rule in policy.get("rules") or []:
            for cond in (rule or {}).get("onPodConditions") or []:
                if isinstance(cond, dict):
                    cond.setdefault("status", "True")
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if policy else "TerminatingOrFailed"
    spec.setdefault("manualSelector", False)
    default_pod_template(spec.get("template"))


def default_job(obj: dict[str, Any]) -> None:
    """``SetDefaults_Job``. A Job without labels gets its template's labels: the same map, as
    in Go, so the labels the strategy generates later show on the Job too."""
    spec = obj.setdefault("spec", {})
    _default_job_spec(spec)
    meta = obj.setdefault("metadata", {})
    template = spec.get("template")
    if not meta.get("labels") and isinstance(template, dict):
        labels = (template.get("metadata") or {}).get("labels")
        if isinstance(labels, dict) and labels:
            meta["labels"] = labels


def generate_job_selector(obj: dict[str, Any]) -> None:
    """The create strategy: unless ``manualSelector``, label the template with the Job's uid
    and name and select on the uid."""
    spec = obj.get("spec") or {}
    if spec.get("manualSelector") is True:
        return
    meta = obj.get("metadata") or {}
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    template = spec.setdefault("template", {})
    tmeta = template.get("metadata")
    if not isinstance(tmeta, dict):
        tmeta = template["metadata"] = {}
    labels = tmeta.get("labels")
    shared = labels is not None and meta.get("labels") is labels
    if not isinstance(labels, dict):
        labels = tmeta["labels"] = {}
    generated = {CONTROLLER_UID: uid, JOB_NAME: name, _LEGACY_UID: uid, _LEGACY_NAME: name}
    for key, value in generated.items():
        labels.setdefault(key, value)
    if shared:
        # Written once as one map; stored (and so served) as two.
        meta["labels"] = dict(sorted(labels.items()))
        tmeta["labels"] = dict(sorted(labels.items()))
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": {CONTROLLER_UID: uid}}


def _generated_selector_causes(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    meta = obj.get("metadata") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    causes: list[Cause] = []
    for key, value in ((CONTROLLER_UID, meta.get("uid")), (JOB_NAME, meta.get("name"))):
        if labels.get(key) != value:
            causes.append(
                invalid(
                    f"spec.template.metadata.labels[{key}]",
                    labels.get(key, ""),
                    f"must be '{value}'",
                )
            )
    expected = {CONTROLLER_UID: str(meta.get("uid")), JOB_NAME: str(meta.get("name"))}
    if not selector_matches(spec["selector"], expected):
        causes.append(invalid("spec.selector", spec["selector"], "`selector` not auto-generated"))
    return causes


def _job_spec_causes(spec: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key in (
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ):
        causes.extend(_nonneg(spec, key, path))
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        causes.append(not_supported(f"{path}.completionMode", mode, ("NonIndexed", "Indexed")))
    if mode == "Indexed":
        completions, parallelism = spec.get("completions"), spec.get("parallelism")
        if completions is None:
            causes.append(required(f"{path}.completions", "when completion mode is Indexed"))
        elif _int(completions) and completions > _MAX_INDEXED:
            causes.append(
                invalid(
                    f"{path}.completions",
                    completions,
                    "must be less than or equal to 100000 when completion mode is Indexed",
                )
            )
        if _int(parallelism) and parallelism > _MAX_INDEXED:
            causes.append(
                invalid(
                    f"{path}.parallelism",
                    parallelism,
                    "must be less than or equal to 100000 when completion mode is Indexed",
                )
            )
    if spec.get("backoffLimitPerIndex") is not None:
        causes.extend(_nonneg(spec, "backoffLimitPerIndex", path))
        if mode != "Indexed":
            causes.append(
                required(
                    f"{path}.completionMode",
                    "when backoffLimitPerIndex is specified, completionMode must be Indexed",
                )
            )
    if spec.get("maxFailedIndexes") is not None:
        causes.extend(_nonneg(spec, "maxFailedIndexes", path))
        if spec.get("backoffLimitPerIndex") is None:
            causes.append(
                required(f"{path}.backoffLimitPerIndex", "when maxFailedIndexes is specified")
            )
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None:
        if replacement not in ("Failed", "TerminatingOrFailed"):
            causes.append(
                not_supported(
                    f"{path}.podReplacementPolicy", replacement, ("Failed", "TerminatingOrFailed")
                )
            )
        elif spec.get("podFailurePolicy") and replacement != "Failed":
            causes.append(not_supported(f"{path}.podReplacementPolicy", replacement, ("Failed",)))
    causes.extend(_pod_failure_policy_causes(spec, path))
    template = spec.get("template") or {}
    causes.extend(
        validate_labels(
            (template.get("metadata") or {}).get("labels"), f"{path}.template.metadata.labels"
        )
    )
    pod_spec = template.get("spec") or {}
    causes.extend(validate_pod_spec(pod_spec, f"{path}.template.spec", template=True))
    if pod_spec.get("restartPolicy") not in ("OnFailure", "Never"):
        causes.append(
            required(f"{path}.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"')
        )
    return causes


_ACTIONS = ("Count", "FailIndex", "FailJob", "Ignore")


def _pod_failure_policy_causes(spec: dict[str, Any], path: str) -> list[Cause]:
    """``validatePodFailurePolicy``: pods that never restart, one requirement per rule."""
    policy = spec.get("podFailurePolicy")
    if not isinstance(policy, dict):
        return []
    causes: list[Cause] = []
    restart = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    if restart != "Never":
        causes.append(
            invalid(
                f"{path}.template.spec.restartPolicy",
                restart or "",
                'only "Never" is supported when podFailurePolicy is specified',
            )
        )
    for i, rule in enumerate(policy.get("rules") or []):
        p = f"{path}.podFailurePolicy.rules[{i}]"
        action = (rule or {}).get("action")
        if action not in _ACTIONS:
            causes.append(not_supported(f"{p}.action", action or "", _ACTIONS))
        codes, conditions = (rule or {}).get("onExitCodes"), (rule or {}).get("onPodConditions")
        if (codes is None) == (conditions is None):
            causes.append(
                invalid(p, None, "specifying one of OnExitCodes and OnPodConditions is required")
            )
        if isinstance(codes, dict):
            operator = codes.get("operator")
            if operator not in ("In", "NotIn"):
                causes.append(
                    not_supported(f"{p}.onExitCodes.operator", operator or "", ("In", "NotIn"))
                )
            values = codes.get("values") or []
            if not values:
                causes.append(required(f"{p}.onExitCodes.values"))
            for j, value in enumerate(values):
                if j and isinstance(value, int) and value <= values[j - 1]:
                    text = "must be ordered" if value < values[j - 1] else "duplicate value"
                    causes.append(invalid(f"{p}.onExitCodes.values[{j}]", value, text))
                if value == 0 and operator == "In":
                    causes.append(
                        invalid(
                            f"{p}.onExitCodes.values[{j}]", 0, "must not be 0 for the In operator"
                        )
                    )
        for j, cond in enumerate(conditions or []):
            status = (cond or {}).get("status")
            if status not in ("False", "True", "Unknown"):
                causes.append(
                    not_supported(
                        f"{p}.onPodConditions[{j}].status",
                        status or "",
                        ("False", "True", "Unknown"),
                    )
                )
            if not (cond or {}).get("type"):
                causes.append(required(f"{p}.onPodConditions[{j}].type"))
    return causes


def validate_job(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateJob``: the generated selector, the spec, selector vs template labels."""
    spec = obj.get("spec") or {}
    causes = _generated_selector_causes(obj)
    causes.extend(_job_spec_causes(spec, "spec"))
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        causes.append(required("spec.selector"))
        return causes
    causes.extend(validate_labels(selector.get("matchLabels"), "spec.selector.matchLabels"))
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector_matches(selector, labels):
        causes.append(
            invalid(
                "spec.template.metadata.labels",
                labels,
                "`selector` does not match template `labels`",
            )
        )
    return causes


_SCHEDULING = ("nodeSelector", "affinity", "tolerations", "schedulingGates")


def _template_for_compare(job: dict[str, Any], mutable: bool) -> Any:
    template = copy.deepcopy((job.get("spec") or {}).get("template"))
    if mutable and isinstance(template, dict):
        # A suspended Job that never started may change where and how its pods schedule.
        (template.get("metadata") or {}).pop("labels", None)
        (template.get("metadata") or {}).pop("annotations", None)
        for key in _SCHEDULING:
            (template.get("spec") or {}).pop(key, None)
    return template


def validate_job_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """``ValidateJobSpecUpdate``: selector, completions, completionMode, podFailurePolicy,
    backoffLimitPerIndex and the template (but for scheduling directives of a suspended Job
    that never started) are immutable."""
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    causes: list[Cause] = []
    for key in (
        "selector",
        "completions",
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
    ):
        if spec.get(key) != old_spec.get(key):
            causes.append(invalid(f"spec.{key}", spec.get(key), "field is immutable"))
    mutable = bool(old_spec.get("suspend")) and not (old.get("status") or {}).get("startTime")
    if _template_for_compare(new, mutable) != _template_for_compare(old, mutable):
        causes.append(invalid("spec.template", spec.get("template"), "field is immutable"))
    return causes


def validate_job_status(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateJobStatus``: the counters are non-negative."""
    status = obj.get("status") or {}
    causes: list[Cause] = []
    for key in ("active", "succeeded", "failed", "ready", "terminating"):
        causes.extend(_nonneg(status, key, "status"))
    return causes


def default_cronjob(obj: dict[str, Any]) -> None:
    """``SetDefaults_CronJob``: Allow, not suspended, histories 3 and 1; the job template's
    pod defaults (not the Job's own defaults)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        job_template.setdefault("metadata", {})
        default_pod_template((job_template.get("spec") or {}).get("template"))


def validate_cronjob(obj: dict[str, Any], creating: bool = True) -> list[Cause]:
    """``ValidateCronJobCreate``/``Update``: name length, schedule, time zone, policy, the
    job template."""
    causes: list[Cause] = []
    name = str((obj.get("metadata") or {}).get("name") or "")
    if creating and len(name) > 52:
        causes.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    spec = obj.get("spec") or {}
    schedule = spec.get("schedule") or ""
    zone = spec.get("timeZone")
    if not schedule:
        causes.append(required("spec.schedule"))
    else:
        error = schedule_errors(str(schedule))
        if error:
            causes.append(invalid("spec.schedule", schedule, error))
        elif "TZ=" in str(schedule):
            detail = (
                "cannot use both timeZone field and TZ or CRON_TZ in schedule"
                if zone
                else "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
            )
            causes.append(invalid("spec.schedule", schedule, detail))
    if zone is not None:
        causes.extend(_time_zone_causes(str(zone)))
    causes.extend(_nonneg(spec, "startingDeadlineSeconds", "spec"))
    policy = spec.get("concurrencyPolicy") or ""
    if not policy:
        causes.append(required("spec.concurrencyPolicy"))
    elif policy not in ("Allow", "Forbid", "Replace"):
        causes.append(
            not_supported("spec.concurrencyPolicy", policy, ("Allow", "Forbid", "Replace"))
        )
    causes.extend(_nonneg(spec, "successfulJobsHistoryLimit", "spec"))
    causes.extend(_nonneg(spec, "failedJobsHistoryLimit", "spec"))
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    causes.extend(_job_spec_causes(job_spec, "spec.jobTemplate.spec"))
    if job_spec.get("manualSelector") is True:
        causes.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ("nil", "false")))
    return causes


def _time_zone_causes(zone: str) -> list[Cause]:
    if not zone:
        return [invalid("spec.timeZone", zone, "unknown time zone ")]
    if zone.lower() == "local" or " " in zone:
        return [invalid("spec.timeZone", zone, "unknown time zone " + zone)]
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return [invalid("spec.timeZone", zone, "unknown time zone " + zone)]
    return []
