"""opframe: an asyncio framework for Kubernetes operators.

The public API is what this module exports, plus two public modules with many small names:
:mod:`opframe.kinds` (typed built-in kinds: ``Pod``, ``Service``, ...) and :mod:`opframe.crd`
(schema markers and CRD generation). Everything else is private.

A minimal operator::

    from opframe import Client, Context, Controller, Manager, Resource, Result

    class Web(Resource, group="demo.example.com", version="v1"):
        spec: WebSpec

    async def reconcile(ctx: Context, web: Web) -> Result | None:
        ...

    async def main() -> None:
        client = await Client.from_kubeconfig()
        manager = Manager(client)
        manager.add(Controller(for_=Web, reconciler=reconcile))
        await manager.run()
"""

from __future__ import annotations

from opframe.cache import INDEX_NAMESPACE, INDEX_OWNER, Cache, Informer, Store
from opframe.client import ApiConnectionError, Client, PatchType, RetryPolicy
from opframe.conditions import get_condition, is_false, is_true, remove_condition, set_condition
from opframe.controller import Controller
from opframe.crd import crd_for, crd_yaml, crds_for, install_crds
from opframe.dynamic import DynamicResource, dynamic_kind
from opframe.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    ConfigError,
    Conflict,
    FieldCause,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    OpframeError,
    SchemaError,
    ServerError,
    TerminalError,
    TooManyRequests,
    Unauthorized,
)
from opframe.events import EventRecorder
from opframe.finalizers import ensure_finalizer, finalize, has_finalizer, remove_finalizer
from opframe.handlers import enqueue_for_object, enqueue_for_owner, enqueue_mapped
from opframe.kinds import (
    ConfigMap,
    Deployment,
    Endpoints,
    Lease,
    Namespace,
    Node,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    Secret,
    Service,
    ServiceAccount,
    StatefulSet,
)
from opframe.leaderelection import LeaderElectionConfig, LeaderElector, LeadershipLost
from opframe.manager import Manager
from opframe.metrics import Metrics
from opframe.objectref import ObjectRef
from opframe.ownership import (
    AlreadyOwnedError,
    controller_of,
    is_controlled_by,
    owner_reference_for,
    set_controller_reference,
    set_owner_reference,
)
from opframe.predicates import (
    Predicate,
    all_of,
    annotations_changed,
    any_of,
    generation_changed,
    labels_changed,
    not_,
    predicate,
    resource_version_changed,
)
from opframe.queue import WorkQueue
from opframe.ratelimit import RateLimiter, default_rate_limiter
from opframe.reconcile import (
    Context,
    DeletionReconciler,
    Reason,
    ReasonSource,
    Reconciler,
    Result,
)
from opframe.resource import (
    Condition,
    Conditions,
    KubeModel,
    ListMeta,
    ObjectMeta,
    OwnerReference,
    Resource,
    ResourceInfo,
    ResourceList,
    Time,
    resource_info,
)
from opframe.runner import ManagerFactory, RunOptions, StartupError, run_main, run_manager
from opframe.watch import Backoff, Watcher, WatchStats, watch
from opframe.watch import Event as WatchEvent

__version__ = "0.1.0"

__all__ = [
    "INDEX_NAMESPACE",
    "INDEX_OWNER",
    "AlreadyExists",
    "AlreadyOwnedError",
    "ApiConnectionError",
    "ApiError",
    "Backoff",
    "BadRequest",
    "Cache",
    "Client",
    "Condition",
    "Conditions",
    "ConfigError",
    "ConfigMap",
    "Conflict",
    "Context",
    "Controller",
    "DeletionReconciler",
    "Deployment",
    "DynamicResource",
    "Endpoints",
    "EventRecorder",
    "FieldCause",
    "Forbidden",
    "Gone",
    "Informer",
    "Invalid",
    "KubeModel",
    "LeaderElectionConfig",
    "LeaderElector",
    "LeadershipLost",
    "Lease",
    "ListMeta",
    "Manager",
    "ManagerFactory",
    "Metrics",
    "Namespace",
    "Node",
    "NotFound",
    "ObjectMeta",
    "ObjectRef",
    "OpframeError",
    "OwnerReference",
    "PatchType",
    "PersistentVolumeClaim",
    "Pod",
    "PodDisruptionBudget",
    "Predicate",
    "RateLimiter",
    "Reason",
    "ReasonSource",
    "Reconciler",
    "Resource",
    "ResourceInfo",
    "ResourceList",
    "Result",
    "RetryPolicy",
    "RunOptions",
    "SchemaError",
    "Secret",
    "ServerError",
    "Service",
    "ServiceAccount",
    "StartupError",
    "StatefulSet",
    "Store",
    "TerminalError",
    "Time",
    "TooManyRequests",
    "Unauthorized",
    "WatchEvent",
    "WatchStats",
    "Watcher",
    "WorkQueue",
    "__version__",
    "all_of",
    "annotations_changed",
    "any_of",
    "controller_of",
    "crd_for",
    "crd_yaml",
    "crds_for",
    "default_rate_limiter",
    "dynamic_kind",
    "enqueue_for_object",
    "enqueue_for_owner",
    "enqueue_mapped",
    "ensure_finalizer",
    "finalize",
    "generation_changed",
    "get_condition",
    "has_finalizer",
    "install_crds",
    "is_controlled_by",
    "is_false",
    "is_true",
    "labels_changed",
    "not_",
    "owner_reference_for",
    "predicate",
    "remove_condition",
    "remove_finalizer",
    "resource_info",
    "resource_version_changed",
    "run_main",
    "run_manager",
    "set_condition",
    "set_controller_reference",
    "set_owner_reference",
    "watch",
]
