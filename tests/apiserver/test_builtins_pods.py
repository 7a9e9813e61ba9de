"""Pods against pod-defaulting.json: defaults, admission, QoS, immutability, status."""

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

from opframe.testing.apiserver.builtins import builtin_type, prepare_create, prepare_update
from opframe.testing.apiserver.errors import StatusError

PODS = builtin_type("", "pods")
NS = f"pod-{RUN}"
T = "pod-defaulting"
assert PODS is not None


def _ctx() -> FakeContext:
    ctx = FakeContext()
    ctx.add("serviceaccounts", NS, "default", {"metadata": {"name": "default", "namespace": NS}})
    return ctx


def _create(step_id: str, ctx: FakeContext | None = None) -> dict[str, Any]:
    body = request_body(T, step_id)
    body["metadata"]["namespace"] = NS
    prepare_create(PODS, body, ctx or _ctx())
    return body


def _stored(step_id: str) -> dict[str, Any]:
    """A recorded pod as the server stored it, with concrete values for placeholders."""
    pod = copy.deepcopy(response_body(T, step_id))
    name = "kube-api-access-abcde"
    for v in pod["spec"].get("volumes", []):
        v["name"] = name
    for c in pod["spec"]["containers"]:
        for m in c.get("volumeMounts", []):
            m["name"] = name
    pod["metadata"].pop("managedFields")
    return pod


def test_minimal_pod_gets_every_recorded_default() -> None:
    assert_matches(strip_system_meta(response_body(T, "create-minimal")), _create("create-minimal"))


def test_untagged_image_with_limits_is_guaranteed_and_always_pulled() -> None:
    assert_matches(
        strip_system_meta(response_body(T, "create-guaranteed")), _create("create-guaranteed")
    )


def test_token_volume_name_is_random_and_mounted_by_every_container() -> None:
    pod = _create("create-minimal")
    name = pod["spec"]["volumes"][0]["name"]
    assert name.startswith("kube-api-access-") and len(name) == len("kube-api-access-") + 5
    assert pod["spec"]["containers"][0]["volumeMounts"][0]["name"] == name


def test_pod_whose_service_account_is_missing_is_forbidden() -> None:
    expected = response_body(T, "missing-serviceaccount")
    with pytest.raises(StatusError) as err:
        _create("missing-serviceaccount")
    assert (err.value.code, err.value.body()) == (403, expected)


def test_invalid_container_name_and_missing_image_are_both_reported() -> None:
    expected = response_body(T, "invalid-pod")
    with pytest.raises(StatusError) as err:
        _create("invalid-pod")
    assert err.value.body() == expected


def test_image_change_is_allowed_and_bumps_generation() -> None:
    old = _stored("create-minimal")
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "busybox:1.37"
    prepare_update(PODS, new, old, _ctx())
    expected = strip_system_meta(response_body(T, "change-image-allowed"))
    assert_matches(expected, strip_system_meta(new))
    assert new["metadata"]["generation"] == 2


def test_command_change_is_forbidden_on_spec() -> None:
    old = _stored("change-image-allowed")
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["command"] = ["sleep", "10"]
    with pytest.raises(StatusError) as err:
        prepare_update(PODS, new, old, _ctx())
    recorded = response_body(T, "change-command-forbidden")
    body = err.value.body()
    assert (body["code"], body["reason"]) == (recorded["code"], recorded["reason"])
    assert [(c["reason"], c["field"]) for c in body["details"]["causes"]] == [
        (c["reason"], c["field"]) for c in recorded["details"]["causes"]
    ]


def test_main_endpoint_update_keeps_stored_status() -> None:
    old = _stored("create-minimal")
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Running"}
    prepare_update(PODS, new, old, _ctx())
    assert new["status"] == old["status"]


def test_status_update_fills_pod_ips_and_keeps_spec() -> None:
    old = _stored("change-image-allowed")
    new = copy.deepcopy(old)
    new["status"].update({"phase": "Running", "podIP": "10.1.2.3"})
    new["spec"]["containers"][0]["image"] = "ignored:1"
    prepare_update(PODS, new, old, _ctx(), subresource="status")
    expected = strip_system_meta(response_body(T, "status-patch"))
    assert_matches(expected, strip_system_meta(new))


def test_service_account_opt_out_skips_the_token_volume() -> None:
    pod = _create("create-guaranteed")
    assert "volumes" not in pod["spec"]
    assert "volumeMounts" not in pod["spec"]["containers"][0]


def test_existing_toleration_for_all_keys_suppresses_defaults() -> None:
    body = request_body(T, "create-minimal")
    body["metadata"]["namespace"] = NS
    body["spec"]["tolerations"] = [{"operator": "Exists"}]
    prepare_create(PODS, body, _ctx())
    assert body["spec"]["tolerations"] == [{"operator": "Exists"}]


def test_quantities_are_stored_in_canonical_form() -> None:
    body = request_body(T, "create-guaranteed")
    body["metadata"]["namespace"] = NS
    body["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "0.5", "memory": "1024Mi"}}
    prepare_create(PODS, body, _ctx())
    assert body["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "1Gi"},
        "requests": {"cpu": "500m", "memory": "1Gi"},
    }


def test_requests_below_limits_make_a_burstable_pod() -> None:
    body = request_body(T, "create-guaranteed")
    body["metadata"]["namespace"] = NS
    body["spec"]["containers"][0]["resources"]["requests"] = {"cpu": "100m"}
    prepare_create(PODS, body, _ctx())
    assert body["status"]["qosClass"] == "Burstable"


def test_decoding_a_status_with_pod_ip_fills_pod_ips() -> None:
    from opframe.testing.apiserver.builtins import default_object

    pod = {"spec": {"containers": []}, "status": {"podIP": "10.1.2.3"}}
    default_object(PODS, pod)
    assert pod["status"]["podIPs"] == [{"ip": "10.1.2.3"}]
