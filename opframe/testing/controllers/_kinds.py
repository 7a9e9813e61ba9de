"""The kinds the controllers read and write, as raw resource classes.

The controllers work on the wire form of objects (dicts), as kube-controller-manager works on
the API types: a typed wrapper's defaults must never leak into a hashed pod template or a
template comparison. Each class declares only the REST identity; every other top-level field
(``spec``, ``status``) is kept as read (``extra="allow"``), so ``obj.to_dict()`` is what the
server sent. (When ``opframe.dynamic_kind`` lands on main these become one-liners on it.)
"""

from __future__ import annotations

from typing import Any

from opframe.resource import Resource

__all__ = [
    "ControllerRevision",
    "CronJob",
    "DaemonSet",
    "Deployment",
    "EndpointSlice",
    "Endpoints",
    "Job",
    "Namespace",
    "Node",
    "PersistentVolumeClaim",
    "Pod",
    "ReplicaSet",
    "Service",
    "ServiceAccount",
    "StatefulSet",
    "body",
    "from_body",
]


class Pod(Resource, version="v1", kind="Pod", builtin=True):
    """core/v1 Pod (raw)."""


class Service(Resource, version="v1", kind="Service", builtin=True):
    """core/v1 Service (raw)."""


class Endpoints(Resource, version="v1", kind="Endpoints", plural="endpoints", builtin=True):
    """core/v1 Endpoints (raw)."""


class Namespace(Resource, version="v1", kind="Namespace", scope="Cluster", builtin=True):
    """core/v1 Namespace (raw)."""


class Node(Resource, version="v1", kind="Node", scope="Cluster", builtin=True):
    """core/v1 Node (raw)."""


class ServiceAccount(Resource, version="v1", kind="ServiceAccount", builtin=True):
    """core/v1 ServiceAccount (raw)."""


class PersistentVolumeClaim(Resource, version="v1", kind="PersistentVolumeClaim", builtin=True):
    """core/v1 PersistentVolumeClaim (raw)."""


class Deployment(Resource, group="apps", version="v1", kind="Deployment", builtin=True):
    """apps/v1 Deployment (raw)."""


class ReplicaSet(Resource, group="apps", version="v1", kind="ReplicaSet", builtin=True):
    """apps/v1 ReplicaSet (raw)."""


class StatefulSet(Resource, group="apps", version="v1", kind="StatefulSet", builtin=True):
    """apps/v1 StatefulSet (raw)."""


class DaemonSet(Resource, group="apps", version="v1", kind="DaemonSet", builtin=True):
    """apps/v1 DaemonSet (raw)."""


class ControllerRevision(
    Resource, group="apps", version="v1", kind="ControllerRevision", builtin=True
):
    """apps/v1 ControllerRevision (raw)."""


class Job(Resource, group="batch", version="v1", kind="Job", builtin=True):
    """batch/v1 Job (raw)."""


class CronJob(Resource, group="batch", version="v1", kind="CronJob", builtin=True):
    """batch/v1 CronJob (raw)."""


class EndpointSlice(
    Resource, group="discovery.k8s.io", version="v1", kind="EndpointSlice", builtin=True
):
    """discovery.k8s.io/v1 EndpointSlice (raw)."""


def body(obj: Resource) -> dict[str, Any]:
    """The wire form of a cached object (a fresh dict, the caller's to change)."""
    return obj.to_dict()


def from_body(model: type[Resource], data: dict[str, Any]) -> Resource:
    """A raw resource object of ``model`` from its wire form."""
    return model.model_validate(data)
