"""The EndpointSlice controller: rules from kubernetes
``pkg/controller/endpointslice/reconciler.go``, ``staging/src/k8s.io/endpointslice/utils.go``
(``podToEndpoint``, ``newEndpointSlice``) and ``pkg/api/v1/pod/util.go``
(``ShouldPodBeInEndpoints``)."""

from __future__ import annotations

from typing import Any

from opframe.testing.cluster import LocalCluster
from opframe.testing.controllers.endpointslice import (
    MANAGED_BY,
    SERVICE_NAME_LABEL,
    desired_slices,
)
from tests.controllers._helpers import Obj, create, list_items, pod_template, wait_for

SERVICE: Obj = {
    "metadata": {"name": "etcd", "namespace": "db", "uid": "svc-uid", "labels": {"app": "etcd"}},
    "spec": {"selector": {"app": "etcd"},
             "ports": [{"name": "client", "port": 2379, "targetPort": "client",
                        "appProtocol": "grpc"}]},
}  # fmt: skip


def _pod(name: str, ip: str, ready: bool, **meta: Any) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "db", "uid": name, "labels": {"app": "etcd"},
                     **meta},
        "spec": {"nodeName": "n", "containers": [
            {"name": "etcd", "ports": [{"name": "client", "containerPort": 12379}]}]},
        "status": {"podIP": ip, "phase": "Running",
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }  # fmt: skip


def test_slices_carry_the_service_name_and_managed_by_labels_and_an_owner() -> None:
    """utils.go newEndpointSlice: labels, generateName SERVICE-, controller ref to the Service."""
    (eps,) = desired_slices(SERVICE, [_pod("a", "127.9.0.1", True)])
    labels = eps["metadata"]["labels"]
    assert labels[SERVICE_NAME_LABEL] == "etcd"
    assert labels["endpointslice.kubernetes.io/managed-by"] == MANAGED_BY == (
        "endpointslice-controller.k8s.io")  # fmt: skip
    assert eps["metadata"]["generateName"] == "etcd-"
    assert eps["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    assert eps["addressType"] == "IPv4"


def test_ports_resolve_named_target_ports_and_keep_app_protocol() -> None:
    """utils.go getEndpointPorts: the pod's container port for a named targetPort."""
    (eps,) = desired_slices(SERVICE, [_pod("a", "127.9.0.1", True)])
    assert eps["ports"] == [{"name": "client", "port": 12379, "protocol": "TCP",
                             "appProtocol": "grpc"}]  # fmt: skip


def test_conditions_ready_serving_terminating() -> None:
    """podToEndpoint: serving = pod Ready; terminating = being deleted; ready = serving and not
    terminating. A terminating pod stays in the slice."""
    pods = [_pod("a", "127.9.0.1", True), _pod("b", "127.9.0.2", False),
            _pod("c", "127.9.0.3", True, deletionTimestamp="2026-01-01T00:00:00Z")]  # fmt: skip
    (eps,) = desired_slices(SERVICE, pods)
    conditions = {e["targetRef"]["name"]: e["conditions"] for e in eps["endpoints"]}
    assert conditions == {
        "a": {"ready": True, "serving": True, "terminating": False},
        "b": {"ready": False, "serving": False, "terminating": False},
        "c": {"ready": False, "serving": True, "terminating": True},
    }


def test_publish_not_ready_addresses_makes_every_endpoint_ready() -> None:
    """podToEndpoint: publishNotReadyAddresses forces ready."""
    service = {**SERVICE, "spec": {**SERVICE["spec"], "publishNotReadyAddresses": True}}
    (eps,) = desired_slices(service, [_pod("b", "127.9.0.2", False)])
    assert eps["endpoints"][0]["conditions"]["ready"] is True


def test_finished_pods_of_never_restart_policy_are_not_endpoints() -> None:
    """ShouldPodBeInEndpoints: restartPolicy Never and phase Succeeded/Failed -> out."""
    pod = _pod("a", "127.9.0.1", False)
    pod["spec"]["restartPolicy"] = "Never"
    pod["status"]["phase"] = "Succeeded"
    (eps,) = desired_slices(SERVICE, [pod])
    assert eps["endpoints"] == [] and eps["ports"] == []


def test_services_without_selector_get_no_slices() -> None:
    """reconciler.go: only Services with a selector are managed."""
    assert desired_slices({"metadata": {"name": "x"}, "spec": {}}, []) == []


async def test_a_slice_follows_the_pods_of_a_service(local_cluster: LocalCluster) -> None:
    """The controller writes one slice with the ready pod as a ready endpoint."""
    client = local_cluster.client
    await create(client, "services", {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}})  # fmt: skip
    await create(client, "pods", {"metadata": {"name": "web-0", "labels": {"app": "web"}},
                                  **{"spec": pod_template({})["spec"]}})  # fmt: skip

    def ready_endpoint(slices: list[Obj]) -> bool:
        return len(slices) == 1 and any(
            e["conditions"].get("ready") for e in slices[0].get("endpoints") or []
        )

    slices = await wait_for(
        lambda: list_items(client, "endpointslices", selector=f"{SERVICE_NAME_LABEL}=web"),
        ready_endpoint, within=60, message="no ready endpoint in the slice")  # fmt: skip
    (eps,) = slices
    assert eps["metadata"]["name"].startswith("web-")
    assert eps["endpoints"][0]["targetRef"]["name"] == "web-0"
    assert eps["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]
