"""Pod Security admission with namespace labels.

Rules from staging/src/k8s.io/pod-security-admission/policy/check_*.go (each check and its
message), policy/registry.go (restricted checks replace their baseline counterparts; checks
run in ID order) and admission/admission.go (enforce refuses pods with 403 "violates
PodSecurity", warn answers "would violate PodSecurity" for pods and workload templates,
invalid labels are refused, raising enforce warns about existing pods).
"""

from __future__ import annotations

from typing import Any

import pytest

from opframe.testing.apiserver import ApiServer
from opframe.testing.apiserver.auth.podsecurity import violations
from tests.auth._http import call

RESTRICTED_SC = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
    "capabilities": {"drop": ["ALL"]},
}


def pod(name: str = "p", **container_sc: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "x", "image": "busybox"}
    if container_sc:
        c["securityContext"] = container_sc
    return {"metadata": {"name": name}, "spec": {"containers": [c]}}


async def _ns(server: ApiServer, name: str, **labels: str) -> None:
    full = {f"pod-security.kubernetes.io/{k}": v for k, v in labels.items()}
    status, out = await call(server, "POST", "/api/v1/namespaces",
                             {"metadata": {"name": name, "labels": full}})  # fmt: skip
    assert status == 201, out
    status, out = await call(server, "POST", f"/api/v1/namespaces/{name}/serviceaccounts",
                             {"metadata": {"name": "default"}})  # fmt: skip
    assert status == 201, out


def test_a_default_pod_violates_restricted_in_id_order() -> None:
    spec = pod()["spec"]
    assert violations(spec, {}, "restricted") == [
        'allowPrivilegeEscalation != false (container "x" must set '
        "securityContext.allowPrivilegeEscalation=false)",
        'unrestricted capabilities (container "x" must set securityContext.capabilities.drop='
        '["ALL"])',
        'runAsNonRoot != true (pod or container "x" must set securityContext.runAsNonRoot=true)',
        'seccompProfile (pod or container "x" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")',
    ]


def test_a_default_pod_meets_baseline() -> None:
    assert violations(pod()["spec"], {}, "baseline") == []


@pytest.mark.parametrize(
    ("spec_patch", "expected"),
    [
        ({"hostNetwork": True}, "host namespaces (hostNetwork=true)"),
        ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}, 'hostPath volumes (volume "h")'),
        ({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}},
         "forbidden sysctls (kernel.msgmax)"),
    ],
)  # fmt: skip
def test_baseline_pod_level_checks(spec_patch: dict[str, Any], expected: str) -> None:
    spec = {**pod()["spec"], **spec_patch}
    assert violations(spec, {}, "baseline") == [expected]


def test_baseline_container_checks() -> None:
    spec = pod(privileged=True, capabilities={"add": ["NET_ADMIN", "CHOWN"]})["spec"]
    spec["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}]
    assert violations(spec, {}, "baseline") == [
        'non-default capabilities (container "x" must not include "NET_ADMIN" in '
        "securityContext.capabilities.add)",
        'hostPort (container "x" uses hostPort 8080)',
        'privileged (container "x" must not set securityContext.privileged=true)',
    ]


def test_restricted_volume_types_replace_the_hostpath_check() -> None:
    spec = {**pod(**RESTRICTED_SC)["spec"], "volumes": [{"name": "h", "hostPath": {}}]}
    assert violations(spec, {}, "restricted") == [
        'restricted volume types (volume "h" uses restricted volume type "hostPath")'
    ]


def test_pod_level_settings_satisfy_restricted() -> None:
    spec = pod(allowPrivilegeEscalation=False, capabilities={"drop": ["ALL"]})["spec"]
    spec["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "Localhost"}}
    assert violations(spec, {}, "restricted") == []


async def test_enforce_refuses_a_violating_pod(api_server_http: ApiServer) -> None:
    await _ns(api_server_http, "psa-enf", enforce="restricted")
    status, out = await call(api_server_http, "POST", "/api/v1/namespaces/psa-enf/pods", pod())
    assert status == 403
    assert out["message"].startswith(
        'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
        "allowPrivilegeEscalation != false"
    )
    ok, _ = await call(api_server_http, "POST", "/api/v1/namespaces/psa-enf/pods",
                       pod("good", **RESTRICTED_SC))  # fmt: skip
    assert ok == 201


async def test_warn_answers_with_a_warning_header(api_server_http: ApiServer) -> None:
    await _ns(api_server_http, "psa-warn", warn="baseline", **{"warn-version": "v1.30"})
    import aiohttp

    body = pod(privileged=True)
    async with (
        aiohttp.ClientSession() as s,
        s.post(api_server_http.url + "/api/v1/namespaces/psa-warn/pods", json=body,
               headers={"Authorization": f"Bearer {api_server_http.token}"}) as resp,
    ):  # fmt: skip
        assert resp.status == 201
        assert resp.headers["Warning"] == (
            '299 - "would violate PodSecurity \\"baseline:v1.30\\": privileged (container '
            '\\"x\\" must not set securityContext.privileged=true)"'
        )


async def test_workload_templates_are_warned_not_refused(api_server_http: ApiServer) -> None:
    await _ns(api_server_http, "psa-dep", enforce="restricted", warn="restricted")
    dep = {
        "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": pod()["spec"]}},
    }  # fmt: skip
    status, _ = await call(api_server_http, "POST",
                           "/apis/apps/v1/namespaces/psa-dep/deployments", dep)  # fmt: skip
    assert status == 201


async def test_an_invalid_level_label_is_refused(api_server_http: ApiServer) -> None:
    status, out = await call(
        api_server_http,
        "POST",
        "/api/v1/namespaces",
        {
            "metadata": {
                "name": "psa-bad",
                "labels": {"pod-security.kubernetes.io/enforce": "strict"},
            }
        },
    )
    assert status == 422
    assert out["details"]["causes"][0]["field"] == (
        "metadata.labels[pod-security.kubernetes.io/enforce]"
    )


async def test_unlabelled_namespaces_are_privileged(api_server_http: ApiServer) -> None:
    await _ns(api_server_http, "psa-none")
    status, _ = await call(api_server_http, "POST", "/api/v1/namespaces/psa-none/pods",
                           pod(privileged=True))  # fmt: skip
    assert status == 201
