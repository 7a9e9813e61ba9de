"""The parts of a pod spec and status (re-exported by :mod:`opframe.kinds`).

Containers with their env, ports, resources, mounts and probes; volumes; pod status. Kept
apart from the kinds because they are many and are shared by Pods and pod templates.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from pydantic import Field

from opframe.resource import KubeModel, Time

__all__ = [
    "ConfigMapKeySelector",
    "ConfigMapVolumeSource",
    "Container",
    "ContainerPort",
    "ContainerStatus",
    "DownwardAPIVolumeFile",
    "DownwardAPIVolumeSource",
    "EmptyDirVolumeSource",
    "EnvVar",
    "EnvVarSource",
    "ExecAction",
    "HTTPGetAction",
    "HostPathVolumeSource",
    "IntOrString",
    "KeyToPath",
    "ObjectFieldSelector",
    "PersistentVolumeClaimVolumeSource",
    "PodCondition",
    "PodSpec",
    "PodStatus",
    "Probe",
    "ProjectedVolumeSource",
    "Quantity",
    "ResourceRequirements",
    "SecretKeySelector",
    "SecretVolumeSource",
    "TCPSocketAction",
    "Volume",
    "VolumeMount",
]

Quantity: TypeAlias = int | str
"""A resource quantity (``"500m"``, ``"1Gi"``, ``2``); the server always answers strings.

No float: ``0.5`` CPU is ``"500m"``, and ``int | str`` is what a CRD schema can express
(``x-kubernetes-int-or-string``), so these models can be embedded in custom resources."""

IntOrString: TypeAlias = int | str
"""A port or count given as a number or a name/percentage (``8080``, ``"http"``, ``"50%"``)."""


# --- pods -----------------------------------------------------------------------------------


class ObjectFieldSelector(KubeModel):
    """A downward-API field of the pod, e.g. ``metadata.name`` or ``status.podIP``."""

    field_path: str
    api_version: str | None = None


class _KeySelector(KubeModel):
    """One key of a named object (``optional``: the object or key may be missing)."""

    name: str
    key: str
    optional: bool | None = None


class SecretKeySelector(_KeySelector):
    """One key of a Secret."""


class ConfigMapKeySelector(_KeySelector):
    """One key of a ConfigMap."""


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


class KeyToPath(KubeModel):
    """One key of a ConfigMap or Secret, as the file ``path`` (with ``mode``)."""

    key: str
    path: str
    mode: int | None = None


class _KeysAsFiles(KubeModel):
    """An object's keys as files: all of them or ``items``, with mode ``default_mode``."""

    items: list[KeyToPath] | None = None
    default_mode: int | None = None
    optional: bool | None = None


class ConfigMapVolumeSource(_KeysAsFiles):
    """A ConfigMap's keys as files (all of them, or ``items``)."""

    name: str | None = None


class SecretVolumeSource(_KeysAsFiles):
    """A Secret's keys as files (all of them, or ``items``)."""

    secret_name: str | None = None


class HostPathVolumeSource(KubeModel):
    """A path of the node (``type``: ``Directory``, ``DirectoryOrCreate``, ``File``, ...)."""

    path: str
    type: str | None = None


class DownwardAPIVolumeFile(KubeModel):
    """A file holding a field of the pod (``field_ref``) or a container's resource."""

    path: str
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: dict[str, Any] | None = None
    mode: int | None = None


class DownwardAPIVolumeSource(KubeModel):
    """Fields of the pod as files."""

    items: list[DownwardAPIVolumeFile] | None = None
    default_mode: int | None = None


class ProjectedVolumeSource(KubeModel):
    """Several sources in one directory; each source (secret, configMap, downwardAPI,
    serviceAccountToken, clusterTrustBundle) is kept raw."""

    sources: list[dict[str, Any]] | None = None
    default_mode: int | None = None


class Volume(KubeModel):
    """A pod volume; the common sources typed, others kept as they came."""

    name: str
    empty_dir: EmptyDirVolumeSource | None = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None
    config_map: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    host_path: HostPathVolumeSource | None = None
    downward_api: DownwardAPIVolumeSource | None = Field(default=None, alias="downwardAPI")
    projected: ProjectedVolumeSource | None = None


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


class _TypeStatusCondition(KubeModel):
    """The fields of a condition in the style before ``metav1.Condition`` (core, apps, batch,
    autoscaling): ``type``, ``status`` ``"True"``/``"False"``/``"Unknown"``, and why, since when.
    """

    type: str
    status: str
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class PodCondition(_TypeStatusCondition):
    """A pod condition (``PodScheduled``, ``Initialized``, ``ContainersReady``, ``Ready``)."""

    status: Literal["True", "False", "Unknown"]
    last_probe_time: Time | None = None


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
