"""The embedded API server calls admission webhooks as kube-apiserver does.

A real HTTPS webhook server (``_webhook_server``) on 127.0.0.1, real clients (opframe.Client,
kubectl). Each test names the Kubernetes source whose rule it states.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from _kubectl import KUBECTL, kubectl

from opframe import Client, ConfigMap, ObjectMeta
from opframe.errors import ApiError
from opframe.testing import eventually
from opframe.testing.apiserver import ApiServer
from tests.apiserver._crds import CRDS, gizmo_crd
from tests.apiserver._webhook_server import (
    ADMISSION,
    CM_RULE,
    WebhookServer,
    allow,
    denying,
    install,
    json_patch,
    validating,
    webhook,
)


def _cm(name: str, **data: str) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, namespace="default"), data=data or None)


async def test_a_validating_webhook_denial_answers_with_its_message_and_code(
    client: Client, hooks: WebhookServer
) -> None:
    """A refusal is ``<resource> "<name>" is forbidden: admission webhook "<hook>" denied the
    request: <message>`` with the webhook's code, 403 when it gives none
    (apiserver/pkg/admission/plugin/webhook/errors/statuserror.go ToStatusErr)."""

    deny = denying(message="size must be small")
    await validating(client, hooks.webhook("deny.example.com", "/deny", deny))
    with pytest.raises(ApiError) as err:
        await client.create(_cm("big", size="big"))
    assert err.value.status == 403
    assert err.value.reason == "Forbidden"
    assert err.value.message == (
        'configmaps "big" is forbidden: admission webhook "deny.example.com" denied the '
        "request: size must be small"
    )
    with pytest.raises(ApiError):
        await client.get(ConfigMap, "big", "default")


async def test_the_denial_code_of_the_webhook_is_kept(client: Client, hooks: WebhookServer) -> None:
    """A status code in the webhook's answer is the code of the error (statuserror.go)."""

    deny = denying(code=422, reason="Invalid")
    await validating(client, hooks.webhook("deny.example.com", "/deny", deny))
    with pytest.raises(ApiError) as err:
        await client.create(_cm("x"))
    assert (err.value.status, err.value.reason) == (422, "Invalid")
    assert err.value.message.endswith(
        'admission webhook "deny.example.com" denied the request: Invalid'
    )


async def test_the_admission_review_request_is_built_as_kube_builds_it(
    client: Client, hooks: WebhookServer
) -> None:
    """AdmissionReview v1 request: a uid per call, kind/resource and requestKind/
    requestResource, name, namespace, operation, userInfo, object, oldObject, dryRun, options
    (apiserver/pkg/admission/plugin/webhook/request/admissionreview.go)."""
    await validating(client, hooks.webhook("v.example.com", "/v", allow))
    await client.create(_cm("one", a="1"))
    [review] = hooks.reviews("/v")
    req = review["request"]
    assert (review["apiVersion"], review["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    assert req["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
    assert req["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
    assert req["requestKind"] == req["kind"] and req["requestResource"] == req["resource"]
    assert (req["name"], req["namespace"], req["operation"]) == ("one", "default", "CREATE")
    assert req["userInfo"]["username"]
    assert req["object"]["data"] == {"a": "1"} and req["oldObject"] is None
    assert req["dryRun"] is False
    assert req["options"]["kind"] == "CreateOptions"
    assert "subResource" not in req
    # The server tells the webhook its deadline (util/webhook: ?timeout=10s by default).
    assert hooks.received[0][1] == {"timeout": "10s"}

    current = await client.get(ConfigMap, "one", "default")
    current.data = {"a": "2"}
    await client.replace(current)
    await client.delete(ConfigMap, "one", "default")
    update, delete = hooks.reviews("/v")[1:]
    assert update["request"]["operation"] == "UPDATE"
    assert update["request"]["oldObject"]["data"] == {"a": "1"}
    assert update["request"]["object"]["data"] == {"a": "2"}
    assert update["request"]["options"]["kind"] == "UpdateOptions"
    assert delete["request"]["operation"] == "DELETE"
    assert delete["request"]["object"] is None
    assert delete["request"]["oldObject"]["data"] == {"a": "2"}
    assert delete["request"]["options"]["kind"] == "DeleteOptions"
    assert len({r["request"]["uid"] for r in hooks.reviews("/v")}) == 3


async def test_a_mutating_webhook_patch_is_stored_and_validated_after(
    client: Client, hooks: WebhookServer
) -> None:
    """Mutating webhooks run before validation and their JSONPatch changes the stored object;
    validating webhooks see the mutated object (mutating/dispatcher.go, endpoints/handlers/
    create.go: mutating admission, then the strategy, then validating admission)."""

    def default(review: dict[str, Any]) -> dict[str, Any]:
        return json_patch(review, [{"op": "add", "path": "/data/size", "value": "small"}])

    await install(
        client,
        "MutatingWebhookConfiguration",
        "m",
        hooks.webhook("default.example.com", "/m", default),
    )
    await validating(client, hooks.webhook("v.example.com", "/v", allow))
    created = await client.create(_cm("c", colour="red"))
    assert created.data == {"colour": "red", "size": "small"}
    stored = await client.get(ConfigMap, "c", "default")
    assert stored.data == {"colour": "red", "size": "small"}
    [validated] = hooks.reviews("/v")
    assert validated["request"]["object"]["data"]["size"] == "small"


async def test_if_needed_webhooks_are_reinvoked_once_after_a_later_change(
    client: Client, hooks: WebhookServer
) -> None:
    """``reinvocationPolicy: IfNeeded``: a webhook is called again, once, when a webhook
    after it changed the object; configurations run in name order (mutating/dispatcher.go,
    mutating/reinvocationcontext.go)."""

    def first(review: dict[str, Any]) -> dict[str, Any]:
        return allow(review)

    def second(review: dict[str, Any]) -> dict[str, Any]:
        data = review["request"]["object"].get("data") or {}
        if "b" in data:
            return allow(review)
        return json_patch(review, [{"op": "add", "path": "/data/b", "value": "1"}])

    a = hooks.webhook("a.example.com", "/a", first, reinvocationPolicy="IfNeeded")
    b = hooks.webhook("b.example.com", "/b", second)
    await install(client, "MutatingWebhookConfiguration", "2-b", b)
    await install(client, "MutatingWebhookConfiguration", "1-a", a)
    await client.create(_cm("r", x="1"))
    assert [p for p, _, _ in hooks.received] == ["/a", "/b", "/a"]
    assert hooks.reviews("/a")[1]["request"]["object"]["data"] == {"x": "1", "b": "1"}


async def test_failure_policy_fail_refuses_writes_when_the_webhook_is_down(
    client: Client, hooks: WebhookServer
) -> None:
    """``failurePolicy: Fail`` with the webhook unreachable: 500 ``failed calling webhook``;
    ``Ignore`` lets the write through (validating/dispatcher.go, util/webhook/error.go)."""
    down = "https://127.0.0.1:1/validate"
    await validating(client, webhook("down.example.com", down, hooks.ca_bundle), name="fail")
    with pytest.raises(ApiError) as err:
        await client.create(_cm("f"))
    assert (err.value.status, err.value.reason) == (500, "InternalError")
    assert err.value.message.startswith(
        'Internal error occurred: failed calling webhook "down.example.com": failed to call '
        'webhook: Post "https://127.0.0.1:1/validate?timeout=10s": dial tcp 127.0.0.1:1: '
        "connect: connection refused"
    )
    await client.request("DELETE", f"{ADMISSION}/validatingwebhookconfigurations/fail")
    ignore = webhook("down.example.com", down, hooks.ca_bundle, failurePolicy="Ignore")
    await validating(client, ignore, name="ignore")
    await client.create(_cm("f"))


async def test_a_webhook_slower_than_its_timeout_fails_the_call(
    client: Client, hooks: WebhookServer
) -> None:
    """``timeoutSeconds`` bounds the call: past it the call fails (context deadline exceeded)
    and the failure policy decides (mutating/dispatcher.go callAttrMutatingHook)."""
    never = asyncio.Event()

    async def stuck(review: dict[str, Any]) -> dict[str, Any]:
        await never.wait()
        return allow(review)

    await install(
        client,
        "MutatingWebhookConfiguration",
        "slow",
        hooks.webhook("slow.example.com", "/slow", stuck, timeoutSeconds=1),
    )
    with pytest.raises(ApiError) as err:
        await client.create(_cm("s"))
    assert err.value.status == 500
    assert 'failed calling webhook "slow.example.com"' in err.value.message
    assert err.value.message.endswith("context deadline exceeded")
    never.set()


async def test_a_certificate_not_signed_by_the_ca_bundle_is_refused(
    client: Client, hooks: WebhookServer, tmp_path: Path
) -> None:
    """The webhook's certificate is verified against ``caBundle`` (util/webhook/client.go)."""
    (tmp_path / "other").mkdir()
    other = WebhookServer(tmp_path / "other")  # another CA, never started
    url = hooks.handle("/v", allow)
    hook = webhook("v.example.com", url, other.ca_bundle)
    await validating(client, hook)
    with pytest.raises(ApiError) as err:
        await client.create(_cm("t"))
    assert err.value.status == 500
    assert "tls: failed to verify certificate" in err.value.message
    assert hooks.received == []


async def test_dry_run_requests_reach_the_webhook_marked_and_store_nothing(
    client: Client, hooks: WebhookServer
) -> None:
    """A dry-run request is sent with ``dryRun: true`` to webhooks whose sideEffects are
    None/NoneOnDryRun (validating/dispatcher.go callHook)."""
    hook = hooks.webhook("v.example.com", "/v", allow, sideEffects="NoneOnDryRun")
    await validating(client, hook)
    await client.create(_cm("d"), dry_run=True)
    [review] = hooks.reviews("/v")
    assert review["request"]["dryRun"] is True
    assert review["request"]["options"]["dryRun"] == ["All"]
    with pytest.raises(ApiError):
        await client.get(ConfigMap, "d", "default")


async def test_selectors_and_match_conditions_choose_the_requests_sent(
    client: Client, hooks: WebhookServer
) -> None:
    """namespaceSelector matches the namespace's labels, objectSelector the object's, and
    every matchCondition must be true (predicates/namespace/matcher.go,
    predicates/object/matcher.go, webhook/matchconditions/matcher.go)."""
    await client.request(
        "POST",
        "/api/v1/namespaces",
        body={"metadata": {"name": "watched", "labels": {"hooks": "on"}}},
    )
    await validating(
        client,
        hooks.webhook("ns.example.com", "/ns", allow,
                      namespaceSelector={"matchLabels": {"hooks": "on"}}),
        hooks.webhook("obj.example.com", "/obj", allow, objectSelector={
            "matchExpressions": [{"key": "checked", "operator": "Exists"}]}),
        hooks.webhook("cel.example.com", "/cel", allow, matchConditions=[
            {"name": "prefix", "expression": "object.metadata.name.startsWith('cel-')"}]),
    )  # fmt: skip
    await client.create(_cm("plain"))
    cm = ConfigMap(metadata=ObjectMeta(name="w", namespace="watched"))
    await client.create(cm)
    labelled = ConfigMap(
        metadata=ObjectMeta(name="l", namespace="default", labels={"checked": "y"})
    )
    await client.create(labelled)
    await client.create(_cm("cel-1"))
    names = {p: [r["request"]["name"] for r in hooks.reviews(p)] for p in ("/ns", "/obj", "/cel")}
    assert names == {"/ns": ["w"], "/obj": ["l"], "/cel": ["cel-1"]}


async def test_a_patch_from_a_webhook_on_delete_is_an_error(
    client: Client, hooks: WebhookServer
) -> None:
    """A mutating webhook may not patch a DELETE: there is no object to patch
    (mutating/dispatcher.go callAttrMutatingHook)."""

    def patch(review: dict[str, Any]) -> dict[str, Any]:
        return json_patch(review, [{"op": "add", "path": "/data", "value": {}}])

    await client.create(_cm("del"))
    rule = dict(CM_RULE, operations=["DELETE"])
    await install(
        client,
        "MutatingWebhookConfiguration",
        "m",
        hooks.webhook("p.example.com", "/p", patch, rules=[rule]),
    )
    with pytest.raises(ApiError) as err:
        await client.delete(ConfigMap, "del", "default")
    assert err.value.status == 500
    assert err.value.message == (
        'Internal error occurred: admission webhook "p.example.com" attempted to modify the '
        "object, which is not supported for this operation"
    )
    assert await client.get(ConfigMap, "del", "default")


async def test_an_answer_for_another_request_is_a_call_failure(
    client: Client, hooks: WebhookServer
) -> None:
    """The answer's uid must be the request's (request/admissionreview.go
    VerifyAdmissionResponse); a wrong one fails the call, so the failure policy applies."""

    def wrong(review: dict[str, Any]) -> dict[str, Any]:
        answer = allow(review)
        answer["response"]["uid"] = "not-the-request"
        return answer

    await validating(client, hooks.webhook("w.example.com", "/w", wrong))
    with pytest.raises(ApiError) as err:
        await client.create(_cm("u"))
    assert err.value.status == 500
    assert "received invalid webhook response: expected response.uid=" in err.value.message
    assert "got 'not-the-request'" in err.value.message


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
async def test_kubectl_apply_shows_the_denial_and_the_warnings(
    api_server: ApiServer, client: Client, hooks: WebhookServer, tmp_path: Path
) -> None:
    """What users see: kubectl prints the webhook's warnings and its denial message."""

    def deny(review: dict[str, Any]) -> dict[str, Any]:
        return allow(
            review,
            allowed=False,
            status={"message": "spec.size must be at most 5"},
            warnings=["size is deprecated"],
        )

    await validating(client, hooks.webhook("size.example.com", "/deny", deny))
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: default\n"
        "data:\n  size: '9'\n"
    )
    code, _, text = await kubectl(api_server, "apply", "-f", str(manifest))
    assert code != 0
    assert "Warning: size is deprecated" in text
    assert (
        'Error from server (Forbidden): error when creating "' + str(manifest) + '": configmaps '
        '"big" is forbidden: admission webhook "size.example.com" denied the request: spec.size '
        "must be at most 5"
    ) in text


async def test_a_service_reference_reaches_the_webhook_through_its_endpoints(
    client: Client, hooks: WebhookServer
) -> None:
    """``clientConfig.service`` is resolved to the Service's endpoint, and the certificate is
    verified for ``<service>.<namespace>.svc`` (apiserver/pkg/util/webhook/serviceresolver.go,
    authentication.go)."""
    hooks.handle("/svc", allow)
    await client.request(
        "POST",
        "/api/v1/namespaces/default/services",
        body={"metadata": {"name": "hooks"},
              "spec": {"ports": [{"name": "https", "port": 443, "targetPort": hooks.port}]}},
    )  # fmt: skip
    await client.request(
        "POST",
        "/api/v1/namespaces/default/endpoints",
        body={"metadata": {"name": "hooks"}, "subsets": [{
            "addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": hooks.port}]}]},
    )  # fmt: skip
    hook = webhook("svc.example.com", "", hooks.ca_bundle)
    hook["clientConfig"] = {
        "service": {"namespace": "default", "name": "hooks", "path": "/svc"},
        "caBundle": hooks.ca_bundle,
    }
    await validating(client, hook)
    await client.create(_cm("via-service"))
    assert [r["request"]["name"] for r in hooks.reviews("/svc")] == ["via-service"]


@pytest.mark.parametrize("policy", ["Equivalent", "Exact"])
async def test_match_policy_equivalent_calls_the_webhook_of_another_version(
    client: Client, hooks: WebhookServer, policy: str
) -> None:
    """``matchPolicy: Equivalent``: a webhook for v1 of a resource is called for a request
    through v2, with the object converted to v1 and requestKind naming v2; ``Exact`` is not
    called (generic/webhook.go ShouldCallHook)."""
    await client.request("POST", CRDS, body=gizmo_crd("v1", "v2"))
    path = "/apis/example.com/v2/namespaces/default/gizmos"
    await eventually(lambda: client.request("GET", path), timeout=30, retry_on=(ApiError,))
    rule = {"operations": ["CREATE"], "apiGroups": ["example.com"], "apiVersions": ["v1"],
            "resources": ["gizmos"]}  # fmt: skip
    hook = hooks.webhook("g.example.com", "/g", allow, rules=[rule], matchPolicy=policy)
    await validating(client, hook)
    gizmo = {"apiVersion": "example.com/v2", "kind": "Gizmo", "metadata": {"name": "g"}}
    await client.request("POST", path, body=gizmo)
    reviews = hooks.reviews("/g")
    if policy == "Exact":
        assert reviews == []
        return
    [req] = [r["request"] for r in reviews]
    assert req["kind"] == {"group": "example.com", "version": "v1", "kind": "Gizmo"}
    assert req["requestKind"] == {"group": "example.com", "version": "v2", "kind": "Gizmo"}
    assert req["resource"]["version"] == "v1" and req["requestResource"]["version"] == "v2"
    assert req["object"]["apiVersion"] == "example.com/v1"


async def test_a_patch_raced_during_its_webhook_call_is_applied_to_the_new_object(
    client: Client, hooks: WebhookServer
) -> None:
    """A write that changes the object while another write waits on its webhook does not get
    lost: the waiting patch (no resourceVersion precondition) is applied again to the new
    object, as the storage's GuaranteedUpdate retries (apiserver/pkg/registry/generic/
    registry/store.go Update)."""
    called, release = asyncio.Event(), asyncio.Event()

    async def first_waits(review: dict[str, Any]) -> dict[str, Any]:
        if not called.is_set():
            called.set()
            await release.wait()
        return allow(review)

    await client.create(_cm("race", base="0"))
    rule = dict(CM_RULE, operations=["UPDATE"])
    await validating(client, hooks.webhook("slowly.example.com", "/w", first_waits, rules=[rule]))
    path = "/api/v1/namespaces/default/configmaps/race"
    merge = "application/merge-patch+json"
    waiting = asyncio.create_task(
        client.request("PATCH", path, body={"data": {"a": "1"}}, content_type=merge)
    )
    try:
        async with asyncio.timeout(30):
            await called.wait()
        await client.request("PATCH", path, body={"data": {"b": "2"}}, content_type=merge)
    finally:
        release.set()
    async with asyncio.timeout(30):
        await waiting
    stored = await client.get(ConfigMap, "race", "default")
    assert stored.data == {"base": "0", "a": "1", "b": "2"}
    assert len(hooks.reviews("/w")) == 3  # the retried patch is admitted again
