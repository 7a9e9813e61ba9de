"""Deployments (deployment-strategic-merge.json), StatefulSets, PDBs and Scale."""

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
    prepare_create,
    prepare_update,
    scale_of,
)
from opframe.testing.apiserver.errors import StatusError

DEPLOYMENTS = builtin_type("apps", "deployments")
STATEFULSETS = builtin_type("apps", "statefulsets")
PDBS = builtin_type("policy", "poddisruptionbudgets")
NS = f"deploy-{RUN}"
T = "deployment-strategic-merge"
assert DEPLOYMENTS is not None and STATEFULSETS is not None and PDBS is not None


def _deployment() -> dict[str, Any]:
    body = request_body(T, "create")
    body["metadata"]["namespace"] = NS
    prepare_create(DEPLOYMENTS, body, FakeContext())
    return body


def test_deployment_and_template_defaults_match_the_recording() -> None:
    assert_matches(strip_system_meta(response_body(T, "create")), _deployment())


def test_template_change_bumps_generation_and_keeps_status() -> None:
    old = _deployment()
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"
    new["status"] = {"replicas": 9}
    prepare_update(DEPLOYMENTS, new, old, FakeContext())
    assert_matches(strip_system_meta(response_body(T, "smp-change-image")), strip_system_meta(new))


def test_new_container_in_a_patch_gets_container_defaults() -> None:
    old = _deployment()
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"].insert(
        0, {"name": "logger", "image": "busybox:1.36"}
    )
    prepare_update(DEPLOYMENTS, new, old, FakeContext())
    logger = new["spec"]["template"]["spec"]["containers"][0]
    assert (
        logger == response_body(T, "smp-add-container")["spec"]["template"]["spec"]["containers"][0]
    )


def test_label_only_change_keeps_generation() -> None:
    old = _deployment()
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"team": "a"}
    prepare_update(DEPLOYMENTS, new, old, FakeContext())
    assert new["metadata"]["generation"] == 1


def test_negative_replicas_answer_the_recorded_status() -> None:
    old = _deployment()
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = -1
    with pytest.raises(StatusError) as err:
        prepare_update(DEPLOYMENTS, new, old, FakeContext())
    assert err.value.body() == response_body(T, "smp-invalid")


def test_selector_must_match_template_labels() -> None:
    body = request_body(T, "create")
    body["metadata"]["namespace"] = NS
    body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(StatusError) as err:
        prepare_create(DEPLOYMENTS, body, FakeContext())
    assert err.value.details is not None
    assert [(c["field"], c["message"]) for c in err.value.details["causes"]] == [
        (
            "spec.template.metadata.labels",
            'Invalid value: {"app":"web"}: `selector` does not match template `labels`',
        )
    ]


def test_scale_view_of_a_deployment() -> None:
    deployment = strip_system_meta(response_body(T, "get"))
    deployment["metadata"].update(uid="u", resourceVersion="9", creationTimestamp="t")
    expected = response_body(T, "scale-get")
    assert_matches(expected, scale_of(deployment))


def test_statefulset_defaults() -> None:
    body = request_body(T, "create")
    body.update(kind="StatefulSet", metadata={"name": "db", "namespace": NS})
    body["spec"]["serviceName"] = "db"
    body["spec"]["volumeClaimTemplates"] = [
        {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    ]
    prepare_create(STATEFULSETS, body, FakeContext())
    spec = body["spec"]
    assert (spec["replicas"], spec["podManagementPolicy"], spec["revisionHistoryLimit"]) == (
        1,
        "OrderedReady",
        10,
    )
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    claim = spec["volumeClaimTemplates"][0]
    assert claim["spec"]["volumeMode"] == "Filesystem" and claim["status"] == {"phase": "Pending"}
    assert body["status"] == {"replicas": 0, "availableReplicas": 0}
    assert body["metadata"]["generation"] == 1


def test_statefulset_service_name_is_immutable() -> None:
    body = request_body(T, "create")
    body.update(kind="StatefulSet", metadata={"name": "db", "namespace": NS})
    body["spec"]["serviceName"] = "db"
    prepare_create(STATEFULSETS, body, FakeContext())
    new = copy.deepcopy(body)
    new["spec"]["serviceName"] = "other"
    with pytest.raises(StatusError) as err:
        prepare_update(STATEFULSETS, new, body, FakeContext())
    assert err.value.details is not None
    assert err.value.details["causes"][0]["reason"] == "FieldValueForbidden"


def test_pdb_status_starts_at_zero_and_both_bounds_are_refused() -> None:
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "db", "namespace": NS},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "db"}}},
    }
    prepare_create(PDBS, pdb, FakeContext())
    assert pdb["status"] == {
        "disruptionsAllowed": 0,
        "currentHealthy": 0,
        "desiredHealthy": 0,
        "expectedPods": 0,
    }
    both = copy.deepcopy(pdb)
    both["spec"]["maxUnavailable"] = "150%"
    with pytest.raises(StatusError) as err:
        prepare_update(PDBS, both, pdb, FakeContext())
    assert err.value.details is not None
    assert [c["field"] for c in err.value.details["causes"]] == ["spec", "spec.maxUnavailable"]


def test_status_update_keeps_spec_and_labels() -> None:
    old = _deployment()
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 1, "readyReplicas": 1}
    new["spec"]["replicas"] = 5
    new["metadata"]["labels"] = {"sneaky": "yes"}
    prepare_update(DEPLOYMENTS, new, old, FakeContext(), subresource="status")
    assert new["status"] == {"replicas": 1, "readyReplicas": 1}
    assert new["spec"] == old["spec"] and "labels" not in new["metadata"]
    assert new["metadata"]["generation"] == 1


def _statefulset(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "etcd"}]},
            },
            **spec,
        },
    }


def _sts_causes(obj: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(StatusError) as caught:
        prepare_create(STATEFULSETS, obj, FakeContext())
    return [(c["field"], c["message"]) for c in caught.value.details["causes"]]  # type: ignore[index]


def test_a_statefulset_service_name_must_be_a_dns_label() -> None:
    """pkg/apis/apps/validation ValidateStatefulSetSpec: serviceName, when set, is a label."""
    causes = _sts_causes(_statefulset(serviceName="Bad_Name"))
    assert [field for field, _ in causes] == ["spec.serviceName"]


def test_a_statefulset_without_a_service_name_is_valid() -> None:
    """pkg/apis/apps/validation ValidateStatefulSetSpec: serviceName is optional."""
    obj = _statefulset()
    prepare_create(STATEFULSETS, obj, FakeContext())
    assert obj["spec"]["podManagementPolicy"] == "OrderedReady"


def test_a_statefulset_selector_must_match_its_template() -> None:
    """pkg/apis/apps/validation ValidateStatefulSetSpec: selector matches template labels."""
    obj = _statefulset(selector={"matchLabels": {"app": "other"}})
    assert "spec.template.metadata.labels" in [field for field, _ in _sts_causes(obj)]


def test_an_unknown_pod_management_policy_is_refused() -> None:
    """pkg/apis/apps/validation ValidateStatefulSetSpec: OrderedReady or Parallel."""
    obj = _statefulset(podManagementPolicy="Random")
    assert "spec.podManagementPolicy" in [field for field, _ in _sts_causes(obj)]
