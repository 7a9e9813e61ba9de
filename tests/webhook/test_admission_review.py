"""The AdmissionReview v1 wire format, both ways, as served by ValidatingWebhook/MutatingWebhook.

Rules from ``k8s.io/api/admission/v1/types.go`` (field names, ``response.uid`` echoing
``request.uid``, ``status`` holding the refusal, ``patchType: JSONPatch`` with a base64 RFC 6902
``patch``, ``warnings``) and from kube-apiserver's
``staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/errors/statuserror.go`` (a refusal's
``status.code``/``reason``/``message`` are what the client gets, prefixed by the webhook name).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from opframe.testing.apiserver.merge.patch import json_patch as apply_patch
from opframe.webhook import (
    AdmissionRequest,
    Denied,
    MutatingWebhook,
    ReviewError,
    ValidatingWebhook,
)

from ._models import MUTATE, VALIDATE, WebV2


def web(scale: int = 1, image: str = "", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "hooks.opframe.dev/v2",
        "kind": "Web",
        "metadata": {"name": "blog", "namespace": "default", "uid": "u-1", **meta},
        "spec": {"scale": scale, "image": image},
    }


def review(
    operation: str = "CREATE",
    obj: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    request = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "hooks.opframe.dev", "version": "v2", "kind": "Web"},
        "resource": {"group": "hooks.opframe.dev", "version": "v2", "resource": "webs"},
        "requestKind": {"group": "hooks.opframe.dev", "version": "v2", "kind": "Web"},
        "requestResource": {"group": "hooks.opframe.dev", "version": "v2", "resource": "webs"},
        "name": "blog",
        "namespace": "default",
        "operation": operation,
        "userInfo": {"username": "alice", "uid": "a1", "groups": ["devs"],
                     "extra": {"scopes": ["x"]}},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        **extra,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


async def test_allowed_answer_echoes_uid_in_an_admission_review_v1() -> None:
    answer = await VALIDATE.review(review(obj=web(3)))
    assert answer == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True},
    }


async def test_denied_carries_status_code_reason_and_message() -> None:
    response = (await VALIDATE.review(review(obj=web(11))))["response"]
    assert response["allowed"] is False
    assert response["status"] == {
        "code": 403,
        "reason": "Forbidden",
        "message": "spec.scale: 11 is more than 10",
    }


async def test_denied_sees_the_old_object_on_update() -> None:
    response = (await VALIDATE.review(review("UPDATE", obj=web(0), old=web(4))))["response"]
    assert response["allowed"] is False
    assert "cannot scale blog to 0 (was 4)" in response["status"]["message"]


async def test_denied_with_a_code_takes_its_reason() -> None:
    def invalid(req: AdmissionRequest[WebV2]) -> None:
        raise Denied("spec: no", code=422)

    status = (await ValidatingWebhook(WebV2, invalid).review(review(obj=web())))["response"][
        "status"
    ]
    assert status == {"code": 422, "reason": "Invalid", "message": "spec: no"}


async def test_warnings_are_sent_with_an_allowed_answer() -> None:
    response = (await VALIDATE.review(review(obj=web(7))))["response"]
    assert response["allowed"] is True
    assert response["warnings"] == ["spec.scale 7 is expensive"]


async def test_handler_receives_typed_objects_operation_user_and_dry_run() -> None:
    seen: list[AdmissionRequest[WebV2]] = []

    async def record(req: AdmissionRequest[WebV2]) -> None:
        seen.append(req)

    hook = ValidatingWebhook(WebV2, record, operations=["UPDATE"])
    await hook.review(review("UPDATE", obj=web(2), old=web(1), dryRun=True))
    (req,) = seen
    assert isinstance(req.object, WebV2) and isinstance(req.old_object, WebV2)
    assert (req.object.spec.scale, req.old_object.spec.scale) == (2, 1)
    assert req.operation == "UPDATE" and req.dry_run is True
    assert req.user_info.username == "alice" and req.user_info.groups == ("devs",)
    assert req.user_info.extra == {"scopes": ("x",)}
    assert (req.name, req.namespace, req.options["kind"]) == ("blog", "default", "CreateOptions")


async def test_delete_has_the_stored_object_as_old_object_only() -> None:
    seen: list[AdmissionRequest[WebV2]] = []
    hook = ValidatingWebhook(WebV2, seen.append, operations=["DELETE"])  # type: ignore[arg-type]
    answer = await hook.review(review("DELETE", obj=None, old=web(5)))
    assert answer["response"]["allowed"] is True
    assert seen[0].object is None and seen[0].old_object is not None


async def test_handler_crash_refuses_with_500_naming_the_webhook() -> None:
    def broken(req: AdmissionRequest[WebV2]) -> None:
        raise KeyError("spec")

    hook = ValidatingWebhook(WebV2, broken)
    status = (await hook.review(review(obj=web())))["response"]["status"]
    assert status["code"] == 500 and status["reason"] == "InternalError"
    assert "validate.webs.hooks.opframe.dev failed: KeyError" in status["message"]


async def test_object_that_does_not_parse_is_refused_with_422_naming_the_field() -> None:
    bad = web()
    bad["spec"]["scale"] = "many"
    status = (await VALIDATE.review(review(obj=bad)))["response"]["status"]
    assert status["code"] == 422
    assert status["message"].startswith("object: spec.scale:")


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}},
    ],
)
async def test_a_body_that_is_not_an_admission_review_v1_is_a_review_error(body: Any) -> None:
    with pytest.raises(ReviewError):
        await VALIDATE.review(body)


def decoded_patch(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(response["patch"]))  # type: ignore[no-any-return]


async def test_mutation_answers_a_base64_json_patch_that_makes_the_returned_object() -> None:
    sent = web(2, labels={"tier": "web"})
    response = (await MUTATE.review(review(obj=sent)))["response"]
    assert response["allowed"] is True
    patched = apply_patch(sent, decoded_patch(response))
    assert patched["spec"]["image"] == "nginx:1.27"
    assert patched["metadata"]["labels"] == {
        "tier": "web",
        "app.kubernetes.io/managed-by": "web-operator",
    }
    assert {k: v for k, v in patched.items() if k != "metadata"} == {
        **{k: v for k, v in sent.items() if k != "metadata"},
        "spec": {"scale": 2, "image": "nginx:1.27"},
    }


async def test_mutation_that_changes_nothing_sends_no_patch() -> None:
    sent = web(2, "redis:7", labels={"app.kubernetes.io/managed-by": "web-operator"})
    response = (await MUTATE.review(review(obj=sent)))["response"]
    assert response == {"uid": response["uid"], "allowed": True}


async def test_mutation_patch_ignores_what_the_model_renders_differently() -> None:
    """A field sent as null (dropped by the model) is not "removed" by the patch."""
    sent = web(2, "redis:7", labels={"app.kubernetes.io/managed-by": "web-operator"})
    sent["metadata"]["deletionTimestamp"] = None
    response = (await MUTATE.review(review(obj=sent)))["response"]
    assert "patch" not in response


async def test_mutating_delete_is_admitted_without_calling_the_handler() -> None:
    def never(req: AdmissionRequest[WebV2]) -> WebV2:
        raise AssertionError("called on DELETE")

    hook = MutatingWebhook(WebV2, never, operations=["DELETE"])
    response = (await hook.review(review("DELETE", obj=None, old=web())))["response"]
    assert response["allowed"] is True and "patch" not in response


async def test_mutating_handler_returning_nothing_is_an_internal_error() -> None:
    hook = MutatingWebhook(WebV2, lambda req: None)  # type: ignore[arg-type,return-value]
    status = (await hook.review(review(obj=web())))["response"]["status"]
    assert status["code"] == 500 and "return the (changed) WebV2" in status["message"]


async def test_mutating_handler_may_deny() -> None:
    def deny(req: AdmissionRequest[WebV2]) -> WebV2:
        raise Denied("no webs on Fridays", code=400)

    response = (await MutatingWebhook(WebV2, deny).review(review(obj=web())))["response"]
    assert response["allowed"] is False
    assert response["status"] == {"code": 400, "reason": "BadRequest",
                                  "message": "no webs on Fridays"}


def test_declaration_errors_name_the_webhook_and_the_option() -> None:
    with pytest.raises(ValueError, match=r"ValidatingWebhook\(Web\): operations"):
        ValidatingWebhook(WebV2, VALIDATE.handler, operations=["PATCH"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"timeout_seconds must be 1\.\.30"):
        ValidatingWebhook(WebV2, VALIDATE.handler, timeout_seconds=60)
    with pytest.raises(ValueError, match="at least three"):
        ValidatingWebhook(WebV2, VALIDATE.handler, name="short")
