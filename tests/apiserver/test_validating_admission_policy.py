"""ValidatingAdmissionPolicy evaluated by the embedded API server.

Each test states one rule of the real plugin and names the file it follows, under
``staging/src/k8s.io/apiserver/pkg/admission/plugin/policy/``: ``validating/dispatcher.go``
(actions, the denial's message, reason and code), ``validating/validator.go`` (match conditions,
messages), ``generic/policy_dispatcher.go`` (``CollectParams``) and ``matching/matching.go``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from opframe.testing.apiserver import ApiServer

VAP = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
VAPB = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"
CM = "/api/v1/namespaces/default/configmaps"


class Api:
    def __init__(self, server: ApiServer, session: aiohttp.ClientSession) -> None:
        self.url = server.url
        self.s = session

    async def call(
        self, method: str, path: str, body: Any = None, *, as_user: str = ""
    ) -> tuple[int, Any, list[str]]:
        headers = {"Impersonate-User": as_user} if as_user else {}
        async with self.s.request(method, self.url + path, json=body, headers=headers) as resp:
            warnings = resp.headers.getall("Warning", [])
            if resp.content_type != "application/json":
                return resp.status, await resp.text(), warnings
            return resp.status, await resp.json(), warnings


@pytest.fixture
def api(api_server_http: ApiServer, admin_session: aiohttp.ClientSession) -> Api:
    return Api(api_server_http, admin_session)


def _policy(name: str, validations: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["configmaps"],
                    }
                ]
            },
            "validations": validations,
            **spec,
        },
    }
    return body


def _binding(name: str, policy: str, actions: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": policy, "validationActions": actions, **spec},
    }


def _cm(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": data or {},
    }


async def _install(api: Api, policy: dict[str, Any], binding: dict[str, Any]) -> None:
    status, body, _ = await api.call("POST", VAP, policy)
    assert status == 201, body
    status, body, _ = await api.call("POST", VAPB, binding)
    assert status == 201, body


async def test_a_denied_write_is_forbidden_with_the_policy_and_binding_named(api: Api) -> None:
    """dispatcher.go: ``admission.NewForbidden`` with ``ValidatingAdmissionPolicy 'P' with
    binding 'B' denied request: failed expression: E``; reason Invalid, code 422, one cause."""
    await _install(
        api,
        _policy("small", [{"expression": "size(object.data) <= 1"}]),
        _binding("small-b", "small", ["Deny"]),
    )
    status, body, _ = await api.call("POST", CM, _cm("big", {"a": "1", "b": "2"}))
    message = (
        "ValidatingAdmissionPolicy 'small' with binding 'small-b' denied request: "
        "failed expression: size(object.data) <= 1"
    )
    assert status == 422
    assert body["reason"] == "Invalid"
    assert body["message"] == f'configmaps "big" is forbidden: {message}'
    assert body["details"] == {
        "name": "big",
        "kind": "configmaps",
        "causes": [{"message": message}],
    }
    status, _, _ = await api.call("POST", CM, _cm("ok", {"a": "1"}))
    assert status == 201


async def test_reason_sets_the_code_and_message_expression_the_message(api: Api) -> None:
    """validator.go: messageExpression's string wins over message; dispatcher.go: the
    validation's reason is the Status reason and ``reasonToCode`` its code (Forbidden 403)."""
    validation = {
        "expression": "!('secret' in object.data)",
        "message": "static",
        "messageExpression": "'no secret in ' + object.metadata.name",
        "reason": "Forbidden",
    }
    await _install(api, _policy("p", [validation]), _binding("b", "p", ["Deny"]))
    status, body, _ = await api.call("POST", CM, _cm("x", {"secret": "s"}))
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert body["message"].endswith("denied request: no secret in x")


async def test_message_is_used_when_message_expression_is_blank(api: Api) -> None:
    """validator.go: a messageExpression that yields a blank string falls back to message."""
    validation = {"expression": "false", "message": " fixed ", "messageExpression": "' '"}
    await _install(api, _policy("p", [validation]), _binding("b", "p", ["Deny"]))
    status, body, _ = await api.call("POST", CM, _cm("x"))
    assert status == 422
    assert body["message"].endswith("denied request: fixed")


async def test_warn_lets_the_write_through_with_a_warning_header(api: Api) -> None:
    """dispatcher.go: Warn adds ``Validation failed for ValidatingAdmissionPolicy 'P' with
    binding 'B': MSG`` as a warning; the write is admitted."""
    await _install(
        api,
        _policy("p", [{"expression": "false", "message": "careful"}]),
        _binding("b", "p", ["Warn", "Audit"]),
    )
    status, _, warnings = await api.call("POST", CM, _cm("x"))
    assert status == 201
    assert any(
        "Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': careful" in w
        for w in warnings
    ), warnings


async def test_audit_alone_admits_and_records(api: Api, api_server_http: ApiServer) -> None:
    """dispatcher.go: Audit publishes the failure (policy, binding, message, actions) and
    does not refuse the write."""
    await _install(
        api, _policy("p", [{"expression": "false", "message": "m"}]), _binding("b", "p", ["Audit"])
    )
    status, _, warnings = await api.call("POST", CM, _cm("x"))
    assert status == 201 and not warnings
    assert api_server_http.policies.audit[-1] == {
        "message": "m",
        "policy": "p",
        "binding": "b",
        "validationActions": ["Audit"],
    }


async def test_false_match_condition_skips_the_policy(api: Api) -> None:
    """validator.go: any matchCondition false: the policy is not evaluated."""
    conditions = [{"name": "only-guarded", "expression": "'guarded' in object.metadata.labels"}]
    await _install(
        api,
        _policy("p", [{"expression": "false"}], matchConditions=conditions),
        _binding("b", "p", ["Deny"]),
    )
    status, _, _ = await api.call("POST", CM, _cm("free", labels={"x": "y"}))
    assert status == 201
    status, _, _ = await api.call("POST", CM, _cm("kept", labels={"guarded": "y"}))
    assert status == 422


async def test_runtime_error_follows_failure_policy(api: Api) -> None:
    """validator.go / dispatcher.go: an evaluation error is a denial under failurePolicy Fail
    and is ignored under Ignore."""
    await _install(
        api,
        _policy("fail", [{"expression": "object.data.missing == 'x'"}], failurePolicy="Fail"),
        _binding("fail-b", "fail", ["Deny"]),
    )
    status, body, _ = await api.call("POST", CM, _cm("a", {"k": "v"}))
    assert status == 422
    assert (
        "ValidatingAdmissionPolicy 'fail' with binding 'fail-b' denied request" in body["message"]
    )
    pol = _policy("fail", [{"expression": "object.data.missing == 'x'"}], failurePolicy="Ignore")
    status, current, _ = await api.call("GET", f"{VAP}/fail")
    pol["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    assert (await api.call("PUT", f"{VAP}/fail", pol))[0] == 200
    status, _, _ = await api.call("POST", CM, _cm("a", {"k": "v"}))
    assert status == 201


async def test_variables_old_object_and_request(api: Api) -> None:
    """validator.go: variables are bound under ``variables``; ``oldObject`` is the stored
    object on UPDATE; ``request.operation`` names the operation."""
    validation = {
        "expression": "request.operation != 'UPDATE' || variables.keep == oldObject.data.keep",
        "message": "keep is immutable",
    }
    variables = [{"name": "keep", "expression": "object.data.keep"}]
    await _install(
        api, _policy("p", [validation], variables=variables), _binding("b", "p", ["Deny"])
    )
    status, cm, _ = await api.call("POST", CM, _cm("x", {"keep": "1"}))
    assert status == 201
    cm["data"]["keep"] = "2"
    status, body, _ = await api.call("PUT", f"{CM}/x", cm)
    assert status == 422 and body["message"].endswith("keep is immutable")


async def test_user_info_in_request(api: Api) -> None:
    """cel.CreateAdmissionRequest: ``request.userInfo.username`` is the requesting user."""
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "editors"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": n}
            for n in ("alice", "bob")
        ],
    }
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings"
    assert (await api.call("POST", rbac, binding))[0] == 201
    validation = {"expression": "request.userInfo.username == 'alice'", "message": "alice only"}
    await _install(api, _policy("p", [validation]), _binding("b", "p", ["Deny"]))
    status, body, _ = await api.call("POST", CM, _cm("x"), as_user="bob")
    assert status == 422, body
    assert body["message"].endswith("alice only")
    assert (await api.call("POST", CM, _cm("y"), as_user="alice"))[0] == 201


async def test_binding_match_resources_narrow_by_namespace_selector(api: Api) -> None:
    """matching.go: the binding's namespaceSelector is matched against the labels of the
    request's namespace; a namespace that does not match is not validated."""
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "prod", "labels": {"env": "prod"}},
    }
    assert (await api.call("POST", "/api/v1/namespaces", ns))[0] == 201
    await _install(
        api,
        _policy("p", [{"expression": "false"}]),
        _binding(
            "b",
            "p",
            ["Deny"],
            matchResources={"namespaceSelector": {"matchLabels": {"env": "prod"}}},
        ),
    )
    assert (await api.call("POST", CM, _cm("x")))[0] == 201
    assert (await api.call("POST", "/api/v1/namespaces/prod/configmaps", _cm("x")))[0] == 422


async def test_object_selector_and_exclude_rules(api: Api) -> None:
    """matching.go: the objectSelector matches the new or the old object's labels;
    excludeResourceRules win over resourceRules."""
    policy = _policy("p", [{"expression": "false"}])
    policy["spec"]["matchConstraints"]["objectSelector"] = {"matchLabels": {"guard": "on"}}
    await _install(api, policy, _binding("b", "p", ["Deny"]))
    assert (await api.call("POST", CM, _cm("free")))[0] == 201
    assert (await api.call("POST", CM, _cm("g", labels={"guard": "on"})))[0] == 422
    policy2 = _policy("q", [{"expression": "false"}])
    policy2["spec"]["matchConstraints"]["excludeResourceRules"] = [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["*"],
            "resources": ["configmaps"],
            "resourceNames": ["spared"],
        }
    ]
    await _install(api, policy2, _binding("b2", "q", ["Deny"]))
    assert (await api.call("POST", CM, _cm("spared")))[0] == 201
    assert (await api.call("POST", CM, _cm("other")))[0] == 422


async def test_delete_is_an_operation_policies_see(api: Api) -> None:
    """dispatcher.go runs on every admitted operation; DELETE has ``oldObject`` and a null
    ``object``."""
    policy = _policy("p", [{"expression": "object != null || oldObject.data.x != 'locked'"}])
    policy["spec"]["matchConstraints"]["resourceRules"][0]["operations"] = ["DELETE"]
    assert (await api.call("POST", CM, _cm("x", {"x": "locked"})))[0] == 201
    await _install(api, policy, _binding("b", "p", ["Deny"]))
    status, body, _ = await api.call("DELETE", f"{CM}/x")
    assert status == 422, body
    assert "failed expression" in body["message"]


async def test_params_from_a_configmap(api: Api) -> None:
    """policy_dispatcher.go ``CollectParams``: ``params`` is the object paramRef names (in
    the request's namespace when it names none)."""
    limit = _cm("limits", {"max": "2"})
    assert (await api.call("POST", CM, limit))[0] == 201
    validation = {"expression": "size(object.data) <= int(params.data.max)"}
    await _install(
        api,
        _policy("p", [validation], paramKind={"apiVersion": "v1", "kind": "ConfigMap"}),
        _binding(
            "b", "p", ["Deny"], paramRef={"name": "limits", "parameterNotFoundAction": "Deny"}
        ),
    )
    assert (await api.call("POST", CM, _cm("small", {"a": "1"})))[0] == 201
    assert (await api.call("POST", CM, _cm("big", {"a": "1", "b": "2", "c": "3"})))[0] == 422


async def test_missing_param_with_deny_action_is_a_configuration_error(api: Api) -> None:
    """policy_dispatcher.go: no params and parameterNotFoundAction Deny: ``failed to configure
    binding: no params found for policy binding with `Deny` parameterNotFoundAction``; with
    Allow the binding is not evaluated."""
    await _install(
        api,
        _policy(
            "p", [{"expression": "false"}], paramKind={"apiVersion": "v1", "kind": "ConfigMap"}
        ),
        _binding("b", "p", ["Deny"], paramRef={"name": "nope", "parameterNotFoundAction": "Deny"}),
    )
    status, body, _ = await api.call("POST", CM, _cm("x"))
    assert status == 422
    assert body["message"].endswith(
        "denied request: failed to configure binding: no params found for policy binding with "
        "`Deny` parameterNotFoundAction"
    )
    await _install(
        api,
        _policy(
            "q", [{"expression": "false"}], paramKind={"apiVersion": "v1", "kind": "ConfigMap"}
        ),
        _binding("c", "q", ["Deny"], paramRef={"name": "nope", "parameterNotFoundAction": "Allow"}),
    )
    assert (await api.call("DELETE", f"{VAPB}/b"))[0] == 200
    assert (await api.call("POST", CM, _cm("y")))[0] == 201


async def test_authorizer_answers_for_the_requesting_user(api: Api) -> None:
    """cel/library/authz.go: ``authorizer...check(verb).allowed()`` asks the server's
    authorizer about the request's user, ``authorizer.serviceAccount(ns, name)`` about that
    service account."""
    allowed = {
        "expression": "authorizer.group('').resource('secrets').namespace('default')"
        ".check('delete').allowed()",
    }
    await _install(api, _policy("p", [allowed]), _binding("b", "p", ["Deny"]))
    assert (await api.call("POST", CM, _cm("admin-made")))[0] == 201
    nobody = {
        "expression": "authorizer.serviceAccount('default', 'nobody').group('')"
        ".resource('secrets').namespace('default').check('delete').allowed()",
        "message": "nobody may not",
    }
    await _install(api, _policy("q", [nobody]), _binding("c", "q", ["Deny"]))
    status, body, _ = await api.call("POST", CM, _cm("again"))
    assert status == 422 and body["message"].endswith("nobody may not")


async def test_policies_do_not_apply_to_policies(api: Api) -> None:
    """matching.go (``IsExemptAdmissionConfigurationResource``): admission configuration
    objects are never subject to policies, so a bad policy can always be fixed."""
    policy = _policy("p", [{"expression": "false"}])
    policy["spec"]["matchConstraints"]["resourceRules"][0].update(
        {"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}
    )
    await _install(api, policy, _binding("b", "p", ["Deny"]))
    assert (await api.call("DELETE", f"{VAPB}/b"))[0] == 200


async def test_an_expression_that_does_not_compile_is_invalid(api: Api) -> None:
    """validation.go (``validateValidation``): each expression must compile."""
    status, body, _ = await api.call("POST", VAP, _policy("p", [{"expression": "object.("}]))
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.validations[0].expression"
    assert "compilation failed" in body["details"]["causes"][0]["message"]


async def test_a_binding_without_actions_is_invalid(api: Api) -> None:
    """validation.go (``validateValidationActions``): at least one action."""
    status, body, _ = await api.call("POST", VAPB, _binding("b", "p", []))
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.validationActions"
