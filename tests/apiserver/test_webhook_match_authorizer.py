"""Webhook ``matchConditions`` may ask the server's authorizer about the requesting user.

Rule: kube-apiserver evaluates a webhook's match conditions with the ``authorizer`` CEL
variable bound to the request's user and the server's authorizer
(``staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions/matcher.go``,
the library in ``staging/src/k8s.io/apiserver/pkg/cel/library/authz.go``):
``authorizer.group(g).resource(r).namespace(n).check(verb).allowed()`` answers for that user,
``authorizer.serviceAccount(ns, name)`` for a service account, and
``authorizer.requestResource`` starts from the resource being written. The binding is the one
ValidatingAdmissionPolicy uses (``admission/authorizer.py``). A typical use: skip the webhook
for users privileged enough to be trusted.
"""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver import ApiServer
from tests.apiserver._webhook_server import CM_RULE, WebhookServer, configuration, denying
from tests.auth._http import call

ALICE = {"Impersonate-User": "alice"}


_deny = denying(code=403, message="checked")


async def _setup(server: ApiServer, hooks: WebhookServer, *conditions: str) -> None:
    """alice may create and delete ConfigMaps in ``default`` (nothing more); one denying
    webhook per condition, each on ConfigMap writes."""
    role = {"metadata": {"name": "cm", "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                       "verbs": ["create", "delete"]}]}  # fmt: skip
    binding = {"metadata": {"name": "cm", "namespace": "default"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm"},
               "subjects": [{"kind": "User", "name": "alice"}]}  # fmt: skip
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/default"
    for path, body in ((f"{rbac}/roles", role), (f"{rbac}/rolebindings", binding)):
        status, answer = await call(server, "POST", path, body)
        assert status == 201, answer
    rule = dict(CM_RULE, operations=["CREATE"])
    webhooks = [
        hooks.webhook(f"h{i}.example.com", f"/h{i}", _deny, rules=[rule],
                      matchConditions=[{"name": "who", "expression": expression}])
        for i, expression in enumerate(conditions)
    ]  # fmt: skip
    path, config = configuration("ValidatingWebhookConfiguration", "authz", *webhooks)
    status, answer = await call(server, "POST", path, config)
    assert status == 201, answer


async def _create(server: ApiServer, name: str, headers: dict[str, str] | None = None) -> Any:
    body = {"metadata": {"name": name}}
    return await call(server, "POST", "/api/v1/namespaces/default/configmaps", body,
                      headers=headers)  # fmt: skip


async def test_a_condition_on_the_users_rights_skips_the_webhook_for_privileged_users(
    api_server: ApiServer, hooks: WebhookServer
) -> None:
    """The webhook is called only for users who may not list Secrets: the admin's write goes
    through, alice's reaches the (denying) webhook."""
    await _setup(
        api_server,
        hooks,
        "!authorizer.group('').resource('secrets').namespace('default').check('list').allowed()",
    )
    status, answer = await _create(api_server, "by-admin")
    assert status == 201, answer
    status, answer = await _create(api_server, "by-alice", ALICE)
    assert status == 403, answer
    assert 'admission webhook "h0.example.com" denied the request: checked' in answer["message"]
    assert [r["request"]["userInfo"]["username"] for r in hooks.reviews("/h0")] == ["alice"]


async def test_request_resource_and_service_account_checks(
    api_server: ApiServer, hooks: WebhookServer
) -> None:
    """``authorizer.requestResource`` is the ConfigMap being created (alice may delete it, so
    h0 matches her); ``serviceAccount(ns, name)`` asks for that account, not the user (the
    default account may not list Secrets, so h1 never matches)."""
    await _setup(
        api_server,
        hooks,
        "authorizer.requestResource.check('delete').allowed()",
        "authorizer.serviceAccount('default', 'default').group('').resource('secrets')"
        ".check('list').allowed()",
    )
    status, answer = await _create(api_server, "by-alice", ALICE)
    assert status == 403 and "h0.example.com" in answer["message"], answer
    assert hooks.reviews("/h1") == []
    assert len(hooks.reviews("/h0")) == 1
