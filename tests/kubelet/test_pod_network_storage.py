"""Hosts files rewritten in place as pods and services come and go; claims outlive pods."""

from __future__ import annotations

import asyncio
from typing import Any

from opframe.testing.cluster import LocalCluster
from tests.kubelet.helpers import busybox_pod, condition, container_status, create, wait_pod

Obj = dict[str, Any]


def _ready(pod: Obj | None) -> bool:
    return condition(pod, "Ready") == "True"


async def _first_line(cluster: LocalCluster, pod: str) -> str:
    """Follow the pod's log until its first full line."""
    out = b""
    async with asyncio.timeout(10):
        async for chunk in cluster.kubelet.pod_log("default", pod, None, follow=True):
            out += chunk
            if b"\n" in out:
                break
    return out.split(b"\n")[0].decode()


def _running(pod: Obj | None) -> bool:
    return "running" in container_status(pod).get("state", {})


async def test_new_peer_under_headless_service_appears_in_running_pods_hosts(
    local_cluster: LocalCluster,
) -> None:
    headless = {
        "metadata": {"name": "peers"},
        "spec": {"clusterIP": "None", "selector": {"app": "peer"}, "ports": [{"port": 80}]},
    }
    await create(local_cluster, "services", headless)
    # The first pod waits, inside its own mount namespace, for its peer's name to appear.
    script = "until getent hosts b.peers.default.svc.cluster.local; do sleep 0.1; done; sleep 30"
    first = busybox_pod("a", script, hostname="a", subdomain="peers")
    first["metadata"]["labels"] = {"app": "peer"}
    await create(local_cluster, "pods", first)
    await wait_pod(local_cluster, "a", _running)
    inode = local_cluster.kubelet.worker("default", "a").hosts_file.stat().st_ino
    second = busybox_pod("b", "sleep 30", hostname="b", subdomain="peers")
    second["metadata"]["labels"] = {"app": "peer"}
    await create(local_cluster, "pods", second)
    b = await wait_pod(local_cluster, "b", _ready)
    assert b is not None
    assert (await _first_line(local_cluster, "a")).split()[0] == b["status"]["podIP"]
    assert local_cluster.kubelet.worker("default", "a").hosts_file.stat().st_ino == inode


async def test_container_resolves_a_cluster_ip_service_to_a_ready_pod(
    local_cluster: LocalCluster,
) -> None:
    svc = {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 8080}]},
    }
    await create(local_cluster, "services", svc)
    web = await create(local_cluster, "pods", busybox_pod("web", "sleep 30"))
    assert web["metadata"]["labels"] == {"app": "web"}
    ready = await wait_pod(local_cluster, "web", _ready)
    assert ready is not None
    script = (
        "until grep -q web.default.svc.cluster.local /etc/hosts; do sleep 0.1; done; "
        "getent hosts web.default.svc.cluster.local; sleep 30"
    )
    await create(local_cluster, "pods", busybox_pod("client", script))
    out = b""
    await wait_pod(
        local_cluster, "client", lambda p: "running" in container_status(p).get("state", {})
    )
    async with asyncio.timeout(10):
        async for chunk in local_cluster.kubelet.pod_log("default", "client", None, follow=True):
            out += chunk
            if b"\n" in out:
                break
    assert out.split()[0].decode() == ready["status"]["podIP"]


async def test_claim_is_bound_and_its_data_outlives_the_pod(local_cluster: LocalCluster) -> None:
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await create(local_cluster, "persistentvolumeclaims", claim)
    volumes = [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    writer = busybox_pod("writer", "echo kept > /data/f && echo written; sleep 30", volumes=volumes)
    writer["spec"]["containers"][0]["volumeMounts"] = [{"name": "d", "mountPath": "/data"}]
    writer["spec"]["terminationGracePeriodSeconds"] = 1
    await create(local_cluster, "pods", writer)
    await wait_pod(local_cluster, "writer", _running)
    assert await _first_line(local_cluster, "writer") == "written"
    api = local_cluster.client
    pvc = await api.request("GET", "/api/v1/namespaces/default/persistentvolumeclaims/data")
    assert pvc["status"]["phase"] == "Bound"
    await api.request("DELETE", "/api/v1/namespaces/default/pods/writer")
    await wait_pod(local_cluster, "writer", lambda p: p is None)
    reader = busybox_pod("reader", "cat /data/f; sleep 30", volumes=volumes)
    reader["spec"]["containers"][0]["volumeMounts"] = [{"name": "d", "mountPath": "/data"}]
    await create(local_cluster, "pods", reader)
    await wait_pod(local_cluster, "reader", _running)
    assert await _first_line(local_cluster, "reader") == "kept"


async def test_host_side_code_resolves_cluster_names_like_pods_do(
    local_cluster: LocalCluster,
) -> None:
    headless = {"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "selector": {"app": "m"}}}
    await create(local_cluster, "services", headless)
    member = busybox_pod("m-0", "sleep 30", hostname="m-0", subdomain="db")
    member["metadata"]["labels"] = {"app": "m"}
    await create(local_cluster, "pods", member)
    pod = await wait_pod(local_cluster, "m-0", _ready)
    assert pod is not None
    ip = pod["status"]["podIP"]
    kubelet = local_cluster.kubelet
    assert await kubelet.resolve("m-0.db.default.svc.cluster.local") == [ip]
    assert await kubelet.resolve("db.default.svc.cluster.local") == [ip]
    assert await kubelet.resolve("nothing.default.svc.cluster.local") == []
