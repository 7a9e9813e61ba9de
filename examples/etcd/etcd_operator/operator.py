"""The etcd operator assembled from opframe parts: one controller in a manager."""

from __future__ import annotations

import logging
from typing import Any

from etcd_operator.backup.controller import build_backup_controller
from etcd_operator.backup.models import EtcdBackup
from etcd_operator.backup.schedule import BackupScheduleReconciler, build_schedule_controller
from etcd_operator.metrics import ClusterMetrics
from etcd_operator.models import EtcdCluster
from etcd_operator.planner import Policy
from etcd_operator.reconciler import EtcdClusterReconciler
from etcd_operator.tls import CertificateMetrics
from opframe import (
    Client,
    ConfigMap,
    Controller,
    Forbidden,
    LeaderElectionConfig,
    Manager,
    NotFound,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    Resource,
    Secret,
    Service,
    annotations_changed,
    any_of,
    generation_changed,
    labels_changed,
    resource_info,
)

__all__ = ["backups_served", "build_controller", "build_controllers", "build_manager"]

_log = logging.getLogger("etcd_operator")


def build_controller(
    policy: Policy | None = None,
    *,
    reconciler: EtcdClusterReconciler | None = None,
    max_concurrent_reconciles: int = 4,
) -> Controller[EtcdCluster]:
    """The EtcdCluster controller: spec changes and every owned object's events trigger it.

    Status writes do not (``generation_changed``); member health that changes without any
    Kubernetes event is polled through ``Result.requeue_after``. ``reconciler`` replaces the
    default one (tests pass shorter intervals); ``policy`` is used only without it.
    """
    return (
        Controller(
            for_=EtcdCluster,
            reconciler=reconciler or EtcdClusterReconciler(policy),
            name="etcdcluster",
            max_concurrent_reconciles=max_concurrent_reconciles,
            predicates=[any_of(generation_changed, labels_changed, annotations_changed)],
        )
        .owns(Pod)
        .owns(Service)
        .owns(PodDisruptionBudget)
        .owns(PersistentVolumeClaim)
        .owns(ConfigMap)
        # The writes the reconciler makes: `opframe rbac generate` turns them into
        # deploy/rbac.yaml (tests/test_rbac_generated.py keeps the file in step).
        .permits(EtcdCluster, "patch", subresource="status")
        .permits(Pod, "create", "patch", "delete")
        .permits(Service, "create")
        .permits(PersistentVolumeClaim, "create", "delete")
        .permits(ConfigMap, "create", "patch")
        .permits(PodDisruptionBudget, "create", "patch")
        # spec.tls: Secrets read for the client certificate, written when generated.
        .permits(Secret, "get", "create", "update")
    )


def build_controllers(policy: Policy | None = None) -> list[Controller[Any]]:
    """Every controller of the operator as ``python -m etcd_operator run`` runs it: the
    EtcdCluster controller, the EtcdBackup controller and the backup schedule controller.

    ``deploy/rbac.yaml`` is generated from it
    (``opframe rbac generate etcd_operator.operator:build_controllers``).
    """
    return [build_controller(policy), build_backup_controller(), build_schedule_controller()]


def build_manager(
    client: Client,
    *,
    namespace: str | None = None,
    leader_election_namespace: str | None = None,
    health_address: tuple[str, int] | None = ("127.0.0.1", 0),
    metrics_address: tuple[str, int] | None = ("127.0.0.1", 0),
    policy: Policy | None = None,
    reconciler: EtcdClusterReconciler | None = None,
    backups: bool = False,
    schedule: BackupScheduleReconciler | None = None,
) -> Manager:
    """A manager running the EtcdCluster controller (with leader election if a namespace for
    its Lease is given) and, with ``backups`` (or a ``schedule``), the EtcdBackup controller
    and the backup schedule controller.

    The backup controllers watch ``EtcdBackup`` objects, so their CRD must be installed
    (``deploy/crd-backup.yaml``): the manager starts its controllers once every informer has
    synced. ``schedule`` replaces the schedule reconciler (tests pass a fake clock).
    """
    election = (
        LeaderElectionConfig(name="etcd-operator", namespace=leader_election_namespace)
        if leader_election_namespace
        else None
    )
    manager = Manager(
        client,
        leader_election=election,
        namespace=namespace,
        health_address=health_address,
        metrics_address=metrics_address,
    )
    reconciler = reconciler or EtcdClusterReconciler(policy)
    if reconciler.certificate_metrics is None:
        reconciler.certificate_metrics = CertificateMetrics(manager.metrics.registry)
    # Per-cluster series next to the controller metrics, on the same /metrics.
    reconciler.metrics = ClusterMetrics(manager.metrics.registry)
    manager.add(build_controller(policy, reconciler=reconciler))
    if backups or schedule is not None:
        manager.add(build_backup_controller())
        manager.add(build_schedule_controller(schedule))
    return manager


async def _served(client: Client, kind: type[Resource], namespace: str | None) -> bool:
    try:
        await client.request("GET", resource_info(kind).path(namespace), params={"limit": "1"})
    except (NotFound, Forbidden):
        return False
    return True


async def backups_served(client: Client, namespace: str | None = None) -> bool:
    """Whether the API server serves ``EtcdBackup`` to this operator, so the backup controllers
    can run; if not, say once, as a warning, that backups are off and how to turn them on.

    Without the CRD the backup controllers' informers could never sync, and the manager
    would start no controller at all: the operator must manage its EtcdClusters regardless.
    """
    try:
        await client.request(
            "GET", resource_info(EtcdBackup).path(namespace), params={"limit": "1"}
        )
    except NotFound:
        if not await _served(client, EtcdCluster, namespace):
            # Nothing to manage either: the manager's one-line error about the EtcdCluster CRD
            # is what the user must read first, without a warning about backups before it.
            return False
        _log.warning(
            "backups are off: the API server does not serve EtcdBackup (the CRD "
            "etcdbackups.etcd.opframe.dev is not installed); EtcdClusters are managed as usual. "
            "Install deploy/crd-backup.yaml ('python -m etcd_operator crd backup | kubectl apply "
            "-f -') and restart the operator to take backups"
        )
        return False
    except Forbidden:
        _log.warning(
            "backups are off: this operator may not list etcdbackups.etcd.opframe.dev; "
            "EtcdClusters are managed as usual. Apply deploy/rbac.yaml (the RBAC of "
            "build_controllers) and restart the operator to take backups"
        )
        return False
    return True
