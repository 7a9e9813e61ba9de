"""The kinds with few rules: Namespaces, Nodes, ServiceAccounts, PersistentVolumeClaims,
Leases, Endpoints and RBAC objects."""

from __future__ import annotations

import copy
from typing import Any

from opframe.testing.apiserver.builtins.meta import frozen_spec_causes
from opframe.testing.apiserver.builtins.quantity import canonicalize_resource_list
from opframe.testing.apiserver.builtins.volumes import access_mode_causes
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import (
    forbidden,
    invalid,
    not_supported,
    required,
)

__all__ = [
    "default_namespace",
    "default_pvc",
    "default_subjects",
    "prepare_namespace_update",
    "validate_binding",
    "validate_binding_update",
    "validate_lease",
    "validate_namespace",
    "validate_pvc",
    "validate_pvc_update",
    "validate_role",
]

_RBAC = "rbac.authorization.k8s.io"
_STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def default_namespace(ns: dict[str, Any]) -> None:
    """Label ``kubernetes.io/metadata.name`` (a scheme default, so owned by the writer)."""
    meta = ns.setdefault("metadata", {})
    name = meta.get("name")
    if name:
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name


def prepare_namespace_create(ns: dict[str, Any]) -> None:
    """Create strategy: finalizer ``kubernetes``, phase ``Active``."""
    ns["spec"] = {"finalizers": ["kubernetes"]}
    ns["status"] = {"phase": "Active"}


def prepare_namespace_update(new: dict[str, Any], old: dict[str, Any], subresource: str) -> None:
    """Main endpoint keeps spec.finalizers and status; ``/finalize`` only changes finalizers;
    ``/status`` only the status."""
    if subresource == "finalize":
        finalizers = (new.get("spec") or {}).get("finalizers")
        new["status"] = copy.deepcopy(old.get("status"))
        new["spec"] = {"finalizers": finalizers} if finalizers else {}
        return
    if subresource == "status":
        new["spec"] = copy.deepcopy(old.get("spec") or {})
        return
    new["spec"] = copy.deepcopy(old.get("spec") or {})
    new["status"] = copy.deepcopy(old.get("status") or {})


def validate_namespace(ns: dict[str, Any]) -> list[Cause]:
    """``spec.finalizers`` must be standard or domain-qualified names."""
    causes: list[Cause] = []
    for i, f in enumerate((ns.get("spec") or {}).get("finalizers") or []):
        if "/" not in f and f not in _STANDARD_FINALIZERS:
            causes.append(
                invalid(
                    f"spec.finalizers[{i}]",
                    f,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return causes


def default_pvc(pvc: dict[str, Any]) -> None:
    """``volumeMode: Filesystem``, ``status.phase: Pending``, canonical quantities."""
    spec = pvc.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    for part in ("requests", "limits"):
        resources = (spec.get("resources") or {}).get(part)
        canonicalize_resource_list(resources, "PersistentVolumeClaim")
    status = pvc.get("status")
    if not isinstance(status, dict):
        pvc["status"] = status = {}
    status.setdefault("phase", "Pending")


def validate_pvc(pvc: dict[str, Any]) -> list[Cause]:
    """Access modes and a storage request are required."""
    spec = pvc.get("spec") or {}
    causes: list[Cause] = []
    causes.extend(access_mode_causes(spec.get("accessModes"), "at least 1 access mode is required"))
    if "storage" not in ((spec.get("resources") or {}).get("requests") or {}):
        causes.append(required("spec.resources[storage]"))
    return causes


def validate_pvc_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """A claim's spec is immutable except its requests and volume attributes class."""
    return frozen_spec_causes(
        new,
        old,
        ("resources", "volumeAttributesClassName", "volumeName"),
        "spec is immutable after creation except resources.requests and "
        "volumeAttributesClassName for bound claims",
    )


def validate_lease(lease: dict[str, Any]) -> list[Cause]:
    """``ValidateLeaseSpec``: positive duration, non-negative transitions, strategy pairing."""
    spec = lease.get("spec") or {}
    causes: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        causes.append(
            invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0")
        )
    if spec.get("preferredHolder") and not spec.get("strategy"):
        causes.append(
            forbidden("spec.preferredHolder", "preferredHolder is only allowed if strategy is set")
        )
    return causes


def default_subjects(binding: dict[str, Any]) -> None:
    """RBAC subjects: ``apiGroup`` defaults by kind."""
    for subject in binding.get("subjects") or []:
        if isinstance(subject, dict) and "apiGroup" not in subject:
            subject["apiGroup"] = "" if subject.get("kind") == "ServiceAccount" else _RBAC
        if isinstance(subject, dict) and subject.get("apiGroup") == "":
            del subject["apiGroup"]


def validate_role(role: dict[str, Any], namespaced: bool = False) -> list[Cause]:
    """Each rule needs verbs, and api groups when it names resources; a Role's rules may not
    name non-resource URLs."""
    causes: list[Cause] = []
    for i, rule in enumerate(role.get("rules") or []):
        if not rule.get("verbs"):
            causes.append(required(f"rules[{i}].verbs", "verbs must contain at least one value"))
        if rule.get("nonResourceURLs"):
            if namespaced:
                causes.append(
                    invalid(
                        f"rules[{i}].nonResourceURLs",
                        rule["nonResourceURLs"],
                        "namespaced rules cannot apply to non-resource URLs",
                    )
                )
            if rule.get("resources") or rule.get("apiGroups"):
                causes.append(
                    invalid(
                        f"rules[{i}].nonResourceURLs",
                        rule["nonResourceURLs"],
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not rule.get("apiGroups") and rule.get("resources"):
            causes.append(
                required(
                    f"rules[{i}].apiGroups", "resource rules must supply at least one api group"
                )
            )
        if not rule.get("resources"):
            causes.append(
                required(
                    f"rules[{i}].resources", "resource rules must supply at least one resource"
                )
            )
    return causes


def validate_binding(binding: dict[str, Any], cluster: bool) -> list[Cause]:
    """The role reference and the subjects of a (Cluster)RoleBinding."""
    causes: list[Cause] = []
    ref = binding.get("roleRef") or {}
    if ref.get("apiGroup") != _RBAC:
        causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), (_RBAC,)))
    kinds = ("ClusterRole",) if cluster else ("Role", "ClusterRole")
    if ref.get("kind") not in kinds:
        causes.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds))
    if not ref.get("name"):
        causes.append(required("roleRef.name"))
    for i, subject in enumerate(binding.get("subjects") or []):
        kind = subject.get("kind")
        if kind not in ("Group", "ServiceAccount", "User"):
            causes.append(
                not_supported(
                    f"subjects[{i}].kind", kind or "", ("Group", "ServiceAccount", "User")
                )
            )
        if not subject.get("name"):
            causes.append(required(f"subjects[{i}].name"))
        if kind == "ServiceAccount" and cluster and not subject.get("namespace"):
            causes.append(required(f"subjects[{i}].namespace"))
    return causes


def validate_binding_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """A binding's roleRef may not change."""
    if new.get("roleRef") != old.get("roleRef"):
        ref = new.get("roleRef") or {}
        # The message prints the Go struct (field names capitalised).
        shown = {
            "APIGroup": ref.get("apiGroup", ""),
            "Kind": ref.get("kind", ""),
            "Name": ref.get("name", ""),
        }
        return [invalid("roleRef", shown, "cannot change roleRef")]
    return []
