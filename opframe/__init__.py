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
        client = await Client.default()     # kubeconfig, or the pod's service account
        manager = Manager(client)
        manager.add(Controller(for_=Web, reconciler=reconcile))
        await manager.run()
"""

from __future__ import annotations

from opframe.cache import INDEX_NAMESPACE, INDEX_OWNER, Cache, Handler, Informer, Store
from opframe.client import (
    ApiConnectionError,
    Client,
    ConnectionConfig,
    FieldValidation,
    PatchType,
    RetryPolicy,
    WriteObserver,
)
from opframe.conditions import (
    ConditionStatus,
    get_condition,
    is_false,
    is_true,
    remove_condition,
    set_condition,
)
from opframe.controller import Controller, RunningController, Source
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
    MethodNotAllowed,
    NotFound,
    OpframeError,
    SchemaError,
    ServerError,
    TerminalError,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
)
from opframe.events import EventRecorder, EventType
from opframe.fencing import Fence, NotLeader
from opframe.finalizers import ensure_finalizer, finalize, has_finalizer, remove_finalizer
from opframe.handlers import (
    EventMapper,
    Mapper,
    enqueue_for_object,
    enqueue_for_owner,
    enqueue_mapped,
)
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
from opframe.leaderelection import (
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
    default_identity,
)
from opframe.manager import Check, Manager
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
    PredicateLike,
    all_of,
    annotations_changed,
    any_of,
    generation_changed,
    labels_changed,
    not_,
    predicate,
    resource_version_changed,
)
from opframe.queue import QueueMetricsSink, QueueShutDown, WorkQueue
from opframe.ratelimit import (
    BucketRateLimiter,
    ExponentialBackoffRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_rate_limiter,
)
from opframe.reconcile import (
    Context,
    DeletionReconciler,
    Reason,
    ReasonSource,
    ReconcileFunc,
    Reconciler,
    Result,
)
from opframe.reflector import ChangeType, Reflector, ResourceEvent, reflect
from opframe.resource import (
    Condition,
    Conditions,
    KubeModel,
    ListMeta,
    MicroTime,
    ObjectMeta,
    OwnerReference,
    Resource,
    ResourceInfo,
    ResourceList,
    ResourceOptions,
    Time,
    resource_info,
)
from opframe.runner import ManagerFactory, RunOptions, StartupError, run_main, run_manager
from opframe.watch import Backoff, Change, Watcher, WatcherEvent, WatchStats, watch

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
    "BucketRateLimiter",
    "Cache",
    "Change",
    "ChangeType",
    "Check",
    "Client",
    "Condition",
    "ConditionStatus",
    "Conditions",
    "ConfigError",
    "ConfigMap",
    "Conflict",
    "ConnectionConfig",
    "Context",
    "Controller",
    "DeletionReconciler",
    "Deployment",
    "DynamicResource",
    "Endpoints",
    "EventMapper",
    "EventRecorder",
    "EventType",
    "ExponentialBackoffRateLimiter",
    "Fence",
    "FieldCause",
    "FieldValidation",
    "Forbidden",
    "Gone",
    "Handler",
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
    "Mapper",
    "MaxOfRateLimiter",
    "MethodNotAllowed",
    "Metrics",
    "MicroTime",
    "Namespace",
    "Node",
    "NotFound",
    "NotLeader",
    "ObjectMeta",
    "ObjectRef",
    "OpframeError",
    "OwnerReference",
    "PatchType",
    "PersistentVolumeClaim",
    "Pod",
    "PodDisruptionBudget",
    "Predicate",
    "PredicateLike",
    "QueueMetricsSink",
    "QueueShutDown",
    "RateLimiter",
    "Reason",
    "ReasonSource",
    "ReconcileFunc",
    "Reconciler",
    "Reflector",
    "Resource",
    "ResourceEvent",
    "ResourceInfo",
    "ResourceList",
    "ResourceOptions",
    "Result",
    "RetryPolicy",
    "RunOptions",
    "RunningController",
    "SchemaError",
    "Secret",
    "ServerError",
    "Service",
    "ServiceAccount",
    "Source",
    "StartupError",
    "StatefulSet",
    "Store",
    "TerminalError",
    "Time",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "WatchStats",
    "Watcher",
    "WatcherEvent",
    "WorkQueue",
    "WriteObserver",
    "__version__",
    "all_of",
    "annotations_changed",
    "any_of",
    "controller_of",
    "crd_for",
    "crd_yaml",
    "crds_for",
    "default_identity",
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
    "reflect",
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
