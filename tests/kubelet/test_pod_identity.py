"""The local kubelet keys pods by uid: a recreated pod of the same name is a fresh pod.

The rules follow kubelet's status manager (``pkg/kubelet/status/status_manager.go``: the pod
uid goes into every status patch as a precondition, and a pod "deleted and then recreated"
is never written with the old pod's status) and the pod workers
(``pkg/kubelet/pod_workers.go``: workers, probes and logs are keyed by ``types.UID``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from opframe.errors import ApiError
from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet._mirror import merge_patch
from tests.kubelet.helpers import (
    busybox_pod,
    condition,
    create,
    get_pod,
    wait_pod,
    wait_process_gone,
    watch_events,
)

Obj = dict[str, Any]

# The old container takes ~1.5 s to honour SIGTERM and then fails: exactly the status that
# must never land on its successor.
_SLOW_TO_DIE = "trap 'sleep 1.5; exit 7' TERM; while true; do sleep 0.1; done"


def _ready(pod: Obj | None) -> bool:
    return condition(pod, "Ready") == "True"


async def _force_delete(cluster: LocalCluster, name: str) -> None:
    opts = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
    await cluster.client.request("DELETE", f"/api/v1/namespaces/default/pods/{name}", body=opts)


async def test_terminating_pod_never_writes_onto_its_same_name_successor(
    local_cluster: LocalCluster,
) -> None:
    old = busybox_pod("same", _SLOW_TO_DIE, terminationGracePeriodSeconds=20)
    await create(local_cluster, "pods", old)
    first = await wait_pod(local_cluster, "same", _ready)
    assert first is not None
    old_uid, old_ip = first["metadata"]["uid"], first["status"]["podIP"]
    process = local_cluster.kubelet.workers[old_uid].runners[0].process
    assert process is not None
    old_pid = process.pid

    # Forced deletion removes the object at once while the old process is still terminating.
    await _force_delete(local_cluster, "same")
    await create(local_cluster, "pods", busybox_pod("same", "sleep 60"))
    second = await wait_pod(
        local_cluster, "same", lambda p: bool(p) and p["metadata"]["uid"] != old_uid and _ready(p)
    )
    assert second is not None
    new_uid, new_ip = second["metadata"]["uid"], second["status"]["podIP"]
    assert new_ip != old_ip

    seen: list[Obj] = []
    api = local_cluster.client
    path = "/api/v1/namespaces/default/pods"
    selector = {"fieldSelector": "metadata.name=same"}

    marker_seen = asyncio.Event()

    async def record() -> None:
        async for event in watch_events(api, path, second["metadata"]["resourceVersion"], selector):
            if event["type"] != "BOOKMARK":
                seen.append(event["object"])
                if (event["object"]["metadata"].get("labels") or {}).get("probe"):
                    marker_seen.set()

    recorder = asyncio.create_task(record())
    try:
        await wait_process_gone(old_pid)
        # One more write of our own: once it is seen, every earlier write has been seen too.
        await merge_patch(api, f"{path}/same", {"metadata": {"labels": {"probe": "done"}}})
        async with asyncio.timeout(10):
            await marker_seen.wait()
    finally:
        recorder.cancel()
    for pod in [*seen, await get_pod(local_cluster, "same")]:
        assert pod is not None
        assert pod["metadata"]["uid"] == new_uid
        assert pod["status"]["podIP"] == new_ip, "the old pod's IP was written onto the new one"
        assert pod["status"]["phase"] == "Running", "the old pod's phase was written"
        for status in pod["status"]["containerStatuses"]:
            assert "terminated" not in status["state"]


async def test_status_patch_with_another_uid_is_refused(local_cluster: LocalCluster) -> None:
    """A status write carrying a pod uid lands only on that pod (the kubelet's precondition).

    kube-apiserver keeps a client's ``metadata.uid`` on update (``rest.BeforeUpdate`` fills
    it only when empty) and ``ValidateObjectMetaUpdate`` refuses to change it.
    """
    await create(local_cluster, "pods", busybox_pod("uidcheck", "sleep 30"))
    await wait_pod(local_cluster, "uidcheck", _ready)
    path = "/api/v1/namespaces/default/pods/uidcheck/status"
    body = {"metadata": {"uid": "00000000-0000-0000-0000-000000000000"}, "status": {}}
    with pytest.raises(ApiError) as info:
        await merge_patch(local_cluster.client, path, body)
    assert info.value.status == 422
    assert "metadata.uid" in str(info.value)


async def test_logs_and_worker_lookup_follow_the_current_pod(local_cluster: LocalCluster) -> None:
    await create(local_cluster, "pods", busybox_pod("logs", f"echo old; {_SLOW_TO_DIE}"))
    first = await wait_pod(local_cluster, "logs", _ready)
    assert first is not None
    old_uid = first["metadata"]["uid"]
    await _force_delete(local_cluster, "logs")
    await create(local_cluster, "pods", busybox_pod("logs", "echo new; sleep 60"))
    second = await wait_pod(
        local_cluster, "logs", lambda p: bool(p) and p["metadata"]["uid"] != old_uid and _ready(p)
    )
    assert second is not None
    # While the old worker may still be terminating, name lookups mean the current pod.
    assert local_cluster.kubelet.worker("default", "logs").uid == second["metadata"]["uid"]
    # follow=True waits for the first line rather than polling for it.
    chunks = local_cluster.kubelet.pod_log("default", "logs", None, follow=True)
    async with asyncio.timeout(10):
        text = await anext(chunks)
    await chunks.aclose()
    assert text == b"new\n"
