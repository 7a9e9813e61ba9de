"""Rules of the cluster-configuration kinds (admission configuration, storage) and of the
printing and OpenAPI documents of the later kinds, each naming the source it follows."""

from __future__ import annotations

from typing import Any

import aiohttp

from opframe.testing.apiserver import ApiServer
from opframe.testing.apiserver.builtins import admission_config as ac
from opframe.testing.apiserver.builtins import networking, replicas, volumes
from opframe.testing.apiserver.builtins.printers import BUILTIN_PRINTERS


def _hook(**extra: Any) -> dict[str, Any]:
    return {
        "name": "check.example.com",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "clientConfig": {"service": {"namespace": "d", "name": "s"}},
        "rules": [
            {
                "operations": ["CREATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
            }
        ],
        **extra,
    }


def test_webhook_defaults_fail_closed_with_ten_seconds() -> None:
    """pkg/apis/admissionregistration/v1/defaults.go SetDefaults_ValidatingWebhook."""
    obj = {"kind": "ValidatingWebhookConfiguration", "webhooks": [_hook()]}
    ac.default_webhooks(obj)
    hook = obj["webhooks"][0]
    assert (hook["failurePolicy"], hook["timeoutSeconds"], hook["matchPolicy"]) == (
        "Fail",
        10,
        "Equivalent",
    )
    assert hook["rules"][0]["scope"] == "*" and hook["clientConfig"]["service"]["port"] == 443


def test_webhook_names_are_unique_and_need_three_segments() -> None:
    """pkg/apis/admissionregistration/validation/validation.go validateWebhook."""
    obj = {"webhooks": [_hook(), _hook(), _hook(name="short.name")]}
    fields = [c["field"] for c in ac.validate_webhooks(obj)]
    assert fields == ["webhooks[1].name", "webhooks[2].name"]


def test_webhook_needs_exactly_one_of_url_or_service() -> None:
    """pkg/apis/admissionregistration/validation/validation.go ValidateWebhookClientConfig."""
    hook = _hook(clientConfig={})
    causes = ac.validate_webhooks({"webhooks": [hook]})
    assert [c["message"] for c in causes] == [
        "Required value: exactly one of url or service is required"
    ]


def test_policy_needs_validations_or_audit_annotations() -> None:
    """pkg/apis/admissionregistration/validation/validation.go
    validateValidatingAdmissionPolicySpec."""
    rules = [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}]
    policy = {"spec": {"matchConstraints": {"resourceRules": rules}}}
    ac.default_policy(policy)
    assert [c["field"] for c in ac.validate_policy(policy)] == ["spec.validations"]
    assert policy["spec"]["matchConstraints"]["namespaceSelector"] == {}


def test_binding_may_not_both_deny_and_warn() -> None:
    """pkg/apis/admissionregistration/validation/validation.go validateValidationActions."""
    binding = {"spec": {"policyName": "p", "validationActions": ["Deny", "Warn"]}}
    assert [c["field"] for c in ac.validate_policy_binding(binding)] == ["spec.validationActions"]


def test_storage_class_parameters_and_provisioner_are_fixed() -> None:
    """pkg/apis/storage/validation/validation.go ValidateStorageClassUpdate."""
    old = {"provisioner": "a.io/x", "parameters": {"k": "v"}}
    volumes.default_storage_class(old)
    new = {**old, "parameters": {"k": "w"}}
    assert [c["message"] for c in volumes.validate_storage_class_update(new, old)] == [
        "Forbidden: updates to parameters are forbidden."
    ]


def test_persistent_volume_needs_one_volume_source() -> None:
    """pkg/apis/core/validation/validation.go ValidatePersistentVolumeSpec."""
    pv = {"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}}
    volumes.default_persistent_volume(pv)
    assert [c["message"] for c in volumes.validate_persistent_volume(pv)] == [
        "Required value: must specify a volume type"
    ]


def test_daemonset_template_generation_grows_with_template_changes() -> None:
    """pkg/registry/apps/daemonset/strategy.go PrepareForUpdate."""
    old: dict[str, Any] = {"spec": {"template": {"spec": {"containers": []}}}}
    replicas.default_daemonset(old)
    new: dict[str, Any] = {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}
    replicas.default_daemonset(new)
    replicas.prepare_daemonset_update(new, old)
    assert new["metadata"]["annotations"][replicas.TEMPLATE_GENERATION] == "2"


def test_ingress_without_a_class_gets_the_default_class() -> None:
    """plugin/pkg/admission/network/defaultingressclass/admission.go."""
    default = {
        "metadata": {
            "name": "nginx",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {networking.DEFAULT_CLASS_ANNOTATION: "true"},
        }
    }
    ingress: dict[str, Any] = {"spec": {}}
    networking.default_ingress_class_name(ingress, [default])
    assert ingress["spec"]["ingressClassName"] == "nginx"


def test_endpoint_slice_address_must_match_the_address_type() -> None:
    """pkg/apis/discovery/validation/validation.go validateEndpoints."""
    es = {"addressType": "IPv4", "endpoints": [{"addresses": ["2001:db8::1"]}]}
    assert [c["message"] for c in networking.validate_endpointslice(es)] == [
        'Invalid value: "2001:db8::1": must be an IPv4 address'
    ]


def test_network_policy_except_must_lie_inside_the_cidr() -> None:
    """pkg/apis/networking/validation/validation.go ValidateIPBlock."""
    np = {
        "spec": {
            "podSelector": {},
            "ingress": [
                {"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]}
            ],
        }
    }
    assert [c["field"] for c in networking.validate_network_policy(np)] == [
        "spec.ingress[0].from[0].ipBlock.except[0]"
    ]


def test_a_suspended_job_prints_suspended() -> None:
    """pkg/printers/internalversion/printers.go printJob."""
    _, row = BUILTIN_PRINTERS[("batch", "jobs")]
    job = {
        "metadata": {"name": "j"},
        "spec": {"completions": 2},
        "status": {"conditions": [{"type": "Suspended", "status": "True"}], "succeeded": 1},
    }
    assert row(job)[:3] == ["j", "Suspended", "1/2"]


async def test_openapi_v2_names_every_served_builtin_kind(api_server_http: ApiServer) -> None:
    """staging/src/k8s.io/kube-openapi: /openapi/v2 holds a definition per kind with its
    x-kubernetes-group-version-kind."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            api_server_http.url + "/openapi/v2",
            headers={"Authorization": f"Bearer {api_server_http.token}"},
        ) as resp,
    ):
        doc = await resp.json()
    job = doc["definitions"]["io.k8s.api.batch.v1.Job"]
    assert job["x-kubernetes-group-version-kind"] == [
        {"group": "batch", "kind": "Job", "version": "v1"}
    ]
    spec = doc["definitions"]["io.k8s.api.batch.v1.JobSpec"]["properties"]["template"]
    assert spec["$ref"] == "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"


def test_ingress_backend_with_port_name_and_number_is_refused_on_the_backend() -> None:
    """pkg/apis/networking/validation/validation.go validateIngressBackend."""
    backend = {"service": {"name": "web", "port": {"name": "http", "number": 80}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    ing = {"spec": {"rules": [{"host": "a.example.com", "http": {"paths": [path]}}]}}
    assert [(c["field"], c["message"]) for c in networking.validate_ingress(ing)] == [
        (
            "spec.rules[0].http.paths[0].backend",
            'Invalid value: "": cannot set both port name & port number',
        )
    ]


def test_ingress_class_controller_is_a_domain_prefixed_path() -> None:
    """pkg/apis/networking/validation/validation.go validateIngressClassSpec
    (IsDomainPrefixedPath)."""
    causes = networking.validate_ingress_class({"spec": {"controller": "nginx"}})
    assert [c["message"] for c in causes] == [
        'Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")'
    ]
