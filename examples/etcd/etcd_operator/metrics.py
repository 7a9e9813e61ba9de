"""Per-cluster metrics on the operator's ``/metrics``: what each etcd cluster looks like.

Registered in the manager's registry (``Manager.metrics.registry``), so they are served next
to opframe's controller metrics. Every series carries ``namespace`` and ``cluster``; member
series add ``member`` (the pod name), alarm series ``type``. The series of a deleted cluster,
and of a member that left, are removed. Alert rules over them live in
``examples/etcd/deploy/monitoring/`` (docs/etcd-day2.md)::

    metrics = ClusterMetrics(manager.metrics.registry)
    metrics.update(cluster, view, db, status)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from etcd_operator.maintenance import DBObserved
from etcd_operator.models import EtcdCluster, EtcdClusterStatus
from etcd_operator.observe import View
from etcd_operator.planner import quorum

__all__ = ["ClusterMetrics"]

_CLUSTER = ("namespace", "cluster")
_ALARM_TYPES = ("NOSPACE", "CORRUPT")


class ClusterMetrics:
    """The ``etcd_cluster_*`` and ``etcd_member_*`` families of one operator."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, doc: str, labels: tuple[str, ...] = _CLUSTER) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        self.desired = gauge("etcd_cluster_members_desired", "Voting members spec.size asks for")
        self.ready = gauge("etcd_cluster_members_ready", "Started, healthy voting members")
        self.healthy = gauge("etcd_cluster_members_healthy", "Members reporting healthy")
        self.learners = gauge("etcd_cluster_learners", "Learner members")
        self.has_quorum = gauge("etcd_cluster_has_quorum", "1 if healthy voters reach quorum")
        self.has_leader = gauge("etcd_cluster_has_leader", "1 if a member reports a leader")
        self.leader_changes = Counter(
            "etcd_cluster_leader_changes",
            "Leader changes the operator observed",
            _CLUSTER,
            registry=registry,
        )
        self.quota = gauge("etcd_cluster_quota_bytes", "Backend quota of every member")
        self.alarms = gauge(
            "etcd_cluster_alarms", "Raised etcd alarms by type", (*_CLUSTER, "type")
        )
        self.last_backup = gauge(
            "etcd_cluster_last_backup_timestamp_seconds",
            "Completion time of the last successful EtcdBackup (Unix seconds)",
        )
        self.db_size = gauge(
            "etcd_member_db_size_bytes", "Database file size", (*_CLUSTER, "member")
        )
        self.db_in_use = gauge(
            "etcd_member_db_size_in_use_bytes", "Database bytes in use", (*_CLUSTER, "member")
        )
        self._members: dict[tuple[str, str], set[str]] = {}
        self._leaders: dict[tuple[str, str], int] = {}

    def update(
        self,
        cluster: EtcdCluster,
        view: View,
        db: DBObserved | None,
        status: EtcdClusterStatus,
    ) -> None:
        """Set every series of ``cluster`` from one reconcile's observation."""
        key = (cluster.namespace or "", cluster.name)
        labels = dict(zip(_CLUSTER, key, strict=True))
        members = view.observed.members or ()
        voters = [m for m in members if not m.learner]
        healthy_voters = sum(m.healthy for m in voters)
        self.desired.labels(**labels).set(cluster.spec.size)
        self.ready.labels(**labels).set(status.ready_members)
        self.healthy.labels(**labels).set(sum(m.healthy for m in members))
        self.learners.labels(**labels).set(sum(m.learner for m in members))
        self.has_quorum.labels(**labels).set(
            int(bool(voters) and healthy_voters >= quorum(len(voters)))
        )
        leader = next((m.id for m in members if m.leader), 0)
        self.has_leader.labels(**labels).set(int(bool(leader)))
        counter = self.leader_changes.labels(**labels)
        previous = self._leaders.get(key)
        if leader and previous is not None and previous != leader:
            counter.inc()
        if leader:
            self._leaders[key] = leader
        if db is not None:
            self.quota.labels(**labels).set(db.quota)
            for kind in _ALARM_TYPES:
                count = sum(1 for _, k in db.alarms if k == kind)
                self.alarms.labels(**labels, type=kind).set(count)
        seen = set()
        for pod, s in view.statuses.items():
            seen.add(pod)
            self.db_size.labels(**labels, member=pod).set(s.db_size)
            self.db_in_use.labels(**labels, member=pod).set(s.db_size_in_use)
        for gone in self._members.get(key, set()) - seen:
            self._remove_member(key, gone)
        self._members[key] = seen
        backup = status.maintenance.last_backup_time if status.maintenance else None
        if backup is not None:
            self.last_backup.labels(**labels).set(backup.timestamp())

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of a deleted cluster."""
        key = (namespace, name)
        for gauge in (
            self.desired,
            self.ready,
            self.healthy,
            self.learners,
            self.has_quorum,
            self.has_leader,
            self.quota,
            self.last_backup,
        ):
            _remove(gauge, key)
        _remove(self.leader_changes, key)
        for kind in _ALARM_TYPES:
            _remove(self.alarms, (*key, kind))
        for member in self._members.pop(key, set()):
            self._remove_member(key, member)
        self._leaders.pop(key, None)

    def _remove_member(self, key: tuple[str, str], member: str) -> None:
        _remove(self.db_size, (*key, member))
        _remove(self.db_in_use, (*key, member))


def _remove(metric: Gauge | Counter, labels: tuple[str, ...]) -> None:
    try:
        metric.remove(*labels)
    except KeyError:
        pass  # never set: nothing to remove
