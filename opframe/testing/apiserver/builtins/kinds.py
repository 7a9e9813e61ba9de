"""The built-in resources the embedded API server serves, with their discovery data.

Names, short names, categories, verbs and subresources are those kube-apiserver 1.36
publishes. ``ResourceType.extra`` carries what the REST layer needs beyond discovery:

- ``name_validation``: the naming policy of :func:`~.meta.validate_name`;
- ``storage_version_hash``: the discovery ``storageVersionHash``;
- ``storage``: ``(group, plural)`` of the resource whose storage this one shares (both Event
  APIs store into ``("", "events")``; the object is kept in core/v1 form and converted with
  :func:`~.events.convert_event`);
- ``subresource_verbs`` and ``subresource_kinds``: discovery data of each subresource
  (``kinds`` maps to ``(group, version, kind)``; missing means the parent kind);
- ``default_propagation``: ``Orphan`` for kinds whose strategy orphans dependents when a
  delete names no policy (core/v1 ReplicationControllers, batch/v1 Jobs);
- ``delete_warning``: the Warning such a delete answers with (Jobs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opframe.testing.apiserver.builtins.autoscaling import convert_hpa
from opframe.testing.apiserver.builtins.meta import (
    NAME_DNS1035_LABEL,
    NAME_DNS_LABEL,
    NAME_DNS_SUBDOMAIN,
    NAME_PATH_SEGMENT,
)
from opframe.testing.apiserver.http.discovery import storage_version_hash
from opframe.testing.apiserver.registry.resource_type import ResourceType

__all__ = ["BUILTIN_TYPES", "builtin_type"]

_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_NO_COLLECTION_DELETE = ("create", "delete", "get", "list", "patch", "update", "watch")
_STATUS_VERBS = ("get", "patch", "update")
_SUBRESOURCE_VERBS = {
    "status": _STATUS_VERBS,
    "scale": _STATUS_VERBS,
    "log": ("get",),
    "binding": ("create",),
    "eviction": ("create",),
    "finalize": ("update",),
    "token": ("create",),
    "exec": ("create", "get"),
    "attach": ("create", "get"),
    "portforward": ("create", "get"),
}
_SUBRESOURCE_KINDS = {
    "scale": ("autoscaling", "v1", "Scale"),
    "eviction": ("policy", "v1", "Eviction"),
    "binding": ("", "v1", "Binding"),
    "token": ("authentication.k8s.io", "v1", "TokenRequest"),
    "exec": ("", "v1", "PodExecOptions"),
    "attach": ("", "v1", "PodAttachOptions"),
    "portforward": ("", "v1", "PodPortForwardOptions"),
}


def _rt(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    verbs: tuple[str, ...] = _ALL_VERBS,
    names: str = NAME_DNS_SUBDOMAIN,
    storage: tuple[str, str] | None = None,
    storage_gvk: tuple[str, str, str] | None = None,
    orphan: bool = False,
    delete_warning: str = "",
    convert: Callable[[dict[str, Any], str], dict[str, Any]] | None = None,
) -> ResourceType:
    extra: dict[str, Any] = {
        "name_validation": names,
        "storage_version_hash": storage_version_hash(*(storage_gvk or (group, version, kind))),
        "subresource_verbs": {s: _SUBRESOURCE_VERBS[s] for s in sub},
        "subresource_kinds": {s: _SUBRESOURCE_KINDS[s] for s in sub if s in _SUBRESOURCE_KINDS},
    }
    if storage is not None:
        extra["storage"] = storage
    if orphan:
        # DefaultGarbageCollectionPolicy of the kind's strategy: dependents are orphaned.
        extra["default_propagation"] = "Orphan"
    if delete_warning:
        extra["delete_warning"] = delete_warning
    if convert is not None:
        # Several served versions share one storage version; ``convert(obj, apiVersion)``.
        extra["convert"] = convert
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        list_kind=f"{kind}List",
        short_names=short,
        categories=categories,
        verbs=verbs,
        subresources=frozenset(sub),
        storage_version=storage_gvk[1] if storage_gvk and convert else version,
        extra=extra,
    )


_RBAC = "rbac.authorization.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"
_JOB_DELETE_WARNING = (
    "child pods are preserved by default when jobs are deleted; set "
    "propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress "
    "this warning"
)
_EVENTS_STORAGE = ("", "events")

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _rt("", "v1", "Namespace", "namespaces", namespaced=False, short=("ns",),
        sub=("status", "finalize"), verbs=_NO_COLLECTION_DELETE, names=NAME_DNS_LABEL),
    _rt("", "v1", "Pod", "pods", short=("po",), categories=("all",),
        sub=("status", "log", "binding", "eviction", "exec", "attach", "portforward")),
    _rt("", "v1", "Service", "services", short=("svc",), categories=("all",), sub=("status",),
        names=NAME_DNS1035_LABEL),
    _rt("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _rt("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _rt("", "v1", "Secret", "secrets"),
    _rt("", "v1", "Event", "events", short=("ev",), names=NAME_PATH_SEGMENT,
        storage=_EVENTS_STORAGE),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",), sub=("token",)),
    _rt("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",),
        sub=("status",)),
    _rt("", "v1", "Node", "nodes", namespaced=False, short=("no",), sub=("status",)),
    _rt("apps", "v1", "Deployment", "deployments", short=("deploy",), categories=("all",),
        sub=("status", "scale")),
    _rt("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), categories=("all",),
        sub=("status", "scale")),
    _rt("", "v1", "ReplicationController", "replicationcontrollers", short=("rc",),
        categories=("all",), sub=("status", "scale"), orphan=True),
    _rt("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), categories=("all",),
        sub=("status", "scale")),
    _rt("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), categories=("all",),
        sub=("status",)),
    _rt("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _rt("batch", "v1", "Job", "jobs", categories=("all",), sub=("status",), orphan=True,
        delete_warning=_JOB_DELETE_WARNING),
    _rt("batch", "v1", "CronJob", "cronjobs", short=("cj",), categories=("all",),
        sub=("status",)),
    _rt("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _rt("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    _rt("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), sub=("status",)),
    _rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _rt("", "v1", "LimitRange", "limitranges", short=("limits",)),
    _rt("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short=("pv",),
        sub=("status",)),
    _rt("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), sub=("status",)),
    _rt("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
        short=("hpa",), categories=("all",), sub=("status",), convert=convert_hpa),
    _rt("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
        short=("hpa",), categories=("all",), sub=("status",), convert=convert_hpa,
        storage_gvk=("autoscaling", "v2", "HorizontalPodAutoscaler")),
    _rt("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False,
        short=("sc",)),
    _rt(_ADMISSION, "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
        namespaced=False, categories=("api-extensions",)),
    _rt(_ADMISSION, "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
        namespaced=False, categories=("api-extensions",)),
    _rt(_ADMISSION, "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies",
        namespaced=False, categories=("api-extensions",), sub=("status",)),
    _rt(_ADMISSION, "v1", "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings", namespaced=False, categories=("api-extensions",)),
    _rt("coordination.k8s.io", "v1", "Lease", "leases"),
    _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",),
        sub=("status",)),
    _rt("events.k8s.io", "v1", "Event", "events", short=("ev",), storage=_EVENTS_STORAGE,
        storage_gvk=("", "v1", "Event")),
    # The review APIs (answered by apiserver.auth; create only, never stored).
    _rt("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews",
        verbs=("create",)),
    _rt("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
        namespaced=False, verbs=("create",)),
    _rt("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews",
        namespaced=False, verbs=("create",)),
    _rt("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews",
        namespaced=False, verbs=("create",)),
    _rt("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews",
        namespaced=False, verbs=("create",)),
    _rt("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", namespaced=False,
        verbs=("create",)),
    _rt(_RBAC, "v1", "Role", "roles", names=NAME_PATH_SEGMENT),
    _rt(_RBAC, "v1", "RoleBinding", "rolebindings", names=NAME_PATH_SEGMENT),
    _rt(_RBAC, "v1", "ClusterRole", "clusterroles", namespaced=False, names=NAME_PATH_SEGMENT),
    _rt(_RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False,
        names=NAME_PATH_SEGMENT),
    _rt("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
        namespaced=False, short=("crd", "crds"), categories=("api-extensions",),
        sub=("status",)),
)  # fmt: skip

# The first version listed is the preferred one (autoscaling/v2 before v1).
_BY_KEY: dict[tuple[str, str], ResourceType] = {}
for _type in BUILTIN_TYPES:
    _BY_KEY.setdefault((_type.group, _type.plural), _type)


def builtin_type(group: str, plural: str) -> ResourceType | None:
    """The built-in resource ``plural`` of ``group`` (``""`` for core) at its preferred
    version, if we serve it."""
    return _BY_KEY.get((group, plural))
