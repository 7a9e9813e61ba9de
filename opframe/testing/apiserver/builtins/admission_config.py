"""admissionregistration.k8s.io/v1 webhook configurations and validating admission policies
(stored and validated, not enforced).

Rules from ``pkg/apis/admissionregistration/v1/defaults.go`` and
``pkg/apis/admissionregistration/validation/validation.go``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from opframe.testing.apiserver.builtins.meta import (
    is_dns1123_subdomain,
    is_qualified_name,
    name_causes,
    validate_labels,
)
from opframe.testing.apiserver.errors import Cause
from opframe.testing.apiserver.fielderrors import (
    duplicate,
    enum_set_causes,
    forbidden,
    invalid,
    not_supported,
    required,
    too_many,
)
from opframe.testing.apiserver.schema.cel import compile_error

__all__ = [
    "default_policy",
    "default_policy_binding",
    "default_webhooks",
    "validate_policy",
    "validate_policy_binding",
    "validate_webhooks",
]

_OPERATIONS = ("*", "CONNECT", "CREATE", "DELETE", "UPDATE")
_SCOPES = ("*", "Cluster", "Namespaced")
_FAILURE = ("Fail", "Ignore")
_MATCH = ("Equivalent", "Exact")
_REVIEW_VERSIONS = ("v1", "v1beta1")
_SIDE_EFFECTS = ("None", "NoneOnDryRun")
_ACTIONS = ("Audit", "Deny", "Warn")


def _default_rules(rules: Any) -> None:
    for rule in rules or []:
        if isinstance(rule, dict):
            rule.setdefault("scope", "*")


def _default_match(match: dict[str, Any]) -> None:
    match.setdefault("matchPolicy", "Equivalent")
    match.setdefault("namespaceSelector", {})
    match.setdefault("objectSelector", {})
    _default_rules(match.get("resourceRules"))
    _default_rules(match.get("excludeResourceRules"))


def default_webhooks(obj: dict[str, Any]) -> None:
    """``SetDefaults_ValidatingWebhook``/``MutatingWebhook``: Fail, Equivalent, empty
    selectors, 10 s, scope ``*``, service port 443 (mutating: reinvocation Never)."""
    mutating = obj.get("kind") == "MutatingWebhookConfiguration"
    for hook in obj.get("webhooks") or []:
        if not isinstance(hook, dict):
            continue
        hook.setdefault("failurePolicy", "Fail")
        hook.setdefault("matchPolicy", "Equivalent")
        hook.setdefault("namespaceSelector", {})
        hook.setdefault("objectSelector", {})
        hook.setdefault("timeoutSeconds", 10)
        if mutating:
            hook.setdefault("reinvocationPolicy", "Never")
        _default_rules(hook.get("rules"))
        service = (hook.get("clientConfig") or {}).get("service")
        if isinstance(service, dict):
            service.setdefault("port", 443)


def _rule_causes(rule: dict[str, Any], path: str, operations: bool = True) -> list[Cause]:
    causes: list[Cause] = []
    if operations:
        ops = rule.get("operations") or []
        if not ops:
            causes.append(required(f"{path}.operations"))
        for j, op in enumerate(ops):
            if op not in _OPERATIONS:
                causes.append(not_supported(f"{path}.operations[{j}]", op, _OPERATIONS))
    for key in ("apiGroups", "apiVersions", "resources"):
        if not rule.get(key):
            causes.append(required(f"{path}.{key}"))
    scope = rule.get("scope")
    if scope is not None and scope not in _SCOPES:
        causes.append(not_supported(f"{path}.scope", scope, _SCOPES))
    return causes


def _client_config(config: Any, path: str) -> list[Cause]:
    config = config if isinstance(config, dict) else {}
    url, service = config.get("url"), config.get("service")
    if (url is None) == (service is None):
        return [required(path, "exactly one of url or service is required")]
    if url is not None:
        parts = urlsplit(str(url))
        if parts.scheme != "https":
            return [invalid(f"{path}.url", url, "'https' is the only allowed URL scheme")]
        if not parts.hostname:
            return [invalid(f"{path}.url", url, "host must be specified")]
        if parts.fragment or parts.query:
            return [invalid(f"{path}.url", url, "fragments and query parameters are not permitted")]
        return []
    causes: list[Cause] = []
    for key in ("namespace", "name"):
        if not (service or {}).get(key):
            causes.append(required(f"{path}.service.{key}", f"service {key} is required"))
    svc_path = (service or {}).get("path")
    if svc_path and not str(svc_path).startswith("/"):
        causes.append(invalid(f"{path}.service.path", svc_path, "must start with a '/'"))
    port = (service or {}).get("port")
    if isinstance(port, int) and not 1 <= port <= 65535:
        causes.append(
            invalid(
                f"{path}.service.port",
                port,
                "port is not valid: must be between 1 and 65535, inclusive",
            )
        )
    return causes


def _webhook_causes(hook: dict[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    name = str(hook.get("name") or "")
    causes.extend(name_causes(name, f"{path}.name", is_dns1123_subdomain))
    if name and len(name.split(".")) < 3:
        causes.append(
            invalid(
                f"{path}.name",
                name,
                "should be a domain with at least three segments separated by dots",
            )
        )
    versions = hook.get("admissionReviewVersions") or []
    if not versions:
        causes.append(
            required(f"{path}.admissionReviewVersions", "must specify one of v1, v1beta1")
        )
    elif not any(v in _REVIEW_VERSIONS for v in versions):
        causes.append(
            invalid(
                f"{path}.admissionReviewVersions",
                versions,
                "must include at least one of v1, v1beta1",
            )
        )
    side = hook.get("sideEffects")
    if side is None:
        causes.append(required(f"{path}.sideEffects", "must specify one of None, NoneOnDryRun"))
    elif side not in _SIDE_EFFECTS:
        causes.append(not_supported(f"{path}.sideEffects", side, _SIDE_EFFECTS))
    for i, rule in enumerate(hook.get("rules") or []):
        causes.extend(_rule_causes(rule or {}, f"{path}.rules[{i}]"))
    policy = hook.get("failurePolicy")
    if policy is not None and policy not in _FAILURE:
        causes.append(not_supported(f"{path}.failurePolicy", policy, _FAILURE))
    match = hook.get("matchPolicy")
    if match is not None and match not in _MATCH:
        causes.append(not_supported(f"{path}.matchPolicy", match, _MATCH))
    timeout = hook.get("timeoutSeconds")
    if isinstance(timeout, int) and not 1 <= timeout <= 30:
        causes.append(
            invalid(
                f"{path}.timeoutSeconds",
                timeout,
                "the timeout value must be between 1 and 30 seconds",
            )
        )
    reinvocation = hook.get("reinvocationPolicy")
    if reinvocation is not None and reinvocation not in ("IfNeeded", "Never"):
        causes.append(
            not_supported(f"{path}.reinvocationPolicy", reinvocation, ("IfNeeded", "Never"))
        )
    for key in ("namespaceSelector", "objectSelector"):
        selector = hook.get(key)
        if isinstance(selector, dict):
            causes.extend(validate_labels(selector.get("matchLabels"), f"{path}.{key}.matchLabels"))
    causes.extend(_client_config(hook.get("clientConfig"), f"{path}.clientConfig"))
    causes.extend(_match_conditions(hook.get("matchConditions"), f"{path}.matchConditions"))
    return causes


def _match_conditions(conditions: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    items = conditions or []
    if len(items) > 64:
        causes.append(too_many(path, len(items), 64))
    seen: set[str] = set()
    for i, cond in enumerate(items):
        name = str((cond or {}).get("name") or "")
        if not name:
            causes.append(required(f"{path}[{i}].name"))
        elif name in seen:
            causes.append(duplicate(f"{path}[{i}].name", name))
        else:
            causes.extend(invalid(f"{path}[{i}].name", name, m) for m in is_qualified_name(name))
        seen.add(name)
        expression = (cond or {}).get("expression")
        if not expression:
            causes.append(required(f"{path}[{i}].expression"))
        elif (why := compile_error(str(expression))) is not None:
            # The expression must compile (validation.go validateMatchConditions).
            causes.append(invalid(f"{path}[{i}].expression", expression, why))
    return causes


def validate_webhooks(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateValidatingWebhookConfiguration``/``Mutating...``: each webhook, unique names."""
    causes: list[Cause] = []
    names: set[str] = set()
    for i, hook in enumerate(obj.get("webhooks") or []):
        name = str((hook or {}).get("name") or "")
        if name and name in names:
            causes.append(duplicate(f"webhooks[{i}].name", name))
        names.add(name)
        causes.extend(_webhook_causes(hook or {}, f"webhooks[{i}]"))
    return causes


def default_policy(obj: dict[str, Any]) -> None:
    """``SetDefaults_ValidatingAdmissionPolicySpec``: failurePolicy Fail; match defaults."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("failurePolicy", "Fail")
    if isinstance(spec.get("matchConstraints"), dict):
        _default_match(spec["matchConstraints"])


def validate_policy(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateValidatingAdmissionPolicy``: match constraints, validations, param kind."""
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    params = spec.get("paramKind")
    if isinstance(params, dict):
        for key in ("apiVersion", "kind"):
            if not params.get(key):
                causes.append(required(f"spec.paramKind.{key}"))
    match = spec.get("matchConstraints")
    if not isinstance(match, dict):
        causes.append(required("spec.matchConstraints"))
    else:
        rules = match.get("resourceRules") or []
        if not rules:
            causes.append(required("spec.matchConstraints.resourceRules"))
        for i, rule in enumerate(rules):
            causes.extend(_rule_causes(rule or {}, f"spec.matchConstraints.resourceRules[{i}]"))
    validations = spec.get("validations") or []
    if not validations and not spec.get("auditAnnotations"):
        causes.append(
            required(
                "spec.validations", "validations or auditAnnotations must contain at least one item"
            )
        )
    for i, validation in enumerate(validations):
        if not (validation or {}).get("expression"):
            causes.append(required(f"spec.validations[{i}].expression"))
        reason = (validation or {}).get("reason")
        reasons = ("Forbidden", "Invalid", "RequestEntityTooLarge", "Unauthorized")
        if reason is not None and reason not in reasons:
            causes.append(not_supported(f"spec.validations[{i}].reason", reason, reasons))
    policy = spec.get("failurePolicy")
    if policy is not None and policy not in _FAILURE:
        causes.append(not_supported("spec.failurePolicy", policy, _FAILURE))
    causes.extend(_match_conditions(spec.get("matchConditions"), "spec.matchConditions"))
    causes.extend(_expression_causes(spec))
    return causes


def _expression_causes(spec: dict[str, Any]) -> list[Cause]:
    """Expressions that do not compile, and variables without a usable name."""
    from opframe.testing.apiserver.schema.cel import compile_error

    causes: list[Cause] = []
    checks: list[tuple[str, Any]] = []
    for i, v in enumerate(spec.get("validations") or []):
        checks.append((f"spec.validations[{i}].expression", (v or {}).get("expression")))
        checks.append(
            (f"spec.validations[{i}].messageExpression", (v or {}).get("messageExpression"))
        )
    names: set[str] = set()
    for i, var in enumerate(spec.get("variables") or []):
        name = str((var or {}).get("name") or "")
        if not name:
            causes.append(required(f"spec.variables[{i}].name"))
        elif not name.isidentifier() or not name.isascii():
            causes.append(
                invalid(f"spec.variables[{i}].name", name, "name is not a valid CEL identifier")
            )
        elif name in names:
            causes.append(duplicate(f"spec.variables[{i}].name", name))
        names.add(name)
        if not (var or {}).get("expression"):
            causes.append(required(f"spec.variables[{i}].expression"))
        checks.append((f"spec.variables[{i}].expression", (var or {}).get("expression")))
    for path, text in checks:
        if isinstance(text, str) and text and (error := compile_error(text)) is not None:
            causes.append(invalid(path, text, error))
    return causes


def default_policy_binding(obj: dict[str, Any]) -> None:
    """``SetDefaults_ValidatingAdmissionPolicyBindingSpec``: match resources defaults."""
    match = (obj.get("spec") or {}).get("matchResources")
    if isinstance(match, dict):
        _default_match(match)


def validate_policy_binding(obj: dict[str, Any]) -> list[Cause]:
    """``ValidateValidatingAdmissionPolicyBinding``: a policy, actions, a param reference."""
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    if not spec.get("policyName"):
        causes.append(required("spec.policyName"))
    actions = spec.get("validationActions") or []
    if not actions:
        causes.append(
            required("spec.validationActions", "at least one validation action is required")
        )
    causes.extend(enum_set_causes(actions, "spec.validationActions", _ACTIONS))
    if "Deny" in actions and "Warn" in actions:
        causes.append(
            invalid(
                "spec.validationActions",
                actions,
                "must not contain both Deny and Warn (repeating the same "
                "validation failure information in the API response and headers "
                "serves no purpose)",
            )
        )
    ref = spec.get("paramRef")
    if isinstance(ref, dict):
        if ref.get("name") and ref.get("selector") is not None:
            causes.append(
                forbidden("spec.paramRef.name", "name and selector are mutually exclusive")
            )
        if not ref.get("name") and ref.get("selector") is None:
            causes.append(required("spec.paramRef", "one of name or selector must be specified"))
        action = ref.get("parameterNotFoundAction")
        if action is None:
            causes.append(required("spec.paramRef.parameterNotFoundAction"))
        elif action not in ("Allow", "Deny"):
            causes.append(
                not_supported("spec.paramRef.parameterNotFoundAction", action, ("Allow", "Deny"))
            )
    return causes
