"""Privilege-escalation prevention on writes of Roles, ClusterRoles and their bindings.

    check_role_write(authz, user, "roles", "ns", role, old)      # raises a 403 StatusError
    check_binding_write(authz, user, "rolebindings", "ns", binding, old)

A user may create or change a role only with rules it holds itself, unless it may
``escalate`` that role; it may bind a role only if it holds the role's rules or may ``bind``
it. Members of ``system:masters`` may do anything. Follows
``pkg/registry/rbac/escalation_check.go`` (EscalationAllowed, RoleEscalationAuthorized,
BindingAuthorized), ``pkg/registry/rbac/validation/rule.go`` (ConfirmNoEscalation, Covers,
BreakdownRule, ruleCovers) and ``validation/policy_compact.go`` (the compacted rules of the
403 message).
"""

from __future__ import annotations

from typing import Any

from opframe.testing.apiserver.auth.rbac import RBAC, RbacAuthorizer
from opframe.testing.apiserver.auth.user import MASTERS, Attributes, UserInfo
from opframe.testing.apiserver.errors import StatusError, not_found

__all__ = ["check_binding_write", "check_role_write", "compact_string", "covers"]

Rule = dict[str, Any]


def _list(rule: Rule, key: str) -> list[str]:
    value = rule.get(key) or []
    return [str(v) for v in value] if isinstance(value, list) else []


def breakdown(rule: Rule) -> list[Rule]:
    """One rule per (group, resource, name, verb) and per (url, verb)."""
    out: list[Rule] = []
    verbs, names = _list(rule, "verbs"), _list(rule, "resourceNames")
    for group in _list(rule, "apiGroups"):
        for resource in _list(rule, "resources"):
            for name in names or [""]:
                for verb in verbs:
                    sub: Rule = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                    if name:
                        sub["resourceNames"] = [name]
                    out.append(sub)
    for url in _list(rule, "nonResourceURLs"):
        out.extend({"nonResourceURLs": [url], "verbs": [verb]} for verb in verbs)
    return out


def _has_all(owner: list[str], wanted: list[str]) -> bool:
    return all(w in owner for w in wanted)


def _resources_cover(owner: list[str], wanted: list[str]) -> bool:
    if "*" in owner or _has_all(owner, wanted):
        return True
    for path in wanted:
        if path in owner:
            continue
        if "/" not in path or "*/" + path.split("/", 1)[1] not in owner:
            return False
    return True


def _url_covers(owner: str, path: str) -> bool:
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def _rule_covers(owner: Rule, wanted: Rule) -> bool:
    o_verbs, o_groups = _list(owner, "verbs"), _list(owner, "apiGroups")
    o_names, w_names = _list(owner, "resourceNames"), _list(wanted, "resourceNames")
    return (
        ("*" in o_verbs or _has_all(o_verbs, _list(wanted, "verbs")))
        and ("*" in o_groups or _has_all(o_groups, _list(wanted, "apiGroups")))
        and _resources_cover(_list(owner, "resources"), _list(wanted, "resources"))
        and all(
            any(_url_covers(u, w) for u in _list(owner, "nonResourceURLs"))
            for w in _list(wanted, "nonResourceURLs")
        )
        and (not o_names if not w_names else (not o_names or _has_all(o_names, w_names)))
    )


def covers(owner: list[Rule], wanted: list[Rule]) -> tuple[bool, list[Rule]]:
    """Whether ``owner`` rules cover ``wanted`` ones; the broken-down rules left uncovered."""
    missing = [
        sub
        for rule in wanted
        for sub in breakdown(rule)
        if not any(_rule_covers(o, sub) for o in owner)
    ]
    return not missing, missing


def _compact(rules: list[Rule]) -> list[Rule]:
    out: list[Rule] = []
    simple: dict[tuple[str, str, str], Rule] = {}
    for rule in rules:
        groups, resources = _list(rule, "apiGroups"), _list(rule, "resources")
        names = _list(rule, "resourceNames")
        if (
            len(groups) == 1
            and len(resources) == 1
            and len(names) <= 1
            and not _list(rule, "nonResourceURLs")
        ):
            key = (groups[0], resources[0], names[0] if names else "")
            if key in simple:
                simple[key]["verbs"] = [*simple[key]["verbs"], *_list(rule, "verbs")]
            else:
                simple[key] = {**rule, "verbs": _list(rule, "verbs")}
        else:
            out.append(rule)
    return out + list(simple.values())


def _go_strings(values: list[str]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "[" + " ".join(quoted) + "]"


def compact_string(rule: Rule) -> str:
    """A rule as the escalation message shows it: ``{APIGroups:[""], Resources:[...], ...}``."""
    parts = [
        f"{label}:{_go_strings(_list(rule, key))}"
        for label, key in (
            ("APIGroups", "apiGroups"),
            ("Resources", "resources"),
            ("NonResourceURLs", "nonResourceURLs"),
            ("ResourceNames", "resourceNames"),
            ("Verbs", "verbs"),
        )
        if _list(rule, key)
    ]
    return "{" + ", ".join(parts) + "}"


def _forbidden(plural: str, name: str, why: str) -> StatusError:
    qualified = f"{plural}.{RBAC}"
    shown = f'{qualified} "{name}"' if name else qualified
    details: dict[str, Any] = {"group": RBAC, "kind": plural}
    if name:
        details = {"name": name, **details}
    return StatusError(403, "Forbidden", f"{shown} is forbidden: {why}", details)


def _confirm_no_escalation(
    authz: RbacAuthorizer, user: UserInfo, namespace: str, rules: list[Rule]
) -> str:
    ok, missing = covers(authz.rules_for(user, namespace), rules)
    if ok:
        return ""
    lines = sorted({compact_string(r) for r in _compact(missing)})
    groups = _go_strings(list(user.groups))
    return (
        f'user "{user.name}" (groups={groups}) is attempting to grant RBAC permissions not '
        "currently held:\n" + "\n".join(lines)
    )


def _may(authz: RbacAuthorizer, user: UserInfo, verb: str, plural: str, ns: str, name: str) -> bool:
    attrs = Attributes(user, verb, True, "", RBAC, "*", plural, "", ns, name)
    return authz.authorize(attrs).allowed


def check_role_write(
    authz: RbacAuthorizer,
    user: UserInfo,
    plural: str,
    namespace: str,
    role: dict[str, Any],
    old: dict[str, Any] | None,
) -> None:
    """403 unless ``user`` may write ``role`` (a Role or ClusterRole) with its rules."""
    if MASTERS in user.groups:
        return
    name = str((role.get("metadata") or {}).get("name", ""))
    if _may(authz, user, "escalate", plural, namespace, name):
        return
    rules = [r for r in role.get("rules") or [] if isinstance(r, dict)]
    if (
        old is not None
        and rules == (old.get("rules") or [])
        and (role.get("aggregationRule") == old.get("aggregationRule"))
    ):
        return
    if role.get("aggregationRule") and _confirm_no_escalation(
        authz, user, namespace, [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    ):
        why = "must have cluster-admin privileges to use the aggregationRule"
        raise _forbidden(plural, name, why)
    why = _confirm_no_escalation(authz, user, namespace, rules)
    if why:
        raise _forbidden(plural, name, why)


def check_binding_write(
    authz: RbacAuthorizer,
    user: UserInfo,
    plural: str,
    namespace: str,
    binding: dict[str, Any],
    old: dict[str, Any] | None,
) -> None:
    """403 unless ``user`` may bind the role ``binding`` refers to; 404 if it is missing."""
    if MASTERS in user.groups:
        return
    ref = binding.get("roleRef") or {}
    kind = ref.get("kind")
    role_plural = {"Role": "roles", "ClusterRole": "clusterroles"}.get(str(kind))
    if role_plural is None:
        return  # validation refuses it
    if _may(authz, user, "bind", role_plural, namespace, str(ref.get("name", ""))):
        return
    if old is not None and binding.get("subjects") == old.get("subjects"):
        return
    rules = authz.role_rules(ref, namespace)
    if rules is None:
        raise not_found(plural, str(ref.get("name", "")), RBAC)
    why = _confirm_no_escalation(authz, user, namespace, rules)
    if why:
        raise _forbidden(plural, str((binding.get("metadata") or {}).get("name", "")), why)
