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
    "AutoCompactionSpec",
    "ClusterPhase",
    "DefragmentationSpec",
    "EmptyDirStorage",
    "EtcdCluster",
    "EtcdClusterSpec",
    "EtcdClusterStatus",
    "MaintenanceStatus",
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


_DURATION = r"^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$|^[0-9]+$"


class AutoCompactionSpec(KubeModel):
    """etcd's own history compaction (``--auto-compaction-mode``/``-retention``)."""

    __validations__: ClassVar[tuple[Validation, ...]] = (
        Validation(
            "self.mode != 'revision' || self.retention.matches('^[0-9]+$')",
            message="autoCompaction.retention must be a number of revisions in revision mode",
        ),
    )

    mode: Literal["periodic", "revision"] = "periodic"
    """``periodic``: keep ``retention`` of history (a duration); ``revision``: keep the last
    ``retention`` revisions."""
    retention: str = Field("1h", min_length=1, max_length=32, pattern=_DURATION)
    """A duration such as ``1h`` or ``30m`` (periodic; a bare number means hours), or a
    number of revisions (revision)."""


class DefragmentationSpec(KubeModel):
    """When the operator defragments members: every member healthy, one at a time, the leader
    last, and only a member over both thresholds."""

    min_reclaimable_bytes: int | str = "64Mi"
    """A member qualifies once defragmenting it frees at least this much (``dbSize -
    dbSizeInUse``), a quantity such as ``64Mi``."""
    fragmented_percent: Annotated[int, Field(ge=0, le=100)] = 50
    """... and once that is at least this share of its database file, in percent."""
    schedule: str | None = Field(None, max_length=64)
    """A 5-field cron expression (UTC): defragment only in runs starting at its times; unset
    to defragment whenever a member qualifies."""


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
    quota_backend_bytes: int | str | None = None
    """The backend quota of every member (``--quota-backend-bytes``), a quantity such as
    ``8Gi``; unset for etcd's default (2 GiB). Changing it rolls the members one at a time."""
    auto_compaction: AutoCompactionSpec | None = None
    """etcd's auto-compaction of every member; changing it rolls the members."""
    defragmentation: DefragmentationSpec | None = None
    """Defragment members by rule (docs/etcd-day2.md); unset: only to recover from NOSPACE."""
    quota_warning_percent: Annotated[int, Field(ge=1, le=100)] = 80
    """Database size, in percent of the quota, above which ``QuotaPressure`` turns True and a
    Warning Event is recorded."""


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
    db_size: int | None = None
    """Size of its database file in bytes (``dbSize``)."""
    db_size_in_use: int | None = None
    """Bytes of the database file in use (``dbSizeInUse``); the rest a defragmentation frees."""


class MaintenanceStatus(KubeModel):
    """What the operator last did to keep the database in shape, and what it found."""

    last_defragmentation_time: datetime | None = None
    last_defragmented_member: str | None = None
    last_reclaimed_bytes: int | None = None
    """Bytes the last defragmentation freed."""
    last_compaction_time: datetime | None = None
    last_compaction_revision: int | None = None
    """The revision the operator last compacted to (NOSPACE recovery)."""
    last_backup_time: datetime | None = None
    """Completion time of the last successful ``EtcdBackup`` of this cluster."""
    defragmentation_slot: datetime | None = None
    """The last ``spec.defragmentation.schedule`` time whose run has finished."""
    defragmented_since_compaction: list[str] = Field(default_factory=list, max_length=64)
    """Members defragmented since the last compaction (NOSPACE recovery)."""
    skipped: str | None = None
    """Why a due defragmentation is not running (a member unhealthy), while it is not."""
    alarms: list[str] = Field(default_factory=list, max_length=64)
    """Raised etcd alarms as ``TYPE:member``."""


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
    leader: str | None = None
    """The pod name of the leader."""
    database: str | None = None
    """The largest member database against the quota, e.g. ``12Mi/16Mi (75%)``."""
    maintenance: MaintenanceStatus | None = None
    """Defragmentation, compaction, backups and alarms (docs/etcd-day2.md)."""


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
        PrinterColumn("Leader", ".status.leader", priority=1),
        PrinterColumn(
            "Database",
            ".status.database",
            priority=1,
            description="Largest member DB size against the quota",
        ),
        PrinterColumn("Alarms", ".status.maintenance.alarms", priority=1),
        PrinterColumn(
            "Last-Defrag", ".status.maintenance.lastDefragmentationTime", type="date", priority=1
        ),
        PrinterColumn("Last-Backup", ".status.maintenance.lastBackupTime", type="date", priority=1),
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
