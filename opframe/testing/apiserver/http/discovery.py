"""Discovery documents: ``/api``, ``/apis`` (legacy and aggregated), group and version lists."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import Registry

__all__ = [
    "AGGREGATED_CONTENT_TYPE",
    "aggregated",
    "api_group",
    "api_group_list",
    "api_versions",
    "resource_list",
    "storage_version_hash",
]

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

_SUB_VERBS = {
    "status": ["get", "patch", "update"],
    "scale": ["get", "patch", "update"],
    "log": ["get"],
    "binding": ["create"],
    "eviction": ["create"],
    "token": ["create"],
    "finalize": ["update"],
    "ephemeralcontainers": ["get", "patch", "update"],
    "resize": ["get", "patch", "update"],
}
_SUB_KIND = {
    "scale": ("autoscaling", "v1", "Scale"),
    "binding": ("", "v1", "Binding"),
    "eviction": ("policy", "v1", "Eviction"),
    "token": ("authentication.k8s.io", "v1", "TokenRequest"),
}


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """The ``storageVersionHash`` of a resource, computed as kube-apiserver does."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _storage_version(rt: ResourceType) -> str:
    return rt.storage_version or rt.version


def api_versions() -> dict[str, Any]:
    """``/api``."""
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}


def _gv(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": f"{group}/{version}" if group else version, "version": version}


def api_group(registry: Registry, group: str) -> dict[str, Any]:
    """``/apis/GROUP``."""
    versions = registry.versions(group)
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [_gv(group, v) for v in versions],
        "preferredVersion": _gv(group, versions[0]),
    }


def api_group_list(registry: Registry) -> dict[str, Any]:
    """``/apis`` (legacy discovery)."""
    groups = []
    for g in registry.groups():
        if not g:
            continue
        doc = api_group(registry, g)
        del doc["kind"], doc["apiVersion"]
        groups.append(doc)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _aliases(rt: ResourceType) -> dict[str, list[str]]:
    """The ``shortNames`` and ``categories`` of a discovery entry, each only when set."""
    out: dict[str, list[str]] = {}
    if rt.short_names:
        out["shortNames"] = list(rt.short_names)
    if rt.categories:
        out["categories"] = list(rt.categories)
    return out


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any]:
    """``/api/v1`` or ``/apis/GROUP/VERSION``."""
    resources: list[dict[str, Any]] = []
    for rt in sorted(registry.resources(group, version), key=lambda r: r.plural):
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        entry.update(_aliases(rt))
        entry["storageVersionHash"] = storage_version_hash(rt.group, _storage_version(rt), rt.kind)
        resources.append(entry)
        for sub in _ordered_subresources(rt):
            sentry: dict[str, Any] = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
            }
            kind = _SUB_KIND.get(sub)
            if kind is not None:
                if kind[0]:
                    sentry["group"] = kind[0]
                sentry["version"] = kind[1]
                sentry["kind"] = kind[2]
            else:
                sentry["kind"] = rt.kind
            sentry["verbs"] = _SUB_VERBS.get(sub, ["get"])
            resources.append(sentry)
    doc: dict[str, Any] = {"kind": "APIResourceList"}
    if group:
        doc["apiVersion"] = "v1"
    doc["groupVersion"] = f"{group}/{version}" if group else version
    doc["resources"] = resources
    return doc


def _ordered_subresources(rt: ResourceType) -> list[str]:
    subs = [s for s in rt.subresources if s != "log" or not rt.custom]
    if rt.custom:
        return [s for s in ("status", "scale") if s in subs]
    return sorted(subs)


def aggregated(registry: Registry, core: bool) -> dict[str, Any]:
    """Aggregated discovery (``apidiscovery.k8s.io/v2``) of ``/api`` or ``/apis``."""
    items = []
    for g in registry.groups():
        if (g == "") != core:
            continue
        versions = []
        for v in registry.versions(g):
            resources = []
            for rt in sorted(registry.resources(g, v), key=lambda r: r.plural):
                resources.append(_aggregated_resource(rt))
            versions.append({"version": v, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": g} if g else {}, "versions": versions})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    own_kind = (
        {"group": rt.group, "version": rt.version, "kind": rt.kind}
        if rt.custom
        else {"group": "", "version": "", "kind": rt.kind}
    )
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": own_kind,
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    entry.update(_aliases(rt))
    subs = []
    for sub in _ordered_subresources(rt):
        kind = _SUB_KIND.get(sub)
        response = (
            {"group": kind[0], "version": kind[1], "kind": kind[2]} if kind else dict(own_kind)
        )
        subs.append(
            {"subresource": sub, "responseKind": response, "verbs": _SUB_VERBS.get(sub, ["get"])}
        )
    if subs:
        entry["subresources"] = subs
    return entry
