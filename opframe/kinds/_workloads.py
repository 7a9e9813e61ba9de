"""Workload kinds: Deployment, StatefulSet, DaemonSet, ReplicaSet (``apps/v1``), Job and
CronJob (``batch/v1``), with their strategies and conditions (re-exported by
:mod:`opframe.kinds`)::

    job = Job(
        metadata=ObjectMeta(name="backup", namespace="default"),
        spec=JobSpec(template=PodTemplateSpec(spec=PodSpec(
            containers=[Container(name="backup", image="busybox")], restart_policy="Never")),
            backoff_limit=2),
    )
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import Field

from opframe._pod_parts import IntOrString, _TypeStatusCondition
from opframe.kinds._core import (
    LabelSelector,
    ObjectReference,
    PersistentVolumeClaim,
    PodTemplateSpec,
)
from opframe.resource import KubeModel, ObjectMeta, Resource, Time

__all__ = [
    "CronJob",
    "CronJobSpec",
    "CronJobStatus",
    "DaemonSet",
    "DaemonSetCondition",
    "DaemonSetSpec",
    "DaemonSetStatus",
    "DaemonSetUpdateStrategy",
    "Deployment",
    "DeploymentCondition",
    "DeploymentSpec",
    "DeploymentStatus",
    "DeploymentStrategy",
    "Job",
    "JobCondition",
    "JobSpec",
    "JobStatus",
    "JobTemplateSpec",
    "ReplicaSet",
    "ReplicaSetCondition",
    "ReplicaSetSpec",
    "ReplicaSetStatus",
    "RollingUpdateDaemonSet",
    "RollingUpdateDeployment",
    "RollingUpdateStatefulSetStrategy",
    "StatefulSet",
    "StatefulSetCondition",
    "StatefulSetOrdinals",
    "StatefulSetPersistentVolumeClaimRetentionPolicy",
    "StatefulSetSpec",
    "StatefulSetStatus",
    "StatefulSetUpdateStrategy",
    "WorkloadCondition",
]


class WorkloadCondition(_TypeStatusCondition):
    """A condition of a workload (``type``, ``status`` ``"True"``/``"False"``/``"Unknown"``).

    Workload conditions predate ``metav1.Condition``: no ``observedGeneration``, and some
    kinds add times of their own (Deployment's ``lastUpdateTime``, Job's ``lastProbeTime``).
    """


R = TypeVar("R", bound=KubeModel)


class _RollingUpdate(KubeModel):
    """How many pods may be missing (``max_unavailable``) or extra (``max_surge``) at once."""

    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class _UpdateStrategy(KubeModel, Generic[R]):
    """An update strategy: its ``type`` and the parameters of its ``RollingUpdate`` type."""

    type: str | None = None
    rolling_update: R | None = None


class _RolloutSpec(KubeModel):
    """What the rolling workloads (Deployment, StatefulSet, DaemonSet) share in their spec:
    the pods they own (``selector``), the pod ``template``, when a new pod counts as available
    and how many old revisions are kept."""

    selector: LabelSelector
    template: PodTemplateSpec
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None


class _ReplicaCounts(KubeModel):
    """The replica counts every replicated workload reports, and the generation they are for."""

    observed_generation: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None


class _RolloutStatus(_ReplicaCounts):
    """Replica counts of a workload that rolls out revisions (Deployment, StatefulSet)."""

    updated_replicas: int | None = None
    collision_count: int | None = None


# --- Deployment -------------------------------------------------------------------------------


class RollingUpdateDeployment(_RollingUpdate):
    """How many pods may be missing (``max_unavailable``) or extra (``max_surge``)."""


class DeploymentStrategy(_UpdateStrategy[RollingUpdateDeployment]):
    """``RollingUpdate`` (default) or ``Recreate``."""


class DeploymentSpec(_RolloutSpec):
    """A Deployment's replicas, selector, pod template and rollout strategy."""

    replicas: int | None = None
    strategy: DeploymentStrategy | None = None
    progress_deadline_seconds: int | None = None
    paused: bool | None = None


class DeploymentCondition(WorkloadCondition):
    """``Available``, ``Progressing`` or ``ReplicaFailure``."""

    last_update_time: Time | None = None


class DeploymentStatus(_RolloutStatus):
    """A Deployment's observed replicas and conditions."""

    replicas: int | None = None
    unavailable_replicas: int | None = None
    terminating_replicas: int | None = None
    conditions: list[DeploymentCondition] | None = None


class Deployment(Resource, group="apps", version="v1", builtin=True):
    """A deployment (``apps/v1``)."""

    spec: DeploymentSpec
    status: DeploymentStatus | None = None


# --- StatefulSet ------------------------------------------------------------------------------


class RollingUpdateStatefulSetStrategy(KubeModel):
    """Pods with an ordinal at least ``partition`` are updated; ``max_unavailable`` at once."""

    partition: int | None = None
    max_unavailable: IntOrString | None = None


class StatefulSetUpdateStrategy(_UpdateStrategy[RollingUpdateStatefulSetStrategy]):
    """``RollingUpdate`` (default) or ``OnDelete``."""


class StatefulSetPersistentVolumeClaimRetentionPolicy(KubeModel):
    """What happens to claims from templates: ``Retain`` (default) or ``Delete``."""

    when_deleted: str | None = None
    when_scaled: str | None = None


class StatefulSetOrdinals(KubeModel):
    """The first ordinal of the set's pods (default 0)."""

    start: int | None = None


class StatefulSetSpec(_RolloutSpec):
    """A StatefulSet's replicas, selector, pod template, claim templates and strategy."""

    service_name: str | None = None
    replicas: int | None = None
    pod_management_policy: str | None = None
    update_strategy: StatefulSetUpdateStrategy | None = None
    volume_claim_templates: list[PersistentVolumeClaim] | None = None
    persistent_volume_claim_retention_policy: (
        StatefulSetPersistentVolumeClaimRetentionPolicy | None
    ) = None
    ordinals: StatefulSetOrdinals | None = None


class StatefulSetCondition(WorkloadCondition):
    """A condition of a StatefulSet."""


class StatefulSetStatus(_RolloutStatus):
    """A StatefulSet's observed replicas and revisions."""

    replicas: int = 0
    current_replicas: int | None = None
    current_revision: str | None = None
    update_revision: str | None = None
    conditions: list[StatefulSetCondition] | None = None


class StatefulSet(Resource, group="apps", version="v1", builtin=True):
    """A stateful set (``apps/v1``)."""

    spec: StatefulSetSpec
    status: StatefulSetStatus | None = None


# --- DaemonSet --------------------------------------------------------------------------------


class RollingUpdateDaemonSet(_RollingUpdate):
    """How many nodes may be without the pod (``max_unavailable``) or run two (``max_surge``)."""


class DaemonSetUpdateStrategy(_UpdateStrategy[RollingUpdateDaemonSet]):
    """``RollingUpdate`` (default) or ``OnDelete``."""


class DaemonSetSpec(_RolloutSpec):
    """One pod from ``template`` on every (selected) node."""

    update_strategy: DaemonSetUpdateStrategy | None = None


class DaemonSetCondition(WorkloadCondition):
    """A condition of a DaemonSet."""


class DaemonSetStatus(KubeModel):
    """How many nodes run the daemon pod, and how many should."""

    current_number_scheduled: int = 0
    number_misscheduled: int = 0
    desired_number_scheduled: int = 0
    number_ready: int = 0
    observed_generation: int | None = None
    updated_number_scheduled: int | None = None
    number_available: int | None = None
    number_unavailable: int | None = None
    collision_count: int | None = None
    conditions: list[DaemonSetCondition] | None = None


class DaemonSet(Resource, group="apps", version="v1", builtin=True):
    """A daemon set (``apps/v1``)."""

    spec: DaemonSetSpec
    status: DaemonSetStatus | None = None


# --- ReplicaSet -------------------------------------------------------------------------------


class ReplicaSetSpec(KubeModel):
    """``replicas`` pods from ``template`` matching ``selector`` (what a Deployment makes)."""

    selector: LabelSelector
    template: PodTemplateSpec | None = None
    replicas: int | None = None
    min_ready_seconds: int | None = None


class ReplicaSetCondition(WorkloadCondition):
    """A condition of a ReplicaSet (``ReplicaFailure``)."""


class ReplicaSetStatus(_ReplicaCounts):
    """A ReplicaSet's observed replicas."""

    replicas: int = 0
    fully_labeled_replicas: int | None = None
    terminating_replicas: int | None = None
    conditions: list[ReplicaSetCondition] | None = None


class ReplicaSet(Resource, group="apps", version="v1", builtin=True):
    """A replica set (``apps/v1``)."""

    spec: ReplicaSetSpec
    status: ReplicaSetStatus | None = None


# --- Job and CronJob --------------------------------------------------------------------------


class JobSpec(KubeModel):
    """Pods from ``template`` run to completion (``completions`` successes, ``parallelism`` at
    once), retried up to ``backoff_limit`` times. Failure and success policies kept raw."""

    template: PodTemplateSpec
    parallelism: int | None = None
    completions: int | None = None
    completion_mode: str | None = None
    backoff_limit: int | None = None
    backoff_limit_per_index: int | None = None
    max_failed_indexes: int | None = None
    active_deadline_seconds: int | None = None
    ttl_seconds_after_finished: int | None = None
    suspend: bool | None = None
    selector: LabelSelector | None = None
    manual_selector: bool | None = None
    pod_replacement_policy: str | None = None
    pod_failure_policy: dict[str, Any] | None = None
    success_policy: dict[str, Any] | None = None


class JobCondition(WorkloadCondition):
    """``Complete``, ``Failed``, ``Suspended``, ``FailureTarget``, ``SuccessCriteriaMet``."""

    last_probe_time: Time | None = None


class JobStatus(KubeModel):
    """How many pods are active, succeeded and failed; when the job started and finished."""

    start_time: Time | None = None
    completion_time: Time | None = None
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    terminating: int | None = None
    ready: int | None = None
    completed_indexes: str | None = None
    failed_indexes: str | None = None
    uncounted_terminated_pods: dict[str, Any] | None = None
    conditions: list[JobCondition] | None = None


class Job(Resource, group="batch", version="v1", builtin=True):
    """A job (``batch/v1``)."""

    spec: JobSpec
    status: JobStatus | None = None


class JobTemplateSpec(KubeModel):
    """The Job a CronJob creates at each scheduled time."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: JobSpec


class CronJobSpec(KubeModel):
    """A Cron ``schedule`` (in ``time_zone``) and the Job to start each time."""

    schedule: str
    job_template: JobTemplateSpec
    time_zone: str | None = None
    starting_deadline_seconds: int | None = None
    concurrency_policy: str | None = None
    suspend: bool | None = None
    successful_jobs_history_limit: int | None = None
    failed_jobs_history_limit: int | None = None


class CronJobStatus(KubeModel):
    """The running Jobs and when a Job last started and last succeeded."""

    active: list[ObjectReference] | None = None
    last_schedule_time: Time | None = None
    last_successful_time: Time | None = None


class CronJob(Resource, group="batch", version="v1", builtin=True):
    """A cron job (``batch/v1``)."""

    spec: CronJobSpec
    status: CronJobStatus | None = None
