"""A backup before each upgrade (``spec.backup.beforeUpgrade``).

When the planner's next step is the first member's upgrade to a version, the step waits until
an ``EtcdBackup`` ``<cluster>-before-v<version>`` (owned by the cluster, not pruned by
retention) has succeeded; the reconciler calls :func:`gate` with the planned step. A failed
backup holds the upgrade (``Progressing`` names the backup and its reason) until the user
deletes that ``EtcdBackup`` to try again, or unsets ``beforeUpgrade``. Needs the backup
controllers (``run --backups``).
"""

from __future__ import annotations

from etcd_operator.actions import Action, UpgradeMember, Wait
from etcd_operator.backup.models import BackupPhase, EtcdBackup
from etcd_operator.builders import LABEL_CLUSTER
from etcd_operator.models import EtcdCluster
from opframe import AlreadyExists, Context, NotFound, ObjectMeta, owner_reference_for

__all__ = ["gate", "pre_upgrade_name"]


def pre_upgrade_name(cluster: str, version: str) -> str:
    """``demo-before-v3-5-1``."""
    return f"{cluster}-before-v{version.replace('.', '-')}"


async def gate(ctx: Context, cluster: EtcdCluster, action: Action) -> Action:
    """``action``, or a :class:`Wait` while the pre-upgrade backup has not succeeded."""
    spec = cluster.spec.backup
    if not isinstance(action, UpgradeMember) or spec is None or not spec.before_upgrade:
        return action
    ns, name = cluster.metadata.namespace or "default", cluster.metadata.name or ""
    backup_name = pre_upgrade_name(name, action.version)
    try:
        backup = await ctx.client.get(EtcdBackup, backup_name, ns)
    except NotFound:
        backup = EtcdBackup.model_validate(
            {
                "metadata": ObjectMeta(
                    name=backup_name,
                    namespace=ns,
                    labels={LABEL_CLUSTER: name},
                    owner_references=[owner_reference_for(cluster)],
                ).to_dict(),
                "spec": {"clusterName": name, "destination": spec.destination.to_dict()},
            }
        )
        try:
            await ctx.client.create(backup, field_manager="etcd-operator")
        except AlreadyExists:
            pass
        return Wait(f"taking EtcdBackup {backup_name} before upgrading to {action.version}")
    status = backup.status
    if status is not None and status.phase == BackupPhase.SUCCEEDED:
        return action
    if status is not None and status.phase == BackupPhase.FAILED:
        failed = next((c for c in status.conditions if c.type == "Failed"), None)
        why = f"{failed.reason}: {failed.message}" if failed else "failed"
        return Wait(
            f"upgrade to {action.version} held: EtcdBackup {backup_name} {why} "
            "(delete it to try again, or unset spec.backup.beforeUpgrade)",
            code="PreUpgradeBackupFailed",
        )
    return Wait(f"waiting for EtcdBackup {backup_name} before upgrading to {action.version}")
