"""ValidatingAdmissionPolicy: CEL validations evaluated in process after a write's validation.

A write (create, update, delete) made by a client runs, once the kind's own validation has
passed, every ValidatingAdmissionPolicyBinding whose policy matches it, as the
ValidatingAdmissionPolicy plugin does (``staging/src/k8s.io/apiserver/pkg/admission/plugin/
policy/validating/dispatcher.go``, ``validator.go`` and ``policy/generic/policy_dispatcher.go``):

1. the policy's ``matchConstraints`` (resource rules with ``matchPolicy``, exclusions,
   namespace and object selectors), then the binding's ``matchResources`` (all resources the
   policy matches when it has no resource rules);
2. the params: none without ``paramKind``; otherwise the object ``paramRef`` names (in its
   namespace, or the request's) or every object its selector selects; none found with
   ``parameterNotFoundAction: Deny`` is a configuration error;
3. per param: the ``matchConditions`` (any false skips the policy), the ``variables`` (lazily
   bound under ``variables``), then each validation; a false one is a failure with its
   ``messageExpression`` result, its ``message`` or ``failed expression: <expr>``, and its
   ``reason`` (``Invalid`` by default);
4. a failure is enforced by the binding's ``validationActions``: ``Deny`` refuses the write
   (``<resource> "<name>" is forbidden: ValidatingAdmissionPolicy 'P' with binding 'B' denied
   request: <message>`` with the reason's code, 422 for ``Invalid``), ``Warn`` adds a
   ``Warning`` header, ``Audit`` is recorded (:attr:`PolicyAdmission.audit`; no audit log here);
5. errors (a CEL runtime error, a missing param kind or param) follow the policy's
   ``failurePolicy``: ``Fail`` turns them into a denial, ``Ignore`` skips them.

CEL variables: ``object``, ``oldObject`` (null on create / delete respectively), ``request``
(kind, resource, subResource, name, namespace, operation, userInfo, dryRun), ``params``,
``namespaceObject``, ``variables`` and ``authorizer`` (``authorizer.group(g).resource(r)
.namespace(n).name(x).check(verb).allowed()`` and ``.serviceAccount(ns, name)``), answered by
the server's own authorizer.

Writes made inside the server (bootstrap, garbage collector, built-in controllers) carry no
user and are not subject to policies; the admission configuration kinds themselves are exempt,
as in the real server. ``status.typeChecking`` is not computed (no static type checker).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from opframe.testing.apiserver.auth.user import Attributes, UserInfo, service_account_user
from opframe.testing.apiserver.builtins.workloads import selector_matches
from opframe.testing.apiserver.errors import StatusError
from opframe.testing.apiserver.registry.resource_type import ResourceType
from opframe.testing.apiserver.registry.resources import Registry, storage_key
from opframe.testing.apiserver.registry.storage import Store
from opframe.testing.apiserver.schema import cel as _cel

__all__ = ["PolicyAdmission", "compile_causes", "reason_code"]

ADMISSION_GROUP = "admissionregistration.k8s.io"
_EXEMPT = frozenset(
    {
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
    }
)
_CODES = {"Forbidden": 403, "Unauthorized": 401, "RequestEntityTooLarge": 413, "Invalid": 422}
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Authorize = Callable[[Attributes], bool]


def reason_code(reason: str) -> int:
    """The HTTP code of a validation's ``reason`` (``reasonToCode`` in dispatcher.go)."""
    return _CODES.get(reason, 422)


# -- CEL -----------------------------------------------------------------------------------


class _Authz(celtypes.MapType):
    """The ``authorizer`` CEL value: a request builder answered by the server's authorizer."""

    def __init__(self, check: Authorize, user: UserInfo, parts: dict[str, str]) -> None:
        super().__init__({})
        self.check_fn = check
        self.user = user
        self.parts = parts

    def with_part(self, **kw: str) -> _Authz:
        return _Authz(self.check_fn, self.user, {**self.parts, **kw})


def _group(a: Any, g: Any) -> Any:
    return a.with_part(group=str(g))


def _resource(a: Any, r: Any) -> Any:
    return a.with_part(resource=str(r))


def _subresource(a: Any, r: Any) -> Any:
    return a.with_part(subresource=str(r))


def _namespace(a: Any, n: Any) -> Any:
    return a.with_part(namespace=str(n))


def _name(a: Any, n: Any) -> Any:
    return a.with_part(name=str(n))


def _service_account(a: Any, ns: Any, name: Any) -> Any:
    return _Authz(a.check_fn, service_account_user(str(ns), str(name)), dict(a.parts))


def _check(a: Any, verb: Any) -> Any:
    p = a.parts
    attrs = Attributes(
        user=a.user,
        verb=str(verb),
        resource_request=True,
        api_group=p.get("group", ""),
        resource=p.get("resource", ""),
        subresource=p.get("subresource", ""),
        namespace=p.get("namespace", ""),
        name=p.get("name", ""),
    )
    allowed = bool(a.check_fn(attrs))
    return celtypes.MapType(
        {
            celtypes.StringType("allowed"): celtypes.BoolType(allowed),
            celtypes.StringType("reason"): celtypes.StringType(""),
        }
    )


def _allowed(d: Any) -> Any:
    return d[celtypes.StringType("allowed")]


def _reason(d: Any) -> Any:
    return d[celtypes.StringType("reason")]


_FUNCTIONS: dict[str, Any] = {
    **_cel._FUNCTIONS,
    "group": _group,
    "resource": _resource,
    "subresource": _subresource,
    "namespace": _namespace,
    "name": _name,
    "serviceAccount": _service_account,
    "check": _check,
    "allowed": _allowed,
    "reason": _reason,
}
_ENV = celpy.Environment()


def _compile(text: str) -> Any:
    return _ENV.program(_ENV.compile(text), functions=_FUNCTIONS)


def compile_causes(text: str) -> str | None:
    """Why a policy expression does not compile (``compilation failed: ...``), or ``None``."""
    return _cel.compile_error(text)


class _Map(celtypes.MapType):
    """A CEL map that compares unequal to null (cel-go's heterogeneous ``!=``)."""

    def __ne__(self, other: Any) -> bool:
        return True if other is None else bool(super().__ne__(other))

    __hash__ = None  # type: ignore[assignment]


class _List(celtypes.ListType):
    """A CEL list that compares unequal to null."""

    def __ne__(self, other: Any) -> bool:
        return True if other is None else bool(super().__ne__(other))

    __hash__ = None  # type: ignore[assignment]


def _cel_value(value: Any) -> Any:
    """JSON to CEL; ``oldObject != null`` works as in the real server."""
    if isinstance(value, dict):
        return _Map({celtypes.StringType(k): _cel_value(v) for k, v in value.items()})
    if isinstance(value, list):
        return _List([_cel_value(v) for v in value])
    return json_to_cel(value)


class _Variables(celtypes.MapType):
    """``variables``: each one evaluated on first read, in the policy's activation."""

    def __init__(self, programs: dict[str, Any], activation: dict[str, Any]) -> None:
        dict.__init__(self, ((celtypes.StringType(k), None) for k in programs))
        self._programs = programs
        self._activation = activation
        self._values: dict[str, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        name = str(key)
        if name not in self._programs:
            raise KeyError(key)
        if name not in self._values:
            try:
                self._values[name] = self._programs[name].evaluate(self._activation)
            except Exception as exc:  # a failing variable fails the expressions reading it
                self._values[name] = CELEvalError(f"variable '{name}': {exc}")
        value = self._values[name]
        if isinstance(value, CELEvalError):
            raise value
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key] if str(key) in self._programs else default


@dataclass
class _Compiled:
    """A policy's programs, compiled once per resourceVersion."""

    conditions: list[tuple[str, Any]]
    variables: dict[str, Any]
    validations: list[tuple[dict[str, Any], Any, Any]]
    error: str = ""


def _compile_policy(spec: dict[str, Any]) -> _Compiled:
    out = _Compiled([], {}, [])
    try:
        for mc in spec.get("matchConditions") or []:
            out.conditions.append((str(mc.get("name", "")), _compile(str(mc["expression"]))))
        for var in spec.get("variables") or []:
            out.variables[str(var["name"])] = _compile(str(var["expression"]))
        for v in spec.get("validations") or []:
            message = v.get("messageExpression")
            out.validations.append(
                (v, _compile(str(v["expression"])), _compile(str(message)) if message else None)
            )
    except Exception as exc:  # validation compiles every expression; be safe anyway
        out.error = f"compilation failed: {exc}"
    return out


# -- matching ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    """The admission attributes of one write."""

    rt: ResourceType
    operation: str
    subresource: str
    name: str
    namespace: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None
    user: UserInfo
    dry_run: bool

    def labels(self) -> list[dict[str, str]]:
        return [
            dict((o.get("metadata") or {}).get("labels") or {})
            for o in (self.obj, self.old)
            if o is not None
        ]


def _has(values: Any, wanted: str) -> bool:
    values = values or []
    return "*" in values or wanted in values


def _resource_matches(resources: Any, plural: str, subresource: str) -> bool:
    for r in resources or []:
        res, _, sub = str(r).partition("/")
        if res not in ("*", plural):
            continue
        if not sub and not subresource:
            return True
        if sub and (sub == "*" or sub == subresource):
            return True
    return False


def _rule_matches(rule: dict[str, Any], req: _Request, version: str) -> bool:
    rt = req.rt
    if not _has(rule.get("operations"), req.operation):
        return False
    if not _has(rule.get("apiGroups"), rt.group) or not _has(rule.get("apiVersions"), version):
        return False
    if not _resource_matches(rule.get("resources"), rt.plural, req.subresource):
        return False
    scope = rule.get("scope") or "*"
    if (scope == "Cluster" and rt.namespaced) or (scope == "Namespaced" and not rt.namespaced):
        return False
    names = rule.get("resourceNames") or []
    return not names or req.name in names


@dataclass
class PolicyAdmission:
    """Evaluates ValidatingAdmissionPolicies and their bindings on one server's writes."""

    store: Store
    registry: Registry
    authorize: Authorize
    #: ``validation.policy.admission.k8s.io/validation_failure`` values recorded by ``Audit``.
    audit: list[dict[str, Any]] = field(default_factory=list)
    _compiled: dict[tuple[str, str], _Compiled] = field(default_factory=dict)

    # -- the write path ------------------------------------------------------------------

    def hook(
        self,
        rt: ResourceType,
        operation: str,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        subresource: str,
        dry_run: bool,
        warnings: list[str],
    ) -> None:
        """The :attr:`Writer.validating_hooks` entry: :meth:`admit` for the request's user."""
        from opframe.testing.apiserver.auth import CURRENT_USER

        self.admit(
            rt,
            operation,
            obj,
            old,
            user=CURRENT_USER.get(),
            subresource=subresource,
            dry_run=dry_run,
            warnings=warnings,
        )

    def admit(
        self,
        rt: ResourceType,
        operation: str,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        *,
        user: UserInfo | None,
        subresource: str = "",
        dry_run: bool = False,
        warnings: list[str] | None = None,
    ) -> None:
        """Refuse the write (StatusError) if a ``Deny`` binding's policy fails it."""
        if user is None or (rt.group == ADMISSION_GROUP and rt.plural in _EXEMPT):
            return
        bindings = self._objects("validatingadmissionpolicybindings")
        if not bindings:
            return
        current = obj if obj is not None else old
        meta = (current or {}).get("metadata") or {}
        req = _Request(
            rt,
            operation,
            subresource,
            str(meta.get("name", "")),
            str(meta.get("namespace", "")) if rt.namespaced else "",
            obj,
            old,
            user,
            dry_run,
        )
        policies = {p["metadata"]["name"]: p for p in self._objects("validatingadmissionpolicies")}
        denied: list[tuple[str, str, str, str]] = []  # policy, binding, message, reason
        for binding in bindings:
            spec = binding.get("spec") or {}
            policy = policies.get(str(spec.get("policyName", "")))
            if policy is None:  # a binding to a missing policy is ignored
                continue
            pspec = policy.get("spec") or {}
            if not self._matches(pspec.get("matchConstraints") or {}, req, policy_level=True):
                continue
            if not self._matches(spec.get("matchResources") or {}, req, policy_level=False):
                continue
            for action, message, reason in self._evaluate(policy, binding, req):
                pname, bname = policy["metadata"]["name"], binding["metadata"]["name"]
                if action == "error":
                    if pspec.get("failurePolicy", "Fail") == "Ignore":
                        continue
                    denied.append((pname, bname, message, reason))
                    continue
                actions = spec.get("validationActions") or []
                if "Deny" in actions:
                    denied.append((pname, bname, message, reason))
                if "Warn" in actions and warnings is not None:
                    warnings.append(
                        f"Validation failed for ValidatingAdmissionPolicy '{pname}' with binding "
                        f"'{bname}': {message}"
                    )
                if "Audit" in actions:
                    self.audit.append(
                        {
                            "message": message,
                            "policy": pname,
                            "binding": bname,
                            "validationActions": list(actions),
                        }
                    )
        if denied:
            raise self._denial(req, *denied[0])

    @staticmethod
    def _denial(req: _Request, policy: str, binding: str, message: str, reason: str) -> StatusError:
        text = f"ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: "
        text += message
        rt = req.rt
        qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
        details: dict[str, Any] = {}
        if req.name:
            details["name"] = req.name
        if rt.group:
            details["group"] = rt.group
        details["kind"] = rt.plural
        details["causes"] = [{"message": text}]
        reason = reason or "Invalid"
        return StatusError(
            reason_code(reason), reason, f'{qualified} "{req.name}" is forbidden: {text}', details
        )

    # -- matching ------------------------------------------------------------------------

    def _objects(self, plural: str) -> list[dict[str, Any]]:
        rt = self.registry.find_plural(plural, ADMISSION_GROUP)
        if rt is None:
            return []
        return [so.obj for so in self.store.iter_sorted(storage_key(rt), "")]

    def _namespace_object(self, req: _Request) -> dict[str, Any] | None:
        if not req.namespace:
            return None
        so = self.store.get("/namespaces", "", req.namespace)
        return so.obj if so is not None else None

    def _matches(self, match: dict[str, Any], req: _Request, *, policy_level: bool) -> bool:
        """``matching.Matcher.Matches``: selectors, exclusions, then the resource rules."""
        ns_selector = match.get("namespaceSelector") or {}
        if ns_selector:
            if req.rt.group == "" and req.rt.plural == "namespaces":
                labels = req.labels()[0] if req.labels() else {}
                if not selector_matches(ns_selector, labels):
                    return False
            elif req.rt.namespaced:
                ns = self._namespace_object(req) or {}
                labels = dict((ns.get("metadata") or {}).get("labels") or {})
                if not selector_matches(ns_selector, labels):
                    return False
        obj_selector = match.get("objectSelector") or {}
        if obj_selector and not any(selector_matches(obj_selector, lb) for lb in req.labels()):
            return False
        equivalent = (match.get("matchPolicy") or "Equivalent") == "Equivalent"
        if any(self._rule(r, req, equivalent) for r in match.get("excludeResourceRules") or []):
            return False
        rules = match.get("resourceRules") or []
        if not rules:
            return not policy_level
        return any(self._rule(r, req, equivalent) for r in rules)

    def _rule(self, rule: dict[str, Any], req: _Request, equivalent: bool) -> bool:
        if _rule_matches(rule, req, req.rt.version):
            return True
        if not equivalent:
            return False
        # Equivalent: the same resource served at another version matches too.
        for version in self.registry.versions(req.rt.group):
            other = self.registry.lookup(req.rt.group, version, req.rt.plural)
            if (
                other is not None
                and version != req.rt.version
                and _rule_matches(rule, req, version)
            ):
                return True
        return False

    # -- evaluation ----------------------------------------------------------------------

    def _compiled_policy(self, policy: dict[str, Any]) -> _Compiled:
        meta = policy["metadata"]
        key = (str(meta.get("uid", "")), str(meta.get("resourceVersion", "")))
        compiled = self._compiled.get(key)
        if compiled is None:
            if len(self._compiled) > 256:
                self._compiled.clear()
            compiled = self._compiled[key] = _compile_policy(policy.get("spec") or {})
        return compiled

    def _params(
        self, policy: dict[str, Any], binding: dict[str, Any], req: _Request
    ) -> list[dict[str, Any] | None]:
        """``generic.CollectParams``; raises ValueError for a configuration error."""
        kind = (policy.get("spec") or {}).get("paramKind")
        ref = (binding.get("spec") or {}).get("paramRef")
        if not isinstance(kind, dict) or not isinstance(ref, dict):
            return [None]
        rt = self.registry.find_kind(str(kind.get("apiVersion", "")), str(kind.get("kind", "")))
        if rt is None:
            group, _, version = str(kind.get("apiVersion", "")).rpartition("/")
            raise ValueError(
                f"paramKind kind `{group}/{version}, Kind={kind.get('kind', '')}` not known"
            )
        namespace = ""
        if rt.namespaced:
            namespace = str(ref.get("namespace") or req.namespace)
            if not namespace:
                raise ValueError(
                    "cannot use namespaced paramRef in policy binding that matches "
                    "cluster-scoped resources"
                )
        elif ref.get("namespace"):
            raise ValueError(
                "paramRef.namespace must not be provided for a cluster-scoped `paramKind`"
            )
        key = storage_key(rt)
        params: list[dict[str, Any] | None]
        if ref.get("name"):
            so = self.store.get(key, namespace, str(ref["name"]))
            params = [so.obj] if so is not None else []
        else:
            selector = ref.get("selector") or {}
            params = [
                so.obj
                for so in self.store.iter_sorted(key, namespace if rt.namespaced else "")
                if selector_matches(selector, dict(so.meta.get("labels") or {}))
            ]
        if not params and ref.get("parameterNotFoundAction") == "Deny":
            raise ValueError(
                "no params found for policy binding with `Deny` parameterNotFoundAction"
            )
        return params

    def _activation(self, req: _Request, param: dict[str, Any] | None) -> dict[str, Any]:
        rt = req.rt
        request: dict[str, Any] = {
            "uid": "",
            "kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "resource": {"group": rt.group, "version": rt.version, "resource": rt.plural},
            "requestKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "requestResource": {"group": rt.group, "version": rt.version, "resource": rt.plural},
            "name": req.name,
            "namespace": req.namespace,
            "operation": req.operation,
            "userInfo": req.user.as_json(),
            "dryRun": req.dry_run,
        }
        if req.subresource:
            request["subResource"] = req.subresource
        ns = self._namespace_object(req)
        namespace_object = None
        if ns is not None:  # CreateNamespaceObject: metadata, spec and status only
            namespace_object = {
                "metadata": copy.deepcopy(ns.get("metadata") or {}),
                "spec": ns.get("spec") or {},
                "status": ns.get("status") or {},
            }
            namespace_object["metadata"].pop("managedFields", None)
        return {
            "object": _cel_value(req.obj),
            "oldObject": _cel_value(req.old),
            "request": _cel_value(request),
            "params": _cel_value(param),
            "namespaceObject": _cel_value(namespace_object),
            "authorizer": _Authz(self.authorize, req.user, {}),
        }

    def _evaluate(
        self, policy: dict[str, Any], binding: dict[str, Any], req: _Request
    ) -> list[tuple[str, str, str]]:
        """``(action, message, reason)`` of each failure: ``deny`` or ``error``."""
        compiled = self._compiled_policy(policy)
        if compiled.error:
            return [("error", f"failed to configure policy: {compiled.error}", "")]
        try:
            params = self._params(policy, binding, req)
        except ValueError as exc:
            return [("error", f"failed to configure binding: {exc}", "")]
        out: list[tuple[str, str, str]] = []
        for param in params:
            activation = self._activation(req, param)
            activation["variables"] = _Variables(compiled.variables, activation)
            try:
                if not all(_true(p.evaluate(activation)) for _, p in compiled.conditions):
                    continue
            except Exception as exc:  # an erroring match condition follows failurePolicy
                out.append(("error", f"failed to evaluate match conditions: {exc}", ""))
                continue
            for validation, program, message_program in compiled.validations:
                try:
                    result = program.evaluate(activation)
                except Exception as exc:  # CEL runtime errors
                    out.append(
                        (
                            "error",
                            f"expression '{validation['expression']}' resulted in error: {exc}",
                            "",
                        )
                    )
                    continue
                if _true(result):
                    continue
                out.append(
                    (
                        "deny",
                        _message(validation, message_program, activation),
                        str(validation.get("reason") or "Invalid"),
                    )
                )
        return out


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, celtypes.BoolType) and bool(value))


def _message(validation: dict[str, Any], program: Any, activation: dict[str, Any]) -> str:
    """messageExpression (a one-line non-blank string), else message, else the expression."""
    if program is not None:
        try:
            text = program.evaluate(activation)
        except Exception:  # the server logs it and falls back
            text = None
        if isinstance(text, str) and text.strip() and "\n" not in text:
            return text.strip()
    if str(validation.get("message") or "").strip():
        return str(validation["message"]).strip()
    return f"failed expression: {str(validation.get('expression', '')).strip()}"


def variable_name_ok(name: str) -> bool:
    """Whether ``name`` can be a CEL variable name (``variables.<name>``)."""
    return bool(_VARIABLE_NAME.match(name))
