"""HorizontalPodAutoscaler (``autoscaling/v2``) with its metrics and behaviour, re-exported by
:mod:`opframe.kinds`::

    hpa = HorizontalPodAutoscaler(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=HorizontalPodAutoscalerSpec(
            scale_target_ref=CrossVersionObjectReference(
                api_version="apps/v1", kind="Deployment", name="web"),
            min_replicas=2, max_replicas=10,
            metrics=[MetricSpec(type="Resource", resource=ResourceMetricSource(
                name="cpu", target=MetricTarget(type="Utilization", average_utilization=70)))],
        ),
    )
"""

from __future__ import annotations

from opframe._pod_parts import Quantity, _TypeStatusCondition
from opframe.kinds._core import LabelSelector
from opframe.resource import KubeModel, Resource, Time

__all__ = [
    "ContainerResourceMetricSource",
    "ContainerResourceMetricStatus",
    "CrossVersionObjectReference",
    "ExternalMetricSource",
    "ExternalMetricStatus",
    "HPAScalingPolicy",
    "HPAScalingRules",
    "HorizontalPodAutoscaler",
    "HorizontalPodAutoscalerBehavior",
    "HorizontalPodAutoscalerCondition",
    "HorizontalPodAutoscalerSpec",
    "HorizontalPodAutoscalerStatus",
    "MetricIdentifier",
    "MetricSpec",
    "MetricStatus",
    "MetricTarget",
    "MetricValueStatus",
    "ObjectMetricSource",
    "ObjectMetricStatus",
    "PodsMetricSource",
    "PodsMetricStatus",
    "ResourceMetricSource",
    "ResourceMetricStatus",
]


class CrossVersionObjectReference(KubeModel):
    """The object scaled: ``kind`` and ``name`` (and ``api_version``) in the same namespace."""

    kind: str
    name: str
    api_version: str | None = None


class _MetricValues(KubeModel):
    """A metric's value in one of three forms: ``value``, ``average_value`` (per pod) or
    ``average_utilization`` (percent of the pods' requests)."""

    value: Quantity | None = None
    average_value: Quantity | None = None
    average_utilization: int | None = None


class MetricTarget(_MetricValues):
    """``Utilization`` (``average_utilization`` percent), ``Value`` or ``AverageValue``."""

    type: str


class MetricValueStatus(_MetricValues):
    """A metric's current value, in the form of its target."""


class MetricIdentifier(KubeModel):
    """A metric by name (and label selector)."""

    name: str
    selector: LabelSelector | None = None


class ResourceMetricSource(KubeModel):
    """A resource (``cpu``, ``memory``) of the scaled pods, averaged."""

    name: str
    target: MetricTarget


class ContainerResourceMetricSource(KubeModel):
    """A resource of one container of the scaled pods."""

    name: str
    target: MetricTarget
    container: str


class PodsMetricSource(KubeModel):
    """A custom metric of the scaled pods, averaged."""

    metric: MetricIdentifier
    target: MetricTarget


class ObjectMetricSource(KubeModel):
    """A metric of another object (an Ingress's requests per second)."""

    described_object: CrossVersionObjectReference
    metric: MetricIdentifier
    target: MetricTarget


class ExternalMetricSource(KubeModel):
    """A metric from outside the cluster (a queue's length)."""

    metric: MetricIdentifier
    target: MetricTarget


class MetricSpec(KubeModel):
    """One metric to scale on; ``type`` says which of the sources is set."""

    type: str
    resource: ResourceMetricSource | None = None
    container_resource: ContainerResourceMetricSource | None = None
    pods: PodsMetricSource | None = None
    object: ObjectMetricSource | None = None
    external: ExternalMetricSource | None = None


class HPAScalingPolicy(KubeModel):
    """At most ``value`` pods (``Pods``) or percent (``Percent``) per ``period_seconds``."""

    type: str
    value: int
    period_seconds: int


class HPAScalingRules(KubeModel):
    """How fast to scale in one direction."""

    stabilization_window_seconds: int | None = None
    select_policy: str | None = None
    policies: list[HPAScalingPolicy] | None = None
    tolerance: Quantity | None = None


class HorizontalPodAutoscalerBehavior(KubeModel):
    """Separate rules for scaling up and down."""

    scale_up: HPAScalingRules | None = None
    scale_down: HPAScalingRules | None = None


class HorizontalPodAutoscalerSpec(KubeModel):
    """What to scale, between which bounds, on which metrics."""

    scale_target_ref: CrossVersionObjectReference
    max_replicas: int
    min_replicas: int | None = None
    metrics: list[MetricSpec] | None = None
    behavior: HorizontalPodAutoscalerBehavior | None = None


class ResourceMetricStatus(KubeModel):
    """The current value of a resource metric."""

    name: str
    current: MetricValueStatus


class ContainerResourceMetricStatus(KubeModel):
    """The current value of a container resource metric."""

    name: str
    current: MetricValueStatus
    container: str


class PodsMetricStatus(KubeModel):
    """The current value of a pods metric."""

    metric: MetricIdentifier
    current: MetricValueStatus


class ObjectMetricStatus(KubeModel):
    """The current value of an object metric."""

    described_object: CrossVersionObjectReference
    metric: MetricIdentifier
    current: MetricValueStatus


class ExternalMetricStatus(KubeModel):
    """The current value of an external metric."""

    metric: MetricIdentifier
    current: MetricValueStatus


class MetricStatus(KubeModel):
    """One metric's current value; ``type`` says which field is set."""

    type: str
    resource: ResourceMetricStatus | None = None
    container_resource: ContainerResourceMetricStatus | None = None
    pods: PodsMetricStatus | None = None
    object: ObjectMetricStatus | None = None
    external: ExternalMetricStatus | None = None


class HorizontalPodAutoscalerCondition(_TypeStatusCondition):
    """``AbleToScale``, ``ScalingActive`` or ``ScalingLimited``."""


class HorizontalPodAutoscalerStatus(KubeModel):
    """The replicas now and wanted, the metrics' values, and conditions."""

    desired_replicas: int = 0
    current_replicas: int | None = None
    observed_generation: int | None = None
    last_scale_time: Time | None = None
    current_metrics: list[MetricStatus] | None = None
    conditions: list[HorizontalPodAutoscalerCondition] | None = None


class HorizontalPodAutoscaler(
    Resource, group="autoscaling", version="v2", plural="horizontalpodautoscalers", builtin=True
):
    """A horizontal pod autoscaler (``autoscaling/v2``)."""

    spec: HorizontalPodAutoscalerSpec
    status: HorizontalPodAutoscalerStatus | None = None
