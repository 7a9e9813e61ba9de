"""The ``EtcdBackup`` resource and the backup and restore parts of ``EtcdCluster``.

::

    apiVersion: etcd.opframe.dev/v1alpha1
    kind: EtcdBackup
    metadata: {name: demo-now}
    spec:
      clusterName: demo
      destination:
        s3: {endpoint: "https://s3.example.com", bucket: backups, prefix: etcd/,
             credentialsSecret: {name: s3-credentials}}
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field

from opframe import Conditions, KubeModel, Resource
from opframe.crd import AGE_COLUMN, PrinterColumn, Validation

__all__ = [
    "BackupDestination",
    "BackupPhase",
    "BackupRetention",
    "ClusterBackupSpec",
    "ClusterBootstrapSpec",
    "CredentialsSecret",
    "EtcdBackup",
    "EtcdBackupSpec",
    "EtcdBackupStatus",
    "FromBackup",
    "RestoreStatus",
    "S3Destination",
    "VerificationStatus",
    "VolumeDestination",
]


class CredentialsSecret(KubeModel):
    """A Secret in the backup's namespace holding ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY``."""

    name: str = Field(min_length=1)


class S3Destination(KubeModel):
    """An S3-compatible bucket; objects are named ``<prefix><backup name>.db``."""

    endpoint: str | None = Field(None, pattern=r"^https?://")
    """The service URL (``https://s3.eu-west-1.amazonaws.com``, a MinIO URL); unset for AWS."""
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    """Prepended to the object name, e.g. ``etcd/prod/``."""
    region: str = "us-east-1"
    force_path_style: bool = False
    """Address the bucket as ``<endpoint>/<bucket>`` (MinIO, Ceph) instead of a subdomain."""
    credentials_secret: CredentialsSecret


class VolumeDestination(KubeModel):
    """A file on a PersistentVolumeClaim, for clusters without object storage."""

    claim_name: str = Field(min_length=1)
    path: str = ""
    """A directory inside the volume; the file is ``<path>/<backup name>.db``."""


class BackupDestination(KubeModel):
    """Where a snapshot goes: exactly one of ``s3`` and ``volume``."""

    __validations__: ClassVar[tuple[Validation, ...]] = (
        Validation("has(self.s3) != has(self.volume)", message="set exactly one of s3 and volume"),
    )

    s3: S3Destination | None = None
    volume: VolumeDestination | None = None


class EtcdBackupSpec(KubeModel):
    """One snapshot of an ``EtcdCluster`` in the same namespace."""

    cluster_name: str = Field(min_length=1)
    destination: BackupDestination
    verify: bool = False
    """Once stored, restore the snapshot into a throw-away member and record the result."""


class BackupPhase(StrEnum):
    """Where a backup is in its life; ``Succeeded`` and ``Failed`` are final."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class VerificationStatus(KubeModel):
    """The result of restoring the snapshot into a throw-away member."""

    verified: bool
    revision: int | None = None
    message: str = ""
    time: datetime | None = None


class EtcdBackupStatus(KubeModel):
    """What the snapshot turned out to be."""

    phase: BackupPhase = BackupPhase.PENDING
    location: str | None = None
    """``s3://bucket/key`` or ``pvc://claim/path``."""
    size_bytes: int | None = None
    revision: int | None = None
    """The cluster's revision (Status header) as the snapshot began; the data holds at least it."""
    sha256: str | None = None
    """SHA-256 of the whole object as stored (the database plus etcd's own trailing hash)."""
    member: str | None = None
    """The member the snapshot was taken from."""
    start_time: datetime | None = None
    completion_time: datetime | None = None
    verification: VerificationStatus | None = None
    conditions: Conditions = Field(default_factory=list)
    """``Complete`` and ``Failed``, with reasons a user can act on."""


class EtcdBackup(
    Resource,
    group="etcd.opframe.dev",
    version="v1alpha1",
    short_names=("etcdbackup",),
    categories=("all",),
    printer_columns=(
        PrinterColumn("Cluster", ".spec.clusterName"),
        PrinterColumn("Phase", ".status.phase"),
        PrinterColumn("Size", ".status.sizeBytes", type="integer"),
        PrinterColumn("Revision", ".status.revision", type="integer"),
        AGE_COLUMN,
    ),
):
    """A snapshot of an etcd cluster, taken once; deleting it deletes the stored snapshot."""

    spec: Annotated[
        EtcdBackupSpec, Validation("self == oldSelf", message="an EtcdBackup's spec is immutable")
    ]
    status: EtcdBackupStatus | None = None


class BackupRetention(KubeModel):
    """How many scheduled backups to keep; older ones and their objects are deleted."""

    keep: Annotated[int, Field(ge=1)] = 7


class ClusterBackupSpec(KubeModel):
    """Scheduled backups of an ``EtcdCluster`` (``spec.backup``)."""

    schedule: str | None = Field(None, min_length=1)
    """Five-field cron (``*/30 * * * *``), in UTC; unset for no scheduled backups."""
    destination: BackupDestination
    retention: BackupRetention = BackupRetention()
    verify: bool = False
    """Restore each new snapshot into a throw-away member and record the result."""
    before_upgrade: bool = False
    """Take a backup (``<cluster>-before-v<version>``) before upgrading to a new version."""


class FromBackup(KubeModel):
    """Where a new cluster's data comes from: an ``EtcdBackup`` in the same namespace, or an
    object in S3-compatible storage (for a backup whose ``EtcdBackup`` is gone)."""

    __validations__: ClassVar[tuple[Validation, ...]] = (
        Validation(
            "has(self.backupName) != has(self.s3)", message="set exactly one of backupName and s3"
        ),
        Validation("has(self.s3) == has(self.key)", message="s3 needs key, the object's name"),
    )

    backup_name: str | None = Field(None, min_length=1)
    s3: S3Destination | None = None
    """The bucket and credentials (``prefix`` is ignored: ``key`` is the full name)."""
    key: str | None = Field(None, min_length=1)
    """The object's key, e.g. ``etcd/demo-202612021430.db``."""
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    """The object's SHA-256, if known (an EtcdBackup's ``status.sha256``); etcd's own
    integrity hash is checked either way."""


class ClusterBootstrapSpec(KubeModel):
    """How a new cluster starts (``spec.bootstrap``); empty means with no data."""

    from_backup: FromBackup | None = None


class RestoreStatus(KubeModel):
    """Progress of a restore (``status.restore``)."""

    backup_name: str
    phase: str = "Pending"
    """``Restoring``, ``Restored`` or ``Refused``."""
    message: str = ""
    revision: int | None = None
    location: str = ""
    """Where the snapshot is read from (``s3://bucket/key`` or ``pvc://claim/path``)."""
    members: list[str] = Field(default_factory=list)
    """The pods of the restored cluster's initial members, each restored from the snapshot."""
    created: list[str] = Field(default_factory=list)
    """The initial members whose pods were created from the snapshot (once each: a member's
    pod lost later is healed like any member's, never restored again under its old ID)."""
