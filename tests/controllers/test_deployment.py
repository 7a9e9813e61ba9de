"""The Deployment and ReplicaSet controllers on the embedded API server and the local kubelet.

Rules from kubernetes ``pkg/controller/deployment/`` (``sync.go``, ``rolling.go``,
``recreate.go``, ``progress.go``, ``util/deployment_util.go``) and
``pkg/controller/replicaset/replica_set.go``.
"""

from __future__ import annotations

from opframe.testing.cluster import LocalCluster
from tests.controllers._helpers import (
    Obj,
    create,
    get,
    list_items,
    patch,
    pod_template,
    requires,
    wait_for,
)


def deployment(name: str, replicas: int, **spec: object) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": pod_template(labels),
            **spec,
        },
    }


def _cond(obj: Obj | None, kind: str) -> Obj:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return dict(c)
    return {}


def _available(obj: Obj | None) -> bool:
    status = (obj or {}).get("status") or {}
    spec = (obj or {}).get("spec") or {}
    return (
        status.get("observedGeneration", 0) >= (obj or {})["metadata"]["generation"]
        and status.get("availableReplicas", 0) == spec.get("replicas")
        and status.get("updatedReplicas", 0) == spec.get("replicas")
        and _cond(obj, "Progressing").get("reason") == "NewReplicaSetAvailable"
    )


async def test_deployment_reaches_available_with_a_replicaset_of_hashed_pods(
    local_cluster: LocalCluster,
) -> None:
    """sync.go: one ReplicaSet NAME-HASH whose selector and pods carry pod-template-hash,
    owned by the Deployment; status counts and Available/Progressing with their reasons."""
    await requires(local_cluster, "apps/replicasets")
    client = local_cluster.client
    await create(client, "deployments", deployment("web", 3))
    d = await wait_for(lambda: get(client, "deployments", "web"), _available,
                       message="deployment web never available")  # fmt: skip
    assert d["status"]["replicas"] == 3 and d["status"]["readyReplicas"] == 3
    assert "unavailableReplicas" not in d["status"]
    assert _cond(d, "Available")["reason"] == "MinimumReplicasAvailable"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    (rs,) = await list_items(client, "replicasets")
    pod_hash = rs["spec"]["selector"]["matchLabels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    pods = await list_items(client, "pods", selector="app=web")
    assert len(pods) == 3
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {pod_hash}
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == {rs["metadata"]["name"]}
