"""Typed wrappers for the built-in kinds operators work with.

They type the fields operators read and write (a pod's containers, probes and volumes, its
phase and IP, a Service's ports, a Job's completions, an Ingress's rules, a Role's rules...)
and keep every other field as it came (``extra="allow"``), so an object read, changed and
written back loses nothing. They are :class:`~opframe.resource.Resource` classes declared
``builtin=True``: CRD generation skips them. Every kind and its nested types are here; the
common kinds are also exported by :mod:`opframe`::

    pod = Pod(
        metadata=ObjectMeta(name="etcd-0", namespace="default"),
        spec=PodSpec(containers=[Container(name="etcd", image="quay.io/coreos/etcd:v3.5.1")]),
    )

- core (``v1``, storage, policy, coordination): Pod, Namespace, ConfigMap, Secret,
  ServiceAccount, Service, Endpoints, Event, Lease, PersistentVolumeClaim,
  PodDisruptionBudget, Node;
- workloads (``apps/v1``, ``batch/v1``): Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
  CronJob;
- networking (``networking.k8s.io/v1``): Ingress, NetworkPolicy;
- RBAC (``rbac.authorization.k8s.io/v1``): Role, ClusterRole, RoleBinding, ClusterRoleBinding;
- autoscaling (``autoscaling/v2``): HorizontalPodAutoscaler.
"""

from __future__ import annotations

from opframe._pod_parts import *  # noqa: F403
from opframe._pod_parts import __all__ as _pod_parts
from opframe.kinds._autoscaling import *  # noqa: F403
from opframe.kinds._autoscaling import __all__ as _autoscaling
from opframe.kinds._core import *  # noqa: F403
from opframe.kinds._core import __all__ as _core
from opframe.kinds._networking import *  # noqa: F403
from opframe.kinds._networking import __all__ as _networking
from opframe.kinds._rbac import *  # noqa: F403
from opframe.kinds._rbac import __all__ as _rbac
from opframe.kinds._workloads import *  # noqa: F403
from opframe.kinds._workloads import __all__ as _workloads

__all__ = sorted({*_pod_parts, *_core, *_workloads, *_networking, *_rbac, *_autoscaling})
