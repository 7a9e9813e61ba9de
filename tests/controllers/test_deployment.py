"""The Deployment and ReplicaSet controllers on the embedded API server and the local kubelet.

Rules from kubernetes ``pkg/controller/deployment/`` (``sync.go``, ``rolling.go``,
``recreate.go``, ``progress.go``, ``util/deployment_util.go``) and
``pkg/controller/replicaset/replica_set.go``.
"""

from __future__ import annotations

from _kubectl import kubectl_ok as kubectl

from opframe.testing.cluster import LocalCluster
from tests.controllers._helpers import (
    Obj,
    create,
    get,
    list_items,
    patch,
    pod_template,
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


async def _replicasets(cluster: LocalCluster) -> dict[str, Obj]:
    items = await list_items(cluster.client, "replicasets")
    return {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in items}


async def test_template_change_rolls_to_revision_2_and_scales_the_old_replicaset_to_zero(
    local_cluster: LocalCluster,
) -> None:
    """rolling.go: a new template makes a new ReplicaSet (revision 2); the old one is scaled
    to 0 and kept (revisionHistoryLimit); kubectl rollout status waits for it."""
    client = local_cluster.client
    await create(client, "deployments", deployment("web", 2))
    await wait_for(lambda: get(client, "deployments", "web"), _available)
    new_template = pod_template({"app": "web"}, "sleep 3601")
    await patch(client, "deployments", "web", {"spec": {"template": new_template}})
    out = await kubectl(local_cluster, "rollout", "status", "deployment/web", "--timeout=60s")
    assert "successfully rolled out" in out
    d = await wait_for(lambda: get(client, "deployments", "web"), _available)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    by_revision = await _replicasets(local_cluster)
    assert sorted(by_revision) == ["1", "2"]
    assert by_revision["1"]["spec"]["replicas"] == 0
    assert by_revision["2"]["spec"]["replicas"] == 2
    pods = await list_items(client, "pods", selector="app=web")
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in live} == {
        by_revision["2"]["metadata"]["name"]
    }


async def test_rollout_history_undo_and_restart_work_as_on_a_cluster(
    local_cluster: LocalCluster,
) -> None:
    """kubectl's rollout history/undo read the ReplicaSets' revision annotations and
    templates; undo to revision 1 makes that ReplicaSet revision 3 (its old revision in
    deployment.kubernetes.io/revision-history); restart patches a template annotation."""
    client = local_cluster.client
    await create(client, "deployments", deployment("web", 1))
    await wait_for(lambda: get(client, "deployments", "web"), _available)
    await kubectl(local_cluster, "set", "image", "deployment/web", "main=busybox:1.37")
    await kubectl(local_cluster, "rollout", "status", "deployment/web", "--timeout=60s")
    history = await kubectl(local_cluster, "rollout", "history", "deployment/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    await kubectl(local_cluster, "rollout", "undo", "deployment/web", "--to-revision=1")
    await kubectl(local_cluster, "rollout", "status", "deployment/web", "--timeout=60s")
    by_revision = await _replicasets(local_cluster)
    assert sorted(by_revision) == ["2", "3"]
    image = by_revision["3"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "busybox:1.36"
    assert by_revision["3"]["metadata"]["annotations"][
        "deployment.kubernetes.io/revision-history"] == "1"  # fmt: skip
    await kubectl(local_cluster, "rollout", "restart", "deployment/web")
    await kubectl(local_cluster, "rollout", "status", "deployment/web", "--timeout=60s")
    assert sorted(await _replicasets(local_cluster)) == ["2", "3", "4"]


async def test_recreate_deletes_every_old_pod_before_creating_new_ones(
    local_cluster: LocalCluster,
) -> None:
    """recreate.go: old ReplicaSets go to 0 and their pods must be gone before the new
    ReplicaSet is scaled up: no old and new pod ever run together."""
    client = local_cluster.client
    await create(client, "deployments", deployment("db", 2, strategy={"type": "Recreate"}))
    await wait_for(lambda: get(client, "deployments", "db"), _available)
    await patch(client, "deployments", "db",
                {"spec": {"template": pod_template({"app": "db"}, "sleep 3602")}})  # fmt: skip

    async def hashes() -> set[str]:
        pods = await list_items(client, "pods", selector="app=db")
        return {p["metadata"]["labels"]["pod-template-hash"] for p in pods}

    seen: list[set[str]] = []

    async def done() -> bool:
        seen.append(await hashes())
        d = await get(client, "deployments", "db")
        return _available(d) and len(seen[-1]) == 1

    from tests.controllers._helpers import eventually

    await eventually(done, timeout=60, message="recreate rollout did not finish")
    assert all(len(h) <= 1 for h in seen), seen


async def test_paused_deployment_does_not_roll_and_says_so(local_cluster: LocalCluster) -> None:
    """sync.go/progress.go: while spec.paused, a template change makes no ReplicaSet and
    Progressing is Unknown/DeploymentPaused; resuming rolls out (DeploymentResumed first)."""
    client = local_cluster.client
    await create(client, "deployments", deployment("web", 1))
    await wait_for(lambda: get(client, "deployments", "web"), _available)
    await kubectl(local_cluster, "rollout", "pause", "deployment/web")
    await kubectl(local_cluster, "set", "image", "deployment/web", "main=busybox:1.37")
    d = await wait_for(
        lambda: get(client, "deployments", "web"),
        lambda d: _cond(d, "Progressing").get("reason") == "DeploymentPaused",
    )
    assert _cond(d, "Progressing")["status"] == "Unknown"
    assert len(await list_items(client, "replicasets")) == 1
    await kubectl(local_cluster, "rollout", "resume", "deployment/web")
    await kubectl(local_cluster, "rollout", "status", "deployment/web", "--timeout=60s")
    assert len(await list_items(client, "replicasets")) == 2


async def test_revision_history_limit_deletes_the_oldest_replicasets(
    local_cluster: LocalCluster,
) -> None:
    """sync.go cleanupDeployment: old ReplicaSets at 0 beyond revisionHistoryLimit go,
    lowest revision first."""
    client = local_cluster.client
    await create(client, "deployments", deployment("web", 1, revisionHistoryLimit=1))
    for n in range(3):
        await wait_for(lambda: get(client, "deployments", "web"), _available)
        await patch(
            client,
            "deployments",
            "web",
            {"spec": {"template": pod_template({"app": "web"}, f"sleep {4000 + n}")}},
        )
    await wait_for(lambda: get(client, "deployments", "web"), _available)  # fmt: skip
    await wait_for(lambda: _replicasets(local_cluster), lambda rs: sorted(rs) == ["3", "4"],
                   message="old replica sets not cleaned up")  # fmt: skip


async def test_replicaset_adopts_matching_orphans_and_replaces_deleted_pods(
    local_cluster: LocalCluster,
) -> None:
    """replica_set.go + controller_ref_manager.go: an orphan pod matching the selector is
    adopted (counted, not duplicated); a deleted pod is replaced."""
    client = local_cluster.client
    orphan = {"metadata": {"name": "orphan", "labels": {"app": "rs"}},
              **{"spec": pod_template({})["spec"]}}  # fmt: skip
    await create(client, "pods", orphan)
    rs = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "rs"}},
                 "template": pod_template({"app": "rs"})},
    }  # fmt: skip
    await create(client, "replicasets", rs)

    async def pods() -> list[Obj]:
        items = await list_items(client, "pods", selector="app=rs")
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    found = await wait_for(pods, lambda ps: len(ps) == 2 and all(
        p["metadata"].get("ownerReferences") for p in ps))  # fmt: skip
    assert "orphan" in {p["metadata"]["name"] for p in found}
    await client.request("DELETE", "/api/v1/namespaces/default/pods/orphan")
    replaced = await wait_for(pods, lambda ps: len(ps) == 2 and "orphan" not in
                              {p["metadata"]["name"] for p in ps})  # fmt: skip
    assert all(p["metadata"]["generateName"] == "rs-" for p in replaced)
    status = await wait_for(
        lambda: get(client, "replicasets", "rs"),
        lambda r: (r["status"] or {}).get("readyReplicas") == 2,
    )
    assert status["status"]["replicas"] == 2  # fmt: skip
