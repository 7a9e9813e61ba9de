"""The controller-manager pieces of LocalCluster: default ServiceAccounts and Endpoints."""

from __future__ import annotations

import asyncio
from typing import Any

from opframe.testing.cluster import LocalCluster
from opframe.testing.controllers.endpoints import endpoints_for
from tests.kubelet.helpers import busybox_pod, condition, create, wait_pod, watch_events

Obj = dict[str, Any]

SERVICE: Obj = {
    "metadata": {"name": "etcd", "namespace": "db", "labels": {"app": "etcd"}},
    "spec": {
        "selector": {"app": "etcd"},
        "ports": [{"name": "client", "port": 2379, "targetPort": "client"}],
    },
}


def _pod(name: str, ip: str, ready: bool, **spec: Any) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "db", "uid": name, "labels": {"app": "etcd"}},
        "spec": {
            "nodeName": "n",
            "containers": [{"name": "etcd", "ports": [{"name": "client", "containerPort": 2379}]}],
            **spec,
        },
        "status": {
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_ready_pods_are_addresses_and_unready_ones_not_ready_addresses() -> None:
    eps = endpoints_for(SERVICE, [_pod("a", "127.9.0.1", True), _pod("b", "127.9.0.2", False)])
    assert eps is not None
    (subset,) = eps["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["127.9.0.1"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["127.9.0.2"]
    assert subset["ports"] == [{"name": "client", "port": 2379, "protocol": "TCP"}]


def test_publish_not_ready_addresses_lists_every_pod_as_ready() -> None:
    service = {**SERVICE, "spec": {**SERVICE["spec"], "publishNotReadyAddresses": True}}
    eps = endpoints_for(service, [_pod("b", "127.9.0.2", False)])
    assert eps is not None
    assert [a["ip"] for a in eps["subsets"][0]["addresses"]] == ["127.9.0.2"]


def test_hostname_is_set_for_pods_under_the_service_as_subdomain() -> None:
    eps = endpoints_for(SERVICE, [_pod("a", "127.9.0.1", True, hostname="a", subdomain="etcd")])
    assert eps is not None
    assert eps["subsets"][0]["addresses"][0]["hostname"] == "a"


def test_services_without_selector_are_left_to_their_owner() -> None:
    assert endpoints_for({"metadata": {"name": "x"}, "spec": {}}, []) is None


async def test_endpoints_follow_pod_readiness(local_cluster: LocalCluster) -> None:
    svc = {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    await create(local_cluster, "services", svc)
    await create(local_cluster, "pods", busybox_pod("web", "sleep 30"))
    pod = await wait_pod(local_cluster, "web", lambda p: condition(p, "Ready") == "True")
    assert pod is not None
    api = local_cluster.client
    path = "/api/v1/namespaces/default/endpoints"
    listing = await api.request("GET", path, params={"fieldSelector": "metadata.name=web"})
    found = listing["items"][0] if listing["items"] else None
    if not _lists(found, pod["status"]["podIP"]):
        rv = listing["metadata"]["resourceVersion"]
        async with asyncio.timeout(10):
            async for event in watch_events(api, path, rv, {"fieldSelector": "metadata.name=web"}):
                if _lists(event["object"], pod["status"]["podIP"]):
                    break


def _lists(endpoints: Obj | None, ip: str) -> bool:
    subsets = (endpoints or {}).get("subsets") or []
    return any(a.get("ip") == ip for s in subsets for a in s.get("addresses") or [])
