"""Services against service-defaulting.json: allocation, defaults, invalid ports, immutability."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from apiserver._builtins_transcripts import (
    RUN,
    FakeContext,
    assert_matches,
    request_body,
    response_body,
    strip_system_meta,
)

from opframe.testing.apiserver.builtins import (
    builtin_type,
    on_delete,
    prepare_create,
    prepare_update,
)
from opframe.testing.apiserver.errors import StatusError

SERVICES = builtin_type("", "services")
NS = f"svc-{RUN}"
T = "service-defaulting"
assert SERVICES is not None


def _create(step_id: str, ctx: FakeContext) -> dict[str, Any]:
    body = request_body(T, step_id)
    body["metadata"]["namespace"] = NS
    prepare_create(SERVICES, body, ctx)
    return body


@pytest.mark.parametrize("step_id", ["create-clusterip", "create-headless", "create-externalname"])
def test_service_defaults_match_the_recording(step_id: str) -> None:
    assert_matches(strip_system_meta(response_body(T, step_id)), _create(step_id, FakeContext()))


def test_cluster_ip_comes_from_the_service_range() -> None:
    svc = _create("create-clusterip", FakeContext())
    assert svc["spec"]["clusterIP"] == "10.0.0.2"
    assert svc["spec"]["clusterIPs"] == ["10.0.0.2"]


@pytest.mark.parametrize("step_id", ["create-no-ports", "create-bad-port"])
def test_invalid_services_answer_the_recorded_status(step_id: str) -> None:
    ctx = FakeContext()
    with pytest.raises(StatusError) as err:
        _create(step_id, ctx)
    assert err.value.body() == response_body(T, step_id)
    assert ctx.allocated == {"10.0.0.1"}


def test_cluster_ip_is_immutable() -> None:
    ctx = FakeContext()
    old = _create("create-clusterip", ctx)
    new = copy.deepcopy(old)
    new["spec"].update({"clusterIP": "10.0.1.99", "clusterIPs": ["10.0.1.99"]})
    with pytest.raises(StatusError) as err:
        prepare_update(SERVICES, new, old, ctx)
    assert err.value.body() == response_body(T, "change-clusterip")


def test_update_without_cluster_ip_keeps_the_allocated_one() -> None:
    ctx = FakeContext()
    old = _create("create-clusterip", ctx)
    new = copy.deepcopy(old)
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        del new["spec"][key]
    new["spec"]["ports"].insert(0, {"port": 443, "name": "https"})
    prepare_update(SERVICES, new, old, ctx)
    expected = strip_system_meta(response_body(T, "smp-ports-by-port"))
    assert_matches(expected, strip_system_meta(new), {"<ip:1>": old["spec"]["clusterIP"]})


def test_delete_gives_the_cluster_ip_back() -> None:
    ctx = FakeContext()
    svc = _create("create-clusterip", ctx)
    on_delete(SERVICES, svc, ctx)
    assert ctx.allocated == {"10.0.0.1"}


def test_requested_ip_outside_the_range_is_refused() -> None:
    body = request_body(T, "create-clusterip")
    body["metadata"]["namespace"] = NS
    body["spec"]["clusterIP"] = "10.9.9.9"
    with pytest.raises(StatusError) as err:
        prepare_create(SERVICES, body, FakeContext())
    assert err.value.details is not None
    assert err.value.details["causes"][0]["field"] == "spec.clusterIPs"


def test_node_port_service_gets_node_ports_and_traffic_policy() -> None:
    body = request_body(T, "create-clusterip")
    body["metadata"]["namespace"] = NS
    body["spec"]["type"] = "NodePort"
    prepare_create(SERVICES, body, FakeContext())
    assert 30000 <= body["spec"]["ports"][0]["nodePort"] <= 32767
    assert body["spec"]["externalTrafficPolicy"] == "Cluster"


def _service(**spec: Any) -> dict[str, Any]:
    ports = spec.pop("ports", [{"port": 80}])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"selector": {"app": "web"}, "ports": ports, **spec},
    }


def _causes_of(svc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(StatusError) as caught:
        prepare_create(SERVICES, svc, FakeContext())
    return [(c["field"], c["message"]) for c in caught.value.details["causes"]]  # type: ignore[index]


def test_a_node_port_on_a_cluster_ip_service_is_forbidden() -> None:
    """pkg/apis/core/validation ValidateService: nodePort only for NodePort/LoadBalancer."""
    assert _causes_of(_service(ports=[{"port": 80, "nodePort": 30080}])) == [
        ("spec.ports[0].nodePort", "Forbidden: may not be used when `type` is 'ClusterIP'")
    ]


def test_the_same_node_port_twice_is_a_duplicate() -> None:
    """pkg/apis/core/validation ValidateService: node ports unique per protocol."""
    ports = [
        {"name": "a", "port": 80, "nodePort": 30080},
        {"name": "b", "port": 81, "nodePort": 30080},
    ]
    assert ("spec.ports[1].nodePort", "Duplicate value: 30080") in _causes_of(
        _service(type="NodePort", ports=ports)
    )


def test_a_node_port_outside_the_range_is_refused_by_the_allocator() -> None:
    """pkg/registry/core/service/portallocator: 30000-32767 on the recorded server."""
    assert _causes_of(_service(type="NodePort", ports=[{"port": 80, "nodePort": 8080}])) == [
        (
            "spec.ports[0].nodePort",
            "Invalid value: 8080: provided port is not in the valid range. The range of valid "
            "ports is 30000-32767",
        )
    ]


def test_an_unknown_ip_family_policy_is_not_supported() -> None:
    """pkg/apis/core/validation validateServiceIPFamily."""
    assert _causes_of(_service(ipFamilyPolicy="AnyStack")) == [
        (
            "spec.ipFamilyPolicy",
            'Unsupported value: "AnyStack": supported values: "PreferDualStack", '
            '"RequireDualStack", "SingleStack"',
        )
    ]


def test_a_family_given_twice_is_a_duplicate() -> None:
    """pkg/apis/core/validation validateServiceIPFamily: families are unique."""
    causes = _causes_of(_service(ipFamilyPolicy="PreferDualStack", ipFamilies=["IPv4", "IPv4"]))
    assert ("spec.ipFamilies[1]", 'Duplicate value: "IPv4"') in causes


def test_single_stack_with_two_families_is_invalid() -> None:
    """pkg/apis/core/validation validateServiceIPFamily."""
    causes = _causes_of(_service(ipFamilyPolicy="SingleStack", ipFamilies=["IPv4", "IPv6"]))
    assert (
        "spec.ipFamilyPolicy",
        "Invalid value: \"SingleStack\": must be 'RequireDualStack' or 'PreferDualStack' "
        "when multiple IP families are specified",
    ) in causes


def test_dual_stack_required_on_an_ipv4_cluster_is_refused() -> None:
    """pkg/registry/core/service/storage alloc: the cluster has one (IPv4) service range."""
    assert _causes_of(_service(ipFamilyPolicy="RequireDualStack")) == [
        (
            "spec.ipFamilyPolicy",
            'Invalid value: "RequireDualStack": this cluster is not configured for dual-stack '
            "services",
        )
    ]


def test_prefer_dual_stack_on_an_ipv4_cluster_gets_ipv4_only() -> None:
    """pkg/registry/core/service/storage alloc: PreferDualStack falls back to one family."""
    svc = _service(ipFamilyPolicy="PreferDualStack")
    prepare_create(SERVICES, svc, FakeContext())
    assert (svc["spec"]["ipFamilyPolicy"], svc["spec"]["ipFamilies"]) == (
        "PreferDualStack",
        ["IPv4"],
    )
