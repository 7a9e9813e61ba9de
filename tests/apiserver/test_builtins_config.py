"""Secrets, ConfigMaps, Namespaces, PVCs and RBAC objects."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from apiserver._builtins_transcripts import FakeContext

from opframe.testing.apiserver.builtins import builtin_type, prepare_create, prepare_update
from opframe.testing.apiserver.errors import StatusError
from opframe.testing.apiserver.registry.resource_type import ResourceType


def _rt(group: str, plural: str) -> ResourceType:
    rt = builtin_type(group, plural)
    assert rt is not None
    return rt


def _causes(err: pytest.ExceptionInfo[StatusError]) -> list[tuple[str, str]]:
    assert err.value.details is not None
    return [(c["field"], c["message"]) for c in err.value.details["causes"]]


def _secret(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns"},
        **fields,
    }


def test_string_data_is_merged_into_base64_data() -> None:
    secret = _secret(data={"a": "YQ=="}, stringData={"b": "hello"})
    prepare_create(_rt("", "secrets"), secret, FakeContext())
    assert secret["data"] == {"a": "YQ==", "b": "aGVsbG8="}
    assert "stringData" not in secret and secret["type"] == "Opaque"


def test_data_that_is_not_base64_is_a_bad_request() -> None:
    with pytest.raises(StatusError) as err:
        prepare_create(_rt("", "secrets"), _secret(data={"a": "not base64!"}), FakeContext())
    assert err.value.code == 400 and "illegal base64 data at input byte 3" in err.value.message


def test_tls_secret_needs_its_keys() -> None:
    with pytest.raises(StatusError) as err:
        prepare_create(_rt("", "secrets"), _secret(type="kubernetes.io/tls"), FakeContext())
    assert _causes(err) == [
        ("data[tls.crt]", "Required value"),
        ("data[tls.key]", "Required value"),
    ]


def test_immutable_configmap_refuses_data_changes() -> None:
    rt = _rt("", "configmaps")
    cm = {"metadata": {"name": "c", "namespace": "ns"}, "data": {"a": "1"}, "immutable": True}
    prepare_create(rt, cm, FakeContext())
    new = copy.deepcopy(cm)
    new["data"] = {"a": "2"}
    with pytest.raises(StatusError) as err:
        prepare_update(rt, new, cm, FakeContext())
    assert _causes(err) == [("data", "Forbidden: field is immutable when `immutable` is set")]


def test_secret_type_is_immutable() -> None:
    rt = _rt("", "secrets")
    old = _secret(data={})
    prepare_create(rt, old, FakeContext())
    new = {**copy.deepcopy(old), "type": "kubernetes.io/basic-auth", "data": {"username": "dQ=="}}
    with pytest.raises(StatusError) as err:
        prepare_update(rt, new, old, FakeContext())
    assert _causes(err) == [
        ("type", 'Invalid value: "kubernetes.io/basic-auth": field is immutable')
    ]


def test_namespace_main_update_keeps_finalizers_and_status() -> None:
    rt = _rt("", "namespaces")
    ns = {"metadata": {"name": "n"}}
    prepare_create(rt, ns, FakeContext())
    new = copy.deepcopy(ns)
    new["spec"] = {}
    new["status"] = {"phase": "Terminating"}
    prepare_update(rt, new, ns, FakeContext())
    assert new["spec"] == {"finalizers": ["kubernetes"]} and new["status"] == {"phase": "Active"}


def test_namespace_finalize_changes_only_the_finalizers() -> None:
    rt = _rt("", "namespaces")
    ns = {"metadata": {"name": "n"}}
    prepare_create(rt, ns, FakeContext())
    new = copy.deepcopy(ns)
    new["spec"] = {"finalizers": []}
    prepare_update(rt, new, ns, FakeContext(), subresource="finalize")
    assert new["spec"] == {} and new["status"] == {"phase": "Active"}


def test_namespace_name_must_be_a_dns_label() -> None:
    with pytest.raises(StatusError) as err:
        prepare_create(_rt("", "namespaces"), {"metadata": {"name": "a.b"}}, FakeContext())
    assert _causes(err)[0][0] == "metadata.name"


def test_pvc_defaults_and_required_fields() -> None:
    rt = _rt("", "persistentvolumeclaims")
    pvc = {
        "metadata": {"name": "d", "namespace": "ns"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1024Mi"}},
        },
    }
    prepare_create(rt, pvc, FakeContext())
    assert pvc["spec"]["volumeMode"] == "Filesystem" and pvc["status"] == {"phase": "Pending"}
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    with pytest.raises(StatusError) as err:
        prepare_create(
            rt, {"metadata": {"name": "e", "namespace": "ns"}, "spec": {}}, FakeContext()
        )
    assert [f for f, _ in _causes(err)] == ["spec.accessModes", "spec.resources[storage]"]


def test_rbac_names_allow_colons_and_subjects_get_api_groups() -> None:
    binding = {
        "metadata": {"name": "system:viewers", "namespace": "ns"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa"}],
    }
    prepare_create(_rt("rbac.authorization.k8s.io", "rolebindings"), binding, FakeContext())
    assert binding["subjects"] == [
        {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "ServiceAccount", "name": "sa"},
    ]


def test_role_binding_role_ref_cannot_change() -> None:
    rt = _rt("rbac.authorization.k8s.io", "rolebindings")
    old = {
        "metadata": {"name": "b", "namespace": "ns"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
    }
    prepare_create(rt, old, FakeContext())
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "other"
    with pytest.raises(StatusError) as err:
        prepare_update(rt, new, old, FakeContext())
    assert _causes(err)[0][0] == "roleRef"


def test_role_rules_need_verbs() -> None:
    role = {
        "metadata": {"name": "r", "namespace": "ns"},
        "rules": [{"apiGroups": [""], "resources": ["pods"]}],
    }
    with pytest.raises(StatusError) as err:
        prepare_create(_rt("rbac.authorization.k8s.io", "roles"), role, FakeContext())
    assert _causes(err) == [
        ("rules[0].verbs", "Required value: verbs must contain at least one value")
    ]
