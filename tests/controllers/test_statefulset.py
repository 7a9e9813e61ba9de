"""The StatefulSet controller on the embedded API server and the local kubelet.

Rules from kubernetes ``pkg/controller/statefulset/stateful_set_control.go`` and
``stateful_set_utils.go``.
"""

from __future__ import annotations

from opframe.testing.cluster import LocalCluster
from tests.controllers._helpers import (
    Obj,
    create,
    eventually,
    get,
    list_items,
    patch,
    pod_template,
    wait_for,
)


def statefulset(name: str, replicas: int, **spec: object) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": labels},
            "template": pod_template(labels),
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}},
            }],
            **spec,
        },
    }  # fmt: skip


def _settled(sts: Obj | None) -> bool:
    status, spec = (sts or {}).get("status") or {}, (sts or {}).get("spec") or {}
    return bool(
        status.get("observedGeneration", 0) >= (sts or {})["metadata"]["generation"]
        and status.get("readyReplicas", 0) == spec.get("replicas")
        and status.get("replicas") == spec.get("replicas")
        and status.get("updatedReplicas") == spec.get("replicas")
        and status.get("currentRevision") == status.get("updateRevision")
    )


async def _live_pods(cluster: LocalCluster, app: str) -> list[Obj]:
    pods = await list_items(cluster.client, "pods", selector=f"app={app}")
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def test_ordered_pods_get_stable_names_and_their_own_claims(
    local_cluster: LocalCluster,
) -> None:
    """OrderedReady: NAME-0..2 with hostname/subdomain and identity labels; claim
    data-NAME-i per pod, mounted as the template's volume; status counts and revisions."""
    client = local_cluster.client
    await create(client, "statefulsets", statefulset("db", 3))
    sts = await wait_for(lambda: get(client, "statefulsets", "db"), _settled, within=60,
                         message="statefulset never ready")  # fmt: skip
    assert sts["status"]["availableReplicas"] == 3
    assert sts["status"]["currentReplicas"] == 3
    assert sts["status"]["updateRevision"].startswith("db-")
    pods = {p["metadata"]["name"]: p for p in await _live_pods(local_cluster, "db")}
    assert sorted(pods) == ["db-0", "db-1", "db-2"]
    pod = pods["db-1"]
    assert pod["spec"]["hostname"] == "db-1" and pod["spec"]["subdomain"] == "db"
    labels = pod["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "db-1"
    assert labels["apps.kubernetes.io/pod-index"] == "1"
    assert labels["controller-revision-hash"] == sts["status"]["updateRevision"]
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "data"]
    assert volume["persistentVolumeClaim"]["claimName"] == "data-db-1"
    claims = await list_items(client, "persistentvolumeclaims")
    assert sorted(c["metadata"]["name"] for c in claims) == ["data-db-0", "data-db-1", "data-db-2"]
    # Created in order: each pod no earlier than the one before it.
    stamps = [pods[f"db-{i}"]["metadata"]["creationTimestamp"] for i in range(3)]
    assert stamps == sorted(stamps)


async def test_scale_down_removes_highest_ordinals_and_keeps_their_claims(
    local_cluster: LocalCluster,
) -> None:
    """Condemned pods go highest ordinal first; the default retention policy keeps the
    claims, which a later scale-up reuses."""
    client = local_cluster.client
    await create(client, "statefulsets", statefulset("db", 3, podManagementPolicy="Parallel"))
    await wait_for(lambda: get(client, "statefulsets", "db"), _settled, within=60)
    await patch(client, "statefulsets", "db", {"spec": {"replicas": 1}})
    await wait_for(lambda: get(client, "statefulsets", "db"), _settled, within=60)
    assert [p["metadata"]["name"] for p in await _live_pods(local_cluster, "db")] == ["db-0"]
    claims = await list_items(client, "persistentvolumeclaims")
    assert len(claims) == 3


async def test_rolling_update_respects_the_partition(local_cluster: LocalCluster) -> None:
    """RollingUpdate with partition 1: only ordinals >= 1 move to the new revision, from
    the highest down; currentRevision stays until every pod is updated."""
    client = local_cluster.client
    await create(client, "statefulsets", statefulset(
        "db", 3, podManagementPolicy="Parallel",
        updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}))  # fmt: skip
    before = await wait_for(lambda: get(client, "statefulsets", "db"), _settled, within=60)
    old_rev = before["status"]["currentRevision"]
    await patch(client, "statefulsets", "db",
                {"spec": {"template": pod_template({"app": "db"}, "sleep 3601")}})  # fmt: skip

    def partly(sts: Obj | None) -> bool:
        status = (sts or {}).get("status") or {}
        return bool(status.get("updatedReplicas") == 2 and status.get("readyReplicas") == 3)

    sts = await wait_for(lambda: get(client, "statefulsets", "db"), partly, within=60)
    assert sts["status"]["currentRevision"] == old_rev != sts["status"]["updateRevision"]
    pods = {p["metadata"]["name"]: p for p in await _live_pods(local_cluster, "db")}
    revs = {n: p["metadata"]["labels"]["controller-revision-hash"] for n, p in pods.items()}
    assert revs["db-0"] == old_rev
    assert revs["db-1"] == revs["db-2"] == sts["status"]["updateRevision"]
    await patch(client, "statefulsets", "db",
                {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})  # fmt: skip
    done = await wait_for(lambda: get(client, "statefulsets", "db"), _settled, within=60)
    assert done["status"]["currentRevision"] == done["status"]["updateRevision"]


async def test_ordered_ready_waits_for_each_pod_before_the_next(
    local_cluster: LocalCluster,
) -> None:
    """OrderedReady: a pod that never becomes Ready holds back every higher ordinal."""
    client = local_cluster.client
    template = pod_template({"app": "stuck"}, readinessGate=None)
    template["spec"].pop("readinessGate")
    template["spec"]["containers"][0]["readinessProbe"] = {
        "exec": {"command": ["false"]}, "periodSeconds": 1}  # fmt: skip
    await create(client, "statefulsets", statefulset("stuck", 3, template=template))
    await eventually(
        lambda: get(client, "pods", "stuck-0"), timeout=30, message="stuck-0 never created"
    )
    sts = await wait_for(lambda: get(client, "statefulsets", "stuck"),
                         lambda s: (s.get("status") or {}).get("replicas") == 1)  # fmt: skip
    assert sts["status"].get("readyReplicas", 0) == 0
    assert await get(client, "pods", "stuck-1") is None
