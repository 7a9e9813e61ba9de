"""Stand-in for the built-in kinds module while it is written: types and minimal strategies."""

from __future__ import annotations

import re
from typing import Any, Protocol

from opframe.testing.apiserver.status import Cause, invalid
from opframe.testing.apiserver.types import ResourceType

__all__ = [
    "BUILTIN_TYPES",
    "BuiltinContext",
    "on_delete",
    "prepare_create",
    "prepare_update",
    "validate_object_meta",
]


class BuiltinContext(Protocol):
    """What built-in strategies may ask the server."""

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A stored core object."""

    def allocate_cluster_ip(self) -> str:
        """A free service IP."""

    def release_cluster_ip(self, ip: str) -> None:
        """Free a service IP."""


def _t(
    group: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    cats: tuple[str, ...] = (),
    subs: tuple[str, ...] = (),
    version: str = "v1",
    verbs: tuple[str, ...] | None = None,
) -> ResourceType:
    kw: dict[str, Any] = {}
    if verbs is not None:
        kw["verbs"] = verbs
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        list_kind=kind + "List",
        short_names=short,
        categories=cats,
        subresources=frozenset(subs),
        **kw,
    )


_NS_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _t("", "ConfigMap", "configmaps", short=("cm",)),
    _t("", "Endpoints", "endpoints", short=("ep",)),
    _t("", "Event", "events", short=("ev",)),
    _t("", "Namespace", "namespaces", False, ("ns",), subs=("status", "finalize"), verbs=_NS_VERBS),
    _t("", "Node", "nodes", False, ("no",), subs=("status",)),
    _t("", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), subs=("status",)),
    _t("", "Pod", "pods", short=("po",), cats=("all",), subs=("status", "log", "binding")),
    _t("", "Secret", "secrets"),
    _t("", "ServiceAccount", "serviceaccounts", short=("sa",)),
    _t("", "Service", "services", short=("svc",), cats=("all",), subs=("status",)),
    _t(
        "apps",
        "Deployment",
        "deployments",
        short=("deploy",),
        cats=("all",),
        subs=("status", "scale"),
    ),
    _t(
        "apps",
        "StatefulSet",
        "statefulsets",
        short=("sts",),
        cats=("all",),
        subs=("status", "scale"),
    ),
    _t("apps", "ReplicaSet", "replicasets", short=("rs",), cats=("all",), subs=("status", "scale")),
    _t("events.k8s.io", "Event", "events", short=("ev",)),
    _t("coordination.k8s.io", "Lease", "leases"),
    _t("policy", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",), subs=("status",)),
    _t(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ("crd", "crds"),
        subs=("status",),
    ),
    _t("rbac.authorization.k8s.io", "Role", "roles"),
    _t("rbac.authorization.k8s.io", "RoleBinding", "rolebindings"),
    _t("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", False),
    _t("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", False),
)

_DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def validate_object_meta(
    rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None = None
) -> list[Cause]:
    """Name checks only."""
    name = obj.get("metadata", {}).get("name", "")
    if not name:
        return [
            Cause(
                reason="FieldValueRequired",
                message="Required value: name or generateName is required",
                field="metadata.name",
            )
        ]
    if not _DNS1123_SUB.match(name) or len(name) > 253:
        return [
            Cause(
                reason="FieldValueInvalid",
                message=f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                "lower case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                field="metadata.name",
            )
        ]
    return []


def prepare_create(rt: ResourceType, obj: dict[str, Any], ctx: BuiltinContext) -> list[str]:
    """Namespace defaults and metadata validation."""
    causes = validate_object_meta(rt, obj)
    if causes:
        raise invalid(rt.kind, obj["metadata"].get("name", ""), causes, rt.group)
    if rt.plural == "namespaces" and rt.group == "":
        m = obj["metadata"]
        m.setdefault("labels", {})["kubernetes.io/metadata.name"] = m["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    if rt.plural == "pods" and rt.group == "":
        obj.setdefault("status", {})["phase"] = "Pending"
    return []


def prepare_update(
    rt: ResourceType,
    new: dict[str, Any],
    old: dict[str, Any],
    ctx: BuiltinContext,
    subresource: str = "",
) -> list[str]:
    """Status split for kinds with a status subresource."""
    if "status" in rt.subresources:
        if subresource == "status":
            for k in list(new):
                if k not in ("status", "metadata", "kind", "apiVersion"):
                    del new[k]
            for k, v in old.items():
                if k not in ("status", "metadata"):
                    new[k] = v
        elif "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    return []


def on_delete(rt: ResourceType, obj: dict[str, Any], ctx: BuiltinContext) -> None:
    """Nothing to release."""
