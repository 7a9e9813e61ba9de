"""The StatefulSet controller on the embedded API server and the local kubelet.

Rules from kubernetes ``pkg/controller/statefulset/stateful_set_control.go`` and
``stateful_set_utils.go``.
"""

from __future__ import annotations

from opframe.client import Client
from opframe.testing.cluster import LocalCluster
from opframe.testing.controllers.statefulset import current_revision_needed
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


async def _template_changed_above_partition_1(client: Client, name: str, replicas: int) -> str:
    """A Parallel StatefulSet ``name`` updated with RollingUpdate partition 1, settled, then
    given a new pod template; its revision before the change."""
    await create(client, "statefulsets", statefulset(
        name, replicas, podManagementPolicy="Parallel",
        updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}))  # fmt: skip
    before = await wait_for(lambda: get(client, "statefulsets", name), _settled, within=60)
    await patch(client, "statefulsets", name,
                {"spec": {"template": pod_template({"app": name}, "sleep 3601")}})  # fmt: skip
    return str(before["status"]["currentRevision"])


async def test_rolling_update_respects_the_partition(local_cluster: LocalCluster) -> None:
    """RollingUpdate with partition 1: only ordinals >= 1 move to the new revision, from
    the highest down; currentRevision stays until every pod is updated."""
    client = local_cluster.client
    old_rev = await _template_changed_above_partition_1(client, "db", 3)

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


def test_pods_below_the_partition_are_recreated_at_the_current_revision() -> None:
    """stateful_set_control.go isCurrentRevisionNeeded: RollingUpdate below the partition (else
    below status.currentReplicas) -> current revision; OnDelete -> update revision."""
    sts = {"spec": {"updateStrategy": {"type": "RollingUpdate",
                                       "rollingUpdate": {"partition": 2}}},
           "status": {"currentReplicas": 1}}  # fmt: skip
    assert [current_revision_needed(sts, i) for i in range(3)] == [True, True, False]
    sts["spec"]["updateStrategy"] = {"type": "RollingUpdate"}
    assert [current_revision_needed(sts, i) for i in range(3)] == [True, False, False]
    sts["spec"]["updateStrategy"] = {"type": "OnDelete"}
    assert not current_revision_needed(sts, 0)


async def test_a_pod_deleted_below_the_partition_comes_back_at_its_old_revision(
    local_cluster: LocalCluster,
) -> None:
    """stateful_set_utils.go ApplyRevision + newVersionedStatefulSetPod: the pod recreated below
    the partition gets the template recorded in the current ControllerRevision."""
    client = local_cluster.client
    old_rev = await _template_changed_above_partition_1(client, "keep", 2)
    sts = await wait_for(lambda: get(client, "statefulsets", "keep"),
                         lambda s: (s.get("status") or {}).get("updatedReplicas") == 1
                         and s["status"].get("readyReplicas") == 2, within=60)  # fmt: skip
    revisions = await list_items(client, "controllerrevisions", selector="app=keep")
    assert {r["metadata"]["name"] for r in revisions} == {old_rev, sts["status"]["updateRevision"]}
    first = await get(client, "pods", "keep-0")
    assert first is not None
    await client.request("DELETE", "/api/v1/namespaces/default/pods/keep-0")

    async def recreated() -> Obj | None:
        pod = await get(client, "pods", "keep-0")
        if pod is None or pod["metadata"]["uid"] == first["metadata"]["uid"]:
            return None
        return pod

    pod = await wait_for(recreated, lambda p: p is not None, within=60)
    assert pod["metadata"]["labels"]["controller-revision-hash"] == old_rev
    assert pod["spec"]["containers"][0]["command"] == ["sh", "-c", "sleep 3600"]
    await wait_for(lambda: get(client, "statefulsets", "keep"),
                   lambda s: s["status"].get("readyReplicas") == 2, within=60)  # fmt: skip
