"""The default ClusterRoles and ClusterRoleBindings kube-apiserver creates at start-up.

    for obj in bootstrap_objects():
        ...  # created once, kept when they exist (a restart keeps edits)

Follows ``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go`` (the roles a cluster
needs to work: cluster-admin, the user-facing admin/edit/view with their aggregation
selectors, system:discovery, system:basic-user, system:public-info-viewer, the component
roles) and ``aggregate_rules`` (the clusterrole-aggregation controller: an aggregated
ClusterRole holds the rules of every ClusterRole its selectors match).
"""

from __future__ import annotations

from typing import Any

from opframe._labels import label_selector_matches

__all__ = ["aggregate", "bootstrap_objects"]

_RBAC = "rbac.authorization.k8s.io"
_META_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_META_ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]


def _rule(verbs: list[str], groups: list[str], resources: list[str]) -> dict[str, Any]:
    return {"verbs": verbs, "apiGroups": groups, "resources": resources}


def _urls(verbs: list[str], urls: list[str]) -> dict[str, Any]:
    return {"verbs": verbs, "nonResourceURLs": urls}


def _role(
    name: str,
    rules: list[dict[str, Any]] | None = None,
    *,
    labels: dict[str, str] | None = None,
    aggregate_to: str = "",
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": f"{_RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": {**_META_LABELS, **(labels or {})},
            "annotations": dict(_META_ANNOTATIONS),
        },
    }
    if aggregate_to:
        label = f"rbac.authorization.k8s.io/aggregate-to-{aggregate_to}"
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]}
        obj["rules"] = []
    else:
        obj["rules"] = rules or []
    return obj


def _binding(name: str, role: str, *subjects: tuple[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": f"{_RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": name,
            "labels": dict(_META_LABELS),
            "annotations": dict(_META_ANNOTATIONS),
        },
        "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": k, "apiGroup": _RBAC, "name": n} for k, n in subjects],
    }


def _view_rules() -> list[dict[str, Any]]:
    core = [
        "pods",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "serviceaccounts",
        "services",
        "services/status",
        "endpoints",
        "persistentvolumeclaims",
        "persistentvolumeclaims/status",
        "configmaps",
    ]
    core_status = [
        "limitranges",
        "resourcequotas",
        "bindings",
        "events",
        "pods/status",
        "resourcequotas/status",
        "namespaces/status",
        "replicationcontrollers/status",
        "pods/log",
    ]
    apps = [
        "controllerrevisions",
        "statefulsets",
        "statefulsets/scale",
        "statefulsets/status",
        "daemonsets",
        "daemonsets/status",
        "deployments",
        "deployments/scale",
        "deployments/status",
        "replicasets",
        "replicasets/scale",
        "replicasets/status",
    ]
    return [
        _rule(_READ, [""], core),
        _rule(_READ, [""], core_status),
        _rule(_READ, [""], ["namespaces"]),
        _rule(_READ, ["discovery.k8s.io"], ["endpointslices"]),
        _rule(_READ, ["apps"], apps),
        _rule(_READ, ["autoscaling"], ["horizontalpodautoscalers",
                                       "horizontalpodautoscalers/status"]),
        _rule(_READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        _rule(_READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        _rule(_READ, ["networking.k8s.io"], ["ingresses", "ingresses/status",
                                             "networkpolicies"]),
    ]  # fmt: skip


def _edit_rules() -> list[dict[str, Any]]:
    return [
        _rule(["impersonate"], [""], ["serviceaccounts"]),
        _rule(_WRITE, [""], ["pods", "pods/attach", "pods/proxy", "pods/exec",
                             "pods/portforward"]),
        _rule(["create"], [""], ["pods/eviction"]),
        _rule(_WRITE, [""], ["replicationcontrollers", "replicationcontrollers/scale",
                             "serviceaccounts", "services", "services/proxy",
                             "persistentvolumeclaims", "configmaps", "secrets", "events"]),
        _rule(["create"], [""], ["serviceaccounts/token"]),
        _rule(_WRITE, ["apps"], ["statefulsets", "statefulsets/scale", "daemonsets",
                                 "deployments", "deployments/scale", "deployments/rollback",
                                 "replicasets", "replicasets/scale"]),
        _rule(_WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
        _rule(_WRITE, ["batch"], ["jobs", "cronjobs"]),
        _rule(_WRITE, ["policy"], ["poddisruptionbudgets"]),
        _rule(_WRITE, ["networking.k8s.io"], ["networkpolicies", "ingresses"]),
        _rule(_WRITE, ["coordination.k8s.io"], ["leases"]),
        _rule(_READ, ["coordination.k8s.io"], ["leases"]),
        _rule(_READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy",
                            "secrets", "services/proxy"]),
    ]  # fmt: skip


def _admin_rules() -> list[dict[str, Any]]:
    return [
        _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
        _rule([*_WRITE, "get", "list", "watch"], [_RBAC], ["rolebindings", "roles"]),
    ]


_DISCOVERY_URLS = [
    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
    "/readyz", "/version", "/version/",
]  # fmt: skip
_PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
_ISSUER_URLS = [
    "/.well-known/openid-configuration", "/.well-known/openid-configuration/",
    "/openid/v1/jwks", "/openid/v1/jwks/",
]  # fmt: skip


def bootstrap_objects() -> list[dict[str, Any]]:
    """The ClusterRoles, then the ClusterRoleBindings, of the bootstrap policy."""
    roles = [
        _role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
        _role("admin", aggregate_to="admin"),
        _role("edit", labels={f"{_RBAC}/aggregate-to-admin": "true"}, aggregate_to="edit"),
        _role("view", labels={f"{_RBAC}/aggregate-to-edit": "true"}, aggregate_to="view"),
        _role("system:aggregate-to-admin", _admin_rules(),
              labels={f"{_RBAC}/aggregate-to-admin": "true"}),
        _role("system:aggregate-to-edit", _edit_rules(),
              labels={f"{_RBAC}/aggregate-to-edit": "true"}),
        _role("system:aggregate-to-view", _view_rules(),
              labels={f"{_RBAC}/aggregate-to-view": "true"}),
        _role("system:discovery", [_urls(["get"], list(_DISCOVERY_URLS))]),
        _role("system:basic-user", [
            _rule(["create"], ["authorization.k8s.io"],
                  ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
        ]),
        _role("system:public-info-viewer", [_urls(["get"], list(_PUBLIC_URLS))]),
        # Not upstream's: kubernetes/kubernetes policy.go creates no role for /.well-known. The
        # server the transcripts were recorded on carries OpenShift's patch of policy.go
        # (openshift/kubernetes), whose role this is, bound to everyone; the transcripts'
        # SelfSubjectRulesReview answers show its rule, so we keep it under its real name.
        _role("system:openshift:public-info-viewer",
              [_urls(["get"], ["/.well-known", "/.well-known/*"])]),
        _role("system:service-account-issuer-discovery", [_urls(["get"], list(_ISSUER_URLS))]),
        _role("system:monitoring", [_urls(["get"], [
            "/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis",
            "/readyz", "/readyz/*"])]),
        _role("system:node", [
            _rule(_READ, [""], ["nodes", "pods", "services", "endpoints", "configmaps",
                                "secrets", "persistentvolumeclaims", "persistentvolumes"]),
            _rule(["create", "get", "list", "watch", "patch", "update", "delete"], [""],
                  ["nodes", "nodes/status", "pods", "pods/status"]),
            _rule(["create"], [""], ["pods/eviction", "serviceaccounts/token"]),
            _rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
            _rule(["get", "create", "update", "patch", "delete"], ["coordination.k8s.io"],
                  ["leases"]),
        ]),
        _role("system:kube-scheduler", [
            _rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
            _rule(_READ, [""], ["nodes", "pods", "namespaces", "services",
                                "persistentvolumeclaims", "persistentvolumes"]),
            _rule(["create"], [""], ["pods/binding", "bindings"]),
            _rule(["patch", "update"], [""], ["pods/status"]),
            _rule(["create", "get", "update"], ["coordination.k8s.io"], ["leases"]),
        ]),
        _role("system:kube-controller-manager", [_rule(["*"], ["*"], ["*"])]),
    ]  # fmt: skip
    bindings = [
        _binding("cluster-admin", "cluster-admin", ("Group", "system:masters")),
        _binding("system:monitoring", "system:monitoring", ("Group", "system:monitoring")),
        _binding("system:discovery", "system:discovery", ("Group", "system:authenticated")),
        _binding("system:basic-user", "system:basic-user", ("Group", "system:authenticated")),
        _binding("system:public-info-viewer", "system:public-info-viewer",
                 ("Group", "system:authenticated"), ("Group", "system:unauthenticated")),
        _binding("system:openshift:public-info-viewer", "system:openshift:public-info-viewer",
                 ("Group", "system:authenticated"), ("Group", "system:unauthenticated")),
        _binding("system:service-account-issuer-discovery",
                 "system:service-account-issuer-discovery",
                 ("Group", "system:serviceaccounts")),
        _binding("system:kube-scheduler", "system:kube-scheduler",
                 ("User", "system:kube-scheduler")),
        _binding("system:kube-controller-manager", "system:kube-controller-manager",
                 ("User", "system:kube-controller-manager")),
    ]  # fmt: skip
    return roles + bindings


def aggregate(role: dict[str, Any], all_roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules an aggregated ClusterRole must hold: those of every ClusterRole (other than
    itself) one of its selectors matches, in name order, without duplicates."""
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    name = role["metadata"]["name"]
    rules: list[dict[str, Any]] = []
    for other in sorted(all_roles, key=lambda r: r["metadata"]["name"]):
        if other["metadata"]["name"] == name:
            continue
        labels = other["metadata"].get("labels") or {}
        if not any(isinstance(s, dict) and label_selector_matches(s, labels) for s in selectors):
            continue
        for rule in other.get("rules") or []:
            if rule not in rules:
                rules.append(rule)
    return rules
