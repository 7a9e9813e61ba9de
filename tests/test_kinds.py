"""opframe.kinds: built-in kinds round-trip real API server answers and realistic objects."""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from opframe import kinds
from opframe.kinds import (
    Container,
    Deployment,
    Endpoints,
    Lease,
    LeaseSpec,
    Node,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    PodSpec,
    Secret,
    StatefulSet,
)
from opframe.resource import ObjectMeta, Resource

# The typed built-ins by (apiVersion, kind): there is no process-wide registry to ask.
_BUILTINS: dict[tuple[str, str], type[Resource]] = {
    (v.__resource__.api_version, v.__resource__.kind): v
    for v in vars(kinds).values()
    if isinstance(v, type) and issubclass(v, Resource) and v.__module__.startswith(kinds.__name__)
}

CONFORMANCE = Path(__file__).parent / "conformance"
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _normalise(value: Any) -> Any:
    """Timestamps as ``<time>`` and nulls dropped: the wire equivalence we promise."""
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return "<time>"
    return value


def _with_times(value: Any) -> Any:
    """Transcripts hide times as ``<time>``; put real ones back so they parse."""
    if isinstance(value, dict):
        return {k: _with_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_times(v) for v in value]
    if value == "<time>":
        return "2026-01-02T03:04:05.123456Z"
    return value


def _builtin_bodies() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(where: str, body: Any) -> None:
        if isinstance(body, dict):
            cls = _BUILTINS.get((str(body.get("apiVersion", "")), str(body.get("kind", ""))))
            if cls is not None and cls.__resource__.builtin and "metadata" in body:
                found.append((f"{where}:{body['kind']}", body))
            for v in body.values():
                walk(where, v)
        elif isinstance(body, list):
            for v in body:
                walk(where, v)

    for path in sorted(CONFORMANCE.glob("*.json")):
        for step in json.loads(path.read_text())["steps"]:
            walk(f"{path.stem}/{step.get('id')}", (step.get("response") or {}).get("body"))
    return found


BODIES = _builtin_bodies()


def test_the_transcripts_hold_builtin_objects_to_check() -> None:
    kinds_seen = {name.rsplit(":", 1)[1] for name, _ in BODIES}
    assert {"Pod", "Service", "Namespace", "ConfigMap", "Lease", "Deployment"} <= kinds_seen


@pytest.mark.parametrize(("where", "body"), BODIES, ids=[name for name, _ in BODIES])
def test_api_server_answers_round_trip(where: str, body: dict[str, Any]) -> None:
    cls = _BUILTINS.get((body["apiVersion"], body["kind"]))
    assert cls is not None
    wire = _with_times(body)
    assert _normalise(cls.from_dict(copy.deepcopy(wire)).to_dict()) == _normalise(wire)


def test_every_builtin_kind_is_registered_and_flagged_builtin() -> None:
    classes = [
        v
        for v in vars(kinds).values()
        if isinstance(v, type)
        and issubclass(v, Resource)
        and v.__module__.startswith(kinds.__name__)
    ]
    assert len(classes) == 25
    for cls in classes:
        assert cls.__resource__.builtin
        assert _BUILTINS.get((cls.__resource__.api_version, cls.__resource__.kind)) is cls


@pytest.mark.parametrize(
    ("cls", "api_version", "plural", "namespaced"),
    [
        (kinds.Namespace, "v1", "namespaces", False),
        (kinds.Endpoints, "v1", "endpoints", True),
        (kinds.Lease, "coordination.k8s.io/v1", "leases", True),
        (kinds.PodDisruptionBudget, "policy/v1", "poddisruptionbudgets", True),
        (kinds.StatefulSet, "apps/v1", "statefulsets", True),
        (kinds.Node, "v1", "nodes", False),
        (kinds.PersistentVolumeClaim, "v1", "persistentvolumeclaims", True),
    ],
)
def test_builtin_identity_matches_the_api_server(
    cls: type[Resource], api_version: str, plural: str, namespaced: bool
) -> None:
    info = cls.__resource__
    assert (info.api_version, info.plural, info.namespaced) == (api_version, plural, namespaced)


ETCD_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "demo-0",
        "namespace": "default",
        "labels": {"app.kubernetes.io/instance": "demo"},
        "ownerReferences": [
            {
                "apiVersion": "etcd.opframe.dev/v1alpha1",
                "kind": "EtcdCluster",
                "name": "demo",
                "uid": "u-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "spec": {
        "hostname": "demo-0",
        "subdomain": "demo",
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "containers": [
            {
                "name": "etcd",
                "image": "quay.io/coreos/etcd:v3.5.1",
                "command": ["etcd"],
                "args": ["--name=$(POD_NAME)", "--data-dir=/var/lib/etcd"],
                "env": [
                    {
                        "name": "POD_NAME",
                        "valueFrom": {
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}
                        },
                    },
                    {"name": "ETCDCTL_API", "value": "3"},
                ],
                "ports": [
                    {"name": "client", "containerPort": 2379, "protocol": "TCP"},
                    {"name": "peer", "containerPort": 2380, "protocol": "TCP"},
                ],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/etcd"}],
                "readinessProbe": {
                    "httpGet": {"path": "/health", "port": 2379, "scheme": "HTTP"},
                    "periodSeconds": 5,
                    "failureThreshold": 3,
                },
                "livenessProbe": {"tcpSocket": {"port": "client"}, "initialDelaySeconds": 10},
                "startupProbe": {"exec": {"command": ["etcdctl", "endpoint", "health"]}},
            }
        ],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "demo-0-data"}},
            {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}
                ]
            }
        },
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "etcd"}],
        "nodeSelector": {"disk": "ssd"},
        "nodeName": "local-0",
        "priority": 0,
    },
    "status": {
        "phase": "Running",
        "podIP": "127.0.1.2",
        "podIPs": [{"ip": "127.0.1.2"}],
        "hostIP": "127.0.0.1",
        "startTime": "2026-01-02T03:04:05Z",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-02T03:04:09Z"}
        ],
        "containerStatuses": [
            {
                "name": "etcd",
                "ready": True,
                "restartCount": 1,
                "image": "quay.io/coreos/etcd:v3.5.1",
                "imageID": "local://etcd-3.5.1",
                "containerID": "local://1234",
                "started": True,
                "state": {"running": {"startedAt": "2026-01-02T03:04:06Z"}},
            }
        ],
    },
}


def test_etcd_member_pod_round_trips_and_is_typed() -> None:
    pod = Pod.from_dict(copy.deepcopy(ETCD_POD))
    assert pod.to_dict() == ETCD_POD
    container = pod.spec.containers[0]
    assert container.env is not None and container.env[0].value_from is not None
    assert container.env[0].value_from.field_ref is not None
    assert container.env[0].value_from.field_ref.field_path == "metadata.name"
    assert container.readiness_probe is not None and container.readiness_probe.http_get
    assert container.readiness_probe.http_get.port == 2379
    assert container.liveness_probe is not None and container.liveness_probe.tcp_socket
    assert container.liveness_probe.tcp_socket.port == "client"
    assert pod.spec.volumes is not None and pod.spec.volumes[0].persistent_volume_claim
    assert pod.status is not None and pod.status.pod_ip == "127.0.1.2"
    assert pod.status.container_statuses is not None
    assert pod.status.container_statuses[0].restart_count == 1


def test_pod_built_in_python_has_the_wire_names() -> None:
    pod = Pod(
        metadata=ObjectMeta(name="p", namespace="ns"),
        spec=PodSpec(containers=[Container(name="c", image="busybox")], restart_policy="Never"),
    )
    assert pod.to_dict() == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"},
    }


def test_lease_times_keep_microseconds_as_the_server_requires() -> None:
    lease = Lease(
        metadata=ObjectMeta(name="leader", namespace="ns"),
        spec=LeaseSpec(
            holder_identity="me",
            lease_duration_seconds=15,
            renew_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        ),
    )
    assert lease.to_dict()["spec"]["renewTime"] == "2026-01-02T03:04:05.000000Z"


def test_secret_string_data_is_sent_and_data_decodes() -> None:
    secret = Secret.from_dict(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tls"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(b"CERT").decode()},
        }
    )
    assert secret.decoded() == {"tls.crt": b"CERT"}
    assert Secret(string_data={"a": "b"}).to_dict()["stringData"] == {"a": "b"}


REALISTIC: list[tuple[type[Resource], dict[str, Any]]] = [
    (
        PodDisruptionBudget,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "demo", "namespace": "default"},
            "spec": {
                "minAvailable": 2,
                "selector": {"matchLabels": {"app.kubernetes.io/instance": "demo"}},
            },
            "status": {
                "currentHealthy": 3,
                "desiredHealthy": 2,
                "disruptionsAllowed": 1,
                "expectedPods": 3,
                "observedGeneration": 1,
                "conditions": [
                    {
                        "type": "DisruptionAllowed",
                        "status": "True",
                        "reason": "SufficientPods",
                        "message": "",
                        "lastTransitionTime": "2026-01-02T03:04:05Z",
                        "observedGeneration": 1,
                    }
                ],
            },
        },
    ),
    (
        PersistentVolumeClaim,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "demo-0-data", "namespace": "default"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "standard",
                "volumeMode": "Filesystem",
            },
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}},
        },
    ),
    (
        StatefulSet,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "generation": 2},
            "spec": {
                "replicas": 3,
                "serviceName": "web",
                "selector": {
                    "matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]
                },
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]},
                },
                "volumeClaimTemplates": [
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "www"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            },
            "status": {"replicas": 3, "readyReplicas": 3, "currentRevision": "web-5d8f"},
        },
    ),
    (
        Deployment,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "operator", "namespace": "etcd-system"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "etcd-operator"}},
                "template": {
                    "metadata": {"labels": {"app": "etcd-operator"}},
                    "spec": {
                        "serviceAccountName": "etcd-operator",
                        "containers": [{"name": "manager", "image": "etcd-operator:0.1"}],
                    },
                },
                "strategy": {"type": "Recreate"},
            },
        },
    ),
    (
        Node,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "local-0", "labels": {"kubernetes.io/hostname": "local-0"}},
            "spec": {"podCIDR": "127.0.1.0/24", "providerID": "opframe://local-0"},
            "status": {
                "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0-opframe"},
            },
        },
    ),
    (
        Endpoints,
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "demo", "namespace": "default"},
            "subsets": [
                {
                    "addresses": [{"ip": "127.0.1.2", "hostname": "demo-0"}],
                    "ports": [{"name": "client", "port": 2379, "protocol": "TCP"}],
                }
            ],
        },
    ),
]


@pytest.mark.parametrize(("cls", "wire"), REALISTIC, ids=[cls.__name__ for cls, _ in REALISTIC])
def test_realistic_objects_round_trip(cls: type[Resource], wire: dict[str, Any]) -> None:
    assert cls.from_dict(copy.deepcopy(wire)).to_dict() == wire


def test_int_or_string_fields_keep_their_type() -> None:
    pdb = PodDisruptionBudget.from_dict(
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "spec": {"minAvailable": "51%"}}
    )
    assert pdb.spec.min_available == "51%"
