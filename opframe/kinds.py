"""Typed wrappers for the built-in kinds operators work with.

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
from typing import Any, Literal, TypeAlias

from pydantic import Field

from opframe.resource import Condition, KubeModel, MicroTime, ObjectMeta, Resource, Time

__all__ = [
    "ConfigMap",
    "ConfigMapKeySelector",
    "Container",
    "ContainerPort",
    "ContainerStatus",
    "Deployment",
    "DeploymentSpec",
    "DeploymentStatus",
    "EmptyDirVolumeSource",
    "Endpoints",
    "EnvVar",
    "EnvVarSource",
    "Event",
    "EventSource",
    "ExecAction",
    "HTTPGetAction",
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
    "StatefulSet",
    "StatefulSetSpec",
    "StatefulSetStatus",
    "TCPSocketAction",
    "Volume",
    "VolumeMount",
]

Quantity: TypeAlias = int | str
"""A resource quantity (``"500m"``, ``"1Gi"``, ``2``); the server always answers strings.

No float: ``0.5`` CPU is ``"500m"``, and ``int | str`` is what a CRD schema can express
(``x-kubernetes-int-or-string``), so these models can be embedded in custom resources."""

IntOrString: TypeAlias = int | str


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


class ObjectReference(KubeModel):
    """A reference to an object (``involvedObject`` of an Event)."""

    api_version: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


# --- pods -----------------------------------------------------------------------------------


class ObjectFieldSelector(KubeModel):
    """A downward-API field of the pod, e.g. ``metadata.name`` or ``status.podIP``."""

    field_path: str
    api_version: str | None = None


class SecretKeySelector(KubeModel):
    """One key of a Secret."""

    name: str
    key: str
    optional: bool | None = None


class ConfigMapKeySelector(KubeModel):
    """One key of a ConfigMap."""

    name: str
    key: str
    optional: bool | None = None


class EnvVarSource(KubeModel):
    """Where an environment variable's value comes from."""

    field_ref: ObjectFieldSelector | None = None
    secret_key_ref: SecretKeySelector | None = None
    config_map_key_ref: ConfigMapKeySelector | None = None
    resource_field_ref: dict[str, Any] | None = None


class EnvVar(KubeModel):
    """An environment variable: a literal ``value`` (``$(VAR)`` expanded) or ``value_from``."""

    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class ContainerPort(KubeModel):
    """A port a container listens on."""

    container_port: int
    name: str | None = None
    protocol: str | None = None
    host_port: int | None = None


class ResourceRequirements(KubeModel):
    """Compute resource requests and limits (``cpu``, ``memory``, ...)."""

    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None


class VolumeMount(KubeModel):
    """Where a volume appears in a container."""

    name: str
    mount_path: str
    read_only: bool | None = None
    sub_path: str | None = None


class HTTPGetAction(KubeModel):
    """An HTTP GET probe; ``port`` is a number or a named container port."""

    port: IntOrString
    path: str | None = None
    host: str | None = None
    scheme: str | None = None
    http_headers: list[dict[str, str]] | None = None


class TCPSocketAction(KubeModel):
    """A TCP connect probe."""

    port: IntOrString
    host: str | None = None


class ExecAction(KubeModel):
    """A probe that runs a command in the container; exit code 0 is success."""

    command: list[str] | None = None


class Probe(KubeModel):
    """A readiness, liveness or startup probe: one of ``http_get``, ``tcp_socket``, ``exec``."""

    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    exec: ExecAction | None = None
    initial_delay_seconds: int | None = None
    period_seconds: int | None = None
    timeout_seconds: int | None = None
    success_threshold: int | None = None
    failure_threshold: int | None = None
    termination_grace_period_seconds: int | None = None


class Container(KubeModel):
    """A container of a pod."""

    name: str
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    env: list[EnvVar] | None = None
    ports: list[ContainerPort] | None = None
    resources: ResourceRequirements | None = None
    volume_mounts: list[VolumeMount] | None = None
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None
    startup_probe: Probe | None = None
    image_pull_policy: str | None = None


class EmptyDirVolumeSource(KubeModel):
    """A scratch directory that lives as long as the pod."""

    medium: str | None = None
    size_limit: Quantity | None = None


class PersistentVolumeClaimVolumeSource(KubeModel):
    """A volume backed by a PersistentVolumeClaim, which outlives the pod."""

    claim_name: str
    read_only: bool | None = None


class Volume(KubeModel):
    """A pod volume: ``empty_dir`` or ``persistent_volume_claim`` typed, others kept raw."""

    name: str
    empty_dir: EmptyDirVolumeSource | None = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None
    config_map: dict[str, Any] | None = None
    secret: dict[str, Any] | None = None


class PodSpec(KubeModel):
    """The desired state of a pod. Scheduling constraints are kept as raw JSON."""

    containers: list[Container] = Field(default_factory=list)
    init_containers: list[Container] | None = None
    volumes: list[Volume] | None = None
    hostname: str | None = None
    subdomain: str | None = None
    restart_policy: Literal["Always", "OnFailure", "Never"] | None = None
    termination_grace_period_seconds: int | None = None
    service_account_name: str | None = None
    node_name: str | None = None
    node_selector: dict[str, str] | None = None
    affinity: dict[str, Any] | None = None
    tolerations: list[dict[str, Any]] | None = None
    security_context: dict[str, Any] | None = None


class PodCondition(KubeModel):
    """A pod condition (``PodScheduled``, ``Initialized``, ``ContainersReady``, ``Ready``)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    last_probe_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class ContainerStatus(KubeModel):
    """The observed state of one container; ``state`` is kept raw (waiting/running/terminated)."""

    name: str
    ready: bool = False
    restart_count: int = 0
    image: str | None = None
    image_id: str | None = None
    container_id: str | None = None
    started: bool | None = None
    state: dict[str, Any] | None = None
    last_state: dict[str, Any] | None = None


class PodStatus(KubeModel):
    """The observed state of a pod."""

    phase: Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"] | None = None
    pod_ip: str | None = None
    host_ip: str | None = None
    start_time: Time | None = None
    conditions: list[PodCondition] | None = None
    container_statuses: list[ContainerStatus] | None = None
    reason: str | None = None
    message: str | None = None


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


# --- workloads ------------------------------------------------------------------------------


class DeploymentSpec(KubeModel):
    """A Deployment's replicas, selector and pod template; ``strategy`` kept raw."""

    selector: LabelSelector
    template: PodTemplateSpec
    replicas: int | None = None
    strategy: dict[str, Any] | None = None
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None
    progress_deadline_seconds: int | None = None
    paused: bool | None = None


class DeploymentStatus(KubeModel):
    """A Deployment's observed replicas; conditions kept raw (they carry lastUpdateTime)."""

    observed_generation: int | None = None
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    conditions: list[dict[str, Any]] | None = None


class Deployment(Resource, group="apps", version="v1", builtin=True):
    """A deployment (``apps/v1``)."""

    spec: DeploymentSpec
    status: DeploymentStatus | None = None


class StatefulSetSpec(KubeModel):
    """A StatefulSet's replicas, selector, pod template and claim templates."""

    selector: LabelSelector
    template: PodTemplateSpec
    service_name: str | None = None
    replicas: int | None = None
    pod_management_policy: str | None = None
    update_strategy: dict[str, Any] | None = None
    volume_claim_templates: list[PersistentVolumeClaim] | None = None
    revision_history_limit: int | None = None
    min_ready_seconds: int | None = None


class StatefulSetStatus(KubeModel):
    """A StatefulSet's observed replicas and revisions."""

    observed_generation: int | None = None
    replicas: int = 0
    ready_replicas: int | None = None
    current_replicas: int | None = None
    updated_replicas: int | None = None
    available_replicas: int | None = None
    current_revision: str | None = None
    update_revision: str | None = None
    collision_count: int | None = None
    conditions: list[dict[str, Any]] | None = None


class StatefulSet(Resource, group="apps", version="v1", builtin=True):
    """A stateful set (``apps/v1``)."""

    spec: StatefulSetSpec
    status: StatefulSetStatus | None = None


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
