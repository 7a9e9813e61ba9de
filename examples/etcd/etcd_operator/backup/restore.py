"""A new cluster restored from a snapshot (``spec.bootstrap.fromBackup``).

Every initial member is restored from the same snapshot, the way etcd's disaster-recovery
runbook does it (``etcdutl snapshot restore``, ``etcdctl snapshot restore`` in 3.4; etcd's
``etcdutl/snapshot/v3_snapshot.go``): once per member, each with its own ``--name`` and
``--initial-advertise-peer-urls`` and the same ``--initial-cluster`` (every initial member)
and ``--initial-cluster-token``. The restore writes a fresh WAL and membership, so the
members get new IDs and, since the token carries the new ``EtcdCluster``'s uid, the cluster a
new cluster ID; no member joins through raft. The planner creates the initial members' pods
one per step (:class:`~etcd_operator.actions.RestoreMember`) and each pod only once
(``status.restore.created``): a restored member lost later is healed like any other.

Before a member's etcd starts, init containers in its pod fetch the snapshot into the
member's data volume, check it, restore it and move the result into place. Why init
containers and not the operator writing the volume itself: on a real cluster the operator
cannot reach a member's emptyDir or PersistentVolume; the init containers run where the
volume is, on the local kubelet and on a real node alike. The first and last run the
operator's own image (``python -m etcd_operator.backup.fetch``), the middle one the etcd image
of the cluster's version, whose ``etcdutl`` writes the data format that version reads.

Before the first pod, the operator streams the object once and refuses the restore when its
SHA-256 differs from the one the ``EtcdBackup`` recorded or etcd's own integrity hash does
not match (``status.restore.phase: Refused``, a ``RestoreRefused`` Warning Event and
``Progressing=False``); each member's fetch step checks both again, so an object changed in
between does not get restored either. Progress is ``status.restore``: ``Restoring`` (with
the members and those created so far) and ``Restored`` once the cluster is Available.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NoReturn

from etcd_operator import tls
from etcd_operator.backup.models import (
    EtcdBackup,
    RestoreStatus,
    S3Destination,
    VolumeDestination,
)
from etcd_operator.backup.s3 import S3Store, StorageError
from etcd_operator.backup.snapshot import SnapshotCorrupt, SnapshotDigest
from etcd_operator.backup.storage import (
    ACCESS_KEY,
    SECRET_KEY,
    object_key,
    s3_config,
    volume_file,
)
from etcd_operator.builders import DATA_DIR
from etcd_operator.models import EtcdCluster, EtcdClusterStatus
from etcd_operator.naming import peer_url, pod_name
from etcd_operator.versions import Version
from opframe import (
    Condition,
    Context,
    NotFound,
    TerminalError,
    get_condition,
    set_condition,
)
from opframe.kinds import (
    Container,
    EnvVar,
    EnvVarSource,
    PersistentVolumeClaimVolumeSource,
    Pod,
    SecretKeySelector,
    Volume,
    VolumeMount,
)

__all__ = [
    "BACKUP_MOUNT",
    "DEFAULT_OPERATOR_IMAGE",
    "RestoreRefused",
    "operator_image",
    "prepare_member",
    "progressed",
    "record_created",
    "restore_plan",
]

DEFAULT_OPERATOR_IMAGE = "ghcr.io/opframe/etcd-operator:0.1.0"
RESTORE_DIR = f"{DATA_DIR}/restore"
BACKUP_MOUNT = "/backup"
FIELD_MANAGER = "etcd-operator"


class RestoreRefused(TerminalError):
    """The snapshot cannot be restored as it is; retrying does not help until the spec or the
    object changes."""


def operator_image() -> str:
    """The image of the fetch steps: ``$ETCD_OPERATOR_IMAGE`` (the Deployment sets it to its
    own image) or the released image."""
    return os.environ.get("ETCD_OPERATOR_IMAGE", DEFAULT_OPERATOR_IMAGE)


def fetch_container(
    name: str, args: list[str], mounts: list[VolumeMount], env: list[EnvVar] | None = None
) -> Container:
    """A container of the operator's image running ``python -m etcd_operator.backup.fetch``
    with ``args`` (its first one names the step: ``save``, ``fetch``, ``copy``, ``install``)."""
    return Container(
        name=name,
        image=operator_image(),
        command=["python", "-m", "etcd_operator.backup.fetch"],
        args=args,
        env=env,
        volume_mounts=mounts,
    )


def progressed(
    restore: RestoreStatus | None, conditions: Sequence[Condition]
) -> RestoreStatus | None:
    """``status.restore`` after a reconcile: ``Restored`` once the restored cluster is
    Available (called by the reconciler's status writer, so no second writer races it)."""
    available = get_condition(list(conditions), "Available")
    if restore is None or restore.phase != "Restoring" or available is None:
        return restore
    if available.status != "True":
        return restore
    return restore.model_copy(
        update={"phase": "Restored", "message": "the cluster is Available on the snapshot's data"}
    )


def restore_plan(cluster: EtcdCluster) -> tuple[tuple[str, ...], frozenset[str]]:
    """The initial members of the restore the cluster is in, and those already created.

    A restore begins only on a cluster that never formed (``spec.bootstrap`` is read only at
    creation), with ``spec.size`` members; once ``Restoring``, its members are the recorded
    ones; ``Restored`` (or no ``fromBackup``) means no restore: ``((), frozenset())``.
    A ``Refused`` restore is tried again when the cluster is reconciled (a changed spec, or
    a fixed object).
    """
    source = cluster.spec.bootstrap.from_backup if cluster.spec.bootstrap else None
    status = cluster.status or EtcdClusterStatus()
    r = status.restore
    if source is None:
        return (), frozenset()
    if r is not None and r.phase == "Restoring":
        return tuple(r.members), frozenset(r.created)
    if (r is None or r.phase == "Refused") and not status.cluster_id:
        name = cluster.metadata.name or ""
        return tuple(pod_name(name, i) for i in range(cluster.spec.size)), frozenset()
    return (), frozenset()


async def prepare_member(
    ctx: Context, cluster: EtcdCluster, pod: Pod, members: Sequence[str]
) -> Pod:
    """Member ``pod`` with the steps restoring its data dir from the snapshot, for a cluster
    whose initial members are ``members``. The first call (no restore recorded yet) checks
    the object and records ``status.restore`` as ``Restoring``.

    Raises:
        RestoreRefused: the backup does not exist, did not succeed, or its object does not
            match its recorded hash (recorded in status and as a Warning Event first).
    """
    source = cluster.spec.bootstrap.from_backup if cluster.spec.bootstrap else None
    if source is None:
        return pod
    ns = cluster.metadata.namespace or "default"
    # Live, not cached: a restore recorded by the previous step must not be begun again.
    live = await ctx.client.get(EtcdCluster, cluster.metadata.name or "", ns)
    status = live.status or EtcdClusterStatus()
    label = source.backup_name or f"s3://{source.s3.bucket if source.s3 else ''}/{source.key}"
    s3: S3Destination | None = source.s3
    volume: VolumeDestination | None = None
    revision: int | None = None
    if s3 is not None and source.key is not None:
        key, sha256 = source.key, source.sha256
    else:
        backup = await _succeeded(ctx, cluster, source.backup_name or "")
        assert backup.status is not None
        s3, volume = backup.spec.destination.s3, backup.spec.destination.volume
        key = object_key(s3, backup.metadata.name or "") if s3 is not None else ""
        sha256, revision = backup.status.sha256, backup.status.revision
    out = pod.model_copy(deep=True)
    mounts = [VolumeMount(name="data", mount_path=DATA_DIR)]
    if s3 is not None:
        where = f"s3://{s3.bucket}/{key}"
        if not (status.restore is not None and status.restore.phase == "Restoring"):
            await _check_object(ctx, cluster, label, s3, key, sha256)
        fetch = _fetch_s3(s3, key, sha256, mounts)
    else:
        assert volume is not None and sha256  # the CRD requires exactly one of s3 and volume
        path = volume_file(volume.path, source.backup_name or "")
        where = f"pvc://{volume.claim_name}/{path}"
        # The operator cannot read the volume: the copy step checks the hashes, and a
        # mismatch stops the seed in its init container (its log names the file).
        copy_step = [
            "copy",
            f"--file={BACKUP_MOUNT}/{path}",
            f"--sha256={sha256}",
            f"--out={RESTORE_DIR}/snapshot.db",
        ]
        backup_mount = VolumeMount(name="backup", mount_path=BACKUP_MOUNT)
        fetch = fetch_container("restore-fetch", copy_step, [*mounts, backup_mount])
        out.spec.volumes = [
            *(out.spec.volumes or []),
            Volume(
                name="backup",
                persistent_volume_claim=PersistentVolumeClaimVolumeSource(
                    claim_name=volume.claim_name, read_only=True
                ),
            ),
        ]
    cname = cluster.metadata.name or ""
    if not (status.restore is not None and status.restore.phase == "Restoring"):
        await _write_restore(
            ctx,
            cluster,
            RestoreStatus(
                backup_name=label,
                phase="Restoring",
                message=f"restoring {len(members)} members from {where}",
                revision=revision,
                location=where,
                members=list(members),
            ),
        )
        await ctx.recorder.normal(
            cluster,
            "RestoreSnapshot",
            f"restoring members {', '.join(members)} from {where}, each from the snapshot",
        )
    main = pod.spec.containers[0]
    name = pod.metadata.name or ""
    # Restored members peer over the scheme the cluster's members run with (https under TLS);
    # the restore itself is offline (etcdutl on the data dir) and needs no certificate.
    scheme = tls.peer_scheme(cluster)
    url = peer_url(cname, ns, name, scheme)
    initial = ",".join(f"{m}={peer_url(cname, ns, m, scheme)}" for m in members)
    version = Version.parse(cluster.spec.version)
    tool = "etcdutl" if (version.major, version.minor) >= (3, 5) else "etcdctl"
    token = f"{ns}-{cluster.metadata.name}-{(cluster.metadata.uid or '')[:8]}"
    restore = Container(
        name="restore",
        image=main.image,
        command=[tool],
        args=[
            "snapshot",
            "restore",
            f"{RESTORE_DIR}/snapshot.db",
            f"--name={name}",
            f"--initial-cluster={initial}",
            f"--initial-cluster-token={token}",
            f"--initial-advertise-peer-urls={url}",
            f"--data-dir={RESTORE_DIR}/data",
        ],
        volume_mounts=mounts,
    )
    install = fetch_container(
        "restore-install", ["install", f"--from={RESTORE_DIR}", f"--to={DATA_DIR}/data"], mounts
    )
    out.spec.init_containers = [fetch, restore, install]
    return out


async def record_created(ctx: Context, cluster: EtcdCluster, pod: str) -> None:
    """Record in ``status.restore.created`` that member ``pod`` was created from the snapshot
    (read live and merged, so no earlier record is lost to a stale cache)."""
    ns = cluster.metadata.namespace or "default"
    live = await ctx.client.get(EtcdCluster, cluster.metadata.name or "", ns)
    r = live.status.restore if live.status else None
    if r is None or r.phase != "Restoring" or pod in r.created:
        return
    created = [m for m in r.members if m in {*r.created, pod}]
    await _write_restore(
        ctx,
        cluster,
        r.model_copy(
            update={
                "created": created,
                "message": f"{len(created)} of {len(r.members)} members created from {r.location}",
            }
        ),
    )


async def _succeeded(ctx: Context, cluster: EtcdCluster, name: str) -> EtcdBackup:
    """The ``EtcdBackup`` named by ``fromBackup``; refused unless it has succeeded."""
    ns = cluster.metadata.namespace or "default"
    try:
        backup = await ctx.client.get(EtcdBackup, name, ns)
    except NotFound:
        await _refuse(
            ctx,
            cluster,
            name,
            f"EtcdBackup {ns}/{name} (spec.bootstrap.fromBackup.backupName) does not exist",
        )
    b = backup.status
    if b is None or b.phase != "Succeeded" or not b.sha256:
        await _refuse(
            ctx,
            cluster,
            name,
            f"EtcdBackup {ns}/{name} has not succeeded (phase {b.phase if b else 'Pending'})",
        )
    return backup


async def _check_object(
    ctx: Context,
    cluster: EtcdCluster,
    backup: str,
    s3: S3Destination,
    key: str,
    sha256: str | None,
) -> None:
    """Stream the object once: refuse unless it is the intact snapshot the backup recorded."""
    ns = cluster.metadata.namespace or "default"
    try:
        config = await s3_config(ctx.client, ns, s3)
        digest = SnapshotDigest()
        async with S3Store(config) as store:
            async for chunk in store.download(key):
                digest.update(chunk)
        digest.verify()
        if sha256 is not None and digest.sha256 != sha256:
            raise SnapshotCorrupt(
                f"s3://{s3.bucket}/{key} has SHA-256 {digest.sha256}, but {backup} "
                f"recorded {sha256}: the object changed since"
            )
    except (StorageError, SnapshotCorrupt) as e:
        await _refuse(ctx, cluster, backup, f"cannot restore: {e}")


def _fetch_s3(
    s3: S3Destination, key: str, sha256: str | None, mounts: list[VolumeMount]
) -> Container:
    args = [
        "fetch",
        f"--bucket={s3.bucket}",
        f"--key={key}",
        f"--region={s3.region}",
        f"--out={RESTORE_DIR}/snapshot.db",
    ]
    if sha256:
        args.append(f"--sha256={sha256}")
    if s3.endpoint:
        args.append(f"--endpoint={s3.endpoint}")
    if s3.force_path_style:
        args.append("--path-style")
    env = [
        EnvVar(
            name=k,
            value_from=EnvVarSource(
                secret_key_ref=SecretKeySelector(name=s3.credentials_secret.name, key=k)
            ),
        )
        for k in (ACCESS_KEY, SECRET_KEY)
    ]
    return fetch_container("restore-fetch", args, mounts, env)


async def _refuse(ctx: Context, cluster: EtcdCluster, backup: str, message: str) -> NoReturn:
    """Record the refusal and raise :class:`RestoreRefused`."""
    status = (cluster.status or EtcdClusterStatus()).model_copy(deep=True)
    conditions: list[Condition] = list(status.conditions)
    set_condition(
        conditions, "Progressing", False, "RestoreRefused", message, cluster.metadata.generation
    )
    await ctx.client.patch_status(
        EtcdCluster,
        cluster.metadata.name or "",
        {
            "status": {
                "conditions": [c.to_dict() for c in conditions],
                "restore": RestoreStatus(
                    backup_name=backup, phase="Refused", message=message
                ).to_dict(),
            }
        },
        namespace=cluster.metadata.namespace,
        field_manager=FIELD_MANAGER,
    )
    await ctx.recorder.warning(cluster, "RestoreRefused", message)
    raise RestoreRefused(
        f"EtcdCluster {cluster.metadata.namespace}/{cluster.metadata.name}: {message}"
    )


async def _write_restore(ctx: Context, cluster: EtcdCluster, restore: RestoreStatus) -> None:
    await ctx.client.patch_status(
        EtcdCluster,
        cluster.metadata.name or "",
        {"status": {"restore": restore.to_dict()}},
        namespace=cluster.metadata.namespace,
        field_manager=FIELD_MANAGER,
    )
