"""The ``EtcdCluster`` custom resource (``etcd.opframe.dev/v1alpha1``).

The CRD in ``deploy/crd.yaml`` is generated from these models::

    opframe crd generate etcd_operator.models:EtcdCluster > deploy/crd.yaml
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from etcd_operator.backup.models import ClusterBackupSpec, ClusterBootstrapSpec, RestoreStatus
from opframe import Conditions, KubeModel, Resource
from opframe.crd import (
    AGE_COLUMN,
    ListType,
    PreserveUnknownFields,
    PrinterColumn,
    Scale,
    Validation,
)
from opframe.kinds import ResourceRequirements

__all__ = [
    "ClusterPhase",
    "EmptyDirStorage",
    "EtcdCluster",
    "EtcdClusterSpec",
    "EtcdClusterStatus",
    "MemberStatus",
    "PodTemplateOverrides",
    "SecretReference",
    "StorageSpec",
    "TLSSpec",
    "Toleration",
    "VolumeClaimTemplate",
]

DEFAULT_VERSION = "3.5.1"
_SEMVER = r"^[0-9]+\.[0-9]+\.[0-9]+$"
DEFAULT_REPOSITORY = "quay.io/coreos/etcd"


class EmptyDirStorage(KubeModel):
    """Member data in an emptyDir volume: lost when the pod goes, so the member is replaced."""

    medium: Literal["Memory"] | None = None
    """``Memory`` for a tmpfs; unset for the node's disk."""
    size_limit: int | str | None = None
    """Upper bound of the volume, a quantity such as ``2Gi``."""


class VolumeClaimTemplate(KubeModel):
    """Member data on a PersistentVolumeClaim per member, which outlives the member's pod."""

    storage_class_name: str | None = None
    """The StorageClass of the claims; unset for the cluster's default class."""
    size: int | str = "1Gi"
    """The requested capacity of each claim, a quantity such as ``10Gi``."""
    access_modes: list[str] = Field(default_factory=lambda: ["ReadWriteOnce"])
    """Access modes of each claim."""


class StorageSpec(KubeModel):
    """Where members keep their data: an emptyDir (the default) or a claim per member."""

    __validations__: ClassVar[tuple[Validation, ...]] = (
        Validation(
            "!(has(self.emptyDir) && has(self.volumeClaimTemplate))",
            message="set either emptyDir or volumeClaimTemplate, not both",
        ),
    )

    empty_dir: EmptyDirStorage | None = None
    volume_claim_template: VolumeClaimTemplate | None = None


class Toleration(KubeModel):
    """A toleration for member pods (as ``core/v1`` Toleration)."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class PodTemplateOverrides(KubeModel):
    """Additions to every member pod: metadata and scheduling constraints."""

    labels: dict[str, str] | None = None
    """Extra labels; the operator's own labels win on conflict."""
    annotations: dict[str, str] | None = None
    """Extra annotations."""
    affinity: Annotated[dict[str, Any], PreserveUnknownFields()] | None = None
    """A ``core/v1`` Affinity, passed to the pods unchanged."""
    tolerations: list[Toleration] | None = None
    """Tolerations of the member pods."""
    node_selector: dict[str, str] | None = None
    """Node labels the member pods must be scheduled on."""


class SecretReference(KubeModel):
    """A Secret in the cluster's namespace."""

    name: str = Field(min_length=1)


class TLSSpec(KubeModel):
    """TLS for etcd: each Secret is of type ``kubernetes.io/tls`` and also holds ``ca.crt``."""

    peer: SecretReference | None = None
    """Certificates members use between themselves (peer URLs become https)."""
    server: SecretReference | None = None
    """The certificate members serve clients with (client URLs become https)."""
    client: SecretReference | None = None
    """The client certificate the operator uses to talk to members."""


class EtcdClusterSpec(KubeModel):
    """The desired etcd cluster."""

    size: Annotated[int, Field(ge=1, le=9)] = 3
    """Number of voting members. Odd sizes tolerate the most failures for their cost."""
    version: str = Field(DEFAULT_VERSION, pattern=_SEMVER, max_length=32)
    """etcd version (``MAJOR.MINOR.PATCH``); upgrades go one minor version at a time (the API
    server refuses a downgrade, a skipped minor or a major change from what members run)."""
    repository: Annotated[
        str,
        Validation(
            "self == oldSelf",
            message="spec.repository cannot be changed after creation (members would mix "
            "images); create a new EtcdCluster to use another repository",
        ),
    ] = Field(DEFAULT_REPOSITORY, min_length=1, max_length=253)
    """Image repository; the image is ``<repository>:v<version>``. Fixed at creation."""
    storage: Annotated[
        StorageSpec,
        Validation("self == oldSelf", message="storage cannot be changed after creation"),
    ] = StorageSpec(empty_dir=EmptyDirStorage())
    """Where members keep their data."""
    resources: ResourceRequirements | None = None
    """Compute resources of each member container."""
    pod_template: PodTemplateOverrides | None = None
    """Labels, annotations and scheduling constraints added to every member pod."""
    tls: TLSSpec | None = None
    """TLS Secrets; unset for plain HTTP on loopback and cluster networks."""
    paused: bool = False
    """Stop every action on the cluster except status updates."""
    backup: ClusterBackupSpec | None = None
    """Scheduled backups and their retention (docs/etcd-backup.md)."""
    bootstrap: ClusterBootstrapSpec | None = None
    """Where a new cluster's data comes from (``fromBackup``); read only at creation."""


class ClusterPhase(StrEnum):
    """The phase of an etcd cluster: what the operator is doing about it."""

    PENDING = "Pending"
    CREATING = "Creating"
    RUNNING = "Running"
    SCALING = "Scaling"
    UPGRADING = "Upgrading"
    HEALING = "Healing"
    DEGRADED = "Degraded"
    PAUSED = "Paused"
    FAILED = "Failed"


class MemberStatus(KubeModel):
    """One member as the operator last observed it."""

    name: str
    """The member's pod name."""
    id: str | None = None
    """The etcd member ID in hex (a uint64 does not fit the API's int64)."""
    peer_urls: list[str] = Field(default_factory=list)
    client_urls: list[str] = Field(default_factory=list)
    version: str | None = Field(None, pattern=_SEMVER, max_length=32)
    healthy: bool = False
    leader: bool = False
    learner: bool = False
    state: str | None = None
    """The member container's waiting reason (``ImagePullBackOff``, ``CrashLoopBackOff``...)."""
    foreign: bool = False
    """Its peer URL maps to no pod of this cluster (added by hand, or left over)."""


class EtcdClusterStatus(KubeModel):
    """The observed state of the cluster."""

    phase: ClusterPhase = ClusterPhase.PENDING
    observed_generation: int | None = None
    """The ``metadata.generation`` this status was computed from."""
    cluster_id: str | None = None
    """The etcd cluster ID in hex, set once the cluster has formed."""
    current_version: str | None = None
    """The lowest version any member runs."""
    ready_members: int = 0
    """Members that are started, healthy and voting."""
    selector: str | None = None
    """The label selector of the member pods, for the scale subresource."""
    members: Annotated[list[MemberStatus], ListType("map", keys=("name",))] = Field(
        default_factory=list, max_length=64
    )
    failed_version: str | None = None
    """A version whose image could not be pulled or started; not tried again until
    ``spec.version`` changes."""
    last_replacement_time: datetime | None = None
    """When a member was last removed to be replaced (the replacement budget's clock)."""
    conditions: Conditions = Field(default_factory=list)
    """``Available``, ``Progressing``, ``Degraded``, ``AtRisk`` and ``ForeignMembers``."""
    restore: RestoreStatus | None = None
    """Progress of ``spec.bootstrap.fromBackup``."""


def _version_rule(ok: str, message: str) -> Validation:
    """A transition rule: ``spec.version`` may move only where ``ok`` holds for every member
    version ``m.version`` (what members run), the rule :func:`~etcd_operator.versions.check_upgrade`
    applies. A status write leaves ``spec.version`` unchanged and always passes.
    """

    def part(v: str, i: int) -> str:
        return f"int({v}.split('.')[{i}])"

    t = "self.spec.version"
    cond = ok.format(
        **{f"{who}{i}": part(v, i) for who, v in (("m", "m.version"), ("t", t)) for i in range(3)}
    )
    members = "oldSelf.status.members"
    offending = f"{members}.filter(m, has(m.version) && !({cond})).map(m, m.version)[0]"
    return Validation(
        f"{t} == oldSelf.spec.version || !has(oldSelf.status) || "
        f"!has({members}) || {members}.all(m, !has(m.version) || {cond})",
        message_expression=message.format(current=offending, target=t),
        reason="FieldValueForbidden",
        field_path=".spec.version",
    )


# The operator's upgrade rules (etcd_operator.versions.check_upgrade), enforced at admission
# against the versions members run (status.members), so a refused change never enters the spec.
_VERSION_RULES = (
    _version_rule(
        "{m0} == {t0}",
        "'upgrade across major versions (' + {current} + ' to ' + {target} + ') is unsupported'",
    ),
    _version_rule(
        "{m0} != {t0} || {t1} > {m1} || ({t1} == {m1} && {t2} >= {m2})",
        "'downgrade from ' + {current} + ' to ' + {target} + ' is not supported'",
    ),
    _version_rule(
        "{m0} != {t0} || {t1} <= {m1} + 1",
        "'upgrade from ' + {current} + ' to ' + {target} + ' skips a minor version; upgrade "
        "to ' + {current}.split('.')[0] + '.' + string(int({current}.split('.')[1]) + 1) + "
        "'.x first'",
    ),
)


class EtcdCluster(
    Resource,
    group="etcd.opframe.dev",
    version="v1alpha1",
    short_names=("etcd",),
    categories=("all",),
    printer_columns=(
        PrinterColumn("Size", ".spec.size", description="Desired members"),
        PrinterColumn("Ready", ".status.readyMembers", description="Ready members"),
        PrinterColumn("Version", ".status.currentVersion"),
        PrinterColumn("Phase", ".status.phase"),
        AGE_COLUMN,
    ),
    scale=Scale(
        spec_replicas_path=".spec.size",
        status_replicas_path=".status.readyMembers",
        label_selector_path=".status.selector",
    ),
    validations=_VERSION_RULES,
):
    """An etcd cluster run by the opframe etcd operator."""

    spec: EtcdClusterSpec
    status: EtcdClusterStatus | None = None

    @property
    def image(self) -> str:
        """The member image for the desired version."""
        return f"{self.spec.repository}:v{self.spec.version}"
