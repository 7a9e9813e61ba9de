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
