"""Core, storage, policy and coordination kinds (re-exported by :mod:`opframe.kinds`).

Typed wrappers for the built-in kinds operators work with.

They type the fields operators read and write (a pod's containers, probes and volumes, its
phase and IP, a Service's ports, a Lease's holder...) and keep every other field as it came
(``extra="allow"``), so an object read, changed and written back loses nothing. They are
:class:`~opframe.resource.Resource` classes declared ``builtin=True``: the registry knows
them, CRD generation skips them.

    pod = Pod(
        metadata=ObjectMeta(name="etcd-0", namespace="default"),
        spec=PodSpec(containers=[Container(name="etcd", image="quay.io/coreos/etcd:v3.5.1")]),
    )
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import Field

from opframe._pod_parts import (
    ConfigMapKeySelector,
    Container,
    ContainerPort,
    ContainerStatus,
    EmptyDirVolumeSource,
    EnvVar,
    EnvVarSource,
    ExecAction,
    HTTPGetAction,
    IntOrString,
    ObjectFieldSelector,
    PersistentVolumeClaimVolumeSource,
    PodCondition,
    PodSpec,
    PodStatus,
    Probe,
    Quantity,
    ResourceRequirements,
    SecretKeySelector,
    TCPSocketAction,
    Volume,
    VolumeMount,
)
from opframe.resource import Condition, KubeModel, MicroTime, ObjectMeta, Resource, Time

__all__ = [
    "ConfigMap",
    "ConfigMapKeySelector",
    "Container",
    "ContainerPort",
    "ContainerStatus",
    "EmptyDirVolumeSource",
    "Endpoints",
    "EnvVar",
    "EnvVarSource",
    "Event",
    "EventSource",
    "ExecAction",
    "HTTPGetAction",
    "IntOrString",
    "LabelSelector",
    "LabelSelectorRequirement",
    "Lease",
    "LeaseSpec",
    "Namespace",
    "NamespaceSpec",
    "NamespaceStatus",
    "Node",
    "NodeAddress",
    "NodeSpec",
    "NodeStatus",
    "ObjectFieldSelector",
    "ObjectReference",
    "PersistentVolumeClaim",
    "PersistentVolumeClaimSpec",
    "PersistentVolumeClaimStatus",
    "PersistentVolumeClaimVolumeSource",
    "Pod",
    "PodCondition",
    "PodDisruptionBudget",
    "PodDisruptionBudgetSpec",
    "PodDisruptionBudgetStatus",
    "PodSpec",
    "PodStatus",
    "PodTemplateSpec",
    "Probe",
    "Quantity",
    "ResourceRequirements",
    "Secret",
    "SecretKeySelector",
    "Service",
    "ServiceAccount",
    "ServicePort",
    "ServiceSpec",
    "ServiceStatus",
    "TCPSocketAction",
    "Volume",
    "VolumeMount",
]


# --- selectors and references ---------------------------------------------------------------


class LabelSelectorRequirement(KubeModel):
    """One ``matchExpressions`` entry: ``key``, ``operator`` (In, NotIn, Exists, DoesNotExist)."""

    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(KubeModel):
    """A label selector (``metav1.LabelSelector``)."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class _TypedName(KubeModel):
    """An object by kind and name, with the API group of its kind (``None``: the core group)."""

    kind: str
    name: str
    api_group: str | None = None


class ObjectReference(KubeModel):
    """A reference to an object (``involvedObject`` of an Event)."""

    api_version: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class Pod(Resource, version="v1", builtin=True):
    """A pod (``v1``)."""

    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus | None = None


class PodTemplateSpec(KubeModel):
    """The pod a workload controller creates."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec = Field(default_factory=PodSpec)


# --- configuration and identity -------------------------------------------------------------


class NamespaceSpec(KubeModel):
    """A namespace's finalizers."""

    finalizers: list[str] | None = None


class NamespaceStatus(KubeModel):
    """``Active`` or ``Terminating``."""

    phase: str | None = None
    conditions: list[dict[str, Any]] | None = None


class Namespace(Resource, version="v1", scope="Cluster", builtin=True):
    """A namespace (``v1``, cluster-scoped)."""

    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None


class ConfigMap(Resource, version="v1", builtin=True):
    """A config map (``v1``)."""

    data: dict[str, str] | None = None
    binary_data: dict[str, str] | None = None
    immutable: bool | None = None


class Secret(Resource, version="v1", builtin=True):
    """A secret (``v1``). ``data`` is base64 on the wire; ``string_data`` is write-only text."""

    type: str | None = None
    data: dict[str, str] | None = None
    string_data: dict[str, str] | None = None
    immutable: bool | None = None

    def decoded(self) -> dict[str, bytes]:
        """``data`` with every value base64-decoded."""
        return {k: base64.b64decode(v) for k, v in (self.data or {}).items()}


class ServiceAccount(Resource, version="v1", builtin=True):
    """A service account (``v1``)."""

    secrets: list[dict[str, Any]] | None = None
    image_pull_secrets: list[dict[str, Any]] | None = None
    automount_service_account_token: bool | None = None


# --- networking -----------------------------------------------------------------------------


class ServicePort(KubeModel):
    """A port a Service exposes; ``target_port`` is a number or a named container port."""

    port: int
    name: str | None = None
    protocol: str | None = None
    target_port: IntOrString | None = None
    node_port: int | None = None
    app_protocol: str | None = None


class ServiceSpec(KubeModel):
    """A Service's selector, ports and addressing. ``cluster_ip="None"`` makes it headless."""

    selector: dict[str, str] | None = None
    ports: list[ServicePort] | None = None
    type: str | None = None
    cluster_ip: str | None = None
    cluster_ips: list[str] | None = None
    publish_not_ready_addresses: bool | None = None
    session_affinity: str | None = None


class ServiceStatus(KubeModel):
    """A Service's load-balancer status, kept raw."""

    load_balancer: dict[str, Any] | None = None
    conditions: list[dict[str, Any]] | None = None


class Service(Resource, version="v1", builtin=True):
    """A service (``v1``)."""

    spec: ServiceSpec = Field(default_factory=ServiceSpec)
    status: ServiceStatus | None = None


class Endpoints(Resource, version="v1", plural="endpoints", builtin=True):
    """The endpoints of a Service (``v1``); ``subsets`` kept raw."""

    subsets: list[dict[str, Any]] | None = None


# --- events and leases ----------------------------------------------------------------------


class EventSource(KubeModel):
    """The component (and host) that reported an Event."""

    component: str | None = None
    host: str | None = None


class Event(Resource, version="v1", builtin=True):
    """A ``core/v1`` Event about ``involved_object``."""

    involved_object: ObjectReference = Field(default_factory=ObjectReference)
    reason: str | None = None
    message: str | None = None
    type: str | None = None
    count: int | None = None
    first_timestamp: Time | None = None
    last_timestamp: Time | None = None
    event_time: MicroTime | None = None
    source: EventSource | None = None
    action: str | None = None
    reporting_component: str | None = None
    reporting_instance: str | None = None
    related: ObjectReference | None = None
    series: dict[str, Any] | None = None


class LeaseSpec(KubeModel):
    """Who holds a Lease and until when (times have microseconds, as the server requires)."""

    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    acquire_time: MicroTime | None = None
    renew_time: MicroTime | None = None
    lease_transitions: int | None = None
    strategy: str | None = None
    preferred_holder: str | None = None


class Lease(Resource, group="coordination.k8s.io", version="v1", builtin=True):
    """A lease (``coordination.k8s.io/v1``), as used for leader election."""

    spec: LeaseSpec = Field(default_factory=LeaseSpec)


# --- storage --------------------------------------------------------------------------------


class PersistentVolumeClaimSpec(KubeModel):
    """What storage a claim asks for."""

    access_modes: list[str] | None = None
    resources: ResourceRequirements | None = None
    storage_class_name: str | None = None
    volume_name: str | None = None
    volume_mode: str | None = None
    selector: LabelSelector | None = None


class PersistentVolumeClaimStatus(KubeModel):
    """A claim's phase (``Pending``, ``Bound``, ``Lost``) and capacity."""

    phase: str | None = None
    access_modes: list[str] | None = None
    capacity: dict[str, Quantity] | None = None
    conditions: list[dict[str, Any]] | None = None


class PersistentVolumeClaim(Resource, version="v1", builtin=True):
    """A persistent volume claim (``v1``)."""

    spec: PersistentVolumeClaimSpec = Field(default_factory=PersistentVolumeClaimSpec)
    status: PersistentVolumeClaimStatus | None = None


# --- policy ---------------------------------------------------------------------------------


class PodDisruptionBudgetSpec(KubeModel):
    """How many selected pods must stay up (``min_available``) or may be down."""

    min_available: IntOrString | None = None
    max_unavailable: IntOrString | None = None
    selector: LabelSelector | None = None
    unhealthy_pod_eviction_policy: str | None = None


class PodDisruptionBudgetStatus(KubeModel):
    """How many disruptions the budget allows now."""

    current_healthy: int = 0
    desired_healthy: int = 0
    disruptions_allowed: int = 0
    expected_pods: int = 0
    observed_generation: int | None = None
    disrupted_pods: dict[str, Time] | None = None
    conditions: list[Condition] | None = None


class PodDisruptionBudget(Resource, group="policy", version="v1", builtin=True):
    """A pod disruption budget (``policy/v1``)."""

    spec: PodDisruptionBudgetSpec = Field(default_factory=PodDisruptionBudgetSpec)
    status: PodDisruptionBudgetStatus | None = None


# --- nodes ----------------------------------------------------------------------------------


class NodeSpec(KubeModel):
    """A node's pod CIDRs, taints and schedulability."""

    pod_cidr: str | None = None
    pod_cidrs: list[str] | None = None
    provider_id: str | None = None
    unschedulable: bool | None = None
    taints: list[dict[str, Any]] | None = None


class NodeAddress(KubeModel):
    """One address of a node (``InternalIP``, ``Hostname``, ...)."""

    type: str
    address: str


class NodeStatus(KubeModel):
    """A node's capacity, conditions and addresses; conditions and node info kept raw."""

    capacity: dict[str, Quantity] | None = None
    allocatable: dict[str, Quantity] | None = None
    conditions: list[dict[str, Any]] | None = None
    addresses: list[NodeAddress] | None = None
    node_info: dict[str, Any] | None = None


class Node(Resource, version="v1", scope="Cluster", builtin=True):
    """A node (``v1``, cluster-scoped)."""

    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus | None = None
