"""The DaemonSet controller: rules from kubernetes ``pkg/controller/daemon/daemon_controller.go``
(``manage``, ``updateDaemonSetStatus``), ``update.go`` (``rollingUpdate``) and
``pkg/controller/daemon/util/daemonset_util.go``."""

from __future__ import annotations

from opframe.testing.cluster import LocalCluster
from opframe.testing.controllers.daemonset import daemon_pod, node_fits
from tests.controllers._helpers import Obj, create, get, list_items, patch, pod_template, wait_for

DS: Obj = {
    "apiVersion": "apps/v1", "kind": "DaemonSet",
    "metadata": {"name": "agent", "namespace": "default", "uid": "u", "generation": 2},
    "spec": {"selector": {"matchLabels": {"app": "agent"}},
             "template": pod_template({"app": "agent"})},
}  # fmt: skip


def test_a_node_selector_that_does_not_match_leaves_the_node_out() -> None:
    """daemon_controller.go NodeShouldRunDaemonPod: the template's nodeSelector must match."""
    ds = {**DS, "spec": {**DS["spec"], "template": pod_template({}, nodeSelector={"disk": "ssd"})}}
    assert not node_fits(ds, {"metadata": {"name": "n", "labels": {"disk": "hdd"}}})
    assert node_fits(ds, {"metadata": {"name": "n", "labels": {"disk": "ssd"}}})


def test_an_untolerated_no_schedule_taint_leaves_the_node_out() -> None:
    """NodeShouldRunDaemonPod: taints need tolerations; daemon pods tolerate unschedulable."""
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    assert not node_fits(DS, {"metadata": {"name": "n"}, "spec": {"taints": [taint]}})
    unschedulable = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    assert node_fits(DS, {"metadata": {"name": "n"}, "spec": {"taints": [unschedulable]}})


def test_daemon_pods_are_pinned_by_node_affinity_and_labelled_with_the_revision() -> None:
    """daemonset_util.go ReplaceDaemonSetPodNodeNameNodeAffinity and the hash/generation labels."""
    pod = daemon_pod(DS, "node-a", "h4sh")
    terms = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]  # fmt: skip
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                       "values": ["node-a"]}]}]  # fmt: skip
    labels = pod["metadata"]["labels"]
    assert labels["controller-revision-hash"] == "h4sh"
    assert labels["pod-template-generation"] == "2"
    assert "nodeName" not in pod["spec"]


def _ds(name: str, command: str = "sleep 3600") -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": labels},
                     "template": pod_template(labels, command)}}  # fmt: skip


def _settled(ds: Obj | None) -> bool:
    status = (ds or {}).get("status") or {}
    return bool(
        status.get("observedGeneration", 0) >= (ds or {})["metadata"]["generation"]
        and status.get("desiredNumberScheduled") == 1
        and status.get("numberAvailable") == 1
        and status.get("updatedNumberScheduled") == 1
    )


async def _live(cluster: LocalCluster, app: str) -> list[Obj]:
    pods = await list_items(cluster.client, "pods", selector=f"app={app}")
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def _old_pods_gone(cluster: LocalCluster, app: str) -> None:
    """Wait until one pod of ``app`` is left, none terminating (so no test ends mid-kill)."""
    await wait_for(lambda: list_items(cluster.client, "pods", selector=f"app={app}"),
                   lambda ps: len(ps) == 1, within=60, message="old pods never gone")  # fmt: skip


async def test_one_pod_runs_on_the_node_and_status_counts_it(local_cluster: LocalCluster) -> None:
    """manage + updateDaemonSetStatus: one pod on the one Node; every count is 1."""
    client = local_cluster.client
    await create(client, "daemonsets", _ds("agent"))
    ds = await wait_for(lambda: get(client, "daemonsets", "agent"), _settled, within=60,
                        message="daemonset never available")  # fmt: skip
    nodes = (await client.request("GET", "/api/v1/nodes"))["items"]
    assert ds["status"]["currentNumberScheduled"] == 1 and ds["status"]["numberReady"] == 1
    assert ds["status"]["numberMisscheduled"] == 0
    pods = await _live(local_cluster, "agent")
    assert len(pods) == 1
    assert pods[0]["spec"]["nodeName"] == nodes[0]["metadata"]["name"]


async def test_a_deleted_daemon_pod_is_replaced(local_cluster: LocalCluster) -> None:
    """manage: a node that should run the daemon and has no pod gets a new one."""
    client = local_cluster.client
    await create(client, "daemonsets", _ds("again"))
    await wait_for(lambda: get(client, "daemonsets", "again"), _settled, within=60)
    first = (await _live(local_cluster, "again"))[0]["metadata"]["name"]
    await client.request("DELETE", f"/api/v1/namespaces/default/pods/{first}")
    await wait_for(lambda: _live(local_cluster, "again"),
                   lambda ps: len(ps) == 1 and ps[0]["metadata"]["name"] != first,
                   within=60)  # fmt: skip
    await _old_pods_gone(local_cluster, "again")


async def test_rolling_update_replaces_the_pod_and_records_revisions(
    local_cluster: LocalCluster,
) -> None:
    """update.go rollingUpdate + constructHistory: a new template replaces the old-revision pod
    (maxUnavailable 1); each template has a ControllerRevision numbered in order."""
    client = local_cluster.client
    await create(client, "daemonsets", _ds("roll"))
    await wait_for(lambda: get(client, "daemonsets", "roll"), _settled, within=60)
    old = (await _live(local_cluster, "roll"))[0]
    await patch(client, "daemonsets", "roll",
                {"spec": {"template": pod_template({"app": "roll"}, "sleep 3601")}})  # fmt: skip
    await wait_for(lambda: get(client, "daemonsets", "roll"), _settled, within=60)
    pods = await wait_for(lambda: _live(local_cluster, "roll"), lambda ps: len(ps) == 1,
                          within=60)  # fmt: skip
    new = pods[0]
    assert new["metadata"]["name"] != old["metadata"]["name"]
    new_hash = new["metadata"]["labels"]["controller-revision-hash"]
    assert new_hash != old["metadata"]["labels"]["controller-revision-hash"]
    revisions = await list_items(client, "controllerrevisions", selector="app=roll")
    by_name = {r["metadata"]["name"]: r["revision"] for r in revisions}
    assert by_name[f"roll-{new_hash}"] == 2 and sorted(by_name.values()) == [1, 2]
    old_name = old["metadata"]["name"]
    await wait_for(lambda: get(client, "pods", old_name), lambda p: p is None, within=60,
                   message="old-revision pod never removed")  # fmt: skip


async def _roll_to(cluster: LocalCluster, name: str, command: str) -> None:
    await patch(cluster.client, "daemonsets", name,
                {"spec": {"template": pod_template({"app": name}, command)}})  # fmt: skip
    await wait_for(lambda: get(cluster.client, "daemonsets", name), _settled, within=60)
    await _old_pods_gone(cluster, name)


async def test_going_back_to_a_template_renumbers_its_revision(
    local_cluster: LocalCluster,
) -> None:
    """history/controller_history.go FindEqualRevisions + update.go constructHistory: the old
    revision becomes the newest again instead of a duplicate being written."""
    client = local_cluster.client
    await create(client, "daemonsets", _ds("back"))
    await wait_for(lambda: get(client, "daemonsets", "back"), _settled, within=60)
    await _roll_to(local_cluster, "back", "sleep 3601")
    await _roll_to(local_cluster, "back", "sleep 3600")

    async def revisions() -> dict[str, int]:
        items = await list_items(client, "controllerrevisions", selector="app=back")
        return {r["metadata"]["name"]: r["revision"] for r in items}

    by_name = await wait_for(revisions, lambda r: sorted(r.values()) == [2, 3], within=30)
    pod = (await _live(local_cluster, "back"))[0]
    assert by_name[f"back-{pod['metadata']['labels']['controller-revision-hash']}"] == 3


async def test_revisions_beyond_the_history_limit_are_deleted(
    local_cluster: LocalCluster,
) -> None:
    """update.go cleanupHistory: with revisionHistoryLimit 0 only the revision in use stays."""
    client = local_cluster.client
    ds = _ds("trim")
    ds["spec"]["revisionHistoryLimit"] = 0
    await create(client, "daemonsets", ds)
    await wait_for(lambda: get(client, "daemonsets", "trim"), _settled, within=60)
    await _roll_to(local_cluster, "trim", "sleep 3601")
    items = await wait_for(
        lambda: list_items(client, "controllerrevisions", selector="app=trim"),
        lambda rs: len(rs) == 1, within=30, message="old revision kept")  # fmt: skip
    assert items[0]["revision"] == 2
    assert items[0]["metadata"]["labels"]["controller.kubernetes.io/hash"]
