"""Admission webhooks: typed validating and mutating handlers, and the AdmissionReview wire.

A handler gets an :class:`AdmissionRequest` carrying the typed objects, and answers by
returning (allowed) or raising :class:`Denied`::

    async def check_web(req: AdmissionRequest[Web]) -> None:
        assert req.object is not None            # None only on DELETE (see old_object)
        if req.object.spec.replicas > 10:
            raise Denied("spec.replicas: at most 10 (ask for a quota raise)")
        if req.object.spec.replicas > 5:
            req.warn("spec.replicas above 5 is expensive")

    async def default_web(req: AdmissionRequest[Web]) -> Web:
        web = req.require_object()
        web.spec.image = web.spec.image or "nginx:1.27"
        return web                               # the SDK sends the JSON patch

    manager.add_webhook(ValidatingWebhook(Web, check_web))
    manager.add_webhook(MutatingWebhook(Web, default_web))

The wire format follows ``k8s.io/api/admission/v1`` (``AdmissionReview``): the answer echoes
``request.uid``, says ``allowed``, carries a ``status`` (``code``, ``reason``, ``message``) when
refused, ``warnings`` when there are any, and for a mutation ``patchType: JSONPatch`` with the
RFC 6902 patch base64-encoded in ``patch``. kube-apiserver prefixes a refusal's message with
``admission webhook "<name>" denied the request:``, so messages need not name the webhook.
"""

from __future__ import annotations

import base64
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeAlias, TypeVar, cast

from pydantic import ValidationError

from opframe._logging import logger_for
from opframe.errors import OpframeError
from opframe.resource import Resource, ResourceInfo, resource_info
from opframe.webhook._patch import json_patch

__all__ = [
    "ADMISSION_REVIEW_VERSION",
    "AdmissionRequest",
    "Denied",
    "FailurePolicy",
    "MatchCondition",
    "MutatingHandler",
    "MutatingWebhook",
    "Operation",
    "UserInfo",
    "ValidatingHandler",
    "ValidatingWebhook",
]

T = TypeVar("T", bound=Resource)

ADMISSION_REVIEW_VERSION = "admission.k8s.io/v1"
"""The only AdmissionReview version served (and listed in ``admissionReviewVersions``)."""

Operation: TypeAlias = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
"""An admission operation, as in a webhook rule's ``operations``."""
OPERATIONS: tuple[Operation, ...] = ("CREATE", "UPDATE", "DELETE", "CONNECT")

FailurePolicy: TypeAlias = Literal["Fail", "Ignore"]
"""What the API server does when the webhook cannot answer: refuse the request, or admit it."""

_log = logger_for("webhook")


class Denied(OpframeError):
    """Raised by a handler to refuse the request; the message is what the user sees.

    Args:
        message: why, naming the field and what to do (``kubectl`` shows it).
        code: the HTTP status the API server answers (403 unless said otherwise;
            422 for an invalid field is common).
        reason: the ``Status.reason`` (``Forbidden`` for 403, ``Invalid`` for 422, ...).
    """

    def __init__(self, message: str, *, code: int = 403, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason or _REASONS.get(code, "")


_REASONS = {400: "BadRequest", 403: "Forbidden", 409: "Conflict", 422: "Invalid",
            500: "InternalError"}


@dataclass(frozen=True)
class UserInfo:
    """Who sent the request (``request.userInfo``)."""

    username: str = ""
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UserInfo:
        """Parse ``request.userInfo``."""
        extra = {k: tuple(v or ()) for k, v in (data.get("extra") or {}).items()}
        return cls(
            username=data.get("username") or "",
            uid=data.get("uid") or "",
            groups=tuple(data.get("groups") or ()),
            extra=extra,
        )


@dataclass
class AdmissionRequest(Generic[T]):
    """One admission request (``AdmissionReview.request``), with the objects typed.

    Attributes:
        uid: the request's uid (echoed in the answer by the server).
        operation: ``CREATE``, ``UPDATE``, ``DELETE`` or ``CONNECT``.
        name: the object's name (empty on a CREATE with ``generateName``).
        namespace: its namespace (empty for cluster-scoped kinds).
        object: the object as it would be stored; ``None`` on DELETE and CONNECT.
        old_object: the stored object on UPDATE and DELETE; ``None`` otherwise.
        user_info: who sent the request.
        dry_run: the request is a dry run: have no side effects.
        sub_resource: the subresource (``status``, ``scale``) or ``""``.
        options: the operation's options (``CreateOptions``, ...) as sent.
        raw: the whole ``request`` as sent.
    """

    uid: str
    operation: Operation
    name: str
    namespace: str
    object: T | None
    old_object: T | None
    user_info: UserInfo
    dry_run: bool
    sub_resource: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    warnings: list[str] = field(default_factory=list)
    """Warnings for the client (``kubectl`` prints them); add with :meth:`warn`."""

    def warn(self, message: str) -> None:
        """Send ``message`` back as a warning (the request is still admitted)."""
        self.warnings.append(message)

    def require_object(self) -> T:
        """:attr:`object`, which CREATE and UPDATE always carry; :class:`Denied` if absent."""
        if self.object is None:
            raise Denied(f"{self.operation} request carries no object", code=400)
        return self.object


ValidatingHandler: TypeAlias = Callable[[AdmissionRequest[T]], "Awaitable[None] | None"]
"""``(req) -> None``, plain or async; raise :class:`Denied` to refuse."""
MutatingHandler: TypeAlias = Callable[[AdmissionRequest[T]], "Awaitable[T] | T"]
"""``(req) -> obj``, plain or async: the object as it should be stored."""


@dataclass(frozen=True)
class MatchCondition:
    """A CEL expression that must be true for the API server to call the webhook.

    Example: ``MatchCondition("not-system", "!request.userInfo.username.startsWith('system:')")``.
    """

    name: str
    expression: str


_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?){2,}$")


@dataclass(frozen=True)
class _Webhook(Generic[T]):
    kind: type[T]
    handler: Callable[[AdmissionRequest[T]], Any]
    operations: Sequence[Operation] = ("CREATE", "UPDATE")
    name: str = ""
    path: str = ""
    subresources: Sequence[str] = ()
    failure_policy: FailurePolicy = "Fail"
    match_policy: Literal["Exact", "Equivalent"] = "Equivalent"
    side_effects: Literal["None", "NoneOnDryRun"] = "None"
    timeout_seconds: int = 10
    namespace_selector: Mapping[str, Any] | None = None
    object_selector: Mapping[str, Any] | None = None
    match_conditions: Sequence[MatchCondition] = ()

    _verb = ""

    def __post_init__(self) -> None:
        info = resource_info(self.kind)
        label = f"{type(self).__name__}({info.kind})"
        if not callable(self.handler):
            raise TypeError(f"{label}: handler must be a function taking the AdmissionRequest")
        ops = tuple(self.operations)
        if not ops or any(op not in OPERATIONS for op in ops):
            raise ValueError(
                f"{label}: operations must be some of {', '.join(OPERATIONS)}, got {ops!r}"
            )
        object.__setattr__(self, "operations", ops)
        object.__setattr__(self, "subresources", tuple(self.subresources))
        object.__setattr__(self, "match_conditions", tuple(self.match_conditions))
        if not 1 <= self.timeout_seconds <= 30:
            raise ValueError(f"{label}: timeout_seconds must be 1..30 (the API server's range)")
        if not self.name:
            group = info.group or "core.k8s.io"
            object.__setattr__(self, "name", f"{self._verb}.{info.plural}.{group}")
        if not _NAME.match(self.name):
            raise ValueError(
                f"{label}: name {self.name!r} must be a DNS subdomain of at least three "
                "segments, such as 'validate.webs.example.com'"
            )
        if not self.path:
            group = info.group.replace(".", "-") or "core"
            object.__setattr__(
                self, "path", f"/{self._verb}-{group}-{info.version}-{info.kind.lower()}"
            )
        if not self.path.startswith("/"):
            raise ValueError(f"{label}: path {self.path!r} must start with '/'")

    @property
    def info(self) -> ResourceInfo:
        """The kind's :class:`~opframe.ResourceInfo`."""
        return resource_info(self.kind)

    @property
    def mutating(self) -> bool:
        """True for a :class:`MutatingWebhook`."""
        return False

    async def review(self, body: Any) -> dict[str, Any]:
        """Answer one ``AdmissionReview`` (decoded JSON) with the ``AdmissionReview`` reply."""
        request = _request_of(body)
        uid = str(request.get("uid") or "")
        req: AdmissionRequest[T] | None = None
        try:
            req = self._parse(request)
            response = await self._answer(req)
        except Denied as exc:
            response = _denied(exc)
            if req is not None:
                response["warnings"] = req.warnings
        except Exception as exc:
            _log.exception("webhook %s failed on request %s", self.name, uid)
            response = _denied(
                Denied(f"webhook {self.name} failed: {type(exc).__name__}: {exc}", code=500)
            )
        response["uid"] = uid
        if not response.get("warnings"):
            response.pop("warnings", None)
        return {"apiVersion": ADMISSION_REVIEW_VERSION, "kind": "AdmissionReview",
                "response": response}

    def _parse(self, request: Mapping[str, Any]) -> AdmissionRequest[T]:
        operation = request.get("operation")
        if operation not in OPERATIONS:
            raise Denied(f"request.operation {operation!r} is not one of {OPERATIONS}", code=400)
        return AdmissionRequest(
            uid=str(request.get("uid") or ""),
            operation=cast(Operation, operation),
            name=request.get("name") or "",
            namespace=request.get("namespace") or "",
            object=self._typed(request.get("object"), "object"),
            old_object=self._typed(request.get("oldObject"), "oldObject"),
            user_info=UserInfo.from_dict(request.get("userInfo") or {}),
            dry_run=bool(request.get("dryRun")),
            sub_resource=request.get("subResource") or "",
            options=request.get("options") or {},
            raw=request,
        )

    def _typed(self, data: Any, where: str) -> T | None:
        if not data:
            return None
        if not isinstance(data, dict) or data.get("kind") != self.info.kind:
            # CONNECT carries an options object (PodExecOptions), not the kind.
            return None
        try:
            return self.kind.model_validate(data)
        except ValidationError as exc:
            raise Denied(f"{where}: {_one_line(exc)}", code=422) from None

    async def _answer(self, req: AdmissionRequest[T]) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class ValidatingWebhook(_Webhook[T]):
    """A validating admission webhook for ``kind``, served by the manager's webhook server.

    Args:
        kind: the resource class (its group, version and plural make the rule).
        handler: ``(req: AdmissionRequest[kind]) -> None``, plain or async; raise
            :class:`Denied` to refuse, call ``req.warn()`` to warn.
        operations: which operations the API server sends (default CREATE and UPDATE).
        name: the webhook's name in the configuration (default ``validate.<plural>.<group>``).
        path: the URL path (default ``/validate-<group>-<version>-<kind>``).
        subresources: also review these subresources (``status``).
        failure_policy: ``Fail`` (refuse writes while the webhook is down) or ``Ignore``.
        match_policy: ``Equivalent`` (also for the kind's other versions) or ``Exact``.
        side_effects: ``None`` (safe under dry run) or ``NoneOnDryRun``.
        timeout_seconds: how long the API server waits (1..30).
        namespace_selector: a LabelSelector (``{"matchLabels": ...}``) on namespaces.
        object_selector: a LabelSelector on the object's labels.
        match_conditions: CEL conditions, all of which must hold for the call to happen.

    An unexpected exception in the handler refuses the request with code 500 and is logged
    with its traceback; an object that does not parse as ``kind`` is refused with 422.
    """

    handler: ValidatingHandler[T]
    _verb = "validate"

    async def _answer(self, req: AdmissionRequest[T]) -> dict[str, Any]:
        result: Any = self.handler(req)
        if inspect.isawaitable(result):
            result = await result
        if result is not None:
            raise TypeError(
                f"validating handler {_name(self.handler)} returned {type(result).__name__}; "
                "return None to admit, raise Denied to refuse"
            )
        return {"allowed": True, "warnings": req.warnings}


@dataclass(frozen=True)
class MutatingWebhook(_Webhook[T]):
    """A mutating admission webhook for ``kind`` (defaulting, injecting, normalising).

    The handler returns the object as it should be stored (usually ``req.object`` after
    changing it); the SDK answers with the JSON patch from what was sent to it. Arguments are
    those of :class:`ValidatingWebhook`, plus ``reinvocation_policy`` (``Never`` or
    ``IfNeeded``: call again if a later webhook changed the object). DELETE and CONNECT
    requests carry no object to change: the handler is not called and the request admitted.
    """

    handler: MutatingHandler[T]
    reinvocation_policy: Literal["Never", "IfNeeded"] = "Never"
    _verb = "mutate"

    @property
    def mutating(self) -> bool:
        """True."""
        return True

    async def _answer(self, req: AdmissionRequest[T]) -> dict[str, Any]:
        if req.object is None:
            return {"allowed": True}
        # The baseline is the object as the model writes it, so fields the model renders
        # differently from the sender (a dropped null) do not turn into spurious operations.
        before = req.object.to_dict()
        result = self.handler(req)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, self.kind):
            raise TypeError(
                f"mutating handler {_name(self.handler)} returned {type(result).__name__}; "
                f"return the (changed) {self.kind.__name__}"
            )
        ops = json_patch(before, result.to_dict())
        response: dict[str, Any] = {"allowed": True, "warnings": req.warnings}
        if ops:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
        return response


AdmissionWebhook: TypeAlias = "ValidatingWebhook[Any] | MutatingWebhook[Any]"


def _request_of(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise ReviewError("the body is not a JSON object; expected an AdmissionReview")
    if body.get("kind") != "AdmissionReview" or body.get("apiVersion") != ADMISSION_REVIEW_VERSION:
        raise ReviewError(
            f"expected apiVersion {ADMISSION_REVIEW_VERSION} kind AdmissionReview, got "
            f"{body.get('apiVersion')!r} {body.get('kind')!r}; list only v1 in "
            "admissionReviewVersions"
        )
    request = body.get("request")
    if not isinstance(request, dict) or not request.get("uid"):
        raise ReviewError("AdmissionReview has no request with a uid")
    return request


class ReviewError(OpframeError):
    """A review the server cannot answer (not an AdmissionReview/ConversionReview v1): 400."""


def _denied(exc: Denied) -> dict[str, Any]:
    status: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.reason:
        status["reason"] = exc.reason
    return {"allowed": False, "status": status}


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


def _name(handler: Any) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)
