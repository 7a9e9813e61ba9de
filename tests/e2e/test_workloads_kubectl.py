"""e2e: kubectl drives DaemonSets, StatefulSets and CronJobs on the local controllers.

``kubectl rollout status/history/undo daemonset`` read the status fields and
ControllerRevisions the DaemonSet controller writes (kubectl's
``pkg/polymorphichelpers/rollout_status.go`` and ``history.go``); ``kubectl create job
--from=cronjob/NAME`` runs a CronJob's template at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from _kubectl import kubectl_ok as kubectl

from opframe.testing.cluster import LocalCluster
from tests.controllers._helpers import get, list_items, wait_for

DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: main, image: busybox:1.36, command: [sh, -c, "sleep 3600"]}]
"""

CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: main, image: busybox:1.36, command: [sh, -c, "true"]}]
"""


async def _apply(cluster: LocalCluster, manifest: str, path: Path) -> None:
    await asyncio.to_thread(path.write_text, manifest)
    await kubectl(cluster, "apply", "-f", str(path))


async def _revisions(cluster: LocalCluster) -> set[int]:
    out = await kubectl(cluster, "rollout", "history", "daemonset/agent")
    return {int(line.split()[0]) for line in out.splitlines() if line[:1].isdigit()}


async def test_kubectl_rolls_a_daemonset_and_undoes_it(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    """rollout status waits on updatedNumberScheduled/numberAvailable; history lists the
    ControllerRevisions; undo brings the first template back."""
    await _apply(local_cluster, DAEMONSET, tmp_path / "ds.yaml")
    out = await kubectl(local_cluster, "rollout", "status", "daemonset/agent", "--timeout=60s")
    assert "successfully rolled out" in out
    await kubectl(local_cluster, "set", "env", "daemonset/agent", "MODE=two")
    await kubectl(local_cluster, "rollout", "status", "daemonset/agent", "--timeout=60s")
    assert await _revisions(local_cluster) == {1, 2}
    await kubectl(local_cluster, "rollout", "undo", "daemonset/agent")
    await kubectl(local_cluster, "rollout", "status", "daemonset/agent", "--timeout=60s")
    assert await _revisions(local_cluster) == {2, 3}  # the first template, renumbered
    client = local_cluster.client

    (pod,) = await wait_for(lambda: list_items(client, "pods", selector="app=agent"),
                            lambda ps: len(ps) == 1, within=60)  # fmt: skip
    assert "env" not in pod["spec"]["containers"][0]


async def test_kubectl_creates_a_job_from_a_cronjob(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    """``kubectl create job --from=cronjob/nightly``: the Job runs now and completes."""
    await _apply(local_cluster, CRONJOB, tmp_path / "cj.yaml")
    await kubectl(local_cluster, "create", "job", "manual", "--from=cronjob/nightly")
    job = await wait_for(
        lambda: get(local_cluster.client, "jobs", "manual"),
        lambda j: (j.get("status") or {}).get("succeeded") == 1, within=60,
    )  # fmt: skip
    assert job["metadata"]["ownerReferences"][0]["name"] == "nightly"


STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: main, image: busybox:1.36, command: [sh, -c, "sleep 3600"]}]
"""


async def test_kubectl_rolls_a_statefulset_and_undoes_it(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    """kubectl rollout history/undo statefulset read the StatefulSet's ControllerRevisions."""
    await _apply(local_cluster, STATEFULSET, tmp_path / "sts.yaml")
    await kubectl(local_cluster, "rollout", "status", "statefulset/db", "--timeout=60s")
    await kubectl(local_cluster, "set", "env", "statefulset/db", "MODE=two")
    await kubectl(local_cluster, "rollout", "status", "statefulset/db", "--timeout=60s")
    out = await kubectl(local_cluster, "rollout", "history", "statefulset/db")
    assert {int(line.split()[0]) for line in out.splitlines() if line[:1].isdigit()} == {1, 2}
    await kubectl(local_cluster, "rollout", "undo", "statefulset/db")
    await kubectl(local_cluster, "rollout", "status", "statefulset/db", "--timeout=60s")
    client = local_cluster.client
    pods = await wait_for(lambda: list_items(client, "pods", selector="app=db"),
                          lambda ps: len(ps) == 2 and all(
                              "env" not in p["spec"]["containers"][0] for p in ps),
                          within=60)  # fmt: skip
    assert sorted(p["metadata"]["name"] for p in pods) == ["db-0", "db-1"]
