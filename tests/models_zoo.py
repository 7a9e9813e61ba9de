"""A zoo of models for CRD generation tests: one of every construct, and two realistic CRDs.

``Gizmo`` holds every construct the generator supports; ``Backup`` and the two ``Tenant``
versions are realistic resources checked against golden YAML files; the ``Bad*`` models each
hold one construct a structural schema cannot express.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum, IntEnum
from typing import Annotated, Any, ClassVar, Literal, Optional

from pydantic import BaseModel, Field, StringConstraints

from opframe.crd import (
    AGE_COLUMN,
    EmbeddedResource,
    ListType,
    MapType,
    PreserveUnknownFields,
    PrinterColumn,
    Scale,
    Validation,
)
from opframe.resource import Condition, KubeModel, Resource

GROUP = "zoo.opframe.dev"


class Color(Enum):
    """A string enum."""

    RED = "red"
    GREEN = "green"


class Level(IntEnum):
    """An integer enum."""

    LOW = 1
    HIGH = 2


class Port(KubeModel):
    """A named port."""

    name: str
    port: Annotated[int, Field(ge=1, le=65535)]
    protocol: Literal["TCP", "UDP"] = "TCP"


class Leaf(KubeModel):
    """A nested model."""

    value: str = "leaf"


class Exclusive(KubeModel):
    """One of two alternatives, enforced by a model-level CEL rule."""

    __validations__: ClassVar[tuple[Validation, ...]] = (
        Validation("has(self.a) != has(self.b)", message="set exactly one of a and b"),
    )

    a: str | None = None
    b: int | None = None


class PlainModel(BaseModel):
    """A plain pydantic model (not a KubeModel): its names are used as they are."""

    some_field: int = 0


class GizmoSpec(KubeModel):
    """Every construct the generator supports."""

    text: str
    """A required string, described by an attribute docstring."""
    count: int = Field(default=1, description="Described by Field(description=...).")
    ratio: float = 0.5
    enabled: bool = True
    blob: bytes | None = None
    when: datetime | None = None
    day: date | None = None
    ident: uuid.UUID | None = None
    color: Color = Color.RED
    level: Level = Level.LOW
    mode: Literal["fast", "slow"] = "fast"
    either: Literal["a"] | Literal["b"] = "a"
    target_port: int | str = 8080
    number: int | float = 1
    optional_text: str | None = None
    legacy_optional: Optional[int] = None  # noqa: UP045 - the typing.Optional spelling too
    tags: list[str] = Field(default_factory=list)
    unique: set[str] = Field(default_factory=set)
    frozen_items: tuple[int, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, int | str] = Field(default_factory=dict)
    nested_map: dict[str, list[int]] = Field(default_factory=dict)
    keyed_by_color: dict[Literal["red", "green"], int] = Field(default_factory=dict)
    leaf: Leaf = Leaf()
    optional_leaf: Leaf | None = None
    leaves: list[Leaf] = Field(default_factory=list)
    plain: PlainModel | None = None
    ports: Annotated[list[Port], ListType("map", keys=("name",))] = Field(default_factory=list)
    atomic_list: Annotated[list[str], ListType("atomic")] = Field(default_factory=list)
    set_list: Annotated[list[str], ListType("set")] = Field(default_factory=list)
    atomic_map: Annotated[dict[str, str], MapType("atomic")] = Field(default_factory=dict)
    atomic_leaf: Annotated[Leaf, MapType("atomic")] | None = None
    free: Annotated[dict[str, Any], PreserveUnknownFields()] = Field(default_factory=dict)
    anything: Annotated[Any, PreserveUnknownFields()] = None
    partly_known: Annotated[Leaf, PreserveUnknownFields()] | None = None
    template: Annotated[dict[str, Any], EmbeddedResource(), PreserveUnknownFields()] | None = None
    bounded: Annotated[int, Field(gt=0, lt=100, multiple_of=5)] = 5
    inclusive: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    name: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z][-a-z0-9]*$")] = "x"
    constrained: Annotated[str, StringConstraints(min_length=2, pattern=r"^[A-Z]+$")] = "AB"
    items_bounded: Annotated[list[str], Field(min_length=1, max_length=3)] = Field(
        default_factory=lambda: ["one"]
    )
    props_bounded: Annotated[dict[str, str], Field(max_length=8)] = Field(default_factory=dict)
    item_constraints: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    odd: Annotated[int, Validation("self % 2 == 1", message="must be odd")] = 1
    immutable: Annotated[
        str,
        Validation("self == oldSelf", message="immutable", reason="FieldValueForbidden"),
    ] = "fixed"
    exclusive: Exclusive | None = None
    hidden: str = Field(default="python only", exclude=True)
    phase: Annotated[str, PrinterColumn("Phase", priority=1)] = "New"


class GizmoStatus(KubeModel):
    """The status of a gizmo."""

    replicas: Annotated[int, PrinterColumn("Replicas")] = 0
    selector: str | None = None
    conditions: Annotated[list[Condition], ListType("map", keys=("type",))] = Field(
        default_factory=list
    )


class Gizmo(
    Resource,
    group=GROUP,
    version="v1",
    scope="Cluster",
    short_names=("gz",),
    categories=("zoo",),
    printer_columns=(PrinterColumn("Count", ".spec.count"), AGE_COLUMN),
    scale=Scale(".spec.count", ".status.replicas", ".status.selector"),
    validations=(Validation("self.metadata.name.size() <= 40", message="name too long"),),
):
    """A gizmo: every construct the CRD generator supports."""

    spec: GizmoSpec
    status: GizmoStatus | None = None


# --- realistic: a backup schedule --------------------------------------------------------------


class SecretKeyRef(KubeModel):
    """A key of a Secret in the backup's namespace."""

    name: str = Field(min_length=1)
    key: str = Field(min_length=1)


class S3Destination(KubeModel):
    """An S3-compatible bucket."""

    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    endpoint: str | None = None
    """Endpoint URL for S3-compatible stores other than AWS."""
    credentials: SecretKeyRef
    """Secret key holding the access key and secret, as ``AWS_*`` environment lines."""


class VolumeDestination(KubeModel):
    """A PersistentVolumeClaim in the backup's namespace."""

    claim_name: str = Field(min_length=1)
    sub_path: str = ""


class Destination(KubeModel):
    """Where snapshots are written: exactly one of ``s3`` and ``volume``."""

    __validations__: ClassVar[tuple[Validation, ...]] = (
        Validation("has(self.s3) != has(self.volume)", message="set exactly one destination"),
    )

    s3: S3Destination | None = None
    volume: VolumeDestination | None = None


class BackupSpec(KubeModel):
    """A schedule of etcd snapshots and how long to keep them."""

    cluster_name: str = Field(min_length=1)
    """The EtcdCluster to snapshot, in the same namespace."""
    schedule: str = Field("0 * * * *", pattern=r"^(\S+\s+){4}\S+$")
    """A cron schedule (five fields)."""
    retention: Annotated[int, Field(ge=1, le=1000)] = 24
    """How many snapshots to keep; older ones are deleted."""
    destination: Destination
    suspend: bool = False


class SnapshotRecord(KubeModel):
    """One snapshot taken."""

    name: str
    taken_at: datetime
    size_bytes: int = Field(ge=0)
    revision: int | None = None


class BackupStatus(KubeModel):
    """What the backup schedule has done."""

    last_snapshot_time: Annotated[datetime | None, PrinterColumn("Last")] = None
    last_success: bool | None = None
    snapshots: Annotated[list[SnapshotRecord], ListType("map", keys=("name",))] = Field(
        default_factory=list
    )
    conditions: Annotated[list[Condition], ListType("map", keys=("type",))] = Field(
        default_factory=list
    )


class Backup(
    Resource,
    group=GROUP,
    version="v1beta1",
    categories=("zoo",),
    printer_columns=(
        PrinterColumn("Cluster", ".spec.clusterName"),
        PrinterColumn("Schedule", ".spec.schedule"),
        AGE_COLUMN,
    ),
):
    """A schedule of snapshots of an etcd cluster."""

    spec: BackupSpec
    status: BackupStatus | None = None


# --- realistic: a cluster-scoped tenant with two versions ----------------------------------


class TenantSpecV1Alpha1(KubeModel):
    """A tenant (old shape)."""

    owner: str
    namespaces: list[str] = Field(default_factory=list)


class TenantV1Alpha1(
    Resource,
    group=GROUP,
    version="v1alpha1",
    kind="Tenant",
    scope="Cluster",
    short_names=("tn",),
    storage=False,
    deprecated=True,
    deprecation_warning="zoo.opframe.dev/v1alpha1 Tenant is deprecated; use v1",
):
    """A tenant: a set of namespaces with an owner and quotas."""

    spec: TenantSpecV1Alpha1


class Quota(KubeModel):
    """Resource limits across all of a tenant's namespaces."""

    hard: dict[str, int | str] = Field(default_factory=dict)
    """Hard limits by resource name (``requests.cpu``, ``pods``...)."""


class TenantSpec(KubeModel):
    """A tenant: who owns it, its namespaces, quotas and objects created in each namespace."""

    owners: Annotated[list[str], ListType("set"), Field(min_length=1, max_length=16)]
    namespaces: Annotated[list[str], ListType("set"), Field(max_length=64)] = Field(
        default_factory=list
    )
    quota: Quota | None = None
    namespace_labels: Annotated[dict[str, str], MapType("atomic")] = Field(default_factory=dict)
    templates: list[Annotated[dict[str, Any], EmbeddedResource(), PreserveUnknownFields()]] = Field(
        default_factory=list
    )
    """Objects created in every namespace of the tenant."""
    tier: Annotated[
        Literal["free", "standard", "premium"],
        Validation(
            "!(oldSelf == 'premium' && self == 'free')",
            message="cannot go from premium straight to free",
        ),
    ] = "free"


class TenantStatus(KubeModel):
    """The namespaces that exist for the tenant."""

    ready_namespaces: Annotated[int, PrinterColumn("Ready")] = 0
    conditions: Annotated[list[Condition], ListType("map", keys=("type",))] = Field(
        default_factory=list
    )


class TenantV1(
    Resource,
    group=GROUP,
    version="v1",
    kind="Tenant",
    scope="Cluster",
    short_names=("tn",),
):
    """A tenant: a set of namespaces with an owner and quotas."""

    spec: TenantSpec
    status: TenantStatus | None = None


# --- refused ---------------------------------------------------------------------------------


class TreeNode(KubeModel):
    """A recursive model."""

    children: list[TreeNode] = Field(default_factory=list)


class BadRecursiveSpec(KubeModel):
    root: TreeNode


class BadRecursive(Resource, group=GROUP, version="v1"):
    spec: BadRecursiveSpec


class Cat(KubeModel):
    meow: str


class Dog(KubeModel):
    woof: str


class BadUnionSpec(KubeModel):
    pet: Cat | Dog


class BadUnion(Resource, group=GROUP, version="v1"):
    spec: BadUnionSpec


class BadAnySpec(KubeModel):
    payload: Any = None


class BadAny(Resource, group=GROUP, version="v1"):
    spec: BadAnySpec


class BadMapOfAnySpec(KubeModel):
    settings: dict[str, Any] = Field(default_factory=dict)


class BadMapOfAny(Resource, group=GROUP, version="v1"):
    spec: BadMapOfAnySpec
