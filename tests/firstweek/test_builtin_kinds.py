"""The typed built-ins added for issue 18: each round-trips its wire JSON (camelCase names,
nothing lost) and types the nested parts users read (strategies, conditions, volume
sources, rules, metrics). The JSON is what kube-apiserver v1.36 serves for these kinds
(field names from ``staging/src/k8s.io/api/{apps,batch,networking,rbac,autoscaling}``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import opframe
from opframe import kinds
from opframe.resource import Resource

T = "2026-12-02T10:00:00Z"
META = {"name": "x", "namespace": "default", "uid": "u1", "resourceVersion": "7"}
SELECTOR = {"matchLabels": {"app": "web"}}
TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {
        "containers": [{"name": "web", "image": "nginx:1.27"}],
        "restartPolicy": "Never",
        "volumes": [
            {
                "name": "cfg",
                "configMap": {"name": "web", "items": [{"key": "a", "path": "a.conf"}]},
            },
            {"name": "tls", "secret": {"secretName": "web-tls", "defaultMode": 256}},
            {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
            {
                "name": "info",
                "downwardAPI": {
                    "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
                },
            },
            {"name": "all", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
        ],
    },
}
CONDITION = {"type": "Available", "status": "True", "lastTransitionTime": T, "reason": "R"}

OBJECTS: dict[str, dict[str, Any]] = {
    "Deployment": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": META,
        "spec": {
            "replicas": 3,
            "selector": SELECTOR,
            "template": TEMPLATE,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1},
            },
        },
        "status": {"replicas": 3, "conditions": [{**CONDITION, "lastUpdateTime": T}]},
    },
    "StatefulSet": {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": META,
        "spec": {
            "selector": SELECTOR,
            "template": TEMPLATE,
            "serviceName": "web",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Delete",
                "whenScaled": "Retain",
            },
            "ordinals": {"start": 1},
        },
        "status": {"replicas": 1, "conditions": [CONDITION]},
    },
    "DaemonSet": {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": META,
        "spec": {
            "selector": SELECTOR,
            "template": TEMPLATE,
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
            },
        },
        "status": {
            "currentNumberScheduled": 2,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 2,
            "numberReady": 2,
            "conditions": [CONDITION],
        },
    },
    "ReplicaSet": {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": META,
        "spec": {"replicas": 2, "selector": SELECTOR, "template": TEMPLATE},
        "status": {"replicas": 2, "fullyLabeledReplicas": 2, "conditions": [CONDITION]},
    },
    "Job": {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": META,
        "spec": {
            "template": TEMPLATE,
            "backoffLimit": 2,
            "completions": 3,
            "parallelism": 1,
            "ttlSecondsAfterFinished": 60,
            "podFailurePolicy": {
                "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
            },
        },
        "status": {
            "startTime": T,
            "succeeded": 1,
            "conditions": [
                {"type": "Complete", "status": "True", "lastProbeTime": T, "lastTransitionTime": T}
            ],
        },
    },
    "CronJob": {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": META,
        "spec": {
            "schedule": "*/5 * * * *",
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"metadata": {"labels": {"app": "web"}}, "spec": {"template": TEMPLATE}},
        },
        "status": {
            "active": [{"kind": "Job", "name": "x-1", "namespace": "default"}],
            "lastScheduleTime": T,
        },
    },
    "Ingress": {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": META,
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["web.example.com"], "secretName": "web-tls"}],
            "rules": [
                {
                    "host": "web.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
        "status": {
            "loadBalancer": {
                "ingress": [{"ip": "10.0.0.1", "ports": [{"port": 443, "protocol": "TCP"}]}]
            }
        },
    },
    "NetworkPolicy": {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": META,
        "spec": {
            "podSelector": SELECTOR,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                    "ports": [{"protocol": "TCP", "port": 8080, "endPort": 8090}],
                }
            ],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}]}],
        },
    },
    "Role": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": META,
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["a"],
                "verbs": ["get"],
            }
        ],
    },
    "ClusterRole": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "x", "uid": "u1"},
        "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}],
        "aggregationRule": {"clusterRoleSelectors": [SELECTOR]},
    },
    "RoleBinding": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": META,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "default"}],
    },
    "ClusterRoleBinding": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "x"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "x"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}],
    },
    "HorizontalPodAutoscaler": {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": META,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                },
                {
                    "type": "Object",
                    "object": {
                        "describedObject": {
                            "apiVersion": "networking.k8s.io/v1",
                            "kind": "Ingress",
                            "name": "web",
                        },
                        "metric": {"name": "requests-per-second"},
                        "target": {"type": "Value", "value": "2k"},
                    },
                },
            ],
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                }
            },
        },
        "status": {
            "currentReplicas": 2,
            "desiredReplicas": 3,
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": 90}},
                }
            ],
            "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": T}],
        },
    },
}


@pytest.mark.parametrize("kind", sorted(OBJECTS))
def test_the_kind_round_trips_its_wire_json_with_camelcase_names(kind: str) -> None:
    cls: type[Resource] = getattr(kinds, kind)
    wire = OBJECTS[kind]
    assert (cls.__resource__.api_version, cls.__resource__.kind) == (wire["apiVersion"], kind)
    obj = cls.model_validate(copy.deepcopy(wire))
    assert obj.to_dict() == wire
    assert cls.model_validate(obj.to_dict()).to_dict() == wire


def test_nested_parts_are_typed_not_dicts() -> None:
    deployment = kinds.Deployment.model_validate(OBJECTS["Deployment"])
    assert deployment.spec.strategy is not None and deployment.spec.strategy.rolling_update
    assert deployment.spec.strategy.rolling_update.max_unavailable == "25%"
    assert deployment.status is not None and deployment.status.conditions
    assert deployment.status.conditions[0].last_update_time is not None
    volumes = {v.name: v for v in deployment.spec.template.spec.volumes or []}
    assert volumes["cfg"].config_map is not None and volumes["cfg"].config_map.items
    assert volumes["cfg"].config_map.items[0].path == "a.conf"
    assert volumes["tls"].secret is not None and volumes["tls"].secret.default_mode == 256
    assert volumes["info"].downward_api is not None
    policy = kinds.NetworkPolicy.model_validate(OBJECTS["NetworkPolicy"])
    rule = (policy.spec.ingress or [])[0]
    assert (
        rule.from_ and rule.from_[0].ip_block and rule.from_[0].ip_block.except_ == ["10.1.0.0/16"]
    )
    hpa = kinds.HorizontalPodAutoscaler.model_validate(OBJECTS["HorizontalPodAutoscaler"])
    metric = (hpa.spec.metrics or [])[0]
    assert metric.resource is not None and metric.resource.target.average_utilization == 70
    role = kinds.ClusterRole.model_validate(OBJECTS["ClusterRole"])
    assert (role.rules or [])[0].non_resource_urls == ["/healthz"]


def test_cluster_scoped_rbac_kinds_are_cluster_scoped() -> None:
    assert not kinds.ClusterRole.__resource__.namespaced
    assert not kinds.ClusterRoleBinding.__resource__.namespaced
    assert kinds.Role.__resource__.namespaced and kinds.RoleBinding.__resource__.namespaced


@pytest.mark.parametrize(
    "name",
    [
        "Job",
        "CronJob",
        "DaemonSet",
        "ReplicaSet",
        "Ingress",
        "NetworkPolicy",
        "HorizontalPodAutoscaler",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Event",
    ],
)
def test_the_common_kinds_are_exported_by_opframe(name: str) -> None:
    assert getattr(opframe, name) is getattr(kinds, name)


def _creatable(kind: str) -> dict[str, Any]:
    body = copy.deepcopy(OBJECTS[kind])
    body.pop("status", None)
    cls: type[Resource] = getattr(kinds, kind)
    body["metadata"] = {"name": "x"} | (
        {"namespace": "default"} if cls.__resource__.namespaced else {}
    )
    template = body.get("spec", {}).get("template")
    if template and kind not in ("Job",):
        template["spec"]["restartPolicy"] = "Always"  # the only value apps/v1 workloads take
    return body


@pytest.mark.parametrize("kind", sorted(OBJECTS))
async def test_the_servers_answer_with_its_defaults_round_trips_through_the_typed_kind(
    kind: str, client: opframe.Client
) -> None:
    cls: type[Resource] = getattr(kinds, kind)
    created = await client.create(cls.model_validate(_creatable(kind)))
    answer = await client.request("GET", cls.__resource__.path(created.metadata.namespace, "x"))
    # Nulls dropped at every level: the wire equivalence the kinds promise (test_kinds.py).
    assert cls.model_validate(copy.deepcopy(answer)).to_dict() == _without_nulls(answer)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
