"""Admission webhooks: the embedded server calls them on every write, as kube-apiserver does.

:class:`WebhookAdmission` is the writer's dynamic admission (``Writer.dynamic_admission``);
the write yields an :class:`~registry.writes.AdmissionStep` twice: ``mutate`` before the
kind's strategy and validation, ``validate`` after them and before storage. Rules from
``apiserver/pkg/admission/plugin/webhook``:

- ``mutating/dispatcher.go``: configurations in name order, webhooks in their order, one at a
  time; a JSONPatch answer changes the object; ``reinvocationPolicy: IfNeeded`` webhooks are
  called once more if a later webhook changed the object; a patch of a DELETE is an error.
- ``validating/dispatcher.go``: all matching webhooks called in parallel; the first refusal
  refuses the request.
- ``generic/webhook.go`` ``ShouldCallHook``: rules (with ``matchPolicy: Equivalent``, the
  other versions of the resource), namespace and object selectors, match conditions.
- ``request/admissionreview.go``: the AdmissionReview v1 request, the checks of its answer.
- ``errors/statuserror.go``: ``<resource> "<name>" is forbidden: admission webhook "<hook>"
  denied the request: <message>`` (the webhook's code, 403 by default); failures to call with
  ``failurePolicy: Fail`` are 500 ``failed calling webhook "<hook>": ...``.
- dry run: a webhook whose ``sideEffects`` is not None/NoneOnDryRun refuses a dry-run request
  (400 ``admission webhook "<hook>" does not support dry run``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from opframe.testing.apiserver.admission.authorizer import Authorize, authorizer_value
from opframe.testing.apiserver.admission.calls import (
    CallError,
    ClientPool,
    resolve,
    review_response,
)
from opframe.testing.apiserver.admission.matching import (
    ConditionError,
    Request,
    conditions_match,
    namespace_matches,
    object_matches,
    rule_matches,
)
from opframe.testing.apiserver.auth import CURRENT_USER
from opframe.testing.apiserver.errors import StatusError, bad_request
from opframe.testing.apiserver.merge.patch import json_patch
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import Registry, storage_key
from opframe.testing.apiserver.registry.storage import Store
from opframe.testing.apiserver.registry.writes import AdmissionStep, DeleteOptions, Writer

__all__ = ["MUTATING", "VALIDATING", "WebhookAdmission"]

log = logging.getLogger(__name__)

_GROUP = "admissionregistration.k8s.io"
#: Storage keys of the configurations.
MUTATING = f"{_GROUP}/mutatingwebhookconfigurations"
VALIDATING = f"{_GROUP}/validatingwebhookconfigurations"
_REVIEW = "admission.k8s.io/v1"


@dataclass
class _Invocation:
    """A webhook to call, and the version of the resource it is called with."""

    hook: dict[str, Any]
    uid: str
    rt: ResourceType


class _Rejection(Exception):
    """The webhook answered and refused (``ErrWebhookRejection``)."""

    def __init__(self, status: StatusError) -> None:
        super().__init__(status.message)
        self.status = status


class _Failure(Exception):
    """The webhook could not be called or answered badly (``ErrCallingWebhook``)."""


class WebhookAdmission:
    """Calls the Mutating/ValidatingWebhookConfigurations stored in ``store``."""

    def __init__(
        self, writer: Writer, authorize: Authorize | None = None, pool: ClientPool | None = None
    ) -> None:
        self.writer = writer
        self.store: Store = writer.store
        self.registry: Registry = writer.registry
        #: Answers ``authorizer`` in match conditions (the server's RBAC); none: every check
        #: is denied.
        self.authorize: Authorize = authorize or (lambda _attrs: False)
        #: The HTTPS clients webhooks are called with (one per CA bundle, kept alive).
        self.pool = pool if pool is not None else ClientPool()

    async def convert(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` at ``rt``'s version (a webhook matched through another version)."""
        if self.writer.webhook_converted(rt) and self.writer.async_converter is not None:
            return (await self.writer.async_converter(rt, [obj], rt.api_version))[0]
        return self.writer.served(rt, obj)

    async def __call__(self, step: AdmissionStep) -> None:
        """Run the webhooks of ``step`` (mutating or validating); StatusError refuses."""
        if step.phase == "mutate":
            await self._mutate(step)
        else:
            await self._validate(step)

    # -- matching ------------------------------------------------------------------------------

    def _hooks(self, key: str) -> list[tuple[str, dict[str, Any]]]:
        """(uid, webhook) of every configuration, in configuration-name then webhook order."""
        out = []
        for so in self.store.iter_sorted(key, ""):
            for i, hook in enumerate(so.obj.get("webhooks") or []):
                out.append((f"{so.meta['name']}/{i}", hook))
        return out

    @staticmethod
    def _request(step: AdmissionStep, rt: ResourceType) -> Request:
        namespace = step.name if _is_namespace(rt) else step.namespace
        return Request(
            step.operation, rt.group, rt.version, rt.plural, _subresource(step), namespace
        )

    def _matched_version(self, hook: dict[str, Any], step: AdmissionStep) -> ResourceType | None:
        rules = hook.get("rules") or []
        if any(rule_matches(r, self._request(step, step.rt)) for r in rules):
            return step.rt
        if hook.get("matchPolicy", "Equivalent") != "Equivalent":
            return None
        # The same resource served at other versions is the same object (matchPolicy docs).
        for other in self.registry.by_storage(storage_key(step.rt)):
            if other.version == step.rt.version and other.group == step.rt.group:
                continue
            if any(rule_matches(r, self._request(step, other)) for r in rules):
                return other
        return None

    def _namespace_labels(self, step: AdmissionStep) -> dict[str, str] | None:
        if _is_namespace(step.rt):
            # A Namespace written is matched by its own labels, the store's may be stale.
            own = step.obj if step.obj is not None else step.old
            return dict(((own or {}).get("metadata") or {}).get("labels") or {})
        ns = self.store.get("/namespaces", "", step.namespace)
        return None if ns is None else dict(ns.meta.get("labels") or {})

    def _should_call(
        self, uid: str, hook: dict[str, Any], step: AdmissionStep
    ) -> _Invocation | None:
        rt = self._matched_version(hook, step)
        if rt is None:
            return None
        req = self._request(step, step.rt)
        if not namespace_matches(hook.get("namespaceSelector"), req, self._namespace_labels(step)):
            return None
        if not object_matches(hook.get("objectSelector"), step.obj, step.old):
            return None
        return _Invocation(hook, uid, rt)

    def _conditions_hold(
        self, inv: _Invocation, step: AdmissionStep, review: dict[str, Any]
    ) -> bool:
        conditions = inv.hook.get("matchConditions") or []
        if not conditions:
            return True
        request = review["request"]
        activation = {
            "object": request.get("object"),
            "oldObject": request.get("oldObject"),
            "request": request,
        }
        user = CURRENT_USER.get()
        authorizer = None
        if user is not None:
            rt = step.rt
            authorizer = authorizer_value(
                self.authorize,
                user,
                {
                    "group": rt.group,
                    "resource": rt.plural,
                    "subresource": _subresource(step),
                    "namespace": str(request.get("namespace", "")),
                    "name": str(request.get("name", "")),
                },
            )
        try:
            return conditions_match(conditions, activation, authorizer)
        except ConditionError as e:
            if inv.hook.get("failurePolicy", "Fail") == "Ignore":
                return False
            raise _forbidden(step, str(e)) from None

    # -- the review ----------------------------------------------------------------------------

    async def _review(
        self, inv: _Invocation, step: AdmissionStep, obj: dict[str, Any] | None
    ) -> dict[str, Any]:
        rt, req_rt = inv.rt, step.rt
        versioned = None if obj is None else await self._at(rt, obj)
        old = None if step.old is None else await self._at(rt, step.old)
        user = CURRENT_USER.get()
        request: dict[str, Any] = {
            "uid": str(uuid.uuid4()),
            "kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "resource": {"group": rt.group, "version": rt.version, "resource": rt.plural},
        }
        sub = _subresource(step)
        if sub:
            request["subResource"] = sub
        request["requestKind"] = {"group": req_rt.group, "version": req_rt.version,
                                  "kind": req_rt.kind}  # fmt: skip
        request["requestResource"] = {"group": req_rt.group, "version": req_rt.version,
                                      "resource": req_rt.plural}  # fmt: skip
        if sub:
            request["requestSubResource"] = sub
        if step.name:
            request["name"] = step.name
        namespace = step.name if _is_namespace(req_rt) else step.namespace
        if namespace:
            request["namespace"] = namespace
        request["operation"] = step.operation
        request["userInfo"] = user.as_json() if user is not None else {}
        request["object"] = versioned
        request["oldObject"] = old
        request["dryRun"] = step.options.dry_run
        request["options"] = _options(step)
        return {"kind": "AdmissionReview", "apiVersion": _REVIEW, "request": request}

    async def _at(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("apiVersion") == rt.api_version:
            return copy.deepcopy(obj)
        return copy.deepcopy(await self.convert(rt, obj))

    async def _call(
        self, inv: _Invocation, step: AdmissionStep, review: dict[str, Any], mutating: bool
    ) -> dict[str, Any]:
        """The verified ``response`` of the webhook; :class:`_Failure`/:class:`_Rejection`."""
        hook = inv.hook
        name = str(hook.get("name", ""))
        timeout = float(hook.get("timeoutSeconds") or 10)
        try:
            endpoint = resolve(self.store, hook.get("clientConfig") or {})
            answer = await self.pool.post_json(endpoint, review, timeout)
        except CallError as e:
            raise _Failure(
                f'failed calling webhook "{name}": failed to call webhook: {e}'
            ) from None
        try:
            response = _verify(review["request"]["uid"], mutating, answer)
        except CallError as e:
            raise _Failure(
                f'failed calling webhook "{name}": received invalid webhook response: {e}'
            ) from None
        for warning in response.get("warnings") or []:
            step.options.warnings.append(str(warning))
        if not response.get("allowed"):
            raise _Rejection(_denied(step, name, response.get("status")))
        return response

    # -- mutating ------------------------------------------------------------------------------

    async def _mutate(self, step: AdmissionStep) -> None:
        hooks = self._hooks(MUTATING)
        if not hooks:
            return
        previously: list[str] = []  # IfNeeded webhooks called since the last change
        reinvoke: set[str] = set()
        changed_any = False
        for uid, hook in hooks:
            inv = self._should_call(uid, hook, step)
            if inv is None:
                continue
            changed = await self._mutate_one(inv, step)
            if changed:
                reinvoke.update(previously)
                previously.clear()
                changed_any = True
            if hook.get("reinvocationPolicy") == "IfNeeded":
                previously.append(uid)
        if not changed_any or not reinvoke:
            return
        # One more round, only for the IfNeeded webhooks called before a later change; a
        # webhook skipped in the first round is not called for the first time now.
        for uid, hook in hooks:
            if uid not in reinvoke:
                continue
            inv = self._should_call(uid, hook, step)
            if inv is not None:
                await self._mutate_one(inv, step)

    async def _mutate_one(self, inv: _Invocation, step: AdmissionStep) -> bool:
        """Call one mutating webhook; True if its patch changed the object."""
        hook = inv.hook
        name = str(hook.get("name", ""))
        review = await self._review(inv, step, step.obj)
        if not self._conditions_hold(inv, step, review):
            return False
        _check_dry_run(hook, step)
        try:
            response = await self._call(inv, step, review, mutating=True)
            patch = _decode_patch(name, response)
        except _Rejection as r:
            raise r.status from None
        except _Failure as f:
            if hook.get("failurePolicy", "Fail") == "Ignore":
                log.warning("Failed calling webhook, failing open %s: %s", name, f)
                return False
            raise _internal(str(f)) from None
        if not patch:
            return False
        if step.obj is None:
            raise _internal(
                f'admission webhook "{name}" attempted to modify the object, which is not '
                "supported for this operation"
            )
        before = review["request"]["object"]
        try:
            patched = json_patch(copy.deepcopy(before), patch)
        except StatusError as e:
            raise _internal(e.message) from None
        if not isinstance(patched, dict) or patched == before:
            return False
        if inv.rt is not step.rt:
            patched = await self.convert(step.rt, patched)
        step.obj.clear()
        step.obj.update(patched)
        return True

    # -- validating ----------------------------------------------------------------------------

    async def _validate(self, step: AdmissionStep) -> None:
        invocations = [
            inv
            for uid, hook in self._hooks(VALIDATING)
            if (inv := self._should_call(uid, hook, step)) is not None
        ]
        if not invocations:
            return
        # In parallel; the refusals are reported in webhook order (kube reports one of them).
        errors = await asyncio.gather(*(self._validate_one(inv, step) for inv in invocations))
        for error in errors:
            if error is not None:
                raise error

    async def _validate_one(self, inv: _Invocation, step: AdmissionStep) -> StatusError | None:
        hook = inv.hook
        name = str(hook.get("name", ""))
        try:
            review = await self._review(inv, step, step.obj)
            if not self._conditions_hold(inv, step, review):
                return None
            _check_dry_run(hook, step)
            await self._call(inv, step, review, mutating=False)
        except StatusError as e:
            return e
        except _Rejection as r:
            return r.status
        except _Failure as f:
            if hook.get("failurePolicy", "Fail") == "Ignore":
                log.warning("Failed calling webhook, failing open %s: %s", name, f)
                return None
            return _internal(str(f))
        return None


# -- helpers ----------------------------------------------------------------------------------


def _is_namespace(rt: ResourceType) -> bool:
    return rt.group == "" and rt.plural == "namespaces"


def _subresource(step: AdmissionStep) -> str:
    opts = step.options
    return "" if isinstance(opts, DeleteOptions) else opts.subresource


def _options(step: AdmissionStep) -> dict[str, Any]:
    """The request's options as the webhook sees them (a patch's as UpdateOptions)."""
    opts = step.options
    kinds = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}
    out: dict[str, Any] = {"kind": kinds[step.operation], "apiVersion": "meta.k8s.io/v1"}
    if opts.dry_run:
        out["dryRun"] = ["All"]
    if isinstance(opts, DeleteOptions):
        if opts.grace_seconds is not None:
            out["gracePeriodSeconds"] = opts.grace_seconds
        pre = {}
        if opts.precondition_uid:
            pre["uid"] = opts.precondition_uid
        if opts.precondition_rv:
            pre["resourceVersion"] = opts.precondition_rv
        if pre:
            out["preconditions"] = pre
        if opts.propagation:
            out["propagationPolicy"] = opts.propagation
    elif opts.manager:
        out["fieldManager"] = opts.manager
    return out


def _check_dry_run(hook: dict[str, Any], step: AdmissionStep) -> None:
    if step.options.dry_run and hook.get("sideEffects") not in ("None", "NoneOnDryRun"):
        raise bad_request(f'admission webhook "{hook.get("name", "")}" does not support dry run')


def _verify(uid: str, mutating: bool, answer: Any) -> dict[str, Any]:
    """``VerifyAdmissionResponse`` for v1: the review's type, the uid, the patch type."""
    if not isinstance(answer, dict):
        raise CallError("the response is not an AdmissionReview object")
    response = review_response(
        answer, _REVIEW, "AdmissionReview", uid, absent="webhook response was absent"
    )
    if mutating and response.get("patch"):
        patch_type = response.get("patchType")
        if not patch_type:
            raise CallError("webhook returned response.patch but not response.patchType")
        if patch_type != "JSONPatch":
            raise CallError(f"webhook returned invalid response.patchType of {patch_type!r}")
    elif mutating and response.get("patchType"):
        raise CallError("webhook returned response.patchType but not response.patch")
    return response


def _decode_patch(name: str, response: dict[str, Any]) -> list[Any]:
    raw = response.get("patch")
    if not raw:
        return []
    try:
        patch = json.loads(base64.b64decode(str(raw), validate=True))
    except (binascii.Error, ValueError) as e:
        raise _Failure(
            f'failed calling webhook "{name}": received undecodable patch in webhook response: {e}'
        ) from None
    if not isinstance(patch, list):
        raise _Failure(
            f'failed calling webhook "{name}": received undecodable patch in webhook '
            "response: the patch is not a JSON array"
        )
    return patch


def _group_resource(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def _denied(step: AdmissionStep, hook_name: str, status: Any) -> StatusError:
    """``ToStatusErr``: the webhook's Status, its message framed as a refusal."""
    result = dict(status) if isinstance(status, dict) else {}
    code = int(result.get("code") or 403)
    name = step.name or "Unknown"
    denied_by = f'admission webhook "{hook_name}" denied the request'
    if result.get("message"):
        message = f"{denied_by}: {result['message']}"
    elif result.get("reason"):
        message = f"{denied_by}: {result['reason']}"
    else:
        message = f"{denied_by} without explanation"
    details = result.get("details")
    if details is None:
        if code == 500:
            details = {"causes": [{"message": message}]}
        else:
            details = {"name": name, "kind": step.rt.plural}
            if step.rt.group:
                details = {"name": name, "group": step.rt.group, "kind": step.rt.plural}
    prefix = f'{_group_resource(step.rt)} "{name}" is forbidden'
    if code == 500:
        prefix = "Internal error occurred"
    reason = result.get("reason") or ("InternalError" if code == 500 else "Forbidden")
    return StatusError(code, str(reason), f"{prefix}: {message}", details)


def _internal(message: str) -> StatusError:
    """``apierrors.NewInternalError``."""
    return StatusError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        {"causes": [{"message": message}]},
    )


def _forbidden(step: AdmissionStep, why: str) -> StatusError:
    name = step.name or ""
    details: dict[str, Any] = {"name": name, "kind": step.rt.plural}
    if step.rt.group:
        details["group"] = step.rt.group
    return StatusError(
        403, "Forbidden", f'{_group_resource(step.rt)} "{name}" is forbidden: {why}', details
    )
