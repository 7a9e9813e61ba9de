"""The CRD conversion webhook client: ConversionReview v1, for ``strategy: Webhook`` CRDs.

Rules from ``apiextensions-apiserver/pkg/apiserver/conversion/webhook_converter.go``:

- only the objects not already at the desired version are sent, all of a list in one review;
- the answer must be a ``apiextensions.k8s.io/v1`` ``ConversionReview`` with the request's uid
  and ``result.status: Success`` (else its message is the error), as many converted objects
  as were sent, each at the desired apiVersion, of the same kind, name, namespace and uid;
- of the converted metadata only labels and annotations are kept, the rest is the original's;
- a failure is ``conversion webhook for <group/version>, Kind=<kind> failed: <why>``, a 500.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from opframe.testing.apiserver.admission.calls import (
    CallError,
    ClientPool,
    resolve,
    review_response,
)
from opframe.testing.apiserver.builtins.meta import validate_labels
from opframe.testing.apiserver.errors import StatusError
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.storage import Store

__all__ = ["WebhookConverter"]

_REVIEW = "apiextensions.k8s.io/v1"
#: kube-apiserver's webhook client timeout when the CRD names none (webhook_converter.go).
_TIMEOUT = 30.0


class WebhookConverter:
    """Converts custom resources through their CRD's conversion webhook."""

    def __init__(self, store: Store, pool: ClientPool | None = None) -> None:
        self.store = store
        #: The HTTPS clients conversion webhooks are called with (shared with admission).
        self.pool = pool if pool is not None else ClientPool()

    async def __call__(
        self, rt: ResourceType, objs: list[dict[str, Any]], api_version: str
    ) -> list[dict[str, Any]]:
        """``objs`` at ``api_version`` (the same list order); StatusError 500 on failure."""
        todo = [i for i, o in enumerate(objs) if o.get("apiVersion") != api_version]
        out = list(objs)
        if not todo:
            return out
        first = objs[todo[0]]
        kind = str(first.get("kind") or rt.kind)
        source = f"{first.get('apiVersion', '')}, Kind={kind if len(objs) == 1 else kind + 'List'}"
        try:
            converted = await self._review(rt, [objs[i] for i in todo], api_version)
        except CallError as e:
            raise StatusError(500, "", f"conversion webhook for {source} failed: {e}") from None
        single = len(objs) == 1
        for n, (i, after) in enumerate(zip(todo, converted, strict=True)):
            try:
                out[i] = _checked(objs[i], after, api_version)
            except _Invalid as e:
                raise StatusError(
                    500, "", f"conversion webhook for {source} returned {_where(e, single, n)}: {e}"
                ) from None
        return out

    async def _review(
        self, rt: ResourceType, objs: list[dict[str, Any]], api_version: str
    ) -> list[dict[str, Any]]:
        webhook = (rt.extra.get("conversion") or {}).get("webhook") or {}
        uid = str(uuid.uuid4())
        review = {
            "kind": "ConversionReview",
            "apiVersion": _REVIEW,
            "request": {"uid": uid, "desiredAPIVersion": api_version, "objects": objs},
        }
        endpoint = resolve(self.store, webhook.get("clientConfig") or {})
        answer = await self.pool.post_json(endpoint, review, _TIMEOUT)
        if not isinstance(answer, dict):
            raise CallError("the response is not a ConversionReview object")
        response = review_response(
            answer, _REVIEW, "ConversionReview", uid, absent="no response provided"
        )
        result = response.get("result") or {}
        if result.get("status") != "Success":
            if result.get("message"):
                raise CallError(str(result["message"]))
            raise CallError(
                f"response.result.status was '{result.get('status', '')}', not 'Success'"
            )
        converted = response.get("convertedObjects") or []
        if len(converted) != len(objs):
            raise CallError(f"returned {len(converted)} objects, expected {len(objs)}")
        return [c if isinstance(c, dict) else {} for c in converted]


class _Invalid(Exception):
    """A converted object refused: ``part`` is ``type`` (version, kind), ``object`` (name,
    namespace, uid) or ``metadata`` (labels, annotations)."""

    def __init__(self, message: str, part: str) -> None:
        super().__init__(message)
        self.part = part


def _where(e: _Invalid, single: bool, n: int) -> str:
    """How the error names the object, as webhook_converter.go words each case (in a list
    the index is counted from 1: the converter advances it before checking)."""
    if e.part == "metadata":
        return "invalid metadata" if single else f"invalid metadata in object at index {n + 1}"
    if single:
        return "invalid object at index 0" if e.part == "type" else "invalid object"
    return f"invalid converted object at index {n + 1}"


def _checked(
    original: dict[str, Any], converted: dict[str, Any], api_version: str
) -> dict[str, Any]:
    got_gv = str(converted.get("apiVersion", ""))
    if got_gv != api_version:
        raise _Invalid(f"invalid groupVersion (expected {api_version}, received {got_gv})", "type")
    kind, got_kind = original.get("kind"), converted.get("kind")
    if kind != got_kind:
        raise _Invalid(f"invalid kind (expected {kind}, received {got_kind})", "type")
    before = original.get("metadata") or {}
    after = converted.get("metadata")
    for field, label in (("name", "name"), ("namespace", "namespace"), ("uid", "UID")):
        if isinstance(after, dict) and before.get(field, "") != after.get(field, ""):
            raise _Invalid(
                f"must have the same {label}: {before.get(field, '')} != {after.get(field, '')}",
                "object",
            )
    if not isinstance(after, dict):
        raise _Invalid("missing metadata in converted object", "metadata")
    meta = copy.deepcopy(before)
    for field in ("labels", "annotations"):
        value = after.get(field)
        if value is None:
            meta.pop(field, None)
            continue
        if not isinstance(value, dict):
            raise _Invalid(f"invalid metadata.{field} in converted object", "metadata")
        for k, v in value.items():
            if not isinstance(v, str):
                raise _Invalid(f"metadata.{field}[{k}] must be a string", "metadata")
        if field == "labels" and value != before.get(field):
            causes = validate_labels(value, "metadata.labels")
            if causes:
                raise _Invalid(
                    "; ".join(f"{c['field']}: {c['message']}" for c in causes), "metadata"
                )
        meta[field] = value
    out = dict(converted)
    out["metadata"] = meta
    return out
